"""Which report folders may be written: the guard on the committed reports (the places
themselves are the results owner's, harness.results).

`reproduce`, `report` and `check` write and read the work folder `runs/reports/<profile>` by
default, which git ignores, so the README's main job leaves the repository clean. The committed
reports (`reports/<profile>`) and baselines (`reports/baselines/`) are written only on purpose:
with an explicit `--out` (or `check --update`), from a commit whose code is clean, so the
provenance a committed report records is a commit anyone can check out.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.errors import HarnessError
from harness.results import TRACKED, WORK


def _tracked_reports_root(path: Path) -> Path | None:
    """The `reports/` folder of the git work tree that `path` would be written into, if any."""
    probe = Path(path).resolve()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.is_file():
        probe = probe.parent
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=probe,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    root = Path(out.stdout.strip()) / TRACKED
    try:
        Path(path).resolve().relative_to(root)
    except ValueError:
        return None
    return root


def guard_tracked_output(path: str | Path, what: str = "report",
                         commit: str | None = None) -> None:
    """Refuse, in one line, to write into the repository's tracked reports from a commit whose
    code differs from HEAD: the report would record a `-dirty` provenance nobody can check out.
    `commit` is the writing code's commit (default: this package's, `git_commit()`)."""
    if _tracked_reports_root(Path(path)) is None:
        return
    if commit is None:
        from harness.train.config import git_commit

        commit = git_commit()
    if commit and commit.endswith("-dirty"):
        raise HarnessError(f"{path}: a committed {what} is written only from a clean commit, and "
                           f"the code differs from {commit[:12]}; commit (or stash) your changes "
                           f"first, or write to another folder (default: {WORK}/<profile>)")
