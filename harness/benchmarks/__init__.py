"""Ground-truth adapters: importing this module registers every benchmark."""

from harness.benchmarks import generated, nb201, published  # noqa: F401
from harness.benchmarks.base import (
    BENCHMARKS,
    GT_COLUMNS,
    GroundTruth,
    Provenance,
    load_benchmark,
    resolve_data_dir,
)

__all__ = ["BENCHMARKS", "GT_COLUMNS", "GroundTruth", "Provenance", "load_benchmark", "resolve_data_dir"]
