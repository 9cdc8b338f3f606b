"""Separation losses: what a separation fit minimises, and the blind checks on its result (notebook 09).

* :func:`exclusion_loss`: gradient exclusion between two magnitude images, at one or several
  scales (the "masks" method uses one scale, the recipes ``exclusion_scales``);
* :class:`Objective`: the loss of a :class:`~daptools.separation.recipes.Recipe` ("hp", "dap"):
  reconstruction and the weighted regulariser terms, and the blind loss that chooses among tries;
* :func:`separation_regularizer` and :func:`relative_mse`: the loss of the "masks" method;
* :func:`energy_share` / :func:`source_shares` and :data:`COLLAPSE_SHARE`: the blind collapse check;
* :func:`permutation_snr`: the monitoring score (mean SNR under the best ordering).

Magnitudes are :func:`daptools.spectral.magnitude` with a small ``eps`` (a finite gradient at 0).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..metrics import best_permutation, snr
from ..spectral import magnitude
from .models import estimates, masks_of, sound_magnitudes, split_sources
from .recipes import Recipe

# below this share of the energy, one estimate counts as collapsed (the blind check)
COLLAPSE_SHARE = 0.05


def _share(e1: torch.Tensor, e2: torch.Tensor) -> torch.Tensor:
    """Share of the energy in e1, per clip (B,)."""
    p1, p2 = e1.pow(2).mean((1, 2, 3)), e2.pow(2).mean((1, 2, 3))
    return p1 / (p1 + p2 + 1e-12)


def energy_share(out: torch.Tensor) -> torch.Tensor:
    """Share of the energy in the first estimate of a :class:`MaskedSources` output, per problem (B,):
    the blind collapse check."""
    return _share(*estimates(out.detach().float()))


def source_shares(output: torch.Tensor) -> torch.Tensor:
    """Share of the energy held by the first estimate of a :class:`SeparationPrior` output, per clip:
    (B, 5, F, T) -> (B,).

    A blind check (no reference): near 0 or 1 means one source took everything. The mask's
    sigmoid then saturates and its gradient vanishes, so the fit rarely recovers; ``separate``
    warns when a share is below ``COLLAPSE_SHARE``."""
    return _share(*split_sources(output.detach().float()))


def collapsed(share: float) -> bool:
    """True when one estimate holds all but less than :data:`COLLAPSE_SHARE` of the energy."""
    return min(share, 1 - share) < COLLAPSE_SHARE


def permutation_snr(reference, estimate) -> float:
    """Mean SNR of two estimates against two references under the best ordering."""
    perm = best_permutation(reference, estimate)
    return sum(snr(reference[i], estimate[j]) for i, j in enumerate(perm)) / len(perm)


def exclusion_loss(a: torch.Tensor, b: torch.Tensor, scales: int = 3, relative: bool = True) -> torch.Tensor:
    """Multi-scale gradient exclusion between two magnitude images (B, F, T) -> (B,).

    At each scale (the images average-pooled by 2 between scales), the gradients along frequency
    and time, each divided by its own mean size (scale-free, and a silent source contributes zero
    instead of 0/0), are squashed by tanh; the mean square of their product is large where both
    images have edges at the same places (Zhang et al. 2018, as used by Double-DIP and Deep Audio
    Prior). ``scales=1``: the single-scale loss of the "masks" method. ``relative=False``: the gradients
    are squashed as they are (Tian et al.'s raw loss: its size follows the images' scale, and a faint
    source pays little)."""
    total = 0
    for s in range(scales):
        if s:
            a, b = F.avg_pool2d(a[:, None], 2)[:, 0], F.avg_pool2d(b[:, None], 2)[:, 0]
        for dim in (1, 2):
            if a.shape[dim] < 2:
                continue
            ga, gb = torch.diff(a, dim=dim), torch.diff(b, dim=dim)
            if relative:
                ga = ga / (ga.abs().mean((1, 2), keepdim=True) + 1e-6)
                gb = gb / (gb.abs().mean((1, 2), keepdim=True) + 1e-6)
            total = total + (torch.tanh(ga) * torch.tanh(gb)).pow(2).mean((1, 2))
    return total / scales


class Objective:
    """The loss of a recipe on one batch: reconstruction (``loss``) and the regulariser terms.

    Args:
        mixture (Tensor): the mixture spectrograms (B, 2, F, T).
        recipe (Recipe): weights and choices.
        iterations (int): the budget (the binary loss starts after ``binary_from`` of it).
    """

    def __init__(self, mixture: torch.Tensor, recipe: Recipe, iterations: int):
        self.recipe = recipe
        self.mixture = mixture.float()
        mag = magnitude(self.mixture, eps=1e-10)
        self.level = mag.mean((1, 2)).clamp_min(1e-8)                     # (B,)
        self.power = mixture.float().pow(2).mean((1, 2, 3)).clamp_min(1e-12)
        self.energy = torch.clamp(torch.log1p(mag / self.level[:, None, None]), 0, 1)  # where the mixture has energy
        self.binary_at = int(math.ceil(recipe.binary_from * iterations))
        self.step = 0
        # term_scale "mixture": the temporal / spectral terms are divided by the mixture's own: scale-free, and a
        # source that took the whole mixture costs 1 on either, so neither direction wins by the STFT's geometry
        # alone; "level": left in units of the mixture's mean magnitude, like the reconstruction (Tian et al.)
        unit = mag / self.level[:, None, None]
        self.norm = {dim: (self._diff(unit, dim).clamp_min(1e-12) if recipe.term_scale == "mixture"
                           else torch.ones_like(self.level)) for dim in (1, 2)}

    def _diff(self, a: torch.Tensor, dim: int) -> torch.Tensor:
        r = self.recipe
        a = a if r.compress == 1 else (a + 1e-8).pow(r.compress)
        return torch.diff(a, dim=dim).abs().pow(r.power).mean((1, 2))

    def reconstruction(self, pred: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        """Error of the modelled mixture (the sum of the estimates), relative to the mixture's level: (B,)."""
        if self.recipe.loss == "mse":
            return (pred - obs).pow(2).mean((1, 2, 3)) / self.power.to(pred.device)
        return magnitude(pred - obs, eps=1e-10).mean((1, 2)) / self.level.to(pred.device)

    def terms(self, out: torch.Tensor) -> dict:
        """Each regulariser term, unweighted, (B,) each."""
        r = self.recipe
        e1, e2 = estimates(out)
        s = self.level.to(out.device)[:, None, None]
        a1, a2 = magnitude(e1, eps=1e-10) / s, magnitude(e2, eps=1e-10) / s
        m = masks_of(out)
        t = {}

        def diff(a, dim):
            return self._diff(a, dim) / self.norm[dim].to(a.device)

        # the smoothness terms act on what the sound priors model: their own magnitudes before masking where the
        # model has them (magnitude sources, as Tian et al.: the masks carry the onsets and may), else the estimates
        sounds = sound_magnitudes(out)
        b1, b2 = (a1, a2) if sounds is None else (sounds[:, 0] / s, sounds[:, 1] / s)
        if r.temporal:
            t["temporal"] = diff(b1, 2) + (0 if r.roles else diff(b2, 2))
        if r.spectral:
            t["spectral"] = diff(b2, 1) + (0 if r.roles else diff(b1, 1))
        if r.exclusion:
            t["exclusion"] = exclusion_loss(a1, a2, r.exclusion_scales, relative=r.term_scale == "mixture")
        if r.mask_sum:
            w = self.energy.to(out.device)
            t["mask_sum"] = ((m[:, 0] + m[:, 1] - 1).abs() * w).mean((1, 2))
        if r.binary:
            t["binary"] = (m * (1 - m)).mean((1, 2, 3))
        if r.balance:
            p1, p2 = a1.pow(2).mean((1, 2)), a2.pow(2).mean((1, 2))
            share = p1 / (p1 + p2 + 1e-12)
            t["balance"] = (torch.relu(r.min_share - share) + torch.relu(share - 1 + r.min_share)) / r.min_share
        return t

    def regularizer(self, out: torch.Tensor) -> torch.Tensor:
        """The weighted sum of the terms, (B,); counts the steps (the binary loss starts late)."""
        self.step += 1
        r = self.recipe
        total = torch.zeros(out.shape[0], device=out.device)
        if self.step <= r.warmup:   # the reconstruction alone first
            return total
        weights = {"temporal": r.temporal, "spectral": r.spectral, "exclusion": r.exclusion,
                   "mask_sum": r.mask_sum, "balance": r.balance,
                   "binary": r.binary if self.step > self.binary_at else 0.0}
        for k, v in self.terms(out).items():
            if weights[k]:
                total = total + weights[k] * v
        return total

    def blind_loss(self, out: torch.Tensor) -> np.ndarray:
        """The fitted objective at an output, (B,): reconstruction + the weighted terms (without the
        binary loss, which only the end of a fit sees). What the blind choice among tries compares:
        for "dap", reconstruction + exclusion + the rest; for "hp", its time and frequency terms
        (its reconstruction is exact)."""
        r = self.recipe
        out = out.float()
        e1, e2 = estimates(out)
        weights = {"temporal": r.temporal, "spectral": r.spectral, "exclusion": r.exclusion,
                   "mask_sum": r.mask_sum, "balance": r.balance, "binary": 0.0}
        with torch.no_grad():
            total = self.reconstruction(e1 + e2, self.mixture.to(out.device))
            for k, v in self.terms(out).items():
                total = total + weights[k] * v
        return total.cpu().numpy()


def separation_regularizer(observation: torch.Tensor, exclusion: float = 0.1, binary: float = 0.01,
                           smooth: float = 0.01, balance: float = 1.0, min_share: float = 0.1) -> Callable:
    """The separation loss terms of the "masks" method, added to the mixture reconstruction.

    * ``exclusion`` * gradient exclusion (:func:`exclusion_loss`, one scale) between the magnitudes
      of the two estimates (keeps them apart: without it, s1 = s2 = mixture is a perfect fit);
    * ``binary`` * mean m(1 - m): pushes the mask towards 0/1, so each bin is owned
      by one source (Double-DIP's mask regularisation);
    * ``smooth`` * mean |m(t+1) - m(t)|: temporal smoothness of the mask (Tian et al.);
    * ``balance`` * a hinge on each estimate's share of the energy, zero while both hold
      at least ``min_share``: without it, one source taking everything (m = 1) is a
      perfect, trivial fit that the other terms reward (Tian et al. restart instead).

    Magnitudes are divided by the observation's RMS so the weights do not depend on level.
    """
    scale = observation.pow(2).mean((1, 2, 3)).sqrt().clamp_min(1e-8)

    def regularizer(out):
        e1, e2 = split_sources(out)
        s = scale.to(out.device)[:, None, None]
        m = out[:, 4]
        share = _share(e1, e2)
        return (exclusion * exclusion_loss(magnitude(e1, eps=1e-8) / s, magnitude(e2, eps=1e-8) / s, scales=1)
                + binary * (m * (1 - m)).mean((1, 2))
                + smooth * torch.diff(m, dim=2).abs().mean((1, 2))
                + balance * ((torch.relu(min_share - share) + torch.relu(share - (1 - min_share))) / min_share))

    return regularizer


def relative_mse(observation: torch.Tensor) -> Callable:
    """The "masks" method's reconstruction loss: MSE relative to the observation's power, (B,)."""
    power = observation.pow(2).mean((1, 2, 3)).clamp_min(1e-12)

    def loss(pred, obs):
        return (pred - obs).pow(2).flatten(1).mean(1) / power.to(pred.device)

    return loss
