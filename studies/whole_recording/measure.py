"""Every channel and the full band: what `daptools denoise` does to a real stereo 44.1 kHz recording.

    python studies/whole_recording/measure.py SOURCE.flac --seconds 3 --std 0.02 --out DIR

Feeds docs/whole_recording.md. Three parts, each printed as a table and written to DIR/results.json:

1. the high band (above 8 kHz) of the noisy recording, five ways (dropped as before issue 24, passed
   through, Wiener gains): its SNR against the clean high band, per channel; no prior involved;
2. ``daptools denoise`` (restore_file, the preset given) on the stereo file and with ``mono``: SNR per
   channel before and after, the energy above 8 kHz against the clean recording, the wall time;
3. a sine sweep through the crossover (6 -> 10 kHz): the largest level step between consecutive
   10 ms windows and the level range across 7-9 kHz, for the bands joined untouched and after
   ``daptools denoise``.

Public names only. The CPU is printed beside every timing.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import re
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

import daptools as dap
from daptools.bands import high_band_noise_std, join_bands, split_bands, wiener_high_band
from daptools.corruptions import estimate_noise_std

EDGE = 8000.0


def cpu() -> str:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"model name\s*:\s*(.*)", text)
    bf16 = " (avx512_bf16)" if "avx512_bf16" in text else ""
    return f"{model.group(1) if model else platform.processor()}{bf16}, {torch.get_num_threads()} threads"


def snr(clean: np.ndarray, est: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(clean ** 2) / max(np.sum((clean - est) ** 2), 1e-30)))


def energy_above(x: np.ndarray, rate: int, edge: float = EDGE) -> float:
    """Energy of x (frames,) above ``edge`` Hz (Parseval, one FFT)."""
    spec = np.abs(np.fft.rfft(x)) ** 2
    return float(spec[np.fft.rfftfreq(x.size, 1 / rate) > edge].sum() / x.size)


def high_band_options(clean: torch.Tensor, noisy: torch.Tensor, rate: int, std: float) -> dict:
    """Part 1: the noisy high band five ways, scored against the clean high band."""
    _, clean_high = split_bands(clean, rate)
    _, noisy_high = split_bands(noisy, rate)
    d2 = [estimate_noise_std(c) for c in noisy]
    high = high_band_noise_std(noisy, rate)
    options = {
        "dropped (before issue 24)": torch.zeros_like(noisy_high),
        "passed through": noisy_high,
        "Wiener per frequency, noise from estimate_noise_std": wiener_high_band(noisy_high, noisy, rate, noise_std=d2),
        "Wiener per frequency, noise from high_band_noise_std (default)": wiener_high_band(noisy_high, noisy, rate),
        "Wiener per bin (3x3), noise from high_band_noise_std": wiener_high_band(noisy_high, noisy, rate, per="bin"),
    }
    rows = {}
    for name, est in options.items():
        rows[name] = {"high_band_snr_db": [snr(c.numpy(), e.numpy()) for c, e in zip(clean_high, est)],
                      "energy_above_8k_vs_clean_db": [10 * math.log10(max(energy_above(e.numpy(), rate), 1e-30) /
                                                                     energy_above(c.numpy(), rate))
                                                      for c, e in zip(clean, est)]}
    return {"true_std": std, "estimate_noise_std": d2, "high_band_noise_std": high.tolist(), "options": rows}


OPTIONS = {}  # --iterations, --precision: restore_file's


def restore(noisy_path: Path, out: Path, preset: str, mono: bool, seed: int, iterations=None) -> float:
    start = time.perf_counter()
    dap.restore_file("denoise", noisy_path, out, preset=preset, mono=mono, device="cpu", seed=seed, force=True,
                     **OPTIONS)
    return time.perf_counter() - start


def denoise_part(clean: np.ndarray, noisy: np.ndarray, rate: int, folder: Path, preset: str, iterations) -> dict:
    """Part 2: restore_file on the stereo file and with mono."""
    noisy_path = folder / "noisy.wav"
    sf.write(str(noisy_path), noisy, rate, subtype="FLOAT")
    runs = {}
    for name, mono in (("stereo", False), ("mono", True)):
        out = folder / f"restored_{name}.wav"
        seconds = restore(noisy_path, out, preset, mono, seed=0, iterations=iterations)
        y, _ = sf.read(str(out), dtype="float32", always_2d=True)
        y = np.repeat(y, clean.shape[1], 1) if y.shape[1] == 1 else y
        low_only = join_bands(split_bands(torch.from_numpy(y.T.copy()), rate)[0],
                              torch.zeros(y.shape[1], y.shape[0]), rate).T.numpy()
        runs[name] = {
            "seconds": seconds,
            "snr_db": [snr(clean[:, c], y[:, c]) for c in range(clean.shape[1])],
            "snr_db_high_band_dropped": [snr(clean[:, c], low_only[:, c]) for c in range(clean.shape[1])],
            "energy_above_8k_vs_clean_db": [10 * math.log10(energy_above(y[:, c], rate) / energy_above(clean[:, c], rate))
                                            for c in range(clean.shape[1])],
            "channels_written": int(sf.info(str(out)).channels),
        }
    return {"preset": preset, **OPTIONS, "cpu": cpu(),
            "noisy": {"snr_db": [snr(clean[:, c], noisy[:, c]) for c in range(clean.shape[1])],
                      "energy_above_8k_vs_clean_db": [10 * math.log10(energy_above(noisy[:, c], rate) /
                                                                      energy_above(clean[:, c], rate))
                                                      for c in range(clean.shape[1])]},
            "clean_energy_above_8k_share": [energy_above(clean[:, c], rate) /
                                            energy_above(clean[:, c], rate, 0.0) for c in range(clean.shape[1])],
            "runs": runs}


def sweep(rate: int, seconds: float = 2.0, f0: float = 6000.0, f1: float = 10000.0, amplitude: float = 0.3):
    """A logarithmic sine sweep and its instantaneous frequency."""
    t = np.arange(int(seconds * rate)) / rate
    k = math.log(f1 / f0) / seconds
    return amplitude * np.sin(2 * math.pi * f0 * (np.exp(k * t) - 1) / k), f0 * np.exp(k * t)


def level_steps(y: np.ndarray, freq: np.ndarray, rate: int, window: float = 0.01) -> dict:
    """Level in dB per window; the largest step between neighbours and the range, within 7-9 kHz."""
    n = int(window * rate)
    m = y.size // n
    level = 10 * np.log10(np.mean(y[:m * n].reshape(m, n) ** 2, 1) * 2 + 1e-30)  # dB re a full sine
    f = freq[:m * n].reshape(m, n).mean(1)
    near = (f > 7000) & (f < 9000)
    steps = np.abs(np.diff(level))[near[1:] & near[:-1]]
    return {"largest_step_db": float(steps.max()), "range_7_9k_db": float(np.ptp(level[near])),
            "level_db_at": {f"{hz / 1000:g} kHz": float(level[np.argmin(np.abs(f - hz))])
                            for hz in (6500, 7000, 7500, 7700, 8000, 8300, 9000, 9500)}}


def sweep_part(rate: int, folder: Path, preset: str, std: float, seconds: float, iterations) -> dict:
    """Part 3: the sweep through the crossover, joined untouched and denoised."""
    x, freq = sweep(rate, seconds)
    g = np.random.default_rng(1)
    noisy = x + std * g.standard_normal(x.size)
    low, high = split_bands(torch.from_numpy(noisy)[None], rate)
    joined = join_bands(low, high, rate)[0].numpy()
    path = folder / "sweep_noisy.wav"
    sf.write(str(path), noisy, rate, subtype="FLOAT")
    restore(path, folder / "sweep_restored.wav", preset, False, seed=0, iterations=iterations)
    restored, _ = sf.read(str(folder / "sweep_restored.wav"), dtype="float32")
    return {"noise_std": std, "identity_max_abs_error": float(np.abs(joined - noisy.astype(np.float32)).max()),
            "clean": level_steps(x, freq, rate), "noisy": level_steps(noisy, freq, rate),
            "joined_untouched": level_steps(joined, freq, rate), "denoised": level_steps(restored, freq, rate)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", help="a stereo recording at 44.1 or 48 kHz (e.g. Sonic Pi's perc_bell.flac)")
    parser.add_argument("--start", type=float, default=0.0, help="seconds into the source")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--std", type=float, default=0.02, help="Gaussian noise std (full scale 1)")
    parser.add_argument("--preset", default="fast", help="restore_file's preset (default fast, denoise's default)")
    parser.add_argument("--iterations", type=int, help="the most iterations per segment (default: the preset's)")
    parser.add_argument("--precision", help="fp32, bf16 or auto (default: the preset's)")
    parser.add_argument("--sweep-seconds", type=float, default=2.0, help="the sweep's length (6 -> 10 kHz)")
    parser.add_argument("--out", default="whole_recording_out", help="folder for the files and results.json")
    args = parser.parse_args(argv)
    OPTIONS.update({k: v for k, v in (("iterations", args.iterations), ("precision", args.precision)) if v})
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    data, rate = sf.read(args.source, dtype="float32", always_2d=True)
    clean = data[int(args.start * rate):int((args.start + args.seconds) * rate)]
    noisy = (clean + args.std * np.random.default_rng(0).standard_normal(clean.shape)).astype(np.float32)
    results = {"source": str(args.source), "rate": rate, "channels": clean.shape[1], "seconds": args.seconds,
               "std": args.std, "cpu": cpu(),
               "high_band": high_band_options(torch.from_numpy(clean.T.copy()), torch.from_numpy(noisy.T.copy()),
                                              rate, args.std),
               "denoise": denoise_part(clean, noisy, rate, folder, args.preset, args.iterations),
               "sweep": sweep_part(rate, folder, args.preset, 0.005, args.sweep_seconds, args.iterations)}
    (folder / "results.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
