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
