#!/usr/bin/env bash
# nb201-fmnist: 150 distinct cells (archs-150.txt: the first table's 40 + 110 stratified) x 3
# seeds, the first table's recipe, so its 40 x 2 runs are kept (about 370 new trainings, ~19 s
# each on one core: about 2 CPU hours). One seed at a time, so a partial table holds whole seeds;
# rerunning resumes. Trains into benchmarks_data/staging (OUT) until finished, like the others.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-benchmarks_data/staging/nb201-fmnist}
mkdir -p "$OUT"
for f in nb201-fmnist.runs.jsonl nb201-fmnist.json nb201-fmnist.csv; do
  [ -e "$OUT/$f" ] || cp "benchmarks_data/nb201-fmnist/$f" "$OUT/$f"
done
seeds="0"
for s in 1 2; do
  seeds="$seeds,$s"
  nas-harness gt train --space nb201 --dataset fashion-mnist \
    --archs benchmarks_data/nb201-fmnist/archs-150.txt --seeds "$seeds" \
    --name nb201-fmnist --out "$OUT" --subset 3000 --test-subset 5000 --resize 16 \
    --width-mult 0.5 --net-option cells_per_stage=2 --epochs 3 --batch-size 128 --lr 0.05 \
    --threads 1 --quiet
done
