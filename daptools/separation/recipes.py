"""Separation recipes: what the "hp" and "dap" methods fit, as data (Sec. 4.3; notebook 09).

:func:`daptools.separate` is the entry point; this module names the recipes it can fit. Every
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
U-Net priors allow: two sound priors and two per-frame mask priors), ``"paper"`` (the paper's own
model, Sec. 4.3: two sound priors and one mask prior, m and 1 - m, with Tian et al.'s losses) and ``"hp"`` (the package default, chosen by measurement: docs/separation.md).
:func:`daptools.separation.hpss` is a prior-free baseline (median-filtering harmonic/percussive separation), not a
method of the package's priors.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

from .._checks import DapError, check_options

SEPARATION_METHODS = ("hp", "dap", "paper", "masks")   # "masks": the earlier model (models.SeparationPrior)
DEFAULT_SEPARATION = "hp"  # chosen by measurement (docs/separation.md)
SOURCES = ("magnitude", "complex", "mixture")
MASKS = ("bin", "frame")
COMBINES = ("independent", "softmax", "complement")
LOSSES = ("l1", "mse")
TERM_SCALES = ("mixture", "level")


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
        term_scale (str): the units of the temporal/spectral/exclusion terms. "mixture": each term divided
            by the mixture's own (scale-free: a source holding the whole mixture costs 1, silence costs 0);
            "level": magnitudes in units of the mixture's mean magnitude, the units of the reconstruction, with
            no further division (Tian et al.'s raw terms, up to the STFT's scale: a smooth share of the
            mixture then costs less than leaving it unexplained).
        mask_sum (float): weight of mean |m1 + m2 - 1| where the mixture has energy (independent masks).
        binary (float): weight of the binary-mask loss mean m(1 - m).
        binary_from (float): fraction of the budget after which the binary loss is on.
        warmup (int): iterations fitted to the reconstruction alone before the other terms switch on (0: none).
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
    term_scale: str = "mixture"
    mask_sum: float = 0.0
    binary: float = 0.0
    binary_from: float = 0.9
    warmup: int = 0
    balance: float = 0.0
    min_share: float = 0.1
    lr: float = 1e-3
    schedule: str | None = None
    input_noise: float = 0.0
    restarts: int = 0
    tries: int = 1

    def __post_init__(self):
        for name, value, allowed in (("sources", self.sources, SOURCES), ("masks", self.masks, MASKS),
                                     ("combine", self.combine, COMBINES), ("loss", self.loss, LOSSES),
                                     ("term_scale", self.term_scale, TERM_SCALES)):
            if value not in allowed:
                raise DapError(f"separation recipe: {name} must be one of {', '.join(allowed)}, got {value!r}")
        if self.sources == "mixture" and self.combine == "independent":
            raise DapError("separation recipe: sources='mixture' needs masks that sum to one "
                           "(combine='softmax' or 'complement')")
        if self.restarts < 0 or self.tries < 1 or self.exclusion_scales < 1 or self.warmup < 0:
            raise DapError("separation recipe: restarts >= 0, tries >= 1, exclusion_scales >= 1 and warmup >= 0")
        if not 0 <= self.binary_from <= 1:
            raise DapError(f"separation recipe: binary_from is a fraction of the budget, got {self.binary_from}")

    def with_options(self, **options) -> "Recipe":
        """This recipe with some fields replaced (one-line DapError for an unknown field)."""
        check_options(options, {f.name for f in fields(Recipe)}, "separation")
        return replace(self, **options)


RECIPES = {
    # Tian et al.'s Deep Audio Prior recipe on this project's U-Nets: non-negative (softplus) magnitude sources with the
    # mixture's phase, two mask priors averaged over frequency (one gain per frame), L1 reconstruction,
    # L1 temporal differences, multi-scale exclusion, mask-sum penalty, binary loss (0.01) late, fresh
    # input noise, Adam 3e-4 decayed by 10 (their 2000 of 5000 iterations: "step" here), restarts on collapse.
    "dap": Recipe(sources="magnitude", masks="frame", combine="independent", loss="l1", temporal=1.0,
                  exclusion=1.0, mask_sum=1.0, binary=0.01, binary_from=0.9, lr=3e-4, schedule="step",
                  input_noise=0.03, restarts=2),
    # the paper's own model (Sec. 4.3): two sound priors and ONE mask prior, m * s1 + (1 - m) * s2, with Tian et al.'s
    # losses (L1 reconstruction, temporal differences, exclusion, the late binary-mask loss; the mask-sum penalty is
    # moot with m and 1 - m) and the paper's lr 1e-3; magnitude sources with the mixture's phase as in Tian et al.;
    # the mask per time-frequency bin (the paper's mask is a U-Net output, which has one value per bin)
    # the terms in the mixture's level units, as Tian et al.'s raw ones: relative to the mixture's own terms the fit
    # went silent within 20 iterations on every mixture tried (docs/separation.md, "The paper's model")
    "paper": Recipe(sources="magnitude", masks="bin", combine="complement", loss="l1", temporal=1.0, exclusion=1.0,
                    term_scale="level", binary=0.01, binary_from=0.9, lr=1e-3, schedule=None, input_noise=0.03,
                    restarts=2),
    # the default, chosen by measurement (docs/separation.md)
    "hp": Recipe(sources="mixture", masks="bin", combine="complement", loss="l1", temporal=1.0, spectral=1.0,
                 roles=True, power=2.0, compress=0.5, exclusion=0.0, lr=3e-3, restarts=2),
}
