"""Figures and the report page, on fake run directories (no training)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from harness.errors import HarnessError
from harness.experiments import figures
from harness.experiments.report import build_report, markdown_to_html
from harness.rundir import RunDir
from harness.spaces import get_space

LAYERS = ["stem", "layer1", "layer2", "layer3"]
EPOCHS = 3


def pooling_keys() -> list[str]:
    space = get_space("pooling")
    return [space.key(a) for a in space.enumerate()]


def truth_frame(seed: int = 0) -> pd.DataFrame:
    keys = pooling_keys()
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"key": keys, "accuracy": 85 + 8 * rng.random(len(keys))})


def make_run(root: Path, sampler: str, seed: int = 0, snapshots: bool = True,
             noise: float = 3.0) -> dict:
    """A run dir with its config, snapshots (EPOCHS epochs, 4 layers), done marker, predictions
    and result; returns the result dict."""
    keys = pooling_keys()
    run_dir = root / f"{sampler}-s{seed}"
    rd = RunDir(run_dir)
    rng = np.random.default_rng(seed + 1)
    config = {"space": "pooling", "benchmark": "pooling", "sampler": sampler,
              "sampler_options": {}, "seed": seed, "epochs": EPOCHS, "warmup_epochs": 1}
    rd.write_config({"config": config, "config_hash": "abc123", "harness_version": "0.1.0",
                     "git_commit": None})
    counts = dict.fromkeys(keys, 0)
    if snapshots:
        for epoch in range(EPOCHS):
            for key in rng.choice(keys, size=200):
                counts[str(key)] += 1
            snap = {
                "epoch": epoch, "active": epoch >= 1, "computed": epoch >= 1, "keys": keys,
                "class_size": [1] * len(keys),
                "density": list(rng.random(len(keys)) + 1) if epoch >= 1 else None,
                "probability": list(np.full(len(keys), 1 / len(keys))) if epoch >= 1 else None,
                "per_layer_mean_distance_probe": {
                    layer: 0.2 + 0.1 * i + 0.05 * epoch for i, layer in enumerate(LAYERS)},
                "per_layer_mean_distance_train": {
                    layer: 0.3 + 0.1 * i - 0.02 * epoch for i, layer in enumerate(LAYERS)},
                "sample_counts": {k: v for k, v in counts.items() if v},
                "options": {"estimator": "inverse_mean_distance"},
            }
            rd.write_snapshot(epoch, snap)
    else:
        for key in rng.choice(keys, size=600):
            counts[str(key)] += 1
    rd.write_done({"epochs": EPOCHS,
                   "sampling_counts": {k: v for k, v in counts.items() if v}})
    acc = truth_frame().set_index("key")["accuracy"]
    pred = pd.DataFrame({"key": keys,
                         "supernet_accuracy": [acc[k] + noise * rng.standard_normal() for k in keys],
                         "loss": rng.random(len(keys))})
    pred.to_csv(rd.predictions_path, index=False)
    result = {
        "label": f"pooling/{sampler}", "profile": "smoke", "space": "pooling",
        "benchmark": "pooling", "sampler": sampler, "sampler_options": {}, "seed": seed,
        "config_hash": "abc123", "run_dir": str(run_dir), "n": len(keys),
        "metrics": {
            "kendall_tau": {"name": "kendall_tau", "value": 0.283, "ci_low": 0.1, "ci_high": 0.45,
                            "higher_is_better": True, "n": len(keys)},
            "spearman": {"name": "spearman", "value": 0.41, "ci_low": 0.2, "ci_high": 0.6,
                         "higher_is_better": True, "n": len(keys)},
        },
    }
    rd.write_result(result)
    return result


def assert_png(path: Path, min_width: int = 800) -> None:
    path = Path(path)
    assert path.is_file()
    assert path.read_bytes()[:4] == b"\x89PNG"
    with Image.open(path) as image:
        assert image.width >= min_width and image.height >= 300
    assert not list(path.parent.glob(f".{path.stem}.*")), "temporary file left behind"


@pytest.fixture()
def runs(tmp_path) -> dict[str, dict]:
    return {"uniform": make_run(tmp_path / "runs", "uniform", noise=5.0, snapshots=False),
            "debiased": make_run(tmp_path / "runs", "debiased", noise=2.0)}


def test_every_figure_writes_a_png(tmp_path, runs):
    out = tmp_path / "fig"
    truth = truth_frame()
    debiased = Path(runs["debiased"]["run_dir"])
    assert_png(figures.fig1_rank_scatter(runs, truth, out / "fig1.png"))
    assert_png(figures.fig2_layer_distances(debiased, out / "fig2.png"))
    rows = [{"tau": t, "kendall_mean": k, "ci_low": k - 0.1, "ci_high": k + 0.1}
            for t, k in [(0.1, 0.6), (0.5, 0.62), (7, 0.7), (50, 0.69)]]
    paper = [{"tau": t, "paper": p} for t, p in [(0.1, 0.65), (0.5, 0.67), (7, 0.74), (50, 0.72)]]
    assert_png(figures.tau_vs_temperature(rows, out / "tau.png", paper=paper), min_width=800)
    assert_png(figures.density_vs_accuracy(debiased, truth, "pooling", out / "density.png"))
    assert_png(figures.sampling_frequency(debiased, out / "freq.png"))
    # uniform run: no snapshots -> bar chart of the done marker's totals
    assert_png(figures.sampling_frequency(runs["uniform"]["run_dir"], out / "freq_uniform.png"))


def test_heatmap_with_many_architectures_keeps_top_and_bottom(tmp_path):
    run_dir = tmp_path / "big"
    keys = [f"a{i:03d}" for i in range(80)]
    for epoch in range(2):
        counts = {k: (i + 1) * (epoch + 1) for i, k in enumerate(keys)}
        RunDir(run_dir).write_snapshot(epoch, {"epoch": epoch, "sample_counts": counts})
    shown, note = figures._select_rows(keys)
    assert len(shown) == 60 and "80" in note
    assert_png(figures.sampling_frequency(run_dir, tmp_path / "big.png"))


def test_missing_data_raises(tmp_path, runs):
    empty = tmp_path / "empty"
    empty.mkdir()
    uniform = runs["uniform"]["run_dir"]
    with pytest.raises(HarnessError, match="snapshots"):
        figures.fig2_layer_distances(uniform, tmp_path / "x.png")
    with pytest.raises(HarnessError, match="densities"):
        figures.density_vs_accuracy(uniform, truth_frame(), "pooling", tmp_path / "x.png")
    with pytest.raises(HarnessError, match="empty.*sampling counts"):
        figures.sampling_frequency(empty, tmp_path / "x.png")
    with pytest.raises(HarnessError, match=re.escape(RunDir.PREDICTIONS)):
        figures.fig1_rank_scatter({"uniform": {**runs["uniform"], "run_dir": str(empty)}},
                                  truth_frame(), tmp_path / "x.png")
    with pytest.raises(HarnessError, match="kendall_mean"):
        figures.tau_vs_temperature([{"tau": 1.0}], tmp_path / "x.png")
    # a snapshot without per-layer distances (e.g. the online sampler)
    online = tmp_path / "online"
    RunDir(online).write_snapshot(0, {"epoch": 0, "ready": True})
    with pytest.raises(HarnessError, match="per_layer_mean_distance_train"):
        figures.fig2_layer_distances(online, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_build_report(tmp_path, runs):
    report_dir = tmp_path / "reports" / "smoke"
    report_dir.mkdir(parents=True)
    run_rel = Path("..", "..", "runs", "debiased-s0").as_posix()
    (report_dir / "table4.md").write_text(
        "## Table 4: density estimator\n\n| estimator | Kendall τ | paper |\n|---|---:|---:|\n"
        f"| inverse mean distance | [0.283]({run_rel}) | 0.34 |\n")
    (report_dir / "table3.md").write_text(
        "## Table 3: rank correlation\n\nMeasured beside the **paper**.\n\n"
        "| benchmark | sampling | Kendall τ | paper |\n|:---|---|---:|---:|\n"
        f"| Pooling | uniform | [0.150](../../runs/uniform-s0) | 0.16 |\n"
        f"| Pooling | debiased | [0.283]({run_rel}) | 0.34 |\n")
    figures.fig2_layer_distances(runs["debiased"]["run_dir"], report_dir / "fig2_layers.png")
    (report_dir / "runs.json").write_text(json.dumps(list(runs.values())))

    paths = build_report("smoke", report_dir)
    assert set(paths) == {"markdown", "html"}
    md = paths["markdown"].read_text()
    page = paths["html"].read_text()
    assert md.index("Table 3") < md.index("Table 4") < md.index("## Runs")
    # figures get their caption's heading, and the caption under them, never a bare file name
    heading, caption = figures.figure_caption("fig2_layers")
    assert heading.startswith("Figure 2:") and caption
    assert f"### {heading}" in md and f"![{heading}](fig2_layers.png)" in md and caption in md
    assert "### fig2_layers" not in md
    assert "smoke" in md and "harness version" in md
    assert "<table" in page and page.count("<table") == 3
    assert "data:image/png;base64," in page
    assert f'<a href="{run_rel}">0.283</a>' in page
    assert '<a href="../../runs/debiased-s0/">0.283</a>' in page  # Runs section, relative link
    assert "<strong>paper</strong>" in page
    assert "](" not in page
    assert not re.search(r"<img src=\"fig2", page)  # embedded, not linked


def test_build_report_errors_and_converter(tmp_path):
    with pytest.raises(HarnessError, match="no such report folder"):
        build_report("smoke", tmp_path / "missing")
    (tmp_path / "runs.json").write_text("{broken")
    with pytest.raises(HarnessError, match="runs.json"):
        build_report("smoke", tmp_path)
    out = markdown_to_html("# T\n\n- a `x|y`\n- [b](c)\n\n| a \\| b | c |\n|---|:-:|\n| 1 | 2 |")
    assert "<h1" in out and "<ul>" in out and "<code>x|y</code>" in out and "<a href=\"c\">b</a>" in out
    assert "<td>1</td>" in out and "<td style=\"text-align:center\">2</td>" in out
    assert "<th>a | b</th>" in out


def test_paired_seeds_figure(tmp_path):
    from harness.errors import HarnessError
    from harness.experiments.figures import paired_seeds

    results = [{"benchmark": "pooling-fmnist", "sampler": s, "seed": k, "label": f"pooling/{s}",
                "metrics": {"kendall_tau": {"value": 0.1 * k + (0.05 if s == "debiased" else 0)}}}
               for s in ("uniform", "debiased") for k in range(4)]
    results.append({**results[0], "label": "pooling/tau=0.5", "sampler": "debiased"})  # ablation
    out = paired_seeds(results, tmp_path / "paired.png")
    assert out.is_file() and out.stat().st_size > 10_000
    with pytest.raises(HarnessError, match="no results carry spearman"):
        paired_seeds(results, tmp_path / "none.png", metric="spearman")
    assert not (tmp_path / "none.png").exists()


def test_fig1_statistics_cover_no_point_and_the_legend_matches_every_panel(runs):
    """Issue 20: the statistics box covered points (a highlighted top-20% one too), and the
    legend drew the top-20% marker in the first panel's colour only."""
    import matplotlib.colors as mcolors

    ordered = sorted(runs.items(), key=lambda item: item[0] != "uniform")
    panels = [(name, r, figures._ranked_pairs(r, truth_frame())) for name, r in ordered]
    with figures._rc():
        fig = figures.fig1_figure(panels, "pooling")
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        for ax, (name, _, pairs) in zip(fig.axes, panels):
            assert "Kendall τ" in ax.get_title()
            points = ax.transData.transform(pairs[["truth_rank", "supernet_rank"]].to_numpy(float))
            for text in ax.texts:  # any text drawn inside the axes must miss every point
                box = text.get_window_extent(renderer)
                assert not any(box.contains(x, y) for x, y in points), (name, text.get_text())
            title = ax.title.get_window_extent(renderer)
            assert title.y0 >= ax.get_window_extent(renderer).y1 - 1  # above the data area
        legend = fig.legends[0]
        panel_colours = {mcolors.to_hex(c) for c in ("tab:blue", "tab:orange")}
        for handle in legend.legend_handles:
            face = getattr(handle, "get_markerfacecolor", lambda: "none")()
            if face != "none":
                assert mcolors.to_hex(face) not in panel_colours
        fig.clear()
