"""Exits a click runner cannot show: a full disk (`ulimit -f`), SIGTERM, and the order in which a
device is refused (before any data is touched). Real processes, `python -m harness`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from harness.rundir import RunDir

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def harness(*args: object) -> str:
    return " ".join([sys.executable, "-m", "harness", *(str(a) for a in args)])


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=cwd,
                          env=ENV)


@pytest.fixture
def predictions(tmp_path) -> Path:
    frame = pd.read_csv(REPO / "benchmarks_data" / "pooling-fmnist" / "pooling-fmnist.csv",
                        dtype={"key": str})
    path = tmp_path / "scores.csv"
    scores = np.random.default_rng(0).normal(size=len(frame))
    pd.DataFrame({"key": frame["key"], "score": scores}).to_csv(path, index=False)
    return path


def test_a_full_disk_on_standard_output_is_an_error_not_a_truncated_success(tmp_path, data_dir,
                                                                            predictions):
    out = tmp_path / "out.json"
    proc = shell(f"ulimit -f 1; {harness('correlate', predictions, '-b', 'pooling-fmnist', '--bootstrap', 0, '--json', '--data-dir', data_dir)} > {out}",
                 tmp_path)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: cannot write the output"), lines
    assert "File too large" in lines[0]


def test_a_full_disk_on_an_output_file_leaves_no_partial_file(tmp_path, data_dir):
    out = tmp_path / "export" / "nb-macro.csv"
    proc = shell(f"ulimit -f 1; {harness('gt', 'export', 'nb-macro', '--out', out, '--data-dir', Path(data_dir).resolve())}",
                 tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("error: cannot write"), proc.stderr
    assert not out.exists()
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_sigterm_is_one_line_and_exit_143(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "train", "--space", "pooling", "--profile", "smoke",
         "--warmup-epochs", "0", "--quiet", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=ENV)
    deadline = time.monotonic() + 120
    while not RunDir(out).config_path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)  # training has started
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert proc.returncode == 143, stderr
    assert lines[-1].startswith("terminated (SIGTERM)") and "Traceback" not in stderr
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_an_absent_device_is_refused_before_any_data_is_read(tmp_path):
    # The data root is an empty folder and downloads are off: a data error would come first if
    # the device were checked after loading.
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = shell(harness("train", "--space", "pooling", "--profile", "paper", "--data-root",
                         empty, "--out", tmp_path / "run"), tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: device 'cuda' requested but CUDA is not available; "
                                   "pass --device cpu")
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_an_absent_gpu_is_refused_before_torch_is_even_imported(tmp_path):
    """The refusal costs a Python start-up, not a torch import (the issue measured about 30 s
    for --profile paper before)."""
    for argv in (("train", "--space", "pooling", "--profile", "paper", "--out", tmp_path / "a"),
                 ("reproduce", "table3", "--profile", "paper", "--out", tmp_path / "b",
                  "--runs-dir", tmp_path / "runs"),
                 ("train", "--space", "pooling", "--device", "cuda:1", "--out", tmp_path / "c")):
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "harness",
                               *map(str, argv)], capture_output=True, text=True, cwd=tmp_path,
                              env=ENV)
        assert proc.returncode == 2
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert errors == ["error: device '" + ("cuda:1" if "cuda:1" in argv else "cuda")
                          + "' requested but CUDA is not available; pass --device cpu"]
        imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines()
                    if line.startswith("import time:")}
        assert "torch" not in imported and "pandas" not in imported
        assert not any((tmp_path / name).exists() for name in ("a", "b", "c", "runs"))
