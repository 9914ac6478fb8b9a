"""The common ground-truth table, its provenance, the data directory and the benchmark registry.

Every adapter returns a `GroundTruth`: one row per architecture key with the columns in
`GT_COLUMNS`, plus where the numbers came from (file, sha256, metric name).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import DataFileError
from harness.io import sha256_of, user_cache_dir
from harness.registry import Registry

# key: canonical architecture key; accuracy: mean over seeds (%); accuracy_std: std over seeds;
# n_seeds; params / flops: of the stand-alone network where known (else NaN);
# dataset, split, epochs: what the accuracy was measured on.
GT_COLUMNS = [
    "key",
    "accuracy",
    "accuracy_std",
    "n_seeds",
    "params",
    "flops",
    "dataset",
    "split",
    "epochs",
]


@dataclass(frozen=True)
class Provenance:
    file: str
    sha256: str
    metric: str
    source: str = ""

    def to_dict(self) -> dict:
        return {"file": self.file, "sha256": self.sha256, "metric": self.metric, "source": self.source}


@dataclass
class GroundTruth:
    """A benchmark's published accuracies in the common schema."""

    name: str
    space: str
    frame: pd.DataFrame
    provenance: Provenance
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in GT_COLUMNS if c not in self.frame.columns]
        if missing:
            raise ValueError(f"ground truth '{self.name}' lacks columns {missing}")
        self.frame = self.frame[GT_COLUMNS + [c for c in self.frame.columns if c not in GT_COLUMNS]]
        self.frame = self.frame.reset_index(drop=True)
        # Every adapter checks its own file; this is the net under all of them.
        check_unique_keys(self.frame, self.provenance.file or self.name,
                          "the ground-truth file is corrupt: replace or regenerate it")

    @property
    def n_architectures(self) -> int:
        return len(self.frame)

    def accuracy_by_key(self) -> pd.Series:
        return self.frame.set_index("key")["accuracy"]

    def summary(self) -> dict:
        from harness.spaces import get_space

        space = get_space(self.space)
        frame = self.frame
        n_distinct = int(frame["key"].map(space.canonical_key).nunique())
        # Among tied rows name the one with the lowest official index (NB-201 papers' choice);
        # in a space without an index, the canonical key, then the smallest.
        index = frame["key"].map(lambda k: space.official_index(space.parse(k)))
        is_canonical = frame["key"] == frame["key"].map(space.canonical_key)
        order = frame.assign(_index=index.fillna(-1), _canon=~is_canonical).sort_values(
            ["_index", "_canon", "key"], kind="stable")
        best = order.loc[order["accuracy"].idxmax()]
        worst = order.loc[order["accuracy"].idxmin()]

        def row_facts(row, prefix: str) -> dict:
            n_seeds = row.get("n_seeds")
            return {f"{prefix}_key": str(row["key"]),
                    f"{prefix}_index": None if row["_index"] < 0 else int(row["_index"]),
                    f"{prefix}_accuracy": round(float(row["accuracy"]), 4),
                    f"{prefix}_n_seeds": None if n_seeds is None or pd.isna(n_seeds)
                    else int(n_seeds),
                    f"{prefix}_ties": int((frame["accuracy"] == row["accuracy"]).sum())}

        return {
            "name": self.name,
            "space": self.space,
            "n_architectures": int(len(frame)),
            "n_distinct": n_distinct,
            **row_facts(best, "best"),
            **row_facts(worst, "worst"),
            "mean_accuracy": round(float(frame["accuracy"].mean()), 4),
            "dataset": str(best["dataset"]),
            "split": str(best["split"]),
            "epochs": None if pd.isna(best["epochs"]) else int(best["epochs"]),
            "metric": self.provenance.metric,
            "file": self.provenance.file,
            "sha256": self.provenance.sha256,
            "source": self.provenance.source,
            **self.extra,
        }


def check_unique_keys(frame: pd.DataFrame, path: str | os.PathLike, fix: str) -> None:
    """DataFileError when an architecture key appears on more than one row of a ground-truth table."""
    keys = frame["key"].astype(str)
    dup = keys[keys.duplicated(keep=False)]
    if len(dup):
        shown = ", ".join(repr(k) for k in list(dict.fromkeys(dup))[:3])
        more = ", ..." if dup.nunique() > 3 else ""
        raise DataFileError(
            f"{path}: {dup.nunique()} architecture key(s) appear on more than one row ({shown}{more}); "
            f"a ground-truth table holds one row per architecture: {fix}"
        )


def make_frame(rows: dict[str, list], **constant) -> pd.DataFrame:
    """Build a GT frame from column lists, filling constant columns and missing ones with NaN."""
    n = len(rows["key"])
    data = dict(rows)
    for name, value in constant.items():
        data[name] = [value] * n
    for name in GT_COLUMNS:
        data.setdefault(name, [np.nan] * n)
    return pd.DataFrame(data)


# ---------------------------------------------------------------- data directory




def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """`--data-dir`, then `HARNESS_DATA_DIR`, then the user cache."""
    if data_dir:
        return Path(data_dir)
    env = os.environ.get("HARNESS_DATA_DIR")
    if env:
        return Path(env)
    return user_cache_dir()


def verify_file(path: Path, sha256: str | None, what: str) -> str:
    """Check that `path` exists and matches `sha256` (when known); return its actual sha256."""
    if not path.is_file():
        raise DataFileError(f"{path}: file not found; {what}")
    actual = sha256_of(path)
    if sha256 and actual != sha256:
        raise DataFileError(
            f"{path}: wrong checksum (sha256 {actual[:12]}..., expected {sha256[:12]}...); "
            f"the file is corrupt or a different version: replace it ({what})"
        )
    return actual


# ---------------------------------------------------------------- registry of benchmarks


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    space: str
    description: str
    loader: Callable[[Path], GroundTruth]
    files: tuple[str, ...] = ()  # names in harness.benchmarks.files.KNOWN_FILES


BENCHMARKS: Registry[BenchmarkSpec] = Registry("benchmark", providers="harness.benchmarks")


def register_benchmark(name: str, space: str, description: str, files: tuple[str, ...] = ()):
    """Decorator for `loader(data_dir) -> GroundTruth`."""

    def decorator(loader: Callable[[Path], GroundTruth]):
        BENCHMARKS.add(name, BenchmarkSpec(name, space, description, loader, files))
        return loader

    return decorator


def load_benchmark(name: str, data_dir: str | os.PathLike | None = None) -> GroundTruth:
    spec = BENCHMARKS.get(name)
    return spec.loader(resolve_data_dir(data_dir))
