"""Reading recordings and writing results safely: this module's one concern is files.

* :func:`load_recording` reads any file libsndfile reads and checks that there is something to
  restore (a :class:`Recording`: the samples at their own rate, split by the crossover of
  :mod:`daptools.bands` into the 16 kHz band the priors work on and the band above, channel by
  channel, or mixed to mono on request); :func:`to_output` joins a restored 16 kHz band and a
  high band back into the input's rate, channels and exact frame count.
* :func:`check_outputs` refuses, before any work, outputs that would overwrite the input,
  exist (without ``force``), repeat or cannot be written.
* :func:`write_atomic` writes a result without clipping it silently (the overload rule:
  :func:`overload_rule`), through :func:`replace_atomic`, the one way daptools replaces a file:
  a temporary file in the same folder, flushed to disk, then renamed, so an interruption
  leaves the whole file or none (the work folder of :mod:`daptools.resume` uses it too).

Used by :mod:`daptools.restore` and the command line; outside the notebook series (no notebook
teaches file restoration).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from ._checks import DapError
from .audio import read_samples, write_samples
from .bands import join_bands, split_bands
from .corruptions import SILENCE
from .spectral import N_FFT, SAMPLE_RATE

FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")  # subtypes that hold samples beyond +-1
OVERLOAD = ("float", "scale", "clip")
SCALED_PEAK = 0.99  # --overload scale: the result's new peak, just below full scale (-0.09 dBFS)


# ---------------------------------------------------------------------------- reading


@dataclass
class Recording:
    """An input file: its samples at their own rate, and the bands the restoration works on.

    ``wav`` and ``high`` have one row per channel restored: the file's channels, or one (their
    average) when it was loaded with ``mono``; ``join_bands(wav, high)`` gives those rows back.
    """
    path: Path
    data: np.ndarray        # (frames, channels), float32, at ``rate``: the file as read
    rate: int
    format: str
    subtype: str
    wav: torch.Tensor       # (channels, samples), 16 kHz: the band the prior restores
    high: torch.Tensor      # (channels, frames) at ``rate``: the band above it (zero at 16 kHz)

    @property
    def duration(self) -> float:
        return self.data.shape[0] / self.rate

    @property
    def channels(self) -> int:
        """The channels restored (1 when mixed to mono)."""
        return self.wav.shape[0]

    @property
    def full(self) -> torch.Tensor:
        """The restored channels at ``rate``, (channels, frames): the file's, or their average."""
        data = torch.from_numpy(np.ascontiguousarray(self.data.T))
        return data.mean(0, keepdim=True) if self.channels < data.shape[0] else data

    def describe(self) -> str:
        ch = self.data.shape[1]
        return f"{self.path}: {self.duration:.2f} s, {self.rate} Hz, {ch} channel{'s' * (ch > 1)}"


def load_recording(path, mono: bool = False) -> Recording:
    """Read a recording and check that there is something to restore.

    Args:
        path (str | Path): the input file.
        mono (bool): average the channels into one (faster; the output is then mono).

    Returns:
        Recording

    Raises:
        DapError: missing, empty, unreadable or non-audio file; NaN or infinite samples;
            shorter than one spectrogram frame; digital silence.
    """
    path = Path(path)
    if path.is_file() and not os.access(path, os.R_OK):
        raise DapError(f"{path}: permission denied; make the file readable (chmod u+r) or copy it")
    data, rate = read_samples(path)
    finite = np.isfinite(data).all(axis=1)
    if not finite.all():
        first = int(np.argmin(finite)) / rate
        raise DapError(f"{path} contains NaN or infinite samples (first at {first:.3f} s); "
                       "repair or re-export the file")
    frame_s = N_FFT / SAMPLE_RATE
    if data.shape[0] / rate < frame_s:
        raise DapError(f"{path} is {1000 * data.shape[0] / rate:.1f} ms long, shorter than one spectrogram "
                       f"frame ({1000 * frame_s:.0f} ms); give a longer recording")
    peak = float(np.abs(data).max())
    if peak == 0:
        raise DapError(f"{path} is digital silence (all samples zero): nothing to restore")
    if peak < SILENCE:
        raise DapError(f"{path} is silent: its peak is {20 * np.log10(peak):.0f} dBFS, below "
                       f"{20 * np.log10(SILENCE):.0f} dBFS; raise its level (normalise it) and try again")
    info = sf.info(str(path))
    rows = data.mean(axis=1, keepdims=True) if mono else data
    low, high = split_bands(torch.from_numpy(np.ascontiguousarray(rows.T)), rate)
    return Recording(path, data, rate, info.format, info.subtype, low, high)


def to_output(wav16: torch.Tensor, rec: Recording, high: torch.Tensor | None = None) -> np.ndarray:
    """A restored 16 kHz band joined with a high band at the input's rate (:func:`daptools.bands.join_bands`).

    Args:
        wav16 (Tensor): (channels, samples) at 16 kHz, one row per channel of ``rec.wav``.
        rec (Recording): the input.
        high (Tensor | None): (channels, frames) the high band to add (None: the input's own,
            ``rec.high``, as it is).

    Returns:
        ndarray: (frames, channels) float32 at ``rec.rate``, ready for :func:`write_atomic`.
    """
    return join_bands(wav16.float(), rec.high if high is None else high, rec.rate).T.numpy()


# ---------------------------------------------------------------------------- checking the outputs


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


# ---------------------------------------------------------------------------- writing


def write_atomic(path: Path, wav: np.ndarray, rate: int, like: Recording, overload: str | None = None,
                 peak: float | None = None) -> str | None:
    """Write a waveform through a temporary file in the same folder, then rename it.

    Keeps the input's subtype (e.g. PCM_16) when the output has the input's format. Integer and
    lossy subtypes cannot hold samples beyond +-1 (libsndfile would wrap them around); when the
    result exceeds full scale, ``overload`` decides, and nothing is changed silently:
    "float" writes 32-bit float samples instead (WAV and other formats that hold them: the
    default there), "scale" multiplies the whole result by one gain so its peak is
    ``SCALED_PEAK`` (the default elsewhere: FLAC, OGG, ...), "clip" clips to +-1.

    Args:
        path (Path), wav (ndarray), rate (int): the output, its samples ((frames,) or
            (frames, channels)) and sample rate.
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
    replace_atomic(path, lambda tmp: write_samples(tmp, wav, rate, subtype=subtype, format=_format_of(path)))
    return warning


def replace_atomic(path, write) -> None:
    """Create or replace a file whole or not at all.

    ``write(temporary_name)`` writes a temporary file in ``path``'s folder; its bytes are flushed
    to disk (the rename must never expose a file whose bytes are not there), it gets a normal
    file's mode (mkstemp makes it private) and is renamed to ``path``. On any error or interrupt
    the temporary file is removed and ``path`` is left as it was.

    Args:
        path (str | Path): the file to create or replace.
        write (callable): ``write(name: str)`` writes the content to that file name.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        os.close(fd)
        write(tmp)
        fd = os.open(tmp, os.O_RDWR)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
