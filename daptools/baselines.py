"""What a user would pick instead of a deep audio prior: classical and pretrained baselines.

One concern: the methods a table's prior rows are compared with, each a plain function of the
corrupted waveform (and for inpainting the gaps) that returns the estimate, and the registry
:data:`BASELINES` the experiment runner reads (``daptools paper table1 --priors ...,wiener``).
None needs the clean signal; none is fitted. Taught in notebooks 07 (Wiener and RNNoise beside the
priors), 08 (interpolation and LPC across the gaps) and 09 (HPSS and NMF beside ``hp``).

* denoising: :func:`wiener` (scipy's local Wiener filter), :func:`spectral_gating` (the
  ``noisereduce`` package, stationary and non-stationary), :func:`rnnoise` (the pretrained RNNoise
  speech denoiser through ``pyrnnoise``, which ships its weights);
* inpainting: :func:`linear_fill` (a straight line across each gap) and :func:`lpc_fill`
  (autoregressive extrapolation from both sides, Burg's coefficients from ``librosa.lpc``,
  cross-faded);
* separation: :func:`daptools.separation.baselines.hpss` and :func:`~daptools.separation.baselines.nmf`.

``noisereduce``, ``pyrnnoise`` and ``librosa`` come with the optional extra
``pip install "daptools[baselines]"``; they are imported only where used, and a missing one is a
one-line error naming the extra. ``import daptools`` never needs them.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ._checks import DapError, as_waveform, need_extra
from .corruptions import GapMask
from .spectral import SAMPLE_RATE

# RNNoise's output lags its input by two 480-sample frames at 48 kHz (20 ms): measured by
# cross-correlating its output with a clean input (tests/test_baselines.py checks the alignment)
RNNOISE_DELAY_48K = 960


def _need(module: str, what: str):
    return need_extra(module, what, "baselines")


def _numpy(x) -> np.ndarray:
    return as_waveform(x).double().numpy()


def _tensor(y: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(y), dtype=torch.float32)


# -- denoising ---------------------------------------------------------------------------------------------

def wiener(noisy, window: int = 5) -> torch.Tensor:
    """scipy's local Wiener filter (``scipy.signal.wiener``): each sample shrunk towards its
    neighbourhood's mean by the ratio of local to estimated noise variance.

    Args:
        noisy (Tensor): waveform (samples,).
        window (int): the neighbourhood in samples (odd; 5 by default).

    Returns:
        Tensor: (samples,).
    """
    from scipy.signal import wiener as scipy_wiener
    if window < 1 or window % 2 == 0:
        raise DapError(f"wiener: window must be an odd number of samples, got {window}")
    return _tensor(scipy_wiener(_numpy(noisy), mysize=window))


def spectral_gating(noisy, stationary: bool = True, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Spectral gating (``noisereduce.reduce_noise``): a per-frequency threshold estimated from
    the recording itself (over all of it when ``stationary``, else from a sliding window).

    Returns:
        Tensor: (samples,).
    """
    nr = _need("noisereduce", "spectral gating")
    x = _numpy(noisy)
    return _tensor(nr.reduce_noise(y=x, sr=sample_rate, stationary=stationary)[: x.size])


def rnnoise(noisy, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """The pretrained RNNoise speech denoiser (Valin 2018) through ``pyrnnoise``: the waveform is
    resampled to 48 kHz, fed in 480-sample frames at 16-bit scale (as float, so nothing clips),
    resampled back and aligned by RNNoise's delay (:data:`RNNOISE_DELAY_48K`).

    Returns:
        Tensor: (samples,).
    """
    from math import gcd

    from scipy.signal import resample_poly
    _need("pyrnnoise", "the RNNoise baseline")
    from pyrnnoise import rnnoise as lib
    x = _numpy(noisy)
    g = gcd(48000, sample_rate)
    up, down = 48000 // g, sample_rate // g
    frame = lib.FRAME_SIZE
    x48 = resample_poly(x, up, down) * 32767.0
    n_frames = -(-(x48.size + RNNOISE_DELAY_48K) // frame)
    buf = np.zeros(n_frames * frame, dtype=np.float32)
    buf[: x48.size] = x48
    out = np.empty_like(buf)
    state = lib.create()
    try:
        for i in range(0, buf.size, frame):
            src = np.ascontiguousarray(buf[i:i + frame])
            dst = np.empty_like(src)
            lib.lib.rnnoise_process_frame(state, dst.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                          src.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
            out[i:i + frame] = dst
    finally:
        lib.destroy(state)
    y48 = out[RNNOISE_DELAY_48K: RNNOISE_DELAY_48K + x48.size] / 32767.0
    return _tensor(resample_poly(y48.astype(np.float64), down, up)[: x.size])


# -- inpainting ---------------------------------------------------------------------------------------------

def _gap_spans(gaps, n: int, sample_rate: int = SAMPLE_RATE) -> list[tuple[int, int]]:
    """The gaps as sample spans [a, b) within 0..n.

    Only the gap itself is filled. The paper's gaps remove whole STFT frames, so after the inverse
    STFT the samples within half a window of a gap are faded too, but they still hold part of the
    signal: on 8 tutorial clips (Table 3's protocol) filling the whole faded span lowered the
    spectral SNR by a further 2-3 dB for both baselines against filling the gap alone.

    Args:
        gaps: a :class:`daptools.GapMask`, or (start, end) pairs in seconds.
        n (int): samples in the clip.
    """
    mask = gaps if isinstance(gaps, GapMask) else GapMask(list(gaps), n, sample_rate)
    if not mask.gaps:
        raise DapError("inpainting baselines need at least one gap, as (start, end) seconds or a GapMask")
    return [(int(round(a * sample_rate)), int(round(b * sample_rate))) for a, b in mask.gaps]


def linear_fill(observed, gaps) -> torch.Tensor:
    """A straight line across each gap, from the last sample before it to the first after it.

    Args:
        observed (Tensor): waveform (samples,) with the gaps (their content is ignored).
        gaps: a :class:`daptools.GapMask` or (start, end) pairs in seconds.

    Returns:
        Tensor: (samples,).
    """
    x = _numpy(observed).copy()
    for a, b in _gap_spans(gaps, x.size):
        left = x[a - 1] if a > 0 else 0.0
        right = x[b] if b < x.size else 0.0
        x[a:b] = np.linspace(left, right, b - a + 2)[1:-1]
    return _tensor(x)


def lpc_fill(observed, gaps, order: int = 32, context: int = 2048) -> torch.Tensor:
    """Autoregressive extrapolation into each gap from both sides, cross-faded (linear weights).

    The coefficients (Burg's method, ``librosa.lpc``) are fitted on up to ``context`` samples on
    each side of the gap; the forward prediction runs from the left context, the backward one
    (the reversed signal) from the right, and the two are blended across the gap.

    Args:
        observed (Tensor): waveform (samples,).
        gaps: a :class:`daptools.GapMask` or (start, end) pairs in seconds.
        order (int): the predictor's order.
        context (int): samples on each side used to fit and start it.

    Returns:
        Tensor: (samples,).
    """
    librosa = _need("librosa", "the LPC inpainting baseline")
    from scipy.signal import lfilter
    x = _numpy(observed).copy()
    spans = _gap_spans(gaps, x.size)
    for a, b in spans:
        n = b - a
        left = x[max(0, a - context):a]
        right = x[b:b + context][::-1]
        preds = []
        for side in (left, right):
            if side.size <= 2 * order or not np.any(side):
                preds.append(np.zeros(n))
                continue
            coeffs = librosa.lpc(np.ascontiguousarray(side), order=order)
            preds.append(_extrapolate(side, coeffs, n, lfilter))
        w = np.linspace(1.0, 0.0, n + 2)[1:-1]
        x[a:b] = w * preds[0] + (1 - w) * preds[1][::-1]
    return _tensor(x)


def _extrapolate(history: np.ndarray, coeffs: np.ndarray, n: int, lfilter) -> np.ndarray:
    """Run the all-pole predictor ``coeffs`` (a[0] = 1) n samples past ``history``."""
    p = coeffs.size - 1
    # the filter's state after the history, then its free response (zero input) continues the signal
    residual = lfilter(coeffs, [1.0], history)
    _, state = lfilter([1.0], coeffs, residual, zi=np.zeros(p))
    y, _ = lfilter([1.0], coeffs, np.zeros(n), zi=state)
    return y


# -- the registry ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Baseline:
    """A method the runner can fit in place of a prior.

    Attributes:
        task (str): "denoise" (also the environmental-noise table), "inpaint" or "separate".
        run (Callable): (observation, problem dict) -> estimate; the problem gives the gaps.
        description (str): the label of its rows.
    """
    task: str
    run: Callable
    description: str


def _separation(name):
    def run(obs, problem):
        from .separation import baselines as sb
        return getattr(sb, name)(obs)
    return run


BASELINES = {
    "wiener": Baseline("denoise", lambda x, p: wiener(x), "Wiener filter (scipy, 5 samples)"),
    "gating": Baseline("denoise", lambda x, p: spectral_gating(x, stationary=True),
                       "spectral gating (noisereduce, stationary)"),
    "gating_ns": Baseline("denoise", lambda x, p: spectral_gating(x, stationary=False),
                          "spectral gating (noisereduce, non-stationary)"),
    "rnnoise": Baseline("denoise", lambda x, p: rnnoise(x), "RNNoise (pretrained on speech, pyrnnoise)"),
    "linear": Baseline("inpaint", lambda x, p: linear_fill(x, p["gaps"]), "linear interpolation across the gap"),
    "lpc": Baseline("inpaint", lambda x, p: lpc_fill(x, p["gaps"]), "LPC extrapolation from both sides (order 32)"),
    "hpss": Baseline("separate", _separation("hpss"), "HPSS (median filtering, no network)"),
    "nmf": Baseline("separate", _separation("nmf"), "NMF, 2 clusters of 8 components (no network)"),
}


def baseline_names(task: str | None = None) -> list[str]:
    """The baselines of one task ("denoise_env" counts as "denoise"), or all of them."""
    task = "denoise" if task == "denoise_env" else task
    return [k for k, b in BASELINES.items() if task is None or b.task == task]


def run_baseline(name: str, observation, problem: dict | None = None) -> torch.Tensor:
    """Apply the baseline ``name`` to an observation (its problem dict gives inpainting's gaps)."""
    if name not in BASELINES:
        raise DapError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
    return BASELINES[name].run(observation, problem or {})
