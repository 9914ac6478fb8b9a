"""One run, from config to scored result: train (or resume), evaluate every distinct network of
its benchmark, correlate with the ground truth, and write `result.json` (a RunResult). The
experiments decide which runs exist and where; this module only carries one run through."""

from __future__ import annotations

import os
import time
from pathlib import Path

from harness.results import RunResult
from harness.rundir import RunDir


def portable_path(path: str, data_dir=None) -> str:
    """A path that means the same on another machine: relative to the working directory, or
    `<data-dir>/...` for files in the ground-truth data directory."""
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


def standing_result(config, run_dir: Path, data_dir, log, what: str) -> dict | None:
    """The run's scored result when it was scored against the ground truth as it is now; None
    when there is none, or the table changed since (its predictions stand, scores are redone)."""
    from harness.benchmarks import load_benchmark

    rd = RunDir(run_dir)
    cached = rd.read_result()
    if cached is None or not rd.predictions_path.is_file():
        return None
    truth = load_benchmark(config.benchmark or "", data_dir)
    if (cached.get("ground_truth") or {}).get("sha256") == truth.provenance.sha256:
        log(f"reuse {what} ({rd.path})")
        return cached
    log(f"rescore {what} against the new {config.benchmark}")
    return None


def train_evaluate_score(config, label: str, run_dir: Path, data_dir=None, progress: bool = True,
                         log=print, what: str | None = None, cached: dict | None = None,
                         started: float | None = None) -> dict:
    """Train or resume the run unless it is done, evaluate its benchmark's networks, score them
    and write the result. A rescore (`cached`) keeps the run's own measured times."""
    from harness.analysis.correlate import correlate
    from harness.benchmarks import load_benchmark
    from harness.evaluate import evaluate_run
    from harness.samplers.audit import summarize
    from harness.spaces import get_space
    from harness.train.runner import train_run

    rd = RunDir(run_dir)
    what = what or f"{label} seed {config.seed}"
    started = time.perf_counter() if started is None else started
    if not rd.is_done():
        resume = rd.has_config()
        log(f"{'resume' if resume else 'train'} {what} -> {run_dir}")
        train_run(config, run_dir, resume=resume, progress=progress)
    else:
        log(f"evaluate {what} ({rd.path})")
    train_seconds = time.perf_counter() - started
    truth = load_benchmark(config.benchmark or "", data_dir)
    space = get_space(config.space)
    started = time.perf_counter()
    pred = evaluate_run(run_dir, benchmark_archs(truth, space), rd.predictions_path,
                        progress=progress)
    eval_seconds = time.perf_counter() - started
    scores = pred.rename(columns={"supernet_accuracy": "score"})[["key", "score"]]
    corr = correlate(scores, truth, networks="distinct", n_resamples=1000, seed=0,
                     source=str(rd.predictions_path))
    scored = corr.to_dict()
    result = RunResult(
        label=label,
        profile=config.profile,
        space=config.space,
        benchmark=scored.pop("benchmark"),
        sampler=config.sampler,
        sampler_options=config.sampler_options.to_dict(),
        seed=config.seed,
        config_hash=config.hash(),
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
