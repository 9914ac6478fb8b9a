"""Execute run specs with caching: train what is missing, resume what was cut, evaluate, score.

Each run lives in `<runs_root>/<profile>/<run_name>/` (run_name ends with the config hash) and,
once scored, holds `pred.csv` and `result.json` (metrics against its benchmark, with provenance).
"""

from __future__ import annotations

import time
from pathlib import Path

from harness.experiments.spec import RunSpec
from harness.results import RunResult, RunsRoot
from harness.rundir import RunDir
from harness.samplers.audit import summarize


def run_dir_for(spec: RunSpec, runs_root: Path) -> Path:
    return RunsRoot(runs_root).run_dir(spec.config.profile, spec.run_name).path


def load_result(run_dir: Path) -> dict | None:
    return RunDir(run_dir).read_result()


def portable_path(path: str, data_dir=None) -> str:
    """A path that means the same on another machine: relative to the working directory, or
    `<data-dir>/...` for files in the ground-truth data directory."""
    import os

    from harness.benchmarks.base import resolve_data_dir

    absolute = Path(path).resolve()
    for base, prefix in ((Path.cwd(), ""), (resolve_data_dir(data_dir).resolve(), "<data-dir>/")):
        try:
            return prefix + str(absolute.relative_to(base))
        except ValueError:
            continue
    return os.path.basename(path)


def benchmark_archs(truth, space):
    """Architectures to evaluate: the benchmark's distinct networks (canonical codes)."""
    keys = dict.fromkeys(space.canonical_key(k) for k in truth.frame["key"])
    return [space.parse(k) for k in keys]


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
    from harness.analysis.correlate import correlate
    from harness.benchmarks import load_benchmark
    from harness.evaluate import evaluate_run
    from harness.spaces import get_space
    from harness.train.runner import train_run

    rd = RunDir(run_dir)
    cached = rd.read_result()
    if cached is not None and rd.predictions_path.is_file():
        truth = load_benchmark(spec.benchmark, data_dir)
        if (cached.get("ground_truth") or {}).get("sha256") == truth.provenance.sha256:
            log(f"reuse {spec.label} seed {spec.config.seed} ({rd.path})")
            return cached
        # The ground truth changed since this run was scored (e.g. a regenerated table): the
        # predictions stand, the scores are computed again.
        log(f"rescore {spec.label} seed {spec.config.seed} against the new {spec.benchmark}")
    started = time.perf_counter()
    from harness.samplers import sampler_forks_from_uniform

    # Only a sampler whose warm-up is exactly uniform's forks (a fork must equal training from
    # scratch, or a run's result would depend on what the cache held).
    if (not rd.has_checkpoint() and runs_root is not None and spec.config.sampler != "uniform"
            and fork_point(spec.config) is not None
            and sampler_forks_from_uniform(spec.config.sampler, spec.config.sampler_options)):
        partner = RunSpec(spec.label, paired_uniform(spec.config))
        from harness.train.runner import fork_run

        if fork_run(run_dir_for(partner, runs_root), fork_point(spec.config), spec.config,
                    run_dir):
            log(f"fork {spec.label} seed {spec.config.seed} from the uniform run's warm-up "
                f"(epoch {fork_point(spec.config) + 1})")
    if not rd.is_done():
        resume = rd.has_config()
        log(f"{'resume' if resume else 'train'} {spec.label} seed {spec.config.seed} -> {run_dir}")
        train_run(spec.config, run_dir, resume=resume, progress=progress)
    else:
        log(f"evaluate {spec.label} seed {spec.config.seed} ({rd.path})")
    train_seconds = time.perf_counter() - started
    truth = load_benchmark(spec.benchmark, data_dir)
    space = get_space(spec.config.space)
    started = time.perf_counter()
    pred = evaluate_run(run_dir, benchmark_archs(truth, space), rd.predictions_path,
                        progress=progress)
    eval_seconds = time.perf_counter() - started
    scores = pred.rename(columns={"supernet_accuracy": "score"})[["key", "score"]]
    corr = correlate(scores, truth, networks="distinct", n_resamples=1000, seed=0,
                     source=str(rd.predictions_path))
    scored = corr.to_dict()
    result = RunResult(
        label=spec.label,
        profile=spec.config.profile,
        space=spec.config.space,
        benchmark=scored.pop("benchmark"),
        sampler=spec.config.sampler,
        sampler_options=spec.config.sampler_options.to_dict(),
        seed=spec.config.seed,
        config_hash=spec.config.hash(),
        run_dir=portable_path(run_dir),
        # A rescore keeps the run's own measured times (plan reads them as its cost).
        train_seconds=(cached or {}).get("train_seconds", round(train_seconds, 1)),
        eval_seconds=(cached or {}).get("eval_seconds", round(eval_seconds, 1)),
        ground_truth={**truth.provenance.to_dict(),
                      "file": portable_path(truth.provenance.file, data_dir)},
        **scored,
        # Did the sampler do what its name says? (full audit: audit.json in the run directory)
        audit=summarize(rd.read_audit()),
    ).to_dict()
    rd.write_result(result)
    return result
