"""One mixture over 5 seeds: the spread (docs/separation.md; the slow test's settings).

    OMP_NUM_THREADS=1 python studies/separation/separation_seeds.py PRIOR W1,W2,W3 ITERATIONS PIANO DRUMS [METHOD]
"""
import sys, time, warnings
import numpy as np, torch
torch.set_num_threads(1)
warnings.filterwarnings("ignore")
import daptools as dap
from daptools.experiments import beats_mixture, score
prior, width, its, pi, di = sys.argv[1], tuple(int(w) for w in sys.argv[2].split(",")), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
method = sys.argv[6] if len(sys.argv) > 6 else "hp"
p = dap.data.load_clip("piano", pi, duration=0.5); d = dap.data.load_clip("drums", di, duration=0.5)
mix, refs = dap.mix([p.audio, d.audio])
before = score("separate", refs, torch.stack([mix, mix]))
print(f"{p.id} + {d.id}; prior {prior} widths {width}, at most {its} iterations, method {method}, fp32, 1 thread")
print(f"mixture: SDR piano {before['sdr_piano']:.2f}, drums {before['sdr_drums']:.2f}")
rows = []
for seed in range(5):
    t = time.perf_counter()
    r = dap.separate(mix, prior=prior, iterations=its, seed=seed, progress=False, precision="fp32",
                     prior_options={"channels": width}, method=method, references=refs)
    a = score("separate", refs, r.audio)
    o = score("separate", refs, r.candidate_audio("oracle"))
    ok = beats_mixture({"input": before, "blind": a})
    rows.append(a)
    print(f"seed {seed}: blind SDR piano {a['sdr_piano']:.2f} drums {a['sdr_drums']:.2f} (SIR {a['sir_piano']:.2f} / {a['sir_drums']:.2f}); "
          f"oracle {o['sdr_piano']:.2f} / {o['sdr_drums']:.2f}; both beat the mixture: {ok}; fits {r.fits}, "
          f"stopped at {int(r.stop_iteration[0])}, {time.perf_counter() - t:.0f} s", flush=True)
for k in ("sdr_piano", "sdr_drums", "sir_piano", "sir_drums"):
    v = np.array([x[k] for x in rows]); print(f"{k}: {v.mean():.2f} ± {v.std():.2f} (min {v.min():.2f}, max {v.max():.2f})")
