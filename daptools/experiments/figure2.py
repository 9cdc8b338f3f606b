"""Figure 2 of the paper: denoising SNR against iterations and seconds, for several priors.

One concern: :func:`convergence` fits one noisy clip with each prior and records the SNR curve,
the oracle's best and the blind rule's stop; :func:`plot_convergence` draws it. Taught in
notebook 10 (convergence and the paper).
"""
from __future__ import annotations

import numpy as np
import torch

from .. import metrics as M
from ..corruptions import add_gaussian_noise
from ..priors import DESCRIPTIONS
from ..tasks import denoise


def convergence(clip: torch.Tensor, priors=("plain", "exp_dense", "harmonic"), iterations: int = 300,
                seed: int = 0, noise_std: float = 0.1, device: str = "auto", precision: str = "auto",
                monitor_every: int = 10, **fit_options) -> dict:
    """Denoising SNR against iterations and wall-clock seconds for several priors (Figure 2).

    Args:
        clip (Tensor): clean waveform; Gaussian noise of ``noise_std`` is added (seeded).
        priors (tuple[str]): priors to compare.
        iterations (int), seed (int), device (str), precision (str): as for :func:`daptools.fit`.
        monitor_every (int): iterations between SNR measurements.

    Returns:
        dict: per prior "iteration", "seconds" (elapsed at each measurement, from the mean
        step time), "snr", "best_snr", "best_iteration", "seconds_to_best", "seconds_per_iteration";
        plus "noisy_snr".
    """
    noisy = add_gaussian_noise(clip, noise_std, seed=seed)
    out = {"noisy_snr": M.snr(clip, noisy), "iterations": iterations, "curves": {}}
    for prior in priors:
        stopping = {**(fit_options.pop("stopping", None) or {}), "halt": False}  # whole curves; mark the stop
        res = denoise(noisy, prior=prior, iterations=iterations, seed=seed, reference=clip, device=device,
                      precision=precision, monitor_every=monitor_every, progress=False, select="auto",
                      stopping=stopping, **fit_options)
        out["curves"][prior] = _curve(res)
    return out


def _curve(res) -> dict:
    """One prior's curve from its fit: SNR per monitored iteration, the oracle's best, the blind stop."""
    it = res.history["monitor_iteration"]
    snr = res.history["score"][:, 0]
    k = int(np.argmax(snr))
    return {"iteration": it.tolist(), "seconds": (it * res.seconds_per_iteration).tolist(),
            "snr": snr.tolist(), "best_snr": float(snr[k]), "best_iteration": int(it[k]),
            "seconds_to_best": float(it[k] * res.seconds_per_iteration),
            "auto_snr": float(res.scores["auto"][0]), "auto_iteration": int(res.auto_iteration[0]),
            "stop_iteration": int(res.stop_iteration[0]),
            "stat_iteration": res.history["stat_iteration"].tolist(),
            "stat": res.history["stat"][:, 0].tolist(),
            "seconds_per_iteration": res.seconds_per_iteration, "device": res.device,
            "precision": res.precision}


def plot_convergence(result: dict, path=None):
    """Figure 2: SNR against iterations (left) and seconds (right); returns the figure."""
    import matplotlib
    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for prior, c in result["curves"].items():
        line, = axes[0].plot(c["iteration"], c["snr"], label=DESCRIPTIONS.get(prior, prior))
        axes[1].plot(c["seconds"], c["snr"], label=DESCRIPTIONS.get(prior, prior))
        if "stop_iteration" in c:  # where the blind rule stopped, and the quality of what it chose
            axes[0].plot(c["stop_iteration"], c["auto_snr"], "v", color=line.get_color(), ms=7)
            axes[1].plot(c["stop_iteration"] * c["seconds_per_iteration"], c["auto_snr"], "v",
                         color=line.get_color(), ms=7)
    axes[0].plot([], [], "kv", ls="none", label="blind stop (auto)")
    for ax, xl in zip(axes, ("iteration", f"seconds ({next(iter(result['curves'].values()))['device']})")):
        ax.axhline(result["noisy_snr"], color="grey", ls="--", lw=1, label="noisy input")
        ax.set_xlabel(xl)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("SNR (dB) against the clean clip")
    axes[0].legend(fontsize=8)
    fig.suptitle("Convergence of deep audio priors (denoising; cf. the paper's Figure 2)")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig

