"""Two-source separation: every model, loss and fitting rule of :func:`daptools.separate` (Sec. 4.3;
notebook 09 teaches it).

One concern, five parts:

* :mod:`.recipes`: :class:`Recipe` and :data:`RECIPES`, what the "hp" (default) and "dap" methods
  fit, as data (the module docstring describes every choice);
* :mod:`.models`: the modules fitted: :class:`MaskedSources` ("hp", "dap") and the earlier
  :class:`SeparationPrior` ("masks"), how to read their outputs, and :func:`memory_model` (the
  module one problem of a method fits, for GPU batch sizing);
* :mod:`.objective`: the losses (one gradient exclusion, :func:`exclusion_loss`), the blind
  collapse check and the monitoring score;
* :mod:`.fitting`: :func:`fit_recipe` (tries, restarts, blind choice) and :func:`fit_masks`;
* :mod:`.baselines`: :func:`hpss`, a prior-free baseline.

``from daptools import separation as S`` gives all the public names below.
"""
from .baselines import hpss
from .fitting import fit_masks, fit_recipe, warn_collapsed
from .models import (MaskedSources, SeparationPrior, estimates, masks_of, memory_model, sound_magnitudes,
                     source_decoder, split_sources)
from .objective import (COLLAPSE_SHARE, Objective, collapsed, energy_share, exclusion_loss, permutation_snr,
                        relative_mse, separation_regularizer, source_shares)
from .recipes import (COMBINES, DEFAULT_SEPARATION, LOSSES, MASKS, RECIPES, SEPARATION_METHODS, SOURCES,
                      Recipe)

__all__ = [
    "Recipe", "RECIPES", "SOURCES", "MASKS", "COMBINES", "LOSSES", "SEPARATION_METHODS", "DEFAULT_SEPARATION",
    "MaskedSources", "estimates", "masks_of", "sound_magnitudes", "SeparationPrior", "split_sources", "source_decoder",
    "memory_model", "Objective", "exclusion_loss", "separation_regularizer", "relative_mse", "energy_share",
    "source_shares", "collapsed", "COLLAPSE_SHARE", "permutation_snr", "fit_recipe", "fit_masks",
    "warn_collapsed", "hpss",
]
