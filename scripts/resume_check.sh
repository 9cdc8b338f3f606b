#!/bin/bash
# A long restoration interrupted (kill -INT, then kill -9) and resumed: the output must be the
# uninterrupted run's, byte for byte. Cheap settings so that it takes a minute or two:
#   scripts/resume_check.sh /tmp/resume_check [IN.wav]
# Without IN.wav, the 10 s of tutorial speech of scripts/cli_check.py --clip speech10 is built, with noise.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0;; esac
out=${1:?usage: resume_check.sh OUTDIR [IN.wav]}
mkdir -p "$out"
py=${PYTHON:-python}
if [ -n "${2:-}" ]; then in=$2; else
  "$py" - "$out/noisy.wav" <<'EOF'
import sys, numpy as np, soundfile as sf, torch, daptools as dap
clips = {c.id.split("/")[-1]: c.audio for c in dap.data.load_clips("speech", n=50)}
x = torch.cat([clips[k] for k in ("librivox_0870", "librivox_0880", "librivox_0890", "librivox_0920", "librivox_0930")])
sf.write(sys.argv[1], dap.add_gaussian_noise(x, 0.1, seed=0).numpy(), 16000, subtype="FLOAT")
EOF
  in=$out/noisy.wav
fi
opts=(--channels 8,16,32 --iterations 40 --select last --precision fp32 --force)
segments() { ls "$1" 2>/dev/null | grep -c '^segment-[0-9]*\.npy$' || true; }

"$py" -m daptools denoise "$in" -o "$out/whole.wav" "${opts[@]}" --quiet
echo "uninterrupted: $(sha256sum < "$out/whole.wav" | cut -c1-16)"

for sig in INT KILL; do
  o=$out/cut_$sig.wav
  rm -rf "$o" "$o.daptools-work"
  "$py" -m daptools denoise "$in" -o "$o" "${opts[@]}" --quiet &
  pid=$!
  while [ "$(segments "$o.daptools-work")" -lt 3 ]; do sleep 0.2; done   # half-way: 3 of 6 segments kept
  kill -"$sig" "$pid"; wait "$pid" || echo "kill -$sig: exit $?"
  kept=$(segments "$o.daptools-work")
  [ ! -e "$o" ] || { echo "an output was written by the interrupted run"; exit 1; }
  "$py" -m daptools denoise "$in" -o "$o" "${opts[@]}" --resume 2>&1 | grep -v "it/s\|s/it" || true
  echo "kill -$sig after $kept finished segments, resumed: $(sha256sum < "$o" | cut -c1-16)"
  cmp "$o" "$out/whole.wav" && echo "  identical to the uninterrupted run"
  [ ! -e "$o.daptools-work" ] && echo "  work folder removed"
done
