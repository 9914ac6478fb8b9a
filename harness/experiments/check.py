"""Regression check of correlations against a committed baseline.

A baseline (`reports/baselines/<profile>.json`) stores, for every guarded number (a mean over
seeds), its value and a tolerance taken from measured spread: the larger of twice the standard
error over seeds and the runs' bootstrap half-width over architectures divided by sqrt(n seeds);
never below MIN_TOLERANCE.
`check` fails (exit 1) when a number leaves value +/- tolerance, in either direction: a gain that
large also means the baseline no longer describes the code, and `--update` rewrites it on purpose.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

from harness.errors import DataFileError
from harness.io import atomic_write_json, check_writable

MIN_TOLERANCE = 0.02


def tolerance_for(entry: dict, bootstrap_half_width: float | None = None) -> tuple[float, str]:
    """(tolerance, where it came from) for a mean over n seeds.

    The larger of: twice the standard error over seeds (2 std / sqrt(n)), and the runs' mean
    bootstrap half-width over architectures / sqrt(n) (two or three seeds can agree by chance, so
    the seed spread alone can be far too small); never below MIN_TOLERANCE.
    """
    n = max(int(entry.get("n_seeds") or 1), 1)
    candidates = [(MIN_TOLERANCE, "floor")]
    std = entry.get("std")
    if n >= 2 and std is not None and math.isfinite(std):
        candidates.append((2.0 * std / math.sqrt(n), f"2 x standard error over {n} seeds"))
    boot = entry.get("boot_half", bootstrap_half_width)
    if boot is not None and math.isfinite(boot):
        candidates.append((boot / math.sqrt(n), f"bootstrap half-width / sqrt({n} seeds)"))
    return max(candidates)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _read_json(path: Path, missing: str, fix: str):
    """The JSON in `path`; one-line DataFileErrors for a missing, unreadable or malformed file."""
    path = Path(path)
    if path.is_dir():
        raise DataFileError(f"{path}: is a folder, not a JSON file; {fix}")
    if not path.is_file():
        raise DataFileError(f"{path}: {missing}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataFileError(f"{path}: not a UTF-8 JSON file (binary?); {fix}") from None
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read ({exc.strerror or exc.__class__.__name__}); "
                            "check the file and its permissions") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFileError(f"{path}: malformed JSON (line {exc.lineno}, column {exc.colno}: "
                            f"{exc.msg}); {fix}") from None


def validate_summary(summary, path: Path) -> dict:
    """A reproduction's summary: {metric: {"value": number or null, ...}}; one-line errors."""
    fix = "rerun the reproduction (nas-harness reproduce ... --profile P)"
    if not isinstance(summary, dict):
        raise DataFileError(f"{path}: expected a JSON object of metrics, found a "
                            f"{type(summary).__name__}; {fix}")
    for key, entry in summary.items():
        if not isinstance(entry, dict):
            raise DataFileError(f"{path}: metric '{key}' is a {type(entry).__name__}, expected an "
                                f"object with a 'value'; {fix}")
        value = entry.get("value")
        if value is not None and not _number(value):
            raise DataFileError(f"{path}: metric '{key}' has value {value!r}, expected a number or "
                                f"null; {fix}")
    return summary


def read_summary(results_dir: Path) -> dict:
    results_dir = Path(results_dir)
    if results_dir.is_file():
        raise DataFileError(f"{results_dir}: --results is a file; pass the report folder that holds "
                            "summary.json (e.g. reports/smoke)")
    path = results_dir / "summary.json"
    summary = _read_json(path, "no results to check; run `nas-harness reproduce ... --profile P` first",
                         "rerun the reproduction")
    return validate_summary(summary, path)


def make_baseline(profile: str, results_dir: Path) -> dict:
    summary = read_summary(results_dir)
    metrics = {}
    for key, entry in sorted(summary.items()):
        if entry.get("value") is None or not math.isfinite(entry["value"]):
            continue
        tolerance, source = tolerance_for(entry)
        metrics[key] = {"value": round(entry["value"], 6), "tolerance": round(tolerance, 6),
                        "tolerance_source": source, "n_seeds": entry.get("n_seeds"),
                        "higher_is_better": entry.get("higher_is_better", True)}
    if not metrics:
        raise DataFileError(f"{Path(results_dir) / 'summary.json'}: no finite metric to record, so "
                            "the baseline would guard nothing; rerun the reproduction")
    from harness.train.config import provenance

    return {"profile": profile, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **provenance(), "metrics": metrics}


def validate_baseline(baseline, path: Path) -> dict:
    """A baseline: {"profile": str, "metrics": {name: {"value": number, "tolerance": number >= 0}}}."""
    fix = f"recreate it with `nas-harness check --baseline {path} --results reports/<profile> --update`"
    if not isinstance(baseline, dict):
        raise DataFileError(f"{path}: not a baseline (a JSON {type(baseline).__name__}, expected an "
                            f"object with 'metrics'); {fix}")
    if "metrics" not in baseline:
        raise DataFileError(f"{path}: not a baseline (no 'metrics'); recreate it with --update")
    metrics = baseline["metrics"]
    if not isinstance(metrics, dict):
        raise DataFileError(f"{path}: 'metrics' is a {type(metrics).__name__}, expected an object of "
                            f"{{value, tolerance}} entries; {fix}")
    if not metrics:
        raise DataFileError(f"{path}: the baseline has no metrics, so it would pass anything; {fix}")
    for key, entry in metrics.items():
        if not isinstance(entry, dict):
            raise DataFileError(f"{path}: metric '{key}' is a {type(entry).__name__}, expected "
                                f"{{value, tolerance}}; {fix}")
        for field in ("value", "tolerance"):
            value = entry.get(field)
            if not _number(value) or not math.isfinite(value):
                raise DataFileError(f"{path}: metric '{key}' has {field} {value!r}, expected a "
                                    f"finite number; {fix}")
        if entry["tolerance"] < 0:
            raise DataFileError(f"{path}: metric '{key}' has a negative tolerance "
                                f"({entry['tolerance']}); {fix}")
        if not isinstance(entry.get("higher_is_better", True), bool):
            raise DataFileError(f"{path}: metric '{key}' has higher_is_better "
                                f"{entry['higher_is_better']!r}, expected true or false; {fix}")
    profile = baseline.get("profile")
    if profile is not None and (not isinstance(profile, str) or not profile.strip()):
        raise DataFileError(f"{path}: 'profile' is {profile!r}, expected a profile name; {fix}")
    return baseline


def read_baseline(path: Path) -> dict:
    path = Path(path)
    baseline = _read_json(
        path,
        f"baseline not found; create it with `nas-harness check --baseline {path} --update` after a "
        "reproduction",
        "recreate it with --update",
    )
    return validate_baseline(baseline, path)


def compare(baseline: dict, summary: dict) -> list[dict]:
    rows = []
    for key, base in baseline["metrics"].items():
        current = summary.get(key)
        value = None if current is None else current.get("value")
        if value is None or not math.isfinite(value):
            rows.append({"metric": key, "baseline": base["value"], "current": None, "delta": None,
                         "tolerance": base["tolerance"], "status": "missing"})
            continue
        delta = value - base["value"]
        status = "ok"
        if abs(delta) > base["tolerance"]:
            worse = delta < 0 if base.get("higher_is_better", True) else delta > 0
            status = "worse" if worse else "better"
        rows.append({"metric": key, "baseline": base["value"], "current": round(value, 6),
                     "delta": round(delta, 6), "tolerance": base["tolerance"], "status": status})
    return rows


def audit_warnings(summary: dict) -> str:
    """One warning line per density-sampler number whose draws did not test debiasing."""
    lines = [f"warning: {key}: {entry['audit_note']}" for key, entry in sorted(summary.items())
             if entry.get("audit_note")]
    return ("\n" + "\n".join(lines)) if lines else ""


def format_rows(rows: list[dict]) -> str:
    lines = [f"{'metric':<44} {'baseline':>9} {'current':>9} {'delta':>8} {'tol':>7}  status"]
    for r in rows:
        cur = "-" if r["current"] is None else f"{r['current']:.4f}"
        delta = "-" if r["delta"] is None else f"{r['delta']:+.4f}"
        lines.append(f"{r['metric']:<44} {r['baseline']:>9.4f} {cur:>9} {delta:>8} "
                     f"{r['tolerance']:>7.4f}  {r['status']}")
    return "\n".join(lines)


def check(baseline_path: Path, results_dir: Path | None = None, update: bool = False) -> tuple[int, str]:
    """(exit code, report text): 0 all within tolerance, 1 something moved."""
    if update:
        if results_dir is None:
            raise DataFileError("--update needs the results to record: pass --results reports/<profile>")
        check_writable(baseline_path)
        profile = Path(results_dir).name
        baseline = make_baseline(profile, Path(results_dir))
        atomic_write_json(baseline_path, baseline)
        return 0, f"baseline written: {baseline_path} ({len(baseline['metrics'])} metrics)"
    baseline = read_baseline(baseline_path)
    if results_dir is None and not baseline.get("profile"):
        raise DataFileError(f"{baseline_path}: the baseline names no profile; pass --results "
                            "reports/<profile>")
    results_dir = Path(results_dir or Path("reports") / baseline["profile"])
    summary = read_summary(results_dir)
    rows = compare(baseline, summary)
    moved = [r for r in rows if r["status"] != "ok"]
    text = format_rows(rows) + audit_warnings(summary)
    if moved:
        return 1, f"{len(moved)} of {len(rows)} metrics left their tolerance:\n{text}"
    return 0, f"all {len(rows)} metrics within tolerance of {baseline_path}\n{text}"
