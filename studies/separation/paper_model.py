"""How the paper's separation model (method "paper": two sound priors + one mask prior, Tian et al.'s
losses) fails on the tutorial mixtures, with its curves (docs/separation.md, "The paper's model").

Fits the recipe and variants of it (one term changed at a time) to Table 4's first mixtures at the
``cpu`` preset (widths 16/32/64, hop 256) with no restarts and records, every 10 iterations: the
reconstruction error (relative: 1 = the mixture left unexplained), each regulariser term, each
estimate's energy relative to the mixture, the mask's mean and the mean SNR of the two estimates
against the clean sources (monitoring only: nothing here is chosen with it).

    OMP_NUM_THREADS=1 python studies/separation/paper_model.py docs/measurements/paper_model_curves.json \
        --mixtures 0,1 --iterations 150
    python studies/separation/paper_model.py docs/measurements/paper_model_curves.json --plot docs/paper_model.png
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

# the first six: the terms relative to the mixture's own (term_scale "mixture", the recipe until 2026-12-03);
# the rest: in the mixture's level units (term_scale "level", the recipe since)
OLD = {"term_scale": "mixture"}
VARIANTS = {
    "paper until 2026-12-03 (terms relative to the mixture's own)": OLD,
    "paper, smoothness and exclusion off (L1 alone)": {**OLD, "temporal": 0.0, "exclusion": 0.0},
    "paper, terms x0.1": {**OLD, "temporal": 0.1, "exclusion": 0.1},
    "paper, MSE, terms off": {**OLD, "loss": "mse", "temporal": 0.0, "exclusion": 0.0},
    "paper, MSE, terms x0.1": {**OLD, "loss": "mse", "temporal": 0.1, "exclusion": 0.1},
    "paper, reconstruction alone for 50 iterations": {**OLD, "warmup": 50},
    "paper, terms in the mixture's level units (Tian et al.'s raw scale)": {"term_scale": "level"},
    "paper, level units, one mask value per frame (Tian et al.'s masks)": {"term_scale": "level", "masks": "frame"},
    "paper, level units, complex sources (the paper's 2-channel spectrograms)": {"term_scale": "level",
                                                                                 "sources": "complex"},
}


def record(mixture: int, name: str, options: dict, iterations: int) -> dict:
    import daptools as dap
    from daptools.experiments.problems import mixtures
    from daptools.experiments.tables import RunConfig
    from daptools.separation import RECIPES, Objective, estimates, masks_of
    from daptools.spectral import to_spectrogram

    p = mixtures(RunConfig(table="table4", preset="cpu", n_clips=mixture + 1))[mixture]
    spec = to_spectrogram(p["observation"][None], hop=256)
    obj = Objective(spec, RECIPES["paper"].with_options(**options), iterations)
    power = float(spec.pow(2).mean())
    curve = []

    def callback(info):
        out = info["output"].float()
        e1, e2 = estimates(out)
        curve.append({"iteration": int(info["iteration"]),
                      "reconstruction": float(obj.reconstruction(e1 + e2, spec)[0]),
                      "terms": {k: float(v[0]) for k, v in obj.terms(out).items()},
                      "energy": [float(e.pow(2).mean()) / power for e in (e1, e2)],
                      "mask_mean": float(masks_of(out)[:, 0].mean()),
                      "snr": None if info.get("score") is None else float(info["score"][-1][0])})

    start = time.time()
    res = dap.separate(p["observation"], method="paper", iterations=iterations, hop=256, seed=0,
                       prior_options={"channels": (16, 32, 64)}, recipe={**options, "restarts": 0},
                       references=p["reference"], select="last", callback=callback, every=10, progress=False)
    return {"mixture": p["key"], "variant": name, "options": options, "iterations": iterations,
            "seconds": round(time.time() - start, 1), "curve": curve,
            "snr_last": float(res.scores["last"][0]), "snr_oracle": float(res.scores["oracle"][0]),
            "oracle_iteration": int(res.best_iteration[0])}


def plot(data: list[dict], out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.8))
    for k, run in enumerate(r for r in data if r["mixture"] == data[0]["mixture"]):
        its = [c["iteration"] for c in run["curve"]]
        style = dict(color=f"C{k}", label=run["variant"])
        axes[0].plot(its, [c["reconstruction"] for c in run["curve"]], **style)
        axes[1].semilogy(its, [max(sum(c["energy"]), 1e-9) for c in run["curve"]], **style)
        axes[2].plot(its, [c["mask_mean"] for c in run["curve"]], **style)
    axes[0].set(title="reconstruction error (1 = mixture unexplained)", xlabel="iteration")
    axes[1].set(title="energy of the two estimates / mixture", xlabel="iteration")
    axes[2].set(title="mask mean (0 or 1: one source took all)", xlabel="iteration", ylim=(-0.05, 1.05))
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=7)
    fig.suptitle(f"the paper's separation model on {data[0]['mixture']} (cpu preset, no restarts)", fontsize=9)
    fig.tight_layout(rect=(0, 0.22, 1, 1))
    fig.savefig(out, dpi=110)
    print("wrote", out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="JSON file (appended to run by run: rerun resumes)")
    ap.add_argument("--mixtures", default="0,1")
    ap.add_argument("--iterations", type=int, default=150)
    ap.add_argument("--plot", type=Path, default=None, help="only draw the curves of the first mixture")
    ap.add_argument("--variants", default=None, help="comma-separated indices into VARIANTS (default: all)")
    args = ap.parse_args(argv)
    data = json.loads(args.out.read_text()) if args.out.exists() else []
    if args.plot:
        plot(data, args.plot)
        return 0
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    done = {(r["mixture"].split("#")[-1], r["variant"]) for r in data}
    for m in [int(x) for x in args.mixtures.split(",")]:
        chosen = list(VARIANTS.items())
        if args.variants:
            chosen = [chosen[int(i)] for i in args.variants.split(",")]
        for name, options in chosen:
            if (str(m), name) in done:
                continue
            run = record(m, name, options, args.iterations)
            data.append(run)
            args.out.write_text(json.dumps(data, indent=1) + "\n")
            print(f"{run['mixture']} | {name}: SNR last {run['snr_last']:.2f}, oracle {run['snr_oracle']:.2f} "
                  f"(it {run['oracle_iteration']}), energy at the end {sum(run['curve'][-1]['energy']):.4f}, "
                  f"{run['seconds']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
