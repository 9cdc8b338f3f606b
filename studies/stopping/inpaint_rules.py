"""Which blind rule stops an inpainting fit near its best iterate: the held-out error or the plateau?

Reads trajectories recorded by ``stopping_study.py --task inpaint`` and replays two families:

* **held-out** (``--holdout S`` when recording): blocks of observed frames were hidden from the
  loss and the error on them recorded every 5 iterations; the rule keeps the iterate at its
  smallest error and stops ``patience`` iterations after the last new minimum (not before
  ``min_iterations``), exactly as :class:`daptools.stopping.Monitor` does;
* **plateau** (ES-WMV, recorded without a hold-out): the package's rule replayed on the stored
  outputs (``stopping_analysis.replay``), for several windows and patiences;
* **loss plateau** (recorded without a hold-out): the package's rule as ``dap.inpaint`` hands it
  (the loss on the observed frames levels off), for several windows and tolerances.

Quality is the spectral SNR of the restored clip (the observed frames kept), as in Table 3.

    python studies/stopping/inpaint_rules.py --holdout /tmp/traj/inp_hold --plain /tmp/traj/inp_plain
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from daptools.stopping import Stopping
from stopping_analysis import load, quality_curve, replay  # same folder

HELD_OUT = [(p, m) for p in (50, 100, 150, 200, 300) for m in (50, 100)]
PLATEAU = [(w, p) for w in (50, 100) for p in (100, 150, 300)]
LOSS = [(25, 0.3), (50, 0.1), (50, 0.2), (100, 0.2)]  # (loss_window, loss_tolerance); (50, 0.1): the default


def held_out_stop(d: dict, patience: int, min_iterations: int) -> tuple[int, int]:
    """(index of the chosen stored iterate, stop iteration) of the held-out rule."""
    its, err = d["stat_iteration"], d["stat"]
    best, chosen, gain = np.inf, its[0], its[0]
    for it, e in zip(its, err):
        if e < best:
            best, chosen, gain = e, it, it
        if it >= min_iterations and it - gain >= patience:
            return int(np.searchsorted(d["iterations"], chosen)), int(it)
    return len(d["iterations"]) - 1, int(d["iterations"][-1])  # never stopped: the last iterate


def rows_for(folder: str, family: str) -> list[dict]:
    rows = []
    for path in sorted(Path(folder).glob("*.npz")):
        d = load(path)
        q = quality_curve(d)
        best = int(np.argmax(q))
        row = {"clip": d["meta"]["clip"], "family": family, "oracle": float(q[best]),
               "oracle_it": int(d["iterations"][best]), "last": float(q[-1]), "budget": int(d["iterations"][-1]),
               "spi": d["meta"]["seconds_per_iteration"], "rules": {}}
        if family == "held-out":
            for p, m in HELD_OUT:
                k, stop = held_out_stop(d, p, m)
                row["rules"][f"held-out patience {p}, min {m}"] = {"score": float(q[k]), "stop": stop,
                                                                    "chosen": int(d["iterations"][k])}
        else:
            rules = {f"plateau window {w}, patience {p}": Stopping(window=w, patience=p, loss_plateau=False)
                     for w, p in PLATEAU}
            rules.update({f"loss plateau window {w}, tolerance {tol}": Stopping(loss_window=w, loss_tolerance=tol)
                          for w, tol in LOSS})
            for name, rule in rules.items():
                r = replay(d, rule, row["budget"], use_floor=False)
                row["rules"][name] = {"score": r["score"], "stop": r["stop"], "chosen": r["chosen"]}
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| rule | mean (rule - oracle) dB | worst | mean (rule - last) dB | mean stop | n |", "|---|---|---|---|---|---|"]
    for name in rows[0]["rules"]:
        gap = np.array([r["rules"][name]["score"] - r["oracle"] for r in rows])
        gain = np.array([r["rules"][name]["score"] - r["last"] for r in rows])
        stop = np.mean([r["rules"][name]["stop"] for r in rows])
        lines.append(f"| {name} | {gap.mean():+.2f} | {gap.min():+.2f} | {gain.mean():+.2f} | {stop:.0f} | {len(rows)} |")
    return "\n".join(lines)


def per_fit(rows: list[dict]) -> str:
    lines = ["| fit | clip | oracle (it) | last |", "|---|---|---|---|"]
    lines += [f"| {r['family']} | {r['clip']} | {r['oracle']:.2f} ({r['oracle_it']}) | {r['last']:.2f} |" for r in rows]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--holdout", nargs="*", default=[], help="folders recorded with --holdout")
    ap.add_argument("--plain", nargs="*", default=[], help="folders recorded without a hold-out")
    ap.add_argument("--json", help="write the per-fit rows here")
    args = ap.parse_args(argv)
    rows = [r for f in args.holdout for r in rows_for(f, "held-out")]
    rows += [r for f in args.plain for r in rows_for(f, "plain")]
    print(per_fit(rows), "\n")
    for family in ("held-out", "plain"):
        sel = [r for r in rows if r["family"] == family]
        if sel:
            print(f"{family} fits:\n{table(sel)}\n")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
