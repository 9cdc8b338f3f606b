"""Where does a denoising fit with recorded (coloured) noise peak, and which loss-plateau rule stops there?

Table 2's whole-set run (docs/results.md) met the blind-stopping goal for every prior on speech and
for plain and exp on digits and piano, but not for exp_dense on digits (-0.66 dB from the oracle on
average) and piano (-0.94, worst -2.25): the SNR peaked after 80-225 iterations and the default
loss plateau (window 50, tolerance 0.1, not before 100 iterations) stopped 0-275 iterations later.
This script replays, on trajectories recorded by ``stopping_study.py --task denoise_env`` at the
``cpu`` preset's settings, the package's rule (:class:`daptools.stopping.Monitor`, with the
white-noise floor :func:`daptools.denoise` hands it) with other plateau windows, tolerances and
first decisions (``min_iterations``), each returning the iterate where it stops or, at a loss-plateau
stop, the moving average of the iterates the rule observed (``Stopping.plateau_average``, the factor per
iteration; the rule sees every 5th iterate, as the stored trajectories do, so the replay is exact), or the
observed iterate whose residual is most stationary among those with a loss within a factor of the stop's
(``Stopping.plateau_pick``, an option: docs/stopping.md, "A residual that looks like noise").

    python studies/stopping/coloured_rules.py /work/traj/env_ed /work/traj/env_plain /work/traj/env_exp \
        --dev digits/allison_0,digits/allison_1,digits/allison_2,digits/allison_3,digits/allison_4,\
        piano/salamander_arpeggio_c_major,piano/salamander_chords_c_f,piano/salamander_melody_descending
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from daptools.metrics import snr
from daptools.stopping import Stopping
from stopping_analysis import load, quality_curve, replay  # same folder

WINDOWS = (50, 25)
TOLERANCES = (0.1, 0.05, 0.2)
FIRSTS = (100, 50)
AVERAGES = (None, 0.98, 0.99)  # Stopping.plateau_average
PICKS = (1.5, 2.0, 2.5, 3.0, 4.0)  # Stopping.plateau_pick, with the default plateau (w50 t0.1 from 100)


def rules() -> dict:
    out = {}
    for w in WINDOWS:
        for tol in TOLERANCES:
            for first in FIRSTS:
                for avg in AVERAGES:
                    name = f"w{w} t{tol:g} from {first}" + ("" if avg is None else f" average {avg:g}")
                    out[name] = Stopping(loss_window=w, loss_tolerance=tol, min_iterations=first, plateau_average=avg)
    for pick in PICKS:
        out[f"w50 t0.1 from 100 pick {pick:g}"] = Stopping(plateau_pick=pick)
    return out


def analyse(path: Path) -> dict:
    d = load(path)
    q = quality_curve(d)
    best = int(np.argmax(q))
    m = d["meta"]
    row = {"file": path.stem, "folder": path.parent.name, "clip": m["clip"], "prior": m["prior"], "noise": m.get("noise") or "white",
           "input": m.get("input_snr_db") or snr(torch.from_numpy(d["reference"]), torch.from_numpy(d["observation"])), "oracle": float(q[best]), "oracle_it": int(d["iterations"][best]),
           "last": float(q[-1]), "budget": int(d["iterations"][-1]), "spi": m["seconds_per_iteration"], "rules": {}}
    for name, rule in rules().items():
        r = replay(d, rule, row["budget"])
        row["rules"][name] = {"score": r["score"], "stop": r["stop"], "reason": r["reason"]}
    return row


def table(rows: list[dict], names=None, top: int | None = None) -> str:
    names = names or list(rows[0]["rules"])
    stats = []
    for name in names:
        gap = np.array([r["rules"][name]["score"] - r["oracle"] for r in rows])
        gain = np.array([r["rules"][name]["score"] - r["last"] for r in rows])
        stops = np.array([r["rules"][name]["stop"] for r in rows])
        stats.append((name, gap.mean(), gap.min(), int((gap >= -1.5).sum()), gain.mean(), stops.mean()))
    if top:
        stats = sorted(stats, key=lambda s: -s[1])[:top]
    lines = [f"| rule | blind - oracle: mean | worst | within 1.5 dB | blind - last | mean stop (of {rows[0]['budget']}) |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {n} | {a:+.2f} | {b:+.2f} | {c}/{len(rows)} | {g:+.2f} | {s:.0f} |" for n, a, b, c, g, s in stats]
    return "\n".join(lines)


def per_fit(rows: list[dict], names: list[str]) -> str:
    lines = ["| fit | prior | noise | input | oracle (it) | last | " + " | ".join(names) + " |",
             "|---|---|---|---|---|---|" + "---|" * len(names)]
    for r in rows:
        cells = " | ".join(f"{r['rules'][n]['score']:.2f} ({r['rules'][n]['stop']})" for n in names)
        lines.append(f"| {r['clip']} | {r['prior']} | {r['noise']} | {r['input']:.2f} | {r['oracle']:.2f} ({r['oracle_it']}) "
                     f"| {r['last']:.2f} | {cells} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+", help="trajectory folders of stopping_study.py --task denoise_env")
    ap.add_argument("--dev", default="", help="comma-separated clips that choose (e.g. digits/allison_0); the others are the test fits")
    ap.add_argument("--rules", default="w50 t0.1 from 100", help="comma-separated rules to show fit by fit, and on the test fits")
    ap.add_argument("--json", help="write the per-fit rows here")
    args = ap.parse_args(argv)
    rows = [analyse(p) for f in args.folders for p in sorted(Path(f).glob("*.npz"))]
    dev = set(filter(None, args.dev.split(",")))
    is_dev = [r["clip"] in dev for r in rows]
    chosen = args.rules.split(",")
    dev_rows = [r for r, x in zip(rows, is_dev) if x]
    if dev_rows:
        print(f"\n## dev fits, every prior ({len(dev_rows)}): the 15 best rules by mean\n\n{table(dev_rows, top=15)}")
    for prior in sorted({r["prior"] for r in rows}):
        for label, flag in (("dev", True), ("test", False)):
            sub = [r for r, x in zip(rows, is_dev) if x == flag and r["prior"] == prior]
            if sub:
                print(f"\n## {prior}: {label} fits ({len(sub)})\n\n{table(sub, chosen)}")
    print("\n## fit by fit\n\n" + per_fit(rows, chosen))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
