"""Give a committed run's rows (made before rows kept their curves) the curves of the same fits run again.

The fits are deterministic on one CPU kind with one thread per fit, so rerunning a table's command into another
folder (same preset, priors, datasets, seed, ``--full-budget``) reproduces each row; a committed row takes the
rerun's ``curve`` only where the rerun's scores, iterations and stops are identical to its own, and keeps its own
``seconds`` (the sittings recorded them). Rows whose rerun differs, or that have no rerun, are left as they are.

    python -m daptools.experiments table2 --preset cpu64 --datasets digits --priors plain --iterations 2000 \\
        --stopping loss_window=50 --full-budget --out /tmp/rerun/table2_2000
    python studies/stopping/add_curves.py docs/results/cpu64/table2_2000 /tmp/rerun/table2_2000
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

SAME = ("input", "blind", "last", "oracle", "iterations", "auto_iteration", "stop_iteration", "oracle_iteration")


def add_curves(committed: Path, rerun: Path) -> tuple[int, int]:
    """Rewrite ``committed``/rows.jsonl in place; returns (rows given a curve, reruns that differed)."""
    new = {(r["clip"], r["prior"], r["seed"]): r
           for r in map(json.loads, (rerun / "rows.jsonl").read_text().splitlines())}
    lines, added, differed = [], 0, 0
    for line in (committed / "rows.jsonl").read_text().splitlines():
        r = json.loads(line)
        n = new.get((r["clip"], r["prior"], r["seed"]))
        if n is not None and "curve" in n and "curve" not in r:
            if all(n.get(k) == r.get(k) for k in SAME):
                r["curve"], added = n["curve"], added + 1
            else:
                differed += 1
        lines.append(json.dumps(r))
    (committed / "rows.jsonl").write_text("\n".join(lines) + "\n")
    return added, differed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("committed", type=Path, help="the committed run folder")
    ap.add_argument("rerun", type=Path, help="the rerun's folder")
    args = ap.parse_args()
    added, differed = add_curves(args.committed, args.rerun)
    print(f"curves added to {added} rows; {differed} reruns differed from their row (left without)")


if __name__ == "__main__":
    main()
