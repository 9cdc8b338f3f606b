"""Evaluation metrics used in the paper's tables (notebooks 07-09).

All functions take (reference, estimate) waveforms as tensors or arrays of the
same length and return floats (higher is better, except envelope_distance).

Which "PSNR"? The paper's denoising tables report a "PSNR" of 7-12 dB. The
authors' script computes a *waveform SNR*, 10*log10(sum x^2 / sum (x - x_hat)^2),
and for a peak-normalised spoken digit with Gaussian noise of std 0.1 the noisy
input scores about 1 dB on it, which matches the tables' scale. A peak-based
PSNR, 10*log10(peak^2 / mean (x - x_hat)^2), scores the same input around
20 dB. We report both: :func:`snr` is the number comparable to the paper's
"PSNR" column, :func:`psnr` is the textbook definition.
"""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import torch

from ._checks import DapError

_EPS = 1e-12


def _pair(reference, estimate, name="reference and estimate"):
    ref = _np(reference)
    est = _np(estimate)
    if ref.shape != est.shape:
        raise DapError(f"{name} must have the same shape, got {ref.shape} and {est.shape}")
    if ref.size == 0:
        raise DapError(f"{name} are empty")
    if not (np.isfinite(ref).all() and np.isfinite(est).all()):
        raise DapError(f"{name} contain NaN or infinite values")
    return ref, est


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().float().numpy()
    return np.asarray(x, dtype=np.float64)


def snr(reference, estimate) -> float:
    """Waveform SNR in dB: 10*log10(sum x^2 / sum (x - x_hat)^2).

    This is the number comparable to the paper's "PSNR" column (see module doc).
    """
    ref, est = _pair(reference, estimate)
    return float(10 * np.log10((np.sum(ref ** 2) + _EPS) / (np.sum((ref - est) ** 2) + _EPS)))


def psnr(reference, estimate, peak: float | None = None) -> float:
    """Peak SNR in dB: 10*log10(peak^2 / mean (x - x_hat)^2), peak = max|x| by default."""
    ref, est = _pair(reference, estimate)
    peak = float(np.max(np.abs(ref))) if peak is None else float(peak)
    return float(10 * np.log10((peak ** 2 + _EPS) / (np.mean((ref - est) ** 2) + _EPS)))


def si_sdr(reference, estimate) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019), zero-mean signals."""
    ref, est = _pair(reference, estimate)
    ref = ref - ref.mean()
    est = est - est.mean()
    target = (np.dot(est, ref) / (np.dot(ref, ref) + _EPS)) * ref
    return float(10 * np.log10((np.sum(target ** 2) + _EPS) / (np.sum((est - target) ** 2) + _EPS)))


def pesq(reference, estimate, sr: int = 16000, mode: str = "wb") -> float:
    """PESQ (ITU-T P.862.2 wide-band by default, via the ``pesq`` package).

    The paper does not say which PESQ it used; we use wide-band at 16 kHz.
    Returns NaN when the reference has no detectable speech (PESQ's own error).
    """
    from pesq import NoUtterancesError, pesq as _pesq

    ref, est = _pair(reference, estimate)
    if sr not in (8000, 16000):
        raise DapError(f"PESQ needs 8000 or 16000 Hz audio, got {sr}")
    try:
        return float(_pesq(sr, ref.astype(np.float32), est.astype(np.float32), mode))
    except NoUtterancesError:
        return float("nan")


def _stft_mag(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    t = torch.from_numpy(x).float()
    spec = torch.stft(t, n_fft, hop_length=hop, window=torch.hann_window(n_fft), return_complex=True)
    return spec.abs().double().numpy()


def spectral_snr(reference, estimate, n_fft: int = 256, hop: int = 128) -> float:
    """Spectral SNR in dB on magnitudes: 10*log10(sum |S|^2 / sum (|S| - |S_hat|)^2).

    Args:
        n_fft (int): FFT size (default 256), hop (int): hop (default 128), as in the
            authors' earlier work.
    """
    ref, est = _pair(reference, estimate)
    S, S_hat = _stft_mag(ref, n_fft, hop), _stft_mag(est, n_fft, hop)
    return float(10 * np.log10((np.sum(S ** 2) + _EPS) / (np.sum((S - S_hat) ** 2) + _EPS)))


def envelope_distance(reference, estimate) -> float:
    """RMS distance between the Hilbert envelopes |hilbert(x)| and |hilbert(x_hat)| (lower is better)."""
    from scipy.signal import hilbert

    ref, est = _pair(reference, estimate)
    return float(np.sqrt(np.mean((np.abs(hilbert(ref)) - np.abs(hilbert(est))) ** 2)))


def _sources(x, name):
    x = _np(x)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        raise DapError(f"{name} must have shape (sources, samples), got {x.shape}")
    return x


def sdr_sir(references, estimates, compute_permutation: bool = True) -> dict:
    """BSS Eval SDR, SIR and SAR per source (mir_eval.separation.bss_eval_sources).

    Args:
        references, estimates: (sources, samples).
        compute_permutation (bool): let BSS Eval match estimates to references.

    Returns:
        dict with arrays "sdr", "sir", "sar" (ordered as the references) and "perm"
        (estimate index for each reference). An all-zero estimate is scored after a -160 dB
        dither (BSS Eval rejects silent estimates), so a collapsed separation scores very low.
    """
    import mir_eval

    ref, est = _sources(references, "references"), _sources(estimates, "estimates")
    _pair(ref, est, "references and estimates")
    if np.any(np.all(ref == 0, axis=1)):
        raise DapError("a reference source is all zeros: BSS Eval needs non-silent references")
    silent = np.all(est == 0, axis=1)
    if silent.any():
        # BSS Eval is undefined for an all-zero estimate; a -160 dB dither makes it computable and
        # scores the failure as what it is (a very low SDR) instead of dropping the row
        est = est.copy()
        est[silent] = 1e-8 * np.random.default_rng(0).standard_normal((int(silent.sum()), est.shape[1]))
    with warnings.catch_warnings():  # deprecated in mir_eval 0.8 (still the reference BSS Eval v3)
        warnings.simplefilter("ignore", FutureWarning)
        sdr, sir, sar, perm = mir_eval.separation.bss_eval_sources(ref, est, compute_permutation)
    return {"sdr": sdr, "sir": sir, "sar": sar, "perm": perm}


def best_permutation(references, estimates, score=snr) -> tuple[int, ...]:
    """The order of the estimates that maximises the mean ``score`` against the references.

    Returns:
        tuple: ``perm`` such that estimates[perm[i]] goes with references[i].
    """
    ref, est = _sources(references, "references"), _sources(estimates, "estimates")
    if ref.shape[0] != est.shape[0]:
        raise DapError(f"{ref.shape[0]} references but {est.shape[0]} estimates")
    best = max(itertools.permutations(range(ref.shape[0])),
               key=lambda p: np.mean([score(ref[i], est[j]) for i, j in enumerate(p)]))
    return tuple(best)
