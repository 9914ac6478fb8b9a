"""Adapters for the published ground-truth files: the pooling benchmark and NAS-Bench-Macro."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from harness.benchmarks.base import (
    GroundTruth,
    Provenance,
    check_unique_keys,
    make_frame,
    register_benchmark,
)
from harness.benchmarks.files import KNOWN_FILES
from harness.errors import ArchKeyError, DataFileError


def read_csv_checked(
    path: Path, required: list[str], what: str, text_columns: tuple[str, ...] = ("key",)
) -> pd.DataFrame:
    """pandas.read_csv with one-line errors for empty, malformed or incomplete files.

    `text_columns` stay strings: keys such as `0000100100` must not become integers.
    """
    try:
        frame = pd.read_csv(path, dtype={c: str for c in text_columns})
    except pd.errors.EmptyDataError:
        raise DataFileError(f"{path}: file is empty; {what}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        lines = str(exc).strip().splitlines()
        first = lines[0] if lines else exc.__class__.__name__
        raise DataFileError(f"{path}: malformed CSV ({first}); {what}") from None
    except IsADirectoryError:
        raise DataFileError(f"{path}: is a folder, not a CSV file; {what}") from None
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise DataFileError(f"{path}: cannot read ({reason}); check the file and its "
                            f"permissions; {what}") from None
    if frame.empty:
        raise DataFileError(f"{path}: file has a header but no rows; {what}")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataFileError(
            f"{path}: missing column(s) {missing} (found {list(frame.columns)[:8]}); {what}"
        )
    return frame


def numeric_column(frame: pd.DataFrame, column: str, path: Path, what: str) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    bad = int(np.sum(~np.isfinite(values)))
    if bad:
        raise DataFileError(
            f"{path}: column '{column}' has {bad} missing or non-numeric value(s); "
            f"the file is truncated or corrupt: {what}"
        )
    return values


@register_benchmark(
    "pooling",
    space="pooling",
    description="ResNet20 pooling benchmark, CIFAR-10, 36 architectures (Balanced Mixture of SuperNets)",
    files=("pooling-results", "pooling-lookup"),
)
def load_pooling(data_dir: Path) -> GroundTruth:
    from harness.spaces import get_space

    space = get_space("pooling")
    results_file = KNOWN_FILES.get("pooling-results")
    lookup_file = KNOWN_FILES.get("pooling-lookup")
    results_path = results_file.verified_path(data_dir)
    lookup_path = lookup_file.verified_path(data_dir)
    fix = results_file.how_to_get(data_dir)

    results = read_csv_checked(results_path, ["architecture", "baseline_avg", "baseline_stdev"], fix)
    lookup = read_csv_checked(lookup_path, ["number", "block1", "block2", "block3", "code"], fix)
    results = results.loc[:, ~results.columns.str.startswith("Unnamed")]
    ids = numeric_column(results, "architecture", results_path, fix).astype(int)
    if sorted(ids) != list(range(1, 37)):
        raise DataFileError(f"{results_path}: expected architecture ids 1..36, found {len(ids)} rows; {fix}")

    # The lookup's bit code must agree with the space's id order: the join is checked, not assumed.
    numbers = pd.to_numeric(lookup["number"], errors="coerce")
    if numbers.duplicated().any():
        raise DataFileError(f"{lookup_path}: architecture number(s) "
                            f"{sorted(set(numbers[numbers.duplicated()].tolist()))[:3]} appear on more "
                            f"than one row; {fix}")
    code_by_id = {}
    for row in lookup.itertuples(index=False):
        bits = str(row.code).replace(",", "").replace(" ", "")
        try:
            arch = space.parse(bits)
        except ArchKeyError as exc:
            raise DataFileError(f"{lookup_path}: row {row.number}: {exc}") from None
        if space.bench_id(arch) != int(row.number) or space.blocks(arch) != (
            int(row.block1), int(row.block2), int(row.block3)
        ):
            raise DataFileError(f"{lookup_path}: row {row.number} disagrees with the space's id order")
        code_by_id[int(row.number)] = space.key(arch)

    frame = make_frame(
        {
            "key": [code_by_id[i] for i in ids],
            "accuracy": numeric_column(results, "baseline_avg", results_path, fix),
            "accuracy_std": numeric_column(results, "baseline_stdev", results_path, fix),
        },
        dataset="cifar10",
        split="test",
        epochs=200,
    )
    check_unique_keys(frame, results_path, fix)
    frame["bench_id"] = ids
    frame["blocks"] = [str(list(space.blocks(space.parse(k)))) for k in frame["key"]]
    # Published supernet columns ride along so users can score them as known predictions.
    for column in results.columns:
        if column not in ("architecture", "baseline_avg", "baseline_stdev"):
            frame[f"published_{column}"] = pd.to_numeric(results[column], errors="coerce").to_numpy()
    return GroundTruth(
        name="pooling",
        space="pooling",
        frame=frame,
        provenance=Provenance(
            file=str(results_path),
            sha256=results_file.sha256 or "",
            metric="baseline_avg: stand-alone CIFAR-10 test accuracy (%), mean over trainings",
            source=results_file.url,
        ),
    )


def parse_nb_macro_json(path: Path, fix: str) -> tuple[list, ...]:
    """Columns (keys, mean, std, seeds, params, flops) of the NAS-Bench-Macro JSON; clear errors."""
    from harness.spaces import get_space

    space = get_space("nb-macro")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataFileError(f"{path}: not a UTF-8 JSON file; {fix}") from None
    if not text.strip():
        raise DataFileError(f"{path}: file is empty; {fix}")
    def no_duplicates(pairs: list) -> dict:
        seen: dict = {}
        for key, value in pairs:
            if key in seen:
                raise DataFileError(f"{path}: key '{key}' appears twice in one JSON object; {fix}")
            seen[key] = value
        return seen

    try:
        raw = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        raise DataFileError(
            f"{path}: truncated or malformed JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); {fix}"
        ) from None
    if not isinstance(raw, dict) or not raw:
        raise DataFileError(f"{path}: expected a JSON object mapping 8-digit codes to results; {fix}")

    keys, mean, std, seeds, params, flops = [], [], [], [], [], []
    for code, record in raw.items():
        try:
            keys.append(space.key(space.parse(code)))
            mean.append(float(record["mean_acc"]))
            std.append(float(record["std"]))
            seeds.append(len(record["test_acc"]))
            params.append(float(record["params"]))
            flops.append(float(record["flops"]))
        except ArchKeyError as exc:
            raise DataFileError(f"{path}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise DataFileError(
                f"{path}: record for '{code}' lacks a valid {exc} field (needs mean_acc, std, "
                f"test_acc, params, flops); {fix}"
            ) from None
    return keys, mean, std, seeds, params, flops


@register_benchmark(
    "nb-macro",
    space="nb-macro",
    description="NAS-Bench-Macro, CIFAR-10, 6,561 codes (3,969 distinct networks), 3 seeds",
    files=("nb-macro-cifar10",),
)
def load_nb_macro(data_dir: Path) -> GroundTruth:
    entry = KNOWN_FILES.get("nb-macro-cifar10")
    path = entry.verified_path(data_dir)
    fix = entry.how_to_get(data_dir)
    keys, mean, std, seeds, params, flops = parse_nb_macro_json(path, fix)
    frame = make_frame(
        {
            "key": keys,
            "accuracy": mean,
            "accuracy_std": std,
            "n_seeds": seeds,
            "params": params,
            "flops": flops,
        },
        dataset="cifar10",
        split="test",
        epochs=50,
    )
    check_unique_keys(frame, path, fix)
    return GroundTruth(
        name="nb-macro",
        space="nb-macro",
        frame=frame,
        provenance=Provenance(
            file=str(path),
            sha256=entry.sha256 or "",
            metric="mean_acc: CIFAR-10 test accuracy (%), best over 50 epochs, mean of 3 seeds",
            source=entry.url,
        ),
    )
