"""The paper's experiments: Tables 1-4 and Figure 2 (notebooks 07-10).

A *table* is a task x datasets x priors x clips grid. Every (clip, prior) pair
is one *row*: the corrupted input, the fit, and every metric the paper reports
for that task, for the blind output (the last iterate, what a real user gets)
and, because the clean reference exists here, for the oracle output (the
iteration with the best SNR against the clean signal, as the paper's authors
selected; labelled as such). Rows are appended to ``rows.jsonl`` as they
finish, so a rerun skips them: a long run survives interruption.

    python -m daptools.experiments table1 --preset lab --out runs/table1
    python -m daptools.experiments figure2 --preset lab --out runs/figure2
    daptools paper table3 --preset paper --data paper --out runs/paper_table3
    daptools paper table1 --preset paper --executor ray    # the fits as Ray tasks (daptools.executors)

Outputs in ``--out``: ``config.json`` (settings and package versions),
``rows.jsonl``, ``summary.md`` / ``summary.json`` (mean +- std per prior and
dataset, as in the paper), and for Figure 2 ``figure2.png`` + ``figure2.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from . import metrics as M
from ._checks import DapError
from .corruptions import add_gaussian_noise, add_noise_at_snr, mix, random_gaps
from .data import PAPER_STAND_IN, load_clips
from .device import auto_batch_size, fit_memory_bytes, resolve_device
from .executors import EXECUTORS, Job, make_executor
from .presets import PRESETS, get_preset
from .priors import DESCRIPTIONS, build_prior, prior_names
from .spectral import HOP, to_spectrogram, to_waveform
from .tasks import DEFAULT_SEPARATION, SeparationPrior, denoise, inpaint, separate

FOUR = ("plain", "dilated", "exp", "exp_dense")


@dataclass(frozen=True)
class Table:
    """One of the paper's tables.

    Attributes:
        task (str): "denoise", "denoise_env", "inpaint" or "separate".
        datasets (tuple[str]): tutorial categories (mapped to the paper's datasets with --data paper).
        priors (tuple[str]): the priors the paper lists for this table.
        title (str): caption.
    """
    task: str
    datasets: tuple
    priors: tuple
    title: str


TABLES = {
    "table1": Table("denoise", ("speech", "digits", "piano"), FOUR,
                    "Table 1: denoising, Gaussian noise (std 0.1)"),
    "table2": Table("denoise_env", ("speech", "digits", "piano"), ("plain", "exp", "exp_dense"),
                    "Table 2: denoising, environmental noise (SNR 5-9 dB)"),
    "table3": Table("inpaint", ("speech", "digits"), FOUR, "Table 3: inpainting, gaps of 0.1-0.25 s"),
    "table4": Table("separate", ("piano+drums",), FOUR, "Table 4: two-source separation (piano + drums)"),
}
# the paper's clip lengths: 2 s for LJSpeech, 1 s for the rest
PAPER_SECONDS = {"speech": 2.0}
METRICS = {
    "denoise": ("snr", "psnr", "pesq", "si_sdr"),
    "denoise_env": ("snr", "psnr", "pesq", "si_sdr"),
    "inpaint": ("spectral_snr", "envelope_distance", "snr"),
    "separate": ("sdr", "sir", "spectral_snr", "envelope_distance"),
}
# the columns the paper prints (PESQ only for speech; its "PSNR" is our waveform SNR, see metrics.py)
PAPER_COLUMNS = {
    "denoise": {"speech": ("pesq", "snr"), "digits": ("pesq", "snr"), "piano": ("snr",)},
    "inpaint": {"speech": ("spectral_snr", "envelope_distance"), "digits": ("spectral_snr", "envelope_distance")},
    "separate": {"piano": ("sdr", "sir", "spectral_snr", "envelope_distance"),
                 "drums": ("sdr", "sir", "spectral_snr", "envelope_distance")},
}
PAPER_COLUMNS["denoise_env"] = PAPER_COLUMNS["denoise"]


@dataclass
class RunConfig:
    """Settings of one table run (all recorded in config.json)."""
    table: str
    preset: str = "lab"
    iterations: int | None = None
    n_clips: int | None = None
    duration: float | None = None
    priors: tuple | None = None
    datasets: tuple | None = None
    seed: int = 0
    device: str = "auto"
    precision: str | None = None
    select: str = "auto"
    full_budget: bool = False
    batch: int | None = None
    data: str = "tutorial"
    noise_std: float = 0.1
    snr_range: tuple = (5.0, 9.0)
    gaps_per_second: float = 1.0
    extra: dict = field(default_factory=dict)

    def resolved(self) -> "RunConfig":
        """Fill unset fields from the table and the preset."""
        if self.table not in TABLES:
            raise DapError(f"unknown table {self.table!r}; choose one of {', '.join(TABLES)}")
        t, p = TABLES[self.table], get_preset(self.preset)
        priors = tuple(t.priors if self.priors is None else self.priors)
        if not priors:
            raise DapError("no priors to run: give at least one (or None for the table's own)")
        bad = [x for x in priors if x not in prior_names()]
        if bad:
            raise DapError(f"unknown prior(s) {', '.join(bad)}; choose from {', '.join(prior_names())}")
        if self.data not in ("tutorial", "paper"):
            raise DapError(f"--data must be 'tutorial' or 'paper', got {self.data!r}")
        fitting = {"lr": p.lr, "schedule": p.schedule}
        if t.task == "separate":
            # separation fits with its method's own lr and schedule (the preset's are denoising's), unless
            # given in extra; extra["method"] picks the method of daptools.separate (default its default)
            fitting = {"lr": None, "schedule": None, "method": None}
        return replace(self, iterations=self.iterations or p.iterations, n_clips=self.n_clips or p.n_clips,
                       duration=self.duration or p.duration, priors=priors,
                       datasets=tuple(self.datasets or t.datasets), precision=self.precision or p.precision,
                       extra={**fitting, "prior_options": p.prior_options(), "stopping": p.stopping,
                              **({"hop": p.hop} if p.hop != HOP else {}), **self.extra})


# ------------------------------------------------------------------ problems
def _source(cfg: RunConfig, category: str) -> str:
    """Tutorial category -> the clip set to draw from (the paper's dataset with --data paper)."""
    if cfg.data == "tutorial":
        return category
    return PAPER_STAND_IN[category]  # noise -> "demand": living room and traffic, as in the paper


def _seconds(cfg: RunConfig, category: str) -> float:
    return cfg.duration or PAPER_SECONDS.get(category, 1.0)


def problems(cfg: RunConfig) -> list[dict]:
    """The corrupted observations of a table: one dict per clip (and dataset).

    Each dict: ``key`` (dataset/clip id), ``dataset``, ``observation`` (waveform), ``reference``
    (clean waveform, or (2, samples) sources), and task extras (``mask``, ``input_snr_db``).
    Everything is drawn from ``cfg.seed``, so a rerun builds the same problems.
    """
    task = TABLES[cfg.table].task
    out = []
    for d, ds in enumerate(cfg.datasets):
        if task == "separate":
            out += _mixtures(cfg)
            continue
        clips = load_clips(_source(cfg, ds), n=cfg.n_clips, duration=_seconds(cfg, ds), seed=cfg.seed)
        noise = load_clips(_source(cfg, "noise"), n=50, duration=_seconds(cfg, ds), seed=cfg.seed) \
            if task == "denoise_env" else None
        for i, clip in enumerate(clips):
            out.append(_corrupt(cfg, task, ds, clip, cfg.seed * 1000 + 100 * d + i, noise))
    return out


def _corrupt(cfg, task, ds, clip, seed, noise) -> dict:
    p = {"key": clip.id, "dataset": ds, "reference": clip.audio}
    if task == "denoise":
        p["observation"] = add_gaussian_noise(clip.audio, cfg.noise_std, seed=seed)
    elif task == "denoise_env":
        n = noise[int(np.random.default_rng(seed).integers(len(noise)))]
        p["observation"], p["input_snr_db"] = add_noise_at_snr(clip.audio, n.audio, snr_range=cfg.snr_range,
                                                               seed=seed)
        p["noise"] = n.id
    elif task == "inpaint":
        n_gaps = max(1, int(round(clip.seconds * cfg.gaps_per_second)))
        mask = random_gaps(clip.audio.numel(), n_gaps=n_gaps, seed=seed)
        p["mask"], p["gaps"] = mask, mask.gaps
        # The paper masks the spectrogram: the observation is mask * STFT(x). We hand the solver the
        # clip and the mask; it zeroes the masked frames before fitting, so the gaps' content never
        # reaches the loss. What a listener gets as the corrupted input is the inverse STFT of that.
        p["solver_input"] = clip.audio
        p["observation"] = to_waveform(to_spectrogram(clip.audio) * mask.spectrogram(), clip.audio.numel())
    return p


def _mixtures(cfg: RunConfig) -> list[dict]:
    """Piano + drums mixtures at equal peak level (both clips peak-normalised, then summed).

    Tutorial data: mixture i pairs piano clip i mod 7 with drum clip i mod 10 (manifest order,
    each cut from its start to the clip length): the first 10 use every drum clip once and every
    piano clip with a different drum clip, and the 70 mixtures i = 0..69 are all distinct pairs
    (Chinese remainder theorem). No randomness: the seed only seeds the fits. Paper data (50+
    clips each): pairs drawn from the seed, as the paper's random sampling.
    """
    secs = cfg.duration or 1.0
    n = cfg.n_clips
    out = []
    if cfg.data == "tutorial":
        piano = load_clips("piano", n=50, duration=secs)   # all of them, manifest order
        drums = load_clips("drums", n=50, duration=secs)
        if n > len(piano) * len(drums):
            raise DapError(f"the tutorial set makes {len(piano) * len(drums)} piano + drums mixtures; "
                           f"asked for {n}")
        pairs = [(piano[i % len(piano)], drums[i % len(drums)]) for i in range(n)]
    else:
        piano = load_clips(_source(cfg, "piano"), n=max(n, 50), duration=secs, seed=cfg.seed)
        drums = load_clips(_source(cfg, "drums"), n=max(n, 50), duration=secs, seed=cfg.seed + 1)
        rng = np.random.default_rng(cfg.seed)
        pairs = [(piano[rng.integers(len(piano))], drums[rng.integers(len(drums))]) for _ in range(n)]
    for i, (a, b) in enumerate(pairs):
        mixture, sources = mix([a.audio, b.audio])
        out.append({"key": f"piano+drums/{a.id}+{b.id}#{i}", "dataset": "piano+drums", "observation": mixture,
                    "reference": sources, "sources": ["piano", "drums"]})
    return out


# ------------------------------------------------------------------ scoring
def score(task: str, reference, estimate) -> dict:
    """All the paper's metrics of one estimate (see METRICS); separation per source."""
    if task == "separate":
        bss = M.sdr_sir(reference, estimate)
        est = estimate[list(bss["perm"])]
        out = {}
        for s, name in enumerate(("piano", "drums")):
            out[f"sdr_{name}"] = float(bss["sdr"][s])
            out[f"sir_{name}"] = float(bss["sir"][s])
            out[f"spectral_snr_{name}"] = M.spectral_snr(reference[s], est[s])
            out[f"envelope_distance_{name}"] = M.envelope_distance(reference[s], est[s])
        return out
    fns = {"snr": M.snr, "psnr": M.psnr, "pesq": M.pesq, "si_sdr": M.si_sdr, "spectral_snr": M.spectral_snr,
           "envelope_distance": M.envelope_distance}
    return {m: fns[m](reference, estimate) for m in METRICS[task]}


def _baseline(task: str, p: dict) -> dict:
    """Metrics of the corrupted input itself (for separation: the mixture as both estimates)."""
    obs = p["observation"]
    return score(task, p["reference"], torch.stack([obs, obs]) if task == "separate" else obs)


# ------------------------------------------------------------------ running
def _solve(task: str, batch: list[dict], prior: str, cfg: RunConfig, device: str):
    obs = torch.stack([p.get("solver_input", p["observation"]) for p in batch])
    ref = torch.stack([p["reference"] for p in batch])
    opts = dict(iterations=cfg.iterations, seed=cfg.seed, device=device, precision=cfg.precision, lr=cfg.extra["lr"],
                schedule=cfg.extra["schedule"], select=cfg.select, progress=False,
                prior_options=cfg.extra["prior_options"], stopping=_stopping(cfg))
    if cfg.extra.get("hop"):  # a preset with another hop than the paper's (fast: 128)
        opts["hop"] = cfg.extra["hop"]
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
           "seconds": seconds, "selection": cfg.select, "input": _baseline(task, p), "blind": scored(cfg.select)}
    if cfg.select != "last":
        row["last"] = scored("last")  # the last iterate of the fit, beside the chosen one
    if res.auto_iteration is not None:
        row["auto_iteration"], row["stop_iteration"] = int(res.auto_iteration[b]), int(res.stop_iteration[b])
    if "oracle" in res.candidates:
        row["oracle"] = scored("oracle")
        row["oracle_iteration"] = int(res.best_iteration[b])
    if task == "separate":
        row["method"] = getattr(res, "method", None)
        row["fits"] = getattr(res, "fits", 1)  # restarts and tries included
    for k in ("input_snr_db", "noise", "gaps"):
        if k in p:
            row[k] = p[k]
    return row


def _versions() -> dict:
    import daptools
    return {"daptools": daptools.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}


def read_rows(out: Path) -> list[dict]:
    """The rows recorded so far in ``out/rows.jsonl`` (a torn last line is ignored)."""
    path = Path(out) / "rows.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


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
        dict: the summary (see :func:`summarize`).
    """
    cfg = cfg.resolved()
    out = Path(out)
    _open_run(cfg, out)
    done = {(r["clip"], r["prior"]) for r in read_rows(out)}
    probs = problems(cfg)
    shapes = {p["dataset"]: tuple(to_spectrogram(p["observation"][None]).shape[1:]) for p in probs}
    owned = executor is None or isinstance(executor, str)
    ex = make_executor(executor or "serial") if owned else executor
    try:
        device, batches = ex.locate(placement, cfg, shapes)
        jobs = plan_jobs(cfg, probs, done, device, batches, max_rows)
        _drop_torn_line(out / "rows.jsonl")
        with open(out / "rows.jsonl", "a") as f:
            for job, rows in ex.run(jobs, gpu=device.startswith("cuda")):
                for row in rows:
                    f.write(json.dumps(row) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
                    if progress:
                        print(f"[{cfg.table}] {row['prior']:9s} {row['clip']}: blind {_brief(row['blind'])} "
                              f"({row['seconds']:.0f} s)", flush=True)
    finally:
        if owned:
            ex.close()
    return summarize(out)


def _open_run(cfg: RunConfig, out: Path) -> None:
    """Create ``out`` with config.json, or check that the run there has the same settings."""
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "config.json"
    if cfg_path.exists():
        old = json.loads(cfg_path.read_text())["config"]
        if json.loads(json.dumps(asdict(cfg))) != old:
            raise DapError(f"{out} holds a run with other settings; choose another --out folder")
    else:
        cfg_path.write_text(json.dumps({"config": asdict(cfg), "versions": _versions()}, indent=1))


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
            if cfg.batch or task == "inpaint" or device.type == "cpu":
                batches[prior, ds] = cfg.batch or 1
                continue
            opts = cfg.extra["prior_options"]
            net = SeparationPrior(prior, **opts) if task == "separate" else build_prior(prior, **opts)
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
    t = time.perf_counter()
    res = _solve(task, batch, prior, cfg, device)
    seconds = (time.perf_counter() - t) / len(batch)
    return [_row(cfg, task, p, prior, res, b, seconds) for b, p in enumerate(batch)]


def _drop_torn_line(path: Path) -> None:
    """Cut a half-written last line (a run killed mid-write) so appended rows start on their own line."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[:data.rfind(b"\n") + 1])


def _brief(d: dict) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in list(d.items())[:3])


# ------------------------------------------------------------------ summary
def summarize(out) -> dict:
    """Mean +- std over clips, per dataset, prior and selection; writes summary.json / summary.md."""
    out = Path(out)
    rows = read_rows(out)
    cfg = json.loads((out / "config.json").read_text())["config"]
    groups: dict = {}
    seen_inputs = set()
    for r in rows:
        for sel in ("input", "blind", "last", "oracle"):
            if sel not in r or (sel == "input" and r["clip"] in seen_inputs):
                continue
            if sel == "input":
                seen_inputs.add(r["clip"])  # every prior's row repeats the same input
            g = groups.setdefault((r["dataset"], r["prior"] if sel != "input" else "(input)", sel), {})
            for k, v in r[sel].items():
                g.setdefault(k, []).append(v)
            if r["task"] == "separate" and sel != "input":
                g.setdefault("both_beat_mixture", []).append(float(beats_mixture(r, sel)))
            g.setdefault("seconds", []).append(r["seconds"] if sel != "input" else 0.0)
            used = {"blind": r.get("stop_iteration", r["iterations"]), "last": r["iterations"],
                    "oracle": r.get("oracle_iteration", 0)}
            g.setdefault("iterations", []).append(used.get(sel, 0))
    summary = {"table": cfg["table"], "config": cfg, "n_rows": len(rows),
               "fit_seconds_total": float(sum(r["seconds"] for r in rows)), "groups": [
        {"dataset": d, "prior": p, "selection": s, "n": len(next(iter(v.values()))),
         "mean": {k: _nanmean(x) for k, x in v.items()}, "std": {k: _nanstd(x) for k, x in v.items()}}
        for (d, p, s), v in sorted(groups.items())]}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    (out / "summary.md").write_text(format_summary(summary))
    return summary


# a success must beat the mixture's SDR by more than this: a collapsed estimate is a faint scaled copy of
# the mixture, which BSS Eval (gain-invariant) scores as the mixture itself up to rounding
BEAT_MARGIN_DB = 0.05


def beats_mixture(row: dict, selection: str = "blind") -> bool:
    """A separation row's success: BOTH estimates have an SDR more than :data:`BEAT_MARGIN_DB` above
    the mixture's own as the estimate of that source (the row's ``input``).

    Args:
        row (dict): a Table 4 row (or any dict with ``input`` and ``selection`` metric dicts).
        selection (str): which estimate ("blind", "last", "oracle").

    Returns:
        bool
    """
    return all(row[selection][f"sdr_{s}"] > row["input"][f"sdr_{s}"] + BEAT_MARGIN_DB for s in ("piano", "drums"))


def _nanmean(x):
    x = np.asarray(x, dtype=float)
    return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")


def _nanstd(x):
    x = np.asarray(x, dtype=float)
    return float(np.nanstd(x)) if np.isfinite(x).any() else float("nan")


def format_summary(summary: dict) -> str:
    """The paper-style table (rows: priors; columns: dataset x metric), blind and oracle."""
    cfg = summary["config"]
    task = TABLES[cfg["table"]].task
    cols = PAPER_COLUMNS[task]
    select = cfg.get("select", "last")
    budget = (f"at most {cfg['iterations']} iterations, stopped by the blind rule"
              + (" (which chose; the fit went on to the budget so that last and oracle cover it)"
                 if cfg.get("full_budget") else "") if select == "auto" else f"{cfg['iterations']} iterations")
    lines = [f"## {TABLES[cfg['table']].title}", "",
             f"{cfg['data']} data, preset {cfg['preset']}: {budget}, "
             + (f"spectrogram hop {cfg['extra']['hop']} (the paper's: {HOP}), " if cfg.get("extra", {}).get("hop") else "") +
             f"{cfg['n_clips']} clip(s) per dataset, seed {cfg['seed']}, blind selection {select!r}; "
             f"mean ± std over clips. SNR is the waveform SNR (the paper's 'PSNR' column); "
             f"oracle = iteration chosen with the clean reference (not available in real use); "
             f"its = iterations fitted (blind), the last iteration, or the oracle's iteration. "
             + (f"both > mixture = share of mixtures where BOTH estimates have an SDR over {BEAT_MARGIN_DB} dB above "
                "the mixture's own as that source's estimate. " if task == "separate" else "") +
             f"method {cfg.get('extra', {}).get('method') or DEFAULT_SEPARATION}. " * (task == "separate") +
             f"{summary['n_rows']} fits, {summary.get('fit_seconds_total', 0) / 60:.0f} min of fitting.", ""]
    by = {(g["dataset"], g["prior"], g["selection"]): g for g in summary["groups"]}
    datasets = sorted({g["dataset"] for g in summary["groups"]})
    if task == "separate":
        header = [f"{m} ({s})" for m in ("sdr", "sir", "spectral_snr", "envelope_distance") for s in ("piano", "drums")]
        keys = [f"{m}_{s}" for m in ("sdr", "sir", "spectral_snr", "envelope_distance") for s in ("piano", "drums")]
        datasets = ["piano+drums"]
    else:
        header = [f"{d}: {m}" for d in datasets for m in cols.get(d, METRICS[task])]
        keys = [(d, m) for d in datasets for m in cols.get(d, METRICS[task])]
    share = task == "separate"  # the share of mixtures where both estimates beat the mixture's SDR
    lines += ["| prior | selection | n | " + " | ".join(header) + (" | both > mixture" if share else "")
              + " | its | s/clip |", "|---|---|---|" + "---|" * (len(header) + 2 + share)]
    labels = {"input": "input", "blind": f"blind ({select})", "last": "last iterate (blind)", "oracle": "oracle"}
    for prior in ["(input)"] + list(cfg["priors"]):
        for sel in (("input",) if prior == "(input)" else ("blind", "last", "oracle")):
            cells, n, secs, its = [], 0, [], []
            for k in keys:
                d, m = (datasets[0], k) if task == "separate" else k
                g = by.get((d, prior, sel))
                if g is None or m not in g["mean"]:
                    cells.append("–")
                    continue
                n = max(n, g["n"])
                secs.append(g["mean"]["seconds"])
                its.append(g["mean"].get("iterations", float("nan")))
                cells.append(f"{g['mean'][m]:.2f} ± {g['std'][m]:.2f}")
            if n:
                name = DESCRIPTIONS.get(prior, prior)
                it_cell = "–" if sel == "input" or not np.isfinite(np.mean(its)) else f"{np.mean(its):.0f}"
                if share:
                    g = by.get((datasets[0], prior, sel))
                    b = g["mean"].get("both_beat_mixture") if g else None
                    cells.append("–" if b is None or sel == "input" else
                                 f"{100 * b:.0f} % ({round(b * g['n'])}/{g['n']})")
                lines.append(f"| {name} | {labels[sel]} | {n} | " + " | ".join(cells) +
                             f" | {it_cell} | {np.mean(secs):.0f} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ Figure 2
def convergence(clip: torch.Tensor, priors=("plain", "exp_dense", "harmonic"), iterations: int = 300,
                seed: int = 0, noise_std: float = 0.1, device: str = "auto", precision: str = "auto",
                monitor_every: int = 10, **fit_options) -> dict:
    """Denoising SNR against iterations and wall-clock seconds for several priors (Figure 2).

    Args:
        clip (Tensor): clean waveform; Gaussian noise of ``noise_std`` is added (seeded).
        priors (tuple[str]): priors to compare.
        iterations (int), seed (int), device (str), precision (str): as for :func:`daptools.fit`.
        monitor_every (int): iterations between SNR measurements.

    Returns:
        dict: per prior "iteration", "seconds" (elapsed at each measurement, from the mean
        step time), "snr", "best_snr", "best_iteration", "seconds_to_best", "seconds_per_iteration";
        plus "noisy_snr".
    """
    noisy = add_gaussian_noise(clip, noise_std, seed=seed)
    out = {"noisy_snr": M.snr(clip, noisy), "iterations": iterations, "curves": {}}
    for prior in priors:
        stopping = {**(fit_options.pop("stopping", None) or {}), "halt": False}  # whole curves; mark the stop
        res = denoise(noisy, prior=prior, iterations=iterations, seed=seed, reference=clip, device=device,
                      precision=precision, monitor_every=monitor_every, progress=False, select="auto",
                      stopping=stopping, **fit_options)
        it = res.history["monitor_iteration"]
        snr = res.history["score"][:, 0]
        k = int(np.argmax(snr))
        out["curves"][prior] = {"iteration": it.tolist(), "seconds": (it * res.seconds_per_iteration).tolist(),
                                "snr": snr.tolist(), "best_snr": float(snr[k]), "best_iteration": int(it[k]),
                                "seconds_to_best": float(it[k] * res.seconds_per_iteration),
                                "auto_snr": float(res.scores["auto"][0]), "auto_iteration": int(res.auto_iteration[0]),
                                "stop_iteration": int(res.stop_iteration[0]),
                                "stat_iteration": res.history["stat_iteration"].tolist(),
                                "stat": res.history["stat"][:, 0].tolist(),
                                "seconds_per_iteration": res.seconds_per_iteration, "device": res.device,
                                "precision": res.precision}
    return out


def plot_convergence(result: dict, path=None):
    """Figure 2: SNR against iterations (left) and seconds (right); returns the figure."""
    import matplotlib
    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for prior, c in result["curves"].items():
        line, = axes[0].plot(c["iteration"], c["snr"], label=DESCRIPTIONS.get(prior, prior))
        axes[1].plot(c["seconds"], c["snr"], label=DESCRIPTIONS.get(prior, prior))
        if "stop_iteration" in c:  # where the blind rule stopped, and the quality of what it chose
            axes[0].plot(c["stop_iteration"], c["auto_snr"], "v", color=line.get_color(), ms=7)
            axes[1].plot(c["stop_iteration"] * c["seconds_per_iteration"], c["auto_snr"], "v",
                         color=line.get_color(), ms=7)
    axes[0].plot([], [], "kv", ls="none", label="blind stop (auto)")
    for ax, xl in zip(axes, ("iteration", f"seconds ({next(iter(result['curves'].values()))['device']})")):
        ax.axhline(result["noisy_snr"], color="grey", ls="--", lw=1, label="noisy input")
        ax.set_xlabel(xl)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("SNR (dB) against the clean clip")
    axes[0].legend(fontsize=8)
    fig.suptitle("Convergence of deep audio priors (denoising; cf. the paper's Figure 2)")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


# ------------------------------------------------------------------ command line
def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="daptools paper", description=__doc__.split("\n\n")[0] + " "
                                 "Runs a table or Figure 2; rerunning with the same --out resumes.")
    ap.add_argument("what", choices=[*TABLES, "figure2", "all"], help="table1..table4, figure2 or all")
    ap.add_argument("--preset", default="lab", choices=list(PRESETS))
    ap.add_argument("--out", default=None, help="output folder (default runs/<what>_<preset>)")
    ap.add_argument("--data", default="tutorial", choices=["tutorial", "paper"],
                    help="offline tutorial set (default) or the paper's datasets (downloaded)")
    ap.add_argument("--iterations", type=int, help="override the preset's iterations")
    ap.add_argument("--clips", type=int, help="clips per dataset (preset default)")
    ap.add_argument("--duration", type=float, help="clip seconds (default: the paper's 2 s speech, 1 s others)")
    ap.add_argument("--priors", help="comma-separated priors (default: the table's)")
    ap.add_argument("--datasets", help="comma-separated tutorial categories (default: the table's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", choices=["auto", "fp32", "bf16"])
    ap.add_argument("--select", default="auto", choices=["auto", "last", "ema"],
                    help="blind selection (default auto: the blind stopping rule chooses and ends each fit)")
    ap.add_argument("--full-budget", action="store_true",
                    help="with --select auto: keep fitting to the budget after the rule chose, so the table "
                         "also shows the last iterate and the oracle over the whole budget (slower)")
    ap.add_argument("--batch", type=int, help="clips fitted together (default: on a GPU as many as its free "
                    "memory holds, at most 64; 1 on the CPU)")
    ap.add_argument("--max-rows", type=int, help="stop after this many new rows (resume later)")
    ap.add_argument("--executor", default="serial", choices=EXECUTORS,
                    help="serial (default: this process) or ray (one task per prior x batch of clips; needs "
                         'pip install "daptools[cluster]"); the tables only, Figure 2 runs here')
    ap.add_argument("--address", help="with --executor ray: the running cluster to use ('auto', "
                    "'ray://host:10001'); default: start a local one")
    ap.add_argument("--cpus-per-task", type=float, default=1, help="with --executor ray: CPUs each task reserves "
                    "(the torch threads of a CPU fit; default 1)")
    return ap


def _table_config(args, table: str) -> RunConfig:
    split = (lambda s: tuple(x.strip() for x in s.split(",") if x.strip()) if s else None)
    return RunConfig(table=table, preset=args.preset, iterations=args.iterations, n_clips=args.clips,
                     duration=args.duration, priors=split(args.priors), datasets=split(args.datasets),
                     seed=args.seed, device=args.device, precision=args.precision, select=args.select,
                     full_budget=args.full_budget,
                     batch=args.batch, data=args.data)


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
    (out / "figure2.json").write_text(json.dumps({"preset": args.preset, "runs": runs, "versions": _versions()},
                                                 indent=1))


def main(argv=None) -> int:
    """``python -m daptools.experiments`` / ``daptools paper``."""
    args = _parser().parse_args(argv)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
