"""Long recordings in overlapping segments, joined with cross-fades.

Outside the notebook series (used by the command line and :mod:`daptools.restore`).

A deep prior is fitted to one short spectrogram at a time: memory and time per
iteration grow with the clip length, and the paper works on 1-2 s clips. A long
recording is therefore cut into equal-length, overlapping segments (all the same
length, so they can be stacked and fitted as one batch of independent problems),
each segment is restored on its own, and the results are joined again.

The join is a **linear cross-fade** by default: in each overlap the outgoing
segment's weight falls from 1 to 0 while the incoming one rises from 0 to 1, so
the weights sum to exactly one everywhere. The segments are estimates of the
*same* signal (highly correlated in the overlap), and for correlated content an
amplitude-complementary fade keeps the level constant; an equal-power fade
(sin/cos, squared weights sum to one) is offered for uncorrelated content, but on
correlated content it raises the level by up to 3 dB in the middle of each fade.

Cut points can avoid "keep-out" zones (the gaps of an inpainting problem plus a
margin): no cross-fade then touches a gap, so every gap lies in the fully
weighted interior of exactly one segment and is filled from context on both sides.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch

from ._checks import DapError

FADES = ("linear", "equal_power")


@dataclass(frozen=True)
class SegmentPlan:
    """Where the segments of a recording lie and where consecutive ones cross-fade.

    Attributes:
        length (int): samples in the recording.
        size (int): samples per segment (all segments have this length; a recording
            shorter than one segment is a single segment of its own length).
        starts (tuple[int]): first sample of each segment.
        fades (tuple[tuple[int, int]]): for each pair of consecutive segments k, k+1 the
            cross-fade region [start, stop) in recording samples; segment k's weight is 1
            before it and 0 after it, segment k+1's the opposite.
    """
    length: int
    size: int
    starts: tuple
    fades: tuple

    def __len__(self) -> int:
        return len(self.starts)

    def split(self, wav: torch.Tensor) -> torch.Tensor:
        """Cut a waveform (samples,) into the planned segments.

        Returns:
            Tensor: (n_segments, size).
        """
        if wav.shape[-1] != self.length:
            raise DapError(f"the plan is for {self.length} samples, the waveform has {wav.shape[-1]}")
        return torch.stack([wav[..., s:s + self.size] for s in self.starts])

    def weights(self, fade: str = "linear") -> torch.Tensor:
        """Each segment's weight over its own samples, (n_segments, size).

        Linear: the weights of overlapping segments sum to one. Equal power: their squares do.
        """
        if fade not in FADES:
            raise DapError(f"unknown cross-fade {fade!r}; use {' or '.join(FADES)}")
        w = torch.ones(len(self), self.size)
        for k, (a, b) in enumerate(self.fades):
            ramp = (torch.arange(b - a, dtype=torch.float64) + 0.5) / max(b - a, 1)
            up = torch.sin(ramp * math.pi / 2) if fade == "equal_power" else ramp
            down = torch.cos(ramp * math.pi / 2) if fade == "equal_power" else 1 - ramp
            left, right = self.starts[k], self.starts[k + 1]
            w[k, a - left:b - left] = down.float()
            w[k, b - left:] = 0
            w[k + 1, :a - right] = 0
            w[k + 1, a - right:b - right] = up.float()
        return w

    def join(self, pieces: torch.Tensor, fade: str = "linear") -> torch.Tensor:
        """Join restored segments with cross-fades.

        Args:
            pieces (Tensor): (n_segments, ..., size), e.g. (n, size) or (n, sources, size).
            fade (str): "linear" (default; weights sum to one) or "equal_power".

        Returns:
            Tensor: (..., length).
        """
        if pieces.shape[0] != len(self) or pieces.shape[-1] != self.size:
            raise DapError(f"expected {len(self)} segments of {self.size} samples, got shape {tuple(pieces.shape)}")
        w = self.weights(fade).to(pieces.dtype)
        out = pieces.new_zeros(*pieces.shape[1:-1], self.length)
        for k, s in enumerate(self.starts):
            out[..., s:s + self.size] += pieces[k] * w[k]
        return out

    def local_gaps(self, k: int, gaps) -> list[tuple[int, int]]:
        """The parts of ``gaps`` ([start, stop) in recording samples) inside segment k, in its own samples."""
        s = self.starts[k]
        return [(max(a, s) - s, min(b, s + self.size) - s) for a, b in gaps if a < s + self.size and b > s]


def plan_segments(length: int, size: int, overlap: int, keep_out=(), margin: int = 0) -> SegmentPlan:
    """Plan equal-length overlapping segments covering ``length`` samples.

    Cross-fades are ``overlap`` samples long and placed as late as possible (so segments
    advance by ``size - overlap``), but never within ``margin`` samples of a keep-out zone.

    Args:
        length (int): samples in the recording.
        size (int): samples per segment.
        overlap (int): cross-fade length in samples, 0 <= overlap <= size / 2.
        keep_out (list[tuple[int, int]]): [start, stop) sample ranges no fade may touch
            (e.g. inpainting gaps).
        margin (int): extra samples kept free around each keep-out zone.

    Returns:
        SegmentPlan

    Raises:
        DapError: bad sizes, or a keep-out zone (with its margins and both fades) does not
            fit inside one segment.
    """
    if length < 1 or size < 1:
        raise DapError(f"length and segment size must be positive, got {length} and {size}")
    if not 0 <= overlap <= size // 2:
        raise DapError(f"overlap must be between 0 and half the segment ({size // 2} samples), got {overlap}")
    if length <= size:
        return SegmentPlan(length, length, (0,), ())
    zones = sorted((a - margin, b + margin) for a, b in keep_out)
    fades, p = [], 0
    while p + size < length:
        c = _last_free_cut(p + max(overlap, 1), p + size - overlap, overlap, zones)
        if c is None:
            near = next((z for z in zones if z[1] > p), (p, p + size))
            raise DapError(f"the gap near {max(near[0] + margin, 0)} samples does not fit inside one segment "
                           f"of {size} samples with its margins and cross-fades; use longer segments")
        fades.append((c, c + overlap))
        p = c
    return SegmentPlan(length, size, _place(length, size, fades), tuple(fades))


def _last_free_cut(lo: int, hi: int, overlap: int, zones) -> int | None:
    """Largest c in [lo, hi] with [c, c + overlap] clear of every zone, or None."""
    c = hi
    while c >= lo:
        hit = next((z for z in reversed(zones) if z[0] <= c + overlap and z[1] >= c), None)
        if hit is None:
            return c
        c = hit[0] - overlap - 1
    return None


def _place(length: int, size: int, fades) -> tuple:
    """Segment starts: each segment spans its fade-in to its fade-out; spare room is shared
    as context on both sides (more context helps the prior near the fades)."""
    bounds = [0] + [a for a, _ in fades], [b for _, b in fades] + [length]
    starts = []
    for lo, hi in zip(*bounds):
        spare = size - (hi - lo)
        starts.append(min(max(lo - spare // 2, 0), length - size))
    return tuple(starts)


def align_sources(pieces: torch.Tensor, plan: SegmentPlan) -> torch.Tensor:
    """Order each segment's separated sources like the previous segment's.

    Separation returns its sources in an arbitrary order per segment. Going left to
    right, each segment takes the permutation of its sources that best correlates with
    the previous segment in their overlap (over all channels together). A heuristic: it
    fails when a source is silent in the overlap or when the prior splits two segments
    differently.

    Args:
        pieces (Tensor): (n_segments, n_sources, ..., size), e.g. (n, sources, channels, size).
        plan (SegmentPlan): the plan the pieces were cut with.

    Returns:
        Tensor: same shape, sources reordered.
    """
    out = pieces.clone()
    n_src = pieces.shape[1]
    for k in range(1, len(plan)):
        a, b = plan.starts[k], plan.starts[k - 1] + plan.size
        prev = out[k - 1, ..., a - plan.starts[k - 1]:b - plan.starts[k - 1]]
        cur = out[k, ..., :b - a]
        best = max(itertools.permutations(range(n_src)),
                   key=lambda perm: sum(_corr(prev[i], cur[j]) for i, j in enumerate(perm)))
        out[k] = out[k, list(best)]
    return out


def align_channels(pieces: torch.Tensor) -> torch.Tensor:
    """Order the separated sources of every channel like those of the first channel.

    Each channel of a segment is separated on its own, and a separation may return its sources
    in any order: each channel takes the permutation whose sources best correlate (in absolute
    value: a channel may be inverted) with the first channel's, over the whole segment.

    Args:
        pieces (Tensor): (n_segments, n_sources, n_channels, size).

    Returns:
        Tensor: same shape, each channel's sources reordered.
    """
    out = pieces.clone()
    n_src = pieces.shape[1]
    for k in range(pieces.shape[0]):
        for c in range(1, pieces.shape[2]):
            best = max(itertools.permutations(range(n_src)),
                       key=lambda perm: sum(abs(_corr(out[k, i, 0], out[k, j, c])) for i, j in enumerate(perm)))
            out[k, :, c] = out[k, list(best), c]
    return out


def _corr(x: torch.Tensor, y: torch.Tensor) -> float:
    x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / (x.norm() * y.norm() + 1e-12))
