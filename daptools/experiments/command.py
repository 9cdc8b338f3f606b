"""The paper's experiments: Tables 1-4 and Figure 2 (notebooks 07-10).

One concern: the command line of ``python -m daptools.experiments`` and ``daptools paper``
(:func:`main`): a table through the runner, or Figure 2, into ``--out``; rerunning with the
same ``--out`` resumes. Taught in notebook 10 (convergence and the paper).
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import fields
from pathlib import Path

from .._checks import DapError, check_options
from ..data import PAPER_STAND_IN, load_clips
from ..executors import EXECUTORS, make_executor
from ..presets import RUN_PRESETS, get_preset
from ..stopping import Stopping
from .figure2 import convergence, plot_convergence
from .report import format_summary
from ..separation import DEFAULT_SEPARATION, RECIPES
from .page import PAGE, ROOT, write_page
from .runner import run_table, versions
from .tables import TABLES, RunConfig


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="daptools paper", description=__doc__.split("\n\n")[0] + " "
                                 "Runs a table or Figure 2; rerunning with the same --out resumes.")
    ap.add_argument("what", choices=[*TABLES, "figure2", "all", "report"],
                    help="table1..table4, figure2, all, or report: regenerate docs/results.md from the committed "
                         "runs under --runs")
    ap.add_argument("--preset", default="lab", choices=list(RUN_PRESETS))
    ap.add_argument("--out", default=None, help="output folder (default runs/<what>_<preset>)")
    ap.add_argument("--data", default="tutorial", choices=["tutorial", "paper"],
                    help="offline tutorial set (default) or the paper's datasets (downloaded)")
    ap.add_argument("--iterations", type=int, help="override the preset's iterations")
    ap.add_argument("--clips", type=int, help="clips per dataset (preset default)")
    ap.add_argument("--duration", type=float, help="clip seconds (default: the paper's 2 s speech, 1 s others)")
    ap.add_argument("--priors", help="comma-separated priors (default: the table's)")
    ap.add_argument("--datasets", help="comma-separated tutorial categories (default: the table's)")
    ap.add_argument("--schedule", choices=["constant", "step", "cosine", "onecycle"],
                    help="lr schedule (default the preset's: constant, as the paper's text; step: lr / 10 every "
                         "quarter of the run, the authors' code's StepLR, every 500 of 2000 iterations)")
    ap.add_argument("--method", choices=sorted(RECIPES), help="table4: the separation method (default "
                    f"{DEFAULT_SEPARATION}, this project's own; paper: the paper's Sec. 4.3 model, two source priors + one mask prior with "
                         f"Tian et al.'s losses; dap: Tian et al.'s recipe, two per-frame mask priors)")
    ap.add_argument("--stopping", help="the blind rule's settings over the table's own, as name=value pairs, comma-"
                    "separated (fields of daptools.Stopping, e.g. loss_window=50,loss_tolerance=0.05); recorded in "
                    "the run's config")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", choices=["auto", "fp32", "bf16"])
    ap.add_argument("--select", default="auto", choices=["auto", "last", "ema"],
                    help="blind selection (default auto: the blind stopping rule chooses and ends each fit)")
    ap.add_argument("--full-budget", action="store_true",
                    help="with --select auto: keep fitting to the budget after the rule chose, so the table "
                         "also shows the last iterate and the oracle over the whole budget (slower)")
    ap.add_argument("--batch", type=int, help="clips fitted together (default: on a GPU as many as its free "
                    "memory holds, at most 16; 1 on the CPU)")
    ap.add_argument("--max-rows", type=int, help="stop after this many new rows (resume later)")
    ap.add_argument("--executor", default="serial", choices=EXECUTORS,
                    help="serial (default: this process) or ray (one task per prior x batch of clips; needs "
                         'pip install "daptools[cluster]"); the tables only, Figure 2 runs here')
    ap.add_argument("--address", help="with --executor ray: the running cluster to use ('auto', "
                    "'ray://host:10001'); default: start a local one")
    ap.add_argument("--runs", default=str(ROOT), help=f"report: the folder of committed runs (default {ROOT})")
    ap.add_argument("--page", default=str(PAGE), help=f"report: the page to write (default {PAGE})")
    ap.add_argument("--check", action="store_true", help="report: write nothing; exit 1 if the page would change")
    ap.add_argument("--cpus-per-task", type=float, default=1, help="with --executor ray: CPUs each task reserves "
                    "(the torch threads of a CPU fit; default 1)")
    return ap


def _table_config(args, table: str) -> RunConfig:
    split = (lambda s: tuple(x.strip() for x in s.split(",") if x.strip()) if s else None)
    return RunConfig(table=table, preset=args.preset, iterations=args.iterations, n_clips=args.clips,
                     duration=args.duration, priors=split(args.priors), datasets=split(args.datasets),
                     seed=args.seed, device=args.device, precision=args.precision, select=args.select,
                     full_budget=args.full_budget, batch=args.batch, data=args.data,
                     extra={**({"method": args.method} if args.method else {}),
                            **({"schedule": args.schedule} if args.schedule else {}),
                            **({"stopping": parse_settings(args.stopping)} if args.stopping else {})})


def parse_settings(text: str) -> dict:
    """``"loss_window=50,loss_tolerance=0.05"`` -> ``{"loss_window": 50, "loss_tolerance": 0.05}`` (numbers,
    true / false / none as such), the names checked against :class:`daptools.Stopping`'s fields."""
    out = {}
    for pair in (x.strip() for x in text.split(",") if x.strip()):
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise DapError(f"--stopping takes name=value pairs separated by commas, got {pair!r}")
        words = {"true": True, "false": False, "none": None}
        if value.strip().lower() in words:
            out[name.strip()] = words[value.strip().lower()]
            continue
        try:
            out[name.strip()] = json.loads(value)
        except ValueError:
            raise DapError(f"--stopping {name.strip()}: {value!r} is not a number, true, false or none") from None
    check_options(out, {f.name for f in fields(Stopping)} - {"halt", "floor"}, "stopping")
    return out


def _figure2(args, out: Path) -> None:
    """Figure 2 on one clip of each dataset (default speech and digits): figure2.json + one PNG per clip."""
    preset = get_preset(args.preset)
    priors = (args.priors or "plain,exp_dense,harmonic").split(",")
    datasets = (args.datasets or "speech,digits").split(",")
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    for ds in datasets:
        clip = load_clips(ds if args.data == "tutorial" else PAPER_STAND_IN[ds], n=1,
                          duration=args.duration or preset.duration or 1.0, seed=args.seed)[0]
        res = convergence(clip.audio, priors=priors, iterations=args.iterations or preset.iterations,
                          seed=args.seed, device=args.device, precision=args.precision or preset.precision,
                          lr=preset.lr, schedule=preset.schedule, prior_options=preset.prior_options(),
                          stopping=preset.stopping)
        res["clip"] = clip.id
        runs.append(res)
        plot_convergence(res, out / f"figure2_{ds}.png")
        for p, c in res["curves"].items():
            print(f"[figure2] {clip.id} {p:9s} best SNR {c['best_snr']:.2f} dB at iteration {c['best_iteration']} "
                  f"({c['seconds_to_best']:.0f} s; {c['seconds_per_iteration'] * 1000:.0f} ms/iteration)", flush=True)
    (out / "figure2.json").write_text(json.dumps({"preset": args.preset, "runs": runs, "versions": versions()},
                                                 indent=1))


def main(argv=None) -> int:
    """``python -m daptools.experiments`` / ``daptools paper``."""
    args = _parser().parse_args(argv)
    if threading.current_thread() is not threading.main_thread():
        return _main(args)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # kill: stop like Ctrl-C, so the sitting is recorded
    try:
        return _main(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(args) -> int:
    if args.what == "report":
        return _report(args)
    what = list(TABLES) + ["figure2"] if args.what == "all" else [args.what]
    try:
        configs = {w: _table_config(args, w).resolved() for w in what if w != "figure2"}  # bad settings fail first
        with make_executor(args.executor, args.address, args.cpus_per_task) if configs else nullcontext() as ex:
            for w in what:
                out = Path(args.out or f"runs/{args.what}_{args.preset}")
                out = out / w if args.what == "all" else out
                t = time.perf_counter()
                if w == "figure2":
                    _figure2(args, out)
                else:
                    summary = run_table(configs[w], out, max_rows=args.max_rows, executor=ex)
                    print(format_summary(summary))
                print(f"[{w}] wall time {time.perf_counter() - t:.0f} s; results in {out}")
    except DapError as exc:
        print(f"daptools paper: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("daptools paper: interrupted; the rows so far are kept: rerun the same command to resume",
              file=sys.stderr)
        return 130
    return 0


def _report(args) -> int:
    """``daptools paper report``: regenerate the results page from the committed runs."""
    try:
        same = write_page(args.runs, args.page, check=args.check)
    except DapError as exc:
        print(f"daptools paper: error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"{args.page} is {'up to date' if same else 'out of date: run daptools paper report'}")
        return 0 if same else 1
    print(f"{args.page} {'unchanged' if same else 'written'} from the runs under {args.runs}")
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt
