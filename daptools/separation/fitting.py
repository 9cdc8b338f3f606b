"""Separation fitting: each method's fits, restarts and blind choice (notebook 09).

:func:`fit_recipe` fits a :class:`~daptools.separation.recipes.Recipe` ("hp", "dap"): ``tries``
seeds, restarts when the blind collapse check fires, the lowest blind loss kept per problem.
:func:`fit_masks` fits the "masks" method once. :func:`daptools.separate` calls them.
"""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
import torch

from .._checks import DapError
from ..fit import FitResult, fit
from ..spectral import HOP, to_spectrogram
from ..stopping import task_rule
from .models import MaskedSources, SeparationPrior, estimates, source_decoder, split_sources
from .objective import Objective, collapsed, energy_share, permutation_snr, relative_mse, separation_regularizer
from .recipes import Recipe


def fit_recipe(clips: torch.Tensor, recipe: Recipe, prior="exp_dense", iterations: int = 2000, seed: int = 0,
               references=None, hop: int = HOP, prior_options: dict | None = None, score: Callable | None = None,
               fit_options: dict | None = None) -> FitResult:
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
    if not isinstance(prior, str):
        raise DapError(f"separation method recipes take a prior name ({', '.join(['plain', 'dilated', 'exp', 'exp_dense'])}), "
                       f"got {type(prior).__name__}")
    opts = dict(fit_options or {})
    if opts.get("select", "auto") == "auto" or opts.get("stopping") is not None:
        opts["stopping"] = task_rule("separate", opts.get("stopping"), hop=hop)  # the objective's plateau (stopping.TASK_RULES)
    opts.setdefault("lr", recipe.lr)
    opts.setdefault("schedule", recipe.schedule)
    opts.setdefault("input_noise", recipe.input_noise)
    spec = to_spectrogram(clips, hop=hop)
    batch, length = clips.shape[0], clips.shape[-1]
    decode = source_decoder(estimates, length, hop)
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
        failed = [i for i in range(batch) if collapsed(best["share"][i])]
        todo = list(range(batch)) if attempt + 1 < recipe.tries else failed
    result = best["result"]
    for a in attempts:
        ok = [not collapsed(x["share"]) for x in a]   # the lowest blind loss among the non-collapsed fits
        kept = int(np.argmin([x["blind_loss"] if o or not any(ok) else np.inf for x, o in zip(a, ok)]))
        for k, x in enumerate(a):
            x["kept"] = k == kept
    result.attempts = attempts
    result.fits = fits
    return result


def _merge(best, res, idx, losses, shares, batch):
    """Keep, per problem, the better fit: a non-collapsed one before a collapsed one, then the lower blind loss."""
    if best is None:
        assert len(idx) == batch
        return {"result": res, "loss": np.asarray(losses, float).copy(), "share": np.asarray(shares, float).copy()}
    old = best["result"]
    for j, i in enumerate(idx):
        new_key = (collapsed(shares[j]), losses[j])
        old_key = (collapsed(best["share"][i]), best["loss"][i])
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


def fit_masks(clips: torch.Tensor, prior="exp_dense", iterations: int = 2000, seed=0, references=None,
              exclusion: float = 0.1, binary: float = 0.01, smooth: float = 0.01, balance: float = 1.0,
              prior_options: dict | None = None, hop: int = HOP, fit_options: dict | None = None) -> FitResult:
    """The "masks" method: two complex source priors and one sigmoid mask prior (:class:`SeparationPrior`),
    MSE relative to the mixture plus :func:`~daptools.separation.objective.separation_regularizer`.

    ``prior`` is a design name (three U-Nets of it), a SeparationPrior module or a factory f(seed);
    the other arguments as in :func:`fit_recipe` and :func:`daptools.separate`.
    """
    opts = dict(fit_options or {})
    spec = to_spectrogram(clips, hop=hop)
    popts = prior_options or {}
    factory = (lambda s: SeparationPrior(prior, seed=s, **popts)) if isinstance(prior, str) else prior
    opts.setdefault("statistic", lambda out: torch.cat(split_sources(out), 1))  # the rule watches the estimates
    return fit(factory, spec, forward=lambda out: sum(split_sources(out)), loss=relative_mse(spec),
               regularizer=separation_regularizer(spec, exclusion, binary, smooth, balance),
               iterations=iterations, seed=seed, reference=references,
               decode=source_decoder(split_sources, clips.shape[-1], hop), score=permutation_snr, **opts)


def warn_collapsed(shares: torch.Tensor, stacklevel: int = 3) -> None:
    """A warning per clip whose estimates collapsed (one holds nearly all the energy)."""
    for i, share in enumerate(shares.tolist()):
        if collapsed(share):
            warnings.warn(f"separate: clip {i}: one estimate holds {100 * max(share, 1 - share):.0f} % of the "
                          f"energy (the mask collapsed); rerun with another seed", stacklevel=stacklevel)
