"""The one fitting loop every task uses (notebook 02 shows it step by step, notebook 04 on a U-Net).

A randomly initialised prior f_theta maps a fixed random input z to a
spectrogram-shaped output; Adam fits ``loss(forward(f_theta(z)), observation)``.
A task only supplies its forward model (identity for denoising, a mask for
inpainting, a mixture for separation), its loss and, optionally, a regulariser.

Several independent problems (a batch of clips) are fitted together when the
observation has batch size B > 1: B networks, each with its own weights,
optimiser state and z, evaluated at once with ``torch.func.vmap``. Because Adam
is element-wise and the losses are summed, every network follows exactly the
trajectory it would follow alone.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
from torch.func import functional_call, stack_module_state, vmap
from tqdm.auto import tqdm

from ._checks import DapError
from .device import autocast, resolve_device, resolve_precision
from .priors import build_prior
from .stopping import Monitor, Stopping

SELECTIONS = ("auto", "last", "ema", "oracle")
ORACLE_NOTE = "oracle: iteration chosen with the CLEAN reference (as the paper's authors did); not available in real use"


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per problem: shape (B,)."""
    return (pred.float() - target.float()).pow(2).flatten(1).mean(1)


def make_scheduler(optimizer, schedule, iterations: int):
    """Learning-rate schedules.

    Args:
        schedule: None or "constant" (the paper's text); "step" (the authors' code: lr / 10
            every quarter of the run, i.e. every 500 of 2000 iterations); "cosine" (cosine
            decay to zero); "onecycle" (linear warm-up over the first 10 % from lr / 25 to lr,
            then cosine decay to lr / 1e4; PyTorch's OneCycleLR); or a callable
            ``f(optimizer, iterations)`` returning a scheduler.
    """
    if schedule in (None, "constant"):
        return None
    if schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, math.ceil(iterations / 4)), gamma=0.1)
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, iterations))
    if schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=optimizer.param_groups[0]["lr"],
                                                   total_steps=max(2, iterations + 1), pct_start=0.1,
                                                   anneal_strategy="cos", cycle_momentum=False)
    if callable(schedule):
        return schedule(optimizer, iterations)
    raise DapError(f"unknown lr schedule {schedule!r}; use constant, step, cosine, onecycle or a callable")


class _Stacked:
    """B independent copies of a prior, evaluated together with torch.func.vmap."""

    def __init__(self, modules: Sequence[nn.Module]):
        self.base = copy.deepcopy(modules[0]).to("meta")
        self.params, self.buffers = stack_module_state(list(modules))

    def parameters(self):
        return list(self.params.values())

    def unstack(self, i: int, like: nn.Module) -> nn.Module:
        net = copy.deepcopy(like)
        net.load_state_dict({k: v[i].detach() for k, v in {**self.params, **self.buffers}.items()})
        return net

    def __call__(self, z):
        def one(p, b, x):
            return functional_call(self.base, (p, b), (x[None],))[0]
        return vmap(one)(self.params, self.buffers, z)


def _build(prior, seeds, prior_options) -> list[nn.Module]:
    if isinstance(prior, str):
        return [build_prior(prior, seed=s, **prior_options) for s in seeds]
    if isinstance(prior, nn.Module):
        if len(seeds) > 1:
            raise DapError("a single prior module fits one problem; pass a prior name or a factory "
                           "f(seed) -> module to fit a batch")
        return [prior]
    if isinstance(prior, (list, tuple)) and all(isinstance(p, nn.Module) for p in prior):
        if len(prior) != len(seeds):
            raise DapError(f"{len(prior)} prior modules for {len(seeds)} problems")
        return list(prior)
    if callable(prior):
        return [prior(s) for s in seeds]
    raise DapError(f"prior must be a name, a module or a factory, got {type(prior).__name__}")


def _seeds(seed, batch: int) -> list[int]:
    seeds = [int(seed)] * batch if isinstance(seed, (int, np.integer)) else [int(s) for s in seed]
    if len(seeds) != batch:
        raise DapError(f"{len(seeds)} seeds given for {batch} problems")
    return seeds


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        output (Tensor): the selected prior output, (B, C, F, T), float32, CPU.
        candidates (dict[str, Tensor]): "last", and "auto" / "ema" / "oracle" when tracked.
        selection (str): which candidate ``output`` is ("oracle" uses the clean reference).
        scores (dict[str, ndarray]): each candidate's score against the reference, (B,).
        best_iteration (ndarray | None): oracle iteration per problem.
        auto_iteration (ndarray | None): per problem, the iteration the blind rule chose
            (the centre of its window when it averages outputs).
        stop_iteration (ndarray | None): per problem, the iteration at which the blind rule
            stopped it (the budget when it never stopped).
        stop_reason (ndarray | None): per problem, why: "floor" (the loss reached the noise floor
            the task estimated), "loss plateau" (its loss stopped falling above that floor),
            "held-out" (the error on data the task held out of the loss passed
            its minimum), "plateau" (the output stopped changing) or "budget".
        history (dict[str, ndarray]): "loss" (iterations, B), "lr" (iterations,),
            "iteration" (iterations,); with a reference "monitor_iteration" (M,), "score" (M, B);
            with the blind rule "stat_iteration" (S,), "stat" (S, B): the held-out error (with
            ``validation``) or else its windowed variance (for problems without a floor), and
            "floor" (B,): the loss at which it stops (with one).
        seconds (float), seconds_per_iteration (float): fitting time, without the time spent
            monitoring against the reference or in the callback; device (str), precision (str).
        audio (Tensor | None): ``decode(output)``: the restored waveform(s).
        spectrogram (Tensor): same as ``output`` (kept for readability in tasks).
        nets (list[nn.Module]): the fitted networks (CPU), one per problem.
        members (int): networks averaged per problem: 1 for a plain fit, K for an ensemble
            (``seeds=K`` in the tasks, :mod:`daptools.ensemble`), whose ``history``,
            ``*_iteration`` and ``nets`` are per member (B * K of them).
        member_scores (dict[str, ndarray]): an ensemble's members' own scores, (B, K).
        waveforms (dict[str, Tensor] | None): decoded candidates, batch first, where they are not
            ``decode(candidates[name])`` (an ensemble combined in the waveform domain).
        method (str | None): the separation method that made it ("hp", "dap", "masks"; set by
            :func:`daptools.separate`); None for other fits.
        attempts (list[list[dict]] | None): a separation recipe's fits per problem: each one's seed,
            blind loss, energy share, whether it was a restart and whether it was kept
            (:func:`daptools.separation.fit_recipe`); None for other fits.
        fits (int): the fits this result was chosen from (restarts and tries included; 1 for one fit).
    """
    output: torch.Tensor
    candidates: dict
    selection: str
    history: dict
    seconds: float
    seconds_per_iteration: float
    device: str
    precision: str
    iterations: int
    scores: dict = field(default_factory=dict)
    best_iteration: np.ndarray | None = None
    auto_iteration: np.ndarray | None = None
    stop_iteration: np.ndarray | None = None
    stop_reason: np.ndarray | None = None
    decode: Callable | None = field(default=None, repr=False)
    nets: list = field(default_factory=list, repr=False)
    members: int = 1
    member_scores: dict = field(default_factory=dict)
    waveforms: dict | None = field(default=None, repr=False)
    method: str | None = None
    attempts: list | None = field(default=None, repr=False)
    fits: int = 1

    @property
    def spectrogram(self) -> torch.Tensor:
        return self.output

    @property
    def audio(self):
        """The restored waveform(s): (samples,) or (sources, samples) for one problem, else batch-first."""
        return None if self.decode is None else self.candidate_audio(self.selection)

    def candidate_audio(self, name: str):
        """A candidate's waveform(s): (samples,) or (sources, samples) for one problem, else batch-first."""
        wav = self.batch_audio(name)
        return wav[0] if wav.shape[0] == 1 else wav

    def batch_audio(self, name: str | None = None) -> torch.Tensor:
        """A candidate's waveform(s), batch first even for one problem (default: the selected one)."""
        name = name or self.selection
        if self.waveforms is not None and name in self.waveforms:
            return self.waveforms[name]
        return self.decode(self.candidates[name])

    def __repr__(self):
        lines = [f"FitResult({self.iterations} iterations on {self.device}/{self.precision}, "
                 f"{self.seconds_per_iteration * 1000:.0f} ms/iteration, selection={self.selection!r})"]
        if self.auto_iteration is not None:
            lines.append(f"  auto: chose iteration {self.auto_iteration.tolist()}, stopped at "
                         f"{self.stop_iteration.tolist()} ({', '.join(map(str, self.stop_reason))}; blind)")
        if self.members > 1:
            lines.append(f"  ensemble of {self.members} networks per problem; scores of the combined outputs:")
        for k, v in self.scores.items():
            tag = f"  [{ORACLE_NOTE}]" if k == "oracle" else ""
            lines.append(f"  score[{k}] = {np.array2string(np.asarray(v), precision=2)}{tag}")
        for k, v in self.member_scores.items():
            lines.append(f"  member score[{k}] = {np.array2string(np.asarray(v), precision=2)}")
        return "\n".join(lines)


def fit(prior, observation: torch.Tensor, forward: Callable | None = None, loss: Callable = mse,
        regularizer: Callable | None = None, iterations: int = 2000, lr: float = 1e-3,
        schedule=None, seed=0, device="auto", precision: str = "auto", reference=None,
        decode: Callable | None = None, score: Callable | None = None, select: str = "auto",
        stopping=None, statistic: Callable | None = None, validation: Callable | None = None,
        ema: float | None = None, input_noise: float = 0.0, z_std: float = 1.0,
        monitor_every: int = 10, callback: Callable | None = None, every: int = 50,
        progress: bool = True, prior_options: dict | None = None, channels_last: bool = False,
        compile: bool = False) -> FitResult:
    """Fit a deep prior to one observation (or a batch of independent observations).

    Args:
        prior: a name for :func:`build_prior` ("exp_dense", ...), an ``nn.Module``, a list of
            modules (one per problem) or a factory ``f(seed) -> nn.Module``. Its ``in_channels``
            attribute (default 2) sets the channels of z.
        observation (Tensor): (B, C, F, T); B > 1 fits B independent problems at once.
        forward (callable): maps the prior output to the predicted observation (default identity).
        loss (callable): ``loss(pred, observation) -> (B,)`` (default per-problem MSE).
        regularizer (callable): optional ``r(output) -> (B,)`` added to the loss.
        iterations (int): the most Adam steps (default 2000, as in the paper); with
            ``select="auto"`` the fit usually ends earlier, where the blind rule stops it.
        lr (float): Adam learning rate (default 1e-3).
        schedule: lr schedule, see :func:`make_scheduler` (default constant).
        seed (int | list[int]): seeds the weights and z (per problem when a list).
        device (str): "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "mps".
        precision (str): "auto" (default: bf16 autocast on CPUs that compute bf16 natively,
            fp32 elsewhere), "fp32" or "bf16".
        reference: clean waveform(s), used ONLY to monitor ``score`` and for oracle selection.
        decode (callable): prior output (B, C, F, T) -> waveform(s), batch first (B, ...), for
            ``audio`` and monitoring.
        score (callable): ``score(reference_b, decoded_b) -> float`` (default waveform SNR).
        select (str): "auto" (default: the blind stopping rule of :mod:`daptools.stopping`
            chooses the iterate and ends the fit), "last", "ema" (exponential moving average
            of outputs) or "oracle" (best score against the clean reference: an oracle,
            labelled as such).
        stopping (Stopping | dict | None): settings of the blind rule (default
            :class:`daptools.stopping.Stopping`). Given with another ``select``, the rule still
            runs and its choice is kept as the "auto" candidate. ``{"halt": False}`` keeps
            fitting to ``iterations`` after the rule stops (its choice is frozen there), so that
            "last" and "oracle" cover the whole budget (for studies).
        statistic (callable): what the rule watches, ``statistic(output) -> (B, ...)``
            (default the output itself; a task hands its own, e.g. the gaps of an inpainting).
        validation (callable): the error of the output on data the task held out of its loss,
            ``validation(output) -> (B,)``; the rule then stops each problem at its minimum
            (:mod:`daptools.stopping`; inpainting hands one).
        ema (float | None): EMA factor (e.g. 0.99); default 0.99 when select="ema".
        input_noise (float): std of fresh noise added to z each step (Deep Image Prior; 0 = off).
        z_std (float): std of z (default 1, standard normal as in the authors' code).
        monitor_every (int): iterations between reference scores (oracle granularity).
        callback (callable): ``callback(info: dict)`` every ``every`` iterations; info has
            "iteration", "loss", "output", "score" (if monitored) and "lr". A truthy return stops.
        progress (bool): show a tqdm progress bar.
        prior_options (dict): options for :func:`build_prior` when ``prior`` is a name.
        channels_last (bool): NHWC memory format (not with bf16 on CPU, which crashed there).
        compile (bool): wrap the network in torch.compile.

    Returns:
        FitResult
    """
    ema, rule = _check_inputs(observation, iterations, select, reference, decode, ema, stopping)
    loop = _Loop(prior, observation, int(iterations), forward=forward, loss=loss, regularizer=regularizer, lr=lr,
                 schedule=schedule, seed=seed, device=device, precision=precision, reference=reference,
                 decode=decode, score=score, rule=rule, statistic=statistic, validation=validation, ema=ema,
                 input_noise=input_noise, z_std=z_std, monitor_every=monitor_every, progress=progress, prior_options=prior_options,
                 channels_last=channels_last, compile=compile)
    for it in range(loop.iterations):
        out, per = loop.step(it)
        if loop.ends(it + 1, out, per, callback, every):
            break
    return loop.result(select, decode)


def _check_inputs(observation, iterations, select, reference, decode, ema, stopping):
    """One-line errors for bad arguments; returns the EMA factor and the blind rule (None: not run)."""
    if not isinstance(observation, torch.Tensor) or observation.ndim != 4:
        raise DapError("observation must be a tensor of shape (batch, channels, freq, frames)")
    if not torch.isfinite(observation).all():
        raise DapError("observation contains NaN or infinite values")
    if int(iterations) < 1:
        raise DapError(f"iterations must be at least 1, got {iterations}")
    if select not in SELECTIONS:
        raise DapError(f"select must be one of {', '.join(SELECTIONS)}, got {select!r}")
    if select == "oracle" and reference is None:
        raise DapError("select='oracle' needs the clean reference; use 'last' or 'ema' for real recordings")
    if select == "ema" and ema is None:
        ema = 0.99
    rule = Stopping.coerce(stopping) if (select == "auto" or stopping is not None) else None
    if reference is not None and decode is None:
        raise DapError("monitoring against a reference needs decode (output -> waveform)")
    return ema, rule


class _Loop:
    """One fit in progress: the networks and z (setup), one Adam step (:meth:`step`), the decision
    to go on (:meth:`ends`) and the result (:meth:`result`); :func:`fit` explains the arguments."""

    def __init__(self, prior, observation, iterations, *, forward, loss, regularizer, lr, schedule, seed, device,
                 precision, reference, decode, score, rule, statistic, validation, ema, input_noise, z_std,
                 monitor_every, progress, prior_options, channels_last, compile):
        self.iterations = iterations
        self.dev = resolve_device(device)
        self.prec = resolve_precision(precision, self.dev)
        if channels_last and self.prec == "bf16" and self.dev.type == "cpu":
            channels_last = False  # bf16 + channels_last crashed the process on CPU (torch 2.14)
        self.fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.seeds = _seeds(seed, observation.shape[0])
        self.modules, self.net, self.z, self.gens = _setup(prior, observation, self.seeds, prior_options or {},
                                                           self.dev, self.fmt, z_std)
        self.run = torch.compile(self.net) if compile else self.net
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        self.sched = make_scheduler(self.opt, schedule, iterations)
        self.forward, self.loss, self.regularizer = forward or (lambda out: out), loss, regularizer
        self.input_noise, self.monitor_every, self.progress = input_noise, monitor_every, progress
        self.obs = observation.to(self.dev).float()
        self.track = _Tracker(len(self.seeds), ema, reference, decode, score or _snr_score, self.dev)
        self.rule = rule
        self.monitor = None if rule is None else Monitor(rule, len(self.seeds), statistic, validation,
                                                         residual=lambda out: self.obs - self.forward(out))
        self.losses = torch.zeros(iterations, len(self.seeds), device=self.dev)
        self.lrs = np.zeros(iterations)
        self.bar = tqdm(total=iterations, disable=not progress,
                        desc=f"fit {getattr(self.modules[0], 'name', '')}".strip(), leave=False)
        self.start, self.overhead = time.perf_counter(), 0.0

    def step(self, it: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One Adam step on every problem; returns the output and the per-problem loss, detached."""
        zin = self.z
        if self.input_noise:
            noise = torch.stack([torch.randn(self.z.shape[1:], generator=g) for g in self.gens]).to(self.dev)
            zin = self.z + self.input_noise * noise.contiguous(memory_format=self.fmt)
        with autocast(self.dev, self.prec):
            out = self.run(zin).float()
        per = self.loss(self.forward(out), self.obs)
        if self.regularizer is not None:
            per = per + self.regularizer(out)
        self.opt.zero_grad(set_to_none=True)
        per.sum().backward()
        self.opt.step()
        self.lrs[it] = self.opt.param_groups[0]["lr"]
        if self.sched is not None:
            self.sched.step()
        self.losses[it] = per.detach()
        return out.detach(), per.detach()

    def ends(self, done: int, out: torch.Tensor, per: torch.Tensor, callback, every: int) -> bool:
        """Record step ``done`` (the candidates, the blind rule) and decide: True ends the fit here
        (the callback asked to stop, or the rule stopped every problem and may halt)."""
        monitored = done % self.monitor_every == 0 or done == self.iterations
        self.overhead += self.track.update(out, done, monitored)
        halt = False
        if self.monitor is not None and done % self.rule.every == 0:
            halt = bool(self.monitor.observe(done, out, per.cpu().numpy()).all()) and self.rule.halt
        self.bar.update(1)
        if callback is not None and (done % every == 0 or done == self.iterations):
            if self._call_back(callback, done, per):
                self.iterations = done
                return True
        if halt:
            if not monitored:
                self.overhead += self.track.update(out, done, True)  # the oracle sees the final iterate
            self.iterations = done
            return True
        return False

    def _call_back(self, callback, done: int, per: torch.Tensor) -> bool:
        """The user's callback (its time is not fitting time); its truthy return stops the fit."""
        if self.progress:
            self.bar.set_postfix(loss=f"{float(per.sum()):.4g}")
        t_cb = time.perf_counter()
        stop = callback({"iteration": done, "loss": self.losses[:done].cpu().numpy(), "output": self.track.last,
                         "lr": self.lrs[done - 1], **self.track.curve()})
        self.overhead += time.perf_counter() - t_cb
        return bool(stop)

    def result(self, select: str, decode) -> FitResult:
        """The FitResult of the fit so far (``iterations`` steps): candidates, history, timing, networks."""
        if self.dev.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - self.start - self.overhead  # fitting only: monitoring and callbacks excluded
        self.bar.close()
        n, monitor, track = self.iterations, self.monitor, self.track
        candidates = track.candidates()
        history = {"iteration": np.arange(1, n + 1), "loss": self.losses[:n].cpu().numpy(), "lr": self.lrs[:n]}
        if track.mon_it:
            history["monitor_iteration"], history["score"] = np.array(track.mon_it), np.array(track.mon_score)
        if monitor is not None:
            monitor.finish(n, track.last)
            candidates["auto"] = monitor.output.cpu()
            history["stat_iteration"], history["stat"] = monitor.history["iteration"], monitor.history["variance"]
            if monitor.history["floor"] is not None:
                history["floor"] = monitor.history["floor"]  # (B,): the loss at which the rule stops
        if len(self.seeds) == 1:
            nets = [self.modules[0].cpu()]
        else:
            nets = [self.net.unstack(i, self.modules[0]).cpu() for i in range(len(self.seeds))]
        return FitResult(output=candidates[select], candidates=candidates, selection=select, history=history,
                         seconds=seconds, seconds_per_iteration=seconds / n, device=str(self.dev),
                         precision=self.prec, iterations=n, scores=track.final_scores(candidates),
                         best_iteration=track.best_it if "oracle" in candidates else None,
                         auto_iteration=None if monitor is None else monitor.iteration.copy(),
                         stop_iteration=None if monitor is None else monitor.stopped_at.copy(),
                         stop_reason=None if monitor is None else monitor.reason.copy(), decode=decode, nets=nets)


def _setup(prior, observation, seeds, prior_options, dev, fmt, z_std):
    """The networks (one per problem, stacked for vmap when several), z drawn once, the noise generators."""
    modules = [m.to(dev).train().to(memory_format=fmt) for m in _build(prior, seeds, prior_options)]
    in_ch = getattr(modules[0], "in_channels", 2)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    z = torch.stack([torch.randn(in_ch, *observation.shape[2:], generator=g) for g in gens]) * z_std
    net = modules[0] if len(seeds) == 1 else _Stacked(modules)
    return modules, net, z.to(dev).contiguous(memory_format=fmt), gens


class _Tracker:
    """The candidates of each problem: the last output, its running average (EMA) and, with a
    reference, the oracle (the monitored output with the best score against the clean signal)."""

    def __init__(self, batch, ema, reference, decode, score, dev):
        self.ema, self.decode, self.score, self.dev = ema, decode, score, dev
        self.ref = None if reference is None else torch.as_tensor(reference)
        if self.ref is not None and batch == 1 and (self.ref.ndim == 1 or self.ref.shape[0] != 1):
            self.ref = self.ref[None]  # one problem given without its batch axis
        self.last = self.ema_out = self.best_out = None
        self.best = np.full(batch, -np.inf)
        self.best_it = np.zeros(batch, dtype=int)
        self.mon_it, self.mon_score = [], []

    def update(self, out, iteration: int, monitor: bool) -> float:
        """Record a step's output; returns the seconds spent scoring it against the reference."""
        self.last = out
        if self.ema:
            self.ema_out = out.clone() if self.ema_out is None else self.ema_out.mul_(self.ema).add_(
                out, alpha=1 - self.ema)
        if self.ref is None or not monitor:
            return 0.0
        t = time.perf_counter()
        s = _scores(self.score, self.ref, self.decode(out.cpu()))
        self.mon_it.append(iteration)
        self.mon_score.append(s)
        better = s > self.best
        if better.any():
            self.best_out = out.clone() if self.best_out is None else torch.where(
                torch.as_tensor(better, device=self.dev)[:, None, None, None], out, self.best_out)
            self.best[better], self.best_it[better] = s[better], iteration
        return time.perf_counter() - t

    def curve(self) -> dict:
        return {"score": np.array(self.mon_score) if self.mon_score else None,
                "score_iteration": np.array(self.mon_it)}

    def candidates(self) -> dict:
        found = {"last": self.last, "ema": self.ema_out, "oracle": self.best_out}
        return {k: v.cpu() for k, v in found.items() if v is not None}

    def final_scores(self, candidates) -> dict:
        if self.ref is None:
            return {}
        return {k: _scores(self.score, self.ref, self.decode(v)) for k, v in candidates.items()}


def _snr_score(reference, estimate) -> float:
    from .metrics import snr
    return snr(reference, estimate)


def _scores(score, ref, decoded) -> np.ndarray:
    return np.array([score(ref[b], decoded[b]) for b in range(ref.shape[0])])
