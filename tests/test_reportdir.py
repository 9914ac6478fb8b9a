"""Where reports go: the work folder by default; the tracked reports only from a clean commit."""

from __future__ import annotations

import subprocess

import pytest

from harness.errors import HarnessError
from harness.experiments.reportdir import guard_tracked_output
from harness.results import WORK, default_report_dir


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "project"
    (root / "reports" / "cpu").mkdir(parents=True)
    (root / "reports" / "cpu" / "table3.md").write_text("old\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "-c", "user.email=a@b", "-c", "user.name=n", "commit", "-qm", "x")
    return root


def test_default_output_is_the_ignored_work_folder():
    assert default_report_dir("smoke") == WORK / "smoke"
    ignored = (WORK.parts[0] + "/") in open(
        __import__("pathlib").Path(__file__).resolve().parents[1] / ".gitignore").read()
    assert ignored


def test_tracked_reports_are_refused_from_a_dirty_commit(repo):
    with pytest.raises(HarnessError, match="only from a clean commit"):
        guard_tracked_output(repo / "reports" / "cpu", commit="abc123-dirty")
    with pytest.raises(HarnessError, match="only from a clean commit"):
        guard_tracked_output(repo / "reports" / "new" / "deeper", commit="abc123-dirty")
    guard_tracked_output(repo / "reports" / "cpu", commit="abc123")  # clean: allowed


def test_other_folders_are_never_refused(repo, tmp_path):
    guard_tracked_output(repo / "runs" / "reports" / "cpu", commit="abc123-dirty")
    guard_tracked_output(tmp_path / "elsewhere" / "reports", commit="abc123-dirty")


def test_run_results_round_trip_every_committed_record_exactly():
    """RunResult is the schema a run's result and a report's runs list are written from: every
    committed record reads and writes back unchanged (keys in their order), a new one writes in
    the schema's order, and a record that is not a run result is refused in one line."""
    import dataclasses
    from pathlib import Path

    import pytest

    from harness.errors import DataFileError
    from harness.results import ReportDir, RunResult

    reports = Path(__file__).resolve().parents[1] / "reports"
    records = [r for folder in ("smoke", "cpu") for r in ReportDir(reports / folder).read_runs()]
    assert len(records) > 60
    for record in records:
        again = RunResult.from_dict(record).to_dict()
        assert again == record and list(again) == list(record)
    copy = dataclasses.replace(RunResult.from_dict(records[0]), seed=7).to_dict()
    assert list(copy) == list(records[0]) and copy["seed"] == 7
    fresh = RunResult("pooling/uniform", "smoke", "pooling", "pooling-fmnist", "uniform", {}, 0,
                      "0123456789ab", "runs/x", 1.0, 2.0, {}).to_dict()
    assert list(fresh)[:3] == ["label", "profile", "space"] and list(fresh)[-1] == "audit"
    with pytest.raises(DataFileError, match="no config_hash"):
        RunResult.from_dict({"label": "a", "run_dir": "x"})
