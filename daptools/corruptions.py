"""Seeded corruptions for the paper's experiments (notebooks 07-09).

Every function takes a ``seed`` so an experiment is reproducible clip by clip. The gaps of a
real recording (read from text or found as runs of digital silence, and the splice of the
filled gaps back into it: :func:`parse_gaps`, :func:`detect_gaps`, :func:`splice_gaps`) are
here too, beside :class:`GapMask`; they serve file restoration (:mod:`daptools.restore`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch

from ._checks import DapError, as_waveform
from .spectral import HOP, HOPS, SAMPLE_RATE, n_frames

SILENCE = 1e-8          # |sample| below this counts as digital silence
SPLICE_SECONDS = 0.01   # the cross-fade between the original and a filled gap (splice_gaps)


def _rng(seed) -> np.random.Generator:
    return np.random.default_rng(seed)


def add_gaussian_noise(wav, std: float = 0.1, seed: int = 0) -> torch.Tensor:
    """x + N(0, std^2) noise (the paper: std 0.1 on peak-normalised clips)."""
    wav = as_waveform(wav)
    if std < 0:
        raise DapError(f"noise std must be >= 0, got {std}")
    g = torch.Generator().manual_seed(int(seed))
    return wav + std * torch.randn(wav.shape, generator=g)


def estimate_noise_std(wav) -> float:
    """Blind estimate of the standard deviation of white noise in a recording.

    The median absolute second difference, scaled for Gaussian noise (a second difference of
    white noise has variance 6 std^2; median |x| = 0.6745 std for a Gaussian): most samples of
    audio change smoothly from one to the next, so the median is set by the noise. Measured
    on the tutorial clips with noise of std 0.1 (studies/stopping, docs/stopping.md):
    within 1-4 % for digits and piano, up to 8 % high for speech at std 0.05.

    Args:
        wav (Tensor): waveform (samples,), at least 3 samples.

    Returns:
        float
    """
    x = as_waveform(wav).double()
    if x.numel() < 3:
        raise DapError("the waveform is too short to estimate its noise: give at least 3 samples")
    d2 = x[2:] - 2 * x[1:-1] + x[:-2]
    return float(d2.abs().median() / 0.6745 / np.sqrt(6))



def add_noise_at_snr(wav, noise, snr_db: float | None = None, snr_range=(5.0, 9.0), seed: int = 0):
    """Mix a recorded noise into ``wav`` at a given SNR (the paper: uniform in 5-9 dB).

    Args:
        wav (Tensor): clean clip (samples,).
        noise (Tensor): noise recording; a random excerpt of the clip's length is used
            (it is looped if shorter).
        snr_db (float | None): the SNR; None draws it uniformly from ``snr_range``.
        seed (int): seeds the SNR draw and the excerpt position.

    Returns:
        (Tensor noisy, float snr_db)
    """
    wav, noise = as_waveform(wav), as_waveform(noise, "noise")
    rng = _rng(seed)
    if snr_db is None:
        lo, hi = snr_range
        if lo > hi:
            raise DapError(f"snr_range must be (low, high), got {snr_range}")
        snr_db = float(rng.uniform(lo, hi))
    n = wav.numel()
    if noise.numel() < n:
        noise = noise.repeat(n // noise.numel() + 1)
    start = int(rng.integers(0, noise.numel() - n + 1))
    excerpt = noise[start:start + n]
    p_sig, p_noise = wav.pow(2).mean(), excerpt.pow(2).mean()
    if p_noise <= 0:
        raise DapError("the noise excerpt is silent; choose another noise recording")
    gain = torch.sqrt(p_sig / (p_noise * 10 ** (snr_db / 10)))
    return wav + gain * excerpt, float(snr_db)


@dataclass
class GapMask:
    """Known missing intervals of a clip (inpainting).

    Attributes:
        gaps (list[tuple[float, float]]): (start, end) in seconds, sorted, not overlapping.
        length (int): clip length in samples.
        sr (int): sample rate.
    """
    gaps: list
    length: int
    sr: int = SAMPLE_RATE

    def __post_init__(self):
        dur = self.length / self.sr
        prev = 0.0
        for a, b in sorted(self.gaps):
            if not (0 <= a < b <= dur):
                raise DapError(f"gap {a:.3f}-{b:.3f}s lies outside the clip (0-{dur:.3f}s) or is empty")
            if a < prev:
                raise DapError(f"gaps overlap near {a:.3f}s; merge them")
            prev = b
        self.gaps = sorted((float(a), float(b)) for a, b in self.gaps)

    def waveform(self) -> torch.Tensor:
        """(samples,) float mask: 1 where observed, 0 inside a gap."""
        m = torch.ones(self.length)
        for a, b in self.gaps:
            m[int(round(a * self.sr)):int(round(b * self.sr))] = 0
        return m

    def spectrogram(self, hop: int = HOP) -> torch.Tensor:
        """(1, 1, 1, frames) mask over STFT frames: a frame is missing when its centre is in a gap,
        so every frequency of that frame is zeroed (the paper's spectro-temporal mask)."""
        centres = torch.arange(n_frames(self.length, hop)) * hop
        m = torch.ones(centres.numel())
        for a, b in self.gaps:
            m[(centres >= a * self.sr) & (centres < b * self.sr)] = 0
        return m[None, None, None]

    @property
    def missing_seconds(self) -> float:
        return sum(b - a for a, b in self.gaps)


def random_gaps(length: int, n_gaps: int = 2, min_len: float = 0.1, max_len: float = 0.25,
                sr: int = SAMPLE_RATE, seed: int = 0, margin: float = 0.05) -> GapMask:
    """Draw ``n_gaps`` non-overlapping gaps of uniform random length in [min_len, max_len] s.

    Gaps stay ``margin`` seconds away from the clip edges and from each other.
    """
    dur = length / sr
    if not 0 < min_len <= max_len:
        raise DapError(f"gap lengths must satisfy 0 < min_len <= max_len, got {min_len}, {max_len}")
    if n_gaps * (max_len + margin) + margin > dur:
        raise DapError(f"{n_gaps} gaps of up to {max_len}s do not fit in a {dur:.2f}s clip; use fewer gaps")
    rng = _rng(seed)
    lens = rng.uniform(min_len, max_len, n_gaps)
    free = dur - lens.sum() - margin * (n_gaps + 1)
    # split the free time into n_gaps + 1 random spaces (sorted uniform cut points)
    cuts = np.sort(rng.uniform(0, free, n_gaps))
    spaces = np.diff(np.concatenate([[0], cuts]))
    gaps, t = [], margin
    for space, ln in zip(spaces, lens):
        t += space
        gaps.append((t, t + ln))
        t += ln + margin
    return GapMask(gaps, length, sr)



def holdout_frames(observed: torch.Tensor, seconds: float = 0.05, share: float = 0.1, hop: int = HOP,
                   guard: int = 8, sr: int = SAMPLE_RATE, seed: int = 0) -> torch.Tensor:
    """Frames an inpainting hides from its own loss to validate where to stop (self-validation).

    Blocks of ``seconds`` of observed frames are hidden, about ``share`` of the observed frames in
    all, each at least ``guard`` frames away from a missing frame and from the clip's edges, so
    that the blocks are gaps the fit has to fill as it fills the real ones, while the real gaps
    keep the frames next to them. Where there is no room, fewer blocks (or none) are hidden.

    Args:
        observed (Tensor): (..., frames) frame mask, 1 = observed (e.g. ``GapMask.spectrogram()``).
        seconds (float): length of one hidden block.
        share (float): about this share of the observed frames is hidden.
        hop (int): the spectrogram hop (frames are ``hop`` samples apart).
        guard (int): frames kept observed between a block and a missing frame or an edge.
        sr (int): sample rate.
        seed (int): seeds where the blocks go.

    Returns:
        Tensor: the shape of ``observed``, 1 on the hidden frames.
    """
    if seconds <= 0 or not 0 < share < 1:
        raise DapError(f"holdout: seconds must be positive and share in (0, 1), got {seconds}, {share}")
    obs = observed.reshape(-1, observed.shape[-1]) > 0.5
    held = torch.zeros(obs.shape)
    block = max(1, int(round(seconds * sr / hop)))
    rng = _rng(seed)
    for row, o in zip(held, obs):
        n_blocks = max(1, int(round(share * int(o.sum()) / block)))
        if o.numel() < block:
            continue
        # a block may start at t when frames t - guard .. t + block + guard - 1 are all observed (the edges,
        # padded with zeros, count as missing)
        ok = torch.nn.functional.pad(o.float(), (guard, guard)).unfold(0, block + 2 * guard, 1).all(1)
        starts = torch.nonzero(ok).flatten().tolist()
        for _ in range(n_blocks):
            free = [s for s in starts if not row[max(0, s - guard):s + block + guard].any()]
            if not free:
                break
            s = int(free[rng.integers(len(free))])
            row[s:s + block] = 1
    return held.reshape(observed.shape)

def apply_gaps(wav, mask: GapMask) -> torch.Tensor:
    """Zero the gaps of a waveform (what a recording with drop-outs looks like)."""
    wav = as_waveform(wav)
    if wav.numel() != mask.length:
        raise DapError(f"mask is for {mask.length} samples but the clip has {wav.numel()}")
    return wav * mask.waveform()


def mix(sources, gains=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum sources into a mixture.

    Args:
        sources: (n_sources, samples) or a list of equal-length clips.
        gains: per-source gains (default 1).

    Returns:
        (mixture (samples,), scaled sources (n_sources, samples)): the scaled sources are the
        references for evaluation and sum exactly to the mixture.
    """
    src = torch.stack([as_waveform(s, "source") for s in sources])
    if src.shape[0] < 2:
        raise DapError("a mixture needs at least two sources")
    g = torch.ones(src.shape[0]) if gains is None else torch.as_tensor(gains, dtype=torch.float32)
    src = src * g[:, None]
    return src.sum(0), src


# ---------------------------------------------------------------------------- the gaps of a recording

_TIME = r"(\d+(?:\.\d*)?|\.\d+)"
_GAP = re.compile(rf"^\s*{_TIME}\s*-\s*{_TIME}\s*$")


def finer_hop(hop_ms: float) -> tuple[int, float] | None:
    """The finest spectrogram hop the command line offers, as (samples, ms), if it is finer than
    ``hop_ms``, the shortest gap a run at that hop can mask; else None. For the too-short-gap errors."""
    finest_ms = 1000 * min(HOPS) / SAMPLE_RATE
    return (min(HOPS), finest_ms) if hop_ms > finest_ms else None


def parse_gaps(text, duration: float, hop: int = HOP) -> list[tuple[float, float]]:
    """Read gaps ("1.20-1.35,4.0-4.2", seconds; the command line's ``--gaps``) and check them
    against the recording.

    Args:
        text (str | list[tuple[float, float]]): the gaps as text, or as (start, end) pairs in seconds.
        duration (float): the recording's length in seconds.
        hop (int): the spectrogram hop in samples at 16 kHz (a gap must be at least one hop).

    Returns:
        list[tuple[float, float]]: sorted (start, end) pairs.

    Raises:
        DapError: unreadable, reversed, too short, past the end, or overlapping gaps.
    """
    hop_ms = 1000 * hop / SAMPLE_RATE
    gaps = []
    for item in text.split(",") if isinstance(text, str) else text:
        a, b, item = _read_gap(item)
        if b <= a:
            raise DapError(f"--gaps: {item} ends before it starts; write START-END with START < END")
        if b > duration:
            raise DapError(f"--gaps: {item} ends after the recording ({duration:.3f} s); "
                           "give times inside the file")
        if 1000 * (b - a) < hop_ms:
            raise DapError(f"--gaps: {item} is shorter than {hop_ms:.0f} ms, the spectrogram's time "
                           "step; give longer gaps" + (" or --hop {} ({:.0f} ms)".format(*finer)
                                                        if (finer := finer_hop(hop_ms)) else ""))
        gaps.append((a, b))
    gaps.sort()
    for (a0, b0), (a1, b1) in zip(gaps, gaps[1:]):
        if a1 < b0:
            raise DapError(f"--gaps: {a0:g}-{b0:g} and {a1:g}-{b1:g} overlap; merge them")
    return gaps


def _read_gap(item) -> tuple[float, float, str]:
    """One gap, "START-END" or a (start, end) pair: (start, end, how to name it in a message)."""
    if not isinstance(item, str):
        a, b = (float(t) for t in item)
        if a < 0:
            raise DapError(f"--gaps: {a:g}-{b:g} starts before the recording; give times of 0 s or more")
        return a, b, f"{a:g}-{b:g}"
    m = _GAP.match(item)
    if not m:
        raise DapError(f"--gaps: cannot read {item.strip()!r}; write START-END in seconds (START >= 0), "
                       "comma-separated, e.g. --gaps 1.20-1.35,4.0-4.2")
    return float(m.group(1)), float(m.group(2)), item.strip()


def detect_gaps(data: np.ndarray, rate: int, min_gap_ms: float) -> tuple[list, int]:
    """Find drop-outs: runs of digital silence (every channel |x| < 1e-8) of at least
    ``min_gap_ms`` inside the recording. Runs touching its start or end are lead-in /
    lead-out silence, not drop-outs, and are left alone.

    Args:
        data (ndarray): (frames, channels) samples.
        rate (int): their sample rate.
        min_gap_ms (float): the shortest run taken as a gap, in ms.

    Returns:
        (list of (start, end) in seconds, number of edge runs ignored)
    """
    silent = (np.abs(data) < SILENCE).all(axis=1).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], silent, [0]])))
    runs = edges.reshape(-1, 2)
    runs = runs[runs[:, 1] - runs[:, 0] >= min_gap_ms * rate / 1000]
    inner = [(int(a), int(b)) for a, b in runs if a > 0 and b < len(silent)]
    return [(a / rate, b / rate) for a, b in inner], len(runs) - len(inner)


def splice_gaps(original: np.ndarray, filled: np.ndarray, gaps, rate: int) -> np.ndarray:
    """The original samples outside the gaps, the filled ones inside, with short ramps
    (``SPLICE_SECONDS``) just outside each gap so the joins do not click.

    Args:
        original (ndarray): (frames,) or (frames, channels) the recording.
        filled (ndarray): the restoration, the same shape, at the same rate.
        gaps (list[tuple[float, float]]): (start, end) in seconds, the same in every channel.
        rate (int): the sample rate.

    Returns:
        ndarray: the shape of ``original``, float32.
    """
    n, ramp = original.shape[0], max(1, int(SPLICE_SECONDS * rate))
    w = np.zeros(n)
    for a, b in gaps:
        ia, ib = int(round(a * rate)), int(round(b * rate))
        w[ia:ib] = 1
        up = np.arange(1, ramp + 1) / (ramp + 1)
        lo = max(ia - ramp, 0)
        w[lo:ia] = np.maximum(w[lo:ia], up[ramp - (ia - lo):])
        hi = min(ib + ramp, n)
        w[ib:hi] = np.maximum(w[ib:hi], up[::-1][:hi - ib])
    w = w.reshape(-1, *[1] * (np.ndim(original) - 1))  # one weight per frame, for every channel
    return ((1 - w) * original + w * filled).astype(np.float32)
