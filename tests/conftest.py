"""Shared fixtures. Published ground truth comes from HARNESS_DATA_DIR (../shared/benchmarks_data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def published_data_dir() -> Path:
    return Path(os.environ.get("HARNESS_DATA_DIR") or REPO_ROOT.parent / "shared" / "benchmarks_data")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = published_data_dir()
    if not (path / "pooling").is_dir():
        message = (
            f"published ground truth not found at {path}: set HARNESS_DATA_DIR or run "
            "`nas-harness gt fetch pooling` / `gt fetch nb-macro`"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path_factory, request):
    # Tests never write to the user's cache.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
