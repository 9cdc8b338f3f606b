"""The corrupted inputs of the paper's tables, and their scores.

One concern: from a :class:`~daptools.experiments.tables.RunConfig`, the problems a table fits
(clean clip, seeded corruption: Gaussian or environmental noise, spectrogram gaps, piano + drums
mixtures) and :func:`score`, every metric the paper reports for an estimate. Everything is drawn
from the run's seed, so a rerun builds the same problems. Taught in notebooks 07 (denoising),
08 (inpainting) and 09 (separation).
"""
from __future__ import annotations

import numpy as np
import torch

from .. import metrics as M
from .._checks import DapError
from ..corruptions import add_gaussian_noise, add_noise_at_snr, mix, random_gaps
from ..data import CATEGORIES, PAPER_STAND_IN, load_clips
from ..spectral import to_spectrogram, to_waveform
from .tables import METRICS, PAPER_SECONDS, TABLES, RunConfig


def _source(cfg: RunConfig, category: str) -> str:
    """Tutorial category -> the clip set to draw from (the paper's dataset with --data paper)."""
    if cfg.data == "tutorial":
        return category
    return PAPER_STAND_IN[category]  # noise -> "demand": living room and traffic, as in the paper


def _seconds(cfg: RunConfig, category: str) -> float:
    return cfg.duration or PAPER_SECONDS.get(category, 1.0)


def problems(cfg: RunConfig) -> list[dict]:
    """The corrupted observations of a table: one dict per clip (and dataset).

    Each dict: ``key`` (dataset/clip id), ``dataset``, ``observation`` (waveform), ``reference``
    (clean waveform, or (2, samples) sources), and task extras (``mask``, ``input_snr_db``).
    Everything is drawn from ``cfg.seed`` and the dataset's own number (its place in
    :data:`daptools.data.CATEGORIES`, not in ``cfg.datasets``), so a rerun builds the same problems, and a
    run over some of a table's datasets builds the same problems as the whole table for those.
    """
    task = TABLES[cfg.table].task
    out = []
    for position, ds in enumerate(cfg.datasets):
        d = CATEGORIES.index(ds) if ds in CATEGORIES else len(CATEGORIES) + position
        if task == "separate":
            out += mixtures(cfg)
            continue
        clips = load_clips(_source(cfg, ds), n=cfg.n_clips, duration=_seconds(cfg, ds), seed=cfg.seed)
        noise = load_clips(_source(cfg, "noise"), n=50, duration=_seconds(cfg, ds), seed=cfg.seed) \
            if task == "denoise_env" else None
        for i, clip in enumerate(clips):
            out.append(corrupt(cfg, task, ds, clip, cfg.seed * 1000 + 100 * d + i, noise))
    return out


def corrupt(cfg: RunConfig, task: str, dataset: str, clip, seed: int, noise=None) -> dict:
    """One problem: a clean clip corrupted as the task's table does it (seeded).

    Args:
        cfg (RunConfig): resolved settings (``noise_std``, ``snr_range``, ``gaps_per_second``).
        task (str): "denoise" (Gaussian noise of ``cfg.noise_std``), "denoise_env" (one of
            ``noise`` at an SNR drawn from ``cfg.snr_range``) or "inpaint" (spectrogram gaps).
        dataset (str): the dataset name recorded in the problem.
        clip (Clip): the clean clip (:func:`daptools.data.load_clips`).
        seed (int): seeds the corruption.
        noise (list[Clip] | None): noise clips, for "denoise_env".

    Returns:
        dict: ``key``, ``dataset``, ``reference`` (clean waveform), ``observation`` (corrupted
        waveform) and the task's extras (``input_snr_db`` and ``noise``; ``mask``, ``gaps`` and
        ``solver_input``).
    """
    p = {"key": clip.id, "dataset": dataset, "reference": clip.audio}
    if task == "denoise":
        p["observation"] = add_gaussian_noise(clip.audio, cfg.noise_std, seed=seed)
    elif task == "denoise_env":
        n = noise[int(np.random.default_rng(seed).integers(len(noise)))]
        p["observation"], p["input_snr_db"] = add_noise_at_snr(clip.audio, n.audio, snr_range=cfg.snr_range,
                                                               seed=seed)
        p["noise"] = n.id
    elif task == "inpaint":
        n_gaps = max(1, int(round(clip.seconds * cfg.gaps_per_second)))
        mask = random_gaps(clip.audio.numel(), n_gaps=n_gaps, seed=seed)
        p["mask"], p["gaps"] = mask, mask.gaps
        # The paper masks the spectrogram: the observation is mask * STFT(x). We hand the solver the
        # clip and the mask; it zeroes the masked frames before fitting, so the gaps' content never
        # reaches the loss. What a listener gets as the corrupted input is the inverse STFT of that.
        p["solver_input"] = clip.audio
        p["observation"] = to_waveform(to_spectrogram(clip.audio) * mask.spectrogram(), clip.audio.numel())
    return p


def mixtures(cfg: RunConfig) -> list[dict]:
    """Piano + drums mixtures at equal peak level (both clips peak-normalised, then summed).

    Tutorial data: mixture i pairs piano clip i mod 7 with drum clip i mod 10 (manifest order,
    each cut from its start to the clip length): the first 10 use every drum clip once and every
    piano clip with a different drum clip, and the 70 mixtures i = 0..69 are all distinct pairs
    (Chinese remainder theorem). No randomness: the seed only seeds the fits. Paper data (50+
    clips each): pairs drawn from the seed, as the paper's random sampling.
    """
    secs = cfg.duration or 1.0
    n = cfg.n_clips
    out = []
    if cfg.data == "tutorial":
        piano = load_clips("piano", n=50, duration=secs)   # all of them, manifest order
        drums = load_clips("drums", n=50, duration=secs)
        if n > len(piano) * len(drums):
            raise DapError(f"the tutorial set makes {len(piano) * len(drums)} piano + drums mixtures; "
                           f"asked for {n}")
        pairs = [(piano[i % len(piano)], drums[i % len(drums)]) for i in range(n)]
    else:
        piano = load_clips(_source(cfg, "piano"), n=max(n, 50), duration=secs, seed=cfg.seed)
        drums = load_clips(_source(cfg, "drums"), n=max(n, 50), duration=secs, seed=cfg.seed + 1)
        rng = np.random.default_rng(cfg.seed)
        pairs = [(piano[rng.integers(len(piano))], drums[rng.integers(len(drums))]) for _ in range(n)]
    for i, (a, b) in enumerate(pairs):
        mixture, sources = mix([a.audio, b.audio])
        out.append({"key": f"piano+drums/{a.id}+{b.id}#{i}", "dataset": "piano+drums", "observation": mixture,
                    "reference": sources, "sources": ["piano", "drums"]})
    return out


def score(task: str, reference, estimate) -> dict:
    """All the paper's metrics of one estimate (see METRICS); separation per source."""
    if task == "separate":
        bss = M.sdr_sir(reference, estimate)
        est = estimate[list(bss["perm"])]
        out = {}
        for s, name in enumerate(("piano", "drums")):
            out[f"sdr_{name}"] = float(bss["sdr"][s])
            out[f"sir_{name}"] = float(bss["sir"][s])
            out[f"spectral_snr_{name}"] = M.spectral_snr(reference[s], est[s])
            out[f"envelope_distance_{name}"] = M.envelope_distance(reference[s], est[s])
        return out
    fns = {"snr": M.snr, "psnr": M.psnr, "pesq": M.pesq, "si_sdr": M.si_sdr, "spectral_snr": M.spectral_snr,
           "envelope_distance": M.envelope_distance}
    return {m: fns[m](reference, estimate) for m in METRICS[task]}


def score_input(task: str, p: dict) -> dict:
    """Metrics of the corrupted input itself (for separation: the mixture as both estimates)."""
    obs = p["observation"]
    return score(task, p["reference"], torch.stack([obs, obs]) if task == "separate" else obs)
