"""Benchmark of the fitting step (docs/performance.md; outside the notebook series).

    python -m daptools.bench                      # speed table, every prior, this device
    python -m daptools.bench --quality            # fast paths vs fp32 eager: final SNR on real clips
    python -m daptools.bench --batched            # clips per hour, batched vs one at a time
    python -m daptools.bench --batches 1,4,16,64  # step time of B clips fitted together (vmap)
    python -m daptools.bench --lengths 0.5,1,2 --hops 128,256 --priors exp_dense --channels 16,32,64
                                                  # s/step per clip length and hop (studies/frontier)
    daptools bench --priors exp_dense --steps 10 --json bench.json

Speed: for each prior at the paper's size (a 1 s, 16 kHz clip: a 2 x 512 x 251
spectrogram) and each execution *path*, the training steps of :func:`daptools.fit`
are timed one by one after warm-up; we report the median, the peak memory, the
FLOP count of one step (forward + backward, counted by
``torch.utils.flop_counter``) and the achieved FLOP/s. Each (prior, path) runs in
a fresh subprocess: peak memory is that process's alone, and a path that crashes
(bf16 together with channels_last segfaulted on a CPU) is reported, not fatal.

Paths: ``eager`` (fp32, native dilated convolutions: the baseline),
``s2b`` (fp32, dilated convolutions as space-to-batch on the CPU: the default
there), ``bf16`` (autocast; only where the hardware computes bf16 natively),
``channels_last``, ``bf16_channels_last`` (both; CUDA) and ``compile`` (torch.compile), each
measured, never assumed. With ``--batches``, every (prior, path) is timed at each batch size B:
B independent problems in one step (what the runner does on a GPU); ``ms_per_problem`` is the
step time divided by B.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

from ._checks import DapError
from .device import cpu_name, cpu_supports_bf16, resolve_device
from .priors import DilatedConv2d, build_prior, prior_names

PATHS = ("eager", "s2b", "bf16", "channels_last", "bf16_channels_last", "compile")


def _path_options(path: str, device: torch.device) -> tuple[dict, bool] | None:
    """fit() options for a path and whether space-to-batch is on; None where it does not apply."""
    if path == "eager":
        return {"precision": "fp32"}, False
    if path == "s2b":
        return ({"precision": "fp32"}, True) if device.type == "cpu" else None
    if path == "bf16":
        native = device.type == "cuda" or (device.type == "cpu" and cpu_supports_bf16())
        return ({"precision": "bf16"}, True) if native else None
    if path == "channels_last":
        return {"precision": "fp32", "channels_last": True}, device.type == "cpu"
    if path == "bf16_channels_last":  # fit() drops channels_last with bf16 on a CPU (it crashed there)
        return ({"precision": "bf16", "channels_last": True}, False) if device.type == "cuda" else None
    if path == "compile":
        return {"precision": "fp32", "compile": True}, device.type == "cpu"
    raise DapError(f"unknown path {path!r}; choose from {', '.join(PATHS)}")


def _factory(prior: str, s2b: bool, options: dict):
    def make(seed):
        net = build_prior(prior, seed=seed, **options)
        for m in net.modules():
            if isinstance(m, DilatedConv2d):
                m.space_to_batch = s2b
        return net
    return make


def step_flops(prior: str, frames: int = 251, options: dict | None = None) -> int:
    """FLOP of one training step (forward + backward) at (1, 2, 512, frames), fp32, CPU."""
    from torch.utils.flop_counter import FlopCounterMode
    net = build_prior(prior, seed=0, **(options or {}))
    z = torch.randn(1, net.in_channels, 512, frames)
    with FlopCounterMode(display=False) as counter:
        net(z).square().mean().backward()
    return int(counter.get_total_flops())


def time_steps(prior: str, path: str, device="auto", frames: int = 251, steps: int = 5, warmup: int = 2,
               options: dict | None = None, batch: int = 1) -> dict:
    """Median time per training step of ``dap.fit`` for one prior and path (in this process).

    Args:
        prior (str), path (str): what to time (see PATHS).
        device (str): where.
        frames (int): spectrogram frames (251: a 1 s clip).
        steps (int), warmup (int): steps timed, after the untimed warm-up steps.
        options (dict | None): :func:`build_prior` options (e.g. channels).
        batch (int): problems fitted together (each with its own seed).

    Returns:
        dict: "median_ms" (one step of the whole batch), "ms_per_problem", "min_ms", "peak_mib", ...
        or "skipped" where the path does not apply.
    """
    from .fit import fit
    dev = resolve_device(device)
    opts = _path_options(path, dev)
    if opts is None:
        return {"prior": prior, "path": path, "batch": batch, "skipped": "does not apply on this device"}
    fit_opts, s2b = opts
    stamps = []

    def tick(info):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    obs = torch.randn(batch, 2, 512, frames, generator=torch.Generator().manual_seed(0))
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    fit(_factory(prior, s2b, options or {}), obs, iterations=warmup + steps, device=dev, progress=False,
        callback=tick, every=1, seed=list(range(batch)), select="last", **fit_opts)
    times = np.diff([start] + stamps)[warmup:]
    peak = (torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    median = 1000 * statistics.median(times)
    return {"prior": prior, "path": path, "device": str(dev), "batch": batch, "median_ms": median,
            "ms_per_problem": median / batch, "min_ms": 1000 * float(min(times)), "steps": steps, "warmup": warmup,
            "peak_mib": peak, "peak_kind": "cuda max allocated" if dev.type == "cuda" else "process max RSS"}


def frames_of(seconds: float, hop: int | None = None, sample_rate: int = 16000) -> int:
    """Spectrogram frames of a clip of ``seconds`` at ``hop`` (default: the paper's)."""
    from .spectral import HOP, to_spectrogram
    return int(to_spectrogram(torch.zeros(int(round(sample_rate * seconds))), hop=hop or HOP).shape[-1])


def setting_key(setting: dict) -> str:
    """A setting's name: prior, widths, learning rate, schedule, hop ("exp_dense 16/32/64 lr 0.003 ...")."""
    ch = "/".join(map(str, setting["channels"]))
    return f"{setting['prior']} {ch} lr {setting['lr']:g} {setting.get('schedule') or 'constant'} hop {setting['hop']}"


def step_seconds(settings: list[dict], lengths=(0.5, 1.0, 2.0), steps: int = 5, warmup: int = 2,
                 threads: int | None = None, device: str = "cpu") -> dict:
    """Median seconds per fp32 training step of each setting at each clip length (this process).

    The step cost is not proportional to the length (short spectrograms carry the dilations'
    padding), so each length is timed. On the CPU the default path (space-to-batch) is timed.

    Args:
        settings (list[dict]): each with "prior", "channels", "hop" (and "lr", "schedule" for its name).
        lengths (tuple[float]): clip seconds to time.
        steps (int), warmup (int): as for :func:`time_steps`.
        threads (int | None): torch threads (None: leave as is).
        device (str): where.

    Returns:
        dict: "cpu", "threads", "torch", "bf16_native" and "steps": {setting name: {str(seconds): s/step}}.
    """
    if threads:
        torch.set_num_threads(threads)
    path = "s2b" if resolve_device(device).type == "cpu" else "eager"
    out = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__,
           "bf16_native": cpu_supports_bf16(), "steps": {}}
    for s in settings:
        key = setting_key(s)
        for sec in lengths:
            row = time_steps(s["prior"], path, device=device, frames=frames_of(sec, s["hop"]), steps=steps,
                             warmup=warmup, options={"channels": tuple(s["channels"])})
            out["steps"].setdefault(key, {})[str(float(sec))] = row["median_ms"] / 1000
            print(f"{key:45s} {sec:.1f} s clip: {row['median_ms']:.0f} ms/step", flush=True)
    return out


def _run_isolated(prior, path, args, batch: int = 1) -> dict:
    """time_steps in a fresh interpreter (own peak memory; a crash, e.g. out of memory, becomes a row)."""
    cmd = [sys.executable, "-m", "daptools.bench", "--worker", prior, path, "--device", args.device,
           "--frames", str(args.frames), "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--channels", args.channels or "", "--batch", str(batch)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        why = proc.stderr.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        return {"prior": prior, "path": path, "batch": batch, "failed": f"exit {proc.returncode}: {why[0][:200]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def speed_table(args) -> list[dict]:
    """Every prior x path; speed-ups relative to fp32 eager measured in the same run."""
    rows = []
    options = _channels(args.channels)
    for prior in args.priors:
        flops = step_flops(prior, args.frames, options)  # of one problem
        for batch in args.batches:
            base = None
            for path in args.paths:
                row = _run_isolated(prior, path, args, batch)
                row["gflop_per_step"] = batch * flops / 1e9
                if "median_ms" in row:
                    row["tflops"] = batch * flops / (row["median_ms"] / 1000) / 1e12
                    base = row["median_ms"] if path == "eager" else base
                    row["speedup_vs_eager"] = base / row["median_ms"] if base else None
                rows.append(row)
                print(_fmt_row(row), flush=True)
    return rows


def _fmt_row(r: dict) -> str:
    if "median_ms" not in r:
        return f"| {r['prior']} | {r['path']} | {r.get('batch', 1)} | {r.get('skipped') or r.get('failed')} ||||||"
    sp = f"{r['speedup_vs_eager']:.2f}x" if r.get("speedup_vs_eager") else "–"
    return (f"| {r['prior']} | {r['path']} | {r['batch']} | {r['median_ms']:.1f} | {r['ms_per_problem']:.2f} | "
            f"{r['peak_mib']:.0f} | {r['gflop_per_step']:.1f} | {r['tflops'] * 1000:.1f} | {sp} |")


SPEED_HEADER = ("| prior | path | batch | ms/step (median) | ms/step per problem | peak MiB | GFLOP/step | "
                "achieved GFLOP/s | speed-up vs eager (same batch) |\n|---|---|---|---|---|---|---|---|---|")


def quality_check(args) -> list[dict]:
    """Final SNR of each fast path vs fp32 eager: same clips, seed and iterations."""
    from .corruptions import add_gaussian_noise
    from .data import load_clip
    from .fit import fit
    from .metrics import snr
    from .spectral import to_spectrogram, to_waveform
    dev = resolve_device(args.device)
    clips = [load_clip(c.split(":")[0], int(c.split(":")[1]), duration=args.duration).audio
             for c in args.clips.split(",")]
    rows = []
    for prior in args.priors:
        for path in args.paths:
            opts = _path_options(path, dev)
            if opts is None:
                continue
            fit_opts, s2b = opts
            scores = []
            for clean in clips:
                noisy = add_gaussian_noise(clean, 0.1, seed=0)
                res = fit(_factory(prior, s2b, _channels(args.channels)), to_spectrogram(noisy),
                          iterations=args.iterations, seed=0, device=dev, progress=False, **fit_opts)
                scores.append(snr(clean, to_waveform(res.output, clean.numel())))
            rows.append({"prior": prior, "path": path, "snr": scores, "seconds_per_iteration":
                         res.seconds_per_iteration})
            base = next(r["snr"] for r in rows if r["prior"] == prior and r["path"] == "eager")
            rows[-1]["max_abs_diff_db"] = float(np.max(np.abs(np.array(scores) - np.array(base))))
            print(f"| {prior} | {path} | {', '.join(f'{s:.2f}' for s in scores)} | "
                  f"{rows[-1]['max_abs_diff_db']:.3f} |", flush=True)
    return rows


def batched_throughput(args) -> dict:
    """Clips per hour: B clips fitted together (vmap) vs one at a time, same iterations."""
    from .fit import fit
    dev = resolve_device(args.device)
    out = {"device": str(dev), "batch": args.batch, "iterations": args.iterations, "rows": []}
    obs = torch.randn(args.batch, 2, 512, args.frames, generator=torch.Generator().manual_seed(0))
    for prior in args.priors:
        t = time.perf_counter()
        fit(prior, obs, iterations=args.iterations, device=dev, progress=False,
            prior_options=_channels(args.channels))
        batched = time.perf_counter() - t
        t = time.perf_counter()
        for b in range(args.batch):
            fit(prior, obs[b:b + 1], iterations=args.iterations, device=dev, progress=False,
                prior_options=_channels(args.channels))
        single = time.perf_counter() - t
        row = {"prior": prior, "batched_s": batched, "one_at_a_time_s": single,
               "clips_per_hour_batched_2000it": 3600 * args.batch / (batched * 2000 / args.iterations),
               "clips_per_hour_single_2000it": 3600 * args.batch / (single * 2000 / args.iterations)}
        out["rows"].append(row)
        print(f"| {prior} | {args.batch} | {row['clips_per_hour_single_2000it']:.1f} | "
              f"{row['clips_per_hour_batched_2000it']:.1f} | {single / batched:.2f}x |", flush=True)
    return out


def _channels(text):
    return {"channels": tuple(int(c) for c in text.split(","))} if text else {}


def environment() -> dict:
    """What the numbers were measured on."""
    dev = resolve_device("auto")
    return {"torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
            "processor": cpu_name(), "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
            "device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu",
            "cpu_native_bf16": cpu_supports_bf16(), "load_average": os.getloadavg()[0],
            "date": time.strftime("%Y-%m-%d %H:%M")}


def _lengths(args) -> int:
    """``--lengths``: :func:`step_seconds` of every prior x hop at the given widths."""
    from .spectral import HOP
    channels = (_channels(args.channels) or {}).get("channels") or (35, 70, 140)
    hops = [int(h) for h in args.hops.split(",") if h.strip()] or [HOP]
    settings = [{"prior": p.strip(), "channels": list(channels), "lr": args.lr, "schedule": None, "hop": h}
                for p in args.priors.split(",") for h in hops]
    result = step_seconds(settings, [float(x) for x in args.lengths.split(",")], steps=args.steps,
                          warmup=args.warmup, device=args.device if args.device != "auto" else "cpu")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="daptools bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--priors", default="plain,dilated,exp,exp_dense")
    ap.add_argument("--paths", default="eager,s2b,bf16,channels_last,compile")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--frames", type=int, default=251, help="spectrogram frames (251 = 1 s at 16 kHz)")
    ap.add_argument("--channels", default="", help="U-Net widths (default: the paper's 35,70,140)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--quality", action="store_true", help="final-SNR check of each path on real clips")
    ap.add_argument("--clips", default="speech:0,digits:3", help="clips for --quality")
    ap.add_argument("--duration", type=float, default=0.5, help="clip seconds for --quality")
    ap.add_argument("--iterations", type=int, default=100, help="iterations for --quality / --batched")
    ap.add_argument("--batched", action="store_true", help="clips per hour, batched vs one at a time")
    ap.add_argument("--batch", type=int, default=4, help="problems per batch for --batched")
    ap.add_argument("--batches", default="1", help="speed table: batch sizes to time, e.g. 1,4,16,64 (default 1)")
    ap.add_argument("--lengths", help="step seconds of each setting at these clip lengths, e.g. 0.5,1,2 "
                    "(with --hops; the JSON the frontier study reads, see studies/frontier)")
    ap.add_argument("--hops", default="", help="with --lengths: spectrogram hops, e.g. 128,256 (default the paper's)")
    ap.add_argument("--lr", type=float, default=1e-3, help="with --lengths: the settings' learning rate (their name)")
    ap.add_argument("--json", help="write all results here")
    ap.add_argument("--worker", nargs=2, metavar=("PRIOR", "PATH"), help=argparse.SUPPRESS)
    return ap


def _checked(args) -> argparse.Namespace:
    """The speed table's options as lists, each checked (one-line errors)."""
    args.priors = [p.strip() for p in args.priors.split(",")]
    args.paths = [p.strip() for p in args.paths.split(",")]
    try:
        args.batches = [int(b) for b in args.batches.split(",")]
    except ValueError:
        raise DapError(f"--batches must be whole numbers separated by commas, got {args.batches!r}") from None
    if min(args.batches) < 1:
        raise DapError(f"--batches must be at least 1, got {args.batches}")
    bad = [p for p in args.priors if p not in prior_names()] + [p for p in args.paths if p not in PATHS]
    if bad:
        raise DapError(f"unknown prior or path: {', '.join(bad)}")
    return args


def _measure(args) -> dict:
    """Quality check, batched throughput or the speed table, as asked; prints each table as it goes."""
    result = {"environment": environment(), "args": {k: v for k, v in vars(args).items() if k != "worker"}}
    print(json.dumps(result["environment"]))
    if args.quality:
        print("| prior | path | final SNR per clip (dB) | max |diff| vs eager (dB) |\n|---|---|---|---|")
        result["quality"] = quality_check(args)
    elif args.batched:
        print("| prior | batch | clips/h one at a time (2000 it) | clips/h batched | speed-up |\n|---|---|---|---|---|")
        result["batched"] = batched_throughput(args)
    else:
        print(SPEED_HEADER)
        result["speed"] = speed_table(args)
    return result


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.worker:
            print(json.dumps(time_steps(*args.worker, device=args.device, frames=args.frames, steps=args.steps,
                                        warmup=args.warmup, options=_channels(args.channels), batch=args.batch)))
            return 0
        if args.lengths:
            return _lengths(args)
        result = _measure(_checked(args))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1)
    except DapError as exc:
        print(f"daptools bench: error: {exc}", file=sys.stderr)
        return 2
    return 0

if __name__ == "__main__":
    sys.exit(main())
