"""Prior-free separation baselines: median-filtering harmonic/percussive separation (HPSS) and NMF
with its components clustered blindly (notebook 09).

Not a method of the package's priors: what the "hp" method's harmonic/percussive model gives
without any network, for comparison (docs/separation.md).
"""
from __future__ import annotations

import numpy as np
import torch

from .._checks import DapError, as_waveform, need_extra
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


def nmf(mixture, components: int = 8, hop: int = HOP, seed: int = 0) -> torch.Tensor:
    """Non-negative matrix factorisation of the mixture's magnitude, its components clustered blindly
    into two sources: a prior-free BASELINE (notebook 09).

    ``librosa.decompose.decompose`` (scikit-learn's NMF) factors the magnitude into ``components``
    spectral templates and their activations; each component is described by how flat its template
    is (spectral flatness: noise-like, drum-like) and how peaky its activation is (max over mean:
    transient); k-means (2 clusters, seeded) on those two features splits them into two groups, and
    soft masks (each group's part of the model) share out the complex mixture. Which group is which
    source is decided by the scoring (BSS Eval's permutation), as for every separation here.

    Args:
        mixture (Tensor): waveform (samples,).
        components (int): NMF components (at least 2).
        hop (int): spectrogram hop.
        seed (int): seeds the NMF initialisation and the clustering.

    Returns:
        Tensor: (2, samples).
    """
    from scipy.cluster.vq import kmeans2

    librosa = need_extra("librosa", "the NMF separation baseline", "baselines")
    if components < 2:
        raise DapError(f"nmf: components must be at least 2, got {components}")
    wav = as_waveform(mixture)
    spec = to_spectrogram(wav, hop=hop)
    mag = magnitude(spec, eps=1e-10)[0].double().numpy()
    w, h = librosa.decompose.decompose(mag, n_components=components, init="nndsvda", random_state=seed,
                                       max_iter=500)
    flatness = np.exp(np.mean(np.log(w + 1e-12), axis=0)) / (w.mean(axis=0) + 1e-12)
    peakiness = h.max(axis=1) / (h.mean(axis=1) + 1e-12)
    feats = np.stack([flatness, np.log(peakiness)], axis=1)
    feats = (feats - feats.mean(0)) / (feats.std(0) + 1e-12)
    _, label = kmeans2(feats, 2, seed=seed, minit="++")
    if label.min() == label.max():  # one cluster took everything: split by flatness instead
        label = (flatness > np.median(flatness)).astype(int)
    parts = [w[:, label == k] @ h[label == k] for k in (0, 1)]
    total = parts[0] + parts[1] + 1e-12
    return torch.stack([to_waveform(spec * torch.as_tensor(p / total, dtype=torch.float32), wav.numel(), hop=hop)
                        for p in parts])
