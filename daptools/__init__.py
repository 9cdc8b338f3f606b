"""daptools: deep audio priors for unsupervised audio restoration.

An executable companion to Narayanaswamy, Thiagarajan and Spanias, "On the
Design of Deep Priors for Unsupervised Audio Restoration" (Interspeech 2021).

    import daptools as dap
    clean = dap.load_audio("speech.wav", duration=1.0)
    noisy = dap.add_gaussian_noise(clean, std=0.1, seed=0)
    result = dap.denoise(noisy, prior="exp_dense", iterations=2000)
    dap.save_audio("denoised.wav", result.audio)
"""
from . import metrics
from ._checks import DapError
from .audio import load_audio, peak_normalize, resample, save_audio
from .corruptions import GapMask, add_gaussian_noise, add_noise_at_snr, apply_gaps, mix, random_gaps
from .device import resolve_device, resolve_precision
from .fit import FitResult, fit, make_scheduler, mse
from .presets import RUN_PRESETS, Preset, get_preset
from .priors import (DESCRIPTIONS, PRESETS, PRIOR_CONFIGS, UNetConfig, UNetPrior, build_prior, count_parameters,
                     prior_names, receptive_field)
from .spectral import HOP, N_FFT, SAMPLE_RATE, magnitude, to_complex, to_spectrogram, to_waveform
from . import separation
from .separation import RECIPES, MaskedSources, Recipe, estimates, masks_of
from .tasks import denoise, inpaint, separate

__version__ = "0.1.0"

_LAZY = ("data", "viz", "experiments", "harmonic", "bench", "cli", "segments", "resume", "fileio", "restore")
_LAZY_NAMES = {"restore_file": "restore"}  # functions of lazy submodules: dap.restore_file


def __getattr__(name):
    # submodules imported on first use (PEP 562): `python -m daptools.data` then runs cleanly
    if name in _LAZY:
        import importlib
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY_NAMES:
        return getattr(__getattr__(_LAZY_NAMES[name]), name)
    raise AttributeError(f"module 'daptools' has no attribute {name!r}")

__all__ = [
    "DapError", "data", "metrics", "viz", "experiments", "harmonic", "load_audio", "save_audio", "resample", "peak_normalize",
    "to_spectrogram", "to_waveform", "to_complex", "magnitude", "SAMPLE_RATE", "N_FFT", "HOP",
    "build_prior", "prior_names", "count_parameters", "receptive_field", "UNetConfig", "UNetPrior",
    "PRIOR_CONFIGS", "PRESETS", "DESCRIPTIONS", "fit", "FitResult", "make_scheduler", "mse", "resolve_device",
    "resolve_precision", "denoise", "inpaint", "separate", "separation",
    "MaskedSources", "Recipe", "RECIPES", "estimates", "masks_of",
    "Preset", "get_preset", "RUN_PRESETS",
    "add_gaussian_noise", "add_noise_at_snr", "random_gaps", "apply_gaps", "mix", "GapMask", "restore_file",
]
