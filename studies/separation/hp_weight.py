"""Can the `hp` objective's balance hold the early split it passes through? (docs/separation.md, "The weight of
the frequency term").

Table 4's `hp` fits pass through a better split in their first 10-60 iterations than the one they settle in
(docs/stopping.md, "Separation"). Two measurements at the ``cpu`` preset's settings (widths 16/32/64, hop 256,
lr 3e-3, Table 4's 1 s tutorial mixtures, seed 0, one thread):

* ``weights``: the weight of the frequency-difference term on the percussive estimate (``Recipe.spectral``; the
  time term's weight stays 1) at each value of ``--weights``, each fit run on to ``--iterations`` with the blind
  rule's choice recorded where it stops (``stopping={"halt": False}``), one JSON line per fit: the blind
  output's BSS Eval SDR per source, the mixture's own, and the mean SNR of the two sources (the fit's monitor,
  every 10 iterations) of the blind, last and oracle iterates.
* ``early``: on one mixture, the mask after a few iterations against later: its mean, the estimated piano's share
  of the mixture's magnitude against the true sources' share, and the SDR of each source.

    OMP_NUM_THREADS=1 python studies/separation/hp_weight.py weights --mixtures 0-4 --weights 1,4,0.5,2 \
        > docs/measurements/hp_spectral_weight_20261206.jsonl
    OMP_NUM_THREADS=1 python studies/separation/hp_weight.py early --mixture 2
    python studies/separation/hp_weight.py summary docs/measurements/hp_spectral_weight_20261206.jsonl

The clean sources are used to score only; no setting here is chosen by the fit.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import daptools as dap
from daptools.experiments import RunConfig, problems, score

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stopping"))
from separation_rules import _range  # noqa: E402  (the stopping study's "0-4" / "0,2,5" parser)

SETTINGS = dict(hop=256, prior_options={"channels": (16, 32, 64)}, seed=0, progress=False)


def _problems() -> list[dict]:
    return problems(RunConfig(table="table4", preset="cpu", n_clips=10).resolved())


def _sdr(p: dict, audio) -> list[float]:
    s = score("separate", p["reference"], audio)
    return [round(s["sdr_piano"], 2), round(s["sdr_drums"], 2)]


def weights(args) -> None:
    probs = _problems()
    for w in (float(x) for x in args.weights.split(",")):
        for i in _range(args.mixtures):
            p = probs[i]
            t = time.perf_counter()
            r = dap.separate(p["observation"], prior=args.prior, iterations=args.iterations, references=p["reference"],
                             monitor_every=10, stopping={"halt": False}, recipe={"spectral": w}, **SETTINGS)
            print(json.dumps({
                "mixture": i, "key": p["key"], "prior": args.prior, "spectral": w, "iterations": args.iterations,
                "seconds": round(time.perf_counter() - t, 1), "stop": int(r.stop_iteration[0]),
                "oracle_iteration": int(r.best_iteration[0]),
                "mean_snr": {k: round(float(v[0]), 2) for k, v in r.scores.items()},
                "sdr_blind": _sdr(p, r.audio), "sdr_mixture": _sdr(p, torch.stack([p["observation"]] * 2))}),
                flush=True)


def early(args) -> None:
    p = _problems()[args.mixture]
    piano, drums = (dap.spectral.magnitude(dap.to_spectrogram(s, hop=256)) for s in p["reference"])
    mix = piano + drums
    truth = float((piano).sum() / mix.sum())
    for it in (10, 20, 40, 100, 300):
        r = dap.separate(p["observation"], prior=args.prior, iterations=it, select="last", **SETTINGS)
        m = r.output[0, 4].float()  # the mask of the first (sustained) estimate
        share = float((m * mix.squeeze()).sum() / mix.sum())
        print(f"iteration {it:3d}: SDR piano / drums {_sdr(p, r.audio)}, mask mean {float(m.mean()):.3f}, "
              f"the first estimate's share of the sources' summed magnitude {share:.3f} (the piano's own {truth:.3f})",
              flush=True)


def summary(args) -> None:
    rows = [json.loads(line) for line in open(args.file)]
    print("| weight of the frequency term | n | blind SDR piano / drums | both above the mixture | "
          "blind - oracle (mean SNR): mean, worst | blind - last | stop (mean) |\n|---|---|---|---|---|---|---|")
    for w in sorted({r["spectral"] for r in rows}):
        rs = [r for r in rows if r["spectral"] == w]
        b, m = np.array([r["sdr_blind"] for r in rs]), np.array([r["sdr_mixture"] for r in rs])
        gap = np.array([r["mean_snr"]["auto"] - r["mean_snr"]["oracle"] for r in rs])
        last = np.mean([r["mean_snr"]["auto"] - r["mean_snr"]["last"] for r in rs])
        both = int(sum((b[i] > m[i] + 0.05).all() for i in range(len(rs))))
        print(f"| {w:g} | {len(rs)} | {b[:, 0].mean():.2f} / {b[:, 1].mean():.2f} | {both}/{len(rs)} | "
              f"{gap.mean():+.2f}, {gap.min():+.2f} | {last:+.2f} | {np.mean([r['stop'] for r in rs]):.0f} |")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("weights")
    a.add_argument("--mixtures", default="0-4")
    a.add_argument("--weights", default="1,4,0.5,2")
    a.add_argument("--prior", default="plain")
    a.add_argument("--iterations", type=int, default=600)
    b = sub.add_parser("early")
    b.add_argument("--mixture", type=int, default=2)
    b.add_argument("--prior", default="plain")
    c = sub.add_parser("summary")
    c.add_argument("file")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    {"weights": weights, "early": early, "summary": summary}[args.what](args)


if __name__ == "__main__":
    sys.exit(main())
