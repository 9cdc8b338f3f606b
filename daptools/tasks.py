"""Restoration tasks, the user's entry points: denoise, inpaint, separate (notebooks 07-09).

Each is a thin layer over :func:`daptools.fit`: a task supplies the forward model, the loss and
how to turn the prior's output into audio; the optimisation is always the same loop. Separation's
models, losses and restarts live in :mod:`daptools.separation`; :func:`separate` checks its
arguments and hands them to the method.
"""
from __future__ import annotations

from typing import Callable

import torch

from . import separation
from ._checks import DapError, as_waveform
from .corruptions import GapMask, estimate_noise_std, holdout_frames
from .ensemble import Ensemble
from .fit import FitResult, fit
from .separation import DEFAULT_SEPARATION, SEPARATION_METHODS
from .spectral import HOP, check_hop, decoder, to_spectrogram, white_noise_power
from .stopping import task_rule

HOLDOUT_SECONDS = None  # inpainting's held-out blocks: off, measured worse than the loss plateau (docs/stopping.md)


def _rule_runs(fit_options: dict) -> bool:
    """Whether :func:`daptools.fit` will run the blind rule (so the task should hand it what it knows)."""
    return fit_options.get("select", "auto") == "auto" or fit_options.get("stopping") is not None


def _clips(wav) -> torch.Tensor:
    """(samples,) or (batch, samples) -> (batch, samples), each clip checked."""
    wav = torch.as_tensor(wav) if not isinstance(wav, torch.Tensor) else wav
    if wav.ndim == 2 and wav.shape[0] > 1:
        return torch.stack([as_waveform(w) for w in wav])
    return as_waveform(wav)[None]


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
    if _rule_runs(fit_options):
        fit_options["stopping"] = task_rule(
            "denoise", fit_options.get("stopping"), hop=hop,
            floor=[white_noise_power(x.numel(), estimate_noise_std(x), hop=hop) for x in ens.repeat(clips)])
    result = fit(prior, to_spectrogram(ens.repeat(clips), hop=hop), iterations=iterations,
                 seed=ens.seeds(clips.shape[0]), reference=ens.repeat_reference(reference, clips.shape[0]),
                 decode=decoder(clips.shape[-1], hop), **fit_options)
    return ens.combine(result, reference, score=fit_options.get("score"))


def inpaint(observation, mask: GapMask | torch.Tensor, prior="exp_dense", iterations: int = 2000, seed=0,
            reference=None, keep_observed: bool = True, hop: int = HOP, seeds: int | None = None,
            combine: str = "spectrogram", holdout: float | None = HOLDOUT_SECONDS, **fit_options) -> FitResult:
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
        holdout (float | None): with the blind rule (``select="auto"``), blocks of this many seconds
            of observed frames (about a tenth of them, :func:`daptools.corruptions.holdout_frames`)
            are hidden from the loss, and the fit stops where its error on them is smallest; the
            result keeps them as observed. None or 0 (default; it stopped worse than the loss plateau
            on the dev clips, docs/stopping.md): no hold-out.
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
    fit_k = m_k  # what the loss sees: the observed frames less any held out
    rule_runs = _rule_runs(fit_options)
    if rule_runs:  # the loss on the observed frames levels off once the gaps are filled (docs/stopping.md)
        fit_options["stopping"] = task_rule("inpaint", fit_options.get("stopping"), hop=hop)
    if holdout and rule_runs and "validation" not in fit_options:
        held = holdout_frames(m_k, seconds=holdout, hop=hop, seed=seed if isinstance(seed, int) else 0)
        if held.sum() > 0:
            fit_k = m_k * (1 - held)
            fit_options["validation"] = _heldout_error(ens.repeat(spec), held)
    result = fit(prior, obs_k * fit_k, forward=lambda out: out * fit_k.to(out.device), iterations=iterations,
                 seed=ens.seeds(clip.shape[0]), reference=ens.repeat_reference(reference, clip.shape[0]),
                 decode=_gap_decoder(obs_k, m_k, clip.shape[-1], hop, keep_observed), **fit_options)
    return ens.combine(result, reference, decode=_gap_decoder(obs, m, clip.shape[-1], hop, keep_observed),
                       score=fit_options.get("score"))


def _heldout_error(spec: torch.Tensor, held: torch.Tensor) -> Callable:
    """Per problem, the mean squared error of the output on the held-out frames of ``spec``."""
    def error(out):
        h = held.to(out.device).expand_as(out)
        return ((out - spec.to(out.device)).pow(2) * h).flatten(1).sum(1) / h.flatten(1).sum(1)
    return error


def _gap_decoder(obs: torch.Tensor, m: torch.Tensor, length: int, hop: int, keep_observed: bool) -> Callable:
    """Prior output -> waveform, keeping the observed frames (``keep_observed``) of ``obs``."""
    decode_raw = decoder(length, hop)
    return lambda out: decode_raw(obs + (1 - m) * out if keep_observed else out)


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
    * ``"paper"``: the paper's own model (Sec. 4.3): two sound priors (magnitudes with the mixture's
      phase) and one mask prior per bin, m*s1 + (1-m)*s2, with Tian et al.'s losses (L1 + temporal
      differences + exclusion, binary loss late, input noise), Adam 1e-3, restarts;
    * ``"masks"``: the earlier model: two complex source priors and a sigmoid mask prior,
      m*s1 + (1-m)*s2, MSE plus :func:`daptools.separation.separation_regularizer` (exclusion,
      binary, smooth, balance).

    Args:
        mixture (Tensor): (samples,) or (batch, samples).
        prior (str | nn.Module | callable): the design of every U-Net ("plain", "dilated", "exp",
            "exp_dense"); the "masks" method also takes a SeparationPrior module or factory.
        iterations (int): the most Adam steps per fit (the blind rule usually stops earlier).
        seed (int): seeds the weights and z (a restart or an extra try adds 1000 per attempt).
        references (Tensor | None): clean sources (2, samples) or (batch, 2, samples), only for
            monitoring/oracle; the score is the mean SNR under the best ordering of the estimates.
        method (str): "hp" (the default), "dap" (Tian et al.'s recipe), "paper" (the paper's model: two
            sound priors and one mask prior) or "masks".
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
        or [s1, s2, mask] ("masks"; :func:`daptools.separation.split_sources`); "hp"/"dap" results also carry
        ``attempts``: per problem, each fit's seed, blind loss, energy share and which was kept.
    """
    if "seeds" in fit_options:
        raise DapError("separate has no ensembles (seeds=K): each member orders its sources its own way, so "
                       "their average would mix them; fit one seed at a time")
    if method not in SEPARATION_METHODS:
        raise DapError(f"separate: unknown method {method!r}; choose one of {', '.join(SEPARATION_METHODS)}")
    clips, hop = _clips(mixture), check_hop(hop)
    weights = {k: v for k, v in (("exclusion", exclusion), ("binary", binary), ("smooth", smooth),
                                 ("balance", balance)) if v is not None}
    if method == "masks":
        if recipe:
            raise DapError("separate: recipe= options belong to the 'hp' and 'dap' methods, not 'masks'")
        result = separation.fit_masks(clips, prior, iterations, seed, references, prior_options=prior_options,
                                      hop=hop, fit_options=fit_options, **weights)
        separation.warn_collapsed(separation.source_shares(result.output))
    else:
        if smooth is not None:
            raise DapError(f"separate: smooth is a weight of the 'masks' method; for {method!r} set "
                           "recipe={'temporal': ...}")
        r = separation.RECIPES[method].with_options(**weights, **(recipe or {}))
        result = separation.fit_recipe(clips, r, prior=prior, iterations=iterations, seed=seed,
                                       references=references, hop=hop, prior_options=prior_options,
                                       score=separation.permutation_snr, fit_options=fit_options)
        separation.warn_collapsed(separation.energy_share(result.output))
    result.method = method
    return result
