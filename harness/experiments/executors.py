"""Where `reproduce` trains its runs: in this process (inline), or as a submitit job array on this
machine (local) or on a SLURM cluster (slurm).

Each missing run becomes one job of an array. A job is `RunJob`, a submitit Checkpointable: on a
timeout or preemption submitit calls its `checkpoint`, requeues it, and the requeued job resumes
the run from the run's own last epoch checkpoint (the runner's resume, which equals an
uninterrupted run). A ledger under `<runs>/<profile>/.jobs/` records each submitted run's job, so
a run that is finished, locked by a live process, or queued in a live job is never submitted twice;
a later `reproduce` waits for such jobs and collects their results.

Tested with submitit's local executor only; the SLURM path is submitit's own.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.experiments.runs import execute, run_dir_for
from harness.experiments.spec import RunSpec
from harness.io import atomic_write_json
from harness.results import RunsRoot
from harness.rundir import RunDir

EXECUTORS = ("inline", "local", "slurm")
SLURM_ENDED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL",
               "BOOT_FAIL", "DEADLINE")
MAX_TIMEOUTS = 20  # requeues after a timeout before submitit gives a job up


@dataclass(frozen=True)
class ClusterOptions:
    """How runs are submitted: the executor and its SLURM parameters."""

    executor: str = "inline"
    slurm_partition: str | None = None
    gpus_per_run: int = 0
    cpus_per_run: int = 1
    timeout_min: int = 24 * 60
    array_parallelism: int = 16
    wait: bool = True
    poll_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise HarnessError(f"unknown executor '{self.executor}'; use one of "
                               f"{', '.join(EXECUTORS)}")
        if self.executor == "slurm" and not self.slurm_partition:
            raise HarnessError("--executor slurm needs --slurm-partition (the queue to run in)")
        for name in ("timeout_min", "array_parallelism", "cpus_per_run"):
            if getattr(self, name) < 1:
                raise HarnessError(f"--{name.replace('_', '-')} must be at least 1")
        if self.gpus_per_run < 0:
            raise HarnessError("--gpus-per-run must be 0 or more")


def _submitit():
    try:
        import submitit
    except ImportError:
        raise HarnessError("--executor local/slurm needs submitit: pip install "
                           "'nas-harness[cluster]'") from None
    return submitit



class RunJob:
    """One run as a job: train (resuming from the run's checkpoint), evaluate, score. Picklable;
    submitit calls `checkpoint` on timeout or preemption and requeues the job."""

    def __init__(self, spec: RunSpec, runs_root: str, data_dir: str | None):
        self.spec, self.runs_root, self.data_dir = spec, runs_root, data_dir

    def __call__(self) -> str:
        result = execute(self.spec, Path(self.runs_root), self.data_dir, progress=False,
                         log=lambda message: print(message, flush=True))
        return result["config_hash"]

    def checkpoint(self, *args, **kwargs):
        # The run directory holds the state (epoch checkpoints): requeue the same job, which
        # resumes from the last one.
        return _submitit().helpers.DelayedSubmission(RunJob(self.spec, self.runs_root,
                                                            self.data_dir))


class Ledger:
    """{run name: submitted job} for one profile's runs cache."""

    def __init__(self, runs_root: Path, profile: str):
        self.folder = RunsRoot(runs_root).jobs_folder(profile)

    def path(self, spec: RunSpec) -> Path:
        return self.folder / f"{spec.run_name}.json"

    def record(self, spec: RunSpec, job_id: str, executor: str) -> None:
        atomic_write_json(self.path(spec), {"job_id": job_id, "executor": executor,
                                            "submitted": time.time()})

    def entry(self, spec: RunSpec) -> dict | None:
        try:
            return json.loads(self.path(spec).read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def job_active(self, spec: RunSpec, folder: Path) -> bool:
        """Whether the job last submitted for `spec` may still run it."""
        entry = self.entry(spec)
        if entry is None:
            return False
        job_id = str(entry["job_id"])
        if entry["executor"] == "local":  # submitit's local job id is the controller's pid
            pid = int(job_id.split("_")[0])
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return _pid_running(pid)
        job = _submitit().SlurmJob(folder=folder, job_id=job_id)
        # sacct says e.g. "CANCELLED by 1234"; PREEMPTED and REQUEUED come before a requeue, and
        # UNKNOWN (not listed yet) must not let a pending job be submitted twice.
        state = (job.state or "UNKNOWN").split()[0]
        return state not in SLURM_ENDED


def _pid_running(pid: int) -> bool:
    try:  # a zombie (finished, not yet reaped) is not running
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def run_state(spec: RunSpec, runs_root: Path, ledger: Ledger, folder: Path) -> str:
    """done (scored), locked (a live process trains it), queued (a live job will), or missing."""
    rd = RunDir(run_dir_for(spec, runs_root))
    if rd.read_result() is not None and rd.predictions_path.is_file():
        return "done"
    if rd.path.exists() and rd.state() == "locked":
        return "locked"
    if ledger.job_active(spec, folder):
        return "queued"
    return "missing"


def _executor(options: ClusterOptions, folder: Path, name: str):
    submitit = _submitit()
    cluster = "local" if options.executor == "local" else "slurm"
    executor = submitit.AutoExecutor(folder=folder / "%j", cluster=cluster)
    params = {"timeout_min": options.timeout_min, "name": name}
    if options.executor == "slurm":
        params.update({"slurm_partition": options.slurm_partition,
                       "slurm_array_parallelism": options.array_parallelism,
                       "slurm_max_num_timeout": MAX_TIMEOUTS, "tasks_per_node": 1,
                       "cpus_per_task": options.cpus_per_run})
    # Only when asked: gpus_per_node=0 would hide every GPU from a local job
    # (CUDA_VISIBLE_DEVICES="") and is rejected by some SLURM sites.
    if options.gpus_per_run:
        params["gpus_per_node"] = options.gpus_per_run
    executor.update_parameters(**params)
    return executor


def _submit_chunk(chunk: list[RunSpec], runs_root: Path, data_dir, options: ClusterOptions,
                  folder: Path, ledger: Ledger, profile: str, log) -> list[tuple]:
    executor = _executor(options, folder, f"nas-harness-{profile}")
    data = None if data_dir is None else str(data_dir)
    jobs = []
    with executor.batch():
        for spec in chunk:
            jobs.append((spec, executor.submit(RunJob(spec, str(runs_root), data))))
    for spec, job in jobs:
        ledger.record(spec, str(job.job_id), options.executor)
    log(f"submitted {len(jobs)} run(s) to the {options.executor} executor (jobs "
        f"{jobs[0][1].job_id}..{jobs[-1][1].job_id}; logs in {folder})")
    return jobs


def _collect(jobs: list[tuple], folder: Path, log) -> list[str]:
    """Wait for the jobs; the run names of those that failed (each said in one line)."""
    failed = []
    for spec, job in jobs:
        try:
            job.result()
        except Exception as exc:  # the job's own traceback is in its log files
            text = str(exc).strip()
            first = text.splitlines()[-1] if text else type(exc).__name__
            failed.append(spec.run_name)
            log(f"run {spec.label} seed {spec.config.seed} failed in job {job.job_id}: "
                f"{first[:300]} (logs: {folder / str(job.job_id)})")
    return failed


def submit_runs(specs: list[RunSpec], runs_root: Path, data_dir, options: ClusterOptions,
                log=print) -> dict:
    """Submit every missing run of `specs` (one job each, in one array per wave); with
    `options.wait`, wait for them and for runs queued by earlier submissions. Returns
    {"submitted": [...], "pending": [...], "failed": [...]} by run name."""
    unique: dict[str, RunSpec] = {}
    for spec in specs:
        unique.setdefault(spec.config.hash(), spec)
    by_profile: dict[str, list[RunSpec]] = {}
    for spec in unique.values():
        by_profile.setdefault(spec.config.profile, []).append(spec)
    submitted, failed, pending = [], [], []
    for profile, group in by_profile.items():
        ledger = Ledger(runs_root, profile)
        folder = RunsRoot(runs_root).submitit_folder(profile)
        # Uniform runs first: the paired density runs of a seed fork from their warm-up. When
        # waiting, they go as a first wave; otherwise in one array, uniform jobs first.
        group = sorted(group, key=lambda s: s.config.sampler != "uniform")
        waves = ([[s for s in group if s.config.sampler == "uniform"],
                  [s for s in group if s.config.sampler != "uniform"]] if options.wait
                 else [group])
        for wave in waves:
            states = {s.run_name: run_state(s, runs_root, ledger, folder) for s in wave}
            todo = [s for s in wave if states[s.run_name] == "missing"]
            for state in ("locked", "queued"):
                busy = [s for s in wave if states[s.run_name] == state]
                if busy:
                    log(f"{len(busy)} run(s) {state} by an earlier submission or process; not "
                        "submitted again")
            # SLURM throttles an array itself; the local executor starts every job at once, so
            # there (when waiting) the runs go in chunks of --array-parallelism.
            size = (options.array_parallelism if options.executor == "local" and options.wait
                    else max(len(todo), 1))
            for chunk in [todo[i:i + size] for i in range(0, len(todo), size)]:
                jobs = _submit_chunk(chunk, runs_root, data_dir, options, folder, ledger, profile,
                                     log)
                submitted += [spec.run_name for spec, _ in jobs]
                if options.wait:
                    failed += _collect(jobs, folder, log)
            if not options.wait:
                pending += [s.run_name for s in wave if states[s.run_name] != "done"]
                continue
            waiting = [s for s in wave if states[s.run_name] in ("locked", "queued")]
            deadline = time.time() + 60 * options.timeout_min * (MAX_TIMEOUTS + 1)
            while waiting and time.time() < deadline:
                time.sleep(options.poll_seconds)
                waiting = [s for s in waiting
                           if run_state(s, runs_root, ledger, folder) in ("locked", "queued")]
            # A run whose job ended without scoring it failed: say so, and never train it here
            # instead (this may be a login node).
            for spec in wave:
                if spec.run_name in failed or run_state(spec, runs_root, ledger, folder) == "done":
                    continue
                entry = ledger.entry(spec) or {}
                failed.append(spec.run_name)
                log(f"run {spec.label} seed {spec.config.seed} is not finished after its job "
                    f"{entry.get('job_id', '?')} (logs: {folder / str(entry.get('job_id', ''))})")
    if failed:
        raise HarnessError(f"{len(failed)} run(s) failed ({', '.join(failed[:3])}); their job "
                           "logs are named above: fix the cause and run the same command again "
                           "(finished runs are kept)")
    return {"submitted": submitted, "pending": pending, "failed": failed}
