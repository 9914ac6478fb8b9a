#!/usr/bin/env bash
# nb-macro-fmnist: 200 distinct networks (archs-200.txt: the first table's 40 + 160 stratified)
# x 3 seeds, the first table's recipe, so its 40 x 2 runs are kept. One seed at a time; rerunning
# resumes. Trains into benchmarks_data/staging (OUT) until finished, like pooling-fmnist.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-benchmarks_data/staging/nb-macro-fmnist}
mkdir -p "$OUT"
for f in nb-macro-fmnist.runs.jsonl nb-macro-fmnist.json nb-macro-fmnist.csv; do
  [ -e "$OUT/$f" ] || cp "benchmarks_data/nb-macro-fmnist/$f" "$OUT/$f"
done
seeds="0"
for s in 1 2; do
  seeds="$seeds,$s"
  nas-harness gt train --space nb-macro --dataset fashion-mnist \
    --archs benchmarks_data/nb-macro-fmnist/archs-200.txt --seeds "$seeds" \
    --name nb-macro-fmnist --out "$OUT" --subset 3000 --test-subset 5000 --resize 16 \
    --width-mult 0.25 --epochs 3 --batch-size 128 --lr 0.05 --threads 1 --quiet
done
