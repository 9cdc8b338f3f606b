"""Harmonic convolution: kernels over time and over the harmonics of each bin (notebook 10, Figure 2).

Harmonic convolution (Zhang, Liu, Tenenbaum, Freeman and Torralba, "Deep audio
priors emerge from harmonic convolutional networks", ICLR 2020) replaces the
frequency extent of a 2-D kernel by a set of *harmonic* taps: at output bin f,
anchor n and harmonic k the kernel reads the input at frequency position
f * k / n. With anchor n = 1 the kernel sees f, 2f, 3f, ... (the harmonics of f
as a fundamental); with anchor n it sees f as the n-th harmonic of f / n and
reads that fundamental's other harmonics. Along time the kernel is an ordinary
(zero-padded, optionally dilated) kernel of ``kernel_size`` taps.

This module computes, for input X of shape (B, Cin, F, T),

    Y(co, f, t) = bias(co) + sum_{ci, n, k, tau} W[co, ci, n, k, tau] * X(ci, f*k/n, t + d*(tau - kt//2))

with anchors n in ``anchors`` (an int N means 1..N; every anchor has its own
weights and all are summed, i.e. Zhang et al.'s "multiple anchors" mixed by the
learned weights), harmonics k = 1..K and time taps tau = 0..kt-1 (time dilation
d, zero padding so the output has the input's (F, T) size).

Frequency positions:
    * A fractional position p = f*k/n is linearly interpolated between bins
      floor(p) and floor(p)+1. Positions are computed with integer arithmetic
      (floor(f*k/n) and (f*k mod n)/n), so they are exact.
    * The spectrogram is treated as zero beyond its last bin: a position at or
      past bin F reads zero, and a position between F-1 and F reads
      (1 - w) * X[F-1] (interpolation towards the zero bin F).
    * Bin 0 (DC): f*k/n = 0 for every k and n, so the DC output only sees the DC
      input (at several time offsets).

How it is computed (vectorised, no loop over bins): the interpolation along
frequency is a fixed linear map, so per input size F the layer precomputes,
for every (n, k, f), the two neighbouring bin indices and their weights
("harmonic lowering": Takeuchi, Kashino, Ohishi and Saruwatari, Interspeech
2020, gather the harmonic taps once and finish with one dense product). Two
equivalent orders are available because the frequency map commutes with the
channel/time convolution:

    * ``"gather_first"``: gather X into (B, Cin*N*K, F, T), then one conv2d with a
      (1, kt) kernel mapping Cin*N*K -> Cout channels (Takeuchi et al.'s lowering).
    * ``"gather_last"``: one conv2d Cin -> Cout*N*K with a (1, kt) kernel, then
      gather each (n, k) group at its harmonic positions and sum the groups.

Both do the same multiply-adds in the convolution; the gathered intermediate
has Cin*N*K channels in the first order and Cout*N*K in the second, so
``order="auto"`` picks the one with fewer channels (the dense blocks of the
U-Net have wide inputs and narrow outputs, where gathering last saves memory).

The index tables are cached per (F, device) on the layer in a plain dict, not
as registered buffers: the fitting loop stacks a prior's buffers for
``torch.func.vmap`` and loads them back with ``load_state_dict``, which would
reject non-persistent buffers and could not hold tables of several sizes.
Tables are rebuilt on first use for a new F or device.

Defaults: K = 7 harmonics (the kernel size of Zhang et al.), a single anchor
(N = 1, their basic model; more anchors multiply the parameters), kt = 3 time
taps. In :func:`harmonic_conv`, the U-Net's per-block ``dilation`` dilates the
time taps only: the harmonic taps are fixed by k/n, so a frequency dilation
has no meaning for them.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._checks import DapError, check_options

ORDERS = ("auto", "gather_first", "gather_last")


def _anchor_tuple(anchors) -> tuple[int, ...]:
    """``anchors`` as a tuple of positive ints: an int N means (1, ..., N)."""
    if isinstance(anchors, bool):
        raise DapError(f"anchors must be a positive int or a sequence of positive ints, got {anchors!r}")
    if isinstance(anchors, int):
        values = tuple(range(1, anchors + 1))
    else:
        try:
            values = tuple(int(a) for a in anchors)
        except (TypeError, ValueError):
            raise DapError(f"anchors must be a positive int or a sequence of positive ints, got {anchors!r}") from None
    if not values or min(values) < 1:
        raise DapError(f"anchors must be a positive int or a sequence of positive ints, got {anchors!r}")
    return values


def harmonic_table(n_bins: int, harmonics: int, anchors: Sequence[int], device=None):
    """Bin indices and weights that sample every bin's harmonic positions.

    Args:
        n_bins (int): number of frequency bins F of the input.
        harmonics (int): K, harmonics k = 1..K.
        anchors (Sequence[int]): anchor values n.
        device: device of the returned tensors (default CPU).

    Returns:
        tuple[Tensor, Tensor]: ``index`` (taps, N*K*F) int64 and ``weight`` (taps, N*K*F)
        float32, with entry (n, k, f) at column (n_i*K + k-1)*F + f. Index F stands
        for the zero bin beyond the spectrogram. ``taps`` is 1 when every position
        is a whole bin (anchors (1,)), else 2 (floor and ceiling neighbours).
    """
    f = torch.arange(n_bins, dtype=torch.int64)
    k = torch.arange(1, harmonics + 1, dtype=torch.int64)
    n = torch.tensor(anchors, dtype=torch.int64)
    num = f[None, None, :] * k[None, :, None]  # f*k, shape (1, K, F)
    lo = torch.div(num, n[:, None, None], rounding_mode="floor")  # (N, K, F)
    frac = (num - lo * n[:, None, None]).double() / n[:, None, None].double()
    lo, frac = lo.reshape(-1), frac.reshape(-1)
    index = [lo.clamp(max=n_bins)]
    weight = [1.0 - frac]
    if bool((frac > 0).any()):
        index.append((lo + 1).clamp(max=n_bins))
        weight.append(frac)
    return torch.stack(index).to(device), torch.stack(weight).float().to(device)


def _gather(x: torch.Tensor, index: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Interpolating gather along dim 2: sum over taps of x[:, :, index[j]] * weight[j]."""
    w = weight.to(x.dtype)[:, :, None]
    out = x.index_select(2, index[0]) * w[0]
    for j in range(1, index.shape[0]):  # at most two taps (floor, ceiling), never a loop over bins
        out = out + x.index_select(2, index[j]) * w[j]
    return out


class HarmonicConv2d(nn.Module):
    """Harmonic convolution over (frequency, time) with the input's (F, T) output size.

    See the module docstring for the exact definition, the interpolation and the
    references (Zhang et al., ICLR 2020; Takeuchi et al., Interspeech 2020).

    Args:
        in_channels (int): Cin.
        out_channels (int): Cout.
        kernel_size (int): time taps kt, odd (default 3), zero-padded.
        harmonics (int): K, harmonics k = 1..K read at f*k/n (default 7).
        anchors (int | Sequence[int]): anchors n; an int N means 1..N (default 1). Each
            anchor has its own weights; all anchors are summed.
        dilation (int): dilation of the time taps (default 1).
        bias (bool): add a learned bias per output channel (default True).
        order (str): "auto" (default), "gather_first" or "gather_last" (see module docstring).

    Attributes:
        weight (Parameter): (Cout, Cin, N, K, kt); bias (Parameter | None): (Cout,).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, harmonics: int = 7,
                 anchors=1, dilation: int = 1, bias: bool = True, order: str = "auto"):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("harmonics", harmonics), ("dilation", dilation)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DapError(f"harmonic conv {name} must be a positive int, got {value!r}")
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise DapError(f"harmonic conv kernel_size (time taps) must be a positive odd int, got {kernel_size!r}")
        if order not in ORDERS:
            raise DapError(f"harmonic conv order must be one of {', '.join(ORDERS)}, got {order!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.harmonics, self.dilation = kernel_size, harmonics, dilation
        self.anchors = _anchor_tuple(anchors)
        self.order = order
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, len(self.anchors), harmonics, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self._tables: dict = {}
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's Conv2d initialisation, with fan-in Cin*N*K*kt."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.weight[0].numel())
            nn.init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"harmonics={self.harmonics}, anchors={self.anchors}, dilation={self.dilation}, "
                f"bias={self.bias is not None}, order={self.order!r}")

    def _table(self, n_bins: int, device: torch.device):
        """(index, weight, index into the flattened (N*K, F+1) groups) for this F, cached."""
        key = (n_bins, str(device))
        if key not in self._tables:
            index, weight = harmonic_table(n_bins, self.harmonics, self.anchors, device)
            groups = len(self.anchors) * self.harmonics
            offset = (torch.arange(groups, device=device) * (n_bins + 1)).repeat_interleave(n_bins)
            self._tables[key] = (index, weight, index + offset)
        return self._tables[key]

    def gathers_first(self) -> bool:
        """True when this layer gathers the input (Cin*N*K channels) rather than the output."""
        if self.order == "auto":
            return self.in_channels <= self.out_channels
        return self.order == "gather_first"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x (Tensor): (B, Cin, F, T). Returns: Tensor (B, Cout, F, T)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise DapError(f"HarmonicConv2d expects (batch, {self.in_channels}, freq, frames), "
                           f"got {tuple(x.shape)}")
        n_bins = x.shape[2]
        index, weight, grouped = self._table(n_bins, x.device)
        groups = len(self.anchors) * self.harmonics
        pad, dil = self.dilation * (self.kernel_size // 2), (1, self.dilation)
        if self.gathers_first():
            xp = F.pad(x, (0, 0, 0, 1))  # bin F: the zero beyond the spectrogram
            g = _gather(xp, index, weight).unflatten(2, (groups, n_bins)).flatten(1, 2)
            w = self.weight.flatten(1, 3).unsqueeze(2)  # (Cout, Cin*N*K, 1, kt)
            return F.conv2d(g, w, self.bias, padding=(0, pad), dilation=dil)
        w = self.weight.permute(0, 2, 3, 1, 4).flatten(0, 2).unsqueeze(2)  # (Cout*N*K, Cin, 1, kt)
        y = F.conv2d(x, w, None, padding=(0, pad), dilation=dil)
        y = F.pad(y.unflatten(1, (self.out_channels, groups)), (0, 0, 0, 1)).flatten(2, 3)
        out = _gather(y, grouped, weight).unflatten(2, (groups, n_bins)).sum(2)
        return out if self.bias is None else out + self.bias.to(out.dtype)[:, None, None]


def harmonic_conv(cin: int, cout: int, kernel_size: int, dilation: int, **options) -> HarmonicConv2d:
    """Factory used by the U-Net (``UNetConfig(conv="harmonic")``).

    Args:
        cin (int), cout (int): channels.
        kernel_size (int): the U-Net's kernel size, used as the number of time taps.
        dilation (int): the block's dilation, applied to the time taps only.
        **options: ``harmonics`` (default 7), ``anchors`` (default 1), ``order``
            (default "auto"), ``bias`` (default True); from ``UNetConfig.conv_options``.

    Returns:
        HarmonicConv2d
    """
    check_options(options, {"harmonics", "anchors", "order", "bias"}, "harmonic conv")
    return HarmonicConv2d(cin, cout, kernel_size, dilation=dilation, **options)
