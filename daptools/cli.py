"""The ``daptools`` command line: restore your own recordings.

    daptools denoise noisy.wav -o restored.wav
    daptools inpaint dropouts.flac -o filled.flac [--gaps 1.20-1.35,4.0-4.2]
    daptools separate mixture.wav -o source1.wav source2.wav
    daptools paper ...    the paper's tables (daptools.experiments)
    daptools bench ...    the speed benchmark (daptools.bench)

Input: anything soundfile (libsndfile) reads, at any sample rate and channel
count. The channels are averaged and the audio resampled to 16 kHz, the rate the
priors work at; the result is resampled back and written in MONO at the input's
sample rate (so nothing above 8 kHz is restored; ``inpaint`` keeps the original
samples outside the gaps and only replaces the gaps).

Any length: the recording is cut into overlapping segments (``--segment``,
``--overlap``; see :mod:`daptools.segments`), the segments are fitted as batches of
independent problems (``--batch`` at a time), and the results are joined with
linear cross-fades. One progress bar with an estimate of the remaining time
covers the whole file.

Resumable: every finished segment is kept in a work folder beside the output
(``OUT.daptools-work/`` or ``--work-dir``; see :mod:`daptools.resume`); a run that was
interrupted (Ctrl-C, killed, a restart) and is started again with the same command
and ``--resume`` fits only the missing segments and writes exactly the file the
uninterrupted run would have. The folder is removed once the output is written.

Safety: the input is never written; an existing output is refused without
``--force``; the output is written to a temporary file in the same folder and
renamed, so an interrupted run leaves no half-written file. Nothing is clipped
silently: a result beyond full scale is written as float samples (WAV) or scaled
by one gain (FLAC, OGG, ...), with a warning (``--overload``). Problems with the
input or the options give one line on stderr (``daptools: error: ...``) and exit
status 2, before any fitting.

``--channels`` (e.g. ``8,16,32``) shrinks the U-Nets; it is meant for tests and
experiments (fast, much weaker restoration), not for real use.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import signal
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from tqdm import tqdm

from . import __version__
from ._checks import DapError
from .audio import read_audio, resample, write_samples
from .corruptions import GapMask
from .device import auto_batch_size, fit_memory_bytes, resolve_device, resolve_precision
from .presets import PRESETS as RUN_PRESETS, get_preset
from .priors import build_prior, prior_names
from .resume import WorkFolder, default_path, file_sha256
from .segments import align_sources, plan_segments
from .spectral import HOP, HOPS, N_FFT, N_FREQ, SAMPLE_RATE, n_frames
from .stopping import Stopping
from .tasks import DEFAULT_SEPARATION, SEPARATION_METHODS, SeparationPrior, denoise, inpaint, separate

SILENCE = 1e-8          # |sample| below this counts as digital silence
SPLICE_SECONDS = 0.01   # inpaint: cross-fade between the original and the filled gap
PASSTHROUGH = {"paper": "daptools.experiments", "bench": "daptools.bench"}
IO_HELP = ("Reads any file libsndfile reads (WAV, FLAC, OGG, MP3, ...) at any sample rate and channel "
           "count. The channels are averaged and resampled to 16 kHz for the prior; the result is "
           "written in mono at the input's sample rate (content above 8 kHz is not restored). Long "
           "recordings are processed in overlapping segments joined with linear cross-fades.")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (argparse's default prints the usage first)."""

    def error(self, message):
        self.exit(2, f"daptools: error: {message} (see '{self.prog} --help')\n")


# ---------------------------------------------------------------------------- reading and writing

@dataclass
class Recording:
    """An input file: its samples at their own rate, and the mono 16 kHz version for the prior."""
    path: Path
    data: np.ndarray        # (frames, channels), float32, at ``rate``
    rate: int
    format: str
    subtype: str
    wav: torch.Tensor       # (samples,), mono, 16 kHz

    @property
    def duration(self) -> float:
        return self.data.shape[0] / self.rate

    def describe(self) -> str:
        ch = self.data.shape[1]
        return f"{self.path}: {self.duration:.2f} s, {self.rate} Hz, {ch} channel{'s' * (ch > 1)}"


def load_recording(path) -> Recording:
    """Read a recording and check that there is something to restore.

    Args:
        path (str | Path): the input file.

    Returns:
        Recording

    Raises:
        DapError: missing, empty, unreadable or non-audio file; NaN or infinite samples;
            shorter than one spectrogram frame; digital silence.
    """
    path = Path(path)
    if path.is_file() and not os.access(path, os.R_OK):
        raise DapError(f"{path}: permission denied; make the file readable (chmod u+r) or copy it")
    data, rate = read_audio(path)
    finite = np.isfinite(data).all(axis=1)
    if not finite.all():
        first = int(np.argmin(finite)) / rate
        raise DapError(f"{path} contains NaN or infinite samples (first at {first:.3f} s); "
                       "repair or re-export the file")
    frame_s = N_FFT / SAMPLE_RATE
    if data.shape[0] / rate < frame_s:
        raise DapError(f"{path} is {1000 * data.shape[0] / rate:.1f} ms long, shorter than one spectrogram "
                       f"frame ({1000 * frame_s:.0f} ms); give a longer recording")
    if np.abs(data).max() < SILENCE:
        raise DapError(f"{path} is digital silence (all samples zero): nothing to restore")
    info = sf.info(str(path))
    wav = resample(torch.from_numpy(np.ascontiguousarray(data.mean(axis=1))), rate, SAMPLE_RATE)
    return Recording(path, data, rate, info.format, info.subtype, wav.float())


def _format_of(path: Path) -> str:
    fmt = path.suffix[1:].upper()
    if fmt not in sf.available_formats() or not sf.default_subtype(fmt):  # RAW needs a layout we cannot guess
        raise DapError(f"{path}: cannot tell the audio format from {path.suffix or 'a name without extension'!r}; "
                       "end the output name with .wav, .flac or .ogg")
    return fmt


def check_outputs(outputs, source: Path, force: bool) -> list[Path]:
    """Refuse outputs that would overwrite the input, exist (without ``force``), repeat, or
    cannot be written; all before any work is done.

    Args:
        outputs (list[str | Path]): output file names.
        source (Path): the input file.
        force (bool): allow replacing an existing output (never the input).

    Returns:
        list[Path]
    """
    paths = [Path(p) for p in outputs]
    for i, out in enumerate(paths):
        _format_of(out)
        if out.exists() and os.path.samefile(out, source):
            raise DapError(f"{out} is the input file; choose another output name (daptools never writes "
                           "over its input)")
        if out.is_dir():
            raise DapError(f"{out} is a folder; give an output file name")
        if (out.exists() or out.is_symlink()) and not force:
            raise DapError(f"{out} already exists; pass --force to replace it")
        if any(out.resolve() == p.resolve() for p in paths[:i]):
            raise DapError(f"{out} is given twice; give each output its own name")
        _check_folder(out.parent)
    return paths


def _check_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise DapError(f"{folder}: output folder does not exist; create it first")
    try:  # the real test: os.access says yes to root even on read-only mounts
        with tempfile.TemporaryFile(dir=folder, prefix=".daptools-probe-"):
            pass
    except OSError as exc:
        raise DapError(f"{folder}: cannot write in this folder ({exc.strerror}); "
                       "choose another output folder") from exc


FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")  # subtypes that hold samples beyond +-1
OVERLOAD = ("float", "scale", "clip")
SCALED_PEAK = 0.99  # --overload scale: the result's new peak, just below full scale (-0.09 dBFS)


def output_subtype(path: Path, like: Recording) -> str:
    """The subtype an output gets: the input's (e.g. PCM_16) when the format is the input's, else
    the format's default."""
    fmt = _format_of(path)
    subtype = like.subtype if fmt == like.format and sf.check_format(fmt, like.subtype) else None
    return subtype or sf.default_subtype(fmt)


def overload_rule(path: Path, subtype: str, choice: str | None) -> str:
    """What to do with samples beyond full scale in this output: "keep" (a float subtype holds
    them), "float", "scale" or "clip" (see :func:`write_atomic`).

    Args:
        path (Path): the output file (its extension gives the format).
        subtype (str): the subtype it would get.
        choice (str | None): ``--overload``; None: "float" where the format holds float samples,
            else "scale".

    Returns:
        str
    """
    if subtype in FLOAT_SUBTYPES:
        return "keep"
    fmt = _format_of(path)
    floats = sf.check_format(fmt, "FLOAT")
    if choice == "float" and not floats:
        raise DapError(f"--overload float: {fmt} files cannot hold float samples; write a .wav output, or pass "
                       "--overload scale")
    return choice or ("float" if floats else "scale")


def write_atomic(path: Path, wav: np.ndarray, rate: int, like: Recording, overload: str | None = None,
                 peak: float | None = None) -> str | None:
    """Write a mono waveform through a temporary file in the same folder, then rename it.

    Keeps the input's subtype (e.g. PCM_16) when the output has the input's format. Integer and
    lossy subtypes cannot hold samples beyond +-1 (libsndfile would wrap them around); when the
    result exceeds full scale, ``overload`` decides, and nothing is changed silently:
    "float" writes 32-bit float samples instead (WAV and other formats that hold them: the
    default there), "scale" multiplies the whole result by one gain so its peak is
    ``SCALED_PEAK`` (the default elsewhere: FLAC, OGG, ...), "clip" clips to +-1.

    Args:
        path (Path), wav (ndarray), rate (int): the output, its samples and sample rate.
        like (Recording): the input, whose subtype the output keeps where it can.
        overload (str | None): "float", "scale", "clip" or None (the default rule above).
        peak (float | None): the peak that decides and sets the gain (default: this waveform's;
            ``separate`` passes the peak of both sources, so one gain keeps their sum).

    Returns:
        str | None: a warning saying what was done, if the result exceeded full scale.
    """
    subtype = output_subtype(path, like)
    peak = float(np.abs(wav).max()) if peak is None else peak
    rule = overload_rule(path, subtype, overload) if peak > 1 else "keep"
    over = f"{path.name}: the result peaks at {peak:.3f} ({20 * np.log10(peak):+.2f} dBFS), above full scale"
    warning = None
    if rule == "float":
        warning = f"{over}; written as 32-bit float samples (FLOAT instead of {subtype}), nothing clipped"
        subtype = "FLOAT"
    elif rule == "scale":
        gain = SCALED_PEAK / peak
        warning = (f"{over}; the whole result scaled by {20 * np.log10(gain):.2f} dB to fit {subtype} "
                   f"(new peak {SCALED_PEAK * float(np.abs(wav).max()) / peak:.3f}), nothing clipped")
        wav = (wav * gain).astype(np.float32)
    elif rule == "clip":
        warning = f"{over}; clipped to +-1 for {subtype} (--overload clip)"
        wav = np.clip(wav, -1, 1)
    _replace_atomic(path, lambda tmp: write_samples(tmp, wav, rate, subtype=subtype, format=_format_of(path)))
    return warning


def _replace_atomic(path: Path, write) -> None:
    """``write(temporary_name)`` in the output's folder, give it a normal file's mode, rename it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        os.close(fd)
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _to_output(wav16: torch.Tensor, rec: Recording) -> np.ndarray:
    """16 kHz result -> the input's rate and exact frame count."""
    out = resample(wav16.float(), SAMPLE_RATE, rec.rate)[..., :rec.data.shape[0]]
    pad = rec.data.shape[0] - out.shape[-1]
    return torch.nn.functional.pad(out, (0, pad)).numpy() if pad > 0 else out.numpy()


# ---------------------------------------------------------------------------- gaps

_TIME = r"(\d+(?:\.\d*)?|\.\d+)"
_GAP = re.compile(rf"^\s*{_TIME}\s*-\s*{_TIME}\s*$")


def parse_gaps(text: str, duration: float, hop: int = HOP) -> list[tuple[float, float]]:
    """Parse ``--gaps`` ("1.20-1.35,4.0-4.2", seconds) and check it against the recording.

    Returns:
        list[tuple[float, float]]: sorted (start, end) pairs.
    """
    hop_ms = 1000 * hop / SAMPLE_RATE
    gaps = []
    for item in text.split(","):
        m = _GAP.match(item)
        if not m:
            raise DapError(f"--gaps: cannot read {item.strip()!r}; write START-END in seconds (START >= 0), "
                           "comma-separated, e.g. --gaps 1.20-1.35,4.0-4.2")
        a, b = float(m.group(1)), float(m.group(2))
        if b <= a:
            raise DapError(f"--gaps: {item.strip()} ends before it starts; write START-END with START < END")
        if b > duration:
            raise DapError(f"--gaps: {item.strip()} ends after the recording ({duration:.3f} s); "
                           "give times inside the file")
        if 1000 * (b - a) < hop_ms:
            raise DapError(f"--gaps: {item.strip()} is shorter than {hop_ms:.0f} ms, the spectrogram's time "
                           "step; give longer gaps")
        gaps.append((a, b))
    gaps.sort()
    for (a0, b0), (a1, b1) in zip(gaps, gaps[1:]):
        if a1 < b0:
            raise DapError(f"--gaps: {a0:g}-{b0:g} and {a1:g}-{b1:g} overlap; merge them")
    return gaps


def detect_gaps(data: np.ndarray, rate: int, min_gap_ms: float) -> tuple[list, int]:
    """Find drop-outs: runs of digital silence (every channel |x| < 1e-8) of at least
    ``min_gap_ms`` inside the recording. Runs touching its start or end are lead-in /
    lead-out silence, not drop-outs, and are left alone.

    Returns:
        (list of (start, end) in seconds, number of edge runs ignored)
    """
    silent = (np.abs(data) < SILENCE).all(axis=1).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], silent, [0]])))
    runs = edges.reshape(-1, 2)
    runs = runs[runs[:, 1] - runs[:, 0] >= min_gap_ms * rate / 1000]
    inner = [(int(a), int(b)) for a, b in runs if a > 0 and b < len(silent)]
    return [(a / rate, b / rate) for a, b in inner], len(runs) - len(inner)


def _gaps_for(args, rec: Recording) -> tuple[list[tuple[float, float]], str | None]:
    """The gaps to fill (``--gaps``, or found), and a line reporting found ones."""
    if args.gaps is not None:
        return parse_gaps(args.gaps, rec.duration, _hop(args)), None
    gaps, edge = detect_gaps(rec.data, rec.rate, args.min_gap)
    if not gaps:
        raise DapError(f"no gaps found: {rec.path} has no run of digital silence of {args.min_gap:g} ms or more "
                       "inside it; give the gaps with --gaps START-END,... (seconds)")
    note = " (leading/trailing silence left as is)" if edge else ""
    return gaps, (f"found {len(gaps)} gap{'s' * (len(gaps) > 1)}{note}: " +
                  ", ".join(f"{a:.3f}-{b:.3f} s" for a, b in gaps))


def _splice(rec: Recording, filled: np.ndarray, gaps) -> np.ndarray:
    """The original (mono) samples outside the gaps, the filled ones inside, with short ramps
    just outside each gap so the joins do not click."""
    n, ramp = rec.data.shape[0], max(1, int(SPLICE_SECONDS * rec.rate))
    w = np.zeros(n)
    for a, b in gaps:
        ia, ib = int(round(a * rec.rate)), int(round(b * rec.rate))
        w[ia:ib] = 1
        up = np.arange(1, ramp + 1) / (ramp + 1)
        lo = max(ia - ramp, 0)
        w[lo:ia] = np.maximum(w[lo:ia], up[ramp - (ia - lo):])
        hi = min(ib + ramp, n)
        w[ib:hi] = np.maximum(w[ib:hi], up[::-1][:hi - ib])
    return ((1 - w) * rec.data.mean(axis=1) + w * filled).astype(np.float32)


# ---------------------------------------------------------------------------- fitting


def _say(args, message: str) -> None:
    if not args.quiet:
        print(f"daptools: {message}", file=sys.stderr)


def _hop(args) -> int:
    """The spectrogram hop of this run: --hop, else the preset's."""
    return args.hop or get_preset(args.preset).hop


def _fit_options(args) -> dict:
    """Options for the task functions: the preset's, overridden by the command line."""
    opts = get_preset(args.preset).fit_options()
    if args.iterations is not None:
        opts["iterations"] = args.iterations
    if args.precision is not None:
        opts["precision"] = args.precision
    opts.update(prior=args.prior, seed=args.seed, device=args.device, progress=False, select=args.select)
    if args.select != "auto":
        opts.pop("stopping", None)
    if args.channels:
        opts["prior_options"] = {"channels": args.channels}
    opts["hop"] = _hop(args)
    if getattr(args, "seeds", None) is not None:  # denoise, inpaint: an ensemble per segment
        opts["seeds"] = args.seeds
    if args.command == "separate":  # its method's own lr and schedule (the presets' are denoising's)
        opts.pop("lr", None)
        opts.pop("schedule", None)
        opts["method"] = args.method
    return opts


def run_batches(solve, items: list, args, iterations: int, label: str, work: WorkFolder | None = None) -> list:
    """Fit ``items`` (segment indices) in batches of ``args.batch`` with one progress bar.

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
        list[Tensor]: one result per item, in order.
    """
    results, batches = _batches_to_fit(items, args, work)
    bar = tqdm(total=iterations * len(batches), desc=label, unit="it", disable=args.quiet, file=sys.stderr,
               dynamic_ncols=True, leave=True)
    used = []
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


def _batches_to_fit(items: list, args, work: WorkFolder | None) -> tuple[dict, list]:
    """The results an interrupted run kept, and the batches still to fit.

    The batches are those of the whole list, whatever was kept: a batch left half-saved (a kill
    between two of its segments) is fitted again whole, so that every segment is fitted in the
    batch it would have had without the interruption (vmapped batches round differently).
    """
    batches = [items[i:i + args.batch] for i in range(0, len(items), args.batch)]
    stored = {} if work is None else work.load(items)
    todo = [b for b in batches if not all(item in stored for item in b)]
    refit = {item for b in todo for item in b}
    kept = {item: torch.from_numpy(x) for item, x in stored.items() if item not in refit}
    if work is not None and work.resumed:
        _say(args, f"resuming from {work.path}: {len(kept)} of {len(items)} segments kept, fitting "
                   f"{sum(map(len, todo))}")
    return kept, todo


def _segment_sizes(args) -> tuple[int, int]:
    size = int(round(args.segment * SAMPLE_RATE))
    overlap = int(round(args.overlap * SAMPLE_RATE))
    if size < N_FFT:
        raise DapError(f"--segment must be at least {N_FFT / SAMPLE_RATE:.3f} s (one spectrogram frame), "
                       f"got {args.segment:g}")
    if not 0 <= overlap <= size // 2:
        raise DapError(f"--overlap must be between 0 and half of --segment ({args.segment / 2:g} s), "
                       f"got {args.overlap:g}")
    return size, overlap


def _plan(args, length: int, keep_out=(), margin: int = 0):
    size, overlap = _segment_sizes(args)
    try:
        return plan_segments(length, size, overlap, keep_out, margin)
    except DapError:
        if not keep_out:
            raise
    longer = next((s for s in np.arange(args.segment + 0.5, length / SAMPLE_RATE + 1, 0.5)
                   if _plan_fits(length, s, overlap, keep_out, margin)), None)
    hint = f"pass --segment {longer:g} or more" if longer else "mark shorter gaps"
    raise DapError(f"the gaps do not fit inside {args.segment:g} s segments with {args.overlap:g} s cross-fades "
                   f"and {1000 * margin / SAMPLE_RATE:.0f} ms of context on each side; {hint}")


def _plan_fits(length, seconds, overlap, keep_out, margin) -> bool:
    try:
        plan_segments(length, int(round(seconds * SAMPLE_RATE)), overlap, keep_out, margin)
        return True
    except DapError:
        return False


def _every(iterations: int) -> int:
    return max(1, iterations // 100)  # about 100 bar updates per batch: each one syncs the device


def _decoded(result) -> torch.Tensor:
    return result.batch_audio()  # batch-first even for a batch of one


def _open_work(args, rec: Recording, outputs, opts: dict, **extra) -> WorkFolder:
    """The run's work folder (``--work-dir``, default beside the first output), new or resumed.

    Its fingerprint is everything the result depends on: the input's bytes, the fit options (with
    the precision and the blind rule's settings as they resolve here), the segmenting, the batch
    (batches round differently), the command's own inputs (``extra``, e.g. the gaps), the daptools
    and torch versions and, on the CPU, the number of threads (they change the rounding).
    """
    dev = resolve_device(args.device)
    settings = {k: v for k, v in opts.items() if k not in ("device", "progress", "stopping")}
    rule = Stopping.coerce(opts.get("stopping")) if args.select == "auto" else None  # as fit() resolves it
    fingerprint = {"daptools": __version__, "command": args.command, "input_sha256": file_sha256(rec.path),
                   "preset": args.preset, **settings, "precision": resolve_precision(opts["precision"], dev),
                   "device": dev.type, "stopping": None if rule is None else asdict(rule), "segment": args.segment,
                   "overlap": args.overlap, "batch": args.batch, "torch": torch.__version__,
                   "cpu_threads": torch.get_num_threads() if dev.type == "cpu" else None, **extra}
    path = Path(args.work_dir) if args.work_dir else default_path(outputs[0])
    args.work = WorkFolder.open(path, fingerprint, args.resume)
    if args.resume and not args.work.resumed:
        _say(args, f"nothing to resume in {path}: starting from the first segment")
    return args.work


# ---------------------------------------------------------------------------- commands


def _start(args) -> tuple[Recording, list[Path], dict]:
    """Everything that can fail cheaply, in order: options, input, outputs. Prints nothing."""
    if args.prior not in prior_names():
        raise DapError(f"unknown prior {args.prior!r}; choose one of {', '.join(prior_names())}")
    device = resolve_device(args.device)
    if args.iterations is not None and args.iterations < 1:
        raise DapError(f"--iterations must be at least 1, got {args.iterations}")
    if args.batch is None:
        args.batch = 1 if device.type == "cpu" else _gpu_batch(args, device)
    if args.batch < 1:
        raise DapError(f"--batch must be at least 1, got {args.batch}")
    if getattr(args, "seeds", None) is not None and args.seeds < 1:
        raise DapError(f"--seeds must be at least 1, got {args.seeds}")
    _segment_sizes(args)
    hop_ms = 1000 * _hop(args) / SAMPLE_RATE
    if getattr(args, "min_gap", None) is not None and args.min_gap < hop_ms:
        raise DapError(f"--min-gap must be at least {hop_ms:.0f} ms (one hop), got {args.min_gap:g}")
    opts = _fit_options(args)
    build_prior(args.prior, **opts.get("prior_options", {}))  # any bad prior option fails here, not mid-run
    rec = load_recording(args.input)
    outputs = check_outputs(args.output, rec.path, args.force)
    for out in outputs:  # --overload float on a format without float samples fails now, not after the fit
        overload_rule(out, output_subtype(out, rec), args.overload)
    return rec, outputs, opts


def _gpu_batch(args, device: torch.device) -> int:
    """Segments per batch on a GPU: as many as its free memory holds, from the prior's memory estimate."""
    size, _ = _segment_sizes(args)
    opts = {"channels": args.channels} if args.channels else get_preset(args.preset).prior_options()
    net = SeparationPrior(args.prior, **opts) if args.command == "separate" else build_prior(args.prior, **opts)
    return auto_batch_size(device, fit_memory_bytes(net, (2, N_FREQ, n_frames(size, _hop(args)))))


def _announce(args, rec: Recording, opts: dict, plan) -> None:
    seg = f"{len(plan)} segment{'s' * (len(plan) > 1)} of {plan.size / SAMPLE_RATE:.2f} s"
    n = opts["iterations"]
    its = f"up to {n} iterations each, stopped blindly" if args.select == "auto" else \
        f"{n} iteration{'s' * (n != 1)}"
    _say(args, f"{rec.describe()} -> mono, 16 kHz for the prior; {seg}; {args.prior}, {its} on "
               f"{resolve_device(args.device).type}")


def _finish(args, rec: Recording, outputs, waves, started: float) -> int:
    """Write the outputs (one gain for all of them when they must be scaled), then drop the work folder."""
    peak = max(float(np.abs(w).max()) for w in waves)
    for path, wav in zip(outputs, waves):
        warning = write_atomic(path, wav, rec.rate, rec, args.overload, peak)
        if warning:
            print(f"daptools: warning: {warning}", file=sys.stderr)
    left = args.work.remove()
    if left:
        print(f"daptools: warning: {left}", file=sys.stderr)
    names = ", ".join(str(p) for p in outputs)
    _say(args, f"wrote {names} ({rec.duration:.2f} s, mono, {rec.rate} Hz) in {time.perf_counter() - started:.1f} s")
    return 0


def _open_segments(args, rec: Recording, outputs, opts: dict, keep_out=(), margin: int = 0, **extra):
    """Plan the segments, open the work folder and say what will run: (plan, work folder, segments)."""
    plan = _plan(args, rec.wav.numel(), keep_out=keep_out, margin=margin)
    work = _open_work(args, rec, outputs, opts, **extra)
    _announce(args, rec, opts, plan)
    return plan, work, plan.split(rec.wav)


def cmd_denoise(args) -> int:
    """``daptools denoise IN -o OUT``."""
    started = time.perf_counter()
    rec, outs, opts = _start(args)
    plan, work, pieces = _open_segments(args, rec, outs, opts)

    def solve(batch, callback):
        return _decoded(denoise(pieces[batch], callback=callback, every=_every(opts["iterations"]), **opts))

    label = f"denoise {len(plan)} segment{'s' * (len(plan) > 1)}"
    out = run_batches(solve, list(range(len(plan))), args, opts["iterations"], label, work)
    return _finish(args, rec, outs, [_to_output(plan.join(torch.stack(out)), rec)], started)


def cmd_inpaint(args) -> int:
    """``daptools inpaint IN -o OUT [--gaps ...]``: fit only the segments that hold a gap."""
    started = time.perf_counter()
    rec, outs, opts = _start(args)
    gaps, found = _gaps_for(args, rec)
    gaps16 = [(int(round(a * SAMPLE_RATE)), int(round(b * SAMPLE_RATE))) for a, b in gaps]
    plan, work, pieces = _open_segments(args, rec, outs, opts, keep_out=gaps16, margin=N_FFT, gaps=gaps)
    if found:
        _say(args, found)
    todo = [k for k in range(len(plan)) if plan.local_gaps(k, gaps16)]

    def solve(batch, callback):
        masks = torch.cat([GapMask([(a / SAMPLE_RATE, b / SAMPLE_RATE) for a, b in plan.local_gaps(k, gaps16)],
                                   plan.size).spectrogram() for k in batch])
        return _decoded(inpaint(pieces[batch], masks, callback=callback, every=_every(opts["iterations"]),
                                **opts))

    label = f"inpaint {len(todo)} of {len(plan)} segment{'s' * (len(plan) > 1)}"
    filled = run_batches(solve, todo, args, opts["iterations"], label, work)
    restored = pieces.clone()
    restored[todo] = torch.stack(filled)
    out = _splice(rec, _to_output(plan.join(restored), rec), gaps)
    return _finish(args, rec, outs, [out], started)


def cmd_separate(args) -> int:
    """``daptools separate IN -o OUT1 OUT2``."""
    started = time.perf_counter()
    rec, outs, opts = _start(args)
    plan, work, pieces = _open_segments(args, rec, outs, opts)
    if len(plan) > 1:
        print(f"daptools: warning: {len(plan)} segments: the sources of consecutive segments are matched by "
              "correlation in their overlap, a heuristic: sources may swap at segment borders", file=sys.stderr)

    def solve(batch, callback):
        return _decoded(separate(pieces[batch], callback=callback, every=_every(opts["iterations"]), **opts))

    label = f"separate {len(plan)} segment{'s' * (len(plan) > 1)}"
    out = torch.stack(run_batches(solve, list(range(len(plan))), args, opts["iterations"], label, work))
    sources = plan.join(align_sources(out, plan))
    return _finish(args, rec, outs, [_to_output(s, rec) for s in sources], started)


# ---------------------------------------------------------------------------- parser and entry point


def _channels(text: str) -> tuple:
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"cannot read {text!r}; give comma-separated widths, e.g. 8,16,32") from None
    if len(widths) != 3 or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"give three positive widths (outer block, middle, bottleneck), "
                                         f"e.g. 8,16,32, got {text!r}")
    return widths


# Each command's default preset, from measurement: denoising is fastest to a good result with the fast
# preset (docs/performance.md); separation came out 0.2-1.0 dB lower with it on the two mixtures tried and
# did not stop sooner (its plateau rule ran the 600 iterations), and inpainting at hop 256 is unmeasured,
# so they keep the lab preset (the paper's hop).
DEFAULT_PRESET = {"denoise": "fast", "inpaint": "lab", "separate": "lab"}


def _add_common(p: argparse.ArgumentParser, n_outputs: int, command: str) -> None:
    p.add_argument("input", help="the recording to restore (never modified)")
    p.add_argument("-o", "--output", nargs=n_outputs, required=True, metavar="OUT",
                   help="output file(s); the format follows the extension (.wav, .flac, .ogg)")
    p.add_argument("--force", action="store_true", help="replace an existing output file (never the input)")
    p.add_argument("--overload", choices=OVERLOAD,
                   help="when the result exceeds full scale and the output's samples cannot hold it: float "
                        "(write 32-bit float samples; the default where the format has them, e.g. WAV), scale "
                        "(one gain for the whole result, peak just below full scale; the default elsewhere, e.g. "
                        "FLAC, OGG) or clip (clip to +-1); a warning always says what was done")
    presets = ", ".join(f"{k} (up to {v.iterations} iterations at lr {v.lr:g}, widths "
                        f"{'/'.join(map(str, v.channels or (35, 70, 140)))}, hop {v.hop})" for k, v in RUN_PRESETS.items())
    fit = p.add_argument_group("fitting")
    fit.add_argument("--prior", default="exp_dense", help=f"the prior: {', '.join(prior_names())} "
                     "(default exp_dense, the paper's)")
    default = DEFAULT_PRESET[command]
    fit.add_argument("--preset", default=default, choices=list(RUN_PRESETS), help=f"run settings: {presets}; "
                     f"default {default}. fast: the lab widths with hop 256, a quarter of the paper's frames "
                     "(the quickest to a good denoising on a CPU); lab: the paper's hop at small widths; "
                     "paper: the paper's full network and 2000 iterations (best quality, use a GPU)")
    fit.add_argument("--iterations", type=int, help="the most Adam steps per segment (default: the preset's); "
                     "with --select auto each segment stops by itself when its output stops improving")
    fit.add_argument("--select", default="auto", choices=("auto", "last", "ema"),
                     help="which iterate to keep: auto (default: a blind rule watches the output, keeps its best "
                          "iterate and ends the fit there), last (run all --iterations, keep the last), ema "
                          "(run all, keep the running average)")
    fit.add_argument("--precision", choices=("auto", "fp32", "bf16"),
                     help="arithmetic: auto (bf16 where the hardware computes it natively) or fp32/bf16 "
                          "(default: the preset's; lab: auto, paper: fp32)")
    fit.add_argument("--device", default="auto", help="auto (CUDA, then Apple MPS, then CPU), cpu, cuda, mps")
    fit.add_argument("--seed", type=int, default=0, help="seeds the networks and their inputs (default 0)")
    seg = p.add_argument_group("long recordings")
    seg.add_argument("--segment", type=float, default=2.0, help="segment length in seconds (default 2)")
    seg.add_argument("--overlap", type=float, default=0.25,
                     help="cross-fade between segments in seconds (default 0.25)")
    seg.add_argument("--resume", action="store_true",
                     help="continue an interrupted run: the same command plus --resume fits only the segments "
                          "its work folder lacks and writes what the uninterrupted run would have")
    seg.add_argument("--work-dir", metavar="DIR", help="where finished segments are kept until the output is "
                     "written (default OUTPUT.daptools-work beside the first output; removed after success)")
    seg.add_argument("--batch", type=int, help="segments fitted at once as one batch of independent networks "
                     "(default: on a GPU as many as its free memory holds, at most 64; 1 on the CPU, where "
                     "batching was measured slower); lower it if memory runs out")
    fit.add_argument("--hop", type=int, choices=HOPS,
                     help="spectrogram hop in samples (default: the preset's; fast: 256, lab and paper: 64, the "
                          "paper's); each doubling halves the frames and about halves the time per step")
    adv = p.add_argument_group("for tests and experiments")
    adv.add_argument("--channels", type=_channels, metavar="W1,W2,...",
                     help="U-Net block widths, e.g. 8,16,32 (smaller is faster and weaker; default: the preset's)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or messages, only warnings and errors")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``daptools`` command."""
    parser = _Parser(prog="daptools", description="Restore recordings with deep audio priors. " + IO_HELP)
    parser.add_argument("--version", action="version", version=f"daptools {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    cmds = {
        "denoise": (cmd_denoise, 1, "remove noise: daptools denoise IN -o OUT"),
        "inpaint": (cmd_inpaint, 1, "fill drop-outs: daptools inpaint IN -o OUT [--gaps 1.20-1.35,4.0-4.2]"),
        "separate": (cmd_separate, 2, "split a mixture into two sources: daptools separate IN -o OUT1 OUT2"),
    }
    for name, (func, n_out, summary) in cmds.items():
        p = sub.add_parser(name, help=summary, description=f"{summary}. {IO_HELP}")
        _add_common(p, n_out, name)
        p.set_defaults(func=func)
    for name in ("denoise", "inpaint"):
        sub.choices[name].add_argument(
            "--seeds", type=int, metavar="K", help="fit an ensemble of K networks per segment (seeds --seed, "
            "--seed + 1, ...) as one batch and average their spectrograms: K times the work per segment "
            "(default: one network)")
    sub.choices["separate"].add_argument(
        "--method", choices=SEPARATION_METHODS, default=DEFAULT_SEPARATION,
        help=f"separation model (default {DEFAULT_SEPARATION}): hp (a mask prior shares out the mixture between a "
             "sustained and a percussive source; chosen by measurement, docs/separation.md), dap (Tian et al.'s "
             "Deep Audio Prior recipe) or masks (two complex source priors and a mask prior)")
    ip = sub.choices["inpaint"]
    ip.add_argument("--gaps", metavar="START-END,...",
                    help="the gaps in seconds, e.g. 1.20-1.35,4.0-4.2 (default: find runs of digital silence)")
    ip.add_argument("--min-gap", type=float, default=20.0, metavar="MS",
                    help="shortest run of digital silence taken as a gap, in ms (default 20)")
    sub.add_parser("paper", help="the paper's tables (daptools paper --help)", add_help=False)
    sub.add_parser("bench", help="the speed benchmark (daptools bench --help)", add_help=False)
    return parser


def _passthrough(command: str, argv: list) -> int:
    """``daptools paper|bench ...``: hand the rest of the line to that module's ``main``."""
    module = PASSTHROUGH[command]
    try:
        entry = importlib.import_module(module).main
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise DapError(f"'daptools {command}' is not available in this version ({module} is missing)") from exc
    except AttributeError as exc:
        raise DapError(f"'daptools {command}' is not available: {module} has no main()") from exc
    rc = entry(argv)
    return 0 if rc is None else int(rc)


def _fail(message: str) -> int:
    print(f"daptools: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


# set by the Ctrl-C handler: Python can swallow a KeyboardInterrupt that lands in a finaliser or a
# callback of a C library, so the fitting loop's progress callback raises it again
_interrupted = [False]


def _on_interrupt(signum, frame):
    _interrupted[0] = True
    raise KeyboardInterrupt


def main(argv=None) -> int:
    """Run the command line.

    Args:
        argv (list[str] | None): the arguments (default ``sys.argv[1:]``).

    Returns:
        int: exit status: 0 done, 2 bad input or options (one line on stderr), 130 interrupted.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    _interrupted[0] = False
    args = None
    previous = None
    with contextlib.suppress(ValueError):  # only the main thread may set a handler
        previous = signal.signal(signal.SIGINT, _on_interrupt)
    try:
        if argv and argv[0] in PASSTHROUGH:
            return _passthrough(argv[0], argv[1:])
        args = build_parser().parse_args(argv)
        if args.command is None:
            return _fail("choose a command: denoise, inpaint, separate, paper or bench (see 'daptools --help')")
        with warnings.catch_warnings():
            # fit() reads the loss for its (disabled) bar with float() on a tensor that needs grad
            warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad=True")
            return args.func(args)
    except DapError as exc:
        return _fail(str(exc))
    except getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError):
        return _fail("out of memory while fitting; lower --batch (e.g. --batch 1) or --segment, or use --device cpu")
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt:
        work = getattr(args, "work", None)
        kept = "" if work is None else (f"; {work.count()} finished segment(s) kept in {work.path}: run the same "
                                        "command with --resume to continue")
        print(f"daptools: interrupted; no output was written{kept}", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
