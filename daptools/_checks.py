"""Input checks shared by the public functions: one clear line per problem."""
from __future__ import annotations

import torch


class DapError(ValueError):
    """A problem with what the user gave us; the message names it and what to do."""


def as_waveform(wav, name: str = "wav") -> torch.Tensor:
    """Return ``wav`` as a finite, non-empty 1-D float32 tensor or raise DapError."""
    if not isinstance(wav, torch.Tensor):
        try:
            wav = torch.as_tensor(wav)
        except Exception as exc:  # noqa: BLE001 - re-raised as a one-line error
            raise DapError(f"{name} must be an array or tensor of samples, got {type(wav).__name__}") from exc
    if wav.ndim == 2 and 1 in wav.shape:
        wav = wav.reshape(-1)
    if wav.ndim != 1:
        raise DapError(f"{name} must be mono with shape (samples,), got shape {tuple(wav.shape)}; "
                       "downmix first (e.g. wav.mean(0))")
    if wav.numel() == 0:
        raise DapError(f"{name} is empty: give at least one spectrogram frame of audio")
    if not wav.is_floating_point():
        wav = wav.float()
    if not torch.isfinite(wav).all():
        raise DapError(f"{name} contains NaN or infinite samples: clean or clip the input first")
    return wav.float()


def check_spectrogram(spec, name: str = "spec") -> torch.Tensor:
    """Check a (B, 2, F, T) real/imaginary spectrogram tensor."""
    if not isinstance(spec, torch.Tensor):
        raise DapError(f"{name} must be a torch.Tensor of shape (batch, 2, freq, frames)")
    if spec.ndim != 4 or spec.shape[1] != 2:
        raise DapError(f"{name} must have shape (batch, 2, freq, frames) with real and imaginary "
                       f"channels, got {tuple(spec.shape)}")
    if not torch.isfinite(spec).all():
        raise DapError(f"{name} contains NaN or infinite values")
    return spec


def check_options(given, valid, what: str) -> None:
    """One-line DapError naming the options of ``given`` that are not in ``valid`` (``what``: whose options)."""
    unknown = set(given) - set(valid)
    if unknown:
        raise DapError(f"unknown {what} option(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(valid))}")


def need_extra(module: str, what: str, extra: str):
    """Import an optional package, or raise a one-line error naming the extra that installs it.

    Args:
        module (str): the package to import (e.g. "noisereduce").
        what (str): what needs it, for the message ("spectral gating").
        extra (str): the extra, e.g. "baselines" (the message says pip install "daptools[baselines]").
    """
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise DapError(f'{what} needs the {module} package, which is not installed: '
                       f'pip install "daptools[{extra}]"') from None
