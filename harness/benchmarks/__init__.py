"""Ground-truth adapters: every module here registers its benchmarks in `BENCHMARKS` (loaded on
first lookup)."""

from harness.benchmarks.base import (
    BENCHMARKS,
    GT_COLUMNS,
    GroundTruth,
    Provenance,
    load_benchmark,
    resolve_data_dir,
)

__all__ = ["BENCHMARKS", "GT_COLUMNS", "GroundTruth", "Provenance", "load_benchmark", "resolve_data_dir"]
