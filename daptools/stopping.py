"""Blind stopping: when a fit has stopped improving, without the clean signal (notebook 04).

A deep prior first fits the structure of the signal and later the noise, so the quality of
its output rises to a peak and falls again (or, with too few iterations or a narrow network,
is still rising when the budget ends). The clean signal that would show the peak is not
available in real use. This module watches a *blind* statistic of the outputs during the fit
and decides, for each problem of a batch, which iterate to return and when to stop.

Rule (chosen by measurement, docs/stopping.md): ES-WMV (Wang et al., *Early Stopping for
Deep Image Prior*, arXiv 2112.06074). Every ``every`` iterations the watched statistic of
the output (the output itself for denoising; a task may hand its own, e.g. the estimates in
the gaps of an inpainting problem) enters a window of the last ``window`` iterations. The
running variance of the window, relative to its mean energy, is small while the output
rests on the signal and grows again when the fit starts to chase the noise. The iterate at
the smallest variance seen so far is the candidate; the fit stops once ``patience``
iterations pass without a new minimum (and not before ``min_iterations``).

The rule is independent of the task: it only sees tensors. It never looks at a reference.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ._checks import DapError


@dataclass(frozen=True)
class Stopping:
    """Settings of the blind stopping rule (see the module docstring).

    Attributes:
        window (int): iterations in the moving-variance window.
        patience (int): iterations without a new variance minimum before the fit stops;
            None: never stop early (the candidate is still chosen blindly).
        every (int): iterations between observations (the window holds window // every outputs).
        min_iterations (int): no stop before this many iterations.
        average (bool): the candidate is the mean of the window's outputs (True) or the
            output at the window's end (False).
        halt (bool): end the fit once every problem has stopped (default). False keeps fitting
            to the budget with the choice frozen where the rule stopped, so that the last
            iterate and the oracle cover the whole budget (for studies).
    """
    window: int = 100
    patience: int = 300
    every: int = 5
    min_iterations: int = 200
    average: bool = True
    halt: bool = True

    def __post_init__(self):
        if self.every < 1 or self.window < 2 * self.every:
            raise DapError(f"stopping: window ({self.window}) must hold at least two observations "
                           f"(every={self.every})")
        if self.patience is not None and self.patience < self.every:
            raise DapError(f"stopping: patience ({self.patience}) must be at least every ({self.every}) iterations")
        if self.min_iterations < 0:
            raise DapError(f"stopping: min_iterations must be >= 0, got {self.min_iterations}")

    @classmethod
    def coerce(cls, value) -> "Stopping":
        """None -> the defaults; a dict -> those fields; a Stopping -> itself."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            unknown = set(value) - set(cls.__dataclass_fields__)
            if unknown:
                raise DapError(f"unknown stopping option(s) {', '.join(sorted(unknown))}; "
                               f"valid: {', '.join(cls.__dataclass_fields__)}")
            return cls(**value)
        raise DapError(f"stopping must be None, a dict or a Stopping, got {type(value).__name__}")


class WindowedVariance:
    """The ES-WMV monitor of a batch of B problems.

    Call :meth:`observe` every ``rule.every`` iterations with the output; read ``output``
    (the chosen iterate of every problem), ``iteration`` (where it was chosen), ``stopped``
    (per problem) and ``history`` (iteration, relative variance) afterwards.
    """

    def __init__(self, rule: Stopping, batch: int, statistic: Callable | None = None):
        self.rule, self.batch = rule, batch
        self.statistic = statistic or (lambda out: out)
        self.recent: deque = deque(maxlen=max(2, rule.window // rule.every))
        self.outputs: deque = deque(maxlen=self.recent.maxlen)
        self.best = np.full(batch, np.inf)
        self.iteration = np.zeros(batch, dtype=int)
        self.last_gain = np.zeros(batch, dtype=int)  # iteration of the latest new minimum
        self.stopped = np.zeros(batch, dtype=bool)
        self.stopped_at = np.zeros(batch, dtype=int)
        self.output = None
        self.history_iteration: list = []
        self.history_variance: list = []

    def observe(self, iteration: int, out: torch.Tensor) -> np.ndarray:
        """Record the output of ``iteration``; returns the per-problem stopped flags."""
        with torch.no_grad():
            stat = self.statistic(out.detach()).float().reshape(self.batch, -1)
            self.recent.append(stat)
            self.outputs.append(out.detach())
            if len(self.recent) < self.recent.maxlen:
                return self.stopped
            stack = torch.stack(list(self.recent))                       # (W, B, N)
            var = stack.var(0, unbiased=False).mean(1) / stack.pow(2).mean((0, 2)).clamp_min(1e-20)
            var = var.cpu().numpy()
        self.history_iteration.append(iteration)
        self.history_variance.append(var)
        better = (var < self.best) & ~self.stopped
        if better.any():
            cand = torch.stack(list(self.outputs)).mean(0) if self.rule.average else out.detach()
            mask = torch.as_tensor(better, device=cand.device)[:, None, None, None]
            self.output = cand.clone() if self.output is None else torch.where(mask, cand, self.output)
            self.best[better] = var[better]
            self.iteration[better] = iteration - (self.rule.window // 2 if self.rule.average else 0)
            self.last_gain[better] = iteration
        if self.rule.patience is not None and iteration >= self.rule.min_iterations:
            newly = ~self.stopped & (iteration - self.last_gain >= self.rule.patience)
            self.stopped_at[newly] = iteration
            self.stopped |= newly
        return self.stopped

    def finish(self, iteration: int, last: torch.Tensor) -> None:
        """At the end of the fit: problems never observed (too short a fit) take the last
        output; problems still running are marked as stopped at ``iteration``."""
        if self.output is None:
            self.output = last.detach().clone()
            self.iteration[:] = iteration
        self.stopped_at[self.stopped_at == 0] = iteration

    @property
    def history(self) -> dict:
        return {"iteration": np.array(self.history_iteration),
                "variance": np.array(self.history_variance).reshape(-1, self.batch)}
