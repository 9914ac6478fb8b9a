"""`reproduce --executor local`: missing runs become submitit jobs (one per run), finished, locked
and queued runs are never submitted twice, --no-wait returns and a later reproduce collects, and a
job interrupted by a timeout signal requeues and resumes its run from the run's checkpoint."""

from __future__ import annotations

import json
import os
import signal
import time

import pandas as pd
import pytest

pytest.importorskip("submitit")

from harness.errors import HarnessError  # noqa: E402
from harness.experiments.executors import ClusterOptions, Ledger, RunJob, run_state, submit_runs  # noqa: E402
from harness.experiments.reproduce import reproduce  # noqa: E402
from harness.experiments.runs import run_dir_for  # noqa: E402
from harness.experiments.spec import run  # noqa: E402
from harness.rundir import RunDir  # noqa: E402

pytestmark = pytest.mark.slow


def tiny(seed: int, sampler: str = "uniform", epochs: int = 2):
    """A smoke pooling run cut to a few steps (the executor, not the training, is under test)."""
    return run("smoke", "pooling", sampler, seed, f"pooling/{sampler}", epochs=epochs,
               warmup_epochs=1, steps_per_epoch=3, num_threads=1)


def test_options_are_checked():
    with pytest.raises(HarnessError, match="needs --slurm-partition"):
        ClusterOptions("slurm")
    with pytest.raises(HarnessError, match="unknown executor"):
        ClusterOptions("kubernetes")
    with pytest.raises(HarnessError, match="--timeout-min must be at least 1"):
        ClusterOptions("local", timeout_min=0)


def test_local_jobs_train_each_missing_run_once(tmp_path, data_dir):
    specs = [tiny(0), tiny(1)]
    # One job at a time: the local executor starts what it is given at once, so --array-
    # parallelism chunks the runs.
    options = ClusterOptions("local", timeout_min=10, poll_seconds=1, array_parallelism=1)
    lines = []
    out = submit_runs(specs, tmp_path, data_dir, options, log=lines.append)
    assert sorted(out["submitted"]) == sorted(s.run_name for s in specs) and not out["failed"]
    assert sum(line.startswith("submitted 1 run(s)") for line in lines) == 2
    ledger, folder = Ledger(tmp_path, "smoke"), tmp_path / "smoke" / ".submitit"
    for spec in specs:
        assert run_state(spec, tmp_path, ledger, folder) == "done"
        assert ledger.entry(spec)["executor"] == "local"
    # Everything finished: a second submission submits nothing.
    again = submit_runs(specs, tmp_path, data_dir, options, log=lines.append)
    assert again["submitted"] == []


def test_no_wait_returns_and_a_later_reproduce_collects(tmp_path, data_dir):
    import dataclasses

    import harness.experiments.spec as spec_module

    tiny_table3 = dataclasses.replace(spec_module.EXPERIMENTS.get("table3"),
                                      runs=lambda profile: [tiny(0), tiny(0, "debiased")])
    with spec_module.EXPERIMENTS.swapped("table3", tiny_table3):
        _no_wait_then_collect(tmp_path, data_dir)


def _no_wait_then_collect(tmp_path, data_dir):
    options = ClusterOptions("local", timeout_min=10, wait=False, poll_seconds=1)
    report = tmp_path / "report"
    first = reproduce(["table3"], "smoke", tmp_path / "runs", report, data_dir, progress=False,
                      log=lambda m: None, cluster=options)
    assert len(first["pending"]) == 2 and first["tables"] == []
    assert not (report / "table3.csv").exists()
    # While the jobs run, the same command submits nothing again.
    lines = []
    second = reproduce(["table3"], "smoke", tmp_path / "runs", report, data_dir, progress=False,
                       log=lines.append, cluster=options)
    if second.get("pending"):
        assert any("not submitted again" in line for line in lines)
        assert not any(line.startswith("submitted") for line in lines)
    # Waiting collects them and builds the table.
    final = reproduce(["table3"], "smoke", tmp_path / "runs", report, data_dir, progress=False,
                      log=lambda m: None,
                      cluster=ClusterOptions("local", timeout_min=10, poll_seconds=1))
    assert "table3" in final["tables"]
    table = pd.read_csv(report / "table3.csv")
    assert set(table["arm"]) == {"uniform", "debiased"}


def test_an_interrupted_job_requeues_and_resumes_its_run(tmp_path, data_dir):
    import submitit

    spec = tiny(3, epochs=4)
    executor = submitit.AutoExecutor(folder=tmp_path / "jobs" / "%j", cluster="local")
    executor.update_parameters(timeout_min=10)
    job = executor.submit(RunJob(spec, str(tmp_path), str(data_dir)))
    rd = RunDir(run_dir_for(spec, tmp_path))
    deadline = time.time() + 300
    while not rd.has_checkpoint() and time.time() < deadline:
        time.sleep(0.5)
    assert rd.has_checkpoint(), "the job never reached its first checkpoint"
    # What submitit sends the job's process before a timeout or on preemption (the holder of the
    # run's lock is the job's own process).
    os.kill(rd.holder_pid(), signal.SIGUSR2)
    assert job.result() == spec.config.hash()
    log = "".join(p.read_text() for p in (tmp_path / "jobs").rglob("*_log.*"))
    assert "Requeued job" in log
    epochs = [json.loads(line)["epoch"] for line in rd.log_path.read_text().splitlines()]
    assert epochs == [0, 1, 2, 3]  # resumed: no epoch repeated or lost
    # The same run trained inline, uninterrupted, predicts the same.
    inline = tmp_path / "inline"
    from harness.experiments.runs import execute

    execute(spec, inline, data_dir, progress=False, log=lambda m: None)
    a = pd.read_csv(rd.predictions_path)
    b = pd.read_csv(RunDir(run_dir_for(spec, inline)).predictions_path)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("state, active", [("PENDING", True), ("RUNNING", True),
                                           ("REQUEUED", True), ("PREEMPTED", True),
                                           ("UNKNOWN", True), ("COMPLETED", False),
                                           ("CANCELLED by 1234", False), ("TIMEOUT", False),
                                           ("NODE_FAIL", False)])
def test_slurm_job_states_in_the_ledger(tmp_path, monkeypatch, state, active):
    import submitit

    class FakeSlurmJob:
        def __init__(self, folder, job_id):
            self.state = state

    monkeypatch.setattr(submitit, "SlurmJob", FakeSlurmJob)
    spec = tiny(0)
    ledger = Ledger(tmp_path, "smoke")
    assert not ledger.job_active(spec, tmp_path)  # nothing submitted yet
    ledger.record(spec, "4242_0", "slurm")
    assert ledger.job_active(spec, tmp_path) is active
