"""A prior-free separation baseline: median-filtering harmonic/percussive separation (notebook 09).

Not a method of the package's priors: what the "hp" method's harmonic/percussive model gives
without any network, for comparison (docs/separation.md).
"""
from __future__ import annotations

import torch

from .._checks import DapError, as_waveform
from ..spectral import HOP, magnitude, to_spectrogram, to_waveform


def hpss(mixture, kernel: int = 17, power: float = 2.0, hop: int = HOP) -> torch.Tensor:
    """Median-filtering harmonic/percussive separation (Fitzgerald 2010): a prior-free BASELINE.

    The mixture's magnitude is median-filtered along time (harmonic) and along frequency
    (percussive); soft masks H^p / (H^p + P^p) share out the complex mixture.

    Args:
        mixture (Tensor): waveform (samples,).
        kernel (int): median filter length in frames / bins (odd).
        power (float): mask exponent (2: Wiener-like soft masks).
        hop (int): spectrogram hop.

    Returns:
        Tensor: (2, samples): the harmonic estimate, then the percussive one.
    """
    from scipy.ndimage import median_filter
    wav = as_waveform(mixture)
    if kernel < 1 or kernel % 2 == 0:
        raise DapError(f"hpss: kernel must be an odd number of frames/bins, got {kernel}")
    spec = to_spectrogram(wav, hop=hop)
    mag = magnitude(spec, eps=1e-10)[0].numpy()
    h = median_filter(mag, size=(1, kernel), mode="reflect") ** power
    p = median_filter(mag, size=(kernel, 1), mode="reflect") ** power
    mh = torch.as_tensor(h / (h + p + 1e-12), dtype=torch.float32)
    return torch.stack([to_waveform(spec * mh, wav.numel(), hop=hop), to_waveform(spec * (1 - mh), wav.numel(), hop=hop)])
