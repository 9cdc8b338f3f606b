"""Deep audio priors: one configurable U-Net and the named variants (notebooks 04-06).

Every prior is the same skeleton (Narayanaswamy et al. 2021, Sec. 3.1; layer
sizes as in the authors' released code): a start block and two down blocks
(35, 70, 140 filters, max-pooling between them, the last being the bottleneck),
two up blocks (bilinear x2, a 3x3 conv, concatenation of the matching down
block's features) and a 1x1 output conv. Each block holds two 3x3 convs. The
variants differ only in two switches:

* ``dilations``: per block, the dilation of each conv. ``plain`` uses 1
  everywhere, ``dilated`` a constant 4 (the authors' constant schedule), ``exp``
  and ``exp_dense`` the exponential schedule 1,2 | 4,8 | 16,32 | 32,16 | 8,4 of
  the authors' code (the paper's text says the schedule starts at 2).
* ``dense``: inside each block every conv sees the concatenation of the block
  input and all earlier outputs; a 1x1 *transition* conv maps the concatenation
  back to the block width, and the up path receives the concatenation (before
  the transition) as its skip connection.

Down-path convs are followed by InstanceNorm (no affine) and ReLU; up-path
convs by ReLU only; the output conv has no activation.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._checks import DapError, check_options
from .harmonic import harmonic_conv

EXP_SCHEDULE = ((1, 2), (4, 8), (16, 32), (32, 16), (8, 4))


class DilatedConv2d(nn.Conv2d):
    """A zero-padded 'same' conv whose dilated case runs as an undilated conv on the CPU.

    oneDNN's dilated convolution is several times slower on the CPU than its plain
    one (2-5x per training step of ``exp_dense`` at small widths, docs/performance.md).
    A dilation-d conv equals an undilated conv applied to the d*d interleaved
    sub-grids of its input ("space to batch", as in TensorFlow's atrous conv), so on
    the CPU we reshape, convolve and reshape back: same parameters, same results to
    float rounding. Other devices use the native dilated kernel.
    """

    def __init__(self, cin: int, cout: int, kernel_size: int, dilation: int = 1, **options):
        super().__init__(cin, cout, kernel_size, padding=dilation * (kernel_size - 1) // 2,
                         dilation=dilation, **options)
        self.space_to_batch = True

    def forward(self, x):
        d = self.dilation[0]
        if d == 1 or x.device.type != "cpu" or not self.space_to_batch:
            return super().forward(x)
        b, c, h, w = x.shape
        ph, pw = (-h) % d, (-w) % d
        x = F.pad(x, (0, pw, 0, ph)) if ph or pw else x
        hd, wd = (h + ph) // d, (w + pw) // d
        x = x.reshape(b, c, hd, d, wd, d).permute(0, 3, 5, 1, 2, 4).reshape(b * d * d, c, hd, wd)
        y = F.conv2d(x, self.weight, self.bias, padding=self.kernel_size[0] // 2)
        y = y.reshape(b, d, d, -1, hd, wd).permute(0, 3, 4, 1, 5, 2).reshape(b, -1, hd * d, wd * d)
        return y[..., :h, :w]


def _standard_conv(cin: int, cout: int, kernel_size: int, dilation: int, **options) -> nn.Module:
    return DilatedConv2d(cin, cout, kernel_size, dilation, **options)


CONV_LAYERS: dict[str, Callable[..., nn.Module]] = {"standard": _standard_conv, "harmonic": harmonic_conv}


@dataclass(frozen=True)
class UNetConfig:
    """Everything that defines a prior. See the module docstring.

    Attributes:
        in_channels (int): channels of the input z (default 2).
        out_channels (int): output channels (default 2: real, imaginary).
        channels (tuple[int]): block widths, start block first, bottleneck last.
        kernel_size (int): conv kernel size (default 3).
        dilations (tuple[tuple[int]]): one tuple per block in the order start, down...,
            bottleneck, up... (2*len(channels)-1 blocks); its length is the number of
            convs in the block.
        dense (bool): dense connections + 1x1 transition in every block.
        norm (str): "instance" (default), "batch" or "none", used in the down path.
        norm_up (bool): also normalise the up path (default False).
        conv (str): "standard" or "harmonic" (see :mod:`daptools.harmonic`).
        conv_options (dict): extra keyword arguments of the conv layer.
    """
    in_channels: int = 2
    out_channels: int = 2
    channels: tuple = (35, 70, 140)
    kernel_size: int = 3
    dilations: tuple = ((1, 1),) * 5
    dense: bool = False
    norm: str = "instance"
    norm_up: bool = False
    conv: str = "standard"
    conv_options: dict = field(default_factory=dict)

    def __post_init__(self):
        n_blocks = 2 * len(self.channels) - 1
        if len(self.dilations) != n_blocks:
            raise DapError(f"dilations needs one tuple per block ({n_blocks} for {len(self.channels)} "
                           f"widths), got {len(self.dilations)}")
        if self.norm not in ("instance", "batch", "none"):
            raise DapError(f"norm must be 'instance', 'batch' or 'none', got {self.norm!r}")
        if self.conv not in CONV_LAYERS:
            raise DapError(f"conv must be one of {', '.join(CONV_LAYERS)}, got {self.conv!r}")
        if self.kernel_size % 2 != 1:
            raise DapError(f"kernel_size must be odd, got {self.kernel_size}")


PRIOR_CONFIGS: dict[str, UNetConfig] = {
    "plain": UNetConfig(),
    "dilated": UNetConfig(dilations=((4, 4),) * 5),
    "exp": UNetConfig(dilations=EXP_SCHEDULE),
    "exp_dense": UNetConfig(dilations=EXP_SCHEDULE, dense=True),
    # Zhang et al. (ICLR 2020): the plain U-Net with harmonic convs (K=7 harmonics, anchor 1,
    # 3 time taps) in place of the 3x3 convs; dilations of a block would dilate time only.
    "harmonic": UNetConfig(conv="harmonic", conv_options={"harmonics": 7, "anchors": 1}),
}
PRESETS = PRIOR_CONFIGS  # the earlier name (U-Net configurations, not run presets); kept as an alias
DESCRIPTIONS = {
    "plain": "Convolution (U-Net, no dilation)",
    "dilated": "Dilated Conv. (constant dilation 4)",
    "exp": "Dilated Conv. (exp)",
    "exp_dense": "Dilated Conv. (exp) + Dense",
    "harmonic": "Harmonic Conv. (U-Net, 7 harmonics, 1 anchor)",
}


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.Identity()


class ConvUnit(nn.Sequential):
    """conv -> norm -> ReLU."""

    def __init__(self, cin, cout, cfg: UNetConfig, dilation: int, norm: str):
        super().__init__(CONV_LAYERS[cfg.conv](cin, cout, cfg.kernel_size, dilation, **cfg.conv_options),
                         _norm(norm, cout), nn.ReLU(inplace=True))


class Block(nn.Module):
    """A run of convs; with ``dense`` each sees all earlier features, then a 1x1 transition.

    forward returns (output, features): ``features`` is what the up path
    concatenates (the dense concatenation, or the last conv's output).
    """

    def __init__(self, cin: int, cout: int, dilations, cfg: UNetConfig, norm: str):
        super().__init__()
        self.dense = cfg.dense
        layers, width = [], cin
        for d in dilations:
            layers.append(ConvUnit(width, cout, cfg, d, norm))
            width = width + cout if cfg.dense else cout
        self.layers = nn.ModuleList(layers)
        self.features = width
        self.transition = nn.Conv2d(width, cout, 1) if cfg.dense else nn.Identity()

    def forward(self, x):
        feats = x
        for layer in self.layers:
            y = layer(feats)
            feats = torch.cat([feats, y], 1) if self.dense else y
        return self.transition(feats), feats


class UpBlock(nn.Module):
    """Bilinear x2, a 3x3 conv, concatenation of the skip features, then a Block."""

    def __init__(self, cin: int, cout: int, skip: int, dilations, cfg: UNetConfig):
        super().__init__()
        norm = cfg.norm if cfg.norm_up else "none"
        self.up_conv = ConvUnit(cin, cout, cfg, 1, norm)
        self.block = Block(cout + skip, cout, dilations, cfg, norm)

    def forward(self, x, skip):
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.block(torch.cat([self.up_conv(x), skip], 1))[0]


class UNetPrior(nn.Module):
    """The configurable U-Net prior. Takes z of any size (B, in_channels, F, T).

    The input is zero-padded to a multiple of 2**(depth) in both axes and the
    output cropped back, so any spectrogram size works.
    """

    def __init__(self, config: UNetConfig | None = None, name: str = "custom"):
        super().__init__()
        self.config = cfg = config or UNetConfig()
        self.name = name
        ch, dil = cfg.channels, cfg.dilations
        depth = len(ch) - 1
        self.factor = 2 ** depth
        self.down = nn.ModuleList()
        width = cfg.in_channels
        skips = []
        for i, c in enumerate(ch):
            block = Block(width, c, dil[i], cfg, cfg.norm)
            self.down.append(block)
            skips.append(block.features)
            width = c
        self.up = nn.ModuleList(
            UpBlock(ch[depth - j], ch[depth - j - 1], skips[depth - j - 1], dil[depth + 1 + j], cfg)
            for j in range(depth))
        self.out = nn.Conv2d(ch[0], cfg.out_channels, 1)

    @property
    def in_channels(self) -> int:
        return self.config.in_channels

    def forward(self, z):
        h, w = z.shape[-2:]
        ph, pw = (-h) % self.factor, (-w) % self.factor
        x = F.pad(z, (0, pw, 0, ph)) if ph or pw else z
        feats = []
        for i, block in enumerate(self.down):
            if i:
                x = F.max_pool2d(x, 2)
            x, f = block(x)
            feats.append(f)
        for j, up in enumerate(self.up):
            x = up(x, feats[-2 - j])
        return self.out(x)[..., :h, :w]


def prior_names() -> list[str]:
    """Names accepted by :func:`build_prior`."""
    return sorted(PRIOR_CONFIGS)


def build_prior(name: str = "exp_dense", seed: int | None = None, **options) -> UNetPrior:
    """Build a named prior.

    Args:
        name (str): "plain", "dilated", "exp", "exp_dense" (default) or "harmonic".
        seed (int | None): seed for the weight initialisation (None: the global RNG).
        **options: any :class:`UNetConfig` field, overriding the preset
            (e.g. ``channels=(16, 32, 64)``, ``dense=True``, ``norm="none"``).

    Returns:
        UNetPrior: a freshly initialised network (PyTorch default init).
    """
    if name not in PRIOR_CONFIGS:
        raise DapError(f"unknown prior {name!r}; choose one of {', '.join(prior_names())}")
    check_options(options, {f.name for f in fields(UNetConfig)}, "prior")
    cfg = replace(PRIOR_CONFIGS[name], **{k: tuple(map(tuple, v)) if k == "dilations" else
                                           tuple(v) if k == "channels" else v for k, v in options.items()})
    if seed is None:
        return UNetPrior(cfg, name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return UNetPrior(cfg, name)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def receptive_field(prior: nn.Module, size=(128, 128), point=None) -> torch.Tensor:
    """Which input positions influence one output position (measured by autograd).

    Args:
        prior (nn.Module): a prior (weights are replaced by positive constants on a
            copy so that no path cancels; norms are skipped by using eval mode on a copy).
        size (tuple[int, int]): (freq, frames) of the probe input.
        point (tuple[int, int] | None): output position (default the centre).

    Returns:
        Tensor (freq, frames): True where the input reaches the output point.
    """
    import copy
    probe = copy.deepcopy(prior).float().cpu()
    for m in probe.modules():
        if isinstance(m, (nn.InstanceNorm2d, nn.BatchNorm2d)):
            m.forward = lambda x: x  # type: ignore[method-assign]
        if isinstance(m, nn.ReLU):
            m.forward = lambda x: x  # type: ignore[method-assign]
    with torch.no_grad():
        for p in probe.parameters():
            p.fill_(1.0 / max(p[0].numel(), 1) if p.ndim > 1 else 0.0)
    z = torch.zeros(1, probe.in_channels, *size, requires_grad=True)
    out = probe(z)
    i, j = point or (size[0] // 2, size[1] // 2)
    out[0, :, i, j].sum().backward()
    return z.grad[0].abs().sum(0) > 0
