"""Choosing the device and the numeric precision for fitting (notebook 01, docs/performance.md)."""
from __future__ import annotations

import functools
import os

import torch

from ._checks import DapError


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (or None) picks CUDA, then Apple MPS, then the CPU; otherwise checks the name.

    Args:
        device (str | torch.device | None): "auto", "cpu", "cuda", "cuda:1", "mps".

    Returns:
        torch.device
    """
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise DapError(f"unknown device {device!r}; use auto, cpu, cuda or mps") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DapError(f"device {device!r} asked for, but no CUDA GPU is available; use --device cpu or auto")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DapError(f"device {device!r} asked for, but Apple MPS is not available; use cpu or auto")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise DapError(f"device type {dev.type!r} is not supported; use auto, cpu, cuda or mps")
    return dev


@functools.lru_cache(maxsize=None)
def cpu_supports_bf16() -> bool:
    """True when the CPU has native bf16 arithmetic (AVX512-BF16 or AMX), so autocast pays off."""
    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return False
        flags = open("/proc/cpuinfo").read()
    except (OSError, AttributeError, RuntimeError):
        return False
    # oneDNN emulates bf16 on plain AVX512/AVX2 CPUs, which is far slower than fp32
    return any(f in flags for f in (" avx512_bf16", " amx_bf16"))


# what "auto" means on the CPU, overridden: "bf16" makes a CPU without native bf16 take the bf16
# path (to test it there: the suite's cheap numeric tests run this way too), "fp32" turns it off
AUTO_PRECISION_ENV = "DAPTOOLS_AUTO_PRECISION"


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"auto"`` -> "bf16" on CPUs that compute bf16 natively (AVX512-BF16 or AMX), else "fp32"
    (the environment variable ``DAPTOOLS_AUTO_PRECISION=bf16|fp32`` overrides the CPU's choice).
    Explicit "fp32" / "bf16" are checked and returned.

    Measured, not assumed (docs/performance.md): on a CPU without native bf16, oneDNN
    emulates it 20-100x slower than fp32; on an H200 a single-clip step was slower in
    bf16 autocast (11.9 ms) than in fp32 (9.6 ms), the cast kernels costing more than
    the tensor cores save at these sizes; so CUDA stays fp32 unless asked.
    """
    if precision not in ("auto", "fp32", "bf16"):
        raise DapError(f"precision must be auto, fp32 or bf16, got {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cpu":
        forced = os.environ.get(AUTO_PRECISION_ENV, "").strip().lower()
        if forced:
            if forced not in ("fp32", "bf16"):
                raise DapError(f"{AUTO_PRECISION_ENV}={forced!r}: set it to bf16 or fp32, or unset it")
            return forced
        return "bf16" if cpu_supports_bf16() else "fp32"
    return "fp32"


def autocast(device: torch.device, precision: str):
    """The autocast context for a resolved precision (a no-op for fp32)."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
