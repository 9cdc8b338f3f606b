"""Seed spread and ensembles: the same noisy clip restored with seeds 0..S-1, blind.

Clips: the tutorial set's test part (not used to choose any setting): speech 2-4, digits 2-4,
piano 1-3 (0.5 s from their start), Gaussian noise of std 0.1 (noise seed 1000 + 10 * category
+ clip); each fit at a preset's settings (default ``fast``, the command line's), blind stop (with
``--full-budget`` the fit runs on to the budget, so that the last iterate and the oracle cover
all of it; without, "last" and "oracle" are those of the iterations fitted). Each fit's blind result is saved, so the ensembles of K = 3 and 5 members are the
averages of seeds 0..K-1's blind outputs: what ``denoise(seeds=K)`` computes (each member
stops by its own rule; the average of the waveforms equals that of the spectrograms, as the
inverse STFT is linear; tests/test_tasks.py checks both), and the ensemble's time is the sum of
its members' times up to their blind stops (on a CPU a batch costs what its members cost).

    python studies/seed_spread/seed_spread.py run --out /tmp/spread --worker 0/2   # one half of the fits
    python studies/seed_spread/seed_spread.py run --out /tmp/spread --worker 1/2   # the other half, in parallel
    python studies/seed_spread/seed_spread.py report --out /tmp/spread > docs/measurements/seed_spread.md
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import daptools as dap
from daptools.device import cpu_name
from daptools.experiments import RunConfig, corrupt

CLIPS = [("speech", i) for i in (2, 3, 4)] + [("digits", i) for i in (2, 3, 4)] + [("piano", i) for i in (1, 2, 3)]
CATEGORY = {"speech": 0, "digits": 1, "piano": 2}


def problem(cat: str, i: int, duration: float, std: float):
    """Table 1's corruption (Gaussian noise of ``std``) of one tutorial clip, seeded per clip."""
    clip = dap.data.load_clip(cat, i, duration=duration)
    p = corrupt(RunConfig("table1", noise_std=std), "denoise", cat, clip, seed=1000 + 10 * CATEGORY[cat] + i)
    return clip, p["observation"]


def run(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    k, n = map(int, args.worker.split("/"))
    preset = dap.get_preset(args.preset)
    jobs = [(cat, i, s) for cat, i in CLIPS for s in range(args.seeds)]
    for j, (cat, i, s) in enumerate(jobs):
        path = out / f"{cat}{i}_{args.prior}_seed{s}.npz"
        if j % n != k or path.exists():
            continue
        clip, noisy = problem(cat, i, preset.duration or 0.5, args.std)
        opts = preset.fit_options()
        opts["stopping"] = {**(opts["stopping"] or {}), "halt": not args.full_budget}
        t = time.perf_counter()
        r = dap.denoise(noisy, prior=args.prior, seed=s, reference=clip.audio, select="auto", progress=False,
                        monitor_every=5, **opts)
        seconds = time.perf_counter() - t
        meta = {"clip": clip.id, "category": cat, "index": i, "seed": s, "prior": args.prior, "preset": args.preset,
                "input": float(dap.metrics.snr(clip.audio, noisy)), "auto": float(r.scores["auto"][0]),
                "last": float(r.scores["last"][0]), "oracle": float(r.scores["oracle"][0]),
                "auto_iteration": int(r.auto_iteration[0]), "stop_iteration": int(r.stop_iteration[0]),
                "stop_reason": str(r.stop_reason[0]), "oracle_iteration": int(r.best_iteration[0]),
                "iterations": int(r.iterations), "seconds_per_iteration": r.seconds_per_iteration,
                "seconds_fitted": seconds, "threads": args.threads, "full_budget": args.full_budget, "cpu": cpu_name(), "precision": r.precision}
        np.savez(path, auto=r.audio.numpy(), clean=clip.audio.numpy(), meta=json.dumps(meta))
        print(f"{cat}{i} seed {s}: input {meta['input']:.2f} auto {meta['auto']:.2f} (stop {meta['stop_iteration']} "
              f"{meta['stop_reason']}) last {meta['last']:.2f} oracle {meta['oracle']:.2f}@{meta['oracle_iteration']}"
              f" {r.seconds_per_iteration * 1000:.0f} ms/it", flush=True)


def report(args) -> None:
    fits = {}
    for f in sorted(Path(args.out).glob("*.npz")):
        d = np.load(f)
        m = json.loads(str(d["meta"]))
        m["audio"], m["clean"] = d["auto"], d["clean"]
        fits.setdefault((m["category"], m["index"], m["prior"]), []).append(m)
    if not fits:
        raise SystemExit(f"no fits in {args.out}")
    first = next(iter(fits.values()))[0]
    print(f"Seed spread at preset {first['preset']} ({first['prior']}), {first['precision']}, {first['threads']} "
          f"thread(s) on {first['cpu']}; blind = the rule's stop (auto); Gaussian noise std {args.std}.\n")
    full = bool(first.get("full_budget"))
    print(f"| clip | n seeds | input | auto (blind) mean ± std | min / max | last mean{'' if full else ' (= the stop)'} | "
          f"oracle mean{'' if full else ' (best iterate up to the stop)'} | its at the stop |")
    print("|---|---|---|---|---|---|---|---|")
    per_cat = {}
    for (cat, i, prior), ms in fits.items():
        ms.sort(key=lambda m: m["seed"])
        a = np.array([m["auto"] for m in ms])
        per_cat.setdefault(cat, []).append(a)
        print(f"| {ms[0]['clip']} | {len(ms)} | {ms[0]['input']:.2f} | {a.mean():.2f} ± {a.std(ddof=1):.2f} | "
              f"{a.min():.2f} / {a.max():.2f} | {np.mean([m['last'] for m in ms]):.2f} | "
              f"{np.mean([m['oracle'] for m in ms]):.2f} | {np.mean([m['stop_iteration'] for m in ms]):.0f} |")
    print("\n| category | clips | std over seeds (mean over clips) | largest std |")
    print("|---|---|---|---|")
    for cat, arrs in per_cat.items():
        stds = [a.std(ddof=1) for a in arrs if len(a) > 1]
        if stds:
            print(f"| {cat} | {len(arrs)} | {np.mean(stds):.2f} | {np.max(stds):.2f} |")
    print("\nEnsembles: the blind outputs of seeds 0..K-1 averaged (K members, each stopped by its own rule); "
          "seconds = the members' fitting time up to their stops, per clip.\n")
    print("| K | n clips | SNR mean ± std over clips | gain over K = 1 (seed 0 alone) | seconds per clip (median) |")
    print("|---|---|---|---|---|")
    base = None
    for k in (1, 3, 5):
        snrs, secs = [], []
        for ms in fits.values():
            if len(ms) < k:
                continue
            clean = torch.from_numpy(ms[0]["clean"])
            avg = torch.from_numpy(np.mean([m["audio"] for m in ms[:k]], axis=0))
            snrs.append(float(dap.metrics.snr(clean, avg)))
            secs.append(sum(m["stop_iteration"] * m["seconds_per_iteration"] for m in ms[:k]))
        if not snrs:
            continue
        s = np.array(snrs)
        base = s if k == 1 else base
        gain = "–" if k == 1 else f"{(s - base[:len(s)]).mean():+.2f}"
        print(f"| {k} | {len(s)} | {s.mean():.2f} ± {s.std(ddof=1):.2f} | {gain} | {np.median(secs):.0f} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["run", "report"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--prior", default="exp_dense")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--std", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--full-budget", action="store_true")
    ap.add_argument("--worker", default="0/1", help="k/n: run every n-th fit, starting at the k-th")
    args = ap.parse_args(argv)
    run(args) if args.what == "run" else report(args)


if __name__ == "__main__":
    main()
