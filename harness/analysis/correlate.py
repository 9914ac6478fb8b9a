"""Score a predictions file against a ground-truth table: the engine behind `nas-harness correlate`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis.metrics import MAX_RESAMPLES, get_metric, score
from harness.benchmarks.base import GroundTruth
from harness.errors import DataFileError, HarnessError
from harness.spaces import get_space


def _examples(items, n: int = 3) -> str:
    items = list(items)
    shown = ", ".join(repr(str(i)) for i in items[:n])
    return shown + (", ..." if len(items) > n else "")


SCORE_COLUMNS = ("score", "supernet_accuracy")


def read_predictions(
    path: str | Path, space_name: str, key_column: str = "key", score_column: str | None = None,
    key_format: str = "auto", lower_is_better: bool = False,
) -> pd.DataFrame:
    """Predictions as a frame with columns key (canonical form of the space) and score, higher
    better (`lower_is_better` negates a loss or a rank).

    The file is CSV, TSV, semicolon-separated, JSON (`{key: score}` or records) or JSON lines,
    optionally gzipped (harness.tablefile). Keys are read in `key_format`
    (harness.spaces.formats; `auto`: only the forms that cannot be confused). Without
    `score_column`, the first of SCORE_COLUMNS present in the file is used.
    """
    from harness.spaces.formats import key_format as named_format
    from harness.spaces.formats import resolve_keys
    from harness.tablefile import read_table

    path = Path(path)
    named_format(key_format, space_name)  # a wrong format is refused before the file is read
    frame = read_table(path, "predictions file", key_column, score_column or SCORE_COLUMNS[0])
    if score_column is None:
        score_column = next((c for c in SCORE_COLUMNS if c in frame.columns), SCORE_COLUMNS[0])
    missing = [c for c in (key_column, score_column) if c not in frame.columns]
    if missing:
        raise DataFileError(
            f"{path}: missing column(s) {missing} (found {list(frame.columns)[:8]}); expected "
            f"columns '{key_column}' and '{score_column}' (see --key-column/--score-column)")
    space = get_space(space_name)
    archs = resolve_keys(frame[key_column].tolist(), space_name, key_format, str(path))
    keys = [space.key(a) for a in archs]
    scores = pd.to_numeric(frame[score_column], errors="coerce").to_numpy(dtype=float)
    n_bad = int(np.sum(~np.isfinite(scores)))
    if n_bad:
        rows = [keys[i] for i in np.flatnonzero(~np.isfinite(scores))]
        raise DataFileError(
            f"{path}: {n_bad} score(s) in '{score_column}' are NaN, empty or not numbers "
            f"(keys {_examples(rows)}); fix or drop those rows"
        )
    out = pd.DataFrame({"key": keys, "score": -scores if lower_is_better else scores})
    dup = out["key"].duplicated(keep=False)
    if dup.any():
        raise DataFileError(
            f"{path}: {int(out.loc[dup, 'key'].nunique())} architecture(s) appear more than once "
            f"({_examples(out.loc[dup, 'key'].unique())}); keep one row per architecture"
        )
    return out


# Kendall tau below this against the ground truth reads as a score of the wrong sign.
INVERTED_SIGN_TAU = -0.3


def inverted_sign_warning(result: dict, lower_is_better: bool) -> str | None:
    """One line when the ranking looks upside down (a loss or rank read as higher-is-better)."""
    tau = (result.get("metrics", {}).get("kendall_tau") or {}).get("value")
    if tau is None or not np.isfinite(tau) or tau >= INVERTED_SIGN_TAU:
        return None
    if lower_is_better:
        return (f"warning: Kendall tau {tau:.3f} against the ground truth with "
                "--lower-is-better: is the score in fact higher-is-better? drop the flag")
    return (f"warning: Kendall tau {tau:.3f} against the ground truth: is the score a loss or "
            "a rank (lower is better)? pass --lower-is-better")


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
