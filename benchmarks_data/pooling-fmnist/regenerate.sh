#!/usr/bin/env bash
# pooling-fmnist: 36 architectures x 8 seeds (seeds 0-1 are the original pilot table; the same
# recipe, so its runs are kept). One seed at a time, so that a partial table always holds whole
# seeds; `gt train` skips finished (architecture, seed) runs, so rerunning resumes.
# It trains into benchmarks_data/staging/pooling-fmnist (OUT): the table the smoke and cpu
# profiles score against changes only when the finished table replaces it, together with the
# baselines that depend on it.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-benchmarks_data/staging/pooling-fmnist}
mkdir -p "$OUT"
for f in pooling-fmnist.runs.jsonl pooling-fmnist.json pooling-fmnist.csv; do
  [ -e "$OUT/$f" ] || cp "benchmarks_data/pooling-fmnist/$f" "$OUT/$f"
done
seeds="0,1"
for s in 2 3 4 5 6 7; do
  seeds="$seeds,$s"
  nas-harness gt train --space pooling --dataset fashion-mnist --archs all --seeds "$seeds" \
    --name pooling-fmnist --out "$OUT" --subset 5000 --test-subset 5000 \
    --resize 16 --width-mult 0.5 --epochs 5 --batch-size 128 --lr 0.05 --threads 1 --quiet
done
