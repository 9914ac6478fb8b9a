"""What each experiment writes from its runs' results: a table (returned as a DataFrame, also
written as Markdown and CSV) and its figures. Each is registered with its experiment in
`harness.experiments.spec`, so `reproduce` runs an experiment's own builder and never dispatches
on its name.

Every builder takes (results, profile, report_dir, data_dir) and returns the table or None.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.errors import HarnessError
from harness.experiments import figures, paper, tables
from harness.experiments.arms import arm_of


def _log_skip(what: str, exc: Exception) -> None:
    print(f"{what} skipped: {exc}")


def rank_figures(results: list[dict], report_dir: Path, data_dir=None) -> list[Path]:
    """Figure 1 per space (seed with the lowest number, uniform and debiased), the paired-seeds
    figure, and the debiased run's density-vs-accuracy and sampling-frequency figures."""
    from harness.benchmarks import load_benchmark

    written = []
    for space in sorted({r["space"] for r in results}):
        first = min(r["seed"] for r in results if r["space"] == space)
        seed0 = {arm_of(r): r for r in results if r["space"] == space and r["seed"] == first}
        chosen = {s: seed0[s] for s in ("uniform", "debiased") if s in seed0}
        if not chosen:
            continue
        truth = load_benchmark(next(iter(chosen.values()))["benchmark"], data_dir)
        written.append(figures.fig1_rank_scatter(chosen, truth.frame,
                                                 report_dir / f"fig1_{space}.png"))
        if "uniform" in seed0 and len(seed0) > 1:
            written.append(figures.paired_seeds([r for r in results if r["space"] == space],
                                                report_dir / f"paired_{space}.png"))
        debiased = seed0.get("debiased")
        if debiased is not None:
            target = report_dir / f"density_vs_accuracy_{space}.png"
            try:
                written.append(figures.density_vs_accuracy(debiased["run_dir"], truth.frame,
                                                           space, target))
            except HarnessError as exc:  # e.g. densities computed on a subset the GT misses
                target.unlink(missing_ok=True)
                _log_skip(f"density vs accuracy ({space})", exc)
            written.append(figures.sampling_frequency(
                debiased["run_dir"], report_dir / f"sampling_frequency_{space}.png"))
    return written


def build_table3(results, profile, report_dir, data_dir=None) -> pd.DataFrame:
    table = tables.table3(results, profile, report_dir)
    rank_figures(results, report_dir, data_dir)
    return table


def build_table4(results, profile, report_dir, data_dir=None) -> pd.DataFrame:
    return tables.table4(results, profile, report_dir)


def build_table5(results, profile, report_dir, data_dir=None) -> pd.DataFrame:
    table = tables.table5(results, profile, report_dir)
    rows = [{"tau": float(a["label"].split("=")[1]), "kendall_mean": a["mean"],
             "ci_low": a["ci_low"], "ci_high": a["ci_high"],
             "paper": paper.TABLE5.get(float(a["label"].split("=")[1]))}
            for a in tables.aggregate(results, "kendall_tau")]
    if rows:
        figures.tau_vs_temperature(rows, report_dir / "tau_vs_temperature.png")
    return table


def build_table6(results, profile, report_dir, data_dir=None) -> pd.DataFrame:
    return tables.table6(results, profile, report_dir)


def build_topk(results, profile, report_dir, data_dir=None) -> pd.DataFrame:
    return tables.topk(results, profile, report_dir)


def build_search(results, profile, report_dir, data_dir=None) -> pd.DataFrame:
    from harness.experiments.search_table import search_table

    return search_table(results, profile, report_dir, data_dir)


def build_fig1(results, profile, report_dir, data_dir=None) -> None:
    rank_figures(results, report_dir, data_dir)
    return None


def build_fig2(results, profile, report_dir, data_dir=None) -> None:
    for r in results[:1]:
        figures.fig2_layer_distances(r["run_dir"], report_dir / "fig2.png", data_dir=data_dir)
    return None


def build_nb201(results, profile, report_dir, data_dir=None) -> pd.DataFrame:
    table = tables.nb201_table(results, profile, report_dir)
    from harness.experiments.search_table import search_table

    search_table(results, profile, report_dir, data_dir, name="nb201_search")
    return table
