"""Separation models: the modules a separation fits, and how to read their outputs (notebook 09).

* :class:`MaskedSources` (methods "hp", the default, and "dap"): 0 or 2 sound priors and 1 or 2
  mask priors of one design, chosen by a :class:`~daptools.separation.recipes.Recipe`; output
  [e1 re, e1 im, e2 re, e2 im, m1, m2] (and, with magnitude sources, the sound priors' own outputs
  [s1, s2] before masking), read with :func:`estimates`, :func:`masks_of` and :func:`sound_magnitudes`.
* :class:`SeparationPrior` (method "masks", the earlier model): two complex source priors and
  one sigmoid mask prior; output [s1 re, s1 im, s2 re, s2 im, m], read with :func:`split_sources`.

:func:`memory_model` gives, per method, the module one problem fits (for GPU batch sizing).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._checks import DapError
from ..priors import build_prior
from ..spectral import N_FREQ, decoder, magnitude
from .recipes import RECIPES, SEPARATION_METHODS, Recipe


class MaskedSources(nn.Module):
    """The priors of one separation problem and the mixture they share out.

    Holds 0 or 2 sound priors, 1 or 2 mask priors (all of design ``name``), and the mixture
    spectrogram as a buffer. forward(z) -> (1, 6, F, T): [e1 re, e1 im, e2 re, e2 im, m1, m2]; with
    ``sources="magnitude"`` (1, 8, F, T): the sound priors' magnitudes before masking, [s1, s2] in
    mixture units, follow (Tian et al. smooth these, not the masked estimates: the masks carry the onsets).

    Args:
        mixture (Tensor): the mixture spectrogram, (1, 2, F, T) or (2, F, T).
        recipe (Recipe): the model choices (sources, masks, combine).
        name (str): prior design ("plain", "dilated", "exp", "exp_dense").
        seed (int): seeds the weights (each prior its own seed).
        **options: :func:`daptools.build_prior` options (e.g. channels).
    """

    def __init__(self, mixture: torch.Tensor, recipe: Recipe, name: str = "exp_dense", seed: int = 0, **options):
        super().__init__()
        spec = torch.as_tensor(mixture, dtype=torch.float32).reshape(1, 2, *mixture.shape[-2:])
        mag = magnitude(spec)[:, None]
        self.register_buffer("mix", spec)
        self.register_buffer("unit", spec / mag.clamp_min(1e-8))  # the mixture's phase as a unit phasor
        self.register_buffer("scale", mag.mean().clamp_min(1e-8).reshape(1))  # sound outputs in mixture units
        self.recipe, self.name = recipe, name
        k = {"magnitude": 1, "complex": 2, "mixture": 0}[recipe.sources]
        self.sounds = nn.ModuleList(build_prior(name, seed=seed + i, out_channels=k, **options) for i in range(2 if k else 0))
        n_masks, ch = {"independent": (2, 1), "softmax": (1, 2), "complement": (1, 1)}[recipe.combine]
        self.maskers = nn.ModuleList(build_prior(name, seed=seed + 10 + i, out_channels=ch, **options)
                                     for i in range(n_masks))
        self.in_channels = 2 * (len(self.sounds) + len(self.maskers))

    def masks(self, zs) -> torch.Tensor:
        logits = torch.cat([net(z) for net, z in zip(self.maskers, zs)], 1)   # (B, 1 or 2, F, T)
        if self.recipe.masks == "frame":
            logits = logits.mean(2, keepdim=True).expand(-1, -1, self.mix.shape[2], -1)
        if self.recipe.combine == "softmax":
            return torch.softmax(logits, 1)
        m = torch.sigmoid(logits)
        return torch.cat([m, 1 - m], 1) if self.recipe.combine == "complement" else m

    def forward(self, z):
        zs = z.chunk(len(self.sounds) + len(self.maskers), dim=1)
        m = self.masks(zs[len(self.sounds):])
        sounds = []   # the sound priors' magnitudes before masking (magnitude sources only)
        if self.recipe.sources == "mixture":
            e = [m[:, i:i + 1] * self.mix for i in range(2)]
        elif self.recipe.sources == "magnitude":
            sounds = [F.softplus(net(zi)) * self.scale for net, zi in zip(self.sounds, zs)]
            e = [m[:, i:i + 1] * sounds[i] * self.unit for i in range(2)]
        else:
            e = [m[:, i:i + 1] * net(zi) * self.scale for i, (net, zi) in enumerate(zip(self.sounds, zs))]
        return torch.cat([*e, m, *sounds], 1)


def estimates(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A :class:`MaskedSources` output (B, 6, F, T) -> the two estimated spectrograms (B, 2, F, T) each."""
    return out[:, 0:2], out[:, 2:4]


def masks_of(out: torch.Tensor) -> torch.Tensor:
    """A :class:`MaskedSources` output (B, 6, F, T) -> the masks (B, 2, F, T)."""
    return out[:, 4:6]


def sound_magnitudes(out: torch.Tensor) -> torch.Tensor | None:
    """A :class:`MaskedSources` output with magnitude sources (B, 8, F, T) -> the sound priors' magnitudes
    before masking (B, 2, F, T); None for the other models (their estimates are all there is)."""
    return out[:, 6:8] if out.shape[1] >= 8 else None


class SeparationPrior(nn.Module):
    """Two source priors and one mask prior: the "masks" method (after Double-DIP / Deep Audio Prior).

    Output channels: [s1 (re, im), s2 (re, im), m] with m = sigmoid(mask prior) in (0, 1).
    The mixture model is m * s1 + (1 - m) * s2; the source estimates are m * s1 and
    (1 - m) * s2, which add up to the modelled mixture.
    """

    def __init__(self, name: str = "exp_dense", seed: int = 0, **options):
        super().__init__()
        self.name = name
        self.source1 = build_prior(name, seed=seed, **options)
        self.source2 = build_prior(name, seed=seed + 1, **options)
        self.mask = build_prior(name, seed=seed + 2, out_channels=1, **options)
        self.in_channels = 3 * self.source1.in_channels

    def forward(self, z):
        z1, z2, z3 = z.chunk(3, dim=1)
        return torch.cat([self.source1(z1), self.source2(z2), torch.sigmoid(self.mask(z3))], 1)


def split_sources(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A :class:`SeparationPrior` output (B, 5, F, T) -> the two source spectrograms m*s1 and (1-m)*s2."""
    m = out[:, 4:5]
    return m * out[:, 0:2], (1 - m) * out[:, 2:4]


def source_decoder(split: Callable, length: int, hop: int) -> Callable:
    """Prior output -> the two estimated waveforms (B, 2, samples); ``split`` reads the estimates
    (:func:`estimates` or :func:`split_sources`)."""
    one = decoder(length, hop)
    return lambda out: torch.stack([one(e) for e in split(out.float())], 1)


def memory_model(method: str | None, prior: str = "exp_dense", shape=(2, N_FREQ, 2), recipe: dict | None = None,
                 **options) -> nn.Module:
    """The module one problem of ``method`` fits, for a memory estimate (``daptools.device.fit_memory_bytes``).

    "hp" fits one mask prior, "dap" four U-Nets (two sound priors, two mask priors), "paper" and "masks" three;
    None (denoising, inpainting) one prior.

    Args:
        method (str | None): "hp", "dap", "paper", "masks", or None for a single prior.
        prior (str): prior design.
        shape (tuple): one problem's observation (channels, freq, frames): "hp" and "dap" hold
            the mixture as a buffer of this size (the default, 2 frames, counts the networks only).
        recipe (dict | None): :class:`Recipe` overrides of "hp" / "dap" (``sources``, ``combine``
            change the networks).
        **options: :func:`daptools.build_prior` options (e.g. channels).

    Returns:
        nn.Module: with ``in_channels``; its weights are random (only its shapes matter).
    """
    if method is None:
        return build_prior(prior, **options)
    if method not in SEPARATION_METHODS:
        raise DapError(f"memory_model: unknown method {method!r}; choose one of {', '.join(SEPARATION_METHODS)}")
    if method == "masks":
        return SeparationPrior(prior, **options)
    return MaskedSources(torch.zeros(1, *shape), RECIPES[method].with_options(**(recipe or {})), prior, **options)
