"""Two runs of one table at different settings (say the cpu grid at hop 256 and a rerun at hop 64),
compared clip by clip: for each prior and dataset both ran, run b minus run a on the same clips
(same problems: same seed, same noise pairing), blind, last and oracle, with a 95 % bootstrap interval
over clips; and within each run the difference of two priors, so the two rankings stand side by side.

    python studies/paper_grid/compare_runs.py docs/results/cpu/table2 docs/results/cpu64/table2 --metric snr
"""
import argparse
from pathlib import Path

import numpy as np

from daptools.experiments.ledger import read_rows
from daptools.experiments.paired import interval, paired


def _cell(d: np.ndarray) -> str:
    lo, hi = interval(d)
    return f"{d.mean():+.2f} [{lo:+.2f}, {hi:+.2f}] ({int((d > 0).sum())}/{len(d)})"


def _same_problem(x: dict, y: dict) -> bool:
    """Whether two rows of one clip fitted the same corrupted observation: the same noise level, the same gaps,
    and the observation scoring the same on every input metric both rows hold (to float rounding)."""
    if x.get("input_snr_db") != y.get("input_snr_db") or x.get("gaps") != y.get("gaps"):
        return False
    shared = set(x["input"]) & set(y["input"])
    return bool(shared) and all(np.isclose(x["input"][k], y["input"][k], rtol=1e-6, atol=1e-9) for k in shared)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--metric", default="snr")
    ap.add_argument("--priors", default="exp_dense,plain", help="the two priors whose difference is ranked")
    args = ap.parse_args(argv)
    ra, rb = read_rows(args.a), read_rows(args.b)
    first, second = args.priors.split(",")
    key = lambda r: (r["dataset"], r["prior"], r["clip"])  # noqa: E731
    a = {key(r): r for r in ra}
    both = [(a[key(r)], r) for r in rb if key(r) in a and "oracle" in r]
    if not all(_same_problem(x, y) for x, y in both):
        raise SystemExit("the two runs corrupted some clip differently: not the same problems")
    print(f"b - a, {args.metric}, mean [95 % interval] (clips where b is higher), a = {args.a}, b = {args.b}\n")
    print("| dataset | prior | n | blind | last | oracle | iterations a / b (blind) |")
    print("|---|---|---|---|---|---|---|")
    for ds, prior in dict.fromkeys((x["dataset"], x["prior"]) for x, _ in both):
        pairs = [(x, y) for x, y in both if x["dataset"] == ds and x["prior"] == prior]
        cells = [_cell(np.array([y[s][args.metric] - x[s][args.metric] for x, y in pairs]))
                 for s in ("blind", "last", "oracle")]
        its = [np.mean([r.get("stop_iteration", r["iterations"]) for r in rs]) for rs in zip(*pairs)]
        print(f"| {ds} | {prior} | {len(pairs)} | " + " | ".join(cells) + f" | {its[0]:.0f} / {its[1]:.0f} |")
    print(f"\n{first} - {second} within each run, on the clips both runs hold\n")
    print("| dataset | run | blind | last | oracle |")
    print("|---|---|---|---|---|")
    clips = {x["clip"] for x, _ in both}
    for ds in dict.fromkeys(x["dataset"] for x, _ in both):
        for name, rows in ((args.a, ra), (args.b, rb)):
            rows = [r for r in rows if r["clip"] in clips]
            cells = []
            for s in ("blind", "last", "oracle"):
                p = paired(rows, first, second, ds, args.metric, s)
                cells.append("–" if p is None else f"{p.mean:+.2f} [{p.low:+.2f}, {p.high:+.2f}] ({p.wins}/{p.n})")
            print(f"| {ds} | {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
