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
from harness.io import atomic_write_json

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


def read_summary(results_dir: Path) -> dict:
    path = Path(results_dir) / "summary.json"
    if not path.is_file():
        raise DataFileError(f"{path}: no results to check; run `nas-harness reproduce ... --profile P` first")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        raise DataFileError(f"{path}: malformed JSON; rerun the reproduction") from None


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
    from harness.train.config import provenance

    return {"profile": profile, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **provenance(), "metrics": metrics}


def read_baseline(path: Path) -> dict:
    if not Path(path).is_file():
        raise DataFileError(f"{path}: baseline not found; create it with `nas-harness check --baseline "
                            f"{path} --update` after a reproduction")
    try:
        baseline = json.loads(Path(path).read_text())
    except json.JSONDecodeError:
        raise DataFileError(f"{path}: malformed baseline JSON; recreate it with --update") from None
    if "metrics" not in baseline:
        raise DataFileError(f"{path}: not a baseline (no 'metrics'); recreate it with --update")
    return baseline


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
        profile = Path(results_dir).name
        baseline = make_baseline(profile, Path(results_dir))
        atomic_write_json(baseline_path, baseline)
        return 0, f"baseline written: {baseline_path} ({len(baseline['metrics'])} metrics)"
    baseline = read_baseline(baseline_path)
    results_dir = Path(results_dir or Path("reports") / baseline["profile"])
    summary = read_summary(results_dir)
    rows = compare(baseline, summary)
    moved = [r for r in rows if r["status"] != "ok"]
    text = format_rows(rows) + audit_warnings(summary)
    if moved:
        return 1, f"{len(moved)} of {len(rows)} metrics left their tolerance:\n{text}"
    return 0, f"all {len(rows)} metrics within tolerance of {baseline_path}\n{text}"
