"""How the gap between two priors moves as their fits go on, from a run's recorded curves.

Each row of a table run keeps its fit's curve (``curve.score``: the headline metric against the clean
clip every few iterations; monitoring only, never used to choose an output). For each checkpoint
iteration this prints, over the clips where both priors' fits reached it, the mean score of each
prior and their paired difference a - b with its 95 % bootstrap interval and wins. A gap that
shrinks towards the end says more iterations would not open it; one that grows says the budget
hides it.

    python studies/paper_grid/gap_along_fits.py docs/results/cpu64/table2 --dataset speech
    python studies/paper_grid/gap_along_fits.py docs/results/cpu64/table2 --dataset speech --at 100,300,600
"""
import argparse

import numpy as np

from daptools.experiments.ledger import read_rows
from daptools.experiments.paired import interval


def scores_at(rows: list[dict], prior: str, dataset: str, at: int) -> dict:
    """{clip: score at iteration ``at``} for the fits of ``prior`` on ``dataset`` whose curve reached it."""
    out = {}
    for r in rows:
        curve = r.get("curve") or {}
        its = curve.get("score_iteration") or []
        if r["prior"] == prior and r["dataset"] == dataset and at in its:
            out[r["clip"]] = float(curve["score"][its.index(at)])
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a run folder (config.json, rows.jsonl)")
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--a", default="exp_dense")
    ap.add_argument("--b", default="plain")
    ap.add_argument("--at", default="200,300,400,500,600", help="checkpoint iterations, comma-separated")
    args = ap.parse_args(argv)
    rows = read_rows(args.run)
    print(f"{args.run}, {args.dataset}: {args.a} - {args.b} on the monitoring curve (score against the clean clip)")
    print("| iteration | n | " + args.b + " | " + args.a + " | a - b [95 % interval] | wins |")
    print("|---|---|---|---|---|---|")
    for at in (int(x) for x in args.at.split(",")):
        a, b = scores_at(rows, args.a, args.dataset, at), scores_at(rows, args.b, args.dataset, at)
        clips = sorted(set(a) & set(b))
        if not clips:
            print(f"| {at} | 0 | – | – | – | – |")
            continue
        xa, xb = np.array([a[c] for c in clips]), np.array([b[c] for c in clips])
        d = xa - xb
        lo, hi = interval(d)
        ci = f"[{lo:+.2f}, {hi:+.2f}]" if np.isfinite(lo) else "(one clip, no interval)"
        print(f"| {at} | {len(clips)} | {xb.mean():.2f} | {xa.mean():.2f} | {d.mean():+.2f} {ci} | "
              f"{int((d > 0).sum())}/{len(clips)} |")


if __name__ == "__main__":
    main()
