"""Separation exploration: recipes x mixtures (docs/separation.md); one JSON line per fit.

    OMP_NUM_THREADS=1 python studies/separation/separation_explore.py OUT.jsonl VARIANTS_JSON PAIRS_JSON [PRIOR] [WIDTHS_JSON] [ITERATIONS]

VARIANTS_JSON: name -> recipe options ({"base": "hp" or "dap", "seed": .., "iterations": .., other Recipe fields});
PAIRS_JSON: [[piano index, drum index], ...] (tutorial manifest order, 0.5 s, equal peak level)."""
import json, sys, time, warnings
import torch
torch.set_num_threads(1)
import daptools as dap
from daptools import separation as S
from daptools.experiments import score
from daptools.separation import permutation_snr
warnings.filterwarnings("ignore")
out = open(sys.argv[1], "a")
variants = json.loads(sys.argv[2])          # name -> recipe options (base "hp" or "dap" via "base")
pairs = json.loads(sys.argv[3])             # [[piano index, drum index], ...]
prior = sys.argv[4] if len(sys.argv) > 4 else "plain"
width = tuple(json.loads(sys.argv[5])) if len(sys.argv) > 5 else (8, 16, 32)
its = int(sys.argv[6]) if len(sys.argv) > 6 else 300
dur = 0.5
for pi, di in pairs:
    p = dap.data.load_clip("piano", pi, duration=dur).audio
    d = dap.data.load_clip("drums", di, duration=dur).audio
    mix, refs = dap.mix([p, d])
    base = score("separate", refs, torch.stack([mix, mix]))
    h = score("separate", refs, S.hpss(mix))
    out.write(json.dumps({"variant": "_input", "pair": [pi, di], "blind": base}) + "\n")
    out.write(json.dumps({"variant": "_hpss", "pair": [pi, di], "blind": h}) + "\n"); out.flush()
    for name, o in variants.items():
        o = dict(o); b = o.pop("base", "hp"); seed = o.pop("seed", 0); it = o.pop("iterations", its)
        fo = o.pop("fit", {})
        r = S.RECIPES[b].with_options(**o)
        t = time.perf_counter()
        res = S.fit_recipe(mix[None], r, prior=prior, iterations=it, seed=seed, references=refs,
                           prior_options={"channels": width}, score=permutation_snr,
                           fit_options=dict(progress=False, precision="fp32", monitor_every=10, **fo))
        row = {"variant": name, "pair": [pi, di], "prior": prior, "width": width, "seconds": time.perf_counter() - t,
               "iterations": res.iterations, "stop": None if res.stop_iteration is None else int(res.stop_iteration[0]),
               "attempts": res.attempts[0], "oracle_it": None if res.best_iteration is None else int(res.best_iteration[0])}
        for c in ("auto", "last", "oracle"):
            if c in res.candidates:
                row[c] = score("separate", refs, res.decode(res.candidates[c])[0])
        row["blind"] = row.get("auto", row["last"])
        out.write(json.dumps(row) + "\n"); out.flush()
        print(name, pi, di, {k: round(v, 2) for k, v in row["blind"].items() if k.startswith("sdr")},
              "oracle", {k: round(v, 2) for k, v in row.get("oracle", {}).items() if k.startswith("sdr")},
              "base", {k: round(v, 2) for k, v in base.items() if k.startswith("sdr")}, f"{row['seconds']:.0f}s it {row['iterations']}", flush=True)
