"""Where results live, and what a scored result holds: the one owner of the runs root, a report
folder and the result schema (`RunDir` owns the inside of one run).

    <runs root>/<profile>/<run name>/   one run (harness.rundir.RunDir); the name ends with the
                                        config hash
    <runs root>/<profile>/.jobs/        the cluster ledger of submitted runs
    <runs root>/<profile>/.submitit/    submitit's job folders

    <report>/runs.json                  every run behind the report (RunResult, plus its label
                                        and archive link)
    <report>/summary.json               the numbers `check` guards
    <report>/environment.json           the runs' environment fingerprint
    <report>/timing.json                wall time of each reproduction
    <report>/runs/<run name>/           the runs' small files, archived (not checkpoints)
    <report>/<table>.csv, .md; <name>_runs.csv; *.png; report.md, report.html

Default places: `runs/reports/<profile>` (ignored by git) for work, `reports/<profile>` and
`reports/baselines/<profile>.json` for what is committed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

from harness.errors import DataFileError, HarnessError
from harness.rundir import RunDir

TRACKED = Path("reports")
WORK = Path("runs") / "reports"


def default_report_dir(profile: str) -> Path:
    """The work folder of a profile's reproduction (ignored by git)."""
    return WORK / profile


def committed_report_dir(profile: str) -> Path:
    return TRACKED / profile


def baseline_path(profile: str) -> Path:
    return TRACKED / "baselines" / f"{profile}.json"


class RunsRoot:
    """The runs cache: one folder per profile, one run folder per config."""

    JOBS = ".jobs"
    SUBMITIT = ".submitit"

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def profile_dir(self, profile: str) -> Path:
        return self.path / profile

    def run_dir(self, profile: str, run_name: str) -> RunDir:
        return RunDir(self.profile_dir(profile) / run_name)

    def jobs_folder(self, profile: str) -> Path:
        return self.profile_dir(profile) / self.JOBS

    def submitit_folder(self, profile: str) -> Path:
        return self.profile_dir(profile) / self.SUBMITIT


@dataclass
class RunResult:
    """One scored run, as `result.json` and a report's runs.json record it (keys in this order).

    `metrics` and the correlation fields come from `harness.analysis.correlate`; `audit` is the
    sampler audit's summary. Keys this schema does not name are kept in `extra`, so a result
    written by a newer or older harness reads and writes back unchanged."""

    label: str
    profile: str
    space: str
    benchmark: str
    sampler: str
    sampler_options: dict
    seed: int
    config_hash: str
    run_dir: str
    train_seconds: float | None
    eval_seconds: float | None
    ground_truth: dict
    networks: str | None = None
    networks_convention: str | None = None
    n: int | None = None
    n_predictions: int | None = None
    n_benchmark_unscored: int | None = None
    metrics: dict = field(default_factory=dict)
    audit: dict | None = None
    extra: dict = field(default_factory=dict)
    # A read record's own key order, kept on writing (a copy keeps it too).
    key_order: tuple[str, ...] = field(default=(), repr=False, compare=False)

    REQUIRED = ("label", "config_hash", "run_dir")
    _NOT_RECORDED = ("extra", "key_order")

    @classmethod
    def from_dict(cls, record: Mapping, where: str = "result") -> RunResult:
        """A result from its record; one line naming what is missing when it is not one."""
        if not isinstance(record, Mapping):
            raise DataFileError(f"{where}: not a run result; rerun the reproduction")
        missing = [k for k in cls.REQUIRED if k not in record]
        if missing:
            raise DataFileError(f"{where}: not a run result (no {', '.join(missing)}); rerun the "
                                "reproduction")
        named = {f.name: f for f in fields(cls) if f.name not in cls._NOT_RECORDED}
        values = {}
        for name, f in named.items():
            if name in record:
                values[name] = record[name]
            elif f.default is not MISSING:
                values[name] = f.default
            elif f.default_factory is not MISSING:
                values[name] = f.default_factory()
            else:
                values[name] = None
        return cls(**values, extra={k: v for k, v in record.items() if k not in named},
                   key_order=tuple(record))

    def to_dict(self) -> dict:
        """The record: a read one in its own key order (so it writes back unchanged), a new one
        in the schema's order, extras last."""
        named = [f.name for f in fields(self) if f.name not in self._NOT_RECORDED]
        if self.key_order:
            keys = [*self.key_order, *(n for n in named if n not in self.key_order
                                       and getattr(self, n) not in (None, {}))]
        else:
            keys = [*named, *self.extra]
        return {k: getattr(self, k) if k in named else self.extra[k] for k in keys}


class ReportDir:
    """A reproduction's folder: the paths of what it holds, and its runs list."""

    RUNS = "runs.json"
    SUMMARY = "summary.json"
    ENVIRONMENT = "environment.json"
    TIMING = "timing.json"
    ARCHIVE = "runs"

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def runs_path(self) -> Path:
        return self.path / self.RUNS

    @property
    def summary_path(self) -> Path:
        return self.path / self.SUMMARY

    @property
    def environment_path(self) -> Path:
        return self.path / self.ENVIRONMENT

    @property
    def timing_path(self) -> Path:
        return self.path / self.TIMING

    def archive_link(self, run_name: str) -> str:
        """A run's archive, relative to the report (what runs.json's `archive` holds)."""
        return str(Path(self.ARCHIVE) / run_name)

    def archived_run(self, run_name: str) -> RunDir:
        return RunDir(self.path / self.archive_link(run_name))

    def search_runs_path(self, name: str) -> Path:
        """The per-run rows of a search table (`name` is the table's, e.g. search)."""
        return self.path / f"{name}_runs.csv"

    def has_runs(self) -> bool:
        return self.runs_path.is_file()

    def read_runs(self, required: bool = False, fix: str = "rerun the reproduction",
                  missing: str = "no runs list") -> list[dict]:
        """runs.json as a list of result records; [] when absent unless `required` (then one
        line: `missing`, then what to run). {"runs": [...]} is read too."""
        path = self.runs_path
        if not path.is_file():
            if required:
                raise DataFileError(f"{path}: {missing}; {fix}")
            return []
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DataFileError(f"{path}: unreadable runs list ({err.__class__.__name__}); "
                                f"{fix}") from None
        if isinstance(data, Mapping):
            data = data.get("runs", [])
        if not isinstance(data, list) or not all(isinstance(r, Mapping) for r in data):
            raise DataFileError(f"{path}: expected a list of run results; {fix}")
        return [dict(r) for r in data]

    def profile(self) -> str | None:
        """The profile its runs recorded, when they agree on one (else None)."""
        try:
            runs = self.read_runs()
        except HarnessError:
            return None
        profiles = {r.get("profile") for r in runs} - {None}
        return profiles.pop() if len(profiles) == 1 else None
