"""Golden reports: every committed table and CSV is rebuilt from the runs archived beside it, with
the current code, and compared cell by cell; every link in a committed report resolves; every
archived cpu run is what the current design trains; no committed report records a dirty commit.

What the rebuild covers: Tables 3-6 with their paired rows, intervals, MDEs and audit columns,
the top-K table, the search tables (from their recorded search rows) and the NB-201 table, plus
summary.json and the figures; every file the rebuild writes is then compared byte for byte.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
REPORTS = REPO_ROOT / "reports"
# Every committed report with archived runs (nested ones too, e.g. reports/cpu/pilot).
ARCHIVED = sorted(p.parent for p in REPORTS.glob("**/runs.json") if (p.parent / "runs").is_dir())
# The experiment that writes each committed table (its CSV stem).
WRITERS = {"table3": "table3", "table4": "table4", "table5": "table5", "table6": "table6",
           "topk": "topk", "search": "search", "nb201": "nb201"}
FIGURE_WRITERS = {"fig1": "fig1_", "fig2": "fig2"}


def _design_of(report: Path) -> tuple[str, list[str], tuple[int, ...] | None]:
    """(profile, experiments, seeds or None) that wrote a committed report."""
    from harness.experiments.spec import runs_for
    from harness.results import ReportDir

    runs = ReportDir(report).read_runs(required=True)
    profile = {r["profile"] for r in runs}.pop()
    targets = [name for stem, name in WRITERS.items() if (report / f"{stem}.csv").is_file()]
    targets += [name for name, prefix in FIGURE_WRITERS.items()
                if any(report.glob(f"{prefix}*.png"))]
    seeds = tuple(sorted({r["seed"] for r in runs}))
    designed = {s.config.seed for name in targets for s in runs_for(name, profile)}
    return profile, targets, (seeds if set(seeds) < designed else None)


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory, data_dir):
    """Each archived report rebuilt once into a temporary folder."""
    import os

    from harness.experiments.reproduce import reproduce

    os.environ["HARNESS_DATA_DIR"] = str(data_dir)
    out = {}
    for report in ARCHIVED:
        profile, targets, seeds = _design_of(report)
        target = tmp_path_factory.mktemp("rebuilt") / report.name
        reproduce(targets, profile, tmp_path_factory.mktemp("runs"), target, data_dir,
                  progress=False, log=lambda m: None, seeds=seeds, from_archive=report)
        out[report] = target
    return out


def _same_cell(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _csv_differences(committed: Path, fresh: Path) -> list[str]:
    a = pd.read_csv(committed, keep_default_na=True)
    b = pd.read_csv(fresh, keep_default_na=True)
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return [f"shape or columns: {list(a.columns)} x {len(a)} vs {list(b.columns)} x {len(b)}"]
    out = []
    for i in range(len(a)):
        for column in a.columns:
            x, y = a.at[i, column], b.at[i, column]
            x = float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else x
            y = float(y) if isinstance(y, (int, float)) and not isinstance(y, bool) else y
            if not _same_cell(x, y):
                out.append(f"row {i} {column}: committed {x!r}, rebuilt {y!r}")
    return out


def _committed_tables(report: Path) -> list[Path]:
    return sorted(p for p in report.iterdir() if p.suffix in (".csv", ".md")
                  and p.name not in ("README.md", "report.md"))


def _table_cases():
    for report in ARCHIVED:
        for path in _committed_tables(report):
            yield pytest.param(report, path.name, id=f"{report.relative_to(REPORTS)}/{path.name}")


@pytest.mark.skipif(not ARCHIVED, reason="no committed report with archived runs")
@pytest.mark.parametrize("report, name", list(_table_cases()))
def test_committed_table_equals_its_rebuild(rebuilt, report, name):
    """Cell by cell for CSVs (numbers to 1e-9 relative), line by line for Markdown."""
    fresh = rebuilt[report] / name
    assert fresh.is_file(), f"the rebuild wrote no {name}"
    committed = report / name
    if committed.suffix == ".csv":
        differences = _csv_differences(committed, fresh)
    else:
        old, new = committed.read_text().splitlines(), fresh.read_text().splitlines()
        differences = [f"line {i + 1}: committed {a!r}, rebuilt {b!r}"
                       for i, (a, b) in enumerate(zip(old, new)) if a != b]
        if len(old) != len(new):
            differences.append(f"{len(old)} committed lines, {len(new)} rebuilt")
    assert not differences, (f"{committed.relative_to(REPO_ROOT)} differs from its rebuild "
                             f"({len(differences)}): " + "; ".join(differences[:4]))


@pytest.mark.skipif(not ARCHIVED, reason="no committed report with archived runs")
@pytest.mark.parametrize("report", ARCHIVED, ids=[str(p.relative_to(REPORTS)) for p in ARCHIVED])
def test_committed_summary_and_figures_equal_their_rebuild(rebuilt, report):
    committed = json.loads((report / "summary.json").read_text())
    fresh = json.loads((rebuilt[report] / "summary.json").read_text())
    assert set(committed) == set(fresh)
    for key, entry in committed.items():
        for field, value in entry.items():
            other = fresh[key].get(field)
            if isinstance(value, list):
                assert len(value) == len(other) and all(
                    _same_cell(float(a), float(b)) for a, b in zip(value, other)), (key, field)
            elif isinstance(value, float):
                assert _same_cell(value, float(other)), (key, field, value, other)
            else:
                assert value == other, (key, field, value, other)
    for figure in report.glob("*.png"):
        assert (rebuilt[report] / figure.name).is_file(), figure.name


@pytest.mark.skipif(not ARCHIVED, reason="no committed report with archived runs")
@pytest.mark.parametrize("report", ARCHIVED, ids=[str(p.relative_to(REPORTS)) for p in ARCHIVED])
def test_committed_report_is_its_rebuild_byte_for_byte(rebuilt, report):
    """Every file the rebuild writes beside the report (tables, CSVs, figures, summary, runs
    list, environment) equals the committed one byte for byte; the cell-by-cell test above says
    where a table moved."""
    written = sorted(p.name for p in rebuilt[report].iterdir() if p.is_file())
    committed = [name for name in written if (report / name).is_file()]
    assert {"summary.json", "runs.json", "environment.json", "table3.csv"} <= set(committed)
    assert [n for n in written if n not in committed] == []  # the rebuild writes nothing new
    differing = [name for name in committed
                 if (report / name).read_bytes() != (rebuilt[report] / name).read_bytes()]
    assert differing == [], f"{report.relative_to(REPO_ROOT)}: {differing} differ from the rebuild"


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
    would train today, so a rerun from an empty cache retrains these runs (not others). Its
    numbers reproduce exactly only on the environment that trained them; elsewhere only their
    distribution over seeds does (`nas-harness check` tells the two apart)."""
    from harness.rundir import RunDir

    report = REPORTS / "cpu"
    design = _design("cpu")
    runs = json.loads((report / "runs.json").read_text())
    assert runs
    for r in runs:
        config = design.get((r["label"], r["seed"]))
        assert config is not None, f"{r['label']} seed {r['seed']} is not in the cpu design"
        assert config.hash() == r["config_hash"], r["archive"]
        archived = RunDir(report / r["archive"]).read_config()["config"]
        assert archived["num_threads"] == config.num_threads, r["archive"]


def _provenance_records():
    for page in sorted(REPORTS.glob("**/report.md")):
        for line in page.read_text().splitlines():
            if line.startswith("- git commit:"):
                yield pytest.param(page, line.split(":", 1)[1].strip(),
                                   id=str(page.relative_to(REPORTS)))
    for page in sorted(REPORTS.glob("**/report.html")):
        for commit in re.findall(r"git commit: ([0-9a-f]{7,40}(?:-dirty)?)", page.read_text()):
            yield pytest.param(page, commit, id=str(page.relative_to(REPORTS)))
    for baseline in sorted((REPORTS / "baselines").glob("*.json")):
        yield pytest.param(baseline, json.loads(baseline.read_text()).get("git_commit"),
                           id=str(baseline.relative_to(REPORTS)))


@pytest.mark.parametrize("page, commit", list(_provenance_records()))
def test_no_committed_report_records_a_dirty_commit(page, commit):
    """A committed report or baseline names a commit anyone can check out: written from a clean
    tree (`guard_tracked_output` refuses otherwise)."""
    assert commit, f"{page}: no git commit recorded"
    assert not commit.endswith("-dirty"), f"{page} was written from a dirty tree ({commit})"
