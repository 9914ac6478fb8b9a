"""scripts/gpu_check.py: the one-call GPU check's plan fits its 8-minute budget and names every
part the GPU check must cover; without a GPU it refuses to run for real, with one line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.py"


def test_dry_run_writes_the_plan_within_budget(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "--dry-run"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    plan = json.loads((tmp_path / "plan.json").read_text())
    names = [s["name"] for s in plan["steps"]]
    assert names == ["environment", "gpu_tests", "train_step", "loader", "torchrun_2gpu"]
    assert plan["max_seconds"] <= 480
    commands = {s["name"]: " ".join(s.get("cmd", [])) for s in plan["steps"]}
    assert "-m gpu" in commands["gpu_tests"]
    assert all(flag in commands["train_step"] for flag in ("--paper-size", "--amp",
                                                            "--channels-last", "--device cuda"))
    assert "--nproc_per_node 2" in commands["torchrun_2gpu"] and "--data-root" in commands[
        "torchrun_2gpu"]
    said = re.search(r"at most (\d+) s in all \(budget 480 s\)", done.stdout)
    assert said and int(said.group(1)) == plan["max_seconds"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU refusal")
def test_without_a_gpu_it_refuses_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "--dry-run" in done.stderr
