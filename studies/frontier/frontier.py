"""The speed/quality frontier on a CPU: blind SNR gain against seconds, per setting (docs/performance.md).

Two inputs, so that quality and speed are measured apart (quality does not depend on how busy the
machine was; speed is measured once, on an idle machine, all settings in one run):

* the per-fit trajectories' analysis from studies/stopping/stopping_analysis.py (``--analysis``): for
  each setting and clip, the SNR of every stored iterate and where the blind rule stopped;
* step times (``--steps``): the JSON written by ``--measure``, which times one training step of
  every setting at 0.5, 1 and 2 s in this process (:func:`daptools.bench.step_seconds`, also
  ``python -m daptools.bench --lengths 0.5,1,2 --hops ... --json``; median of 5 steps after warm-up).

    python studies/frontier/frontier.py --measure --steps docs/measurements/frontier_steps.json
    python studies/frontier/frontier.py --analysis /tmp/frontier.json --steps docs/measurements/frontier_steps.json \
        --figure docs/frontier.png --table docs/measurements/frontier.md

A setting is named by the trajectory folder's metadata: prior, widths, learning rate, schedule, hop.
Time per fit = iterations x the seconds per step measured at the clip's length (0.5, 1 and 2 s are
measured: the cost is not proportional to the length, short spectrograms carry the padding of the
dilations); "seconds per second of audio" divides by the clip's length.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import daptools as dap
from daptools.bench import setting_key, step_seconds


def per_second(steps: dict, key: str) -> float:
    """Seconds per step for 1 s of audio (the 1 s measurement)."""
    return steps["steps"][key]["1.0"]


def step_time(steps: dict, key: str, duration: float) -> float:
    """Seconds per step on a clip of ``duration`` s: measured at that length where it was (the cost
    is not proportional to the length: short spectrograms carry the dilations' padding), else
    scaled from the 1 s measurement."""
    measured = steps["steps"][key]
    return measured.get(str(float(duration)), measured["1.0"] * duration)


def frontier(rows: list[dict], steps: dict, rule: str) -> dict:
    """Per setting: mean blind gain at the rule's stop, the time it took, and the oracle gain curve."""
    by = {}
    for r in rows:
        by.setdefault(setting_key(r["meta"]), []).append(r)
    out = {}
    for key, group in by.items():
        if key not in steps["steps"]:
            continue
        sps = per_second(steps, key)
        g, t, clips = [], [], []
        for r in group:
            got = next(v for k, v in r["rules"].items() if k.split("@")[0] == rule)
            g.append(got["score"] - r["input"])
            t.append(got["stop"] * step_time(steps, key, r["meta"]["duration"]))
            clips.append(r["meta"]["clip"])
        its = np.array(group[0]["curve"]["iteration"])
        n = min(len(r["curve"]["quality"]) for r in group)
        curve = np.mean([np.array(r["curve"]["quality"][:n]) - r["input"] for r in group], 0)
        sec = step_time(steps, key, group[0]["meta"]["duration"])
        out[key] = {"gain": float(np.mean(g)), "gain_std": float(np.std(g, ddof=1)) if len(g) > 1 else 0.0,
                    "n": len(g),
                    "seconds_per_clip_second": float(np.mean(t) / group[0]["meta"]["duration"]),
                    "stop": float(np.mean([g_["stop"] for g_ in (next(v for k, v in r["rules"].items()
                                                                       if k.split("@")[0] == rule) for r in group)])),
                    "clips": clips, "curve_seconds": (its[:n] * sec / group[0]["meta"]["duration"]).tolist(), "curve_gain": curve.tolist(),
                    "seconds_per_step_1s": sps}
    return out


def plot(front: dict, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.6))
    for key, f in sorted(front.items()):
        line, = ax.plot(f["curve_seconds"], f["curve_gain"], lw=1, alpha=0.6)
        ax.errorbar(f["seconds_per_clip_second"], f["gain"], yerr=f["gain_std"], fmt="o", color=line.get_color(),
                    capsize=3, label=f"{key} (n={f['n']})")
    ax.set_xscale("log")
    ax.set_xlabel("CPU seconds per second of audio (log)")
    ax.set_ylabel("SNR gain over the noisy input (dB)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def table(front: dict) -> str:
    lines = ["| setting | n | blind gain (dB) | its at stop | s/step (1 s clip) | s per s of audio |",
             "|---|---|---|---|---|---|"]
    for key, f in sorted(front.items(), key=lambda kv: kv[1]["seconds_per_clip_second"]):
        lines.append(f"| {key} | {f['n']} | {f['gain']:.2f} ± {f['gain_std']:.2f} | {f['stop']:.0f} | "
                     f"{f['seconds_per_step_1s']:.2f} | {f['seconds_per_clip_second']:.0f} |")
    return "\n".join(lines) + "\n"


def from_trajectories(folders: list[str], steps: dict) -> list[dict]:
    """Per fit of the trajectory folders: the SNR curve, where the package's default rule stops
    (replayed by studies/stopping/stopping_analysis.py's simulation, checked there against the Monitor), and
    the CPU seconds per second of audio at each iteration (this machine's measured step time)."""
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stopping"))
    import stopping_analysis as S
    from daptools.stopping import Stopping
    fits = []
    for folder in folders:
        for path in sorted(Path(folder).glob("*.npz")):
            d = S.load(path)
            key = setting_key(d["meta"])
            if key not in steps["steps"]:
                print(f"(no step time for {key}: {path} left out)")
                continue
            q, its = S.quality_curve(d), d["iterations"]
            rule = Stopping()
            var = {max(2, rule.window // rule.every): S.relative_variance(d, max(2, rule.window // rule.every))}
            got = S.simulate(d, q, var, rule, True, int(its[-1]))
            inp = float(dap.metrics.snr(torch.from_numpy(d["reference"]), torch.from_numpy(d["observation"])))
            per_s = step_time(steps, key, d["meta"]["duration"]) / d["meta"]["duration"]
            fits.append({"setting": key, "clip": d["meta"]["clip"], "input": inp, "curve_its": its.tolist(),
                         "curve_gain": (q - inp).tolist(), "per_second": per_s, "blind": got["score"],
                         "stop": got["stop"], "reason": got.get("reason"), "oracle": float(q.max()),
                         "oracle_iteration": int(its[q.argmax()]), "budget": int(its[-1])})
    return fits


def plot_clips(fits: list[dict], path: Path, title: str) -> None:
    """One panel per clip: each setting's SNR gain against CPU seconds per second of audio, the
    blind stop marked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clips = sorted({f["clip"] for f in fits})
    settings = sorted({f["setting"] for f in fits})
    colors = dict(zip(settings, plt.cm.tab10.colors))
    cols = min(3, len(clips))
    rows = -(-len(clips) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.6 * rows + 1.2), squeeze=False)
    for ax in axes.flat[len(clips):]:
        ax.axis("off")
    for ax, clip in zip(axes.flat, clips):
        for f in (f for f in fits if f["clip"] == clip):
            x = np.array(f["curve_its"]) * f["per_second"]
            ax.plot(x, f["curve_gain"], color=colors[f["setting"]], lw=1.2, label=f["setting"])
            ax.plot(f["stop"] * f["per_second"], f["blind"] - f["input"], "v", color=colors[f["setting"]], ms=8)
        ax.set_xscale("log")
        ax.set_title(clip, fontsize=9)
        ax.set_xlabel("CPU seconds per second of audio (log)")
        ax.grid(alpha=0.3, which="both")
    for ax in axes[:, 0]:
        ax.set_ylabel("SNR gain over the noisy input (dB)")
    handles = [plt.Line2D([], [], color=colors[s], label=s) for s in settings]
    handles.append(plt.Line2D([], [], color="k", marker="v", ls="none", label="blind stop"))
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.12, 1, 0.96))
    fig.savefig(path, dpi=110)


def clip_table(fits: list[dict]) -> str:
    lines = ["| setting | clip | input | blind (stop, reason) | CPU s per s of audio to the stop | oracle (it) | budget |",
             "|---|---|---|---|---|---|---|"]
    for f in sorted(fits, key=lambda f: (f["clip"], f["stop"] * f["per_second"])):
        lines.append(f"| {f['setting']} | {f['clip']} | {f['input']:.2f} | {f['blind']:.2f} ({f['stop']} {f['reason']}) "
                     f"| {f['stop'] * f['per_second']:.0f} | {f['oracle']:.2f} ({f['oracle_iteration']}) | {f['budget']} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--measure", action="store_true", help="time the settings found in --analysis (or --settings)")
    ap.add_argument("--settings", help="JSON list of settings (prior, channels, lr, schedule, hop) to time")
    ap.add_argument("--analysis", help="JSON from studies/stopping/stopping_analysis.py")
    ap.add_argument("--steps", required=True, help="step-time JSON (written by --measure, read otherwise)")
    ap.add_argument("--rule", default="auto", help="the rule whose stop is plotted (a key of the analysis)")
    ap.add_argument("--figure")
    ap.add_argument("--table")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--trajectories", nargs="+", help="trajectory folders of studies/stopping/stopping_study.py: one "
                    "panel per clip (instead of --analysis)")
    args = ap.parse_args(argv)
    if args.measure:
        if args.settings:
            settings = json.loads(Path(args.settings).read_text())
        else:
            metas = {setting_key(r["meta"]): r["meta"] for r in json.loads(Path(args.analysis).read_text())}
            settings = list(metas.values())
        Path(args.steps).write_text(json.dumps(step_seconds(settings, threads=args.threads), indent=1))
        return
    steps = json.loads(Path(args.steps).read_text())
    cpu = f"CPU: {steps['cpu']}, {steps['threads']} threads, bf16 native: {steps['bf16_native']}"
    if args.trajectories:  # one panel per clip
        fits = from_trajectories(args.trajectories, steps)
        title = f"denoising, Gaussian noise std 0.1, 0.5 s dev clips; blind stop = the package's rule; {cpu}, fp32"
        draw, text = (lambda path: plot_clips(fits, path, title)), clip_table(fits)
    else:  # one point per setting, from stopping_analysis.py's JSON
        front = frontier(json.loads(Path(args.analysis).read_text()), steps, args.rule)
        title = f"blind rule '{args.rule}', denoising (Gaussian noise std 0.1); {cpu}"
        draw, text = (lambda path: plot(front, path, title)), table(front)
    if args.figure:
        draw(Path(args.figure))
    if args.table:
        Path(args.table).write_text(f"{title}\n\n{text}")
    print(text)

if __name__ == "__main__":
    main()
