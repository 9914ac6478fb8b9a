"""Score a predictions file against a ground-truth table: the engine behind `nas-harness correlate`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis.metrics import MAX_RESAMPLES, get_metric, score
from harness.benchmarks.base import GroundTruth
from harness.benchmarks.published import read_csv_checked
from harness.errors import ArchKeyError, DataFileError, HarnessError
from harness.spaces import get_space


def _examples(items, n: int = 3) -> str:
    items = list(items)
    shown = ", ".join(repr(str(i)) for i in items[:n])
    return shown + (", ..." if len(items) > n else "")


SCORE_COLUMNS = ("score", "supernet_accuracy")


def check_readable_text(path: Path, what: str, fix: str) -> None:
    """Refuse, in one line, a path that is missing, a folder, unreadable or a binary file."""
    if path.is_dir():
        raise DataFileError(f"{path}: is a folder, not a {what}; {fix}")
    if not path.exists():
        raise DataFileError(f"{path}: {what} not found; check the path")
    if not path.is_file():
        raise DataFileError(f"{path}: not a regular file; {fix}")
    try:
        with open(path, "rb") as handle:
            head = handle.read(8192)
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise DataFileError(f"{path}: cannot read the {what} ({reason}); check the file and its "
                            "permissions") from None
    if b"\x00" in head:
        raise DataFileError(f"{path}: a binary file, not a CSV {what}; {fix}")


def read_predictions(
    path: str | Path, space_name: str, key_column: str = "key", score_column: str | None = None
) -> pd.DataFrame:
    """Predictions as a frame with columns key (canonical form of the space) and score.

    Without `score_column`, the first of SCORE_COLUMNS present in the file is used.
    """
    path = Path(path)
    check_readable_text(path, "predictions file", "pass the CSV that `nas-harness evaluate --out` "
                        "wrote, or one with a key and a score column")
    if score_column is None:
        try:
            header = pd.read_csv(path, nrows=0).columns
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError,
                ValueError):
            header = []
        score_column = next((c for c in SCORE_COLUMNS if c in header), SCORE_COLUMNS[0])
    fix = f"expected a CSV with columns '{key_column}' and '{score_column}'"
    frame = read_csv_checked(
        path, [key_column, score_column], fix + " (see --key-column/--score-column)", (key_column,)
    )
    space = get_space(space_name)
    keys, bad = [], []
    for raw in frame[key_column].astype(str):
        try:
            keys.append(space.key(space.parse(raw)))
        except ArchKeyError as exc:
            bad.append((raw, exc))
            keys.append(None)
    if bad:
        raise ArchKeyError(
            f"{path}: {len(bad)} of {len(frame)} keys are not {space_name} architectures "
            f"({_examples(b[0] for b in bad)}); first problem: {bad[0][1]}"
        )
    scores = pd.to_numeric(frame[score_column], errors="coerce").to_numpy(dtype=float)
    n_bad = int(np.sum(~np.isfinite(scores)))
    if n_bad:
        rows = [keys[i] for i in np.flatnonzero(~np.isfinite(scores))]
        raise DataFileError(
            f"{path}: {n_bad} score(s) in '{score_column}' are NaN, empty or not numbers "
            f"(keys {_examples(rows)}); fix or drop those rows"
        )
    out = pd.DataFrame({"key": keys, "score": scores})
    dup = out["key"].duplicated(keep=False)
    if dup.any():
        raise DataFileError(
            f"{path}: {int(out.loc[dup, 'key'].nunique())} architecture(s) appear more than once "
            f"({_examples(out.loc[dup, 'key'].unique())}); keep one row per architecture"
        )
    return out


def check_bootstrap_options(n_resamples: int, seed: int) -> None:
    """One-line errors for a bootstrap count outside {0} and [2, MAX_RESAMPLES] or a negative seed."""
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or not (
        n_resamples == 0 or 2 <= n_resamples <= MAX_RESAMPLES
    ):
        raise HarnessError(
            f"--bootstrap {n_resamples}: the number of bootstrap resamples must be 0 (no interval) "
            f"or between 2 and {MAX_RESAMPLES}; 1000 is the default and usually enough"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not (
        0 <= seed < 2**63
    ):
        raise HarnessError(f"--seed {seed}: the bootstrap seed must be an integer between 0 and "
                           f"2**63 - 1, e.g. 0")


def check_metric_names(metrics: list[str] | None) -> None:
    """Every metric name resolves (an UnknownNameError with 'did you mean' otherwise)."""
    for name in metrics or ():
        get_metric(name)


# The conventions for equivalent codes (isomorphic cells), as the output names them.
NETWORK_CONVENTIONS = {
    "distinct": "each distinct network once: equivalent codes merged, their ground-truth "
                "accuracies and scores averaged",
    "first": "each distinct network once: the ground truth of its member with the lowest "
             "official index (NB-201 papers' convention; the canonical member where a space has "
             "no index), its members' scores averaged",
    "all": "every code on its own, equivalent ones counted separately",
}


@dataclass
class Correlation:
    benchmark: str
    networks: str
    n: int
    n_predictions: int
    n_benchmark_unscored: int
    metrics: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "benchmark": self.benchmark,
            "networks": self.networks,
            "networks_convention": NETWORK_CONVENTIONS[self.networks],
            "n": self.n,
            "n_predictions": self.n_predictions,
            "n_benchmark_unscored": self.n_benchmark_unscored,
            "metrics": {name: result.to_dict() for name, result in self.metrics.items()},
        }


def join_with_truth(
    predictions: pd.DataFrame, truth: GroundTruth, networks: str = "distinct", intersect: bool = False,
    source: str = "predictions",
) -> pd.DataFrame:
    """Frame of (key, score, accuracy): one row per scored network.

    networks='distinct' scores each distinct network once (equivalent codes collapse to their
    canonical key; scores and accuracies are averaged within a class); 'first' takes a class's
    ground truth from its member with the lowest official index in the table (scores still
    averaged over the class); 'all' keeps every code (NETWORK_CONVENTIONS).
    """
    if networks not in NETWORK_CONVENTIONS:
        raise HarnessError(f"--networks must be one of {', '.join(NETWORK_CONVENTIONS)}, not "
                           f"{networks!r}")
    space = get_space(truth.space)
    gt = truth.frame[["key", "accuracy"]].copy()
    pred = predictions.copy()
    if networks in ("distinct", "first"):
        canonical = gt["key"].map(space.canonical_key)
        if networks == "first":
            rank = [space.official_index(space.parse(k)) for k in gt["key"]]
            gt = gt.assign(_rank=[-1 if r is None else r for r in rank], key=canonical)
            gt = gt.sort_values("_rank", kind="stable").drop_duplicates("key")[["key", "accuracy"]]
        else:
            gt["key"] = canonical
            gt = gt.groupby("key", sort=False, as_index=False)["accuracy"].mean()
        pred["key"] = pred["key"].map(space.canonical_key)
        pred = pred.groupby("key", sort=False, as_index=False)["score"].mean()
    unknown = sorted(set(pred["key"]) - set(gt["key"]))
    if unknown and not intersect:
        raise DataFileError(
            f"{source}: {len(unknown)} of {len(pred)} architectures are not in benchmark "
            f"'{truth.name}' ({_examples(unknown)}); check --benchmark, or pass --intersect "
            f"to score only the shared ones"
        )
    joined = pred.merge(gt, on="key", how="inner")
    if len(joined) < 3:
        raise DataFileError(
            f"{source}: only {len(joined)} architecture(s) are shared with benchmark "
            f"'{truth.name}'; need at least 3 to rank"
        )
    return joined


def correlate(
    predictions: pd.DataFrame,
    truth: GroundTruth,
    networks: str = "distinct",
    metrics: list[str] | None = None,
    intersect: bool = False,
    n_resamples: int = 1000,
    seed: int = 0,
    source: str = "predictions",
    progress=None,
) -> Correlation:
    """Metrics of `predictions` against `truth`; ``progress(done, total)`` follows the bootstrap."""
    check_bootstrap_options(n_resamples, seed)
    joined = join_with_truth(predictions, truth, networks, intersect, source)
    results = score(
        joined["score"].to_numpy(float),
        joined["accuracy"].to_numpy(float),
        metrics=metrics,
        ci=n_resamples > 0,
        n_resamples=max(n_resamples, 2),
        seed=seed,
        progress=progress,
    )
    n_truth = truth.frame["key"].map(get_space(truth.space).canonical_key).nunique() \
        if networks != "all" else len(truth.frame)
    return Correlation(
        benchmark=truth.name,
        networks=networks,
        n=len(joined),
        n_predictions=len(predictions),
        n_benchmark_unscored=int(n_truth - len(joined)),
        metrics=results,
    )
