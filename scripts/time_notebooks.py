"""Measure how long each notebook takes and rewrite notebooks/timings.json.

    python scripts/time_notebooks.py                 # every notebook, default (lab) and smoke runs
    python scripts/time_notebooks.py --smoke-only    # only the CI settings (fast)
    python scripts/time_notebooks.py 04 06           # only notebooks whose name starts with 04 or 06
    python scripts/time_notebooks.py --from-book     # the lab times of the last `make book` (jupyter-cache)

Each run executes the notebook with papermill into a temporary folder (nothing is
written into the repository except timings.json), on a fresh kernel, and counts the
wall time including the kernel start. The lab budget is about 5 minutes per notebook
on a 2-core CPU: run this on an otherwise idle machine, with ``--threads 2`` to
imitate a 2-core laptop. Entries of notebooks that were not re-measured are kept.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from daptools.presets import NOTEBOOK_LAB_SECONDS

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
TIMINGS = NOTEBOOKS / "timings.json"
LAB_BUDGET_S = NOTEBOOK_LAB_SECONDS


def cpu_description() -> str:
    """CPU model name and the number of logical CPUs."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs"


def run(path: Path, smoke: bool, workdir: Path) -> float:
    """Execute one notebook with papermill and return its wall time in seconds."""
    import papermill as pm

    out = workdir / f"{path.stem}.{'smoke' if smoke else 'lab'}.ipynb"
    params = {"results_dir": str(workdir / "results")}
    if smoke:
        params["smoke"] = True
    start = time.perf_counter()
    pm.execute_notebook(str(path), str(out), parameters=params, kernel_name="python3", cwd=str(path.parent),
                        progress_bar=False)
    return round(time.perf_counter() - start, 1)


def record_book_times() -> int:
    """Write the lab times of the last `make book` into timings.json (``default_seconds``, source "make book")."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from build_book import execution_seconds

    found = execution_seconds()
    if not found:
        print("no executed notebook in book/_build/.jupyter_cache: run `make book` first", file=sys.stderr)
        return 1
    data = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {"notebooks": {}}
    cpu, earlier = cpu_description(), data.get("cpu")
    for name, run in found.items():
        entry = data["notebooks"].setdefault(name, {})
        if earlier and earlier != cpu and "smoke_seconds" in entry and "smoke_cpu" not in entry:
            # the smoke times are not refreshed here: say on which CPU (and when) they were measured
            entry.update(smoke_cpu=earlier, smoke_measured=entry.get("measured"), smoke_threads=entry.get("threads"))
        over = " (over the lab budget!)" if run["seconds"] > LAB_BUDGET_S else ""
        print(f"{name}: default {entry.get('default_seconds')} s -> {run['seconds']} s{over}")
        entry.update(default_seconds=run["seconds"], measured=run["executed"][:10], default_source="make book",
                     threads=os.environ.get("OMP_NUM_THREADS", "default"))
        entry.pop("load_average_before", None)
    data.update(cpu=cpu, torch=metadata.version("torch"), date=dt.date.today().isoformat(),
                threads=os.environ.get("OMP_NUM_THREADS", "default"))
    data["about_book"] = ("default_source 'make book': the seconds jupyter-cache measured executing the notebook "
                          "for the book at its lab parameters (nbclient, kernel start excluded; all CPU threads)")
    TIMINGS.write_text(json.dumps(data, indent=2) + "\n")
    print("wrote", TIMINGS.relative_to(ROOT))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("only", nargs="*", help="notebook name prefixes (default: all)")
    ap.add_argument("--smoke-only", action="store_true", help="measure only the smoke (CI) runs")
    ap.add_argument("--threads", type=int, default=None,
                    help="OMP/torch threads for the kernels (e.g. 2 to imitate a 2-core laptop)")
    ap.add_argument("--from-book", action="store_true",
                    help="record the lab (default) times of the last `make book` instead of running anything: the "
                         "seconds jupyter-cache measured executing each notebook (kernel start excluded)")
    args = ap.parse_args(argv)
    if args.from_book:
        return record_book_times()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        paths = [p for p in paths if any(p.name.startswith(o) for o in args.only)]
    if not paths:
        print("no notebook matches", args.only, file=sys.stderr)
        return 1
    data = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    entries = data.get("notebooks", {})
    failed = []
    with tempfile.TemporaryDirectory(prefix="dap-timing-") as tmp:
        for path in paths:
            entry = dict(entries.get(path.name, {}))
            entry["load_average_before"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
            try:
                entry["smoke_seconds"] = run(path, True, Path(tmp))
                for key in ("smoke_cpu", "smoke_measured", "smoke_threads"):   # measured now, on this CPU
                    entry.pop(key, None)
                if not args.smoke_only:
                    entry.pop("default_source", None)
                    entry["default_seconds"] = run(path, False, Path(tmp))
                    entry.pop("default_estimate", None)  # a measurement replaces any estimate
            except Exception as exc:  # noqa: BLE001 - report every notebook, then fail at the end
                print(f"{path.name}: FAILED: {str(exc).strip().splitlines()[-1] if str(exc).strip() else exc!r}",
                      file=sys.stderr)
                failed.append(path.name)
                continue
            entry.setdefault("default_seconds", None)
            entry["measured"] = dt.date.today().isoformat()
            entry["threads"] = os.environ.get("OMP_NUM_THREADS", "default")
            entries[path.name] = entry
            over = " (over the lab budget!)" if (entry["default_seconds"] or 0) > LAB_BUDGET_S else ""
            print(f"{path.name}: smoke {entry['smoke_seconds']} s, default {entry['default_seconds']} s{over}",
                  flush=True)
    data.update({
        "about": "wall seconds per notebook run through papermill (kernel start included); "
                 "default = the notebook's own (lab) parameters, smoke = smoke=True (CI); threads = "
                 "OMP_NUM_THREADS of the run, load_average_before = the machine's 1-minute load before it "
                 "(a shared machine inflates the times). Rewritten by scripts/time_notebooks.py.",
        "cpu": cpu_description(),
        "python": platform.python_version(),
        "torch": metadata.version("torch"),
        "date": dt.date.today().isoformat(),
        "lab_budget_seconds": LAB_BUDGET_S,
        "notebooks": dict(sorted(entries.items())),
    })
    TIMINGS.write_text(json.dumps(data, indent=2) + "\n")
    print("wrote", TIMINGS.relative_to(ROOT))
    if failed:
        print("failed (timings kept from before):", ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
