"""Ensembles: K networks from K seeds fitted to the same observation, their outputs averaged.

Outside the notebook series (an option of the tasks and the command line, ``seeds=K``; its
measured effect is in docs/ensembles.md).

A deep prior is a random network: another seed gives another restoration. ``seeds=K`` in
:func:`daptools.denoise` and :func:`daptools.inpaint` fits K networks (seeds s, s+1, ...,
s+K-1) to the same observation as one batch of independent problems (:func:`daptools.fit`
fits a batch with vmap; each member runs its own blind stopping rule, and the fit ends when
all have stopped) and averages them:

* ``combine="spectrogram"`` (default): the mean of the members' prior outputs, i.e. of their
  complex spectrograms;
* ``combine="waveform"``: the mean of their decoded waveforms.

The tasks' decoders are linear in the prior output (an inverse STFT; inpainting adds the
observed frames, with weights that sum to one), so the two agree up to float rounding.

Every candidate ("last", "auto", "ema", "oracle") is combined member by member: the
combined "oracle" is the mean of each member's own oracle iterate (each chosen with the
clean reference, as ever), not the best iterate of the mean. The scores are recomputed for
the combined candidates; the members' own stay in ``member_scores``.

A batch of B clips with ``seeds=K`` is B*K problems: clip b's members are problems
b*K ... b*K+K-1, every clip gets the seeds s ... s+K-1 (as every clip of a batch gets the
same seed without an ensemble), and the result has one combined problem per clip.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import torch

from ._checks import DapError
from .fit import FitResult, _snr_score

COMBINE = ("spectrogram", "waveform")


class Ensemble:
    """How a task fits ``seeds`` members per clip and combines them (``seeds=None``: one plain fit).

    Args:
        seeds (int | None): members per clip, K >= 1; None fits one network per clip, as without
            an ensemble (every method below then passes things through unchanged).
        seed (int | list[int]): the task's ``seed``; with an ensemble it must be one int, and the
            members get seed, seed + 1, ..., seed + K - 1.
        combine (str): "spectrogram" (default) or "waveform" (see the module docstring).
    """

    def __init__(self, seeds: int | None, seed=0, combine: str = "spectrogram"):
        if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer)) or seeds < 1):
            raise DapError(f"seeds must be a whole number of networks, at least 1, got {seeds!r}")
        if seeds is not None and not isinstance(seed, (int, np.integer)):
            raise DapError("seeds=K takes one int seed (its members get seed, seed+1, ...); got a list of seeds")
        if combine not in COMBINE:
            raise DapError(f"combine must be {' or '.join(COMBINE)}, got {combine!r}")
        self.k = None if seeds is None else int(seeds)
        self.seed, self.how = seed, combine

    def seeds(self, clips: int):
        """The ``seed`` for :func:`daptools.fit`: per problem, the members' seeds clip by clip."""
        if self.k is None:
            return self.seed
        return [int(self.seed) + i for _ in range(clips) for i in range(self.k)]

    def repeat(self, x):
        """A batch-first tensor with each clip's row repeated for its K members (None passes)."""
        if self.k is None or x is None:
            return x
        return torch.as_tensor(x).repeat_interleave(self.k, 0)

    def repeat_reference(self, reference, clips: int):
        """Clean waveform(s), (samples,) or (clips, samples), repeated for the members."""
        if self.k is None or reference is None:
            return reference
        return self.repeat(torch.as_tensor(reference).reshape(clips, -1))

    def combine(self, result: FitResult, reference=None, decode: Callable | None = None,
                score: Callable | None = None) -> FitResult:
        """One result per clip from the members' batch result.

        Args:
            result (FitResult): the fit of B*K problems.
            reference: the clean waveform(s) of the B clips, to score the combined candidates.
            decode (callable): prior output -> waveforms for B clips (default ``result.decode``; a
                task whose decoder holds per-problem tensors hands one for the clips).
            score (callable): ``score(reference, estimate)`` (default waveform SNR, as in fit).

        Returns:
            FitResult: batch B; ``candidates`` combined; ``member_scores`` the members' scores
            (B, K); ``history``, ``*_iteration`` and ``nets`` stay per member.
        """
        if self.k is None:
            return result
        clips = result.output.shape[0] // self.k

        def mean(t):
            return t.reshape(clips, self.k, *t.shape[1:]).mean(1)

        candidates = {name: mean(out) for name, out in result.candidates.items()}
        decode = decode or result.decode
        waveforms = None
        if self.how == "waveform":
            waveforms = {name: mean(result.decode(out)) for name, out in result.candidates.items()}
        audio = waveforms or {name: decode(out) for name, out in candidates.items()}
        scores = {}
        if reference is not None:
            ref = torch.as_tensor(reference).reshape(clips, -1)
            scores = {name: np.array([(score or _snr_score)(ref[b], wav[b]) for b in range(clips)])
                      for name, wav in audio.items()}
        member_scores = {name: np.asarray(s).reshape(clips, self.k) for name, s in result.scores.items()}
        return dataclasses.replace(result, output=candidates[result.selection], candidates=candidates,
                                   scores=scores, member_scores=member_scores, waveforms=waveforms,
                                   members=self.k, decode=decode)
