"""One table run at several seeds (the same clips; new noise, gaps and networks per seed), pooled clip by clip.

For each dataset and metric that all runs hold, a - b per clip is averaged over the seeds, and that
mean gets its 95 % bootstrap interval over clips and its wins; beside it, each seed's own paired
difference and the clips where a is ahead at every seed. A table's verdict that holds at one seed
and not at another shows here.

    python studies/paper_grid/over_seeds.py docs/results/cpu/table3 docs/results/cpu/table3_seed1
"""
import argparse

import numpy as np

from daptools.experiments.ledger import read_config, read_rows
from daptools.experiments.paired import differences, interval
from daptools.experiments.page import PAIRED_METRICS
from daptools.experiments.tables import TABLES


def _ci(d: np.ndarray) -> str:
    lo, hi = interval(d)
    span = f"[{lo:+.2f}, {hi:+.2f}]" if np.isfinite(lo) else "(one clip, no interval)"
    return f"{d.mean():+.2f} {span} {int((d > 0).sum())}/{len(d)}"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="run folders of one table at different seeds")
    ap.add_argument("--a", default="exp_dense")
    ap.add_argument("--b", default="plain")
    args = ap.parse_args(argv)
    cfgs = [read_config(f)["config"] for f in args.runs]
    if len({c["table"] for c in cfgs}) != 1:
        raise SystemExit("over_seeds.py: the runs are of different tables; give runs of one table")
    if len({c["seed"] for c in cfgs}) != len(cfgs):
        raise SystemExit("over_seeds.py: two runs share a seed; give one run per seed")
    rows = [read_rows(f) for f in args.runs]
    seeds = [c["seed"] for c in cfgs]
    print(f"{cfgs[0]['table']}, seeds {', '.join(map(str, seeds))}: {args.a} - {args.b}, blind, paired over clips")
    print("| dataset | metric | n | " + " | ".join(f"seed {s}" for s in seeds)
          + " | mean over seeds [95 % interval] wins | ahead at every seed |")
    print("|---|---|---|" + "---|" * len(seeds) + "---|---|")
    datasets = sorted({r["dataset"] for r in rows[0]})
    for ds in datasets:
        for m in PAIRED_METRICS[TABLES[cfgs[0]["table"]].task]:
            each = [differences(r, args.a, args.b, ds, m) for r in rows]
            clips = sorted(set.intersection(*(set(e) for e in each)))
            if not clips:
                continue
            d = np.array([[e[c] for c in clips] for e in each])  # seeds x clips
            ahead = int((d > 0).all(axis=0).sum())
            print(f"| {ds} | {m} | {len(clips)} | " + " | ".join(_ci(x) for x in d)
                  + f" | {_ci(d.mean(axis=0))} | {ahead}/{len(clips)} |")


if __name__ == "__main__":
    main()
