"""Restoration tasks, each a thin layer over :func:`daptools.fit` (notebooks 07-09).

A task supplies the forward model, the loss and how to turn the prior's output
into audio; the optimisation is always the same loop.
"""
from __future__ import annotations

import warnings
from typing import Callable

import torch
import torch.nn as nn

from ._checks import DapError, as_waveform
from .corruptions import GapMask, estimate_noise_std
from .ensemble import Ensemble
from .fit import FitResult, fit
from .metrics import best_permutation, snr
from .priors import build_prior
from .separation import COLLAPSE_SHARE  # below this energy share an estimate counts as collapsed
from .spectral import HOP, check_hop, to_spectrogram, to_waveform, white_noise_power
from .stopping import Stopping


def _clips(wav) -> torch.Tensor:
    """(samples,) or (batch, samples) -> (batch, samples), each clip checked."""
    wav = torch.as_tensor(wav) if not isinstance(wav, torch.Tensor) else wav
    if wav.ndim == 2 and wav.shape[0] > 1:
        return torch.stack([as_waveform(w) for w in wav])
    return as_waveform(wav)[None]


def _decoder(length: int, hop: int = HOP) -> Callable:
    return lambda out: to_waveform(out, length, hop=hop).reshape(out.shape[0], -1)


def denoise(noisy, prior="exp_dense", iterations: int = 2000, seed=0, reference=None, hop: int = HOP,
            seeds: int | None = None, combine: str = "spectrogram", **fit_options) -> FitResult:
    """Denoise a recording: fit the prior to its spectrogram, read the output (Sec. 4.1).

    Args:
        noisy (Tensor): noisy waveform (samples,), 16 kHz; (batch, samples) fits a batch.
        prior (str | nn.Module | callable): the prior (default "exp_dense").
        iterations (int): Adam steps (default 2000, as in the paper).
        seed (int): seeds weights and z.
        reference (Tensor | None): clean waveform, only to monitor SNR / offer the oracle.
        hop (int): spectrogram hop in samples: 64 (default, the paper's), 128 or 256 (a half or a
            quarter of the frames and of the cost per iteration; the fast preset's, a labelled
            departure from the paper: docs/performance.md).
        seeds (int | None): fit an ensemble of this many networks per clip (seeds ``seed``,
            ``seed + 1``, ...) as one batch and average them (:mod:`daptools.ensemble`); None: one.
        combine (str): how an ensemble is averaged: "spectrogram" (the prior outputs, default) or
            "waveform" (the decoded waveforms).
        **fit_options: anything :func:`daptools.fit` takes (lr, schedule, select, ema, device, ...).

    Returns:
        FitResult: ``.audio`` is the denoised waveform (an ensemble's: its members combined).
    """
    clips, hop = _clips(noisy), check_hop(hop)
    ens = Ensemble(seeds, seed, combine)
    if fit_options.get("select", "auto") == "auto" or fit_options.get("stopping") is not None:
        fit_options["stopping"] = Stopping.coerce(fit_options.get("stopping")).with_floor(
            [white_noise_power(x.numel(), estimate_noise_std(x), hop=hop) for x in ens.repeat(clips)])
    result = fit(prior, to_spectrogram(ens.repeat(clips), hop=hop), iterations=iterations,
                 seed=ens.seeds(clips.shape[0]), reference=ens.repeat_reference(reference, clips.shape[0]),
                 decode=_decoder(clips.shape[-1], hop), **fit_options)
    return ens.combine(result, reference, score=fit_options.get("score"))


def inpaint(observation, mask: GapMask | torch.Tensor, prior="exp_dense", iterations: int = 2000, seed=0,
            reference=None, keep_observed: bool = True, hop: int = HOP, seeds: int | None = None,
            combine: str = "spectrogram", **fit_options) -> FitResult:
    """Fill known gaps: the loss sees only observed spectrogram frames (Sec. 4.2).

    Args:
        observation (Tensor): waveform with the gaps (samples,). Masked frames are zeroed before
            fitting, so the content deep inside a gap never reaches the loss; samples within half a
            window (511 samples) of a gap edge do reach the observed frames next to it (as in the
            paper's spectrogram-domain mask).
        mask (GapMask | Tensor): the known gaps, or a spectrogram mask broadcastable to
            (1, 1, F, T) with 1 = observed.
        keep_observed (bool): the result keeps the observed spectrogram frames and takes only
            the missing ones from the prior (default True); False returns the raw prior output.
        Other arguments as in :func:`denoise` (``seeds``, ``combine``: an ensemble).

    Returns:
        FitResult: ``.audio`` is the restored waveform.
    """
    clip, hop = _clips(observation), check_hop(hop)
    spec = to_spectrogram(clip, hop=hop)
    m = mask.spectrogram(hop) if isinstance(mask, GapMask) else torch.as_tensor(mask, dtype=torch.float32)
    if isinstance(mask, GapMask) and mask.length != clip.shape[-1]:
        raise DapError(f"mask is for {mask.length} samples but the observation has {clip.shape[-1]}")
    if m.shape[-1] != spec.shape[-1] or m.min() < 0 or m.max() > 1:
        raise DapError(f"spectrogram mask must have {spec.shape[-1]} frames with values in [0, 1]")
    if m.sum() == 0:
        raise DapError("the mask hides the whole clip: nothing is observed")
    ens = Ensemble(seeds, seed, combine)
    obs = spec * m
    obs_k, m_k = ens.repeat(obs), m if m.shape[0] == 1 else ens.repeat(m)  # one mask broadcasts over members
    # the blind stopping rule watches the content of the gaps: the rest is the observation
    fit_options.setdefault("statistic", lambda out: out * (1 - m_k.to(out.device)))
    result = fit(prior, obs_k, forward=lambda out: out * m_k.to(out.device), iterations=iterations,
                 seed=ens.seeds(clip.shape[0]), reference=ens.repeat_reference(reference, clip.shape[0]),
                 decode=_gap_decoder(obs_k, m_k, clip.shape[-1], hop, keep_observed), **fit_options)
    return ens.combine(result, reference, decode=_gap_decoder(obs, m, clip.shape[-1], hop, keep_observed),
                       score=fit_options.get("score"))


def _gap_decoder(obs: torch.Tensor, m: torch.Tensor, length: int, hop: int, keep_observed: bool) -> Callable:
    """Prior output -> waveform, keeping the observed frames (``keep_observed``) of ``obs``."""
    decode_raw = _decoder(length, hop)
    return lambda out: decode_raw(obs + (1 - m) * out if keep_observed else out)


class SeparationPrior(nn.Module):
    """Two source priors and one mask prior (Sec. 4.3, after Double-DIP / Deep Audio Prior).

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
    """Prior output (B, 5, F, T) -> the two source spectrograms m*s1 and (1-m)*s2."""
    m = out[:, 4:5]
    return m * out[:, 0:2], (1 - m) * out[:, 2:4]


def _magnitude(spec: torch.Tensor) -> torch.Tensor:
    """|S| with a finite gradient at 0 (sqrt's derivative is infinite there)."""
    return (spec.pow(2).sum(1) + 1e-8).sqrt()


def _grad_exclusion(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Gradient exclusion (Zhang et al. 2018, used by Double-DIP and Deep Audio Prior): sources
    should rarely have edges at the same time-frequency places. a, b: (B, F, T) magnitudes."""
    total = 0
    for dim in (1, 2):
        ga, gb = torch.diff(a, dim=dim), torch.diff(b, dim=dim)
        # each gradient field relative to its own mean size: scale-free, and a silent source
        # (all-zero gradients) contributes zero instead of 0/0
        ga = ga / (ga.abs().mean((1, 2), keepdim=True) + 1e-6)
        gb = gb / (gb.abs().mean((1, 2), keepdim=True) + 1e-6)
        total = total + (torch.tanh(ga) * torch.tanh(gb)).pow(2).mean((1, 2))
    return total


def separation_regularizer(observation: torch.Tensor, exclusion: float = 0.1, binary: float = 0.01,
                           smooth: float = 0.01, balance: float = 1.0, min_share: float = 0.1) -> Callable:
    """The separation loss terms added to the mixture reconstruction.

    * ``exclusion`` * gradient exclusion between the magnitudes of the two estimates
      (keeps them apart: without it, s1 = s2 = mixture is a perfect fit);
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
        share = _energy_share(e1, e2)
        collapse = (torch.relu(min_share - share) + torch.relu(share - (1 - min_share))) / min_share
        return (exclusion * _grad_exclusion(_magnitude(e1) / s, _magnitude(e2) / s)
                + binary * (m * (1 - m)).mean((1, 2))
                + smooth * torch.diff(m, dim=2).abs().mean((1, 2))
                + balance * collapse)

    return regularizer


def _relative_mse(observation):
    power = observation.pow(2).mean((1, 2, 3)).clamp_min(1e-12)

    def loss(pred, obs):
        return (pred - obs).pow(2).flatten(1).mean(1) / power.to(pred.device)

    return loss


def permutation_snr(reference, estimate) -> float:
    """Mean SNR of two estimates against two references under the best ordering."""
    perm = best_permutation(reference, estimate)
    return sum(snr(reference[i], estimate[j]) for i, j in enumerate(perm)) / len(perm)


SEPARATION_METHODS = ("hp", "dap", "masks")
DEFAULT_SEPARATION = "hp"  # chosen by measurement (docs/separation.md)


def separate(mixture, prior="exp_dense", iterations: int = 2000, seed=0, references=None, method=DEFAULT_SEPARATION,
             exclusion: float | None = None, binary: float | None = None, smooth: float | None = None,
             balance: float | None = None, prior_options: dict | None = None, recipe: dict | None = None,
             hop: int = HOP, **fit_options) -> FitResult:
    """Separate a two-source mixture with deep priors (Sec. 4.3).

    Methods (``method``; :mod:`daptools.separation` describes the recipes):

    * ``"hp"`` (default, chosen by measurement: docs/separation.md): one mask prior (a sigmoid per
      time-frequency bin, masks m and 1 - m) shares out the mixture; squared differences of the
      square-rooted magnitudes along time on the first estimate and along frequency on the second,
      each relative to the mixture's own (one sustained, one percussive source: the
      harmonic/percussive model of piano + drums); restarts when the blind collapse check fires;
    * ``"dap"``: Tian et al.'s Deep Audio Prior recipe on this project's U-Nets (ReLU magnitude
      sources with the mixture's phase, two per-frame masks, L1 + temporal differences +
      multi-scale exclusion + mask sum, binary loss late, input noise, Adam 3e-4 decayed, restarts);
    * ``"masks"``: the earlier model: two complex source priors and a sigmoid mask prior,
      m*s1 + (1-m)*s2, MSE plus :func:`separation_regularizer` (exclusion, binary, smooth, balance).

    Args:
        mixture (Tensor): (samples,) or (batch, samples).
        prior (str | nn.Module | callable): the design of every U-Net ("plain", "dilated", "exp",
            "exp_dense"); the "masks" method also takes a SeparationPrior module or factory.
        iterations (int): the most Adam steps per fit (the blind rule usually stops earlier).
        seed (int): seeds the weights and z (a restart or an extra try adds 1000 per attempt).
        references (Tensor | None): clean sources (2, samples) or (batch, 2, samples), only for
            monitoring/oracle; the score is the mean SNR under the best ordering of the estimates.
        method (str): "hp", "dap" or "masks".
        exclusion, binary, smooth, balance (float | None): regulariser weights; None: the method's
            own ("masks": 0.1, 0.01, 0.01, 1.0; ``smooth`` is the "masks" method's only).
        prior_options (dict): options for each U-Net (e.g. ``{"channels": (16, 32, 64)}``).
        recipe (dict | None): any other :class:`daptools.separation.Recipe` field of "hp"/"dap",
            e.g. ``{"tries": 3, "masks": "frame"}``.
        hop (int): spectrogram hop (default 64).
        **fit_options: anything :func:`daptools.fit` takes (lr, schedule, select, stopping, ...);
            lr, schedule and input_noise default to the recipe's.

    Returns:
        FitResult: ``.audio`` is (2, samples) (order arbitrary: evaluate with
        :func:`daptools.metrics.best_permutation` or BSS Eval's permutation). ``.output`` holds
        [e1 re, e1 im, e2 re, e2 im, m1, m2] ("hp", "dap"; :func:`daptools.separation.estimates`)
        or [s1, s2, mask] ("masks"; :func:`split_sources`); "hp"/"dap" results also carry
        ``attempts``: per problem, each fit's seed, blind loss, energy share and which was kept.
    """
    if "seeds" in fit_options:
        raise DapError("separate has no ensembles (seeds=K): each member orders its sources its own way, so "
                       "their average would mix them; fit one seed at a time")
    if method not in SEPARATION_METHODS:
        raise DapError(f"separate: unknown method {method!r}; choose one of {', '.join(SEPARATION_METHODS)}")
    clips, hop = _clips(mixture), check_hop(hop)
    if method == "masks":
        if recipe:
            raise DapError("separate: recipe= options belong to the 'hp' and 'dap' methods, not 'masks'")
        return _separate_masks(clips, prior, iterations, seed, references, 0.1 if exclusion is None else exclusion,
                               0.01 if binary is None else binary, 0.01 if smooth is None else smooth,
                               1.0 if balance is None else balance, prior_options, hop, fit_options)
    from . import separation
    if smooth is not None:
        raise DapError(f"separate: smooth is a weight of the 'masks' method; for {method!r} set "
                       "recipe={'temporal': ...}")
    overrides = {k: v for k, v in (("exclusion", exclusion), ("binary", binary), ("balance", balance))
                 if v is not None}
    r = separation.RECIPES[method].with_options(**overrides, **(recipe or {}))
    result = separation.fit_recipe(clips, r, prior=prior, iterations=iterations, seed=seed,
                                   references=references, hop=hop, prior_options=prior_options,
                                   score=permutation_snr, fit_options=fit_options)
    _warn_collapsed(separation.energy_share(result.output))
    result.method = method
    return result


def _warn_collapsed(shares: torch.Tensor) -> None:
    for i, share in enumerate(shares.tolist()):
        if min(share, 1 - share) < COLLAPSE_SHARE:
            warnings.warn(f"separate: clip {i}: one estimate holds {100 * max(share, 1 - share):.0f} % of the "
                          f"energy (the mask collapsed); rerun with another seed", stacklevel=3)


def _separate_masks(clips, prior, iterations, seed, references, exclusion, binary, smooth, balance,
                    prior_options, hop, fit_options) -> FitResult:
    """The "masks" method of :func:`separate` (two complex source priors, one sigmoid mask prior)."""
    spec = to_spectrogram(clips, hop=hop)
    length = clips.shape[-1]
    opts = prior_options or {}
    # a name builds three U-Nets of that design; a SeparationPrior module or a factory is used as is
    factory = (lambda s: SeparationPrior(prior, seed=s, **opts)) if isinstance(prior, str) else prior

    def decode(out):
        e1, e2 = split_sources(out)
        return torch.stack([to_waveform(e1, length, hop=hop).reshape(out.shape[0], -1),
                            to_waveform(e2, length, hop=hop).reshape(out.shape[0], -1)], 1)

    fit_options.setdefault("statistic", lambda out: torch.cat(split_sources(out), 1))  # the rule watches the estimates
    result = fit(factory, spec, forward=lambda out: sum(split_sources(out)), loss=_relative_mse(spec),
                 regularizer=separation_regularizer(spec, exclusion, binary, smooth, balance),
                 iterations=iterations, seed=seed, reference=references, decode=decode,
                 score=permutation_snr, **fit_options)
    _warn_collapsed(source_shares(result.output))
    result.method = "masks"
    return result



def source_shares(output: torch.Tensor) -> torch.Tensor:
    """Share of the energy held by the first estimate, per clip: (B, 5, F, T) -> (B,).

    A blind check (no reference): near 0 or 1 means one source took everything. The mask's
    sigmoid then saturates and its gradient vanishes, so the fit rarely recovers; ``separate``
    warns when a share is below ``COLLAPSE_SHARE``."""
    return _energy_share(*split_sources(output.detach().float()))


def _energy_share(e1: torch.Tensor, e2: torch.Tensor) -> torch.Tensor:
    """Share of the energy in e1, per clip (the balance hinge and the collapse warning use it)."""
    p1, p2 = e1.pow(2).mean((1, 2, 3)), e2.pow(2).mean((1, 2, 3))
    return p1 / (p1 + p2 + 1e-12)
