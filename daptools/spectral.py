"""The spectral representation the priors work on (notebook 03).

A clip becomes a 2-channel image: the real and imaginary parts of its short-time
Fourier transform, FFT size 1022 (512 frequency bins), hop 64, periodic Hann
window, centred frames. The analysis and synthesis use the *same* window and FFT
size, so :func:`to_waveform` inverts :func:`to_spectrogram` to float precision
(the authors' code used a 1023-point analysis and a 1022-point synthesis, which
alone limits the round trip to about 20 dB SNR).
"""
from __future__ import annotations

from typing import Callable

import torch

from ._checks import DapError, as_waveform, check_spectrogram

SAMPLE_RATE = 16000
N_FFT = 1022
HOP = 64
N_FREQ = N_FFT // 2 + 1
HOPS = (64, 128, 256)  # the paper's, and the fast options (a half, a quarter of its frames)


def check_hop(hop) -> int:
    """``hop`` if it is one of :data:`HOPS`, else a DapError that names them.

    Hann windows of 1022 samples overlap by 75 % or more at these hops, so the inverse STFT
    stays exact; each doubling halves the frames and about halves the cost of a step.
    """
    if isinstance(hop, bool) or not isinstance(hop, int) or hop not in HOPS:
        raise DapError(f"hop must be one of {', '.join(map(str, HOPS))} samples (64: the paper's), got {hop!r}")
    return hop


def _window(n_fft: int, device) -> torch.Tensor:
    return torch.hann_window(n_fft, periodic=True, device=device)


def n_frames(length: int, hop: int = HOP) -> int:
    """Number of STFT frames for a clip of ``length`` samples (centred frames)."""
    return length // hop + 1


def to_spectrogram(wav, n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    """Waveform -> real/imaginary spectrogram.

    Args:
        wav (Tensor): mono waveform, shape (samples,) or (batch, samples).
        n_fft (int): FFT size (default 1022, giving 512 bins).
        hop (int): hop length in samples (default 64).

    Returns:
        Tensor: shape (batch, 2, n_fft//2+1, samples//hop+1); channel 0 is the
        real part, channel 1 the imaginary part. A 1-D input gives batch 1.
    """
    if isinstance(wav, torch.Tensor) and wav.ndim == 2 and 1 not in wav.shape:
        batch = torch.stack([as_waveform(w) for w in wav])
    else:
        batch = as_waveform(wav)[None]
    if batch.shape[-1] < 2:
        raise DapError("wav is too short for a spectrogram: give at least 2 samples")
    stft = torch.stft(batch, n_fft, hop_length=hop, window=_window(n_fft, batch.device),
                      center=True, pad_mode="constant", return_complex=True)
    return torch.stack([stft.real, stft.imag], dim=1)


def to_complex(spec: torch.Tensor) -> torch.Tensor:
    """(batch, 2, F, T) real/imaginary tensor -> complex (batch, F, T)."""
    return torch.complex(spec[:, 0].float(), spec[:, 1].float())


def magnitude(spec: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """Magnitude |S| of a (batch, 2, F, T) spectrogram, shape (batch, F, T).

    ``eps`` > 0 gives sqrt(|S|^2 + eps): a finite gradient at 0 (sqrt's derivative is infinite
    there), for magnitudes inside a loss (the separation losses use 1e-8 or 1e-10).
    """
    power = spec[:, 0].float() ** 2 + spec[:, 1].float() ** 2
    return torch.sqrt(power + eps if eps else power)


def to_waveform(spec, length: int, n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    """Invert :func:`to_spectrogram`.

    Args:
        spec (Tensor): (batch, 2, F, T) real/imaginary spectrogram.
        length (int): number of samples of the original clip.
        n_fft (int), hop (int): must match the analysis (defaults 1022, 64).

    Returns:
        Tensor: (samples,) for batch 1, else (batch, samples).
    """
    spec = check_spectrogram(spec)
    if int(length) <= 0:
        raise DapError(f"length must be a positive number of samples, got {length}")
    if spec.shape[2] != n_fft // 2 + 1:
        raise DapError(f"spec has {spec.shape[2]} frequency bins but n_fft={n_fft} needs {n_fft // 2 + 1}")
    wav = torch.istft(to_complex(spec), n_fft, hop_length=hop, window=_window(n_fft, spec.device), center=True,
                      length=int(length))
    return wav[0] if wav.shape[0] == 1 else wav


def decoder(length: int, hop: int = HOP) -> Callable:
    """The waveform decoder a fit uses: prior output (batch, 2, F, T) -> waveforms (batch, samples)."""
    return lambda out: to_waveform(out, length, hop=hop).reshape(out.shape[0], -1)


def white_noise_power(length: int, std: float = 1.0, n_fft: int = N_FFT, hop: int = HOP) -> float:
    """Expected square of one value of :func:`to_spectrogram` (a real or an imaginary part) for
    white noise of standard deviation ``std``: the mean-squared error left by a fit that has
    reproduced everything but the noise (what the blind stopping rule compares the loss with).

    Per frame, E|X(f)|^2 = std^2 * sum of the squared window over the frame's samples inside
    the clip (edge frames are zero-padded); half of it in each of the two channels.

    Args:
        length (int): samples in the clip.
        std (float): noise standard deviation.
        n_fft (int), hop (int): the analysis (defaults 1022, 64).

    Returns:
        float
    """
    w2 = _window(n_fft, "cpu").double().pow(2)
    starts = torch.arange(n_frames(length, hop)) * hop - n_fft // 2
    idx = starts[:, None] + torch.arange(n_fft)[None]
    inside = ((idx >= 0) & (idx < length)).double()
    return float(std ** 2 * (inside * w2).sum(1).mean() / 2)
