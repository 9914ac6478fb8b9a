"""How many seeds does a comparison need? Power planning from measured spreads.

`plan(experiment, profile, effect)` reads the measured results of a reproduction (its runs.json:
per-seed metrics and run times) and, for every sampler compared with uniform on a benchmark, gives:
the SD of the paired per-seed differences (from paired seeds when there are at least two, else
sqrt(sd_a^2 + sd_b^2) from the arms' own spreads, which assumes independent arms and is then said),
the minimum detectable difference of the current design, the seeds per arm that detect `effect`
with 80% power, and what those runs cost in CPU hours (or GPU hours, when the runs were timed on a
GPU), from the measured time per run.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from harness.analysis.power import POWER, mde, sd_interval, seeds_needed
from harness.errors import HarnessError
from harness.experiments.arms import arm_of
from harness.experiments.spec import runs_for
from harness.results import ReportDir


def read_results(results_dir: Path) -> list[dict]:
    return ReportDir(results_dir).read_runs(
        required=True, missing="no measured runs to plan from",
        fix="run `nas-harness reproduce EXPERIMENT --profile P` (a pilot with 2 seeds is enough) "
            "first")


def plan(experiment: str, profile: str, effect: float, results_dir: Path,
         metric: str = "kendall_tau", baseline: str = "uniform") -> dict:
    if not effect > 0:
        raise HarnessError(f"--effect must be a positive difference in {metric}, got {effect}")
    design = runs_for(experiment, profile)
    if not design:
        raise HarnessError(f"{experiment} has no runs under the {profile} profile")
    planned_seeds: dict[tuple, set] = defaultdict(set)
    for spec in design:
        planned_seeds[(spec.benchmark, spec.arm)].add(spec.config.seed)
    measured: dict[tuple, dict[int, dict]] = defaultdict(dict)
    for r in read_results(results_dir):
        if r.get("metrics", {}).get(metric, {}).get("value") is None:
            continue
        measured[(r["benchmark"], arm_of(r))][r["seed"]] = r
    rows = []
    for (benchmark, arm), seeds in sorted(planned_seeds.items()):
        if arm == baseline or (benchmark, baseline) not in planned_seeds:
            continue
        a_runs, b_runs = measured.get((benchmark, baseline), {}), measured.get((benchmark, arm), {})
        row = {"benchmark": benchmark, "arm": arm, "baseline": baseline, "metric": metric,
               "effect": effect, "design_seeds": len(seeds),
               "measured_seeds": [len(a_runs), len(b_runs)]}
        common = sorted(set(a_runs) & set(b_runs))
        a = np.array([a_runs[s]["metrics"][metric]["value"] for s in common])
        b = np.array([b_runs[s]["metrics"][metric]["value"] for s in common])
        if len(common) >= 2:
            sd, how = float(np.std(b - a, ddof=1)), f"paired differences over {len(common)} seeds"
        elif len(a_runs) >= 2 and len(b_runs) >= 2:
            va = np.var([r["metrics"][metric]["value"] for r in a_runs.values()], ddof=1)
            vb = np.var([r["metrics"][metric]["value"] for r in b_runs.values()], ddof=1)
            sd, how = float(math.sqrt(va + vb)), "arms' own spreads, assumed independent"
        else:
            row.update({"sd_difference": None, "spread_from": "fewer than 2 measured seeds per arm",
                        "seeds_needed": None, "mde_design": None, "hours": None})
            rows.append(row)
            continue
        if sd == 0:
            row.update({"sd_difference": 0.0, "seeds_needed": None, "mde_design": None,
                        "hours": None, "spread_from": f"{how}: identical, the arms gave the same "
                        "numbers on every seed (is the sampler really different?)"})
            rows.append(row)
            continue
        n = seeds_needed(effect, sd, POWER)
        # The SD is an estimate: its chi-squared interval (df from the seeds it came from) gives
        # the range of the seeds needed and of the design's MDE.
        df = len(common) - 1 if len(common) >= 2 else len(a_runs) + len(b_runs) - 2
        sd_low, sd_high = sd_interval(sd, df)
        seconds = [r.get("train_seconds", 0) + r.get("eval_seconds", 0)
                   for r in list(a_runs.values()) + list(b_runs.values())]
        per_pair = 2 * float(np.mean(seconds)) if seconds else float("nan")
        device = "gpu" if any("cuda" in str(r.get("device", "")) for r in a_runs.values()) else "cpu"
        row.update({"sd_difference": sd, "spread_from": how, "seeds_needed": n,
                    "mde_design": mde(sd, len(seeds)) if len(seeds) >= 2 else None,
                    "sd_df": df, "sd_low": sd_low, "sd_high": sd_high,
                    "seeds_needed_range": [seeds_needed(effect, sd_low, POWER),
                                           seeds_needed(effect, sd_high, POWER)],
                    "mde_design_range": ([mde(sd_low, len(seeds)), mde(sd_high, len(seeds))]
                                         if len(seeds) >= 2 else None),
                    "hours_per_pair": per_pair / 3600, "device": device,
                    "hours": None if n is None else n * per_pair / 3600})
        rows.append(row)
    return {"experiment": experiment, "profile": profile, "effect": effect, "metric": metric,
            "power": POWER, "alpha": 0.05, "results": str(results_dir), "comparisons": rows}
