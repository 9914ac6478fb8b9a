"""The search table: ground-truth accuracy of the architecture each strategy picks on each
sampler's supernet (mean and std over seeds)."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis.formatting import fixed
from harness.errors import HarnessError
from harness.experiments.arms import arm_of
from harness.experiments.render import Table
from harness.experiments.tables import write_table
from harness.profiles import get_profile
from harness.results import ReportDir
from harness.spaces.restricted import RestrictedSpace


def recorded_rows(result: dict, name: str) -> list[dict] | None:
    """The search rows recorded for an archived run (no checkpoint to search again): from the
    archive's NAME_runs.csv, matched by run directory name (which ends with the config hash)."""
    root = result.get("archive_root")
    if not root or not ReportDir(root).search_runs_path(name).is_file():
        return None
    recorded = pd.read_csv(ReportDir(root).search_runs_path(name), dtype={"picked": str})
    mine = recorded[recorded["run_dir"].map(lambda p: Path(p).name) == Path(
        result["run_dir"]).name]
    return mine.to_dict("records") if not mine.empty else None


def search_runs(results: list[dict], profile: str, data_dir=None, name: str = "search"
                ) -> list[dict]:
    from harness.benchmarks import load_benchmark
    from harness.evaluate.supernet_eval import eval_cache, load_for_evaluation
    from harness.rundir import RunDir
    from harness.search import SupernetScorer, run_search
    from harness.spaces import get_space
    from harness.train.trained import TrainedRun

    chosen = get_profile(profile)  # its search budgets (Profile.search_budgets)
    budgets = chosen.search_budgets
    rows = []
    for result in results:
        if not RunDir(result["run_dir"]).has_checkpoint():
            recorded = recorded_rows(result, name)
            if recorded is not None:
                rows += recorded
                continue
            if result.get("archive_root"):  # a rebuild: nothing to search, nothing recorded
                raise HarnessError(
                    f"{name}: {result['archive_root']} holds no recorded {name} rows for "
                    f"{Path(result['run_dir']).name} (and an archive keeps no checkpoints); "
                    f"rebuild the experiments that report wrote, or train the runs to search them")
        truth = load_benchmark(result["benchmark"], data_dir)
        space = get_space(result["space"])
        covered = truth.frame["key"].map(space.canonical_key).nunique()
        searched = space
        if space.n_distinct is not None and covered < space.n_distinct:
            # A sampled benchmark cannot score picks outside it: search its networks only.
            searched = RestrictedSpace(space, truth.frame["key"])
        run = TrainedRun.open(Path(result["run_dir"]))
        model, batches, recal, device = load_for_evaluation(run)
        bn_eval = run.cfg.bn_eval
        # The run's own evaluation (pred.csv's scores) on the same batches: a full score found
        # there is read, not recomputed; it still counts against the strategy's budget.
        _, cached = eval_cache(run)
        known = {key: record["supernet_accuracy"] for key, record in cached.items()}
        for strategy, budget in budgets.items():
            scorer = SupernetScorer(model, space, batches, bn_eval=bn_eval, device=device,
                                    recal_batches=recal, known=known)
            options = dict(chosen.evolution_options) if strategy == "evolutionary" else {}
            started = time.perf_counter()
            found = run_search(strategy, searched, scorer, seed=result["seed"], budget=budget,
                               truth=truth, **options)
            seconds = time.perf_counter() - started
            rows.append({"benchmark": result["benchmark"], "arm": arm_of(result),
                         "sampler": result["sampler"], "seed": result["seed"], "strategy": strategy, "budget": budget,
                         "picked": found["picked"][0], "supernet_score": found["scores"][0],
                         "truth_accuracy": found["truth_accuracy"], "truth_rank": found["truth_rank"],
                         "truth_best_accuracy": found["truth_best_accuracy"],
                         "searched_networks": searched.n_distinct,
                         "space_networks": space.n_distinct,
                         "evaluations": scorer.n_evaluations,
                         "evaluations_reused": scorer.n_reused,
                         "batch_evaluations": scorer.n_batch_evaluations,
                         "search_seconds": round(seconds, 2),
                         "run_dir": result["run_dir"]})
    return rows


def search_table(results: list[dict], profile: str, report_dir: Path, data_dir=None,
                 name: str = "search") -> pd.DataFrame:
    """Search on every run's supernet, then the table (`write_search_table`)."""
    return write_search_table(pd.DataFrame(search_runs(results, profile, data_dir, name)),
                              profile, report_dir, name)


def write_search_table(runs: pd.DataFrame, profile: str, report_dir: Path,
                       name: str = "search") -> pd.DataFrame:
    """The search table from `search_runs`' rows (as in NAME_runs.csv): mean and std per arm and
    strategy, and the paired comparison with uniform."""
    rows, shown = [], []
    if not runs.empty:
        grouped = defaultdict(list)
        for row in runs.to_dict("records"):
            grouped[(row["benchmark"], row["arm"], row["strategy"])].append(row)
        for (benchmark, arm, strategy), group in grouped.items():
            acc = np.array([g["truth_accuracy"] for g in group], dtype=float)
            rank = np.array([g["truth_rank"] for g in group], dtype=float)
            std = float(acc.std(ddof=1)) if len(acc) > 1 else float("nan")
            rows.append({"benchmark": benchmark, "arm": arm, "sampler": group[0]["sampler"],
                         "strategy": strategy,
                         "budget": group[0]["budget"], "n_seeds": len(group),
                         "truth_accuracy_mean": float(acc.mean()), "truth_accuracy_std": std,
                         "truth_rank_mean": float(rank.mean()),
                         "truth_best_accuracy": group[0]["truth_best_accuracy"],
                         "searched_networks": group[0]["searched_networks"],
                         "space_networks": group[0]["space_networks"]})
            searched = (f"{group[0]['searched_networks']} covered of "
                        f"{group[0]['space_networks']}"
                        if group[0]["searched_networks"] != group[0]["space_networks"] else "all")
            shown.append({"benchmark": benchmark, "arm": arm, "strategy": strategy,
                          "budget": group[0]["budget"], "seeds": len(group),
                          "networks searched": searched,
                          "truth accuracy (mean ± std)": f"{fixed(acc.mean(), 2)} ± {fixed(std, 2)}",
                          "true rank (mean)": fixed(rank.mean(), 1),
                          "best in benchmark": fixed(group[0]["truth_best_accuracy"], 2)})
    note = ("Budgets: distinct supernet evaluations for random and evolutionary search, "
            "one-batch evaluations for BSE. On a benchmark that covers only part of its space "
            "(a sampled table), search is restricted to the covered networks ('networks "
            "searched'), so 'true rank' and 'best in benchmark' are among those networks, and "
            "evolutionary mutations that leave them are re-drawn. A full score that the run's own "
            "evaluation (its pred.csv, on the same batches) already holds is read from it, not "
            "recomputed, and counts against the budget all the same (search_runs.csv: "
            "evaluations, evaluations_reused, search_seconds).")
    paired = paired_search(runs, name) if not runs.empty else None
    frame = write_table(Table(name, "Search: ground truth of the picked architecture "
                              f"({profile} profile)", pd.DataFrame(rows), pd.DataFrame(shown),
                              [note], [paired] if paired is not None else []), report_dir)
    if not runs.empty:
        from harness.io import atomic_write_csv

        atomic_write_csv(ReportDir(report_dir).search_runs_path(name), runs)
        if paired is not None:
            atomic_write_csv(report_dir / f"{name}_paired.csv", paired.data)
    return frame


def paired_search(runs: pd.DataFrame, name: str = "search",
                  baseline: str = "uniform") -> Table | None:
    """Each arm's picked ground-truth accuracy against the baseline arm's, per benchmark and
    strategy, paired by seed (a seed's searches draw from the same generator in every arm): the
    mean difference in points with its t interval and p, and the design's MDE at 80% power."""
    from harness.analysis.power import comparison_verdict, mde_with_interval, paired_difference
    from harness.experiments.tables import mde_text

    rows, shown = [], []
    for (benchmark, strategy), group in runs.groupby(["benchmark", "strategy"], sort=False):
        base = group[group["arm"] == baseline].set_index("seed")["truth_accuracy"]
        for arm, arm_runs in group.groupby("arm", sort=False):
            if arm == baseline or base.empty:
                continue
            values = arm_runs.set_index("seed")["truth_accuracy"]
            seeds = sorted(set(base.index) & set(values.index))
            diff = paired_difference(base[seeds].astype(float), values[seeds].astype(float))
            diff.update(mde_with_interval(diff["sd_difference"], len(seeds)))
            verdict = comparison_verdict(diff, digits=2)
            rows.append({"benchmark": benchmark, "strategy": strategy, "arm": arm,
                         "baseline": baseline, "seeds": seeds, **diff, "verdict": verdict})
            shown.append({"benchmark": benchmark, "strategy": strategy, "arm": arm,
                          "pairs": diff["n_pairs"],
                          "difference (points)": f"{diff['mean_difference']:+.2f}",
                          "95% t interval": f"[{fixed(diff['ci_low'], 2)}, "
                                            f"{fixed(diff['ci_high'], 2)}]",
                          "p": "-" if diff["p_value"] is None else f"{diff['p_value']:.2g}",
                          "MDE (80% power) [range], df": mde_text(diff, 2),
                          "verdict": verdict})
    if not rows:
        return None
    note = ("Ground-truth accuracy (points) of the picked architecture, arm minus uniform, paired "
            "by seed. MDE: the smallest true difference this design (pairs, measured SD of the "
            "differences) detects with 80% power in a two-sided paired t test at 0.05; its range "
            "follows from the SD's 95% chi-squared interval (n - 1 degrees of freedom). "
            "'result' only at p < 0.05.")
    return Table(f"{name}_paired", f"Paired comparison with {baseline} (same seeds)",
                 pd.DataFrame(rows), pd.DataFrame(shown), [note], level=3)
