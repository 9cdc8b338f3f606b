"""Which blind rule stops a separation fit near its best iterate?

``record`` fits Table 4's mixtures (the tutorial pairing, 1 s) with a separation method at the
settings of the ``cpu`` preset (widths 16/32/64, hop 256) for the whole budget, storing the output
every ``--every`` iterations and the objective of every iteration (one ``.npz`` per mixture under
``--out``, a scratch folder). ``analyse`` scores every stored iterate (SDR of both sources against
the clean ones, BSS Eval's matching) and replays rule families, each only watching what a user
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
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import daptools as dap
from daptools import metrics as M
from daptools.experiments import RunConfig, mixtures
from daptools.separation.models import estimates, source_decoder
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
    cfg = RunConfig(table="table4", preset="cpu", n_clips=max(args.mixtures) + 1).resolved()
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
                           seed=args.seed, hop=256, prior_options={"channels": (16, 32, 64)}, precision=args.precision,
                           select="last", stopping={"halt": False}, callback=keep, every=args.every, progress=False,
                           recipe={"restarts": 0})  # one fit per mixture: its whole trajectory
        seconds = time.perf_counter() - t
        np.savez_compressed(path, outputs=torch.cat(snaps).numpy(), iterations=np.array(its),
                            loss=res.history["loss"][:, 0], mixture=p["observation"].numpy(),
                            references=p["reference"].numpy(), seconds=seconds, key=p["key"],
                            attempts=json.dumps(getattr(res, "attempts", None)))
        print(f"{p['key']}: {len(its)} snapshots, {seconds:.0f} s", flush=True)


def _sdr_curve(d) -> np.ndarray:
    """(snapshots, 2) SDR of piano and drums at every stored iterate."""
    ref = torch.as_tensor(d["references"])
    decode = source_decoder(estimates, ref.shape[-1], 256)
    out = []
    for o in d["outputs"]:
        est = decode(torch.as_tensor(o[None]).float())[0]
        out.append(M.sdr_sir(ref, est)["sdr"])
    return np.array(out)


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


RULES = {f"budget {n}": ("budget", n) for n in (50, 75, 100, 150, 200, 300, 600)}
RULES.update({f"objective plateau w{w} tol {t}": ("loss", dict(loss_plateau=True, loss_window=w, loss_tolerance=t,
                                                                  patience=None, min_iterations=m))
              for w, t, m in ((25, 0.05, 50), (25, 0.1, 50), (50, 0.05, 50), (50, 0.1, 50), (50, 0.2, 50),
                              (100, 0.1, 100))})
RULES.update({f"output plateau w{w} p{p}": ("rule", dict(window=w, patience=p, min_iterations=50))
              for w, p in ((50, 50), (50, 100), (100, 100), (100, 300))})


def analyse(args) -> None:
    files = sorted(Path(args.out).glob("mix*.npz"))
    data = {int(f.stem[3:]): dict(np.load(f, allow_pickle=True)) for f in files}
    curves = {i: _sdr_curve(d) for i, d in data.items()}
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
    print("| rule | part | n | blind - oracle SDR, mean (piano / drums) | worst | blind - last | its |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    peaks = {i: [int(data[i]["iterations"][int(np.argmax(c[:, s]))]) for s in (0, 1)] for i, c in curves.items()}
    print("\noracle iteration per mixture (piano, drums):", peaks)


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
    a = sub.add_parser("analyse")
    a.add_argument("--out", required=True)
    a.add_argument("--dev", default="0-4", help="dev mixtures (the rest test)")
    args = ap.parse_args()
    record(args) if args.cmd == "record" else analyse(args)
