"""Ranking metrics between supernet scores and ground-truth accuracies, with bootstrap intervals.

Conventions: ``x`` holds the supernet scores (higher = predicted better) and ``y`` the ground-truth
accuracies (higher = better), both 1-D float arrays of the same length N, one entry per architecture
in the same order.

Fixed metrics (registered in :data:`METRICS`): ``kendall_tau`` (tau-b, tie-corrected), ``spearman``,
``pearson`` and ``weighted_tau``, all computed by scipy.stats.

Top-K families (registered in :data:`TOPK_FAMILIES`): ``kd_at_top``, ``p_at_top``, ``br_at`` and
``wr_at``. A family is made into a metric by a K that is either

* a fraction of N, a float in (0, 1], named with a ``pct`` suffix: ``p_at_top_10pct`` is K = 0.10;
  it resolves to ``k_used = max(1, ceil(K * N))``, rounding *up* so that 10% of 36 architectures
  is 4 (not 3), and never fewer than one architecture;
* a count, an int >= 1, named with a bare number: ``p_at_top_5`` is K = 5 architectures; a count
  larger than N is clamped to ``k_used = min(K, N)``; results record ``k_used``.

Tie rules (deterministic, independent of platform):

* Predicted top-K: architectures sorted by x descending with a *stable* sort, so architectures with
  equal scores keep their input order (the one with the lower index comes first). The predicted
  top-K is the first ``k_used`` of that order; a tie at the K boundary is therefore broken by index.
* True top-K (for P@top-K): the set of architectures whose y is >= the K-th largest y. Every
  architecture tied with the K-th one counts as "in the true top-K", so that set can hold more than
  K architectures and a tie never penalises the prediction.
* True rank (for BR@K / WR@K): ``scipy.stats.rankdata(-y, method='min')``: rank 1 is the highest
  accuracy and tied architectures all get the best (lowest) rank of their group.

Undefined values are nan, never an exception or a warning: a constant x or y (whole array, top-K
subset, or bootstrap resample) makes correlations undefined, and KD@top-K needs ``k_used >= 2``.
:func:`score` rejects constant, non-finite or mismatched inputs up front with a HarnessError, and
gives each result whose value or interval is undefined a ``note`` saying why (JSON writes the nan
as null, so the reason travels beside it).

Bootstrap intervals (:func:`bootstrap_ci`) are a paired percentile bootstrap over architectures,
written with numpy rather than ``scipy.stats.bootstrap``: resamples whose statistic is nan (a
resampled top-K that is all one architecture, a constant resample) are dropped with
``np.nanpercentile``, where scipy's percentile method would return a nan interval, and the index
stream is under our control, so that :func:`score` gives every metric the *same* resamples.
"""

from __future__ import annotations

import functools
import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import stats

from harness.errors import HarnessError, UnknownNameError, did_you_mean
from harness.registry import Registry

__all__ = [
    "DEFAULT_METRICS",
    "DEFAULT_TOPK_FRACTIONS",
    "MAX_RESAMPLES",
    "METRICS",
    "TOPK_FAMILIES",
    "Metric",
    "MetricResult",
    "TopKFamily",
    "bootstrap_ci",
    "get_metric",
    "list_metrics",
    "resolve_k",
    "score",
    "top_k_metric",
    "undefined_reason",
    "validate_scores",
]

KKind = Literal["fraction", "count"]
MetricFn = Callable[[np.ndarray, np.ndarray], float]


# --------------------------------------------------------------------------------------------------
# Metric objects and registries
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """One ranking metric: ``fn(x, y) -> float``; ``k``/``k_kind`` are set for top-K metrics only."""

    name: str
    higher_is_better: bool
    definition: str
    fn: MetricFn = field(repr=False, compare=False)
    k: int | float | None = None
    k_kind: KKind | None = None
    family: str = ""

    def __call__(self, x: np.ndarray, y: np.ndarray) -> float:
        return self.fn(np.asarray(x, dtype=float), np.asarray(y, dtype=float))

    def k_used(self, n: int) -> int | None:
        """The number of architectures this metric's K means for N = n (None for fixed metrics)."""
        if self.k is None or self.k_kind is None:
            return None
        return resolve_k(self.k, self.k_kind, n)


@dataclass(frozen=True)
class TopKFamily:
    """A top-K metric family: ``compute(x, y, k_used) -> float``; ``definition`` has a {k} slot."""

    name: str
    higher_is_better: bool
    definition: str
    compute: Callable[[np.ndarray, np.ndarray, int], float] = field(repr=False, compare=False)


METRICS: Registry[Metric] = Registry("metric")
TOPK_FAMILIES: Registry[TopKFamily] = Registry("top-K metric family")

DEFAULT_TOPK_FRACTIONS: tuple[float, ...] = (0.05, 0.10, 0.20)


def _quiet(fn: MetricFn) -> MetricFn:
    """Wrap fn so that undefined correlations come back as nan without scipy/numpy warnings."""

    @functools.wraps(fn)
    def wrapper(x: np.ndarray, y: np.ndarray) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", stats.ConstantInputWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            with np.errstate(invalid="ignore", divide="ignore"):
                return float(fn(x, y))

    return wrapper


def _register_fixed(
    name: str, higher_is_better: bool, definition: str
) -> Callable[[MetricFn], MetricFn]:
    """Register fn (made quiet) as the fixed metric name, its own family."""

    def decorator(fn: MetricFn) -> MetricFn:
        METRICS.add(name, Metric(name, higher_is_better, definition, _quiet(fn), family=name))
        return fn

    return decorator


# --------------------------------------------------------------------------------------------------
# Fixed metrics
# --------------------------------------------------------------------------------------------------


def _kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    return stats.kendalltau(x, y, variant="b").statistic


@_register_fixed(
    "kendall_tau",
    True,
    "Kendall rank correlation tau-b between scores and accuracies (scipy.stats.kendalltau, "
    "tie-corrected).",
)
def _kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    return _kendall_tau_b(x, y)


@_register_fixed(
    "spearman",
    True,
    "Spearman rank correlation rho between scores and accuracies (scipy.stats.spearmanr, "
    "average ranks for ties).",
)
def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    return stats.spearmanr(x, y).statistic


@_register_fixed(
    "pearson",
    True,
    "Pearson linear correlation between scores and accuracies (scipy.stats.pearsonr).",
)
def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    return stats.pearsonr(x, y).statistic


@_register_fixed(
    "weighted_tau",
    True,
    "Weighted Kendall tau (scipy.stats.weightedtau, hyperbolic weigher 1/(r+1), rank=True) that "
    "weights disagreements near the top of both rankings (by scores and by accuracies, averaged) "
    "more than those near the bottom.",
)
def _weighted_tau(x: np.ndarray, y: np.ndarray) -> float:
    return stats.weightedtau(x, y, rank=True).statistic


# --------------------------------------------------------------------------------------------------
# Top-K families
# --------------------------------------------------------------------------------------------------


def resolve_k(k: int | float, k_kind: KKind, n: int) -> int:
    """Number of architectures K means among n: ceil(k*n) (at least 1) for a fraction, min(k, n) for a count."""
    if n < 1:
        raise ValueError(f"cannot take a top-K of {n} architectures")
    if k_kind == "fraction":
        # round() first so that float noise (0.1 * 30 = 3.0000000000000004) does not add one.
        return max(1, min(n, math.ceil(round(k * n, 9))))
    if k_kind == "count":
        return min(int(k), n)
    raise ValueError(f"k_kind must be 'fraction' or 'count', not {k_kind!r}")


def _predicted_top(x: np.ndarray, k_used: int) -> np.ndarray:
    """Indices of the k_used best scores: x descending, ties kept in input (index) order."""
    return np.argsort(-x, kind="stable")[:k_used]


def _true_ranks(y: np.ndarray) -> np.ndarray:
    """Rank 1 = highest accuracy; ties share the best (lowest) rank of their group."""
    return stats.rankdata(-y, method="min")


def _kd_at_top(x: np.ndarray, y: np.ndarray, k_used: int) -> float:
    if k_used < 2:
        return math.nan
    top = _predicted_top(x, k_used)
    return _kendall_tau_b(x[top], y[top])


def _true_top(y: np.ndarray, k_used: int) -> np.ndarray:
    """Indices of the k_used most accurate architectures: y descending, ties in input order."""
    return np.argsort(-y, kind="stable")[:k_used]


def _kt_at_gt_top(x: np.ndarray, y: np.ndarray, k_used: int) -> float:
    if k_used < 2:
        return math.nan
    top = _true_top(y, k_used)
    return _kendall_tau_b(x[top], y[top])


def _p_at_top(x: np.ndarray, y: np.ndarray, k_used: int) -> float:
    n = len(y)
    top = _predicted_top(x, k_used)
    kth_largest = np.partition(y, n - k_used)[n - k_used]
    return float(np.count_nonzero(y[top] >= kth_largest)) / k_used


def _br_at(x: np.ndarray, y: np.ndarray, k_used: int) -> float:
    top = _predicted_top(x, k_used)
    return float(_true_ranks(y)[top].min()) / len(y)


def _wr_at(x: np.ndarray, y: np.ndarray, k_used: int) -> float:
    top = _predicted_top(x, k_used)
    return float(_true_ranks(y)[top].max()) / len(y)


_PREDICTED_TOP = "the {k} architectures ranked best by score (ties in score broken by input order)"

TOPK_FAMILIES.add(
    "kd_at_top",
    TopKFamily(
        "kd_at_top",
        True,
        "Kendall tau-b between scores and accuracies among " + _PREDICTED_TOP + "; nan when fewer "
        "than 2 architectures.",
        _kd_at_top,
    ),
)
TOPK_FAMILIES.add(
    "kt_at_gt_top",
    TopKFamily(
        "kt_at_gt_top",
        True,
        "Kendall tau-b between scores and accuracies among the {k} architectures with the best "
        "ground-truth accuracy (ties in accuracy broken by input order): does the supernet order "
        "the truly best networks correctly (the paper's Figure 1)? nan when fewer than 2.",
        _kt_at_gt_top,
    ),
)
TOPK_FAMILIES.add(
    "p_at_top",
    TopKFamily(
        "p_at_top",
        True,
        "Fraction of " + _PREDICTED_TOP + " whose accuracy is at least the K-th largest accuracy "
        "(all ties at the boundary count as in the true top-K).",
        _p_at_top,
    ),
)
TOPK_FAMILIES.add(
    "br_at",
    TopKFamily(
        "br_at",
        False,
        "Best true accuracy rank (1 = highest, ties take the best rank) among "
        + _PREDICTED_TOP
        + ", divided by N.",
        _br_at,
    ),
)
TOPK_FAMILIES.add(
    "wr_at",
    TopKFamily(
        "wr_at",
        False,
        "Worst true accuracy rank (1 = highest, ties take the best rank) among "
        + _PREDICTED_TOP
        + ", divided by N.",
        _wr_at,
    ),
)


def _k_suffix(k: int | float, k_kind: KKind) -> str:
    if k_kind == "count":
        return str(int(k))
    return f"{round(float(k) * 100, 6):g}pct"


def _k_words(k: int | float, k_kind: KKind) -> str:
    if k_kind == "count":
        return f"K = {int(k)} (count, clamped to N)"
    return f"K = {round(float(k) * 100, 6):g}% of N (ceil, at least 1)"


def _check_k(k: int | float) -> tuple[int | float, KKind]:
    if isinstance(k, bool):
        raise HarnessError(f"top-K must be an int count or a float fraction, not {k!r}")
    if isinstance(k, (int, np.integer)):
        if k < 1:
            raise HarnessError(
                f"top-K count must be >= 1, got {k}: pass a count of architectures or a fraction in (0, 1]"
            )
        return int(k), "count"
    if isinstance(k, (float, np.floating)):
        if not (0.0 < float(k) <= 1.0):
            raise HarnessError(
                f"top-K fraction must be in (0, 1], got {k}: pass an int for a count of architectures "
                "(e.g. 5) or a float fraction of N (e.g. 0.1 for 10%)"
            )
        return float(k), "fraction"
    raise HarnessError(
        f"top-K must be an int count or a float fraction, not {type(k).__name__} {k!r}"
    )


@functools.lru_cache(maxsize=256)
def _top_k_metric_cached(family: str, k: int | float, k_kind: KKind) -> Metric:
    fam = TOPK_FAMILIES.get(family)
    compute = fam.compute

    def fn(x: np.ndarray, y: np.ndarray) -> float:
        return compute(x, y, resolve_k(k, k_kind, len(x)))

    definition = fam.definition.replace("{k}", _k_words(k, k_kind))
    return Metric(
        name=f"{family}_{_k_suffix(k, k_kind)}",
        higher_is_better=fam.higher_is_better,
        definition=definition,
        fn=_quiet(fn),
        k=k,
        k_kind=k_kind,
        family=family,
    )


def top_k_metric(family: str, k: int | float) -> Metric:
    """The metric of a top-K family for K: an int is a count, a float in (0, 1] a fraction of N."""
    k_checked, k_kind = _check_k(k)
    return _top_k_metric_cached(family, k_checked, k_kind)


_TOPK_NAME = re.compile(r"^(?P<family>[a-z_]+?)_(?P<num>\d+(?:\.\d+)?)(?P<pct>pct)?$")

DEFAULT_METRICS: tuple[str, ...] = (
    "kendall_tau",
    "spearman",
    "pearson",
    "weighted_tau",
) + tuple(
    f"{family}_{_k_suffix(frac, 'fraction')}"
    for family in ("kd_at_top", "kt_at_gt_top", "p_at_top", "br_at", "wr_at")
    for frac in DEFAULT_TOPK_FRACTIONS
)


def get_metric(name: str) -> Metric:
    """The metric called name: a fixed one (kendall_tau, ...) or <family>_<count> / <family>_<percent>pct."""
    if name in METRICS:
        return METRICS.get(name)
    m = _TOPK_NAME.match(name)
    if m and m.group("family") in TOPK_FAMILIES:
        family, num = m.group("family"), m.group("num")
        if m.group("pct"):
            pct = float(num)
            if not (0.0 < pct <= 100.0):
                raise HarnessError(
                    f"metric '{name}': a top-K percentage must be in (0, 100], got {num}; "
                    f"e.g. {family}_10pct"
                )
            return top_k_metric(family, pct / 100.0)
        if "." in num:
            raise HarnessError(
                f"metric '{name}': a top-K count must be a whole number; for a fraction of N add "
                f"'pct' (e.g. {family}_{num}pct)"
            )
        if int(num) < 1:
            raise HarnessError(f"metric '{name}': a top-K count must be >= 1; e.g. {family}_5")
        return top_k_metric(family, int(num))
    known = list(DEFAULT_METRICS) + [f"{f}_5" for f in TOPK_FAMILIES]
    raise UnknownNameError(
        f"unknown metric '{name}'{did_you_mean(name, known)}; known: {', '.join(METRICS.names())}, "
        f"or a top-K family ({', '.join(TOPK_FAMILIES.names())}) followed by _<count> or "
        "_<percent>pct, e.g. p_at_top_10pct, br_at_5"
    )


def list_metrics() -> list[Metric]:
    """The fixed metrics, then every top-K family at 5%, 10% and 20% of N (the default set)."""
    return [get_metric(name) for name in DEFAULT_METRICS]


# --------------------------------------------------------------------------------------------------
# Results, validation, bootstrap, score()
# --------------------------------------------------------------------------------------------------


@dataclass
class MetricResult:
    """A metric's value on N architectures, with its bootstrap interval (None when not computed).

    ``note`` says why the value or the interval is undefined (nan); it is None otherwise and then
    left out of :meth:`to_dict`.
    """

    name: str
    value: float
    ci_low: float | None
    ci_high: float | None
    higher_is_better: bool
    k: int | float | None
    k_used: int | None
    k_kind: KKind | None
    n: int
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["note"] is None:
            del d["note"]
        return d


_STATISTIC_NAMES = {
    "kendall_tau": "Kendall tau",
    "kd_at_top": "Kendall tau",
    "kt_at_gt_top": "Kendall tau",
    "spearman": "Spearman rho",
    "pearson": "Pearson r",
    "weighted_tau": "weighted tau",
}


def undefined_reason(metric: Metric, x: np.ndarray, y: np.ndarray) -> str:
    """Why ``metric(x, y)`` is nan, in words (e.g. 'constant scores: Kendall tau undefined')."""
    what = _STATISTIC_NAMES.get(metric.family, metric.name)
    n = len(x)
    k_used = metric.k_used(n) if n else None
    if metric.family in ("kd_at_top", "kt_at_gt_top") and k_used is not None and k_used < 2:
        return f"top K = {k_used} architecture: {what} needs at least 2, so it is undefined"
    xs, ys, where = x, y, ""
    if k_used is not None and metric.family == "kt_at_gt_top":
        top = _true_top(y, k_used)
        xs, ys, where = x[top], y[top], f" among the top {k_used} by ground truth"
    elif k_used is not None:
        top = _predicted_top(x, k_used)
        xs, ys, where = x[top], y[top], f" among the top {k_used} by score"
    if len(xs) and np.all(xs == xs[0]):
        return f"constant scores{where}: {what} undefined"
    if len(ys) and np.all(ys == ys[0]):
        return f"constant accuracies{where}: {what} undefined"
    return f"{what} undefined on these values"


CI_UNDEFINED = ("bootstrap interval undefined: the metric is undefined in every resample "
                "(e.g. constant values among a resampled top K)")


def _describe_bad(name: str, a: np.ndarray) -> str | None:
    n_nan = int(np.count_nonzero(np.isnan(a)))
    n_inf = int(np.count_nonzero(np.isinf(a)))
    if not (n_nan or n_inf):
        return None
    parts = []
    if n_nan:
        parts.append(f"{n_nan} NaN value{'s' if n_nan != 1 else ''}")
    if n_inf:
        parts.append(f"{n_inf} infinite value{'s' if n_inf != 1 else ''}")
    first = int(np.flatnonzero(~np.isfinite(a))[0])
    return (
        f"{name} contain {' and '.join(parts)} (first at index {first}): drop or re-evaluate those "
        "architectures before ranking"
    )


def validate_scores(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """x and y as 1-D float arrays; HarnessError if they cannot be ranked against each other."""
    try:
        xa = np.asarray(x, dtype=float)
        ya = np.asarray(y, dtype=float)
    except (TypeError, ValueError) as e:
        raise HarnessError(
            f"scores and accuracies must be numbers ({e}): pass numeric arrays"
        ) from None
    if xa.ndim != 1 or ya.ndim != 1:
        raise HarnessError(
            f"scores and accuracies must be 1-D arrays, got shapes {xa.shape} and {ya.shape}: pass "
            "one value per architecture (select a single column)"
        )
    if len(xa) != len(ya):
        raise HarnessError(
            f"scores and accuracies have different lengths ({len(xa)} vs {len(ya)}): pass one score "
            "per ground-truth architecture, in the same order"
        )
    if len(xa) < 3:
        raise HarnessError(
            f"need at least 3 architectures to compare rankings, got {len(xa)}: evaluate more "
            "architectures"
        )
    for label, a in (("scores", xa), ("accuracies", ya)):
        bad = _describe_bad(label, a)
        if bad:
            raise HarnessError(bad)
    if np.all(xa == xa[0]):
        raise HarnessError(
            f"all scores are equal (constant, {xa[0]:g}): the supernet gives no ranking; check that "
            "the supernet was trained and that the scores were read from the right column"
        )
    if np.all(ya == ya[0]):
        raise HarnessError(
            f"all ground-truth accuracies are equal (constant, {ya[0]:g}): nothing to rank against; "
            "check the ground-truth file and the accuracy column or split"
        )
    return xa, ya


MAX_RESAMPLES = 100_000  # a bound on time and memory (one float per resample and metric)


def _check_bootstrap_args(n_resamples: int, confidence: float) -> None:
    if (
        isinstance(n_resamples, bool)
        or not isinstance(n_resamples, (int, np.integer))
        or n_resamples < 2
        or n_resamples > MAX_RESAMPLES
    ):
        raise HarnessError(
            f"n_resamples must be an int between 2 and {MAX_RESAMPLES}, got {n_resamples!r}"
        )
    if not (0.0 < float(confidence) < 1.0):
        raise HarnessError(f"confidence must be in (0, 1), e.g. 0.95, got {confidence!r}")


def _bootstrap_from_rng(
    metric: Metric,
    x: np.ndarray,
    y: np.ndarray,
    n_resamples: int,
    confidence: float,
    rng: np.random.Generator,
    on_resample: Callable[[], None] | None = None,
) -> tuple[float, float]:
    n = len(x)
    values = np.empty(n_resamples)
    fn = metric.fn
    for i in range(n_resamples):
        idx = rng.integers(0, n, size=n)
        values[i] = fn(x[idx], y[idx])
        if on_resample is not None:
            on_resample()
    if not np.any(np.isfinite(values)):
        return math.nan, math.nan
    alpha = (1.0 - confidence) / 2.0
    low, high = np.nanpercentile(values, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return float(low), float(high)


def bootstrap_ci(
    metric: Metric | str,
    x: Any,
    y: Any,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    rng: np.random.Generator | None = None,
) -> tuple[float, float]:
    """Paired percentile bootstrap interval of metric(x, y), resampling architectures.

    Each resample draws N architecture indices with replacement (x and y together) and evaluates
    the metric on them (a fraction K is resolved against the resample's N, which equals N).
    Resamples whose value is nan are dropped; if all are nan the interval is (nan, nan).
    ``rng`` defaults to ``np.random.default_rng(0)``, so a call without it is reproducible.
    Inputs are not validated here beyond shape: use :func:`score` for user data.
    """
    m = get_metric(metric) if isinstance(metric, str) else metric
    _check_bootstrap_args(n_resamples, confidence)
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    if xa.shape != ya.shape or xa.ndim != 1 or len(xa) < 1:
        raise HarnessError(
            f"x and y must be 1-D arrays of equal length, got {xa.shape} and {ya.shape}"
        )
    if rng is None:
        rng = np.random.default_rng(0)
    return _bootstrap_from_rng(m, xa, ya, int(n_resamples), float(confidence), rng)


def score(
    x: Any,
    y: Any,
    metrics: Sequence[str] | None = None,
    ci: bool = True,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, MetricResult]:
    """Every requested metric of scores x against accuracies y, by name, with bootstrap intervals.

    metrics defaults to :data:`DEFAULT_METRICS`. With ``ci``, every metric is bootstrapped on the
    same resamples: the index stream of ``np.random.default_rng(seed)``, restarted for each metric.
    So a metric's interval does not depend on which other metrics were asked for, and equals
    ``bootstrap_ci(metric, x, y, n_resamples, confidence, rng=np.random.default_rng(seed))``.
    A metric whose point value is nan gets a (nan, nan) interval without resampling, and a note.
    ``progress(done, total)``, when given, is called after every resample evaluation (total =
    resamples x metrics bootstrapped) and once more with done == total at the end.
    """
    xa, ya = validate_scores(x, y)
    chosen = [get_metric(name) for name in (DEFAULT_METRICS if metrics is None else metrics)]
    if ci:
        _check_bootstrap_args(n_resamples, confidence)
    n = len(xa)
    values = {m.name: m.fn(xa, ya) for m in chosen}
    total = int(n_resamples) * sum(not math.isnan(v) for v in values.values()) if ci else 0
    done = 0

    def on_resample() -> None:
        nonlocal done
        done += 1
        progress(done, total)

    results: dict[str, MetricResult] = {}
    for m in chosen:
        value = values[m.name]
        low: float | None = None
        high: float | None = None
        note: str | None = None
        if math.isnan(value):
            note = undefined_reason(m, xa, ya)
        if ci:
            if math.isnan(value):
                low = high = math.nan
            else:
                low, high = _bootstrap_from_rng(
                    m, xa, ya, int(n_resamples), float(confidence), np.random.default_rng(seed),
                    on_resample if progress is not None else None,
                )
                if math.isnan(low) or math.isnan(high):
                    note = CI_UNDEFINED
        results[m.name] = MetricResult(
            name=m.name,
            value=value,
            ci_low=low,
            ci_high=high,
            higher_is_better=m.higher_is_better,
            k=m.k,
            k_used=m.k_used(n),
            k_kind=m.k_kind,
            n=n,
            note=note,
        )
    if progress is not None and total:
        progress(total, total)
    return results
