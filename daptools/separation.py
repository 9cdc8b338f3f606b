"""Two-source separation recipes: source priors, masks and their losses (Sec. 4.3; notebook 09).

:func:`daptools.separate` is the entry point; this module holds the recipes it can fit. Every
recipe is one :func:`daptools.fit` of one module that holds several U-Net priors of one design
(``dap.build_prior(name)``) and returns, per problem, the two estimated source spectrograms
(real/imaginary) and the two masks that made them:

    output channels: [e1 re, e1 im, e2 re, e2 im, m1, m2]

What a recipe chooses (:class:`Recipe`):

* **sources**: ``"magnitude"``: two sound priors with a non-negative one-channel output, read as
  magnitudes and given the mixture's phase (Tian et al.'s Deep Audio Prior; softplus where they
  used a ReLU: this project's U-Nets start with all outputs slightly negative, and a ReLU on them
  was dead from the first step, both estimates silent);
  ``"complex"``: two sound priors with real/imaginary outputs; ``"mixture"``: no sound priors,
  the masks share out the mixture itself (a masking-only model: e_i = m_i * X).
* **masks**: ``"bin"`` (one value per time-frequency bin) or ``"frame"`` (the mask prior's
  output averaged over frequency: one gain per frame and source, as Tian et al.), combined by
  ``"independent"`` (two mask priors, a sigmoid each, and a penalty pushing m1 + m2 to 1: Tian
  et al.), ``"softmax"`` (one mask prior with two channels, softmax over the sources: the masks
  sum to one by construction) or ``"complement"`` (one channel, m and 1 - m).
* **losses**: L1 (or MSE) between the sum of the estimates and the mixture; L1 differences of
  each estimate's magnitude along time (``temporal``; Tian et al.'s temporal-difference loss)
  and, with ``roles``, along time for the first source only and along frequency for the second
  (``spectral``): one sustained and one percussive source, the harmonic/percussive model of a
  piano + drums mixture; multi-scale gradient exclusion (``exclusion``, at ``exclusion_scales``
  scales); the mask-sum penalty (``mask_sum``); the binary-mask loss mean m(1 - m) (``binary``),
  switched on only after ``binary_from`` of the budget.
* **fitting**: learning rate and schedule, fresh input noise each step (``input_noise``),
  ``restarts``: a fit whose estimate holds less than :data:`COLLAPSE_SHARE` of the energy (the
  blind collapse check) is fitted again with another seed; ``tries``: that many fits with
  different seeds, the one with the lowest fitted objective (reconstruction + the weighted terms:
  :meth:`Objective.blind_loss`) is kept, a blind choice: the clean sources are never used.

:data:`RECIPES` holds the named ones: ``"dap"`` (Tian et al.'s recipe, as far as the paper's
U-Net priors allow) and ``"hp"`` (the package default, chosen by measurement: docs/separation.md).
:func:`hpss` is a prior-free baseline (median-filtering harmonic/percussive separation), not a
method of the package's priors.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ._checks import DapError, as_waveform
from .priors import build_prior
from .spectral import HOP, to_spectrogram, to_waveform

# below this share of the energy, one estimate counts as collapsed (the blind check)
COLLAPSE_SHARE = 0.05
SOURCES = ("magnitude", "complex", "mixture")
MASKS = ("bin", "frame")
COMBINES = ("independent", "softmax", "complement")
LOSSES = ("l1", "mse")


@dataclass(frozen=True)
class Recipe:
    """Everything that defines a separation fit besides the prior design (module docstring).

    Attributes:
        sources (str): "magnitude", "complex" or "mixture".
        masks (str): "bin" or "frame".
        combine (str): "independent", "softmax" or "complement".
        loss (str): reconstruction loss, "l1" or "mse" (relative to the mixture's level).
        temporal (float): weight of the L1 temporal difference of the estimates' magnitudes.
        spectral (float): weight of the L1 frequency difference (second source only, with roles).
        roles (bool): the temporal term on the first source only, the spectral term on the second.
        power (float): exponent of the temporal/spectral differences (1: L1, as Tian et al.; 2: squared,
            as Ono et al.'s harmonic/percussive energy, which spreads a bin over both sources).
        compress (float): the magnitudes are raised to this power before differencing (range
            compression; 1: none).
        exclusion (float): weight of the gradient exclusion between the estimates.
        exclusion_scales (int): scales (1, 1/2, 1/4, ...) of the exclusion loss.
        mask_sum (float): weight of mean |m1 + m2 - 1| where the mixture has energy (independent masks).
        binary (float): weight of the binary-mask loss mean m(1 - m).
        binary_from (float): fraction of the budget after which the binary loss is on.
        balance (float): weight of a hinge on each estimate's energy share below ``min_share``.
        min_share (float): share of the energy below which the hinge acts.
        lr (float): Adam learning rate.
        schedule: lr schedule (:func:`daptools.make_scheduler`), e.g. "step".
        input_noise (float): std of fresh noise added to z each step.
        restarts (int): refits with another seed when the blind collapse check fires.
        tries (int): independent fits; the lowest fitted objective (:meth:`Objective.blind_loss`) is kept.
    """
    sources: str = "magnitude"
    masks: str = "bin"
    combine: str = "softmax"
    loss: str = "l1"
    temporal: float = 0.0
    spectral: float = 0.0
    roles: bool = False
    power: float = 1.0
    compress: float = 1.0
    exclusion: float = 0.0
    exclusion_scales: int = 3
    mask_sum: float = 0.0
    binary: float = 0.0
    binary_from: float = 0.9
    balance: float = 0.0
    min_share: float = 0.1
    lr: float = 1e-3
    schedule: str | None = None
    input_noise: float = 0.0
    restarts: int = 0
    tries: int = 1

    def __post_init__(self):
        for name, value, allowed in (("sources", self.sources, SOURCES), ("masks", self.masks, MASKS),
                                     ("combine", self.combine, COMBINES), ("loss", self.loss, LOSSES)):
            if value not in allowed:
                raise DapError(f"separation recipe: {name} must be one of {', '.join(allowed)}, got {value!r}")
        if self.sources == "mixture" and self.combine == "independent":
            raise DapError("separation recipe: sources='mixture' needs masks that sum to one "
                           "(combine='softmax' or 'complement')")
        if self.restarts < 0 or self.tries < 1 or self.exclusion_scales < 1:
            raise DapError("separation recipe: restarts >= 0, tries >= 1 and exclusion_scales >= 1")
        if not 0 <= self.binary_from <= 1:
            raise DapError(f"separation recipe: binary_from is a fraction of the budget, got {self.binary_from}")

    def with_options(self, **options) -> "Recipe":
        """This recipe with some fields replaced (one-line DapError for an unknown field)."""
        names = {f.name for f in fields(Recipe)}
        unknown = set(options) - names
        if unknown:
            raise DapError(f"unknown separation option(s) {', '.join(sorted(unknown))}; "
                           f"valid: {', '.join(sorted(names))}")
        return replace(self, **options)


RECIPES = {
    # Tian et al.'s Deep Audio Prior recipe on this project's U-Nets: non-negative (softplus) magnitude sources with the
    # mixture's phase, two mask priors averaged over frequency (one gain per frame), L1 reconstruction,
    # L1 temporal differences, multi-scale exclusion, mask-sum penalty, binary loss (0.01) late, fresh
    # input noise, Adam 3e-4 decayed by 10 (their 2000 of 5000 iterations: "step" here), restarts on collapse.
    "dap": Recipe(sources="magnitude", masks="frame", combine="independent", loss="l1", temporal=1.0,
                  exclusion=1.0, mask_sum=1.0, binary=0.01, binary_from=0.9, lr=3e-4, schedule="step",
                  input_noise=0.03, restarts=2),
    # the default, chosen by measurement (docs/separation.md)
    "hp": Recipe(sources="mixture", masks="bin", combine="complement", loss="l1", temporal=1.0, spectral=1.0,
                 roles=True, power=2.0, compress=0.5, exclusion=0.0, lr=3e-3, restarts=2),
}


class MaskedSources(nn.Module):
    """The priors of one separation problem and the mixture they share out.

    Holds 0 or 2 sound priors, 1 or 2 mask priors (all of design ``name``), and the mixture
    spectrogram as a buffer. forward(z) -> (1, 6, F, T): [e1 re, e1 im, e2 re, e2 im, m1, m2].

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
        mag = spec.pow(2).sum(1, keepdim=True).sqrt()
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
        if self.recipe.sources == "mixture":
            e = [m[:, i:i + 1] * self.mix for i in range(2)]
        elif self.recipe.sources == "magnitude":
            e = [m[:, i:i + 1] * F.softplus(net(zi)) * self.scale * self.unit for i, (net, zi) in enumerate(zip(self.sounds, zs))]
        else:
            e = [m[:, i:i + 1] * net(zi) * self.scale for i, (net, zi) in enumerate(zip(self.sounds, zs))]
        return torch.cat([*e, m], 1)


def estimates(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A :class:`MaskedSources` output (B, 6, F, T) -> the two estimated spectrograms (B, 2, F, T) each."""
    return out[:, 0:2], out[:, 2:4]


def masks_of(out: torch.Tensor) -> torch.Tensor:
    """A :class:`MaskedSources` output (B, 6, F, T) -> the masks (B, 2, F, T)."""
    return out[:, 4:6]


def _mag(spec: torch.Tensor) -> torch.Tensor:
    return (spec.pow(2).sum(1) + 1e-10).sqrt()          # (B, F, T), finite gradient at 0


def energy_share(out: torch.Tensor) -> torch.Tensor:
    """Share of the energy in the first estimate, per problem (B,): the blind collapse check."""
    e1, e2 = estimates(out.detach().float())
    p1, p2 = e1.pow(2).mean((1, 2, 3)), e2.pow(2).mean((1, 2, 3))
    return p1 / (p1 + p2 + 1e-12)


def exclusion_loss(a: torch.Tensor, b: torch.Tensor, scales: int = 3) -> torch.Tensor:
    """Multi-scale gradient exclusion between two magnitude images (B, F, T) -> (B,).

    At each scale (the images average-pooled by 2 between scales), the gradients along frequency
    and time, each divided by its own mean size, are squashed by tanh; the mean square of their
    product is large where both images have edges at the same places (Zhang et al. 2018, as used
    by Double-DIP and Deep Audio Prior)."""
    total = 0
    for s in range(scales):
        if s:
            a, b = F.avg_pool2d(a[:, None], 2)[:, 0], F.avg_pool2d(b[:, None], 2)[:, 0]
        for dim in (1, 2):
            if a.shape[dim] < 2:
                continue
            ga, gb = torch.diff(a, dim=dim), torch.diff(b, dim=dim)
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
        mag = _mag(self.mixture)
        self.level = mag.mean((1, 2)).clamp_min(1e-8)                     # (B,)
        self.power = mixture.float().pow(2).mean((1, 2, 3)).clamp_min(1e-12)
        self.energy = torch.clamp(torch.log1p(mag / self.level[:, None, None]), 0, 1)  # where the mixture has energy
        self.binary_at = int(math.ceil(recipe.binary_from * iterations))
        self.step = 0
        # the temporal / spectral terms are divided by the mixture's own: scale-free, and a source that
        # took the whole mixture costs 1 on either, so neither direction wins by the STFT's geometry alone
        unit = mag / self.level[:, None, None]
        self.norm = {dim: self._diff(unit, dim).clamp_min(1e-12) for dim in (1, 2)}

    def _diff(self, a: torch.Tensor, dim: int) -> torch.Tensor:
        r = self.recipe
        a = a if r.compress == 1 else (a + 1e-8).pow(r.compress)
        return torch.diff(a, dim=dim).abs().pow(r.power).mean((1, 2))

    def reconstruction(self, pred: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        """Error of the modelled mixture (the sum of the estimates), relative to the mixture's level: (B,)."""
        if self.recipe.loss == "mse":
            return (pred - obs).pow(2).mean((1, 2, 3)) / self.power.to(pred.device)
        return _mag(pred - obs).mean((1, 2)) / self.level.to(pred.device)

    def terms(self, out: torch.Tensor) -> dict:
        """Each regulariser term, unweighted, (B,) each."""
        r = self.recipe
        e1, e2 = estimates(out)
        s = self.level.to(out.device)[:, None, None]
        a1, a2 = _mag(e1) / s, _mag(e2) / s
        m = masks_of(out)
        t = {}

        def diff(a, dim):
            return self._diff(a, dim) / self.norm[dim].to(a.device)

        if r.temporal:
            t["temporal"] = diff(a1, 2) + (0 if r.roles else diff(a2, 2))
        if r.spectral:
            t["spectral"] = diff(a2, 1) + (0 if r.roles else diff(a1, 1))
        if r.exclusion:
            t["exclusion"] = exclusion_loss(a1, a2, r.exclusion_scales)
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
        weights = {"temporal": r.temporal, "spectral": r.spectral, "exclusion": r.exclusion,
                   "mask_sum": r.mask_sum, "balance": r.balance,
                   "binary": r.binary if self.step > self.binary_at else 0.0}
        total = torch.zeros(out.shape[0], device=out.device)
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


def _decoder(length: int, hop: int) -> Callable:
    def decode(out):
        e1, e2 = estimates(out.float())
        return torch.stack([to_waveform(e1, length, hop=hop).reshape(out.shape[0], -1),
                            to_waveform(e2, length, hop=hop).reshape(out.shape[0], -1)], 1)
    return decode


def fit_recipe(clips: torch.Tensor, recipe: Recipe, prior="exp_dense", iterations: int = 2000, seed: int = 0,
               references=None, hop: int = HOP, prior_options: dict | None = None, score: Callable | None = None,
               fit_options: dict | None = None):
    """Fit a recipe to a batch of mixtures: ``tries`` seeds, restarts on collapse, a blind choice.

    Args:
        clips (Tensor): mixtures (B, samples).
        recipe (Recipe): the recipe.
        prior (str): prior design of every U-Net.
        iterations (int): the most Adam steps per fit.
        seed (int): the first seed (try k, restart r use seed + 1000 * (k + r * tries)).
        references (Tensor | None): clean sources (2, samples) or (B, 2, samples), only to monitor.
        hop (int): spectrogram hop.
        prior_options (dict | None): :func:`daptools.build_prior` options.
        score (callable | None): monitoring score (estimates vs references).
        fit_options (dict | None): other :func:`daptools.fit` options (select, stopping, device, ...).

    Returns:
        FitResult: the chosen fit of each problem (one batch result; ``attempts`` records, per
        problem, the seeds fitted, their blind losses and energy shares, and which was kept).
    """
    from .fit import fit
    if not isinstance(prior, str):
        raise DapError(f"separation method recipes take a prior name ({', '.join(['plain', 'dilated', 'exp', 'exp_dense'])}), "
                       f"got {type(prior).__name__}")
    opts = dict(fit_options or {})
    opts.setdefault("lr", recipe.lr)
    opts.setdefault("schedule", recipe.schedule)
    opts.setdefault("input_noise", recipe.input_noise)
    spec = to_spectrogram(clips, hop=hop)
    batch, length = clips.shape[0], clips.shape[-1]
    decode = _decoder(length, hop)
    best, attempts = None, [[] for _ in range(batch)]
    todo = list(range(batch))
    fits = 0
    for attempt in range(recipe.tries + recipe.restarts):
        if not todo:
            break
        restart = attempt >= recipe.tries
        s = int(seed) + 1000 * attempt
        idx = todo
        obj = Objective(spec[idx], recipe, iterations)
        nets = [MaskedSources(spec[i], recipe, prior, seed=s, **(prior_options or {})) for i in idx]
        ref = None
        if references is not None:
            r = torch.as_tensor(references)
            ref = r[None] if r.ndim == 2 else r
            ref = ref[idx]
        opts.setdefault("statistic", lambda out: out[:, :4])      # the blind rule watches the estimates
        res = fit(nets if len(nets) > 1 else nets[0], spec[idx], forward=lambda out: out[:, 0:2] + out[:, 2:4],
                  loss=obj.reconstruction, regularizer=obj.regularizer, iterations=iterations, seed=s,
                  reference=None if ref is None else (ref if len(idx) > 1 else ref[0]), decode=decode,
                  score=score, **opts)
        fits += 1
        losses = obj.blind_loss(res.output)
        shares = energy_share(res.output).numpy()
        best = _merge(best, res, idx, losses, shares, batch)
        for j, i in enumerate(idx):
            attempts[i].append({"seed": s, "blind_loss": float(losses[j]), "share": float(shares[j]),
                                "restart": restart})
        # restarts: the problems whose chosen fit collapsed; extra tries: every problem
        collapsed = [i for i in range(batch) if min(best["share"][i], 1 - best["share"][i]) < COLLAPSE_SHARE]
        todo = list(range(batch)) if attempt + 1 < recipe.tries else collapsed
    result = best["result"]
    for i, a in enumerate(attempts):
        kept = int(np.argmin([x["blind_loss"] if min(x["share"], 1 - x["share"]) >= COLLAPSE_SHARE else np.inf
                              for x in a])) if any(min(x["share"], 1 - x["share"]) >= COLLAPSE_SHARE for x in a) \
            else int(np.argmin([x["blind_loss"] for x in a]))
        for k, x in enumerate(a):
            x["kept"] = k == kept
    result.attempts = attempts
    result.fits = fits
    return result


def _usable(share: float) -> bool:
    return min(share, 1 - share) >= COLLAPSE_SHARE


def _merge(best, res, idx, losses, shares, batch):
    """Keep, per problem, the better fit: a non-collapsed one before a collapsed one, then the lower blind loss."""
    if best is None:
        assert len(idx) == batch
        return {"result": res, "loss": np.asarray(losses, float).copy(), "share": np.asarray(shares, float).copy()}
    old = best["result"]
    for j, i in enumerate(idx):
        new_key = (not _usable(shares[j]), losses[j])
        old_key = (not _usable(best["share"][i]), best["loss"][i])
        if new_key < old_key:
            _replace_problem(old, i, res, j)
            best["loss"][i], best["share"][i] = losses[j], shares[j]
    return best


def _replace_problem(dst, i, src, j):
    """Copy problem j of result ``src`` into problem i of result ``dst`` (candidates, scores, iterations)."""
    for name, out in dst.candidates.items():
        if name in src.candidates:
            out[i] = src.candidates[name][j]
    dst.output = dst.candidates[dst.selection]
    for name, v in dst.scores.items():
        if name in src.scores:
            v[i] = src.scores[name][j]
    for attr in ("best_iteration", "auto_iteration", "stop_iteration", "stop_reason"):
        a, b = getattr(dst, attr), getattr(src, attr)
        if a is not None and b is not None:
            a[i] = b[j]
    if len(dst.nets) > i and len(src.nets) > j:
        dst.nets[i] = src.nets[j]


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
    mag = _mag(spec)[0].numpy()
    h = median_filter(mag, size=(1, kernel), mode="reflect") ** power
    p = median_filter(mag, size=(kernel, 1), mode="reflect") ** power
    mh = torch.as_tensor(h / (h + p + 1e-12), dtype=torch.float32)
    return torch.stack([to_waveform(spec * mh, wav.numel(), hop=hop), to_waveform(spec * (1 - mh), wav.numel(), hop=hop)])
