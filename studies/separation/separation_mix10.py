"""A 10 s piano + drums mixture from the tutorial set, and the SDR of `daptools separate`'s outputs.

    python studies/separation/separation_mix10.py build DIR            # DIR/mix10.wav, DIR/mix10_sources.pt
    python studies/separation/separation_mix10.py score DIR OUT1 OUT2  # BSS Eval SDR of the outputs
"""

import sys, warnings
import torch
warnings.filterwarnings("ignore")
import daptools as dap
sr = 16000
d = sys.argv[2]
if sys.argv[1] == "build":
    # piano: clips 0-4 of the tutorial set (2 s each, manifest order) one after another: 10 s
    piano = torch.cat([dap.data.load_clip("piano", i).audio for i in range(5)])
    # drums: a hit every 0.5 s from 0.25 s (20 hits), cycling kick, hard snare, closed cymbal, soft snare;
    # each hit is the first 0.5 s of its clip
    kit = [dap.data.load_clip("drums", i, duration=0.5).audio for i in (0, 2, 7, 3)]
    drums = torch.zeros(10 * sr)
    for k in range(20):
        start = int((0.25 + 0.5 * k) * sr)
        hit = kit[k % 4][: 10 * sr - start]
        drums[start:start + hit.numel()] += hit
    mixture, sources = dap.mix([dap.peak_normalize(piano), dap.peak_normalize(drums)])  # equal peak level
    peak = float(mixture.abs().max())
    mixture, sources = mixture / peak * 0.9, sources / peak * 0.9   # no clipping in the file
    dap.save_audio(f"{d}/mix10.wav", mixture); torch.save(sources, f"{d}/mix10_sources.pt")
    print(f"wrote {d}/mix10.wav: {mixture.numel() / sr:.1f} s, peak {float(mixture.abs().max()):.2f}")
else:
    from daptools.metrics import sdr_sir
    sources = torch.load(f"{d}/mix10_sources.pt")
    mixture = dap.load_audio(f"{d}/mix10.wav")
    outs = torch.stack([dap.load_audio(p) for p in sys.argv[3:5]])
    n = min(outs.shape[1], sources.shape[1])
    base = sdr_sir(sources[:, :n], torch.stack([mixture[:n], mixture[:n]]))
    res = sdr_sir(sources[:, :n], outs[:, :n])
    for i, name in enumerate(("piano", "drums")):
        print(f"{name}: SDR {res['sdr'][i]:.2f} dB (SIR {res['sir'][i]:.2f}) from output {sys.argv[3 + res['perm'][i]]}; "
              f"the mixture as the estimate: SDR {base['sdr'][i]:.2f} dB")
