"""Finished runs scored again under another evaluation, written as a reproduction folder that
`nas-harness check` reads: did a change of evaluation (a BatchNorm mode, a split) move the
numbers beyond the noise? Each run keeps its label's arm; the metrics are Table 3's keys
(`table3/<benchmark>/<arm>/<kendall|spearman>`), per seed."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from harness.errors import HarnessError
from harness.rundir import RunDir


def rescore(run_dirs: list[Path], out_dir: Path, bn_eval: str | None = None,
            split: str | None = None, data_dir=None, progress: bool = False) -> dict:
    from harness.analysis.correlate import correlate
    from harness.analysis.scoring import benchmark_archs
    from harness.benchmarks import load_benchmark
    from harness.evaluate import evaluate_run
    from harness.experiments.reproduce import write_results_folder
    from harness.spaces import get_space
    from harness.train.runner import read_config

    per_cell: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    runs = []
    for run_dir in run_dirs:
        rd = RunDir(run_dir)
        cfg = read_config(rd)
        if not cfg.benchmark:
            raise HarnessError(f"{run_dir}: the run names no benchmark to score against")
        result = rd.read_result() or {}
        arm = (result.get("label") or f"x/{cfg.sampler}").rsplit("/", 1)[1]
        truth = load_benchmark(cfg.benchmark, data_dir)
        archs = benchmark_archs(truth, get_space(cfg.space))
        pred = evaluate_run(rd.path, archs, None, bn_eval, split, progress=progress)
        scores = pred.rename(columns={"supernet_accuracy": "score"})[["key", "score"]]
        corr = correlate(scores, truth, networks="distinct", metrics=["kendall_tau", "spearman"],
                         n_resamples=0)
        cell = per_cell[(cfg.benchmark, arm)]
        cell["seeds"].append(cfg.seed)
        cell["kendall"].append(float(corr.metrics["kendall_tau"].value))
        cell["spearman"].append(float(corr.metrics["spearman"].value))
        runs.append({"label": result.get("label") or f"{cfg.space}/{arm}", "seed": cfg.seed,
                     "profile": cfg.profile, "run_dir": str(rd.path),
                     "config_hash": cfg.hash(), "bn_eval": bn_eval or cfg.bn_eval,
                     "split": split or cfg.eval_split})
    summary = {}
    for (benchmark, arm), cell in per_cell.items():
        for metric in ("kendall", "spearman"):
            summary[f"table3/{benchmark}/{arm}/{metric}"] = {
                "value": float(np.mean(cell[metric])), "n_seeds": len(cell[metric]),
                "seeds": cell["seeds"], "per_seed": cell[metric], "higher_is_better": True}
    write_results_folder(out_dir, summary, runs)
    return summary
