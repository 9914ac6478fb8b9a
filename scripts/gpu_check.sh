#!/usr/bin/env bash
# One-call GPU check (about 8 minutes on one GPU, no network, no dataset):
#   scripts/gpu_check.sh OUT [--dry-run]
# Writes OUT/summary.json and OUT/summary.txt; see scripts/gpu_check.py.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python scripts/gpu_check.py "$@"
