"""Blind stopping: when a fit has stopped improving, without the clean signal (notebook 04).

A deep prior first fits the structure of the signal and later the noise, so the quality of
its output rises to a peak and falls again (or, with a narrow network, is still rising when
the budget ends). The clean signal that would show the peak is not available in real use.
This module watches the fit, *blindly*, and decides for each problem of a batch which
iterate to return and when to stop. Two signals, each measured against the alternatives in
docs/stopping.md:

* **The noise floor (discrepancy principle).** A task that knows how much of its loss is
  noise hands the rule that level (``Stopping.floor``, per problem): denoising estimates the
  noise power of the observation. Once the loss falls to ``floor_factor`` times the floor,
  the output explains the observation down to its noise: from here on, the fit reproduces
  the noise. The problem stops, and the iterate of that moment is its result.
* **A plateau of the loss**, for a task that hands ``loss_plateau=True`` (denoising,
  inpainting, and separation with a window of 100 iterations, where the loss is its whole
  objective): once the mean loss of the last ``loss_window`` iterations is less than
  ``loss_tolerance`` (relative) below that of the window before, the fit has fitted what it
  will fit quickly, and what it fits from then on (slowly) is mostly noise, or detail that
  barely changes the result: it stops with its current iterate (or, with ``plateau_average``,
  the moving average of the iterates it observed, which gives back part of what a fit that
  peaked before the plateau lost since, and lags behind one still rising: an option, off by
  default, docs/stopping.md; or, with ``plateau_pick``, the observed iterate whose residual is most
  stationary, see below). A problem with a floor is
  stopped this way only while its loss is above ``loss_floor_ratio`` times the floor, i.e. where
  the floor is out of reach (coloured noise, which the white-noise floor under-counts: the loss
  levelled off at 4.5-14 times it on the dev fits, white-noise fits at 1.0-1.6 times; those go
  on to their floor or their budget as before).
* **The error on held-out data (self-validation)**, for a task that hides part of what it
  observes from the loss and hands the rule ``validation(output) -> (B,)``, the error of the
  output on that part (inpainting hides frames it observes, as if they were gaps). For noise
  independent of the signal that error is the true error plus a constant, so its minimum is the
  best iterate without any noise model: the candidate is the iterate at the smallest error so
  far, and the problem stops once ``holdout_patience`` iterations pass without a new minimum.
* **A plateau of the output (ES-WMV, Wang et al., arXiv 2112.06074)**, for tasks with neither a
  floor nor held-out data (separation turns its stop off: on Table 4's mixtures it stopped at
  iterates 0.8-0.9 dB below the last; docs/stopping.md). Every ``every`` iterations the watched statistic of the
  output (the output itself, or what a task hands in: the gaps of an inpainting problem, the
  estimates of a separation) enters a window of the last ``window`` iterations. The variance
  over the window, relative to its energy, falls while the fit settles; the candidate is the
  iterate at the smallest variance so far, and the problem stops once ``patience`` iterations
  pass without a new minimum.

**Which iterate a loss-plateau stop returns: the most stationary residual** (``plateau_pick``, an option
for denoising, off by default). A recorded noise is stationary and the signal is not, so the residual of an iterate
(observation - output) looks most like the noise alone, with the least of the signal left in it and the
least of the noise fitted, where its magnitude in each frequency varies least over time. The rule scores every
observed iterate by that stationarity (:func:`residual_stationarity`) and, at a loss-plateau stop, returns
the best-scoring one among those whose loss was at most ``plateau_pick`` times the loss of the stop (an
early iterate that has not yet fitted the signal can look stationary too). It keeps only the iterates
that could still win (no later one with a lower loss and a higher score). On exp_dense's recorded-noise
fits on digits and piano it returned the peak that the loss plateau stops 100-200 iterations after, but on
continuous speech, still improving at the stop, it returned iterates 0.3-0.5 dB below it, so it is not the
default (docs/stopping.md, "A residual that looks like noise").

A problem with a floor is not stopped by the plateau: on denoising fits the floor was right
where the plateau was not (a fit still climbing slowly looks flat to it, and one that has
begun to reproduce the noise keeps changing; docs/stopping.md). A problem that reaches
neither ends with the budget and returns its last iterate.

The rule only sees outputs and losses, never a reference.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, fields, replace
from typing import Callable

import numpy as np
import torch

from ._checks import DapError, check_options


@dataclass(frozen=True)
class Stopping:
    """Settings of the blind stopping rule (see the module docstring).

    Attributes:
        window (int): iterations in the moving-variance window.
        patience (int | None): iterations without a new variance minimum before a problem
            without a floor stops; None: the plateau never stops a fit (its candidate is kept).
        every (int): iterations between observations (the window holds window // every outputs).
        min_iterations (int): no stop before this many iterations.
        average (bool): on a plateau, the candidate is the mean of the window's outputs
            (True) or the output at the window's end (False).
        floor (float | tuple | None): per problem (or one for all), the loss below which the
            fit reproduces noise; set by the task (None: no floor, only the plateau).
        floor_factor (float): stop when the loss is at most ``floor_factor * floor``.
        loss_plateau (bool | None): run the loss-plateau test; None: as the task says (denoising
            and inpainting turn it on, see :meth:`for_task`), False: never.
        loss_window (int): the window of the loss-plateau test, in iterations.
        loss_tolerance (float): the relative fall of the mean loss from one window to the next
            below which a problem stops.
        loss_floor_ratio (float): a problem with a floor is stopped by the loss plateau only while
            its loss is above this many times its floor.
        plateau_average (float | None): at a loss-plateau stop, the result is the exponential moving
            average of the outputs the rule observed (one every ``every`` iterations), with this factor
            per iteration (0.98: a memory of about 50 iterations), instead of the iterate of the stop;
            None (default): the iterate. Stops at a floor or the budget are not averaged.
        plateau_pick (float | None): at a loss-plateau stop, the result is the observed iterate whose
            residual is most stationary (:func:`residual_stationarity`) among those whose loss was at most
            this many times the loss at the stop (2.0 measured best); None (default): the iterate of the stop.
            Needs the residual (``Monitor(residual=...)``, which :func:`daptools.fit` hands); not with
            ``plateau_average``. ``dap.denoise(..., stopping={"plateau_pick": 2.0})`` turns it on.
        holdout_patience (int): with held-out data, iterations without a new minimum of its error
            before a problem stops.
        halt (bool): end the fit once every problem has stopped (default). False keeps fitting
            to the budget with each choice frozen where the rule stopped, so that the last
            iterate and the oracle cover the whole budget (for studies).
    """
    window: int = 100
    patience: int | None = 300
    every: int = 5
    min_iterations: int = 100
    average: bool = False
    floor: float | tuple | None = None
    floor_factor: float = 1.0
    loss_plateau: bool | None = None
    loss_window: int = 50
    loss_tolerance: float = 0.1
    loss_floor_ratio: float = 3.0
    plateau_average: float | None = None
    plateau_pick: float | None = None
    holdout_patience: int = 100
    halt: bool = True

    def __post_init__(self):
        if self.every < 1 or self.window < 2 * self.every:
            raise DapError(f"stopping: window ({self.window}) must hold at least two observations "
                           f"(every={self.every})")
        if self.patience is not None and self.patience < self.every:
            raise DapError(f"stopping: patience ({self.patience}) must be at least every ({self.every}) iterations")
        if self.min_iterations < 0:
            raise DapError(f"stopping: min_iterations must be >= 0, got {self.min_iterations}")
        if self.loss_window < self.every or self.loss_window % self.every:
            raise DapError(f"stopping: loss_window ({self.loss_window}) must be a multiple of every ({self.every})")
        if self.holdout_patience < self.every:
            raise DapError(f"stopping: holdout_patience ({self.holdout_patience}) must be at least every "
                           f"({self.every}) iterations")
        if self.plateau_average is not None and not 0 < self.plateau_average < 1:
            raise DapError(f"stopping: plateau_average is a factor per iteration in (0, 1), got {self.plateau_average}")
        if self.plateau_pick is not None and not self.plateau_pick >= 1:
            raise DapError(f"stopping: plateau_pick is a loss ratio of at least 1, got {self.plateau_pick}")
        if self.plateau_pick is not None and self.plateau_average is not None:
            raise DapError("stopping: plateau_pick and plateau_average both choose the result of a loss-plateau "
                           "stop; set one of them")
        if self.floor_factor <= 0:
            raise DapError(f"stopping: floor_factor must be positive, got {self.floor_factor}")

    @classmethod
    def coerce(cls, value) -> "Stopping":
        """None -> the defaults; a dict -> those fields; a Stopping -> itself."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            check_options(value, {f.name for f in fields(cls)}, "stopping")
            return cls(**value)
        raise DapError(f"stopping must be None, a dict or a Stopping, got {type(value).__name__}")

    def with_floor(self, floor) -> "Stopping":
        """The same settings with a task's noise floor (kept if the caller already set one)."""
        if self.floor is not None:
            return self
        return replace(self, floor=tuple(float(f) for f in np.atleast_1d(np.asarray(floor, dtype=float))))

    def for_task(self, floor=None, loss_plateau: bool = False, given=(), **settings) -> "Stopping":
        """The same settings with what a task knows: its noise floor (None: none), whether its loss
        plateau means it is done, and other settings it measured best for itself (``settings``, e.g.
        separation's ``loss_window=100, patience=None``), each applied only where the caller left the
        default and did not name the field in ``given`` (the keys of a caller's dict, which may set a
        default value on purpose): a caller's own choices are kept."""
        rule = self if floor is None else self.with_floor(floor)
        rule = rule if rule.loss_plateau is not None else replace(rule, loss_plateau=loss_plateau)
        defaults = {f.name: f.default for f in fields(Stopping)}
        check_options(settings, set(defaults), "stopping")
        changes = {k: v for k, v in settings.items() if k not in given and getattr(rule, k) == defaults[k]}
        return replace(rule, **changes) if changes else rule

    def floors(self, batch: int) -> np.ndarray | None:
        """The floor of each of ``batch`` problems (None without a floor)."""
        if self.floor is None:
            return None
        f = np.atleast_1d(np.asarray(self.floor, dtype=float))
        if f.size == 1:
            return np.full(batch, f[0])
        if f.size != batch:
            raise DapError(f"stopping: {f.size} floors given for {batch} problems")
        return f


# What each task hands the rule (:meth:`Stopping.for_task`; each applied only where the caller left the default),
# measured in docs/stopping.md: denoising (its noise floor first, where the loss can reach it) and inpainting stop
# where their loss levels off; separation's objective levelling off over 100 iterations ends it, and the output
# plateau does not (it stopped at worse iterates: chosen on Table 4's mixtures 0-4, tested on 5-9).
TASK_RULES = {"denoise": {"loss_plateau": True}, "inpaint": {"loss_plateau": True},
              "separate": {"loss_plateau": True, "loss_window": 100, "patience": None}}
# ... and what a task's fits need at a spectrogram hop other than the one its rule was chosen at (256): at the
# paper's hop 64 a denoising fit has four times the frames and levels off later in iterations, and the 50-iteration
# loss window stopped plain and exp about 1 dB below their oracle on Table 2's cpu64 fits; a 150-iteration window
# was chosen on its digits and tested on its piano clips (docs/stopping.md, "Recorded noise at the paper's hop 64").
# Inpainting's fits at hop 64 stopped within 0.25 dB of their oracle with the 50-iteration window (Table 3 cpu64).
# Hop 128 was not measured and keeps the task's own settings.
HOP_RULES = {("denoise", 64): {"loss_window": 150}}


def task_rule(task: str, stopping=None, floor=None, hop: int | None = None) -> "Stopping":
    """The rule a task hands :func:`daptools.fit`: the caller's settings (``stopping``: None, a dict or a
    :class:`Stopping`) with what ``task`` ("denoise", "inpaint" or "separate") knows at spectrogram hop ``hop``
    (:data:`TASK_RULES`, :data:`HOP_RULES`; None: the task's own settings), and its noise floor (None: none).
    The tasks and ``studies/stopping/replay_rows.py`` both build their rule here."""
    if task not in TASK_RULES:
        raise DapError(f"stopping: no rule for task {task!r}; choose one of {', '.join(TASK_RULES)}")
    given = tuple(stopping) if isinstance(stopping, dict) else ()
    return Stopping.coerce(stopping).for_task(floor=floor, given=given,
                                              **{**TASK_RULES[task], **HOP_RULES.get((task, hop), {})})


def residual_stationarity(residual: torch.Tensor) -> torch.Tensor:
    """How stationary each problem's residual is, (B, C, F, T) -> (B,), in (0, 1]: 1 when the magnitude of
    every frequency bin is the same in every frame.

    Per frequency, the flatness of the residual's magnitude over the frames (geometric over arithmetic
    mean; 0.85 for Gaussian noise, whose magnitudes are Rayleigh), averaged over frequencies weighted by
    their mean magnitude. Stationary noise scores high; a residual that still holds the signal (words,
    notes, which come and go) scores lower, and so does one where the fit has begun to reproduce the noise
    in some frames more than in others. (Energies instead of magnitudes, weighted by energy, did worse on
    speech: docs/stopping.md, "A residual that looks like noise".)
    """
    r = residual.detach().float()
    power = r.pow(2).sum(1)                                                  # (B, F, T)
    tiny = power.flatten(1).mean(1).clamp_min(1e-30)[:, None, None] * 1e-9  # keeps log finite on silent bins
    magnitude = (power + tiny).sqrt()
    mean = magnitude.mean(-1)                                                # (B, F)
    flatness = magnitude.log().mean(-1).exp() / mean
    return (flatness * mean).sum(-1) / mean.sum(-1)


class Monitor:
    """The rule, applied to a batch of B problems during a fit.

    Call :meth:`observe` every ``rule.every`` iterations with the output and the per-problem
    loss; it returns which problems have stopped. Afterwards (:meth:`finish`), ``output`` holds
    each problem's chosen iterate, ``iteration`` where it was chosen, ``stopped_at`` where
    the problem stopped, ``reason`` why ("floor", "loss plateau", "held-out", "plateau" or "budget"), and
    ``history`` what the rule tracked over time (the relative variance, or the held-out error).
    """

    def __init__(self, rule: Stopping, batch: int, statistic: Callable | None = None,
                 validation: Callable | None = None, residual: Callable | None = None):
        self.rule, self.batch = rule, batch
        self.statistic, self.validation, self.residual = statistic, validation, residual
        if rule.plateau_pick is not None and residual is None:
            raise DapError("stopping: plateau_pick needs the residual of the fit (Monitor(residual=...))")
        self.floor = rule.floors(batch)
        size = max(2, rule.window // rule.every)
        self.recent: deque = deque(maxlen=size)     # watched statistics
        self.outputs: deque = deque(maxlen=size)    # outputs (the same objects when nothing is watched apart)
        self.best = np.full(batch, np.inf)
        self.iteration = np.zeros(batch, dtype=int)
        self.last_gain = np.zeros(batch, dtype=int)
        self.stopped = np.zeros(batch, dtype=bool)
        self.stopped_at = np.zeros(batch, dtype=int)
        self.reason = np.array(["budget"] * batch, dtype=object)
        self.output = None
        self.history_iteration: list = []
        self.history_variance: list = []
        # the losses observed over the last two loss windows (the loss-plateau test)
        self.losses: deque = deque(maxlen=2 * rule.loss_window // rule.every)
        self.average = None  # the moving average of the observed outputs (plateau_average)
        # plateau_pick: per problem, the observed iterates that could still be picked, as
        # [iteration, stationarity, loss, output]; none has a later one with a lower loss and a higher score
        self.picks: list[list] = [[] for _ in range(batch)]

    def observe(self, iteration: int, out: torch.Tensor, loss=None) -> np.ndarray:
        """Record the output (and per-problem loss) of ``iteration``; returns the stopped flags."""
        out = out.detach()
        loss = None if loss is None else np.asarray(loss, dtype=float).reshape(-1)
        if self.floor is None and self.validation is None:  # only the plateau needs the window
            with torch.no_grad():
                stat = (out if self.statistic is None else self.statistic(out)).float().reshape(self.batch, -1)
            self.recent.append(stat)
            self.outputs.append(out)
        live = ~self.stopped
        if self.floor is not None and loss is not None:
            hit = live & (loss <= self.rule.floor_factor * self.floor)
            if hit.any():
                self._choose(hit, out, iteration, iteration)
                self._stop(hit, iteration, "floor")
                live &= ~hit
        if self.rule.plateau_pick is not None and loss is not None:
            self._keep_pick(iteration, out, loss, live)
        if self.rule.plateau_average is not None:
            step = self.rule.plateau_average ** self.rule.every
            self.average = out.float().clone() if self.average is None else self.average.mul_(step).add_(
                out.float(), alpha=1 - step)
        if self.rule.loss_plateau and loss is not None:
            self._loss_plateau(iteration, out, loss, live)
            live &= ~self.stopped
        if self.floor is None and self.validation is not None:
            self._heldout(iteration, out, live)
        elif self.floor is None and len(self.recent) == self.recent.maxlen:
            self._plateau(iteration, out, live)
        return self.stopped

    def _loss_plateau(self, iteration: int, out: torch.Tensor, loss: np.ndarray, live: np.ndarray) -> None:
        self.losses.append(loss)
        if len(self.losses) < self.losses.maxlen or iteration < self.rule.min_iterations:
            return
        half = self.losses.maxlen // 2
        before, recent = np.mean(list(self.losses)[:half], 0), np.mean(list(self.losses)[half:], 0)
        flat = live & (before - recent < self.rule.loss_tolerance * before)
        if self.floor is not None:  # a floor within reach is left to the floor
            flat &= loss > self.rule.loss_floor_ratio * self.floor
        if not flat.any():
            return
        if self.rule.plateau_pick is not None:
            for b in np.flatnonzero(flat):
                it, _, _, picked = self._pick(b, loss[b])
                self._choose(np.arange(self.batch) == b, picked[None].expand_as(out), it, iteration)
        else:
            self._choose(flat, out if self.average is None else self.average.to(out.dtype), iteration, iteration)
        self._stop(flat, iteration, "loss plateau")

    def _keep_pick(self, iteration: int, out: torch.Tensor, loss: np.ndarray, live: np.ndarray) -> None:
        """Score the observed iterate of each live problem and keep it among those that could be picked."""
        with torch.no_grad():
            score = residual_stationarity(self.residual(out)).cpu().numpy().astype(float)
        for b in np.flatnonzero(live):
            kept = [e for e in self.picks[b] if not (e[1] <= score[b] and e[2] >= loss[b])]
            self.picks[b] = kept + [[iteration, float(score[b]), float(loss[b]), out[b].clone()]]

    def _pick(self, b: int, loss_now: float) -> list:
        """The kept iterate of problem ``b`` with the most stationary residual among those whose loss is at
        most ``plateau_pick`` times ``loss_now`` (the latest observed iterate always qualifies)."""
        ok = [e for e in self.picks[b] if e[2] <= self.rule.plateau_pick * loss_now] or self.picks[b][-1:]
        return max(ok, key=lambda e: e[1])

    def _heldout(self, iteration: int, out: torch.Tensor, live: np.ndarray) -> None:
        with torch.no_grad():
            err = np.asarray(self.validation(out).float().cpu(), dtype=float).reshape(self.batch)
        self.history_iteration.append(iteration)
        self.history_variance.append(err)
        better = live & (err < self.best)
        if better.any():
            self._choose(better, out, iteration, iteration)
            self.best[better] = err[better]
        if iteration >= self.rule.min_iterations:
            self._stop(live & (iteration - self.last_gain >= self.rule.holdout_patience), iteration, "held-out")

    def _plateau(self, iteration: int, out: torch.Tensor, live: np.ndarray) -> None:
        with torch.no_grad():
            stack = torch.stack(list(self.recent))                        # (W, B, N)
            var = (stack.var(0, unbiased=False).mean(1) / stack.pow(2).mean((0, 2)).clamp_min(1e-20)).cpu().numpy()
        self.history_iteration.append(iteration)
        self.history_variance.append(var)
        better = live & (var < self.best)
        if better.any():
            if self.rule.average:
                self._choose(better, torch.stack(list(self.outputs)).mean(0), iteration - self.rule.window // 2,
                             iteration)
            else:
                self._choose(better, out, iteration, iteration)
            self.best[better] = var[better]
        if self.rule.patience is not None and iteration >= self.rule.min_iterations:
            self._stop(live & (iteration - self.last_gain >= self.rule.patience), iteration, "plateau")

    def _choose(self, which: np.ndarray, candidate: torch.Tensor, chosen_at: int, iteration: int) -> None:
        mask = torch.as_tensor(which, device=candidate.device)[:, None, None, None]
        self.output = candidate.clone() if self.output is None else torch.where(mask, candidate, self.output)
        self.iteration[which] = chosen_at
        self.last_gain[which] = iteration

    def _stop(self, which: np.ndarray, iteration: int, reason: str) -> None:
        if iteration < self.rule.min_iterations:
            return
        which = which & ~self.stopped
        for b in np.flatnonzero(which):
            self.picks[b] = []  # free the outputs kept for plateau_pick
        self.stopped_at[which] = iteration
        self.reason[which] = reason
        self.stopped |= which

    def finish(self, iteration: int, last: torch.Tensor) -> None:
        """At the end of the fit: a problem the rule did not stop was still improving by its measure,
        so its result is the last output; it is marked as stopped by the budget."""
        running = ~self.stopped
        if running.any():
            self._choose(running, last.detach(), iteration, iteration)
        self.stopped_at[running] = iteration

    @property
    def history(self) -> dict:
        return {"iteration": np.array(self.history_iteration),
                "variance": np.array(self.history_variance).reshape(-1, self.batch),
                "floor": None if self.floor is None else self.floor * self.rule.floor_factor}


def replay(rule: Stopping, loss, floor: float | None = None, iterations: int | None = None,
           loss_every: int | None = None) -> tuple[int, int, str]:
    """Replay the loss-watching part of ``rule`` on one fit's recorded losses, without fitting again.

    ``loss`` holds the fit's loss at iterations ``rule.every``, ``2 * rule.every``, ... (what a table's row
    keeps in its ``curve``: :func:`daptools.experiments.runner._curve`); ``floor`` is the loss at which the
    fit's rule stopped for its noise floor (the floor times its factor, as a row's curve keeps it; None: no
    floor; to try another factor, scale it); ``iterations`` is the fit's budget (default: as many as the losses
    cover); ``loss_every`` is the interval of ``loss`` (a curve's ``loss_every``; default ``rule.every``): a rule
    that watches every k-th of those intervals is replayed on every k-th loss. The floor and the loss plateau
    are replayed exactly as :class:`Monitor` applies them in a fit; the output plateau (``patience``) and
    held-out validation watch the outputs, which a row does not keep, so they are left out; ``plateau_average``
    and ``plateau_pick`` return another output than the watched iterate, so they cannot be replayed (an error).

    Returns:
        tuple: (the iteration whose output the rule returns, the iteration it stopped at, the reason:
        "floor", "loss plateau" or "budget").
    """
    if rule.plateau_average is not None or rule.plateau_pick is not None or rule.average:
        raise DapError("stopping: replay watches the loss only; plateau_average, plateau_pick and average return "
                       "outputs a recorded loss does not hold: replay without them")
    rule = replace(rule, patience=None, floor=floor, floor_factor=1.0)
    loss = np.asarray(loss, dtype=float).reshape(-1)
    step = rule.every if loss_every is None else int(loss_every)
    if step < 1 or rule.every % step:
        raise DapError(f"stopping: the rule watches the loss every {rule.every} iterations, which the losses given "
                       f"every {step} do not hold: replay with a rule whose every is a multiple of {step}")
    loss = loss[rule.every // step - 1::rule.every // step]
    mon = Monitor(rule, 1)
    placeholder = torch.zeros(1, 1, 1, 1)  # the outputs are not watched
    for k, value in enumerate(loss, start=1):
        mon.observe(k * rule.every, placeholder, [value])
        if mon.stopped[0]:
            return int(mon.iteration[0]), int(mon.stopped_at[0]), str(mon.reason[0])
    end = len(loss) * rule.every if iterations is None else int(iterations)
    return end, end, "budget"
