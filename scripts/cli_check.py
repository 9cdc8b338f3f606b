"""What `daptools denoise` (`inpaint`, `separate`) achieves at its defaults: quality before and after, the
iterations the blind stops ran, and the time.

The clips come from Debian's pocketsphinx-testdata (`apt-get install pocketsphinx-testdata`), CMU's
"cards" recordings (other speakers than anything in data/tutorial): a 1 s window of cards/002.wav and
the five cards recordings joined (9.65 s). Each is peak-normalised, Gaussian noise of std 0.1 is
added (seed 0), the noisy file is written as 16-bit WAV, the command line restores it, and the
result is scored against the clean clip (blind: the command line never sees it).

    python scripts/cli_check.py --clip 1s --out /tmp/cli1 -- --preset lab
    python scripts/cli_check.py --clip 10s --out /tmp/cli10 -- --preset fast
    python scripts/cli_check.py --clip speech:3 --noise 0 --snr 5 --out /tmp/clienv   # a tutorial clip + recorded noise
    python scripts/cli_check.py --task inpaint --clip speech:3 --gap 0.40-0.55 --out /tmp/cliinp   # one 0.15 s gap
    python scripts/cli_check.py --task separate --mixture 0 --out /tmp/clisep   # Table 4's tutorial mixture 0, 1 s

Options after ``--`` go to the command line (e.g. ``-- --select last`` for the whole budget, as before the
blind stops). Inpainting is scored by the spectral SNR (and the waveform SNR) of the whole clip against the
clean one, separation by each source's SDR (BSS Eval, the better matching), as in Tables 3 and 4.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

import daptools as dap

CARDS = Path("/usr/share/pocketsphinx/test/data/cards")


SPEECH10 = ["librivox_0870", "librivox_0880", "librivox_0890", "librivox_0920", "librivox_0930"]


def clean_clip(which: str) -> np.ndarray:
    if which == "speech10":  # 10 s of tutorial speech: five sentences end to end (tuning clips among them)
        clips = {c.id.split("/")[-1]: c.audio for c in dap.data.load_clips("speech", n=50)}
        return torch.cat([clips[k] for k in SPEECH10]).numpy().astype(np.float32)
    if ":" in which:  # CATEGORY:INDEX of the tutorial set, 1 s
        category, index = which.split(":")
        return dap.data.load_clip(category, int(index), duration=1.0).audio.numpy().astype(np.float32)
    if not CARDS.is_dir():
        sys.exit(f"cli_check: {CARDS} not found; install Debian's pocketsphinx-testdata first")
    if which == "1s":
        x = dap.load_audio(CARDS / "002.wav", sr=16000)
        energy = torch.nn.functional.avg_pool1d(x[None, None] ** 2, 1600, 160)[0, 0]
        start = int(torch.argmax(torch.nn.functional.avg_pool1d(energy[None, None], 10, 1)[0, 0])) * 160
        x = x[start:start + 16000]
        if x.numel() < 16000:
            x = dap.load_audio(CARDS / "002.wav", sr=16000)[:16000]
    else:
        x = torch.cat([dap.load_audio(CARDS / f"{i:03d}.wav", sr=16000) for i in range(1, 6)])
    return dap.peak_normalize(x).numpy().astype(np.float32)


def _run(cmd: list) -> tuple[float, list[int], str]:
    """Run the command line; its wall seconds, the iterations its fits ran (from its last line) and that line."""
    t = time.perf_counter()
    done = subprocess.run(cmd, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - t
    sys.stderr.write(done.stderr[-2000:])
    if done.returncode:
        sys.exit(f"cli_check: the command line failed (exit {done.returncode}): "
                 f"{(done.stderr.strip().splitlines() or ['no message'])[-1]}")
    last = [line for line in done.stderr.splitlines() if "wrote " in line][-1:]
    ran = re.search(r"the fits ran (\d+) iterations( per batch \(median of \d+, (\d+)-(\d+)\))?", last[0] if last else "")
    iterations = [] if not ran else [int(ran.group(1))] if not ran.group(2) else [int(ran.group(1)), int(ran.group(3)),
                                                                                     int(ran.group(4))]
    return seconds, iterations, last[0] if last else ""


def _machine() -> dict:
    return {"cpu": dap.device.cpu_name(), "bf16_native": dap.device.cpu_supports_bf16(),
            "threads": torch.get_num_threads()}


def _inpaint(args, out: Path) -> dict:
    clean = clean_clip(args.clip)
    start, end = (float(x) for x in args.gap.split("-"))
    observed = clean.copy()
    observed[int(start * 16000):int(end * 16000)] = 0.0  # digital silence: what the command line finds or is told
    sf.write(out / "gapped.wav", observed, 16000, subtype="FLOAT")
    cmd = [sys.executable, "-m", "daptools", "inpaint", str(out / "gapped.wav"), "-o", str(out / "restored.wav"),
           "--force", "--gaps", args.gap, *args.daptools_args]
    seconds, iterations, line = _run(cmd)
    restored = sf.read(out / "restored.wav", dtype="float32")[0]
    M = dap.metrics
    return {"task": "inpaint", "clip": args.clip, "gap": args.gap, "command": " ".join(cmd[1:]),
            "gapped_spectral_snr_db": M.spectral_snr(clean, observed), "restored_spectral_snr_db": M.spectral_snr(clean, restored),
            "gapped_snr_db": M.snr(clean, observed), "restored_snr_db": M.snr(clean, restored),
            "iterations": iterations, "last_line": line, "wall_seconds": seconds, **_machine()}


def _separate(args, out: Path) -> dict:
    from daptools import experiments as E
    cfg = E.RunConfig(table="table4", preset="cpu", n_clips=args.mixture + 1).resolved()
    p = E.problems(cfg)[args.mixture]
    mix, refs = p["observation"], p["reference"]
    sf.write(out / "mixture.wav", mix.numpy(), 16000, subtype="FLOAT")
    outs = [str(out / "source1.wav"), str(out / "source2.wav")]
    cmd = [sys.executable, "-m", "daptools", "separate", str(out / "mixture.wav"), "-o", *outs, "--force",
           *args.daptools_args]
    seconds, iterations, line = _run(cmd)
    est = torch.stack([torch.from_numpy(sf.read(o, dtype="float32")[0]) for o in outs])
    before, after = E.score("separate", refs, torch.stack([mix, mix])), E.score("separate", refs, est)
    return {"task": "separate", "mixture": p["key"], "command": " ".join(cmd[1:]),
            "mixture_sdr_db": {s: before[f"sdr_{s}"] for s in ("piano", "drums")},
            "restored_sdr_db": {s: after[f"sdr_{s}"] for s in ("piano", "drums")},
            "both_beat_mixture": E.beats_mixture({"input": before, "blind": after}),
            "iterations": iterations, "last_line": line, "wall_seconds": seconds, **_machine()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="denoise", choices=("denoise", "inpaint", "separate"))
    ap.add_argument("--gap", default="0.40-0.55", help="inpaint: the gap START-END in seconds")
    ap.add_argument("--mixture", type=int, default=0, help="separate: index of Table 4's tutorial mixture (1 s)")
    ap.add_argument("--clip", default="1s",
                    help="1s / 10s: CMU cards (unseen); speech10: 10 s of tutorial speech (five sentences, tuning "
                         "clips among them); CATEGORY:INDEX: 1 s of that tutorial clip")
    ap.add_argument("--noise", type=int, default=None,
                    help="index of a tutorial noise recording to add at --snr instead of Gaussian noise")
    ap.add_argument("--snr", type=float, default=5.0, help="SNR of --noise in dB")
    ap.add_argument("--out", required=True, help="folder for the noisy, restored and report files")
    ap.add_argument("--std", type=float, default=0.1)
    ap.add_argument("daptools_args", nargs="*", help="options for the command line (after --)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.task != "denoise":
        report = (_inpaint if args.task == "inpaint" else _separate)(args, out)
        (out / "report.json").write_text(json.dumps(report, indent=1))
        print(json.dumps(report, indent=1))
        return
    clean = clean_clip(args.clip)
    if args.noise is None:
        noisy = dap.add_gaussian_noise(torch.from_numpy(clean), args.std, seed=0).numpy()
    else:
        noise = dap.data.load_clip("noise", args.noise).audio
        noisy = dap.add_noise_at_snr(torch.from_numpy(clean), noise, snr_db=args.snr, seed=0)[0].numpy()
    sf.write(out / "noisy.wav", noisy, 16000, subtype="PCM_16")
    noisy = sf.read(out / "noisy.wav", dtype="float32")[0]  # what the command line reads
    cmd = [sys.executable, "-m", "daptools", "denoise", str(out / "noisy.wav"), "-o", str(out / "restored.wav"),
           "--force", *args.daptools_args]
    seconds, iterations, line = _run(cmd)
    restored = sf.read(out / "restored.wav", dtype="float32")[0]
    report = {"clip": args.clip, "noise": "gaussian std %g" % args.std if args.noise is None else
              f"{dap.data.load_clip('noise', args.noise).id} at {args.snr:g} dB", "seconds_of_audio": len(clean) / 16000, "command": " ".join(cmd[1:]),
              "noisy_snr_db": dap.metrics.snr(clean, noisy), "restored_snr_db": dap.metrics.snr(clean, restored),
              "noisy_pesq": dap.metrics.pesq(clean, noisy), "restored_pesq": dap.metrics.pesq(clean, restored),
              "iterations": iterations, "last_line": line, "wall_seconds": seconds, **_machine()}
    report["gain_db"] = report["restored_snr_db"] - report["noisy_snr_db"]
    (out / "report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
