"""Record whole fitting trajectories, to choose a blind stopping rule and the speed/quality frontier.

Each fit stores its output every ``--every`` iterations (float16), its loss curve and its
seconds per iteration in one ``.npz`` per (setting, clip) under ``--out`` (a scratch folder:
hundreds of MB, never committed). ``studies/stopping/stopping_analysis.py`` then replays any stopping
rule over the stored outputs (a rule only watches outputs, so replaying it is exact) and
scores every iterate against the clean clip.

    python studies/stopping/stopping_study.py --out /tmp/traj/lab --clips speech:0,digits:0 \
        --channels 16,32,64 --lr 3e-3 --iterations 1500 --duration 1
    python studies/stopping/stopping_study.py --out /tmp/traj/env --task denoise_env --clips speech:0 ...
    python studies/stopping/stopping_study.py --out /tmp/traj/inp --task inpaint --clips speech:0 ...
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import daptools as dap
from daptools.experiments import RunConfig, corrupt
from daptools.data import load_clips


def problem(task: str, category: str, index: int, duration: float, seed: int) -> dict:
    """The same corruptions as the experiment runner (Tables 1-3), for one tutorial clip."""
    clip = dap.data.load_clip(category, index, duration=duration)
    cfg = RunConfig(table={"denoise": "table1", "denoise_env": "table2", "inpaint": "table3"}[task])
    noise = load_clips("noise", n=50, duration=duration, seed=seed) if task == "denoise_env" else None
    return corrupt(cfg, task, category, clip, seed * 1000 + 17 * index + 1, noise)


def run(args, category: str, index: int, out: Path) -> None:
    p = problem(args.task, category, index, args.duration, args.seed)
    name = f"{p['key'].replace('/', '_')}.npz"
    if (out / name).exists():
        print(f"skip {name} (exists)", flush=True)
        return
    snaps, its = [], []

    def keep(info):
        its.append(info["iteration"])
        snaps.append(info["output"].detach().cpu().to(torch.float16))

    opts = dict(iterations=args.iterations, lr=args.lr, schedule=args.schedule, seed=args.seed, precision=args.precision,
                prior_options={"channels": args.channels}, callback=keep, every=args.every, progress=False,
                hop=args.hop, input_noise=args.input_noise, select="last")
    t = time.perf_counter()
    if args.task == "inpaint":
        # with --holdout the rule runs (never halting) to record its held-out error; select stays "last"
        extra = dict(holdout=args.holdout, stopping={"halt": False}) if args.holdout else dict(holdout=None)
        res = dap.inpaint(p["solver_input"], p["mask"], prior=args.prior, **opts, **extra)
        mask = p["mask"].spectrogram(args.hop).numpy()
    else:
        res = dap.denoise(p["observation"], prior=args.prior, **opts)
        mask = None
    wall = time.perf_counter() - t
    np.savez_compressed(
        out / name, snaps=torch.stack(snaps)[:, 0].numpy(), iterations=np.array(its),
        loss=res.history["loss"][:, 0], reference=p["reference"].numpy(), observation=p["observation"].numpy(),
        solver_input=p.get("solver_input", p["observation"]).numpy(), mask=mask if mask is not None else np.zeros(0),
        stat=res.history.get("stat", np.zeros((0, 1)))[:, 0], stat_iteration=res.history.get("stat_iteration", np.zeros(0)),
        meta=json.dumps({"task": args.task, "clip": p["key"], "prior": args.prior, "channels": args.channels,
                         "lr": args.lr, "schedule": args.schedule, "hop": args.hop, "duration": args.duration,
                         "seed": args.seed, "input_noise": args.input_noise, "precision": res.precision,
                         "holdout": args.holdout,
                         "seconds_per_iteration": res.seconds_per_iteration, "wall": wall,
                         "threads": torch.get_num_threads(), "input_snr_db": p.get("input_snr_db"),
                         "noise": p.get("noise")}))
    print(f"{out.name} {p['key']}: {res.iterations} its, {res.seconds_per_iteration * 1000:.0f} ms/it, "
          f"{wall:.0f} s", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--task", default="denoise", choices=["denoise", "denoise_env", "inpaint"])
    ap.add_argument("--clips", required=True, help="category:index,... (tutorial set)")
    ap.add_argument("--prior", default="exp_dense")
    ap.add_argument("--channels", default="16,32,64")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--schedule", default=None)
    ap.add_argument("--hop", type=int, default=64)
    ap.add_argument("--input-noise", type=float, default=0.0)
    ap.add_argument("--iterations", type=int, default=1500)
    ap.add_argument("--duration", type=float, default=1.0)
    ap.add_argument("--every", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--precision", default="fp32", help="fp32 (default), bf16 or auto")
    ap.add_argument("--holdout", type=float, default=0.0,
                    help="inpaint: seconds per held-out block (0: none); records the held-out error")
    args = ap.parse_args(argv)
    args.channels = tuple(int(c) for c in args.channels.split(","))
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for item in args.clips.split(","):
        cat, idx = item.split(":")
        run(args, cat, int(idx), out)


if __name__ == "__main__":
    main()
