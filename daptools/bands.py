"""The crossover at 8 kHz: a recording at its own rate split into the prior's band and the band above.

Outside the notebook series (used by :mod:`daptools.restore`; docs/whole_recording.md measures it).

The priors work at 16 kHz, so they see 0-8 kHz. A recording at 44.1 or 48 kHz holds more, and
throwing it away is not a restoration. :func:`split_bands` cuts a recording into

* the **low band**: the recording resampled to 16 kHz (what the prior restores), and
* the **high band**: the recording less its own low band brought back to its rate,

with one linear-phase low-pass (a Kaiser-windowed sinc, ``CROSSOVER``: flat to 7.4 kHz, -6 dB
at 7.7 kHz, below -55 dB from 8.1 kHz) used both ways. Both paths have the same (zero) delay and
their responses sum to one at every frequency, so :func:`join_bands` of an untouched low band and
the high band gives back the recording itself (to float rounding): whatever the restoration does
to the low band, the join adds no phase or level step at the crossover.

What the high band gets depends on the task: denoising shrinks it with :func:`wiener_high_band`
(a Wiener gain from a blind estimate of white noise above 8.5 kHz, :func:`high_band_noise_std`;
chosen by measurement over passing it through, dropping it and other gains:
docs/whole_recording.md), inpainting
keeps it as it is, separation shares it out with :func:`share_high_band`.
"""
from __future__ import annotations

import math

import torch

from ._checks import DapError
from .audio import resample
from .spectral import SAMPLE_RATE

# torchaudio's default resampling filter (6 zero crossings, rolloff 0.99) lets 8-8.5 kHz alias into
# the low band at -10 dB, which the high band would then have to cancel; this one is measured above
CROSSOVER = dict(lowpass_filter_width=64, rolloff=0.97, resampling_method="sinc_interp_kaiser", beta=12.0)
WIENER_SECONDS = 0.046  # the high band's STFT window (2048 samples at 44.1 kHz)
GAINS = ("frequency", "bin")
NOISE_FROM = 8500.0  # the noise estimate looks at the bins above this frequency only
SHARE_BAND = (4000.0, 8000.0)  # separation: the band whose energy shares out the high band


def split_bands(data: torch.Tensor, rate: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a recording into its 16 kHz low band and the high band at its own rate.

    Args:
        data (Tensor): (..., frames) samples at ``rate`` (e.g. (channels, frames)).
        rate (int): their sample rate.

    Returns:
        (Tensor low, Tensor high): low (..., samples at 16 kHz), high (..., frames); at 16 kHz
        the high band is zero, below it only the resampling's rounding.
    """
    data = torch.as_tensor(data, dtype=torch.float64)
    low = resample(data, rate, SAMPLE_RATE, **CROSSOVER)
    return low.float(), (data - _back(low, rate, data.shape[-1])).float()


def join_bands(low: torch.Tensor, high: torch.Tensor, rate: int) -> torch.Tensor:
    """The inverse of :func:`split_bands`: the (restored) low band back at ``rate`` plus the high band.

    Args:
        low (Tensor): (..., samples) at 16 kHz.
        high (Tensor): (..., frames) at ``rate``, the same leading shape.
        rate (int): the recording's rate.

    Returns:
        Tensor: (..., frames) float32.
    """
    return (_back(low.double(), rate, high.shape[-1]) + high.double()).float()


def _back(low: torch.Tensor, rate: int, frames: int) -> torch.Tensor:
    """A 16 kHz band at ``rate``, cut or padded to ``frames``."""
    up = resample(low, SAMPLE_RATE, rate, **CROSSOVER)[..., :frames]
    return torch.nn.functional.pad(up, (0, frames - up.shape[-1]))


def _stft(x: torch.Tensor, n_fft: int) -> torch.Tensor:
    return torch.stft(x, n_fft, n_fft // 4, window=torch.hann_window(n_fft, dtype=x.dtype), return_complex=True)


def _blocks(frames: int, n_fft: int, block: int):
    """(start, stop, lo, hi): blocks [start, stop) of a long signal and the stretch [lo, hi) read
    around each, on the STFT's hop grid, with enough context that the STFT frames (and their
    neighbours) reaching a block's samples are those of the whole signal."""
    hop, margin = n_fft // 4, 2 * n_fft
    block = max(block // hop, 1) * hop
    for start in range(0, frames, block):
        yield start, min(start + block, frames), max(start - margin, 0), min(start + block + margin, frames)


def high_band_noise_std(full: torch.Tensor, rate: int, n_fft: int | None = None) -> torch.Tensor:
    """Blind estimate of the std of white noise in a recording, from its band above ``NOISE_FROM``.

    For each STFT bin above 8.5 kHz the median of its power over time (white Gaussian noise: its
    mean times ln 2), then the median over those bins: most of the high band is noise most of
    the time, even under a sustained tone or a sweep. Measured on a real bell and on a sine sweep
    with noise of std 0.005-0.05 (docs/whole_recording.md): within 2 %, where the time-domain
    estimate (:func:`daptools.corruptions.estimate_noise_std`) is 6-25 times too high on the sweep
    (std 0.02-0.005: it counts the tone as noise).

    Args:
        full (Tensor): (channels, frames) the recording.
        rate (int): its sample rate.
        n_fft (int | None): the STFT window (None: ``WIENER_SECONDS``).

    Returns:
        Tensor: (channels,) float64; zero where the rate leaves no bins above ``NOISE_FROM``.
    """
    full = torch.as_tensor(full, dtype=torch.float64)
    n_fft = n_fft or min(2 ** round(math.log2(WIENER_SECONDS * rate)), full.shape[-1] // 2 * 2)
    above = torch.fft.rfftfreq(n_fft, 1 / rate) > NOISE_FROM
    if not above.any():
        return torch.zeros(full.shape[0], dtype=torch.float64)
    power = _stft(full, n_fft)[:, above].abs().pow(2)
    median = power.median(-1).values.median(-1).values / math.log(2)
    return (median / torch.hann_window(n_fft, dtype=torch.float64).pow(2).sum()).sqrt()


def wiener_high_band(high: torch.Tensor, full: torch.Tensor, rate: int, per: str = "frequency",
                     noise_std=None, block_seconds: float = 30.0) -> torch.Tensor:
    """Shrink the noise in the high band with a Wiener gain from the blind noise estimate.

    The gain is measured on the whole recording ``full`` (the high band alone holds only part of
    the noise in the crossover's transition) and applied to the high band's STFT:
    ``max(0, 1 - N / P)``, where N is the white noise power per bin of the blind estimate
    (:func:`high_band_noise_std`, per channel: the median of its values on blocks of
    ``block_seconds``) and P the recording's power, averaged over the whole recording
    for each frequency (``per="frequency"``, the default: a fixed filter, no musical noise) or over
    the 3 x 3 neighbouring bins (``per="bin"``: follows the signal in time). Long recordings are
    filtered in blocks, exactly as at once for a given ``noise_std``.

    Args:
        high (Tensor): (channels, frames) the high band (:func:`split_bands`).
        full (Tensor): (channels, frames) the recording it came from.
        rate (int): their sample rate.
        per (str): "frequency" or "bin".
        noise_std (list[float] | Tensor | None): the noise std per channel (None: estimated blind).
        block_seconds (float): the length of a block (memory).

    Returns:
        Tensor: (channels, frames) float32; a gain of one everywhere gives ``high`` back.
    """
    if per not in GAINS:
        raise DapError(f"unknown Wiener gain {per!r}; use {' or '.join(GAINS)}")
    full, high = torch.as_tensor(full, dtype=torch.float64), torch.as_tensor(high, dtype=torch.float64)
    if high.shape != full.shape or high.ndim != 2:
        raise DapError(f"the high band {tuple(high.shape)} and the recording {tuple(full.shape)} must both be "
                       "(channels, frames)")
    frames = high.shape[-1]
    n_fft = min(2 ** round(math.log2(WIENER_SECONDS * rate)), frames // 2 * 2)
    blocks = list(_blocks(frames, n_fft, int(block_seconds * rate)))
    if noise_std is None:
        noise_std = torch.stack([high_band_noise_std(full[:, a:b], rate, n_fft) for a, b, _, _ in blocks]).median(0).values
    window_power = float(torch.hann_window(n_fft, dtype=torch.float64).pow(2).sum())
    noise = torch.as_tensor(noise_std, dtype=torch.float64).pow(2)[:, None, None] * window_power
    mean_power = None
    if per == "frequency":  # the mean over every frame of the whole recording
        hop, total, count = n_fft // 4, 0.0, 0
        for start, stop, lo, hi in blocks:  # the frames centred in [start, stop), as in one STFT
            first = -(-(start - lo) // hop)
            power = _stft(full[:, lo:hi], n_fft)[..., first:first + -(-(stop - lo - first * hop) // hop)]
            total, count = total + power.abs().pow(2).sum(-1, keepdim=True), count + power.shape[-1]
        mean_power = total / count
    out = torch.empty_like(high)
    for start, stop, lo, hi in blocks:
        power = mean_power
        if power is None:
            power = _stft(full[:, lo:hi], n_fft).abs().pow(2)
            power = torch.nn.functional.avg_pool2d(power[:, None], 3, stride=1, padding=1,
                                                   count_include_pad=False)[:, 0]
        gain = (1 - noise / power.clamp_min(1e-30)).clamp(0, 1)
        part = torch.istft(_stft(high[:, lo:hi], n_fft) * gain, n_fft, n_fft // 4,
                           window=torch.hann_window(n_fft, dtype=torch.float64), length=hi - lo)
        out[:, start:stop] = part[:, start - lo:stop - lo]
    return out.float()


def share_high_band(high: torch.Tensor, sources: torch.Tensor, rate: int) -> torch.Tensor:
    """Share a mixture's high band among its separated sources, frame by frame.

    Each source gets the high band times its share of the energy in ``SHARE_BAND`` (the top of
    the band the prior saw) in each 8 ms frame, interpolated between frames; the shares sum to
    one, so the sources still sum to the mixture. A heuristic: a source that is loud at 4-8 kHz
    is taken to own what lies above.

    Args:
        high (Tensor): (channels, frames) the mixture's high band at ``rate``.
        sources (Tensor): (n_sources, channels, samples) the separated sources at 16 kHz.
        rate (int): the mixture's rate.

    Returns:
        Tensor: (n_sources, channels, frames) float32.
    """
    n_fft, hop = 256, 128
    spec = torch.stft(sources.reshape(-1, sources.shape[-1]).double(), n_fft, hop,
                      window=torch.hann_window(n_fft, dtype=torch.float64), return_complex=True)
    freqs = torch.fft.rfftfreq(n_fft, 1 / SAMPLE_RATE)
    band = (freqs >= SHARE_BAND[0]) & (freqs <= SHARE_BAND[1])
    energy = spec[:, band].abs().pow(2).sum(1).reshape(*sources.shape[:2], -1)  # (sources, channels, frames)
    total = energy.sum(0, keepdim=True)
    share = torch.where(total > 0, energy / total.clamp_min(1e-30), 1.0 / sources.shape[0])
    # frame k is centred on sample k * hop at 16 kHz: its time in the high band's samples
    at = torch.arange(high.shape[-1], dtype=torch.float64) * SAMPLE_RATE / rate / hop
    k = at.floor().long().clamp(max=share.shape[-1] - 1)
    frac = (at - k).clamp(0, 1)
    nxt = (k + 1).clamp(max=share.shape[-1] - 1)
    gain = share[..., k] * (1 - frac) + share[..., nxt] * frac
    return (gain * high.double()).float()
