"""Reading and writing audio (notebook 01).

soundfile reads and writes (torchaudio.load needs FFmpeg/torchcodec, which a
plain install lacks); torchaudio resamples.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from ._checks import DapError, as_waveform
from .spectral import SAMPLE_RATE


def read_samples(path) -> tuple[np.ndarray, int]:
    """Read any file soundfile understands, all channels, at its own rate: the raw samples under
    :func:`load_audio` (the public loader) and :func:`daptools.fileio.load_recording` (the command
    line's), the counterpart of :func:`write_samples`.

    Returns:
        (ndarray (frames, channels) float32, int sample rate)
    """
    path = Path(path)
    if not path.exists():
        raise DapError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise DapError(f"{path} is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise DapError(f"{path} is empty (0 bytes): give a recorded audio file")
    with _decoder_messages() as said:
        try:
            data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
            error = exc
        else:
            error = None
    if error is not None:  # libsndfile says "File does not exist" also of a file it cannot decode
        detail = re.sub(r"^\[[^\]]*\]\s*", "", said[0].strip().splitlines()[-1]) if said[0].strip() else str(error)
        if "does not exist" in detail:  # the file does exist (checked above): libsndfile's words mislead
            detail = "no audio stream libsndfile can decode"
        raise DapError(f"{path} could not be decoded as audio ({detail}): the file is damaged or not in a format "
                       "libsndfile reads (WAV, FLAC, OGG, MP3); re-export or convert it") from error
    if data.shape[0] == 0:
        raise DapError(f"{path} holds no samples: give a recorded audio file")
    return data, int(rate)


@contextlib.contextmanager
def _decoder_messages():
    """What the C decoders (mpg123, ...) print on stderr while reading, held back instead of printed:
    yields a one-item list that holds the text afterwards."""
    said, fd = [""], 2  # the C library writes to file descriptor 2, whatever sys.stderr is in Python
    try:
        os.fstat(fd)
    except OSError:  # no stderr at all
        yield said
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), fd)
        try:
            yield said
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            held.seek(0)
            said[0] = held.read().decode(errors="replace")


def resample(wav: torch.Tensor, orig_sr: int, sr: int, **filter_options) -> torch.Tensor:
    """Resample the last axis from ``orig_sr`` to ``sr`` (torchaudio, windowed sinc).

    Args:
        wav (Tensor): (..., samples).
        orig_sr, sr (int): the rates from and to.
        **filter_options: torchaudio's filter settings (``lowpass_filter_width``, ``rolloff``,
            ``resampling_method``, ``beta``); default: torchaudio's (the crossover of
            :mod:`daptools.bands` passes a sharper one).

    Returns:
        Tensor: (..., samples at ``sr``); ``wav`` itself when the rates are equal.
    """
    if int(orig_sr) == int(sr):
        return wav
    return AF.resample(wav, int(orig_sr), int(sr), **filter_options)


def load_audio(path, sr: int = SAMPLE_RATE, duration: float | None = None,
               offset: float = 0.0) -> torch.Tensor:
    """Load an audio file as a mono float32 waveform.

    Args:
        path (str | Path): any format soundfile reads (WAV, FLAC, OGG, MP3, ...).
        sr (int): target sample rate (default 16000); resampled with torchaudio.
        duration (float | None): seconds to keep (None: to the end).
        offset (float): seconds to skip at the start.

    Returns:
        Tensor: shape (samples,), float32, channels averaged.
    """
    if offset < 0 or (duration is not None and duration <= 0):
        raise DapError(f"offset must be >= 0 and duration > 0, got offset={offset}, duration={duration}")
    data, rate = read_samples(path)
    start = int(round(offset * rate))
    stop = None if duration is None else start + int(round(duration * rate))
    data = data[start:stop]
    if data.shape[0] == 0:
        raise DapError(f"{path}: nothing left after offset={offset}s (the file is "
                       f"{len(data) / rate:.2f}s long); choose a smaller offset")
    wav = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))
    return as_waveform(resample(wav, rate, sr), name=str(path))


def save_audio(path, wav, sr: int = SAMPLE_RATE, subtype: str | None = None) -> Path:
    """Write a mono waveform with soundfile (format from the file name, WAV by default).

    Args:
        path (str | Path): destination; its folder must exist.
        wav (Tensor | ndarray): shape (samples,), or (samples, channels) for multichannel.
        sr (int): sample rate (default 16000).
        subtype (str | None): soundfile subtype, e.g. "PCM_16"; None: the format's default.

    Returns:
        Path: the path written.
    """
    path = Path(path)
    if isinstance(wav, torch.Tensor):
        wav = wav.detach().cpu().float().numpy()
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim == 1:
        as_waveform(torch.from_numpy(wav))
    if not path.parent.exists():
        raise DapError(f"{path.parent}: folder does not exist; create it first")
    if not os.access(path.parent, os.W_OK):
        raise DapError(f"{path.parent}: folder is not writable; choose another output folder")
    write_samples(path, wav, int(sr), subtype=subtype)
    return path


SFC_SET_ADD_PEAK_CHUNK = 0x1050  # libsndfile's command (sndfile.h); soundfile does not name it


def write_samples(path, wav: np.ndarray, rate: int, subtype: str | None = None, format: str | None = None) -> None:
    """``soundfile.write``, except that float WAV/AIFF files get no PEAK chunk.

    libsndfile stamps float files with a PEAK chunk that holds the time of writing, so the same
    samples written twice give different bytes; without it they give the same file (a resumed
    run of the command line then writes exactly the uninterrupted run's bytes). Where the command
    cannot be sent (another soundfile build), the file is written with the chunk.
    """
    wav = np.asarray(wav)
    with sf.SoundFile(str(path), "w", int(rate), 1 if wav.ndim == 1 else wav.shape[1], subtype=subtype,
                      format=format) as f:
        try:
            sf._snd.sf_command(f._file, SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, sf._snd.SF_FALSE)
        except AttributeError:  # a soundfile without these internals: the chunk stays (only the bytes differ)
            pass
        f.write(wav)


def peak_normalize(wav: torch.Tensor, peak: float = 1.0) -> torch.Tensor:
    """Scale so the largest absolute sample equals ``peak``; silence raises an error."""
    top = wav.abs().max()
    if top <= 0:
        raise DapError("the clip is digital silence (all samples zero): nothing to restore")
    return wav * (peak / top)
