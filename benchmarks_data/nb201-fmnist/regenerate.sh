#!/usr/bin/env bash
# nb201-fmnist: 150 distinct cells (archs-150.txt: the first table's 40 + 110 stratified) x 3
# seeds, the first table's recipe, so its 40 x 2 runs are kept (about 370 new trainings, ~19 s
# each on one core: about 2 CPU hours). One seed round at a time, so a partial table holds whole
# seeds; rerunning resumes. Trains into benchmarks_data/staging (OUT) until finished, like the
# others.
#
# JOBS=N trains N disjoint slices of the cells side by side (one core each), each into
# OUT/part-K, and merges their finished runs into OUT after every round: the same runs as
# JOBS=1, since each (cell, seed) training is seeded by itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-benchmarks_data/staging/nb201-fmnist}
JOBS=${JOBS:-1}
NAME=nb201-fmnist
ARCHS=benchmarks_data/nb201-fmnist/archs-150.txt
mkdir -p "$OUT"
for f in $NAME.runs.jsonl $NAME.json $NAME.csv; do
  [ -e "$OUT/$f" ] || cp "benchmarks_data/nb201-fmnist/$f" "$OUT/$f"
done

train() {  # train ARCHS_FILE SEEDS OUT_DIR
  nas-harness gt train --space nb201 --dataset fashion-mnist \
    --archs "$1" --seeds "$2" \
    --name $NAME --out "$3" --subset 3000 --test-subset 5000 --resize 16 \
    --width-mult 0.5 --net-option cells_per_stage=2 --epochs 3 --batch-size 128 --lr 0.05 \
    --threads 1 --quiet
}

merge() {  # the union of OUT's and every part's finished runs, one line per (cell, seed)
  python - "$OUT/$NAME.runs.jsonl" "$OUT"/part-*/$NAME.runs.jsonl <<'PY'
import json, os, sys
seen, lines = set(), []
for path in sys.argv[1:]:
    if os.path.isfile(path):
        for line in open(path):
            try:
                run = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill: trained again
            if (run["key"], run["seed"]) not in seen:
                seen.add((run["key"], run["seed"]))
                lines.append(json.dumps(run) + "\n")
tmp = sys.argv[1] + ".tmp"
with open(tmp, "w") as handle:
    handle.writelines(lines)
os.replace(tmp, sys.argv[1])
PY
}

seeds="0"
for s in 1 2; do
  seeds="$seeds,$s"
  if [ "$JOBS" -gt 1 ]; then
    merge
    grep -v '^#' "$ARCHS" > "$OUT/archs.txt"
    pids=()
    for k in $(seq 0 $((JOBS - 1))); do
      part="$OUT/part-$k"
      mkdir -p "$part"
      awk -v n="$JOBS" -v k="$k" '(NR - 1) % n == k' "$OUT/archs.txt" > "$part/archs.txt"
      cp "$OUT/$NAME.runs.jsonl" "$part/$NAME.runs.jsonl.new"
      [ -e "$part/$NAME.runs.jsonl" ] && cat "$part/$NAME.runs.jsonl" >> "$part/$NAME.runs.jsonl.new"
      mv "$part/$NAME.runs.jsonl.new" "$part/$NAME.runs.jsonl"
      rm -f "$part/$NAME.json"  # the part's record names its own cells
      train "$part/archs.txt" "$seeds" "$part" &
      pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
    merge
  fi
  train "$ARCHS" "$seeds" "$OUT"  # JOBS=1: trains; JOBS>1: only rewrites the merged table
done
