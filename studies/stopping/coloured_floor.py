"""Which noise floor stops a denoising fit with coloured (environmental) noise near its best iterate?

Replays the noise-floor rule of :mod:`daptools.stopping` over trajectories recorded by
``stopping_study.py --task denoise_env`` (or ``--task denoise`` for the white-noise check), with
the floor computed from each of these blind noise estimates (the loss is compared with
``spectral.white_noise_power`` of the estimated variance: by Parseval, the mean squared
spectrogram of noise depends only on its variance, whatever its colour):

* ``white``: the median absolute second difference (``corruptions.estimate_noise_std``, the rule
  before this study);
* ``spectrum q=...``: the mean of the per-band low-quantile estimate
  (``estimate_noise_spectrum`` below);
* ``auto``: ``estimate_noise_variance`` below (white where the per-band estimate is flat, the
  per-band mean elsewhere). Neither per-band floor won (docs/stopping.md), so both estimators live
  here, not in the package;
* ``true noise`` (diagnostic only: it reads the noise the clip was corrupted with);

and the package's rule as ``dap.denoise`` hands it, replayed with :class:`daptools.stopping.Monitor`:
``white floor only`` (before the loss plateau) and ``white floor + loss plateau`` (the default).
``--budget N`` replays as if the fits had N iterations (e.g. 300, the lab preset's).

    python studies/stopping/coloured_floor.py /tmp/traj/env_fast /tmp/traj/env_lab --json /tmp/coloured.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from daptools.metrics import snr
from daptools.corruptions import estimate_noise_std
from daptools.spectral import white_noise_power
from daptools.stopping import Stopping
from stopping_analysis import load, quality_curve, replay  # same folder

MIN_ITERATIONS, EVERY = 100, 5  # the rule's defaults (daptools.stopping.Stopping)


def estimate_noise_spectrum(wav, n_fft: int = 256, quantile: float = 0.1) -> np.ndarray:
    """Blind estimate of the noise's power per frequency (coloured noise), from a low quantile per band.

    In each band of a short-time spectrum (Hann window of ``n_fft`` samples, half overlap), a
    band holding only noise has a power |X|^2 that is exponentially distributed around its mean;
    its ``quantile``-th quantile over the frames, divided by -ln(1 - quantile), estimates that
    mean wherever the signal leaves at least that share of the frames to the noise alone (speech
    pauses, the gaps between notes). A band the signal fills in every frame (a sustained tone)
    is overestimated. The short window gives enough frames for a quantile on clips of 0.5 s.

    Args:
        wav (Tensor): waveform (samples,), at least ``n_fft`` samples.
        n_fft (int): analysis window (default 256: 16 ms at 16 kHz, 62 frames in 0.5 s).
        quantile (float): the low quantile per band (default 0.1).

    Returns:
        ndarray (n_fft // 2 + 1,): the noise variance per sample in each band, scaled so that white
        noise of standard deviation s gives s^2 in every band (its mean is the noise variance).
    """
    x = torch.as_tensor(wav).double().flatten()
    if x.numel() < n_fft:
        raise ValueError(f"the waveform is too short to estimate its noise spectrum: give at least {n_fft} samples")
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be between 0 and 1, got {quantile}")
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    frames = x.unfold(0, n_fft, n_fft // 2) * window
    power = torch.fft.rfft(frames, dim=1).abs().pow(2)                    # (frames, bands)
    level = torch.quantile(power, quantile, dim=0) / -np.log1p(-quantile)
    return (level / window.pow(2).sum()).numpy()


def estimate_noise_variance(wav, white_flatness: float = 0.5) -> tuple[float, str]:
    """Blind estimate of the noise variance of a recording, white or coloured.

    The per-band estimate (``estimate_noise_spectrum``) decides: where it is nearly flat
    (spectral flatness, the ratio of its geometric to its arithmetic mean, at least
    ``white_flatness``) the noise is taken as white and ``corruptions.estimate_noise_std`` (the median
    absolute second difference: accurate on white noise) gives the variance; otherwise the mean
    of the per-band estimate does (the second difference sees high frequencies only and misses
    low-frequency noise such as traffic or hum).

    Args:
        wav (Tensor): waveform (samples,).
        white_flatness (float): flatness at and above which the noise counts as white.

    Returns:
        tuple[float, str]: the variance, and "white" or "coloured".
    """
    spectrum = np.maximum(estimate_noise_spectrum(wav), 1e-30)
    flatness = float(np.exp(np.log(spectrum).mean()) / spectrum.mean())
    if flatness >= white_flatness:
        return estimate_noise_std(wav) ** 2, "white"
    return float(spectrum.mean()), "coloured"

def variances(d: dict) -> dict:
    obs = torch.from_numpy(d["observation"])
    out = {"white": estimate_noise_std(obs) ** 2}
    for q in (0.05, 0.1, 0.2):
        out[f"spectrum q={q}"] = float(estimate_noise_spectrum(obs, quantile=q).mean())
    out["auto"] = estimate_noise_variance(obs)[0]
    out["true noise"] = float((obs - torch.from_numpy(d["reference"])).double().var())
    return out


def stop_at(d: dict, floor: float) -> int:
    """Index into the stored iterates where the floor rule stops (the last one if it never does)."""
    its, loss = d["iterations"], d["loss"]
    for k, it in enumerate(its):
        if it % EVERY == 0 and it >= MIN_ITERATIONS and loss[it - 1] <= floor:
            return k
    return len(its) - 1


def truncated(d: dict, budget: int | None) -> dict:
    if budget is None:
        return d
    keep = d["iterations"] <= budget
    return {**d, "iterations": d["iterations"][keep], "snaps": d["snaps"][keep], "loss": d["loss"][:budget]}


def analyse(path: Path, budget: int | None = None) -> dict:
    d = truncated(load(path), budget)
    q = quality_curve(d)
    n = d["observation"].size
    hop = d["meta"]["hop"]
    best = int(np.argmax(q))
    row = {"fit": f"{path.parent.name}/{d['meta']['clip']}", "noise": d["meta"].get("noise"),
           "input_snr_db": snr(torch.from_numpy(d["reference"]), torch.from_numpy(d["observation"])), "kind": estimate_noise_variance(
               torch.from_numpy(d["observation"]))[1],
           "oracle": float(q[best]), "oracle_it": int(d["iterations"][best]), "last": float(q[-1]),
           "budget": int(d["iterations"][-1]), "spi": d["meta"]["seconds_per_iteration"], "rules": {}}
    for name, var in variances(d).items():
        k = stop_at(d, white_noise_power(n, float(np.sqrt(var)), hop=hop))
        row["rules"][name] = {"score": float(q[k]), "stop": int(d["iterations"][k]), "variance": var}
    for name, rule in {"white floor only": Stopping(loss_plateau=False), "white floor + loss plateau": Stopping()}.items():
        r = replay(d, rule, row["budget"])
        row["rules"][name] = {"score": r["score"], "stop": r["stop"], "reason": r["reason"]}
    return row


def summary(rows: list[dict]) -> str:
    names = list(rows[0]["rules"])
    lines = ["| rule | mean (rule - oracle) dB | worst | mean (rule - last) dB | mean stop | stops before the budget |",
             "|---|---|---|---|---|---|"]
    for name in names:
        gap = np.array([r["rules"][name]["score"] - r["oracle"] for r in rows])
        gain = np.array([r["rules"][name]["score"] - r["last"] for r in rows])
        stops = np.array([r["rules"][name]["stop"] for r in rows])
        early = sum(r["rules"][name]["stop"] < r["budget"] for r in rows)
        lines.append(f"| {name} | {gap.mean():+.2f} | {gap.min():+.2f} | {gain.mean():+.2f} | {stops.mean():.0f} | "
                     f"{early}/{len(rows)} |")
    return "\n".join(lines)


def per_fit(rows: list[dict]) -> str:
    lines = ["| fit | noise (kind found) | input | oracle (it) | last | white floor | auto floor | true-noise floor "
             "| white floor + loss plateau (default) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cell = {k: f"{v['score']:.2f} ({v['stop']})" for k, v in r["rules"].items()}
        lines.append(f"| {r['fit']} | {r['noise']} ({r['kind']}) | {r['input_snr_db']:.2f} | {r['oracle']:.2f} "
                     f"({r['oracle_it']}) | {r['last']:.2f} | {cell['white']} | {cell['auto']} | {cell['true noise']} | "
                     f"{cell['white floor + loss plateau']} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+", help="trajectory folders of stopping_study.py")
    ap.add_argument("--json", help="write the per-fit rows here")
    ap.add_argument("--budget", type=int, default=None, help="replay as if the fits had this many iterations")
    args = ap.parse_args(argv)
    rows = [analyse(p, args.budget) for f in args.folders for p in sorted(Path(f).glob("*.npz"))]
    print(per_fit(rows), "\n")
    print(summary(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
