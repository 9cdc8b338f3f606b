"""Replay loss-watching stopping rules on the fits of a committed table run, without fitting again.

Each row of a run made since 2026-12-05 keeps its fit's ``curve`` (``daptools.experiments.runner._curve``):
the loss every 5 iterations, where the rule watches it, the monitored score (the table's oracle metric:
waveform SNR for Tables 1-2, spectral SNR for Table 3, the matched pair's mean SNR for Table 4) every 10
iterations, and the noise floor where the rule had one. For each rule setting given, this replays the
task's own rule (``daptools.stopping.replay``: the floor and the loss plateau exactly as a fit applies them;
the output plateau, which only inpainting keeps on, is left out) with that setting changed, and scores the
iterate it returns on the curve (the monitored iterate at or before it). With ``--full-budget`` runs the
curve covers the whole budget, so "oracle" and "last" are the fit's own.

    python studies/stopping/replay_rows.py docs/results/cpu64/table3 --windows 50,100 --tolerances 0.1,0.05

Prints, per prior and rule setting: n, mean and worst (rule - oracle) in dB, the fits within 1.5 dB of the
oracle, mean (rule - last), and the mean iteration returned.
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from daptools.experiments import TABLES, read_rows
from daptools.experiments.ledger import read_config
from daptools.experiments.tables import run_hop
from daptools.experiments.runner import curve_score as score_at
from daptools.stopping import replay, task_rule

def evaluate(rows: list[dict], settings: list[dict], by_dataset: bool = False) -> list[dict]:
    out = []
    groups = sorted({(r["prior"], r["dataset"] if by_dataset else "all") for r in rows})
    for prior, dataset in groups:
        fits = [r for r in rows if r["prior"] == prior and dataset in ("all", r["dataset"]) and "curve" in r]
        if not fits:
            continue
        for setting in settings:
            gap, gain, its = [], [], []
            for r in fits:
                c = r["curve"]
                recorded, hop = r["_rule"]
                rule = replace(task_rule(TABLES[r["table"]].rule_task, recorded, floor=c.get("floor"), hop=hop),
                               **setting)
                it, _, _ = replay(rule, c["loss"], floor=c.get("floor"), iterations=r["iterations"],
                                  loss_every=c["loss_every"])
                s = score_at(c, it)
                gap.append(s - max(c["score"]))
                gain.append(s - c["score"][-1])
                its.append(it)
            gap = np.array(gap)
            out.append({"prior": prior, "dataset": dataset, "setting": setting, "n": len(fits), "gap": float(gap.mean()),
                        "worst": float(gap.min()), "within": int((gap >= -1.5).sum()),
                        "gain": float(np.mean(gain)), "iteration": float(np.mean(its))})
    return out


def run_rows(run: Path) -> list[dict]:
    """The rows of one run folder, each with ``_rule``: the rule settings its run recorded (config.json's
    ``extra["stopping"]``, None: the task's own) and its recorded hop, the rule each fit was stopped by, so that
    a replay changes only the settings it names."""
    cfg = read_config(run)["config"]
    rule = (cfg.get("extra", {}).get("stopping"), run_hop(cfg))
    return [{**r, "_rule": rule} for r in read_rows(run)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="run folders (rows.jsonl with curves)")
    ap.add_argument("--windows", default="50", help="loss_window values, comma-separated")
    ap.add_argument("--tolerances", default="0.1", help="loss_tolerance values, comma-separated")
    ap.add_argument("--min-iterations", default=None, help="min_iterations values (default: the task's own)")
    ap.add_argument("--floor-ratios", default=None,
                    help="loss_floor_ratio values, comma-separated (a fit with a floor is stopped by the plateau only "
                         "while its loss is above this many times its floor; default: the task's own)")
    ap.add_argument("--by-dataset", action="store_true", help="one line per prior and dataset")
    ap.add_argument("--priors", default=None, help="only these priors (comma-separated)")
    args = ap.parse_args()
    rows = [r for run in args.runs for r in run_rows(Path(run))]
    if args.priors:
        rows = [r for r in rows if r["prior"] in args.priors.split(",")]
    missing = sum(1 for r in rows if "curve" not in r and r.get("iterations"))
    windows = [int(w) for w in args.windows.split(",")]
    tolerances = [float(t) for t in args.tolerances.split(",")]
    settings = [{"loss_window": w, "loss_tolerance": t} for w in windows for t in tolerances]
    if args.min_iterations:
        settings = [{**s, "min_iterations": int(m)} for s in settings for m in args.min_iterations.split(",")]
    if args.floor_ratios:
        settings = [{**s, "loss_floor_ratio": float(f)} for s in settings for f in args.floor_ratios.split(",")]
    res = evaluate(rows, settings, args.by_dataset)
    print(f"{sum('curve' in r for r in rows)} fits with curves ({missing} fitted rows without: made before curves "
          "were kept); rule - oracle and rule - last in dB on the run's oracle metric")
    print("| prior | dataset | loss window | tolerance | min iterations | floor ratio | n | rule - oracle, mean | worst | "
          "within 1.5 dB | rule - last | iteration |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for e in res:
        s = e["setting"]
        print(f"| {e['prior']} | {e['dataset']} | {s['loss_window']} | {s['loss_tolerance']} | {s.get('min_iterations', 'own')} | "
              f"{s.get('loss_floor_ratio', 'own')} | "
              f"{e['n']} | {e['gap']:+.2f} | "
              f"{e['worst']:+.2f} | {e['within']}/{e['n']} | {e['gain']:+.2f} | {e['iteration']:.0f} |")


if __name__ == "__main__":
    main()
