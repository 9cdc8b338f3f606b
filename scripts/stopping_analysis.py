"""Replay blind stopping rules over trajectories recorded by scripts/stopping_study.py.

For every stored fit: the quality of every stored iterate against the clean clip (waveform SNR
for denoising, spectral SNR of the restored clip for inpainting), the oracle (best iterate),
and for each rule the iteration it stopped at, the iterate it chose and that iterate's quality.
Rules only see the outputs and the loss, never the reference, so replaying them is exact.

    python scripts/stopping_analysis.py /tmp/traj/A_ed_lab /tmp/traj/B_plain_lab --json /tmp/rules.json
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
    if floor is not None and use_floor:
        rule = rule.with_floor(floor)
    mon = Monitor(rule, 1, statistic_for(d))
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


def analyse(path: Path, rules: dict, budgets) -> dict:
    d = load(path)
    q = quality_curve(d)
    its = d["iterations"]
    out = {"file": str(path), "meta": d["meta"], "input": float(
        dap.metrics.snr(torch.from_numpy(d["reference"]), torch.from_numpy(d["observation"]))),
        "oracle": float(q.max()), "oracle_iteration": int(its[q.argmax()]),
        "curve": {"iteration": its.tolist(), "quality": q.round(3).tolist()}, "rules": {}}
    for budget in budgets:
        k = int(np.searchsorted(its, budget, side="right")) - 1
        out["rules"][f"last@{budget}"] = {"stop": int(its[k]), "chosen": int(its[k]), "score": float(q[k])}
        out["rules"][f"oracle@{budget}"] = {"stop": int(its[k]), "chosen": int(its[:k + 1][q[:k + 1].argmax()]),
                                            "score": float(q[:k + 1].max())}
        for name, rule in rules.items():
            rule, use_floor = rule if isinstance(rule, tuple) else (rule, True)
            out["rules"][f"{name}@{budget}"] = replay(d, rule, budget, use_floor)
    return out


def default_rules() -> dict:
    """Plateau-only variants (no floor) and floor variants with the default plateau."""
    rules = {}
    for w, p, avg in itertools.product((50, 100, 200), (150, 300, 600), (False, True)):
        rules[f"plateau_w{w}_p{p}_{'mean' if avg else 'point'}"] = (Stopping(
            window=w, patience=p, every=5, min_iterations=100, average=avg), False)
    for tau in (0.8, 0.9, 1.0, 1.1, 1.2, 1.3):
        rules[f"floor{tau}_p300"] = Stopping(window=100, patience=300, every=5, min_iterations=100, floor_factor=tau)
        rules[f"floor{tau}_nop"] = Stopping(window=100, patience=None, every=5, min_iterations=100, floor_factor=tau)
    return rules


def summary(rows: list[dict], top: int = 40) -> str:
    """Per rule, over the fits: mean and worst (rule - oracle) in dB, mean (rule - last), mean stop."""
    names = sorted({k for r in rows for k in r["rules"]})
    lines = [f"{len(rows)} fits", f"{'rule':34s} {'-oracle mean':>12s} {'worst':>7s} {'-last mean':>10s} "
             f"{'stop mean':>9s} {'stop/budget':>11s}"]
    table = []
    for name in names:
        got = [(r["rules"][name], r) for r in rows if name in r["rules"]]
        gap = np.array([g["score"] - r["rules"][f"oracle@{name.split('@')[1]}"]["score"] for g, r in got])
        vs_last = np.array([g["score"] - r["rules"][f"last@{name.split('@')[1]}"]["score"] for g, r in got])
        stop = np.array([g["stop"] for g, _ in got])
        frac = np.array([g["stop"] / int(name.split("@")[1]) for g, _ in got])
        table.append((gap.mean(), f"{name:34s} {gap.mean():12.2f} {gap.min():7.2f} {vs_last.mean():10.2f} "
                                  f"{stop.mean():9.0f} {frac.mean():11.2f}"))
    table.sort(key=lambda t: -t[0])
    return "\n".join(lines + [t[1] for t in table[:top]])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--budgets", default="max")
    ap.add_argument("--json", required=True)
    args = ap.parse_args(argv)
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
