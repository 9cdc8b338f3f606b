#!/bin/bash
# The paper's four tables over the whole tutorial set at the cpu preset, as committed in docs/results/cpu/
# and shown in docs/results.md. Resumable: rerun it and every row already in a rows.jsonl is skipped.
# Each table is one `daptools paper` command (2 Ray workers of one thread each on a 2-core CPU; set
# CPUS_PER_TASK / ADDRESS for a cluster); afterwards `daptools paper report` regenerates docs/results.md.
#
#   bash studies/paper_grid/run.sh              # everything, in this order
#   bash studies/paper_grid/run.sh table3       # one part
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
RAY="--executor ray --cpus-per-task ${CPUS_PER_TASK:-1} ${ADDRESS:+--address $ADDRESS}"
OUT=docs/results/cpu
hop64() {  # a table at preset cpu64 into docs/results/cpu64/<table>: $1 table, $2 priors (one command each), $3 datasets
  for pr in $2; do for ds in $3; do
    $PY -m daptools.experiments $1 --preset cpu64 --datasets $ds --priors $pr --full-budget $RAY --out docs/results/cpu64/$1
  done; done
}
part() {
  case $1 in
    table1) $PY -m daptools.experiments table1 --preset cpu --priors plain,dilated,exp,exp_dense $RAY --out $OUT/table1
            $PY -m daptools.experiments table1 --preset cpu --priors wiener,gating,gating_ns,rnnoise --out $OUT/table1 ;;
    table2) $PY -m daptools.experiments table2 --preset cpu --priors plain,exp,exp_dense $RAY --out $OUT/table2
            $PY -m daptools.experiments table2 --preset cpu --priors wiener,gating,gating_ns,rnnoise --out $OUT/table2 ;;
    table3) $PY -m daptools.experiments table3 --preset cpu --priors plain,dilated,exp,exp_dense $RAY --out $OUT/table3
            $PY -m daptools.experiments table3 --preset cpu --priors linear,lpc --out $OUT/table3 ;;
    table4) $PY -m daptools.experiments table4 --preset cpu --clips 10 --priors plain,dilated,exp,exp_dense $RAY --out $OUT/table4
            $PY -m daptools.experiments table4 --preset cpu --clips 10 --priors hpss,nmf --out $OUT/table4 ;;
    table4_paper)  # the paper's own model: three U-Nets per fit, so exp_dense and plain only, at the preset's 600 at most;
                   # on the mixtures tried it collapsed to one source within 150 iterations, the minimum of its losses (docs/separation.md)
            $PY -m daptools.experiments table4 --preset cpu --clips 10 --method paper \
                --priors exp_dense,plain $RAY --out $OUT/table4_paper ;;
    table2_hop64)  # does Table 2's ranking survive the cpu preset's hop 256? The same clips and noises at the paper's hop 64
                   # (preset cpu64: the cpu preset's widths, lr and budget at hop 64, 1 s clips), the paper's three priors
                   # of Table 2, each fit run to the budget so that last and oracle cover it, stopped by the hop-64 rule
                   # (loss window 150, stopping.HOP_RULES); compare with studies/paper_grid/compare_runs.py
            hop64 table2 "plain exp exp_dense" "digits piano speech" ;;
    table3_hop64)  # the same question for inpainting on digits (the cpu table's other miss), then speech (1 s clips at
                   # cpu64), the same gaps, four priors
            hop64 table3 "exp_dense,plain,exp,dilated" "digits speech" ;;
    table4_hop64)  # and for separation (method hp, the same 10 mixtures), four priors
            $PY -m daptools.experiments table4 --preset cpu64 --clips 10 --priors exp_dense,plain,exp,dilated --full-budget \
                $RAY --out docs/results/cpu64/table4 ;;
    table2_hop64_2s)  # Table 2's speech miss at hop 64 (1 s clips): the same question on the paper's 2 s speech clips,
                      # plain and exp_dense (the paper's claim), blind stop at hop 64's window (not run on to the budget)
            $PY -m daptools.experiments table2 --preset cpu64 --datasets speech --duration 2 --priors plain,exp_dense \
                $RAY --out docs/results/cpu64/table2_speech2s ;;
    seed1)  # the headline's claim at a second seed, the same clips and mixtures: Table 1 (new noise and networks),
            # Table 4 hp (new networks) and Table 3 (new gaps and networks) at the cpu preset, plain and exp_dense,
            # into their own folders
            $PY -m daptools.experiments table1 --preset cpu --priors plain,exp_dense --seed 1 $RAY --out $OUT/table1_seed1
            $PY -m daptools.experiments table3 --preset cpu --priors plain,exp_dense --seed 1 $RAY --out $OUT/table3_seed1
            # and Table 3 speech at hop 64 (cpu64, run to the budget as table3_hop64): does its win survive the seed?
            $PY -m daptools.experiments table3 --preset cpu64 --datasets speech --priors plain,exp_dense --full-budget \
                --seed 1 $RAY --out docs/results/cpu64/table3_seed1
            $PY -m daptools.experiments table4 --preset cpu --clips 10 --priors plain,exp_dense --seed 1 $RAY \
                --out $OUT/table4_seed1 ;;
    table1_hop64)  # Table 1 (white noise) at hop 64 with the hop-64 rule (stopping.HOP_RULES), digits, piano, speech (1 s
                   # clips at cpu64), curves kept
            hop64 table1 "plain exp_dense exp dilated" "digits piano speech" ;;
    *) echo "unknown part $1 (table1 table2 table3 table4 table4_paper table2_hop64 table3_hop64 table4_hop64" \
            "table1_hop64 table2_hop64_2s seed1)" >&2; exit 2 ;;
  esac
}
for p in "${@:-table1 table3 table2 table4 table4_paper}"; do
  for q in $p; do part "$q"; done
done
$PY -m daptools.experiments report
