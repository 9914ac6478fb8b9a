"""Ground truth the harness made itself by stand-alone training (Fashion-MNIST mini benchmarks).

Each table lives in the repository under `benchmarks_data/<name>/<name>.csv` in the common schema,
beside `<name>.json` that records the exact command that regenerates it, the table's row count
(`n_rows`) and its sha256 (`csv_sha256`), both checked on load: a table cut short, edited or
damaged is refused. A copy in the data directory takes precedence, so users can regenerate a table
without touching the repository (a copy without a `.json` is read unverified).
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.benchmarks.base import (
    GT_COLUMNS,
    GroundTruth,
    Provenance,
    check_unique_keys,
    register_benchmark,
)
from harness.benchmarks.published import numeric_column, read_csv_checked
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


def _read_record(recipe_path: Path, fix: str) -> dict:
    if not recipe_path.is_file():
        return {}
    try:
        record = json.loads(recipe_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataFileError(f"{recipe_path}: malformed JSON; {fix}") from None
    except OSError as exc:
        raise DataFileError(f"{recipe_path}: cannot read ({exc.strerror or exc}); {fix}") from None
    if not isinstance(record, dict):
        raise DataFileError(f"{recipe_path}: expected a JSON object (the table's record); {fix}")
    return record


def expected_rows(record: dict) -> int | None:
    """The number of rows the table's record promises: n_rows, else its distinct archs."""
    if isinstance(record.get("n_rows"), int) and not isinstance(record["n_rows"], bool):
        return record["n_rows"]
    archs = record.get("archs")
    if isinstance(archs, list) and archs:
        return len({str(a) for a in archs})
    return None


def record_table_checksum(out_dir: Path, name: str) -> dict:
    """Write the finished table's sha256 and row count into `<out_dir>/<name>.json`.

    `nas-harness gt train` calls this when training is done; `load_generated` checks both.
    """
    from harness.io import atomic_write_json

    out_dir = Path(out_dir)
    csv = out_dir / f"{name}.csv"
    recipe_path = out_dir / f"{name}.json"
    fix = f"rerun `nas-harness gt train` (see {recipe_path.name})"
    record = _read_record(recipe_path, fix)
    frame = read_csv_checked(csv, ["key"], fix)
    record["csv_sha256"] = sha256_of(csv)
    record["n_rows"] = int(len(frame))
    atomic_write_json(recipe_path, record)
    return record


def load_generated(name: str, space: str, data_dir: Path | None) -> GroundTruth:
    """A generated table, checked: numeric accuracies, one row per key, and, when its `.json`
    exists, the row count and sha256 that the `.json` records."""
    path = generated_table_path(name, data_dir)
    recipe_path = path.with_suffix(".json")
    fix = f"regenerate it with `nas-harness gt train` (see {recipe_path.name} or README)"
    if not path.is_file():
        raise DataFileError(f"{path}: file not found; {fix}")
    frame = read_csv_checked(path, GT_COLUMNS, fix)
    frame["accuracy"] = numeric_column(frame, "accuracy", path, fix)
    frame["key"] = frame["key"].astype(str)
    check_unique_keys(frame, path, fix)
    recipe = _read_record(recipe_path, fix)
    actual_sha = sha256_of(path)
    if recipe:
        promised = expected_rows(recipe)
        if promised is not None and len(frame) != promised:
            how = "cut short" if len(frame) < promised else "longer than its record"
            raise DataFileError(
                f"{path}: {len(frame)} rows but {recipe_path.name} records {promised}; the table is "
                f"{how} (an unfinished or interrupted `gt train`?): rerun the command in "
                f"{recipe_path.name} to finish it"
            )
        recorded = recipe.get("csv_sha256")
        if not isinstance(recorded, str) or not recorded:
            raise DataFileError(
                f"{path}: {recipe_path.name} records no csv_sha256, so the table cannot be verified "
                f"(unfinished, or made by an older harness); rerun the command in "
                f"{recipe_path.name} (finished runs are skipped) to record it"
            )
        if recorded != actual_sha:
            raise DataFileError(
                f"{path}: wrong checksum (sha256 {actual_sha[:12]}..., {recipe_path.name} records "
                f"{recorded[:12]}...); the table was edited or damaged: restore it or {fix}"
            )
    extra = {"recipe": recipe} if recipe else {}
    stats = table_statistics(path.with_name(f"{name}.runs.jsonl"))
    if stats:
        extra.update(stats)
    if recipe and "complete" in recipe:
        extra["complete"] = recipe["complete"]
    return GroundTruth(
        name=name,
        space=space,
        frame=frame,
        provenance=Provenance(
            file=str(path),
            sha256=actual_sha,
            metric="stand-alone test accuracy (%), mean over seeds",
            source=recipe.get("command", ""),
        ),
        extra=extra,
    )


def table_statistics(runs_path: Path) -> dict:
    """Reliability figures of a generated table from its per-seed runs file (see
    harness.benchmarks.reliability), the CPU time its trainings took, and the seed-to-seed
    Kendall of the first two seeds; {} without a runs file."""
    if not runs_path.is_file():
        return {}
    import pandas as pd

    from harness.benchmarks.reliability import complete_table, reliability, seeds_for

    try:
        runs = pd.read_json(runs_path, lines=True, dtype={"key": str})
        wide = complete_table(runs)
    except (ValueError, KeyError):
        return {}
    stats = reliability(wide)
    out = {f"gt_{k}": (round(v, 4) if isinstance(v, float) else v) for k, v in stats.items()}
    out["gt_seeds_for_reliability_0.8"] = seeds_for(0.8, stats["single_seed_reliability"])
    if "seconds" in runs:
        out["gt_cpu_hours"] = round(float(runs["seconds"].sum()) / 3600.0, 3)
    out["seed_agreement_kendall"] = seed_agreement(runs_path)
    return out


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
