"""How denoising quality depends on iterations, learning rate and schedule (the choice of the lab preset).

Fits a prior to Gaussian-noise (std 0.1) versions of tutorial clips for each
(lr, schedule) and records the SNR against the clean clip every few iterations
(a constant-lr run gives the whole quality-vs-iterations curve at once), plus the
final blind (last) and oracle numbers. One JSON line per run, appended to --out.

    python studies/lab_sweep/lab_sweep.py --prior exp_dense --channels 16,32,64 --duration 0.5 \
        --lrs 1e-3,3e-3,1e-2 --schedules constant --iterations 300 --out docs/measurements/lab_sweep_cpu.jsonl
"""
import argparse
import json
import time

import daptools as dap


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prior", default="exp_dense")
    ap.add_argument("--channels", default="35,70,140")
    ap.add_argument("--duration", type=float, default=0.5)
    ap.add_argument("--clips", default="speech:0,digits:3,piano:0", help="category:index,...")
    ap.add_argument("--lrs", default="1e-3,3e-3,1e-2")
    ap.add_argument("--schedules", default="constant")
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--every", type=int, default=25)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    channels = tuple(int(c) for c in args.channels.split(","))
    clips = [dap.data.load_clip(c.split(":")[0], int(c.split(":")[1]), duration=args.duration)
             for c in args.clips.split(",")]
    for schedule in args.schedules.split(","):
        for lr in (float(x) for x in args.lrs.split(",")):
            for clip in clips:
                noisy = dap.add_gaussian_noise(clip.audio, 0.1, seed=0)
                t = time.perf_counter()
                r = dap.denoise(noisy, prior=args.prior, iterations=args.iterations, lr=lr, schedule=schedule,
                                reference=clip.audio, monitor_every=args.every, device=args.device,
                                progress=False, prior_options={"channels": channels})
                row = {"prior": args.prior, "channels": channels, "duration": args.duration, "clip": clip.id,
                       "lr": lr, "schedule": schedule, "iterations": args.iterations,
                       "noisy_snr": dap.metrics.snr(clip.audio, noisy),
                       "curve_iteration": r.history["monitor_iteration"].tolist(),
                       "curve_snr": r.history["score"][:, 0].round(3).tolist(),
                       "last": float(r.scores["last"][0]), "oracle": float(r.scores["oracle"][0]),
                       "seconds": time.perf_counter() - t, "device": r.device}
                with open(args.out, "a") as f:
                    f.write(json.dumps(row) + "\n")
                print(f"{args.prior} lr={lr:g} {schedule}: {clip.id} noisy {row['noisy_snr']:.2f} -> "
                      f"last {row['last']:.2f} (oracle {row['oracle']:.2f}) in {row['seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
