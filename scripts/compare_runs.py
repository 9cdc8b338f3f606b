"""Compare the rows of two runs of the same table (e.g. serial vs Ray): same rows, same metrics.

    python scripts/compare_runs.py runs/serial runs/ray [--tol 1e-6]

Compares every field a rerun must reproduce (clip, prior, iterations, the chosen iterations,
every metric of input / blind / last / oracle); not the timings or the row order. Prints the
largest difference and exits 1 when a row is missing or a value differs by more than --tol.
"""
from __future__ import annotations

import argparse
import math
import sys

from daptools.experiments import read_rows

SAME = ("dataset", "iterations", "device", "precision", "selection", "seed", "auto_iteration", "stop_iteration",
        "oracle_iteration")
METRICS = ("input", "blind", "last", "oracle")


def differences(a: list[dict], b: list[dict]) -> tuple[list[str], float, int]:
    """Mismatches (as lines), the largest metric difference and the number of values compared."""
    ka, kb = ({(r["clip"], r["prior"]): r for r in rows} for rows in (a, b))
    bad = [f"row {k} only in the {'first' if k in ka else 'second'} run" for k in ka.keys() ^ kb.keys()]
    worst, n = 0.0, 0
    for k in ka.keys() & kb.keys():
        ra, rb = ka[k], kb[k]
        bad += [f"{k} {f}: {ra.get(f)} != {rb.get(f)}" for f in SAME if ra.get(f) != rb.get(f)]
        for sel in METRICS:
            for m in set(ra.get(sel, {})) | set(rb.get(sel, {})):
                x, y = ra.get(sel, {}).get(m), rb.get(sel, {}).get(m)
                n += 1
                if x is None or y is None or math.isnan(x) != math.isnan(y):
                    bad.append(f"{k} {sel}.{m}: {x} vs {y}")
                elif not math.isnan(x):
                    worst = max(worst, abs(x - y))
    return bad, worst, n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("first")
    ap.add_argument("second")
    ap.add_argument("--tol", type=float, default=1e-6, help="largest allowed difference of a metric (default 1e-6)")
    args = ap.parse_args(argv)
    a, b = read_rows(args.first), read_rows(args.second)
    bad, worst, n = differences(a, b)
    bad += [] if worst <= args.tol else [f"largest metric difference {worst:.3g} > --tol {args.tol:g}"]
    for line in bad[:20]:
        print(line)
    print(f"{len(a)} vs {len(b)} rows, {n} metric values compared, largest difference {worst:.3g}: "
          f"{'DIFFERENT' if bad else 'same'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
