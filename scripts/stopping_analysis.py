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
from daptools.stopping import Stopping, WindowedVariance


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


def replay_wmv(d: dict, rule: Stopping, budget: int) -> dict:
    its = d["iterations"]
    every = int(its[1] - its[0])
    if rule.every % every:
        raise ValueError(f"rule.every {rule.every} is not a multiple of the stored step {every}")
    mon = WindowedVariance(rule, 1, statistic_for(d))
    last = None
    stop = budget
    for i, it in enumerate(its):
        if it > budget:
            break
        last = torch.from_numpy(d["snaps"][i]).float()[None]
        if it % rule.every:
            continue
        if mon.observe(int(it), last)[0]:
            stop = int(it)
            break
    mon.finish(stop, last)
    return {"stop": stop, "chosen": int(mon.iteration[0]), "score": score_of(d, mon.output)}


def noise_floor(d: dict, q: float = 0.5) -> float:
    """Blind estimate of the loss a perfect clean fit would leave: the noise power per spectrogram
    value, from a low quantile of |Y|^2 over frames in each frequency bin (minimum statistics)."""
    spec = dap.to_spectrogram(torch.from_numpy(d["observation"]), hop=d["meta"]["hop"])[0]
    power = spec.pow(2).sum(0)                                  # |Y|^2, (F, T)
    psd = torch.quantile(power, q, dim=1) / -np.log(1 - q)      # exponential-distribution correction
    return float(psd.mean() / 2)                                # per real/imag value


def replay_discrepancy(d: dict, tau: float, budget: int, q: float = 0.5) -> dict:
    loss = d["loss"][:budget]
    floor = noise_floor(d, q)
    hit = np.flatnonzero(loss <= tau * floor)
    its = d["iterations"]
    stop = int(hit[0]) + 1 if hit.size else budget
    k = int(np.searchsorted(its, stop))
    k = min(k, int(np.searchsorted(its, budget, side="right")) - 1)
    return {"stop": stop, "chosen": int(its[k]), "score": score_of(d, torch.from_numpy(d["snaps"][k]).float()[None])}


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
            if isinstance(rule, Stopping):
                out["rules"][f"{name}@{budget}"] = replay_wmv(d, rule, budget)
            else:
                out["rules"][f"{name}@{budget}"] = replay_discrepancy(d, rule, budget)
    return out


def default_rules() -> dict:
    rules = {}
    for w, p, avg in itertools.product((50, 100, 200), (100, 200, 400), (True, False)):
        rules[f"wmv_w{w}_p{p}_{'mean' if avg else 'point'}"] = Stopping(window=w, patience=p, every=5,
                                                                        min_iterations=0, average=avg)
    for tau in (0.6, 0.8, 1.0, 1.2):
        rules[f"disc_{tau}"] = tau
    return rules


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


if __name__ == "__main__":
    main()
