"""Restoring a recording file of any length: this module's one concern is the long-recording driver.

    import daptools as dap
    done = dap.restore_file("denoise", "noisy.wav", "restored.wav")
    done = dap.restore_file("inpaint", "dropouts.flac", "filled.flac", gaps=[(1.20, 1.35)])
    done = dap.restore_file("separate", "mixture.wav", ["piano.wav", "drums.wav"])

:func:`restore_file` reads the file (:mod:`daptools.fileio`: any format libsndfile reads) and
splits every channel at 8 kHz (:mod:`daptools.bands`): the band below, at 16 kHz, is what the
prior restores. It cuts that band into overlapping segments (:mod:`daptools.segments`) and fits
them as batches of independent problems, every channel of a segment its own problem in the same
batch, with one progress bar; it keeps every finished segment in a work folder
(:mod:`daptools.resume`), joins the results with linear cross-fades, adds the band above 8 kHz
back (denoise: shrunk by a Wiener gain; inpaint: as it is; separate: shared out between the
sources) and writes the input's channels at the input's rate, safely (``mono``: the channels
averaged first, for speed). The ``daptools denoise|inpaint|separate`` commands
(:mod:`daptools.cli`) are this function.

Outside the notebook series: the notebooks teach the tasks on clips in memory
(:func:`daptools.denoise` and friends); no notebook teaches file restoration.
"""
from __future__ import annotations

import contextlib
import signal
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import __version__
from ._checks import DapError
from .bands import share_high_band, wiener_high_band
from .corruptions import GapMask, detect_gaps, finer_hop, parse_gaps, splice_gaps
from .device import auto_batch_size, fit_memory_bytes, resolve_device, resolve_precision
from .fileio import Recording, check_outputs, load_recording, output_subtype, overload_rule, to_output, write_atomic
from .presets import get_preset
from .priors import build_prior, prior_names
from .resume import WorkFolder, default_path, file_sha256
from .segments import align_channels, align_sources, plan_segments
from .spectral import N_FFT, N_FREQ, SAMPLE_RATE, n_frames
from .stopping import task_rule
from .separation import DEFAULT_SEPARATION, memory_model
from .tasks import denoise, inpaint, separate

OUTPUTS = {"denoise": 1, "inpaint": 1, "separate": 2}  # the commands and how many files each writes
# Each command's default preset, from measurement: denoising is fastest to a good result with the fast
# preset (docs/performance.md), and so is inpainting (a higher spectral SNR than the lab preset on every
# clip of the paired command-line check in docs/stopping.md, in about a quarter of the time);
# separation came out 0.1-1.5 dB lower with it on every source of 3 mixtures (in a quarter of the time,
# docs/stopping.md), so it keeps the lab preset (the paper's hop).
DEFAULT_PRESET = {"denoise": "fast", "inpaint": "fast", "separate": "lab"}
MIN_GAP_MS = 20.0  # inpaint without gaps: the shortest run of digital silence taken as a gap


@dataclass
class Restored:
    """What :func:`restore_file` did.

    Attributes:
        outputs (list[Path]): the files written.
        duration (float): the recording's length in seconds.
        elapsed (float): wall-clock seconds the restoration took.
        segments (int): segments the recording was cut into.
        fitted (int): segments fitted by this call (inpaint fits only those holding a gap; a resumed
            run fits only those its work folder lacked).
        iterations (list[int]): iterations each fitted batch ran (fits stopped blindly end early).
        gaps (list[tuple[float, float]] | None): inpaint: the gaps filled, in seconds.
        warnings (list[str]): what was said on stderr as a warning (e.g. a result scaled to fit).
    """
    outputs: list
    duration: float
    elapsed: float
    segments: int
    fitted: int = 0
    iterations: list = field(default_factory=list)
    gaps: list | None = None
    warnings: list = field(default_factory=list)


@dataclass
class _Run:
    """One run's settings (the keyword arguments of :func:`restore_file`) and its state."""
    command: str
    source: Path
    outputs: list
    preset: str
    prior: str
    iterations: int | None
    select: str
    precision: str | None
    device: str
    seed: int
    hop: int | None
    channels: tuple | None
    seeds: int | None
    method: str | None
    gaps: object
    min_gap: float | None
    segment: float
    overlap: float
    batch: int | None
    resume: bool
    work_dir: str | None
    force: bool
    overload: str | None
    quiet: bool
    mono: bool = False
    started: float = field(default_factory=time.perf_counter)
    work: WorkFolder | None = None
    fitted: int = 0                                 # segments fitted (not read back from the work folder)
    used: list = field(default_factory=list)       # iterations of each fitted batch
    warnings: list = field(default_factory=list)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`restore_file`: nothing was written; ``work`` (a
    :class:`daptools.resume.WorkFolder`, or None when no segment had finished: then the folder
    is removed) keeps the finished segments, and the same call with ``resume=True`` continues
    from them."""

    def __init__(self, work: WorkFolder | None):
        super().__init__("interrupted; no output was written")
        self.work = work


def restore_file(command: str, source, outputs, *, preset: str | None = None, prior: str = "exp_dense",
                 iterations: int | None = None, select: str = "auto", precision: str | None = None,
                 device: str = "auto", seed: int = 0, hop: int | None = None, channels=None,
                 seeds: int | None = None, method: str | None = None, gaps=None, min_gap: float | None = None,
                 segment: float = 2.0, overlap: float = 0.25, batch: int | None = None, resume: bool = False,
                 work_dir=None, force: bool = False, overload: str | None = None, quiet: bool = False,
                 mono: bool = False) -> Restored:
    """Restore a recording file of any length: denoise it, fill its gaps, or separate it in two.

    The same as ``daptools denoise|inpaint|separate`` (see ``daptools COMMAND --help`` for every
    option; the error messages name the command line's options). Progress and messages go to
    stderr unless ``quiet``; a result beyond full scale is never clipped silently (``overload``).
    Every channel is restored (each its own problem, fitted in the same batch) and the band above
    8 kHz is kept: the output has the input's channels, rate and length.

    Args:
        command (str): "denoise", "inpaint" or "separate".
        source (str | Path): the recording (any format libsndfile reads; never modified).
        outputs (str | Path | list): the output file (two for "separate"); the extension gives
            the format.
        preset (str | None): run settings (:data:`daptools.RUN_PRESETS`); None: the command's
            default (``DEFAULT_PRESET``).
        prior (str): the prior (:func:`daptools.prior_names`).
        iterations (int | None): the most Adam steps per segment (None: the preset's).
        select (str): "auto" (stop blindly at the best iterate), "last" or "ema".
        precision (str | None): "auto", "fp32" or "bf16" (None: the preset's).
        device (str): "auto", "cpu", "cuda", "mps".
        seed (int): seeds the networks and their inputs.
        hop (int | None): spectrogram hop, 64, 128 or 256 (None: the preset's).
        channels (tuple | None): U-Net widths, e.g. (8, 16, 32), for tests (None: the preset's).
        seeds (int | None): denoise, inpaint: an ensemble of this many networks per segment.
        method (str | None): separate: the separation model (None: ``DEFAULT_SEPARATION``).
        gaps (str | list | None): inpaint: the gaps, "1.20-1.35,4.0-4.2" or [(1.20, 1.35), ...]
            in seconds; None: found as runs of digital silence of ``min_gap`` ms or more.
        min_gap (float | None): inpaint: the shortest silence taken as a gap, ms (default 20).
        segment, overlap (float): segment length and cross-fade, seconds.
        batch (int | None): segments fitted at once (None: 1 on the CPU; on a GPU as many as
            its free memory holds).
        resume (bool): continue an interrupted run from its work folder.
        work_dir (str | Path | None): the work folder (None: beside the first output).
        force (bool): replace existing outputs (never the input).
        overload (str | None): "float", "scale" or "clip" (see :func:`daptools.fileio.write_atomic`).
        quiet (bool): no progress bar or messages, only warnings.
        mono (bool): average the channels and restore one (faster; the output is mono).

    Returns:
        Restored: the outputs written and a summary (segments, iterations, time).

    Raises:
        DapError: a bad argument or input, before any fitting (or a refused work folder).
        Interrupted: Ctrl-C; nothing was written, the finished segments are kept.
    """
    run = _settings(command, source, outputs, preset=preset, prior=prior, iterations=iterations, select=select,
                    precision=precision, device=device, seed=seed, hop=hop, channels=channels, seeds=seeds,
                    method=method, gaps=gaps, min_gap=min_gap, segment=segment, overlap=overlap, batch=batch,
                    resume=resume, work_dir=work_dir, force=force, overload=overload, quiet=quiet, mono=mono)
    with _catching_ctrl_c(), warnings.catch_warnings():
        # fit() reads the loss for its (disabled) bar with float() on a tensor that needs grad
        warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad=True")
        try:
            return _COMMANDS[run.command](run)
        except KeyboardInterrupt as exc:
            work = run.work
            if work is not None and not work.count():  # stopped before its first segment: nothing to keep
                work.remove()
                work = None
            raise Interrupted(work) from exc


def _settings(command: str, source, outputs, **options) -> _Run:
    """Check what the command line's parser checks (the command, the outputs, options that belong
    to another command) and fill in the command's defaults."""
    if command not in OUTPUTS:
        raise DapError(f"unknown command {command!r}; choose one of {', '.join(OUTPUTS)}")
    outputs = [outputs] if isinstance(outputs, (str, Path)) else list(outputs)
    if len(outputs) != OUTPUTS[command]:
        raise DapError(f"{command} writes {OUTPUTS[command]} output file(s), got {len(outputs)}")
    wrong = [name for name, given, used_by in (("seeds", options["seeds"], ("denoise", "inpaint")),
                                               ("method", options["method"], ("separate",)),
                                               ("gaps", options["gaps"], ("inpaint",)),
                                               ("min_gap", options["min_gap"], ("inpaint",)))
             if given is not None and command not in used_by]
    if wrong:
        raise DapError(f"{command} takes no {' or '.join(wrong)}")
    if command == "separate":
        options["method"] = options["method"] or DEFAULT_SEPARATION
    if command == "inpaint" and options["min_gap"] is None:
        options["min_gap"] = MIN_GAP_MS
    options["preset"] = options["preset"] or DEFAULT_PRESET[command]
    options["channels"] = tuple(options["channels"]) if options["channels"] else None
    return _Run(command, Path(source), outputs, **options)


# set by the Ctrl-C handler: Python can swallow a KeyboardInterrupt that lands in a finaliser or a
# callback of a C library, so the fitting loop's progress callback raises it again
_interrupted = [False]


def _on_interrupt(signum, frame):
    _interrupted[0] = True
    raise KeyboardInterrupt


@contextlib.contextmanager
def _catching_ctrl_c():
    """While a file is restored, Ctrl-C also sets ``_interrupted`` (in the main thread only)."""
    _interrupted[0] = False
    previous = None
    with contextlib.suppress(ValueError):  # only the main thread may set a handler
        previous = signal.signal(signal.SIGINT, _on_interrupt)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


# ---------------------------------------------------------------------------- the three commands


def _denoise(run: _Run) -> Restored:
    """Each segment's channels are fitted together; the band above 8 kHz gets a Wiener gain."""
    rec, outs, opts = _start(run)
    plan, work, pieces = _open_segments(run, rec, outs, opts)

    def solve(batch, callback):
        x = pieces[batch]  # (segments, channels, samples): every channel its own problem
        out = _decoded(denoise(x.flatten(0, 1), callback=callback, every=_every(opts["iterations"]), **opts))
        return out.reshape(x.shape)

    label = f"denoise {len(plan)} segment{'s' * (len(plan) > 1)}"
    out = _run_batches(solve, list(range(len(plan))), run, opts["iterations"], label, work)
    high = wiener_high_band(rec.high, rec.full, rec.rate)
    return _finish(run, rec, outs, [to_output(plan.join(torch.stack(out)), rec, high)], plan)


def _inpaint(run: _Run) -> Restored:
    """Fit only the segments that hold a gap."""
    rec, outs, opts = _start(run)
    gaps, found = _gaps_for(run, rec)
    gaps16 = [(int(round(a * SAMPLE_RATE)), int(round(b * SAMPLE_RATE))) for a, b in gaps]
    plan, work, pieces = _open_segments(run, rec, outs, opts, keep_out=gaps16, margin=N_FFT, gaps=gaps)
    if found:
        _say(run, found)
    todo = [k for k in range(len(plan)) if plan.local_gaps(k, gaps16)]

    def solve(batch, callback):
        x = pieces[batch]  # (segments, channels, samples): the gaps are gaps in every channel
        masks = torch.cat([GapMask([(a / SAMPLE_RATE, b / SAMPLE_RATE) for a, b in plan.local_gaps(k, gaps16)],
                                   plan.size).spectrogram(opts["hop"]) for k in batch]).repeat_interleave(x.shape[1], 0)
        out = _decoded(inpaint(x.flatten(0, 1), masks, callback=callback, every=_every(opts["iterations"]),
                               **opts))
        return out.reshape(x.shape)

    label = f"inpaint {len(todo)} of {len(plan)} segment{'s' * (len(plan) > 1)}"
    filled = _run_batches(solve, todo, run, opts["iterations"], label, work)
    restored = pieces.clone()
    restored[todo] = torch.stack(filled)
    out = splice_gaps(rec.full.T.numpy(), to_output(plan.join(restored), rec), gaps, rec.rate)
    done = _finish(run, rec, outs, [out], plan)
    done.gaps = gaps
    return done


def _separate(run: _Run) -> Restored:
    rec, outs, opts = _start(run)
    plan, work, pieces = _open_segments(run, rec, outs, opts)
    if len(plan) > 1:
        _warn(run, f"{len(plan)} segments: the sources of consecutive segments are matched by correlation in "
                   "their overlap, a heuristic: sources may swap at segment borders")

    def solve(batch, callback):
        x = pieces[batch]  # (segments, channels, samples) -> (segments, sources, channels, samples)
        out = _decoded(separate(x.flatten(0, 1), callback=callback, every=_every(opts["iterations"]), **opts))
        return align_channels(out.reshape(*x.shape[:2], *out.shape[1:]).transpose(1, 2))

    label = f"separate {len(plan)} segment{'s' * (len(plan) > 1)}"
    out = torch.stack(_run_batches(solve, list(range(len(plan))), run, opts["iterations"], label, work))
    sources = plan.join(align_sources(out, plan))  # (sources, channels, samples)
    highs = share_high_band(rec.high, sources, rec.rate)
    return _finish(run, rec, outs, [to_output(s, rec, h) for s, h in zip(sources, highs)], plan)


_COMMANDS = {"denoise": _denoise, "inpaint": _inpaint, "separate": _separate}


# ---------------------------------------------------------------------------- before fitting


def _start(run: _Run) -> tuple[Recording, list[Path], dict]:
    """Everything that can fail cheaply, in order: options, input, outputs. Prints nothing."""
    if run.prior not in prior_names():
        raise DapError(f"unknown prior {run.prior!r}; choose one of {', '.join(prior_names())}")
    device = resolve_device(run.device)
    if run.iterations is not None and run.iterations < 1:
        raise DapError(f"--iterations must be at least 1, got {run.iterations}")
    if run.batch is not None and run.batch < 1:
        raise DapError(f"--batch must be at least 1, got {run.batch}")
    if run.seeds is not None and run.seeds < 1:
        raise DapError(f"--seeds must be at least 1, got {run.seeds}")
    _segment_sizes(run)
    hop_ms = 1000 * _hop(run) / SAMPLE_RATE
    if run.min_gap is not None and run.min_gap < hop_ms:
        finer = finer_hop(hop_ms)
        raise DapError(f"--min-gap must be at least {hop_ms:.0f} ms (one hop), got {run.min_gap:g}"
                       + ("; --hop {} allows {:.0f} ms".format(*finer) if finer else ""))
    opts = _fit_options(run)
    build_prior(run.prior, **opts.get("prior_options", {}))  # any bad prior option fails here, not mid-run
    rec = load_recording(run.source, mono=run.mono)
    if run.batch is None:
        run.batch = 1 if device.type == "cpu" else gpu_batch_size(run, device, rec.channels)
    outputs = check_outputs(run.outputs, rec.path, run.force)
    for out in outputs:  # --overload float on a format without float samples fails now, not after the fit
        overload_rule(out, output_subtype(out, rec), run.overload)
    return rec, outputs, opts


def gpu_batch_size(run, device: torch.device, channels: int = 1) -> int:
    """Segments per batch on a GPU: as many as its free memory holds, from the prior's memory estimate.

    Args:
        run: the run's settings (``command``, ``prior``, ``preset``, ``channels``, ``segment``,
            ``overlap``, ``hop``, as :func:`restore_file` takes them).
        device (torch.device): the GPU.
        channels (int): the recording's channels restored (each segment is that many problems).

    Returns:
        int: at least 1.
    """
    size, _ = _segment_sizes(run)
    opts = {"channels": run.channels} if run.channels else get_preset(run.preset).prior_options()
    shape = (2, N_FREQ, n_frames(size, _hop(run)))
    method = (run.method or DEFAULT_SEPARATION) if run.command == "separate" else None
    problems = auto_batch_size(device, fit_memory_bytes(memory_model(method, run.prior, shape, **opts), shape))
    return max(1, problems // channels)


def _hop(run) -> int:
    """The spectrogram hop of this run: ``hop``, else the preset's."""
    return run.hop or get_preset(run.preset).hop


def _fit_options(run: _Run) -> dict:
    """Options for the task functions: the preset's, overridden by the run's."""
    opts = get_preset(run.preset).fit_options()
    if run.iterations is not None:
        opts["iterations"] = run.iterations
    if run.precision is not None:
        opts["precision"] = run.precision
    opts.update(prior=run.prior, seed=run.seed, device=run.device, progress=False, select=run.select)
    if run.select != "auto":
        opts.pop("stopping", None)
    if run.channels:
        opts["prior_options"] = {"channels": run.channels}
    opts["hop"] = _hop(run)
    if run.seeds is not None:  # denoise, inpaint: an ensemble per segment
        opts["seeds"] = run.seeds
    if run.command == "separate":  # its method's own lr and schedule (the presets' are denoising's)
        opts.pop("lr", None)
        opts.pop("schedule", None)
        opts["method"] = run.method
    return opts


def _gaps_for(run: _Run, rec: Recording) -> tuple[list[tuple[float, float]], str | None]:
    """The gaps to fill (given, or found), and a line reporting found ones."""
    if run.gaps is not None:
        return parse_gaps(run.gaps, rec.duration, _hop(run)), None
    gaps, edge = detect_gaps(rec.data, rec.rate, run.min_gap)
    if not gaps:
        raise DapError(f"no gaps found: {rec.path} has no run of digital silence of {run.min_gap:g} ms or more "
                       "inside it; give the gaps with --gaps START-END,... (seconds)")
    note = " (leading/trailing silence left as is)" if edge else ""
    return gaps, (f"found {len(gaps)} gap{'s' * (len(gaps) > 1)}{note}: " +
                  ", ".join(f"{a:.3f}-{b:.3f} s" for a, b in gaps))


def _segment_sizes(run) -> tuple[int, int]:
    size = int(round(run.segment * SAMPLE_RATE))
    overlap = int(round(run.overlap * SAMPLE_RATE))
    if size < N_FFT:
        raise DapError(f"--segment must be at least {N_FFT / SAMPLE_RATE:.3f} s (one spectrogram frame), "
                       f"got {run.segment:g}")
    if not 0 <= overlap <= size // 2:
        raise DapError(f"--overlap must be between 0 and half of --segment ({run.segment / 2:g} s), "
                       f"got {run.overlap:g}")
    return size, overlap


def _plan(run: _Run, length: int, keep_out=(), margin: int = 0):
    size, overlap = _segment_sizes(run)
    try:
        return plan_segments(length, size, overlap, keep_out, margin)
    except DapError:
        if not keep_out:
            raise
    longer = next((s for s in np.arange(run.segment + 0.5, length / SAMPLE_RATE + 1, 0.5)
                   if _plan_fits(length, s, overlap, keep_out, margin)), None)
    hint = f"pass --segment {longer:g} or more" if longer else "mark shorter gaps"
    raise DapError(f"the gaps do not fit inside {run.segment:g} s segments with {run.overlap:g} s cross-fades "
                   f"and {1000 * margin / SAMPLE_RATE:.0f} ms of context on each side; {hint}")


def _plan_fits(length, seconds, overlap, keep_out, margin) -> bool:
    try:
        plan_segments(length, int(round(seconds * SAMPLE_RATE)), overlap, keep_out, margin)
        return True
    except DapError:
        return False


def _open_work(run: _Run, rec: Recording, outputs, opts: dict, **extra) -> WorkFolder:
    """The run's work folder (``work_dir``, default beside the first output), new or resumed.

    Its fingerprint is everything the result depends on: the input's bytes, the fit options (with
    the precision and the blind rule's settings as they resolve here), the segmenting, the batch
    (batches round differently), the command's own inputs (``extra``, e.g. the gaps), the daptools
    and torch versions and, on the CPU, the number of threads (they change the rounding).
    """
    dev = resolve_device(run.device)
    settings = {k: v for k, v in opts.items() if k not in ("device", "progress", "stopping")}
    # the rule as the task resolves it (stopping.task_rule: its own settings at this hop; the floor is per segment)
    rule = task_rule(run.command, opts.get("stopping"), hop=opts.get("hop")) if run.select == "auto" else None
    fingerprint = {"daptools": __version__, "command": run.command, "input_sha256": file_sha256(rec.path),
                   "preset": run.preset, **settings, "precision": resolve_precision(opts["precision"], dev),
                   "device": dev.type, "stopping": None if rule is None else asdict(rule), "segment": run.segment,
                   "overlap": run.overlap, "batch": run.batch, "torch": torch.__version__,
                   "cpu_threads": torch.get_num_threads() if dev.type == "cpu" else None, "mono": run.mono,
                   **extra}
    path = Path(run.work_dir) if run.work_dir else default_path(outputs[0])
    run.work = WorkFolder.open(path, fingerprint, run.resume)
    if run.resume and not run.work.resumed:
        _say(run, f"nothing to resume in {path}: starting from the first segment")
    return run.work


def _open_segments(run: _Run, rec: Recording, outputs, opts: dict, keep_out=(), margin: int = 0, **extra):
    """Plan the segments, open the work folder and say what will run: (plan, work folder, segments)."""
    plan = _plan(run, rec.wav.shape[-1], keep_out=keep_out, margin=margin)
    work = _open_work(run, rec, outputs, opts, **extra)
    _announce(run, rec, opts, plan)
    return plan, work, plan.split(rec.wav)


def _announce(run: _Run, rec: Recording, opts: dict, plan) -> None:
    seg = f"{len(plan)} segment{'s' * (len(plan) > 1)} of {plan.size / SAMPLE_RATE:.2f} s"
    n = opts["iterations"]
    its = f"up to {n} iterations each, stopped blindly" if run.select == "auto" else \
        f"{n} iteration{'s' * (n != 1)}"
    ch = rec.data.shape[1]
    kept = ("mono (--mono)" if run.mono and ch > 1 else "mono" if ch == 1 else
            f"{ch} channels, each its own problem in one batch")
    above = {"denoise": "Wiener gain", "inpaint": "kept as it is", "separate": "shared out"}[run.command]
    band = f"; above 8 kHz: {above}" if rec.rate > SAMPLE_RATE else ""
    _say(run, f"{rec.describe()} -> {kept}, 16 kHz for the prior{band}; {seg}; {run.prior}, {its} on "
              f"{resolve_device(run.device).type}")


# ---------------------------------------------------------------------------- fitting and writing


def _run_batches(solve, items: list, run: _Run, iterations: int, label: str, work: WorkFolder | None = None) -> list:
    """Fit ``items`` (segment indices) in batches of ``run.batch`` with one progress bar.

    Args:
        solve (callable): ``solve(batch_of_items, callback) -> Tensor (b, ..., samples)``; the
            callback is :func:`daptools.fit`'s ``callback`` (reads ``info["iteration"]``).
        items (list): what to fit.
        iterations (int): the most iterations per fit (the bar counts iterations of all batches; as
            fits end early, it re-estimates the total from the iterations the finished ones took).
        label (str): progress bar label.
        work (WorkFolder | None): keeps every finished item; items an interrupted run stored there
            are read back instead of fitted.

    Returns:
        list[Tensor]: one result per item, in order (``run.fitted`` and ``run.used`` count the segments
        fitted and the iterations each batch ran).
    """
    results, batches = _batches_to_fit(items, run, work)
    run.fitted += sum(map(len, batches))
    bar = tqdm(total=iterations * len(batches), desc=label, unit="it", disable=run.quiet, file=sys.stderr,
               dynamic_ncols=True, leave=True)
    used = run.used
    try:
        for k, batch in enumerate(batches):
            seen = [0]

            def progress(info, seen=seen):
                if _interrupted[0]:  # Ctrl-C seen but its KeyboardInterrupt was swallowed somewhere: stop here
                    raise KeyboardInterrupt
                bar.update(info["iteration"] - seen[0])
                seen[0] = info["iteration"]

            for item, out in zip(batch, solve(batch, progress)):
                if work is not None:
                    work.save(item, out.numpy())
                results[item] = out
            used.append(seen[0])
            # the blind rule ends most fits early: expect the batches to come to need what the finished ones
            # needed on average, so the bar's remaining-time estimate follows
            bar.total = bar.n + round(np.mean(used)) * (len(batches) - k - 1)
            bar.refresh()
    finally:
        bar.close()
    return [results[item] for item in items]


def _batches_to_fit(items: list, run: _Run, work: WorkFolder | None) -> tuple[dict, list]:
    """The results an interrupted run kept, and the batches still to fit.

    The batches are those of the whole list, whatever was kept: a batch left half-saved (a kill
    between two of its segments) is fitted again whole, so that every segment is fitted in the
    batch it would have had without the interruption (vmapped batches round differently).
    """
    batches = [items[i:i + run.batch] for i in range(0, len(items), run.batch)]
    stored = {} if work is None else work.load(items)
    todo = [b for b in batches if not all(item in stored for item in b)]
    refit = {item for b in todo for item in b}
    kept = {item: torch.from_numpy(x) for item, x in stored.items() if item not in refit}
    if work is not None and work.resumed:
        _say(run, f"resuming from {work.path}: {len(kept)} of {len(items)} segments kept, fitting "
                  f"{sum(map(len, todo))}")
    return kept, todo


def _every(iterations: int) -> int:
    return max(1, iterations // 100)  # about 100 bar updates per batch: each one syncs the device


def _decoded(result) -> torch.Tensor:
    return result.batch_audio()  # batch-first even for a batch of one


def _finish(run: _Run, rec: Recording, outputs, waves, plan) -> Restored:
    """Write the outputs (one gain for all of them when they must be scaled), then drop the work folder."""
    peak = max(float(np.abs(w).max()) for w in waves)
    for path, wav in zip(outputs, waves):
        warning = write_atomic(path, wav, rec.rate, rec, run.overload, peak)
        if warning:
            _warn(run, warning)
    left = run.work.remove()
    if left:
        _warn(run, left)
    elapsed = time.perf_counter() - run.started
    names = ", ".join(str(p) for p in outputs)
    fits = ""
    if run.used:  # what the blind stops saved (a resumed run lists only the batches it fitted)
        fits = (f"; the fits ran {run.used[0]} iterations" if len(run.used) == 1 else
                f"; the fits ran {int(np.median(run.used))} iterations per batch (median of {len(run.used)}, "
                f"{min(run.used)}-{max(run.used)})")
    ch = waves[0].shape[1]
    _say(run, f"wrote {names} ({rec.duration:.2f} s, {'mono' if ch == 1 else f'{ch} channels'}, {rec.rate} Hz) in "
              f"{elapsed:.1f} s{fits}")
    return Restored(outputs, rec.duration, elapsed, len(plan), fitted=run.fitted, iterations=list(run.used),
                    warnings=list(run.warnings))


def _say(run, message: str) -> None:
    if not run.quiet:
        print(f"daptools: {message}", file=sys.stderr)


def _warn(run: _Run, message: str) -> None:
    run.warnings.append(message)
    print(f"daptools: warning: {message}", file=sys.stderr)
