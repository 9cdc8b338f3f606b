#!/usr/bin/env bash
# The paper on one GPU in at most 8 minutes, in two parts:
#  (a) ms per fit-step of plain and exp_dense at the paper's size (1 s clip: 2 x 512 x 251), at
#      batch 1, 4, 16 and 64, fp32 vs bf16 autocast + channels_last (python -m daptools.bench);
#  (b) Table 1 at the paper's settings (--preset paper --select auto) on as many clips per dataset
#      as the step times of (a) say fit in the time left (worst case: every fit runs all 2000
#      iterations); a run cut short by the time limit is summarised as far as it got.
#
#   bash studies/gpu/gpu_paper.sh           # on an H100/H200-class GPU
#   SMOKE=1 bash studies/gpu/gpu_paper.sh   # anywhere (CPU: a few minutes): smoke preset, batches 1 and 2, 1 clip
#
# Writes into $OUT/gpu_paper (or docs/measurements/gpu_paper_<date> when OUT is unset):
# step_times.md / step_times.json (a), table1/ with rows.jsonl, summary.md, summary.json (b),
# plan.txt (how the clip count was chosen), and prints them.
# Settings (environment): BUDGET (seconds in all, default 480), PYTHON (default python3),
# PRECISION (of the table; default the paper preset's fp32), CLIPS (skip the estimate),
# MAX_ROWS (stop the table after this many rows; it fills prior by prior, so it cuts whole priors).
set -euo pipefail
cd "$(dirname "$0")/../.."
start=$SECONDS
BUDGET=${BUDGET:-480}
PY=${PYTHON:-python3}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}  # the CPU part of a GPU fit (scoring, PESQ) needs few threads
dest=${OUT:+$OUT/gpu_paper}
dest=${dest:-docs/measurements/gpu_paper_$(date +%Y%m%d_%H%M)}
mkdir -p "$dest"
if [ "${SMOKE:-0}" = 1 ]; then
    # the clip count is estimated (plan.txt) but 1 is run; 4 iterations of 0.5 s clips, timed at that size
    preset=smoke batches=1,2 clips=${CLIPS:-1} iterations=4 audio=3
    bench=(--channels 8,16,32 --frames 126 --steps 2 --warmup 1)
else
    # the paper: at most 2000 iterations; Table 1's 2 s speech + 1 s digit + 1 s piano clips = 4 x the timed 1 s
    preset=paper batches=1,4,16,64 clips=${CLIPS:-} iterations=2000 audio=4
    bench=(--frames 251 --steps 5 --warmup 2)
fi
echo "== gpu_paper: preset $preset, budget ${BUDGET} s, results in $dest"
$PY -c "import torch; print('torch', torch.__version__, '| device:', torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu (no CUDA)')"

echo "== (a) step times, batches $batches"
# each (prior, path, batch) runs in its own process; rows are printed as they are measured, so a
# cut-off run still leaves the rows it finished in step_times.md
timeout $((BUDGET * 45 / 100)) $PY -m daptools.bench --priors plain,exp_dense --paths eager,bf16_channels_last \
    --batches "$batches" "${bench[@]}" --json "$dest/step_times.json" | tee "$dest/step_times.md" \
    || echo "(the step times were cut short at $((BUDGET * 45 / 100)) s)"

left=$((BUDGET - (SECONDS - start) - 30))  # 30 s for the summary and the printing
planned=$($PY - "$dest/step_times.md" "$left" "${PRECISION:-fp32}" "$iterations" "$audio" <<'EOF' | tee "$dest/plan.txt" | tail -1
import re, sys
# ms per problem of each (prior, path, batch) from the bench's table
md, left, precision = open(sys.argv[1]).read(), float(sys.argv[2]), sys.argv[3]
iterations, audio_seconds = int(sys.argv[4]), float(sys.argv[5])  # per fit; seconds of audio per timed clip
path = "bf16_channels_last" if precision == "bf16" else "eager"
ms = {(p, int(b)): float(x) for p, q, b, x in
      re.findall(r"^\| (\w+) \| (\w+) \| (\d+) \| [\d.]+ \| ([\d.]+) \|", md, re.M) if q == path}
measured = sorted(b for b in {b for _, b in ms} if ("plain", b) in ms and ("exp_dense", b) in ms)
if not measured:
    print(f"no step times for the {path} path measured; 1 clip", file=sys.stderr)
    print("time left", left, "s; no step times: 1 clip\n1")
    sys.exit()
for n in range(50, 0, -1):
    b = max([m for m in measured if m <= n] or [measured[0]])
    # dilated and exp cost about what plain does (docs/performance.md: 13.5-14.5 vs 13.5 ms per batch of 2)
    per_clip = (3 * ms["plain", b] + ms["exp_dense", b]) * iterations * audio_seconds / 1000
    cost = 1.3 * n * per_clip + 20  # 30 % for monitoring and scoring, 20 s to start
    if cost <= left or n == 1:
        print(f"time left {left:.0f} s; at batch {b} a clip of each dataset through the four priors costs "
              f"{per_clip:.1f} s (worst case, {iterations} iterations, {path}); {n} clip(s) per dataset: "
              f"estimated {cost:.0f} s")
        print(n)
        break
EOF
)
clips=${clips:-$planned}

echo "== (b) Table 1, preset $preset, $clips clip(s) per dataset, ${left} s left"
extra=()
[ -n "${PRECISION:-}" ] && extra+=(--precision "$PRECISION")
[ -n "${MAX_ROWS:-}" ] && extra+=(--max-rows "$MAX_ROWS")
rc=0
timeout "$((left > 30 ? left : 30))" $PY -m daptools.experiments table1 --preset "$preset" --select auto \
    --clips "$clips" --out "$dest/table1" "${extra[@]}" > "$dest/table1.log" 2>&1 || rc=$?
tail -n 3 "$dest/table1.log"
if [ "$rc" != 0 ]; then
    echo "(Table 1 stopped with exit status $rc: summarising the rows it finished)"
    $PY -c "import sys; from daptools.experiments import summarize; summarize(sys.argv[1])" "$dest/table1" \
        || echo "(no rows to summarise: see $dest/table1.log)"
fi

echo "== step times ($dest/step_times.md)"
cat "$dest/step_times.md"
[ -f "$dest/plan.txt" ] && { echo "== plan ($dest/plan.txt)"; cat "$dest/plan.txt"; }
echo "== Table 1 ($dest/table1/summary.md)"
cat "$dest/table1/summary.md" || true
echo "== done in $((SECONDS - start)) s (budget $BUDGET s)"
