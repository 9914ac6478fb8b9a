"""`reproduce`: run what the requested tables and figures need (cached), then write them."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

from harness.errors import HarnessError
from harness.experiments import tables
from harness.experiments.reportdir import guard_tracked_output
from harness.experiments.runs import execute
from harness.experiments.spec import (
    RunSpec,
    experiment_names,
    get_experiment,
    runs_for,
    user_arm_runs,
)
from harness.io import atomic_write_bytes, atomic_write_json
from harness.results import ReportDir, default_report_dir
from harness.rundir import RunDir, RunDirLocked


def archive_run(result: dict, report_dir: Path) -> dict:
    """Copy a run's small files (not checkpoints) next to the report, so every number in a committed
    report links to the config, log, snapshots, audit, predictions and scores behind it."""
    import shutil

    source = RunDir(result["run_dir"])
    report = ReportDir(report_dir)
    link = report.archive_link(source.path.name)
    target = report.archived_run(source.path.name).path
    if target.resolve() == source.path.resolve():  # rebuilt in place from its own archive
        return {**result, "archive": link}
    target.mkdir(parents=True, exist_ok=True)
    for name in RunDir.SMALL_FILES:
        if (source.path / name).is_file():
            shutil.copy2(source.path / name, target / name)
    # Snapshots, gzip-compressed (RunDir reads both forms); deterministic bytes (mtime 0).
    for snapshot in source.snapshot_files():
        packed = snapshot.read_bytes() if snapshot.suffix == ".gz" else gzip.compress(
            snapshot.read_bytes(), mtime=0)
        name = snapshot.name if snapshot.suffix == ".gz" else snapshot.name + ".gz"
        atomic_write_bytes(target / RunDir.SNAPSHOTS / name, packed)
    return {**result, "archive": link}


def archived_results(archive: Path, specs: list[RunSpec], log=None) -> dict[str, dict]:
    """{config hash: result} of the specs' runs found in a report's archive (its runs.json and
    runs/ folder): the tables are rebuilt from what the runs recorded, with the current code,
    without their checkpoints. The audit summary is read again from each run's audit.json. A
    run the archive lacks (e.g. a pilot made before an arm was added) is left out.

    A run is found by its config hash, else by its label and seed: a report made under an
    earlier design (a pilot, before the profile changed how it scores) is rebuilt from the runs
    it recorded, and the rebuild says how many it matched that way."""
    from harness.samplers.audit import summarize

    report = ReportDir(archive)
    if not report.has_runs():
        raise HarnessError(f"{archive}: no {ReportDir.RUNS}, so not a report with archived runs; "
                           "pass the folder a reproduction wrote (e.g. reports/cpu)")
    entries, by_label = {}, {}
    for entry in report.read_runs():
        entries.setdefault(entry["config_hash"], entry)
        by_label.setdefault((entry.get("label"), entry.get("seed")), entry)
    out, earlier = {}, 0
    for spec in specs:
        entry = entries.get(spec.config.hash())
        if entry is None:
            entry = by_label.get((spec.label, spec.config.seed))
            earlier += entry is not None
        if entry is None:
            continue
        run_dir = Path(archive) / entry["archive"]
        audit = RunDir(run_dir).read_audit()
        out[spec.config.hash()] = {**entry, "run_dir": str(run_dir),
                                   "archive_root": str(archive),
                                   "recorded_run_dir": entry["run_dir"],
                                   "audit": summarize(audit) if audit else entry.get("audit")}
    if not out:
        raise HarnessError(f"{archive}: none of the requested tables' runs is archived there; "
                           "train them (reproduce without --from-archive)")
    if earlier and log is not None:
        log(f"{earlier} archived run(s) in {archive} were trained under an earlier design (found "
            "by label and seed, not by config hash); the tables are rebuilt from what they "
            "recorded")
    return out


def execute_all(specs: list[RunSpec], runs_root: Path, data_dir, progress: bool, log,
                poll_seconds: float = 10.0) -> dict[str, dict]:
    """Execute every distinct run once ({config hash: result}), saying "run i of N" for each.

    A run that another process holds (a `reproduce` side by side) is skipped and come back to
    after the others; when only such runs are left, wait for them."""
    unique: dict[str, RunSpec] = {}
    for spec in specs:
        unique.setdefault(spec.config.hash(), spec)
    # Uniform runs first: the paired density runs of the same seed fork from their warm-up.
    queue = sorted(unique.values(), key=lambda s: s.config.sampler != "uniform")
    total = len(queue)
    results: dict[str, dict] = {}
    while queue:
        waiting = []
        for spec in queue:
            index = len(results) + 1
            try:
                results[spec.config.hash()] = execute(
                    spec, runs_root, data_dir, progress,
                    lambda message, i=index: log(f"run {i} of {total}: {message}"))
            except RunDirLocked as exc:
                log(f"run {spec.label} seed {spec.config.seed}: locked by pid {exc.pid}; coming "
                    "back to it later")
                waiting.append(spec)
        if waiting and len(waiting) == len(queue):
            time.sleep(poll_seconds)
        queue = waiting
    return results


def reproduce(targets: list[str], profile: str, runs_root: Path, report_dir: Path | None = None,
              data_dir=None, progress: bool = True, log=print, threads: int | None = None,
              device: str | None = None, data_root: str | None = None,
              seeds: tuple[int, ...] | None = None, cluster=None,
              from_archive: Path | None = None, labels: tuple[str, ...] | None = None,
              arms: list[tuple[str, str, dict]] | None = None) -> dict:
    """Run what `targets` need under `profile` (cached), then build their tables and figures.
    `seeds` keeps only the design's runs with those seeds (a pilot). `cluster`
    (harness.experiments.executors.ClusterOptions) submits the missing runs as jobs first.
    `from_archive` (a report folder with archived runs) rebuilds the tables from the runs
    recorded there instead of training or evaluating anything."""
    names = experiment_names() if "all" in targets else targets
    for name in names:
        get_experiment(name)
    report_dir = Path(report_dir or default_report_dir(profile))
    guard_tracked_output(report_dir)
    started = time.perf_counter()
    plans = {}
    for name in names:
        specs = runs_for(name, profile)
        if arms and get_experiment(name).takes_arms:  # user arms, paired by seed with uniform
            specs = specs + user_arm_runs(profile, arms)
        if seeds is not None:
            specs = [s for s in specs if s.config.seed in seeds]
        if labels is not None:
            specs = [s for s in specs if s.label in labels]
        if threads or device or data_root:  # none enters the config hash: the cache is shared
            specs = [RunSpec(s.label, s.config.replace(num_threads=threads or s.config.num_threads,
                                                       device=device or s.config.device,
                                                       data_root=data_root or s.config.data_root))
                     for s in specs]
        plans[name] = specs
    _limit_threads(threads, plans)
    if (seeds is not None or labels is not None) and not any(plans.values()):
        parts = []
        if seeds is not None:
            parts.append(f"seed {', '.join(map(str, seeds))}")
        if labels is not None:
            parts.append(f"label {', '.join(labels)}")
        wanted = " and ".join(parts)
        raise HarnessError(f"no run of {' '.join(names)} under the {profile} profile has "
                           f"{wanted}; `nas-harness ls experiments` lists the designs")
    if cluster is not None and cluster.executor != "inline":
        from harness.experiments.executors import submit_runs

        outcome = submit_runs([s for specs in plans.values() for s in specs], runs_root, data_dir,
                              cluster, log)
        if outcome["pending"]:  # --no-wait: the tables wait for a later reproduce
            return {"report_dir": str(report_dir), "wall_seconds": time.perf_counter() - started,
                    "tables": [], "pending": outcome["pending"]}
    report_dir.mkdir(parents=True, exist_ok=True)
    every = [s for specs in plans.values() for s in specs]
    if from_archive is not None:
        executed = archived_results(Path(from_archive), every, log)
        missing = {s.config.hash() for s in every} - set(executed)
        if missing:
            log(f"{len(missing)} of the design's {len({s.config.hash() for s in every})} runs are "
                f"not archived in {from_archive}; the tables cover the rest")
        plans = {name: [s for s in specs if s.config.hash() in executed]
                 for name, specs in plans.items()}
    else:
        executed = execute_all(every, runs_root, data_dir, progress, log)
    all_results: dict[str, dict] = {}
    built: dict = {}
    for name in names:
        experiment = get_experiment(name)
        specs = plans[name]
        results = []
        for spec in specs:
            # The same config can serve several tables: the label is the table's.
            result = archive_run({**executed[spec.config.hash()], "label": spec.label}, report_dir)
            results.append(result)
            # One entry per (run, label): a run that serves two tables is listed under both.
            all_results[_entry_key(result)] = result
        if not results and specs == []:
            log(f"{name}: no runs under the {profile} profile; skipped")
            continue
        table = experiment.build(results, profile, report_dir, data_dir)
        if table is not None:
            built[name] = table
        log(f"{name}: {experiment.title} -> {report_dir}")
    elapsed = time.perf_counter() - started
    report = ReportDir(report_dir)
    _merge_json(report.runs_path, all_results)
    _merge_json(report.summary_path, tables.summary_metrics(built))
    atomic_write_json(report.environment_path, environment_of(list(all_results.values())))
    if from_archive is None:  # a rebuild measures nothing about the runs
        _merge_json(report.timing_path,
                    {" ".join(names): {"wall_seconds": round(elapsed, 1)}})
    return {"report_dir": str(report_dir), "wall_seconds": elapsed, "tables": list(built)}


# Keys a rebuild from an archive adds to its results, never written into runs.json.
REBUILD_KEYS = ("archive_root", "recorded_run_dir")


def environment_of(results: list[dict]) -> dict:
    """The environment fingerprint the runs behind a report were trained in: one fingerprint
    when they share it, else null with a count per fingerprint ("unknown": recorded before
    fingerprints were)."""
    from harness.environment import fingerprint_id

    counts: dict[str, int] = {}
    records: dict[str, dict] = {}
    for result in results:
        run_dir = result.get("run_dir")
        record = RunDir(run_dir).read_config().get("environment") \
            if run_dir and RunDir(run_dir).has_config() else None
        key = fingerprint_id(record) or "unknown"
        counts[key] = counts.get(key, 0) + 1
        if record:
            records[key] = record
    common = next(iter(counts)) if len(counts) == 1 and "unknown" not in counts else None
    return {"fingerprint": records.get(common) if common else None, "id": common,
            "runs_per_fingerprint": counts}


def write_results_folder(out_dir: Path, summary: dict, runs: list[dict]) -> None:
    """A folder that `check` reads as a reproduction: summary.json, runs.json and the runs'
    environment fingerprint (noise --as-reproduction and rescore write one)."""
    report = ReportDir(out_dir)
    report.path.mkdir(parents=True, exist_ok=True)
    atomic_write_json(report.summary_path, summary)
    atomic_write_json(report.runs_path, runs)
    atomic_write_json(report.environment_path, environment_of(runs))


def _limit_threads(threads: int | None, plans: dict) -> None:
    """This process's torch threads: `--threads`, else the runs' own when they agree (the cpu
    profile's 1). Evaluation and search of cached runs happen here, outside `train_run`, and
    must not oversubscribe cores that other runs share."""
    import torch

    wanted = {s.config.num_threads for specs in plans.values() for s in specs} - {None}
    if threads or len(wanted) == 1:
        torch.set_num_threads(threads or wanted.pop())


def _entry_key(result: dict) -> str:
    return f"{result['config_hash']} {result['label']}"


def _merge_json(path: Path, new: dict) -> None:
    old = {}
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError:
            old = {}
    if isinstance(old, list):  # runs.json is written as a list for readers
        old = {_entry_key(r): r for r in old}
    merged = {**old, **new}
    if path.name == ReportDir.RUNS:
        from harness.analysis.scoring import portable_path

        # A committed report names run directories relative to the working directory, never by
        # a machine's absolute path.
        # Keep only runs archived beside this report: an entry left from an older
        # reproduction (another config, its archive gone) would link nowhere.
        rows = [{**{k: v for k, v in r.items() if k not in REBUILD_KEYS},
                 "run_dir": r.get("recorded_run_dir") or portable_path(r["run_dir"])}
                for r in merged.values()
                if r.get("archive") and (path.parent / r["archive"]).is_dir()]
        atomic_write_json(path, sorted(rows, key=lambda r: (r["label"], r["seed"])))
    else:
        atomic_write_json(path, merged)
