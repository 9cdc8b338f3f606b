"""Which blind rule stops a separation fit near its best iterate?

``record`` fits Table 4's mixtures (the tutorial pairing, 1 s) with a separation method at the
settings of the ``cpu`` preset (widths 16/32/64, hop 256) for the whole budget, storing the output
every ``--every`` iterations and the objective of every iteration (one ``.npz`` per mixture under
``--out``, a scratch folder). ``analyse`` scores every stored iterate (SI-SDR of both sources against
the clean ones, the better matching) and replays rule families, each only watching what a user
has (outputs and the objective):

* **fixed budget**: stop at N iterations (N chosen on the dev mixtures);
* **objective plateau** (``Stopping.loss_plateau``, the rule denoising and inpainting use): the
  mean objective of the last ``window`` iterations less than ``tolerance`` (relative) below that
  of the window before;
* **output plateau** (ES-WMV, the package's rule for separation until now): the moving variance
  of the estimates, stopped ``patience`` iterations after its last new minimum;

for each: mean and worst SDR (both sources) against the oracle iterate, against the last, and the
iterations used. Dev mixtures choose the settings; the others test them.

    python studies/stopping/separation_rules.py record --out /tmp/traj/sep_hp --mixtures 0-9 --threads 1
    python studies/stopping/separation_rules.py analyse --out /tmp/traj/sep_hp --dev 0-4

``pair`` compares two recorded priors on the same mixtures (paired over mixtures, 95 % bootstrap
interval, wins), on the best stored iterate (the oracle), on the best 25-iteration average of the
score curve (a ceiling that a single lucky iterate cannot set), on the mean score after iteration 50
and on the last stored iterate; and says how much the curve jumps between stored iterates:

    python studies/stopping/separation_rules.py record --out /tmp/traj/sep64_exp_dense --preset cpu64 \
        --prior exp_dense --iterations 150 --threads 1                         # and --prior plain
    python studies/stopping/separation_rules.py pair --out /tmp/traj/sep64_exp_dense --against /tmp/traj/sep64_plain
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

import daptools as dap
from daptools import metrics as M
from daptools.experiments import RunConfig, mixtures
from daptools.separation.models import estimates, source_decoder
from daptools.spectral import HOP
from daptools.stopping import Monitor, Stopping


def _range(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    return out


def record(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = RunConfig(table="table4", preset=args.preset, n_clips=max(args.mixtures) + 1).resolved()
    hop = (cfg.extra or {}).get("hop", HOP)  # a preset without its own hop has the paper's
    probs = mixtures(cfg)
    for i in args.mixtures:
        p = probs[i]
        path = out / f"mix{i:02d}.npz"
        if path.exists():
            print(f"skip {path.name}", flush=True)
            continue
        snaps, its = [], []

        def keep(info):
            its.append(info["iteration"])
            snaps.append(info["output"].detach().cpu().to(torch.float16))

        t = time.perf_counter()
        res = dap.separate(p["observation"], prior=args.prior, method=args.method, iterations=args.iterations,
                           seed=args.seed, hop=hop, prior_options={"channels": (16, 32, 64)}, precision=args.precision,
                           select="last", stopping={"halt": False}, callback=keep, every=args.every, progress=False,
                           recipe={"restarts": 0})  # one fit per mixture: its whole trajectory
        seconds = time.perf_counter() - t
        np.savez_compressed(path, outputs=torch.cat(snaps).numpy(), iterations=np.array(its),
                            loss=res.history["loss"][:, 0], mixture=p["observation"].numpy(),
                            references=p["reference"].numpy(), seconds=seconds, key=p["key"], hop=hop,
                            attempts=json.dumps(getattr(res, "attempts", None)))
        print(f"{p['key']}: {len(its)} snapshots, {seconds:.0f} s", flush=True)


def _sdr_curve(d, path: Path) -> np.ndarray:
    """(snapshots, 2) SI-SDR of piano and drums at every stored iterate (the better of the two
    matchings of estimates to sources), cached beside the trajectory. SI-SDR, not BSS Eval's SDR:
    BSS Eval takes about a second per iterate, SI-SDR milliseconds, and for choosing where to stop
    only the shape of the curve matters; the tables report BSS Eval."""
    cache = path.with_suffix(".curve.npy")
    if cache.exists():
        return np.load(cache)
    ref = torch.as_tensor(d["references"]).double()
    decode = source_decoder(estimates, ref.shape[-1], int(d.get("hop", 256)))
    out = []
    for o in d["outputs"]:
        est = decode(torch.as_tensor(o[None]).float())[0].double()
        pairs = [[M.si_sdr(ref[s], est[e]) for s, e in enumerate(order)] for order in ((0, 1), (1, 0))]
        out.append(max(pairs, key=sum))
    out = np.array(out)
    np.save(cache, out)
    return out


def _replay(d, rule: Stopping) -> int:
    """The index of the stored iterate the rule returns (the objective is watched at stored iterates)."""
    its, outs, loss = d["iterations"], torch.as_tensor(d["outputs"]).float(), d["loss"]
    mon = Monitor(rule, 1, statistic=lambda out: out[:, :4])
    chosen = len(its) - 1
    for k, (it, o) in enumerate(zip(its, outs)):
        mon.observe(int(it), o[None], loss[int(it) - 1:int(it)])
        if mon.stopped[0]:
            chosen = int(np.searchsorted(its, mon.iteration[0]))
            break
    return min(chosen, len(its) - 1)


RULES = {f"budget {n}": ("budget", n) for n in (10, 15, 20, 25, 30, 40, 50, 75, 100, 150, 200, 300, 600)}
RULES.update({f"objective plateau w{w} tol {t} min {m}": ("loss", dict(loss_plateau=True, loss_window=w,
                                                                         loss_tolerance=t, patience=None,
                                                                         min_iterations=m))
              for w, t, m in ((10, 0.1, 10), (10, 0.2, 10), (10, 0.3, 10), (25, 0.05, 50), (25, 0.1, 25),
                              (25, 0.1, 50), (50, 0.05, 50), (50, 0.1, 50), (50, 0.2, 50), (100, 0.1, 100))})
RULES.update({f"output plateau w{w} p{p}": ("rule", dict(window=w, patience=p, min_iterations=50))
              for w, p in ((50, 50), (50, 100), (100, 100), (100, 300))})


def analyse(args) -> None:
    files = sorted(Path(args.out).glob("mix*.npz"))
    data = {int(f.stem[3:]): dict(np.load(f, allow_pickle=True)) for f in files}
    curves = {i: _sdr_curve(d, f) for (i, d), f in zip(data.items(), files)}
    dev = set(_range(args.dev))
    rows = []
    for name, (kind, setting) in RULES.items():
        for part, keys in (("dev", [i for i in data if i in dev]), ("test", [i for i in data if i not in dev])):
            gap, last_gain, its = [], [], []
            for i in keys:
                d, c = data[i], curves[i]
                if kind == "budget":
                    k = min(int(np.searchsorted(d["iterations"], setting)), len(c) - 1)
                else:
                    k = _replay(d, Stopping(**setting))
                oracle = c.max(0)
                gap.append(c[k] - oracle)
                last_gain.append(c[k] - c[-1])
                its.append(int(d["iterations"][k]))
            if keys:
                g = np.array(gap)
                rows.append(f"| {name} | {part} | {len(keys)} | {g[:, 0].mean():+.2f} / {g[:, 1].mean():+.2f} | "
                            f"{g.min(0)[0]:+.2f} / {g.min(0)[1]:+.2f} | "
                            f"{np.mean(last_gain, 0)[0]:+.2f} / {np.mean(last_gain, 0)[1]:+.2f} | {np.mean(its):.0f} |")
    print("| rule | part | n | blind - oracle SI-SDR, mean (piano / drums) | worst | blind - last | its |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    peaks = {i: [int(data[i]["iterations"][int(np.argmax(c[:, s]))]) for s in (0, 1)] for i, c in curves.items()}
    print("\noracle iteration per mixture (piano, drums):", peaks)


def _curves(folder) -> dict:
    """key -> (iterations, (snapshots, 2) SI-SDR curve) of every recorded mixture under ``folder``."""
    out = {}
    for f in sorted(Path(folder).glob("mix*.npz")):
        d = dict(np.load(f, allow_pickle=True))
        out[str(d["key"])] = (d["iterations"], _sdr_curve(d, f))
    return out


def _summaries(its, c, smooth: int = 25, settled: int = 50) -> dict:
    """The scores of one curve (piano, drums each): the oracle, the smoothed oracle, the mean after
    ``settled`` iterations, the last stored iterate, and the mean jump between stored iterates after it."""
    k = math.ceil(smooth / int(its[1] - its[0])) if len(its) > 1 else 1  # stored iterates per smoothing window
    ma = np.stack([np.convolve(c[:, s], np.ones(k) / k, mode="valid") for s in (0, 1)], 1)
    late = c[its > settled]
    return {"oracle": c.max(0), "smoothed oracle": ma.max(0), f"mean after {settled}": late.mean(0),
            "last stored": c[-1], "jump": np.abs(np.diff(late, axis=0)).mean(0),
            "oracle iteration": np.array([its[int(np.argmax(c[:, s]))] for s in (0, 1)], float)}


def pair(args) -> None:
    from daptools.experiments.paired import interval
    a, b = _curves(args.out), _curves(args.against)
    keys = sorted(a.keys() & b.keys())
    sa = {k: _summaries(*a[k]) for k in keys}
    sb = {k: _summaries(*b[k]) for k in keys}
    names = (Path(args.out).name, Path(args.against).name)
    print(f"{len(keys)} mixtures; SI-SDR (dB), piano / drums; mean over mixtures, and {names[0]} - {names[1]} paired")
    print(f"| score | {names[0]} | {names[1]} | difference, piano: mean [95 % interval] wins | drums |")
    print("|---|---|---|---|---|")
    for name in sa[keys[0]]:
        va, vb = np.array([sa[k][name] for k in keys]), np.array([sb[k][name] for k in keys])
        cells = []
        for s in (0, 1):
            d = va[:, s] - vb[:, s]
            lo, hi = interval(d)
            cells.append(f"{d.mean():+.2f} [{lo:+.2f}, {hi:+.2f}] {int((d > 0).sum())}/{len(d)}")
        print(f"| {name} | {va[:, 0].mean():.2f} / {va[:, 1].mean():.2f} | {vb[:, 0].mean():.2f} / {vb[:, 1].mean():.2f} | "
              + " | ".join(cells) + " |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("--out", required=True)
    r.add_argument("--mixtures", type=_range, default=_range("0-9"))
    r.add_argument("--method", default="hp")
    r.add_argument("--prior", default="exp_dense")
    r.add_argument("--iterations", type=int, default=600)
    r.add_argument("--every", type=int, default=5)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--threads", type=int, default=None)
    r.add_argument("--precision", default="auto")
    r.add_argument("--preset", default="cpu", help="the table preset whose mixtures and hop to use (cpu: hop 256, cpu64: 64)")
    a = sub.add_parser("analyse")
    a.add_argument("--out", required=True)
    a.add_argument("--dev", default="0-4", help="dev mixtures (the rest test)")
    q = sub.add_parser("pair")
    q.add_argument("--out", required=True, help="one prior's recorded trajectories")
    q.add_argument("--against", required=True, help="another prior's, on the same mixtures")
    args = ap.parse_args()
    {"record": record, "analyse": analyse, "pair": pair}[args.cmd](args)
