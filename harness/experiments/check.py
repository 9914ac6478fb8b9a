"""Regression check of correlations against a committed baseline, that knows noise from change.

A baseline (`reports/baselines/<profile>.json`, format 2) stores, for every guarded number, its
per-seed values and the environment fingerprint of the runs behind them (harness.environment).

- Same fingerprint as the results: runs are deterministic there, so every per-seed value must be
  equal (to 1e-9); anything that moved is listed, with by how much, as a change (exit 1).
- Another fingerprint (or none recorded): only the distribution over seeds reproduces. Each
  metric's rerun seeds are tested against the baseline's seeds for a drop (one-sided pooled t,
  harness.analysis.regression), the family-wise error over all metrics held at 5% by Holm, and
  the check fails (exit 1) only on a drop beyond the noise. Each metric's line says the smallest
  drop it could detect with 80% power; a gain never fails.
`--update` rewrites the baseline on purpose.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

from harness.analysis.formatting import fixed
from harness.errors import DataFileError
from harness.io import atomic_write_json, check_writable
from harness.results import ReportDir

FORMAT = 2
EXACT_TOLERANCE = 1e-9


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
    path = ReportDir(results_dir).summary_path
    summary = _read_json(path, "no results to check; run `nas-harness reproduce ... --profile P` first",
                         "rerun the reproduction")
    return validate_summary(summary, path)


def read_environment(results_dir: Path) -> dict:
    """The results' environment record ({"fingerprint", "id", ...}); empty when none."""
    path = ReportDir(results_dir).environment_path
    if not path.is_file():
        return {}
    record = _read_json(path, "", "rerun the reproduction")
    return record if isinstance(record, dict) else {}


def _finite_list(values) -> bool:
    return isinstance(values, list) and bool(values) and all(
        _number(v) and math.isfinite(v) for v in values)


def make_baseline(results_dir: Path) -> dict:
    """A format-2 baseline from a reproduction folder: its finite per-seed numbers, the profile
    its runs recorded, and their environment."""
    summary = read_summary(results_dir)
    metrics = {}
    for key, entry in sorted(summary.items()):
        values = entry.get("per_seed")
        if not _finite_list(values):
            continue
        metrics[key] = {"value": float(sum(values) / len(values)), "per_seed": values,
                        "seeds": entry.get("seeds"), "n_seeds": len(values),
                        "higher_is_better": entry.get("higher_is_better", True)}
    if not metrics:
        raise DataFileError(f"{ReportDir(results_dir).summary_path}: no metric with finite "
                            "per-seed values to record, so the baseline would guard nothing; "
                            "rerun the reproduction with this version")
    from harness.train.config import provenance

    profile = _profile_of(results_dir)
    environment = read_environment(results_dir)
    return {"format": FORMAT, "profile": profile,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **provenance(), "environment": {"fingerprint": environment.get("fingerprint"),
                                            "id": environment.get("id")},
            "metrics": metrics}


def validate_baseline(baseline, path: Path) -> dict:
    """A format-2 baseline: {"profile", "environment", "metrics": {name: {"per_seed": [finite
    numbers], "higher_is_better": bool, ...}}}; one-line errors otherwise."""
    fix = f"recreate it with `nas-harness check --baseline {path} --results DIR --update`"
    if not isinstance(baseline, dict):
        raise DataFileError(f"{path}: not a baseline (a JSON {type(baseline).__name__}, expected an "
                            f"object with 'metrics'); {fix}")
    if "metrics" not in baseline:
        raise DataFileError(f"{path}: not a baseline (no 'metrics'); {fix}")
    if baseline.get("format") != FORMAT:
        raise DataFileError(f"{path}: a baseline of format {baseline.get('format', 1)!r} (value "
                            "and hand-set tolerance per metric); this version compares per-seed "
                            f"values (format {FORMAT}); {fix}")
    metrics = baseline["metrics"]
    if not isinstance(metrics, dict):
        raise DataFileError(f"{path}: 'metrics' is a {type(metrics).__name__}, expected an object "
                            f"of per-seed entries; {fix}")
    if not metrics:
        raise DataFileError(f"{path}: the baseline has no metrics, so it would pass anything; {fix}")
    for key, entry in metrics.items():
        if not isinstance(entry, dict):
            raise DataFileError(f"{path}: metric '{key}' is a {type(entry).__name__}, expected "
                                f"an object with 'per_seed'; {fix}")
        if not _finite_list(entry.get("per_seed")):
            raise DataFileError(f"{path}: metric '{key}' has per_seed {entry.get('per_seed')!r}, "
                                f"expected a non-empty list of finite numbers; {fix}")
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
        f"baseline not found; create it with `nas-harness check --baseline {path} --results DIR "
        "--update` after a reproduction",
        "recreate it with --update",
    )
    return validate_baseline(baseline, path)


def _selected(metrics: dict, only: tuple[str, ...]) -> dict:
    return {k: v for k, v in metrics.items() if not only or any(k.startswith(p) for p in only)}


def compare_exact(baseline: dict, summary: dict, only: tuple[str, ...] = ()) -> list[dict]:
    """Per metric: 'same', or 'changed' with the largest per-seed move, or 'missing'."""
    rows = []
    for key, base in _selected(baseline["metrics"], only).items():
        current = (summary.get(key) or {}).get("per_seed")
        row = {"metric": key, "baseline": base["value"], "n_base": len(base["per_seed"])}
        if not _finite_list(current):
            rows.append({**row, "current": None, "status": "missing", "moved": None})
            continue
        row.update({"current": float(sum(current) / len(current)), "n_new": len(current)})
        if len(current) != len(base["per_seed"]) or (
                base.get("seeds") and summary[key].get("seeds")
                and list(base["seeds"]) != list(summary[key]["seeds"])):
            rows.append({**row, "status": "changed", "moved": None,
                         "note": f"seeds {base.get('seeds')} -> {summary[key].get('seeds')}"})
            continue
        moved = max(abs(a - b) for a, b in zip(base["per_seed"], current))
        rows.append({**row, "moved": moved,
                     "status": "same" if moved <= EXACT_TOLERANCE else "changed"})
    return rows


def compare_statistical(baseline: dict, summary: dict, only: tuple[str, ...] = (),
                        alpha: float = 0.05) -> list[dict]:
    """Per metric: the one-sided drop test against the baseline's seeds, Holm over the family,
    and the smallest drop each test detects with 80% power at Holm's strictest level."""
    from harness.analysis.power import sd_interval
    from harness.analysis.regression import detectable_drop, drop_test, holm

    rows, tested = [], []
    selected = _selected(baseline["metrics"], only)
    for key, base in selected.items():
        current = (summary.get(key) or {}).get("per_seed")
        row = {"metric": key, "baseline": base["value"], "n_base": len(base["per_seed"])}
        if not _finite_list(current):
            rows.append({**row, "current": None, "status": "missing"})
            continue
        test = drop_test(base["per_seed"], current, base.get("higher_is_better", True))
        rows.append({**row, "current": float(sum(current) / len(current)),
                     "n_new": len(current), **test})
        tested.append(len(rows) - 1)
    rejected, adjusted = holm([rows[i]["p_value"] for i in tested], alpha)
    k = max(len(tested), 1)
    for j, i in enumerate(tested):
        r = rows[i]
        r["p_holm"] = adjusted[j]
        r["detectable_drop"] = detectable_drop(r["sd"], r["n_base"], r["n_new"], alpha / k)
        # The SD behind it is itself an estimate (df = n_base + n_new - 2): its chi-squared
        # interval gives the range of the detectable drop.
        low_sd, high_sd = sd_interval(r["sd"], r["df"]) if r["df"] >= 1 else (math.nan,) * 2
        r["detectable_drop_low"] = detectable_drop(low_sd, r["n_base"], r["n_new"], alpha / k)
        r["detectable_drop_high"] = detectable_drop(high_sd, r["n_base"], r["n_new"], alpha / k)
        if r["p_value"] is None:
            r["status"] = "untestable"
        else:
            r["status"] = "worse" if rejected[j] else "ok"
    return rows


def audit_warnings(summary: dict) -> str:
    """One warning line per density-sampler number whose draws did not test debiasing."""
    lines = [f"warning: {key}: {entry['audit_note']}" for key, entry in sorted(summary.items())
             if entry.get("audit_note")]
    return ("\n" + "\n".join(lines)) if lines else ""


def _f(value, digits: int = 4, sign: bool = False) -> str:
    return fixed(value, digits, sign=sign)  # a check's numbers carry 4 decimals


def format_exact(rows: list[dict]) -> str:
    lines = [f"{'metric':<44} {'baseline':>9} {'current':>9} {'moved':>9}  status"]
    for r in rows:
        lines.append(f"{r['metric']:<44} {r['baseline']:>9.4f} {_f(r.get('current')):>9} "
                     f"{_f(r.get('moved'), 6):>9}  {r['status']}"
                     + (f" ({r['note']})" if r.get("note") else ""))
    return "\n".join(lines)


def format_statistical(rows: list[dict]) -> str:
    lines = [f"{'metric':<44} {'baseline':>9} {'current':>9} {'drop':>8} {'seeds':>5} "
             f"{'p':>7} {'p Holm':>7} {'detects [range]':>21}  status"]
    for r in rows:
        seeds = f"{r['n_base']}/{r.get('n_new', '-')}"
        detects = (f"{_f(r.get('detectable_drop'), 3)} [{_f(r.get('detectable_drop_low'), 2)}, "
                   f"{_f(r.get('detectable_drop_high'), 2)}]")
        lines.append(f"{r['metric']:<44} {r['baseline']:>9.4f} {_f(r.get('current')):>9} "
                     f"{_f(r.get('drop'), 4, True):>8} {seeds:>5} {_f(r.get('p_value'), 3):>7} "
                     f"{_f(r.get('p_holm'), 3):>7} {detects:>21}  {r['status']}")
    return "\n".join(lines)


def choose_mode(baseline: dict, results_dir: Path, mode: str = "auto") -> tuple[str, str]:
    """('exact' | 'statistical', why)."""
    from harness.environment import differences

    ours = read_environment(results_dir)
    base_env = baseline.get("environment") or {}
    if mode != "auto":
        return mode, f"--mode {mode}"
    if base_env.get("id") and base_env.get("id") == ours.get("id"):
        return "exact", f"same environment fingerprint {base_env['id']}: runs are deterministic"
    if not ours.get("id"):
        why = "the results' runs record no single environment fingerprint"
    elif not base_env.get("id"):
        why = "the baseline records no environment fingerprint"
    else:
        diff = differences(base_env.get("fingerprint"), ours.get("fingerprint"))
        why = f"another environment ({'; '.join(diff[:3]) or 'fingerprints differ'})"
    return "statistical", why + ": only the distribution over seeds reproduces"


def check(baseline_path: Path, results_dir: Path | None = None, update: bool = False,
          mode: str = "auto", only: tuple[str, ...] = ()) -> tuple[int, str]:
    """(exit code, report text): 0 no regression (or no change), 1 a regression or a change."""
    from harness.experiments.reportdir import guard_tracked_output
    from harness.results import default_report_dir

    if update:
        if results_dir is None:
            raise DataFileError("--update needs the results to record: pass --results DIR")
        check_writable(baseline_path)
        guard_tracked_output(baseline_path, "baseline")
        baseline = make_baseline(Path(results_dir))
        atomic_write_json(baseline_path, baseline)
        return 0, f"baseline written: {baseline_path} ({len(baseline['metrics'])} metrics)"
    baseline = read_baseline(baseline_path)
    if results_dir is None and not baseline.get("profile"):
        raise DataFileError(f"{baseline_path}: the baseline names no profile; pass --results DIR")
    results_dir = Path(results_dir or default_report_dir(baseline["profile"]))
    summary = read_summary(results_dir)
    results_profile = _profile_of(results_dir, required=False)
    if results_profile and baseline.get("profile") and results_profile != baseline["profile"]:
        raise DataFileError(f"{results_dir}: results of the {results_profile} profile, but "
                            f"{baseline_path} is a {baseline['profile']} baseline; compare like "
                            "with like (--baseline reports/baselines/<profile>.json)")
    if only and not _selected(baseline["metrics"], only):
        raise DataFileError(f"--only {' '.join(only)}: no metric of {baseline_path} starts with "
                            f"that; its metrics: {', '.join(sorted(baseline['metrics'])[:3])}, ...")
    chosen, why = choose_mode(baseline, results_dir, mode)
    head = f"mode: {chosen} ({why})"
    if chosen == "exact":
        rows = compare_exact(baseline, summary, only)
        changed = [r for r in rows if r["status"] != "same"]
        text = format_exact(rows) + audit_warnings(summary)
        if changed:
            return 1, (f"{head}\n{len(changed)} of {len(rows)} metrics changed (same "
                       f"environment, so not noise):\n{text}")
        return 0, f"{head}\nall {len(rows)} metrics identical to {baseline_path}\n{text}"
    rows = compare_statistical(baseline, summary, only)
    worse = [r for r in rows if r["status"] in ("worse", "missing")]
    text = format_statistical(rows) + audit_warnings(summary)
    note = ("drop: baseline minus current in the better direction; p: one-sided pooled t test "
            "for a drop; p Holm: adjusted over the family (5% family-wise); detects: the drop "
            "found with 80% power at Holm's strictest level, [range] from the SD's 95% "
            "chi-squared interval")
    if worse:
        return 1, (f"{head}\n{len(worse)} of {len(rows)} metrics dropped beyond the noise (or "
                   f"are missing):\n{text}\n{note}")
    return 0, f"{head}\nno metric of {len(rows)} dropped beyond the noise\n{text}\n{note}"


def _profile_of(results_dir: Path, required: bool = True) -> str | None:
    """The profile of a reproduction: its runs' recorded profile (runs.json), never a guess."""
    profile = ReportDir(results_dir).profile()
    if profile is None and required:
        raise DataFileError(f"{ReportDir(results_dir).runs_path}: its runs name no single "
                            "profile, so the baseline could not say which it guards; pass the "
                            "folder one `nas-harness reproduce --profile P` wrote")
    return profile


def operating_characteristics(baseline: dict, reps: int = 2000, new_seeds: int | None = None,
                              drops: dict[str, tuple[float, str]] | None = None,
                              only: tuple[str, ...] = (), seed: int = 0) -> dict:
    """The statistical check's false-alarm rate and power, by simulation from the baseline's
    per-seed values: every metric's baseline and rerun drawn from a normal with its measured mean
    and SD (independently across metrics, the case Holm is built for), the rerun lowered by a
    drop (named regressions in `drops`: (drop, metric prefix it hits, '' = every metric)) or
    not at all."""
    import numpy as np

    from harness.analysis.regression import detectable_drop, simulate_check

    metrics = _selected(baseline["metrics"], only)
    keys = sorted(k for k, v in metrics.items() if len(v["per_seed"]) >= 2)
    means = [float(np.mean(metrics[k]["per_seed"])) for k in keys]
    sds = [float(np.std(metrics[k]["per_seed"], ddof=1)) for k in keys]
    n_base = [len(metrics[k]["per_seed"]) for k in keys]
    n_new = [new_seeds or n for n in n_base]
    k = len(keys)
    out = {"metrics": k, "reps": reps, "new_seeds": new_seeds,
           "false_alarm": simulate_check(means, sds, n_base, n_new, None, reps, seed),
           "power": {},
           "detectable_drop": {key: detectable_drop(sd, n, m, 0.05 / max(k, 1))
                               for key, sd, n, m in zip(keys, sds, n_base, n_new)}}
    for name, (drop, prefix) in (drops or {}).items():
        hit = [drop if key.startswith(prefix) else 0.0 for key in keys]
        out["power"][name] = {"drop": drop, "metrics": prefix or "every metric",
                              "n_hit": sum(1 for h in hit if h), "power": simulate_check(
                                  means, sds, n_base, n_new, hit, reps, seed + 1)}
    return out
