"""Execute run specs with caching: each spec's run lives in the runs root (harness.results) under
its config hash; a run already scored against the current ground truth is reused, a run whose
paired uniform run holds its warm-up forks from it, and the rest is carried through by
harness.analysis.scoring (train or resume, evaluate, score).
"""

from __future__ import annotations

import time
from pathlib import Path

from harness.analysis.scoring import portable_path, standing_result, train_evaluate_score
from harness.experiments.spec import RunSpec
from harness.results import RunsRoot
from harness.rundir import RunDir
from harness.samplers.audit import summarize


def run_dir_for(spec: RunSpec, runs_root: Path) -> Path:
    return RunsRoot(runs_root).run_dir(spec.config.profile, spec.run_name).path


def load_result(run_dir: Path) -> dict | None:
    return RunDir(run_dir).read_result()


def execute(spec: RunSpec, runs_root: Path, data_dir=None, progress: bool = True,
            log=print) -> dict:
    """Train (or resume), evaluate and score one run; cached by config hash."""
    run_dir = run_dir_for(spec, runs_root)
    with RunDir(run_dir).lock():
        result = _execute(spec, run_dir, data_dir, progress, log, runs_root)
        if "audit" not in result:  # scored before results carried the sampler audit
            result["audit"] = summarize(RunDir(run_dir).read_audit())
            RunDir(run_dir).write_result(result)
        truth_file = result.get("ground_truth", {}).get("file", "")
        if result.get("run_dir") != portable_path(run_dir) or Path(truth_file).is_absolute():
            # The cache moved since it was written, or an older result holds a machine's path.
            result["run_dir"] = portable_path(run_dir)
            result["ground_truth"] = {**result["ground_truth"],
                                      "file": portable_path(truth_file, data_dir)}
            RunDir(run_dir).write_result(result)
    # The same config can serve several tables (e.g. Table 4's default estimator is Table 3's
    # debiased run): the label is the table's.
    truth = dict(result.get("ground_truth", {}))
    if truth.get("file"):
        truth["file"] = portable_path(truth["file"], data_dir) if Path(truth["file"]).is_absolute() \
            else truth["file"]
    return {**result, "label": spec.label, "ground_truth": truth, "run_dir": str(run_dir)}


def fork_point(config) -> int | None:
    """The epoch (0-based) whose checkpoint a paired run forks from: the one before the last
    warm-up epoch (the last one is trained by the run itself, whose sampler acts at its end)."""
    return config.warmup_epochs - 2 if config.warmup_epochs >= 2 else None


def paired_uniform(config):
    """The uniform run of the same seed and schedule: the other arm of a paired comparison."""
    return config.replace(sampler="uniform", sampler_options={})


def _execute(spec: RunSpec, run_dir: Path, data_dir, progress: bool, log,
             runs_root: Path | None = None) -> dict:
    """The cached result when it still stands, else fork (where the design allows), train,
    evaluate and score (harness.analysis.scoring)."""
    from harness.samplers import sampler_forks_from_uniform

    rd = RunDir(run_dir)
    what = f"{spec.label} seed {spec.config.seed}"
    cached = rd.read_result()
    reused = standing_result(spec.config, run_dir, data_dir, log, what)
    if reused is not None:
        return reused
    started = time.perf_counter()
    # Only a sampler whose warm-up is exactly uniform's forks (a fork must equal training from
    # scratch, or a run's result would depend on what the cache held).
    if (not rd.has_checkpoint() and runs_root is not None and spec.config.sampler != "uniform"
            and fork_point(spec.config) is not None
            and sampler_forks_from_uniform(spec.config.sampler, spec.config.sampler_options)):
        partner = RunSpec(spec.label, paired_uniform(spec.config))
        from harness.train.runner import fork_run

        if fork_run(run_dir_for(partner, runs_root), fork_point(spec.config), spec.config,
                    run_dir):
            log(f"fork {what} from the uniform run's warm-up "
                f"(epoch {fork_point(spec.config) + 1})")
    return train_evaluate_score(spec.config, spec.label, run_dir, data_dir, progress, log, what,
                                cached=cached, started=started)
