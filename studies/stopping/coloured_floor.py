"""Which noise floor stops a denoising fit with coloured (environmental) noise near its best iterate?

Replays the noise-floor rule of :mod:`daptools.stopping` over trajectories recorded by
``stopping_study.py --task denoise_env`` (or ``--task denoise`` for the white-noise check), with
the floor computed from each of these blind noise estimates (the loss is compared with
``spectral.white_noise_power`` of the estimated variance: by Parseval, the mean squared
spectrogram of noise depends only on its variance, whatever its colour):

* ``white``: the median absolute second difference (``corruptions.estimate_noise_std``, the rule
  before this study);
* ``spectrum q=...``: the mean of the per-band low-quantile estimate
  (``corruptions.estimate_noise_spectrum``);
* ``auto``: ``corruptions.estimate_noise_variance`` (white where the per-band estimate is flat,
  the per-band mean elsewhere): what ``dap.denoise`` uses;
* ``true noise`` (diagnostic only: it reads the noise the clip was corrupted with).

    python studies/stopping/coloured_floor.py /tmp/traj/env_fast /tmp/traj/env_lab --json /tmp/coloured.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from daptools.corruptions import estimate_noise_spectrum, estimate_noise_std, estimate_noise_variance
from daptools.spectral import white_noise_power
from stopping_analysis import load, quality_curve  # same folder

MIN_ITERATIONS, EVERY = 100, 5  # the rule's defaults (daptools.stopping.Stopping)


def variances(d: dict) -> dict:
    obs = torch.from_numpy(d["observation"])
    out = {"white": estimate_noise_std(obs) ** 2}
    for q in (0.05, 0.1, 0.2):
        out[f"spectrum q={q}"] = float(estimate_noise_spectrum(obs, quantile=q).mean())
    out["auto"] = estimate_noise_variance(obs)[0]
    out["true noise"] = float((obs - torch.from_numpy(d["reference"])).double().var())
    return out


def stop_at(d: dict, floor: float) -> int:
    """Index into the stored iterates where the floor rule stops (the last one if it never does)."""
    its, loss = d["iterations"], d["loss"]
    for k, it in enumerate(its):
        if it % EVERY == 0 and it >= MIN_ITERATIONS and loss[it - 1] <= floor:
            return k
    return len(its) - 1


def analyse(path: Path) -> dict:
    d = load(path)
    q = quality_curve(d)
    n = d["observation"].size
    hop = d["meta"]["hop"]
    best = int(np.argmax(q))
    row = {"fit": f"{path.parent.name}/{d['meta']['clip']}", "noise": d["meta"].get("noise"),
           "input_snr_db": d["meta"].get("input_snr_db"), "kind": estimate_noise_variance(
               torch.from_numpy(d["observation"]))[1],
           "oracle": float(q[best]), "oracle_it": int(d["iterations"][best]), "last": float(q[-1]),
           "budget": int(d["iterations"][-1]), "spi": d["meta"]["seconds_per_iteration"], "rules": {}}
    for name, var in variances(d).items():
        k = stop_at(d, white_noise_power(n, float(np.sqrt(var)), hop=hop))
        row["rules"][name] = {"score": float(q[k]), "stop": int(d["iterations"][k]), "variance": var}
    return row


def summary(rows: list[dict]) -> str:
    names = list(rows[0]["rules"])
    lines = ["| rule | mean (rule - oracle) dB | worst | mean (rule - last) dB | mean stop | stops before the budget |",
             "|---|---|---|---|---|---|"]
    for name in names:
        gap = np.array([r["rules"][name]["score"] - r["oracle"] for r in rows])
        gain = np.array([r["rules"][name]["score"] - r["last"] for r in rows])
        stops = np.array([r["rules"][name]["stop"] for r in rows])
        early = sum(r["rules"][name]["stop"] < r["budget"] for r in rows)
        lines.append(f"| {name} | {gap.mean():+.2f} | {gap.min():+.2f} | {gain.mean():+.2f} | {stops.mean():.0f} | "
                     f"{early}/{len(rows)} |")
    return "\n".join(lines)


def per_fit(rows: list[dict]) -> str:
    lines = ["| fit | noise (kind found) | input | oracle (it) | last | white | auto | true-noise floor |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cell = {k: f"{v['score']:.2f} ({v['stop']})" for k, v in r["rules"].items()}
        lines.append(f"| {r['fit']} | {r['noise']} ({r['kind']}) | {r['input_snr_db']:.2f} | {r['oracle']:.2f} "
                     f"({r['oracle_it']}) | {r['last']:.2f} | {cell['white']} | {cell['auto']} | {cell['true noise']} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+", help="trajectory folders of stopping_study.py")
    ap.add_argument("--json", help="write the per-fit rows here")
    args = ap.parse_args(argv)
    rows = [analyse(p) for f in args.folders for p in sorted(Path(f).glob("*.npz"))]
    print(per_fit(rows), "\n")
    print(summary(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
