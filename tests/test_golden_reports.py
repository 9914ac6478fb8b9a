"""Golden tables: every committed Table 3 is recomputed from the predictions archived beside it and
compared cell by cell; every link in a committed report resolves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.analysis.correlate import correlate
from harness.benchmarks import load_benchmark
from harness.experiments.arms import arm_of

REPO_ROOT = Path(__file__).resolve().parents[1]

REPORTS = REPO_ROOT / "reports"
# Nested reports too (e.g. reports/cpu/pilot, the pilot the cpu design was sized from).
ARCHIVED = sorted(p.parent for p in REPORTS.glob("**/table3.csv") if (p.parent / "runs").is_dir())


def archived_results(report: Path) -> list[dict]:
    """The runs behind the report's Table 3 (runs.json lists a run once per table it serves)."""
    runs = json.loads((report / "runs.json").read_text())
    table = pd.read_csv(report / "table3.csv")
    arms = set(table["arm"] if "arm" in table.columns else table["sampler"])
    table3_labels = {f"{space}/{arm}" for space in {r["space"] for r in runs} for arm in arms}
    return [r for r in runs if r["label"] in table3_labels
            and (report / r["archive"] / "pred.csv").is_file()]


@pytest.mark.skipif(not ARCHIVED, reason="no committed report with archived runs")
@pytest.mark.parametrize("report", ARCHIVED, ids=[str(p.relative_to(REPORTS)) for p in ARCHIVED])
def test_table3_recomputed_from_archived_predictions(report, data_dir, monkeypatch):
    monkeypatch.setenv("HARNESS_DATA_DIR", str(data_dir))
    table = pd.read_csv(report / "table3.csv")
    results = archived_results(report)
    assert results, f"{report}: runs.json names no archived predictions"
    per_cell: dict[tuple, dict[str, list[float]]] = {}
    for r in results:
        pred = pd.read_csv(report / r["archive"] / "pred.csv", dtype={"key": str})
        scores = pred.rename(columns={"supernet_accuracy": "score"})[["key", "score"]]
        corr = correlate(scores, load_benchmark(r["benchmark"]), networks="distinct",
                         metrics=["kendall_tau", "spearman"], n_resamples=0)
        cell = per_cell.setdefault((r["benchmark"], arm_of(r)), {"kendall": [], "spearman": []})
        cell["kendall"].append(corr.metrics["kendall_tau"].value)
        cell["spearman"].append(corr.metrics["spearman"].value)
    assert len(per_cell) == len(table)
    for row in table.itertuples():
        cell = per_cell[(row.benchmark, getattr(row, "arm", row.sampler))]
        assert len(cell["kendall"]) == row.n_seeds
        assert np.mean(cell["kendall"]) == pytest.approx(row.kendall_mean, abs=1e-9)
        assert np.mean(cell["spearman"]) == pytest.approx(row.spearman_mean, abs=1e-9)


MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)\)")


def _link_cases():
    for report in sorted(p.parent for p in REPORTS.glob("**/table3.md")):
        marks = () if (report / "runs").is_dir() else (pytest.mark.xfail(
            strict=True, reason="written before run directories were archived beside reports "
                                "(its run links are dead until it is regenerated)"),)
        yield pytest.param(report, id=str(report.relative_to(REPORTS)), marks=marks)


@pytest.mark.parametrize("report", list(_link_cases()))
def test_every_link_in_a_committed_report_resolves(report):
    dead = []
    for page in sorted(report.glob("*.md")):
        for target in MARKDOWN_LINK.findall(page.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            if not (page.parent / target).exists():
                dead.append(f"{page.name}: {target}")
    assert not dead, f"{len(dead)} dead links, e.g. {dead[:3]}"


def _design(profile: str) -> dict[tuple[str, int], object]:
    from harness.experiments.spec import EXPERIMENTS, runs_for

    return {(s.label, s.config.seed): s.config for name in EXPERIMENTS
            for s in runs_for(name, profile)}


@pytest.mark.skipif(not (REPORTS / "cpu" / "runs.json").is_file(), reason="no cpu report")
def test_the_cpu_report_is_what_the_current_design_trains():
    """Every archived cpu run has the config hash and thread count that `reproduce --profile cpu`
    would train today, so a rerun from an empty cache retrains these runs (not others), and
    gives their numbers: CPU results depend on the thread count, which the hash leaves out."""
    report = REPORTS / "cpu"
    design = _design("cpu")
    runs = json.loads((report / "runs.json").read_text())
    assert runs
    for r in runs:
        config = design.get((r["label"], r["seed"]))
        assert config is not None, f"{r['label']} seed {r['seed']} is not in the cpu design"
        assert config.hash() == r["config_hash"], r["archive"]
        archived = json.loads((report / r["archive"] / "config.json").read_text())["config"]
        assert archived["num_threads"] == config.num_threads, r["archive"]
