"""Ground truth the harness made itself by stand-alone training (Fashion-MNIST mini benchmarks).

Each table lives in the repository under `benchmarks_data/<name>/<name>.csv` in the common schema,
beside `<name>.json` that records the exact command that regenerates it. A copy in the data
directory takes precedence, so users can regenerate a table without touching the repository.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.benchmarks.base import GT_COLUMNS, GroundTruth, Provenance, register_benchmark
from harness.benchmarks.published import read_csv_checked
from harness.errors import DataFileError
from harness.io import sha256_of

REPO_DATA_DIR = Path(__file__).resolve().parents[2] / "benchmarks_data"

GENERATED = {
    "pooling-fmnist": ("pooling", "ResNet20 pooling space on Fashion-MNIST, 36 architectures, stand-alone trained here"),
    "nb-macro-fmnist": ("nb-macro", "NAS-Bench-Macro space on Fashion-MNIST, stratified sample, stand-alone trained here"),
    "nb201-fmnist": ("nb201", "NAS-Bench-201 space on Fashion-MNIST, stratified sample, stand-alone trained here"),
}


def generated_table_path(name: str, data_dir: Path | None) -> Path:
    candidates = [REPO_DATA_DIR / name / f"{name}.csv"]
    if data_dir is not None:
        candidates.insert(0, Path(data_dir) / name / f"{name}.csv")
    for path in candidates:
        if path.is_file():
            return path
    return candidates[-1]


def load_generated(name: str, space: str, data_dir: Path | None) -> GroundTruth:
    path = generated_table_path(name, data_dir)
    recipe_path = path.with_suffix(".json")
    fix = f"regenerate it with `nas-harness gt train` (see {recipe_path.name} or README)"
    if not path.is_file():
        raise DataFileError(f"{path}: file not found; {fix}")
    frame = read_csv_checked(path, GT_COLUMNS, fix)
    if not np.all(np.isfinite(frame["accuracy"].to_numpy(dtype=float))):
        raise DataFileError(f"{path}: column 'accuracy' has missing values; {fix}")
    frame["key"] = frame["key"].astype(str)
    recipe = {}
    if recipe_path.is_file():
        try:
            recipe = json.loads(recipe_path.read_text())
        except json.JSONDecodeError:
            raise DataFileError(f"{recipe_path}: malformed JSON; {fix}") from None
    extra = {"recipe": recipe} if recipe else {}
    agreement = seed_agreement(path.with_name(f"{name}.runs.jsonl"))
    if agreement is not None:
        extra["seed_agreement_kendall"] = agreement
    return GroundTruth(
        name=name,
        space=space,
        frame=frame,
        provenance=Provenance(
            file=str(path),
            sha256=sha256_of(path),
            metric="stand-alone test accuracy (%), mean over seeds",
            source=recipe.get("command", ""),
        ),
        extra=extra,
    )


def seed_agreement(runs_path: Path) -> float | None:
    """Kendall tau between the first two training seeds' accuracies: how far the ground truth itself
    ranks consistently (a ceiling on any supernet's agreement with it)."""
    if not runs_path.is_file():
        return None
    import pandas as pd
    import scipy.stats

    try:
        runs = pd.read_json(runs_path, lines=True, dtype={"key": str})
        wide = runs.pivot_table(index="key", columns="seed", values="accuracy").dropna()
    except (ValueError, KeyError):
        return None
    if wide.shape[1] < 2 or len(wide) < 3:
        return None
    return round(float(scipy.stats.kendalltau(wide.iloc[:, 0], wide.iloc[:, 1]).statistic), 4)


def _register(name: str, space: str, description: str) -> None:
    register_benchmark(name, space=space, description=description)(
        lambda data_dir: load_generated(name, space, data_dir)
    )


for _name, (_space, _description) in GENERATED.items():
    _register(_name, _space, _description)
