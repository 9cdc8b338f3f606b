"""Replay blind stopping rules over trajectories recorded by studies/stopping/stopping_study.py.

For every stored fit: the quality of every stored iterate against the clean clip (waveform SNR
for denoising, spectral SNR of the restored clip for inpainting), the oracle (best iterate),
and for each rule the iteration it stopped at, the iterate it chose and that iterate's quality.
Rules only see the outputs and the loss, never the reference, so replaying them is exact.

    python studies/stopping/stopping_analysis.py /tmp/traj/A_ed_lab /tmp/traj/B_plain_lab --json /tmp/rules.json
"""
from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import torch

import daptools as dap
from daptools.corruptions import estimate_noise_std
from daptools.spectral import white_noise_power
from daptools.stopping import Monitor, Stopping


def load(path: Path) -> dict:
    z = np.load(path, allow_pickle=False)
    d = {k: z[k] for k in z.files}
    d["meta"] = json.loads(str(d["meta"]))
    return d


def quality_curve(d: dict) -> np.ndarray:
    """Quality of each stored iterate against the clean clip."""
    m = d["meta"]
    ref = torch.from_numpy(d["reference"])
    snaps = torch.from_numpy(d["snaps"]).float()
    hop = m["hop"]
    if m["task"] == "inpaint":
        mask = torch.from_numpy(d["mask"]).float()
        obs = dap.to_spectrogram(torch.from_numpy(d["solver_input"]), hop=hop) * mask
        wavs = [dap.to_waveform(obs + (1 - mask) * s[None], ref.numel(), hop=hop) for s in snaps]
        return np.array([dap.metrics.spectral_snr(ref, w) for w in wavs])
    wavs = dap.to_waveform(snaps, ref.numel(), hop=hop)
    return np.array([dap.metrics.snr(ref, w) for w in wavs])


def score_of(d: dict, spec: torch.Tensor) -> float:
    m = d["meta"]
    ref = torch.from_numpy(d["reference"])
    if m["task"] == "inpaint":
        mask = torch.from_numpy(d["mask"]).float()
        obs = dap.to_spectrogram(torch.from_numpy(d["solver_input"]), hop=m["hop"]) * mask
        return dap.metrics.spectral_snr(ref, dap.to_waveform(obs + (1 - mask) * spec, ref.numel(), hop=m["hop"]))
    return dap.metrics.snr(ref, dap.to_waveform(spec, ref.numel(), hop=m["hop"]))


def statistic_for(d: dict):
    if d["meta"]["task"] == "inpaint":
        hole = 1 - torch.from_numpy(d["mask"]).float()
        return lambda out: out * hole
    return None


def residual_for(d: dict):
    """The residual :func:`daptools.fit` hands the rule (observation - forward(output)); for denoising."""
    if d["meta"]["task"] == "inpaint":
        return None
    spec = dap.to_spectrogram(torch.from_numpy(d["observation"]), hop=d["meta"]["hop"])
    return lambda out: spec - out


def blind_floor(d: dict) -> float | None:
    """The floor :func:`daptools.denoise` hands the rule (None for inpainting: it hands none)."""
    if d["meta"]["task"] == "inpaint":
        return None
    obs = torch.from_numpy(d["observation"])
    return white_noise_power(obs.numel(), estimate_noise_std(obs), hop=d["meta"]["hop"])


def replay(d: dict, rule: Stopping, budget: int, use_floor: bool = True) -> dict:
    """Run the package's rule over the stored outputs and losses, as :func:`daptools.fit` would
    (``use_floor``: with the noise floor :func:`daptools.denoise` would hand it)."""
    its = d["iterations"]
    every = int(its[1] - its[0])
    if rule.every % every:
        raise ValueError(f"rule.every {rule.every} is not a multiple of the stored step {every}")
    floor = blind_floor(d)
    # as the tasks hand it (a rule's own loss_plateau=False is kept)
    rule = rule.for_task(floor=floor if use_floor else None, loss_plateau=True)
    mon = Monitor(rule, 1, statistic_for(d), residual=residual_for(d))
    last, stop = None, budget
    for i, it in enumerate(its):
        if it > budget:
            break
        last = torch.from_numpy(d["snaps"][i]).float()[None]
        if it % rule.every:
            continue
        if mon.observe(int(it), last, d["loss"][it - 1:it])[0]:
            stop = int(it)
            break
    mon.finish(stop, last)
    return {"stop": int(mon.stopped_at[0]), "chosen": int(mon.iteration[0]), "reason": str(mon.reason[0]),
            "score": score_of(d, mon.output)}


def relative_variance(d: dict, size: int) -> np.ndarray:
    """The plateau statistic of :class:`daptools.stopping.Monitor` at every stored iterate, computed at
    once with running sums (NaN until the window is full)."""
    snaps = torch.from_numpy(d["snaps"]).float()
    st = statistic_for(d)
    x = (snaps if st is None else st(snaps)).reshape(len(snaps), -1).double()
    c1 = torch.cat([torch.zeros(1, x.shape[1], dtype=x.dtype), x.cumsum(0)])
    e = torch.cat([torch.zeros(1, dtype=x.dtype), x.pow(2).sum(1).cumsum(0)])
    out = np.full(len(snaps), np.nan)
    for k in range(size - 1, len(snaps)):
        m1 = (c1[k + 1] - c1[k + 1 - size]) / size
        m2 = (e[k + 1] - e[k + 1 - size]) / size
        out[k] = float((m2 - m1.pow(2).sum()) / m2.clamp_min(1e-20))
    return out


def simulate(d: dict, q: np.ndarray, var: dict, rule: Stopping, use_floor: bool, budget: int) -> dict:
    """The decisions of the rule (same logic as Monitor.observe/finish), from precomputed statistics."""
    its = d["iterations"]
    floor = blind_floor(d) if use_floor else None
    v = var[max(2, rule.window // rule.every)]
    best, chosen, gain, mean_at = np.inf, None, 0, None
    for k, it in enumerate(its):
        if it > budget:
            break
        if it % rule.every:
            continue
        loss = d["loss"][it - 1]
        if floor is not None and loss <= rule.floor_factor * floor:
            chosen, gain, mean_at = k, it, None
            if it >= rule.min_iterations:
                return _result(d, q, its, k, None, it, "floor", rule)
        if floor is not None:  # a problem with a floor is not stopped by the plateau (Monitor.observe)
            continue
        if np.isfinite(v[k]) and v[k] < best:
            best = v[k]
            chosen, gain, mean_at = k, it, (k if rule.average else None)
        if rule.patience is not None and it >= rule.min_iterations and it - gain >= rule.patience and np.isfinite(v[k]):
            return _result(d, q, its, chosen, mean_at, it, "plateau", rule)
    k = int(np.searchsorted(its, budget, side="right")) - 1
    return _result(d, q, its, k, None, int(its[k]), "budget", rule)


def _result(d, q, its, k, mean_at, stop, reason, rule) -> dict:
    if mean_at is None:
        return {"stop": int(stop), "chosen": int(its[k]), "reason": reason, "score": float(q[k])}
    size = max(2, rule.window // rule.every)
    mean = torch.from_numpy(d["snaps"][mean_at + 1 - size:mean_at + 1]).float().mean(0)[None]
    return {"stop": int(stop), "chosen": int(its[mean_at]) - rule.window // 2, "reason": reason,
            "score": score_of(d, mean)}


def analyse(path: Path, rules: dict, budgets, check: bool = True) -> dict:
    d = load(path)
    q = quality_curve(d)
    its = d["iterations"]
    sizes = {max(2, (r[0] if isinstance(r, tuple) else r).window // 5) for r in rules.values()}
    var = {m: relative_variance(d, m) for m in sizes}
    out = {"file": str(path), "meta": d["meta"], "input": float(
        dap.metrics.snr(torch.from_numpy(d["reference"]), torch.from_numpy(d["observation"]))),
        "oracle": float(q.max()), "oracle_iteration": int(its[q.argmax()]), "floor": blind_floor(d),
        "curve": {"iteration": its.tolist(), "quality": q.round(3).tolist(), "loss": d["loss"][its - 1].tolist()},
        "rules": {}}
    for budget in budgets:
        k = int(np.searchsorted(its, budget, side="right")) - 1
        out["rules"][f"last@{budget}"] = {"stop": int(its[k]), "chosen": int(its[k]), "score": float(q[k])}
        out["rules"][f"oracle@{budget}"] = {"stop": int(its[k]), "chosen": int(its[:k + 1][q[:k + 1].argmax()]),
                                            "score": float(q[:k + 1].max())}
        for name, rule in rules.items():
            rule, use_floor = rule if isinstance(rule, tuple) else (rule, True)
            out["rules"][f"{name}@{budget}"] = simulate(d, q, var, rule, use_floor, budget)
    if check:  # the fast simulation must agree with the package's own Monitor
        name = next(iter(rules))
        rule, use_floor = rules[name] if isinstance(rules[name], tuple) else (rules[name], True)
        ref = replay(d, rule, budgets[0], use_floor)
        got = out["rules"][f"{name}@{budgets[0]}"]
        assert (ref["stop"], ref["chosen"], ref["reason"]) == (got["stop"], got["chosen"], got["reason"]), (ref, got)
    return out


def default_rules() -> dict:
    """Plateau-only variants (no floor) and floor variants with the default plateau."""
    rules = {}
    for w, p, avg in itertools.product((50, 100), (150, 300, 600), (False, True)):
        rules[f"plateau_w{w}_p{p}_{'mean' if avg else 'point'}"] = (Stopping(
            window=w, patience=p, every=5, min_iterations=100, average=avg), False)
    for tau in (0.8, 0.9, 1.0, 1.1, 1.2):
        rules[f"floor{tau}"] = Stopping(window=100, every=5, min_iterations=100, floor_factor=tau)
    return rules


def summary(rows: list[dict], top: int = 40) -> str:
    """Per rule, over the fits (each at its own budget): mean and worst (rule - oracle) in dB,
    mean (rule - last), and where the rule stopped (iterations, and as a share of the budget)."""
    def split(key):
        name, budget = key.rsplit("@", 1)
        return name, budget

    names = sorted({split(k)[0] for r in rows for k in r["rules"]} - {"last", "oracle"})
    lines = [f"{len(rows)} fits", f"{'rule':28s} {'-oracle mean':>12s} {'worst':>7s} {'-last mean':>10s} "
             f"{'best':>6s} {'stop mean':>9s} {'stop/budget':>11s}"]
    table = []
    for name in ["last"] + names:
        gap, vs_last, stop, frac = [], [], [], []
        for r in rows:
            for key, g in r["rules"].items():
                n, b = split(key)
                if n != name:
                    continue
                gap.append(g["score"] - r["rules"][f"oracle@{b}"]["score"])
                vs_last.append(g["score"] - r["rules"][f"last@{b}"]["score"])
                stop.append(g["stop"])
                frac.append(g["stop"] / int(b))
        gap, vs_last = np.array(gap), np.array(vs_last)
        table.append((gap.mean(), f"{name:28s} {gap.mean():12.2f} {gap.min():7.2f} {vs_last.mean():10.2f} "
                                  f"{vs_last.max():6.2f} {np.mean(stop):9.0f} {np.mean(frac):11.2f}"))
    table.sort(key=lambda t: -t[0])
    return "\n".join(lines + [t[1] for t in table[:top]])


def per_fit(rows: list[dict], rules=("floor1.0", "plateau_w100_p300_point")) -> str:
    """One markdown row per fit: input, oracle (and its iteration), last, and each rule's result."""
    head = "| setting | clip | input | oracle (it) | last (it) | " + " | ".join(f"{r} (stop)" for r in rules) + " |"
    lines = [head, "|" + "---|" * (5 + len(rules))]
    for r in rows:
        m = r["meta"]
        budget = next(k.split("@")[1] for k in r["rules"] if k.startswith("last@"))
        cells = [f"{m['prior']} {'/'.join(map(str, m['channels']))} lr {m['lr']:g} hop {m['hop']} ({m['task']})",
                 f"{m['clip']} ({m['duration']:g} s)", f"{r['input']:.2f}",
                 f"{r['oracle']:.2f} ({r['oracle_iteration']})", f"{r['rules'][f'last@{budget}']['score']:.2f} ({budget})"]
        for name in rules:
            g = r["rules"].get(f"{name}@{budget}")
            cells.append("–" if g is None else f"{g['score']:.2f} ({g['stop']} {g.get('reason', '')})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--budgets", default="max")
    ap.add_argument("--json", required=True)
    ap.add_argument("--summary-only", action="store_true", help="print the summary of an existing --json")
    ap.add_argument("--per-fit", action="store_true", help="also print one markdown row per fit")
    args = ap.parse_args(argv)
    if args.summary_only:
        rows = json.loads(Path(args.json).read_text())
        rows = [r for r in rows if any(Path(r["file"]).parent == Path(f) for f in args.folders)]
        print(summary(rows))
        if args.per_fit:
            print(per_fit(rows))
        return
    files = sorted(p for f in args.folders for p in Path(f).glob("*.npz"))
    rows = []
    for f in files:
        its = load(f)["iterations"]
        budgets = [int(its[-1])] if args.budgets == "max" else [int(b) for b in args.budgets.split(",")]
        rows.append(analyse(f, default_rules(), budgets))
        r = rows[-1]
        print(f"{f.parent.name}/{f.stem}: input {r['input']:.2f} oracle {r['oracle']:.2f} @ {r['oracle_iteration']}",
              flush=True)
    Path(args.json).write_text(json.dumps(rows))
    print(summary(rows))


if __name__ == "__main__":
    main()
