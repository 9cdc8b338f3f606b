"""Choosing the device and the numeric precision for fitting (notebook 01, docs/performance.md)."""
from __future__ import annotations

import functools
import os

import torch

from ._checks import DapError


def cpu_name() -> str:
    """The CPU's model name (what every timing is quoted with), or the platform's guess."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or platform.machine()


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


# The estimate below counts what autograd keeps for the backward pass; measured peaks on an H200
# (fp32, batch 1, paper size: docs/performance.md) were 0.96x (plain), 1.22x (exp_dense) and
# 1.30x (harmonic) of that count, so 1.5x is a margin over all three.
MEMORY_SAFETY = 1.5


def fit_memory_bytes(net: torch.nn.Module, shape, safety: float = MEMORY_SAFETY) -> int:
    """A conservative estimate of the peak GPU memory of one fit (one problem of a batch).

    Counted, not measured: the network runs once on PyTorch's ``meta`` device (shapes only, no
    arithmetic, so it costs milliseconds on any machine) and the tensors autograd saves for the
    backward pass are summed, plus the weights with their gradients and Adam's two moments; the
    sum is multiplied by ``safety``. The fp32 count is used for bf16 too (measured bf16 peaks
    were 30-40 % lower).

    Args:
        net (nn.Module): the prior of one problem (``in_channels`` sets z's channels, default 2).
            It is copied to the meta device; the original is left as it is.
        shape (tuple[int]): the observation of one problem, (channels, freq, frames).
        safety (float): the margin over the count (see MEMORY_SAFETY).

    Returns:
        int: bytes.
    """
    import copy
    meta = copy.deepcopy(net).to("meta")
    z = torch.empty(1, getattr(net, "in_channels", 2), *shape[1:], device="meta")
    saved = [0]

    def pack(t):
        saved[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = meta(z).float()
    weights = 4 * sum(4 * p.numel() for p in meta.parameters())  # weights, gradients, Adam's m and v
    return int(safety * (saved[0] + weights + 4 * out.numel() + 4 * z.numel()))


def auto_batch_size(device: torch.device, per_fit_bytes: int, cap: int = 16, reserve: float = 0.1) -> int:
    """How many problems to fit at once on ``device``: as many as its free memory holds.

    On CUDA: ``(free - reserve * total) // per_fit_bytes`` from ``torch.cuda.mem_get_info``
    (the reserve leaves room for the CUDA context, cuDNN workspaces and fragmentation),
    clipped to [1, cap]. On the CPU 1 (batching was measured slower there,
    docs/performance.md); on MPS, which has no free-memory query, 8 (the earlier default).

    Args:
        device (torch.device): where the fits run (resolved, see :func:`resolve_device`).
        per_fit_bytes (int): one problem's peak memory (see :func:`fit_memory_bytes`).
        cap (int): the largest batch. 16: on an H200 at the paper's size the time per problem fell
            from batch 1 to 16 (plain 7.9 -> 5.3 ms, exp_dense 12.0 -> 8.0 ms) and rose again for
            exp_dense at 64 (10.8 ms; docs/measurements/gpu_paper_20261204/step_times.md).
        reserve (float): the share of the card's total memory kept free.

    Returns:
        int: at least 1, at most ``cap``.
    """
    if per_fit_bytes <= 0 or cap < 1:
        raise DapError(f"auto_batch_size needs per_fit_bytes > 0 and cap >= 1, got {per_fit_bytes}, {cap}")
    if device.type == "cpu":
        return 1
    if device.type != "cuda":
        return min(8, cap)
    free, total = torch.cuda.mem_get_info(device)
    return int(max(1, min(cap, (free - reserve * total) // per_fit_bytes)))
