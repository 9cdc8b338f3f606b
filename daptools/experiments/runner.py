"""The runner of the paper's tables: fits, one row per (clip, prior), and the ledger rows.jsonl.

One concern: running (or resuming) a table. :func:`run_table` writes ``config.json``, places the
fits (device and batch size, :func:`placement`), cuts them into jobs (:func:`plan_jobs`, each
running :func:`fit_rows` on one batch through an executor of :mod:`daptools.executors`) and
appends each finished row to ``rows.jsonl``, so a rerun skips the rows already there and a long
run survives interruption. Each row holds the input's metrics, the blind output's (``select``,
by default "auto": the stopping rule's choice), the last iterate's ("last") and the oracle's.
Taught in notebooks 07-10 (each runs a table through :func:`run_table`).
"""
from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from .._checks import DapError
from ..baselines import BASELINES, run_baseline
from ..device import auto_batch_size, cpu_name, cpu_supports_bf16, fit_memory_bytes, resolve_device
from ..executors import Job, make_executor
from ..metrics import spectral_snr
from ..spectral import to_spectrogram
from ..stopping import Stopping
from ..separation import DEFAULT_SEPARATION, memory_model
from ..tasks import denoise, inpaint, separate
from .problems import problems, score, score_input
from .ledger import drop_torn_line, read_config, read_rows, record_sitting
from .report import summarize
from .tables import TABLES, RunConfig

# Table.oracle -> the fit's score; None: the task's own (waveform SNR; separation: permutation_snr)
ORACLE_SCORES = {"snr": None, "spectral_snr": spectral_snr, "permutation_snr": None}
# a row keeps its fit's loss at the iterations where the stopping rule watches it
CURVE_EVERY = Stopping.every


def _solve(task: str, batch: list[dict], prior: str, cfg: RunConfig, device: str):
    obs = torch.stack([p.get("solver_input", p["observation"]) for p in batch])
    ref = torch.stack([p["reference"] for p in batch])
    opts = dict(iterations=cfg.iterations, seed=cfg.seed, device=device, precision=cfg.precision, lr=cfg.extra["lr"],
                schedule=cfg.extra["schedule"], select=cfg.select, progress=False,
                prior_options=cfg.extra["prior_options"], stopping=_stopping(cfg))
    if cfg.extra.get("hop"):  # a preset with another hop than the paper's (fast: 128)
        opts["hop"] = cfg.extra["hop"]
    if ORACLE_SCORES.get(TABLES[cfg.table].oracle):  # the oracle is chosen on the table's headline metric
        opts["score"] = ORACLE_SCORES[TABLES[cfg.table].oracle]
    if task in ("denoise", "denoise_env"):
        return denoise(obs, prior=prior, reference=ref, **opts)
    if task == "inpaint":
        if len(batch) != 1:
            raise DapError("inpainting rows are fitted one at a time (each clip has its own mask)")
        return inpaint(obs[0], batch[0]["mask"], prior=prior, reference=ref[0], **opts)
    for k in ("lr", "schedule"):  # None: the separation method's own (RunConfig.resolved)
        if opts[k] is None:
            opts.pop(k)
    if cfg.extra.get("method"):
        opts["method"] = cfg.extra["method"]
    if cfg.extra.get("recipe"):   # the recipe the run recorded (RunConfig.resolved)
        opts["recipe"] = cfg.extra["recipe"]
    return separate(obs if len(batch) > 1 else obs[0], prior=prior, references=ref if len(batch) > 1 else ref[0],
                    **opts)


def _stopping(cfg: RunConfig) -> dict | None:
    """The blind rule's settings: the preset's, and with ``full_budget`` it keeps fitting to the
    budget after choosing (so "last" and "oracle" cover all of it)."""
    if cfg.select != "auto":
        return None
    return {**(cfg.extra.get("stopping") or {}), "halt": not cfg.full_budget}


def _row(cfg, task, p, prior, res, b, seconds) -> dict:
    def scored(name):
        return score(task, p["reference"], res.decode(res.candidates[name][b:b + 1])[0])

    row = {"table": cfg.table, "task": task, "dataset": p["dataset"], "clip": p["key"], "prior": prior,
           "seed": cfg.seed, "iterations": res.iterations, "device": res.device, "precision": res.precision,
           "seconds": seconds, "selection": cfg.select, "input": score_input(task, p), "blind": scored(cfg.select)}
    if cfg.select != "last":
        row["last"] = scored("last")  # the last iterate of the fit, beside the chosen one
    if res.auto_iteration is not None:
        row["auto_iteration"], row["stop_iteration"] = int(res.auto_iteration[b]), int(res.stop_iteration[b])
    if "oracle" in res.candidates:
        row["oracle"] = scored("oracle")
        row["oracle_iteration"] = int(res.best_iteration[b])
        row["oracle_metric"] = TABLES[cfg.table].oracle
    if task == "separate":
        row["method"] = getattr(res, "method", None)
        row["fits"] = getattr(res, "fits", 1)  # restarts and tries included
    curve = _curve(res.history, b)
    if curve is not None:
        row["curve"] = curve
    return {**row, **_extras(p)}


def _curve(history: dict, b: int) -> dict | None:
    """Problem ``b``'s curves, compact, so that a stopping rule can be replayed on a committed run without
    fitting again (``studies/stopping/replay_rows.py``): the loss every :data:`CURVE_EVERY` iterations
    (where the rule watches it; 6 significant digits), the monitored score (the oracle's metric, in dB) at
    its iterations (0.01 dB) and the noise floor where the rule had one. None without a monitored score."""
    if "score" not in history or "monitor_iteration" not in history:
        return None
    loss = np.asarray(history["loss"])[CURVE_EVERY - 1::CURVE_EVERY, b]
    curve = {"loss_every": CURVE_EVERY, "loss": [float(f"{v:.6g}") for v in loss],
             "score_iteration": [int(i) for i in history["monitor_iteration"]],
             "score": [round(float(v), 2) for v in np.asarray(history["score"])[:, b]]}
    if history.get("floor") is not None:
        curve["floor"] = float(f"{np.asarray(history['floor'])[b]:.6g}")
    return curve


def curve_score(curve: dict, iteration: int) -> float:
    """The monitored score on a row's ``curve`` (:func:`_curve`) of the last monitored iterate at or before
    ``iteration``: what a rule replayed on the curve (:func:`daptools.stopping.replay`) returned."""
    its = np.asarray(curve["score_iteration"])
    k = max(int(np.searchsorted(its, iteration, side="right")) - 1, 0)
    return float(curve["score"][k])


def _extras(p: dict) -> dict:
    """What a row keeps of its problem besides the scores: the input SNR, the noise clip, the gaps."""
    return {k: p[k] for k in ("input_snr_db", "noise", "gaps") if k in p}

def _baseline_row(cfg: RunConfig, task: str, p: dict, name: str) -> dict:
    """A baseline's row: its estimate from the corrupted observation (never the clean clip), scored;
    no iterations, so it has only the blind selection."""
    t = time.perf_counter()
    estimate = run_baseline(name, p["observation"], p)
    seconds = time.perf_counter() - t
    row = {"table": cfg.table, "task": task, "dataset": p["dataset"], "clip": p["key"], "prior": name,
           "seed": cfg.seed, "iterations": 0, "device": "cpu", "precision": "fp64", "seconds": seconds,
           "selection": "baseline", "input": score_input(task, p), "blind": score(task, p["reference"], estimate)}
    return {**row, **_extras(p)}


def versions() -> dict:
    """The versions and machine a run records in its config.json."""
    import daptools
    return {"daptools": daptools.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
            "cpu": cpu_name(), "cpu_bf16": cpu_supports_bf16(), "cpu_count": os.cpu_count()}


def run_table(cfg: RunConfig, out, progress: bool = True, max_rows: int | None = None, executor=None) -> dict:
    """Run (or resume) a table; returns the summary.

    Args:
        cfg (RunConfig): settings (unset fields come from the table and preset).
        out (str | Path): folder for config.json, rows.jsonl and summary files.
        progress (bool): print one line per finished row.
        max_rows (int | None): stop after this many new rows (to split a long run).
        executor (str | Executor | None): where the fits run: "serial" (default, this process),
            "ray" (a local Ray cluster), or an executor from :mod:`daptools.executors` (which
            the caller keeps open and closes; e.g. one Ray cluster for several tables).

    Returns:
        dict: the summary (see :func:`daptools.experiments.report.summarize`).
    """
    cfg = cfg.resolved()
    out = Path(out)
    _open_run(cfg, out)
    done = {(r["clip"], r["prior"]) for r in read_rows(out)}
    probs = problems(cfg)
    shapes = {p["dataset"]: tuple(to_spectrogram(p["observation"][None]).shape[1:]) for p in probs}
    owned = executor is None or isinstance(executor, str)
    ex = make_executor(executor or "serial") if owned else executor
    started, jobs, written = time.time(), [], [0]
    try:
        device, batches = ex.locate(placement, cfg, shapes)
        jobs = plan_jobs(cfg, probs, done, device, batches, max_rows)
        _record(out / "rows.jsonl", ex.run(jobs, gpu=device.startswith("cuda")), cfg.table, progress, written)
    finally:
        if owned:
            ex.close()
        if jobs:  # a sitting that fitted something (also when interrupted): its wall time, for the report
            record_sitting(out, started, written[0], executor=type(ex).__name__, cpu=cpu_name(),
                           cpu_count=os.cpu_count())
    return summarize(out)


def _record(path: Path, finished, table: str, progress: bool, written: list | None = None) -> None:
    """Append the rows of each finished job to the ledger, one JSON line each, synced to disk; ``written[0]``
    counts them (kept when the sitting is interrupted)."""
    drop_torn_line(path)
    with open(path, "a") as f:
        for job, rows in finished:
            for row in rows:
                f.write(json.dumps(row) + "\n")
                f.flush()
                os.fsync(f.fileno())
                if written is not None:
                    written[0] += 1
                if progress:
                    print(f"[{table}] {row['prior']:9s} {row['clip']}: blind {_brief(row['blind'])} "
                          f"({row['seconds']:.0f} s)", flush=True)


def _open_run(cfg: RunConfig, out: Path) -> None:
    """Create ``out`` with config.json, or check that the run there has the same settings."""
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "config.json"
    if cfg_path.exists():
        meta = read_config(out)
        old, new = meta["config"], json.loads(json.dumps(asdict(cfg)))
        widen = ("priors", "datasets")  # more priors, baselines or datasets at the same settings: widen the run
        if {**new, **dict.fromkeys(widen)} != {**old, **dict.fromkeys(widen)}:
            raise DapError(f"{out} holds a run with other settings; choose another --out folder")
        if any(new[k] != old[k] for k in widen):  # each clip's problem is drawn from its own name and the seed
            for k in widen:
                meta["config"][k] = old[k] + [x for x in new[k] if x not in old[k]]
            cfg_path.write_text(json.dumps(meta, indent=1))
    else:
        cfg_path.write_text(json.dumps({"config": asdict(cfg), "versions": versions()}, indent=1))


def placement(cfg: RunConfig, shapes: dict) -> tuple[str, dict]:
    """The device of the fits and the batch size of each (prior, dataset), decided where they run.

    The batch is ``cfg.batch`` when set; otherwise 1 for inpainting (each clip has its own
    mask) and on the CPU, and on CUDA as many clips as the free memory holds
    (:func:`daptools.device.auto_batch_size`, from each prior's memory estimate at that shape).

    Args:
        cfg (RunConfig): resolved settings.
        shapes (dict): dataset -> spectrogram shape (channels, freq, frames) of its clips.

    Returns:
        tuple: (device name, {(prior, dataset): batch size}).
    """
    device = resolve_device(cfg.device)
    task = TABLES[cfg.table].task
    batches = {}
    for prior in cfg.priors:
        for ds, shape in shapes.items():
            if cfg.batch or task == "inpaint" or device.type == "cpu" or prior in BASELINES:
                batches[prior, ds] = cfg.batch or 1
                continue
            method = (cfg.extra.get("method") or DEFAULT_SEPARATION) if task == "separate" else None
            net = memory_model(method, prior, shape, **cfg.extra["prior_options"])
            batches[prior, ds] = auto_batch_size(device, fit_memory_bytes(net, shape))
    return str(device), batches


def plan_jobs(cfg: RunConfig, probs: list[dict], done: set, device: str, batches: dict,
              max_rows: int | None = None) -> list[Job]:
    """The jobs of a run: per prior and dataset, the clips not yet done, in batches.

    A batch holds clips of one dataset only (their lengths differ between datasets at the paper's
    settings). With ``max_rows``, jobs are planned while fewer rows than that are planned.

    Args:
        cfg (RunConfig): resolved settings.
        probs (list[dict]): the table's problems (:func:`problems`).
        done (set): (clip key, prior) pairs already in rows.jsonl.
        device (str): where the fits run.
        batches (dict): (prior, dataset) -> batch size (:func:`placement`).
        max_rows (int | None): stop planning once this many rows are planned.

    Returns:
        list[Job]: each runs :func:`fit_rows` on one batch.
    """
    task = TABLES[cfg.table].task
    jobs, planned = [], 0
    for prior in cfg.priors:
        for ds in dict.fromkeys(p["dataset"] for p in probs):
            todo = [p for p in probs if p["dataset"] == ds and (p["key"], prior) not in done]
            size = batches[prior, ds]
            for i in range(0, len(todo), size):
                if max_rows is not None and planned >= max_rows:
                    return jobs
                batch = todo[i:i + size]
                jobs.append(Job(fit_rows, (cfg, task, batch, prior, device), len(batch), f"{prior} {ds} x{len(batch)}"))
                planned += len(batch)
    return jobs


def fit_rows(cfg: RunConfig, task: str, batch: list[dict], prior: str, device: str) -> list[dict]:
    """Fit one batch of clips with one prior and score them: the rows of one job.

    Args:
        cfg (RunConfig): resolved settings.
        task (str): the table's task.
        batch (list[dict]): problems (:func:`problems`), fitted together.
        prior (str): prior name.
        device (str): where to fit.

    Returns:
        list[dict]: one row per clip (the ``seconds`` of each: the batch's fitting time / its size).
    """
    if prior in BASELINES:
        return [_baseline_row(cfg, task, p, prior) for p in batch]
    t = time.perf_counter()
    res = _solve(task, batch, prior, cfg, device)
    seconds = (time.perf_counter() - t) / len(batch)
    return [_row(cfg, task, p, prior, res, b, seconds) for b, p in enumerate(batch)]


def _brief(d: dict) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in list(d.items())[:3])
