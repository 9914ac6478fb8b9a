"""Figures of the reproduction, drawn from plain data (result dicts, run directories).

Every function takes its data and an output path, draws with matplotlib's Agg canvas (the
object-oriented `Figure` API: no pyplot, no global backend switch, nothing left open), writes the
PNG atomically (a temporary .png in the same folder, then os.replace) and returns the path.
Missing data raises HarnessError with a one-line message naming the run directory and what is
missing.

  fig1_rank_scatter     ground-truth rank vs supernet rank, one panel per sampler (paper Fig. 1)
  fig2_layer_distances  per-tensor mean pairwise gradient cosine distance vs fraction of training,
                        with the authors' curves overlaid (paper Fig. 2); fig2_overlay_table and
                        early_mean_summary give the numbers behind it
  tau_vs_temperature    Kendall tau vs sampling temperature, with the paper's values (Table 5)
  density_vs_accuracy   density of each network (last computed snapshot) vs its accuracy
  sampling_frequency    draws per architecture and epoch (heatmap), or final totals (bar chart)
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.formatting import fixed
from harness.errors import DataFileError, HarnessError
from harness.io import atomic_write_with
from harness.rundir import RunDir

DPI = 120
FONT_SIZE = 11
MIN_DENSITY_POINTS = 8  # fewer networks make a scatter and its Spearman meaningless
MAX_HEATMAP_ROWS = 60  # more architectures than this: show the 30 most and 30 least sampled
HEATMAP_KEEP = 30
MAX_ENUMERATE_FOR_ZEROS = 100_000  # list never-sampled codes of enumerable spaces up to this size

_RC = {
    "font.size": FONT_SIZE,
    "axes.titlesize": FONT_SIZE + 1,
    "axes.labelsize": FONT_SIZE,
    "legend.fontsize": FONT_SIZE - 1,
    "xtick.labelsize": FONT_SIZE - 1,
    "ytick.labelsize": FONT_SIZE - 1,
    "figure.titlesize": FONT_SIZE + 2,
}


# ---------------------------------------------------------------------------- plumbing

def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, out: str | os.PathLike, rect: tuple | None = None) -> Path:
    """Tight layout (within `rect`), then write the PNG atomically; the figure is cleared."""
    try:
        fig.tight_layout(rect=rect)
        return atomic_write_with(Path(out), lambda handle: fig.savefig(handle, format="png", dpi=DPI))
    finally:
        fig.clear()


@contextmanager
def _rc():
    """Every figure's matplotlib settings, and numpy's global generator fixed while it is drawn:
    seaborn's strip-plot jitter draws from it, and a figure must be the same bytes each time."""
    import matplotlib

    state = np.random.get_state()
    np.random.seed(0)
    try:
        with matplotlib.rc_context(_RC):
            yield
    finally:
        np.random.set_state(state)


def _frame_of(truth) -> pd.DataFrame:
    """Accept a GroundTruth (uses .frame) or a DataFrame with columns key, accuracy."""
    frame = getattr(truth, "frame", truth)
    if not isinstance(frame, pd.DataFrame) or not {"key", "accuracy"} <= set(frame.columns):
        raise HarnessError("ground truth must be a DataFrame (or GroundTruth) with columns "
                           "'key' and 'accuracy'")
    return frame


def _space_of(space):
    if isinstance(space, str):
        from harness.spaces import get_space

        return get_space(space)
    return space


def _truth_by_canonical(truth, space) -> pd.Series:
    """Accuracy per canonical key (equivalent codes averaged, as in networks='distinct')."""
    frame = _frame_of(truth)
    space = _space_of(space)
    keys = frame["key"].astype(str).map(space.canonical_key)
    return frame["accuracy"].astype(float).groupby(keys.values).mean()


def load_snapshots(run_dir: str | os.PathLike) -> list[dict]:
    """Every snapshot of a run (plain or archived .json.gz), sorted by epoch ([] if none)."""
    try:
        snaps = RunDir(run_dir).snapshots()
    except DataFileError as err:
        raise HarnessError(str(err)) from None
    return sorted(snaps, key=lambda s: s["epoch"])


def _fmt(value, digits: int = 3) -> str:
    return fixed(value, digits, missing="n/a")  # figures say "n/a" where tables say "-"


# ---------------------------------------------------------------------------- Figure 1

def _ranked_pairs(result: Mapping, truth) -> pd.DataFrame:
    """(key, truth_rank, supernet_rank) for the networks in both pred.csv and the ground truth."""
    run_dir = Path(str(result.get("run_dir", "")))
    pred_path = RunDir(run_dir).predictions_path
    pred = RunDir(run_dir).read_predictions() if result.get("run_dir") else None
    if pred is None:
        raise HarnessError(f"{run_dir}: no {RunDir.PREDICTIONS} (run "
                           f"'{result.get('label', '?')}' has not been evaluated)")
    if not {"key", "supernet_accuracy"} <= set(pred.columns):
        raise HarnessError(f"{pred_path}: needs columns key, supernet_accuracy")
    if not result.get("space"):
        raise HarnessError(f"{run_dir}: result has no 'space' to match keys with the ground truth")
    space = _space_of(result["space"])
    acc = _truth_by_canonical(truth, space)
    score = (pred["supernet_accuracy"].astype(float)
             .groupby(pred["key"].astype(str).map(space.canonical_key).values).mean())
    both = pd.DataFrame({"score": score}).join(acc.rename("accuracy"), how="inner").dropna()
    if both.empty:
        raise HarnessError(f"{pred_path}: no key in common with the ground truth")
    both["truth_rank"] = both["accuracy"].rank(ascending=False, method="average")
    both["supernet_rank"] = both["score"].rank(ascending=False, method="average")
    return both.rename_axis("key").reset_index()


GT_TOP_FRACTION = 0.2  # the paper's Figure 1 caption: the ground-truth top 20%

# Each figure file's heading and caption in the report, by file-name prefix ("{space}" is the
# rest of the name).
CAPTIONS = {
    "fig1_": ("Figure 1 ({space}): supernet rank against ground-truth rank",
              "One panel per sampler (seed 0). Each point is an architecture; the shaded band "
              "and the outlined points are the ground-truth top 20%, the dashed line a perfect "
              "ranking. Kendall tau with its bootstrap interval is in each panel's title."),
    "fig2": ("Figure 2: gradient cosine distance between architectures over training",
             "Mean pairwise cosine distance of the architectures' gradients per weight tensor, "
             "against the fraction of training done: left on training batches, right on the "
             "fixed probe batch; the authors' curves are overlaid where recorded."),
    "paired_": ("Paired comparison with uniform ({space})",
                "Left: every seed's Kendall tau per arm, with the mean and its 95% t interval. "
                "Right: each arm's difference from uniform on the same seed, with its mean, "
                "interval and the smallest difference this design detects at 80% power "
                "(shaded)."),
    "sampling_frequency_": ("How often each architecture was drawn ({space}, debiased seed 0)",
                            "Draws per architecture during training, from the run's cumulative "
                            "counts: what the sampler audit tests against uniform."),
    "density_vs_accuracy_": ("Density against ground-truth accuracy ({space})",
                             "Each architecture's density in the debiased run's last recompute "
                             "(x) against its stand-alone accuracy (y); Spearman in the title."),
    "tau_vs_temperature": ("Kendall tau against the sampling temperature (Table 5)",
                           "Ours: mean over seeds with 95% intervals. The paper's "
                           "NAS-Bench-Macro numbers (CIFAR-10) are drawn as separate markers: "
                           "another benchmark and dataset, not a measured difference."),
}


def figure_caption(stem: str) -> tuple[str, str]:
    """(heading, caption) of a figure file; the file name itself for an unknown figure."""
    for prefix, (heading, caption) in CAPTIONS.items():
        if stem.startswith(prefix):
            return heading.format(space=stem[len(prefix):]), caption
    return stem, ""


def fig1_rank_scatter(results_by_sampler: Mapping[str, Mapping], truth_frame,
                      out: str | os.PathLike) -> Path:
    """Ground-truth rank (x) vs supernet rank (y), 1 = best, one panel per sampler (paper Fig. 1).

    results_by_sampler: {panel title (e.g. "uniform"): result dict with run_dir, space and
    metrics.kendall_tau}. Ranks are over the networks present in both pred.csv and the ground
    truth (canonical keys; ties share the average rank). Each panel is annotated with the
    result's Kendall tau (and its CI when recorded) and the number of points drawn.
    """
    if not results_by_sampler:
        raise HarnessError("fig1_rank_scatter: no results given")
    ordered = sorted(results_by_sampler.items(), key=lambda item: item[0] != "uniform")
    panels = [(name, result, _ranked_pairs(result, truth_frame)) for name, result in ordered]
    bench = next(iter(results_by_sampler.values())).get("benchmark") or ""
    with _rc():
        fig = fig1_figure(panels, bench)
        return _save(fig, out, rect=(0, 0.07, 1, 1))


def fig1_figure(panels: list, bench: str = ""):
    """Figure 1's matplotlib figure: (panel title, result, ranked pairs) per panel. The numbers
    sit in each panel's title, above the axes, so they never cover a point; the legend's markers
    are grey because each panel draws its points in its own colour."""
    from matplotlib.lines import Line2D

    n_panels = len(panels)
    fig = _new_figure(max(10.0, 5.0 * n_panels), 5.2)
    axes = fig.subplots(1, n_panels, squeeze=False)[0]
    for ax, (name, result, pairs) in zip(axes, panels):
        n = len(pairs)
        ax.plot([1, n], [1, n], color="0.5", linestyle="--", linewidth=1)
        top = pairs["truth_rank"] <= max(2, int(np.ceil(GT_TOP_FRACTION * n)))
        colour = "tab:blue" if "uniform" in name else "tab:orange"
        ax.scatter(pairs.loc[~top, "truth_rank"], pairs.loc[~top, "supernet_rank"], s=24,
                   alpha=0.45, color=colour, edgecolor="none")
        ax.scatter(pairs.loc[top, "truth_rank"], pairs.loc[top, "supernet_rank"], s=46,
                   alpha=0.95, color=colour, edgecolor="black", linewidth=1.0)
        ax.axvspan(0, top.sum() + 0.5, color="0.85", alpha=0.4, zorder=0)
        top_tau = (pd.Series(pairs.loc[top, "truth_rank"])
                   .corr(pairs.loc[top, "supernet_rank"], method="kendall")
                   if top.sum() >= 2 else float("nan"))
        ax.set_xlim(0, n + 1)
        ax.set_ylim(0, n + 1)
        ax.set_aspect("equal", adjustable="box")
        ax.set_xlabel("ground-truth rank (1 = best)")
        ax.set_ylabel("supernet rank (1 = best)")
        seed = result.get("seed")
        tau = (result.get("metrics") or {}).get("kendall_tau") or {}
        stats = f"Kendall τ {_fmt(tau.get('value'))}"
        if tau.get("ci_low") is not None and tau.get("ci_high") is not None:
            stats += f" [{_fmt(tau['ci_low'], 2)}, {_fmt(tau['ci_high'], 2)}]"
        stats += (f", n = {n}\nτ among the ground-truth top {GT_TOP_FRACTION:.0%}: "
                  f"{_fmt(top_tau)}")
        ax.set_title(f"{name}" + (f" (seed {seed})" if seed is not None else "") + "\n" + stats,
                     fontsize=FONT_SIZE)
    grey = "0.55"
    handles = [Line2D([], [], color="0.5", linestyle="--", linewidth=1),
               Line2D([], [], linestyle="none", marker="o", markersize=5, color=grey, alpha=0.6,
                      markeredgecolor="none"),
               Line2D([], [], linestyle="none", marker="o", markersize=7, color=grey,
                      markeredgecolor="black")]
    labels = ["perfect ranking (y = x)", "architecture (the panel's colour)",
              f"ground-truth top {GT_TOP_FRACTION:.0%} (shaded band)"]
    fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False)
    fig.suptitle(f"Supernet rank vs ground-truth rank{' on ' + bench if bench else ''}")
    return fig


# ---------------------------------------------------------------------------- Figure 2

FIG2_SIDES = (("train", "per_layer_mean_distance_train", "training batches"),
              ("probe", "per_layer_mean_distance_probe", "fixed validation (probe) batch"))
EARLY_MEAN = "early mean"  # the `tensor` of the rows of fig2_overlay_table that are means
MAX_COLOURBAR_LABELS = 30


def _run_config(run_dir: Path) -> dict:
    """config.json's resolved config ({} when absent or unreadable)."""
    try:
        data = RunDir(run_dir).read_config()
    except HarnessError:
        return {}
    config = data.get("config", data) if isinstance(data, dict) else {}
    return config if isinstance(config, dict) else {}


def _positive_int(value) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if value > 0 and float(value).is_integer() else None


def _training_fractions(run_dir: Path, snaps: list[dict]) -> tuple[dict[int, float], int, str]:
    """Fraction of training completed at the end of each snapshot's epoch, the run length used
    for snapshots without `fraction_of_training`, and a note when that length was not recorded
    in the snapshots (older runs: config.json's epochs, else the number of recorded epochs)."""
    total = next((n for n in (_positive_int(s.get("epochs")) for s in reversed(snaps)) if n), None)
    source = ""
    if total is None:
        total = _positive_int(_run_config(run_dir).get("epochs"))
        source = f"run length {total} epochs from config.json"
    if total is None:
        total = max(len(snaps), max(s["epoch"] for s in snaps) + 1)
        source = f"run length unknown, taken as the {total} recorded epochs"
    fractions, derived = {}, False
    for snap in snaps:
        value = snap.get("fraction_of_training")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            fractions[snap["epoch"]] = float(value)
        else:
            fractions[snap["epoch"]] = (snap["epoch"] + 1) / total
            derived = True
    note = (f"snapshots without fraction_of_training: x = (epoch + 1) / {total} ({source})"
            if derived and source else "")
    return fractions, total, note


def _fig2_data(run_dir: Path) -> dict[str, Any]:
    """Per-batch frames (index: snapshot epoch, columns: tensors), fractions, early tensors."""
    snaps = load_snapshots(run_dir)
    if not snaps:
        raise HarnessError(f"{run_dir}: no snapshots (only density samplers write them)")
    fractions, total, note = _training_fractions(run_dir, snaps)
    series = {}
    for side, field, _ in FIG2_SIDES:
        rows = [(s["epoch"], s[field]) for s in snaps if s.get(field)]
        if not rows:
            raise HarnessError(f"{run_dir}: snapshots have no '{field}' (per-layer distances "
                               "are recorded by the 'debiased' sampler only)")
        tensors = list(dict.fromkeys(t for _, d in rows for t in d))
        series[side] = pd.DataFrame([{t: d.get(t, np.nan) for t in tensors} for _, d in rows],
                                    index=pd.Index([e for e, _ in rows], name="epoch"),
                                    dtype=float)
    recorded = list(dict.fromkeys(t for frame in series.values() for t in frame.columns))
    from harness.benchmarks.reference import EARLY_TENSORS

    early = [t for t in EARLY_TENSORS if t in recorded]
    if early:
        label = "stem + blocks 1-3" + ("" if len(early) == len(EARLY_TENSORS)
                                       else f", {len(early)} of {len(EARLY_TENSORS)} recorded")
    else:  # another space: the tensors the density uses, where recorded
        features = next((s["feature_tensors"] for s in reversed(snaps)
                         if isinstance(s.get("feature_tensors"), list)), [])
        early = [t for t in features if t in recorded]
        label = "the density's tensors" if early else ""
    n_networks = next((len(s["figure_keys"]) for s in reversed(snaps)
                       if isinstance(s.get("figure_keys"), list) and s["figure_keys"]), None)
    return {"series": series, "fractions": fractions, "epochs": total, "note": note,
            "recorded": recorded, "early": early, "early_label": label,
            "n_networks": n_networks}


def _fig2_reference(reference, data_dir, recorded: Iterable[str]
                    ) -> tuple[pd.DataFrame | None, str]:
    """The authors' frame to overlay (or None) and, when asked for but not drawn, why (also one
    line on stderr)."""
    import sys

    from harness.benchmarks.reference import load_authors_grad_cosine, missing_reference_message
    from harness.errors import DataFileError

    if reference is False:
        return None, ""
    if reference is None or reference is True:
        try:
            frame = load_authors_grad_cosine(data_dir)
        except DataFileError as err:
            print(missing_reference_message(err), file=sys.stderr)
            return None, "reference file not in the data directory"
    elif isinstance(reference, pd.DataFrame):
        frame = reference
        if not {"tensor", "epoch", "fraction", "distance"} <= set(frame.columns):
            raise HarnessError("reference: a DataFrame from load_authors_grad_cosine (columns "
                               "tensor, epoch, fraction, distance)")
    else:
        raise HarnessError("reference: None (the registered file, if present), False (no "
                           "overlay) or a DataFrame from load_authors_grad_cosine")
    if not set(frame["tensor"]) & set(recorded):
        print("Figure 2: no recorded tensor is one of the authors' pooling-supernet tensors; "
              "drawn without their curves", file=sys.stderr)
        return None, "no recorded tensor is a pooling-supernet tensor"
    return frame, ""


def fig2_overlay_table(run_dir: str | os.PathLike, *, reference=None,
                       data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """The numbers behind Figure 2's overlay: one row per (batch, tensor, snapshot).

    Columns: batch ("train" | "probe"), tensor (harness name, or EARLY_MEAN for the mean over
    the early conv tensors, stem + blocks 1-3, of the run resp. of the authors), epoch (0-based
    snapshot epoch), fraction (of training completed: (epoch + 1) / epochs), harness_distance,
    and the authors' value at the saved epoch whose fraction (epoch / 200, an assumption: their
    run length is not stated) is nearest: authors_epoch, authors_fraction, authors_distance (NaN
    for a tensor they did not record, or without the reference file). reference: as in
    fig2_layer_distances. E.g. `early_mean_summary(table, after_fraction=warmup / epochs)`.
    """
    run_dir = Path(run_dir)
    data = _fig2_data(run_dir)
    ref, _ = _fig2_reference(reference, data_dir, data["recorded"])
    if ref is not None:
        from harness.benchmarks.reference import EARLY_TENSORS, mean_distance_by_epoch

        by_epoch = ref.pivot_table(index="epoch", columns="tensor", values="distance")
        saved = ref.groupby("epoch")["fraction"].first().sort_index()
        try:
            by_epoch[EARLY_MEAN] = mean_distance_by_epoch(ref, EARLY_TENSORS).set_index(
                "epoch")["distance"]
        except HarnessError:
            pass
    rows = []
    for side, frame in data["series"].items():
        columns = list(frame.columns)
        values = frame.copy()
        if data["early"]:
            values[EARLY_MEAN] = frame[[t for t in data["early"] if t in columns]].mean(axis=1)
            columns.append(EARLY_MEAN)
        for epoch in values.index:
            fraction = data["fractions"][epoch]
            a_epoch = a_fraction = None
            if ref is not None:
                a_epoch = int((saved - fraction).abs().idxmin())
                a_fraction = float(saved[a_epoch])
            for tensor in columns:
                a_dist = np.nan
                if ref is not None and tensor in by_epoch.columns:
                    a_dist = float(by_epoch.at[a_epoch, tensor])
                rows.append({"batch": side, "tensor": tensor, "epoch": int(epoch),
                             "fraction": fraction,
                             "harness_distance": float(values.at[epoch, tensor]),
                             "authors_epoch": a_epoch, "authors_fraction": a_fraction,
                             "authors_distance": a_dist})
    table = pd.DataFrame(rows, columns=["batch", "tensor", "epoch", "fraction",
                                        "harness_distance", "authors_epoch",
                                        "authors_fraction", "authors_distance"])
    table["authors_epoch"] = table["authors_epoch"].astype("Int64")
    table["authors_fraction"] = table["authors_fraction"].astype(float)
    return table


def early_mean_summary(table: pd.DataFrame, after_fraction: float = 0.0) -> pd.DataFrame:
    """Per batch, over the EARLY_MEAN rows of `fig2_overlay_table` with fraction > after_fraction
    (e.g. the warm-up's share of training): harness_mean (mean over those snapshots),
    harness_last, authors_min, authors_max (of the authors' early mean at the matched epochs),
    n_snapshots. For a line such as "harness early-layer mean distance after warm-up 0.12 vs
    authors' 0.14-0.20"."""
    rows = table[(table["tensor"] == EARLY_MEAN) & (table["fraction"] > after_fraction)]
    if rows.empty:
        raise HarnessError(f"no early-mean row after fraction {after_fraction:g} of training")
    rows = rows.sort_values("fraction")
    grouped = rows.groupby("batch", sort=False)
    return pd.DataFrame({
        "harness_mean": grouped["harness_distance"].mean(),
        "harness_last": grouped["harness_distance"].last(),
        "authors_min": grouped["authors_distance"].min(),
        "authors_max": grouped["authors_distance"].max(),
        "n_snapshots": grouped["epoch"].nunique(),
    })


def _short_tensor_name(name: str) -> str:
    """`layers.0.conv.weight` -> stem, `layers.4.downsample.0.weight` -> block 4 proj, ..."""
    parts = name.split(".")
    if len(parts) >= 3 and parts[0] == "layers" and parts[1].isdigit():
        if parts[1] == "0":
            return "stem"
        rest = ".".join(parts[2:-1] if parts[-1] == "weight" else parts[2:])
        return f"block {parts[1]} {rest.replace('downsample.0', 'proj')}"
    if name.endswith(".weight"):
        name = name[: -len(".weight")]
    return name if len(name) <= 24 else "…" + name[-23:]


def fig2_layer_distances(run_dir: str | os.PathLike, out: str | os.PathLike, *,
                         reference=None, data_dir: str | os.PathLike | None = None) -> Path:
    """Mean pairwise cosine distance of architecture gradients per weight tensor vs the fraction
    of training completed (paper Fig. 2), with the authors' curves overlaid.

    Left: a training batch; right: the fixed probe (validation) batch. One thin line per
    recorded tensor (stem included), coloured early (dark) to late (light) in forward order (the
    colour bar names them); a thick black line for the mean over the run's early conv tensors
    (stem + blocks 1-3; in other spaces the density's tensors). x = (snapshot epoch + 1) / run
    epochs, from the snapshots (older runs: config.json's epochs, else the number of recorded
    epochs, said under the figure).

    The authors' values (registered file `pooling-authors-grad-cosine`, Roshtkhari et al.'s
    notebook; which batch they used is unknown, so they are drawn on both panels) are overlaid
    dashed in the same colour per tensor, with their early mean as a thick dashed line; their x is
    saved epoch / 200 (their run length is not stated; the last saved epoch, 196, suggests 200).
    reference: None = the registered file from the data directory (`data_dir`, else
    HARNESS_DATA_DIR, else the user cache) when present; without it the figure is drawn without
    the overlay and one line on stderr says how to get it. False = no overlay; a DataFrame from
    `harness.benchmarks.reference.load_authors_grad_cosine` = that one.
    """
    run_dir = Path(run_dir)
    data = _fig2_data(run_dir)
    ref, why_not = _fig2_reference(reference, data_dir, data["recorded"])
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.lines import Line2D

    from harness.benchmarks.reference import (
        AUTHORS_LABEL,
        AUTHORS_RUN_EPOCHS,
        EARLY_TENSORS,
        mean_distance_by_epoch,
    )

    order = list(data["recorded"])
    authors_early = None
    if ref is not None:  # the authors' forward order, then anything only the harness recorded
        authors_order = list(dict.fromkeys(ref["tensor"]))
        order = authors_order + [t for t in order if t not in authors_order]
        try:
            authors_early = mean_distance_by_epoch(ref, EARLY_TENSORS)
        except HarnessError:
            authors_early = None
    cmap = colormaps["viridis"]
    colours = [cmap(i / max(1, len(order) - 1) * 0.9) for i in range(len(order))]
    colour = dict(zip(order, colours))
    early, early_label = data["early"], data["early_label"]

    footnote = [f"x: fraction of training completed; harness = (epoch + 1) / {data['epochs']} "
                "epochs"]
    if ref is not None:
        footnote[0] += (f"; authors = saved epoch / {AUTHORS_RUN_EPOCHS} (their run length is "
                        f"not stated: the last saved epoch, 196, suggests {AUTHORS_RUN_EPOCHS})")
    if data["note"]:
        footnote.append(data["note"])
    source = f"harness: pairwise over {data['n_networks']} networks" if data["n_networks"] else ""
    if ref is not None:
        source += ("; " if source else "") + (
            "authors: Pooling_grad_analysis.ipynb (Balanced-Mixture-of-SuperNets @ aa25882), "
            "36 networks x 3 runs; batch not stated, so drawn on both panels")
    elif why_not:
        source += ("; " if source else "") + f"authors' curves not drawn ({why_not})"
    if source:
        footnote.append(source)

    with _rc():
        fig = _new_figure(13, 6.6)
        grid = fig.add_gridspec(1, 3, width_ratios=[1, 1, 0.035])
        first = fig.add_subplot(grid[0, 0])
        axes = [first, fig.add_subplot(grid[0, 1], sharey=first)]
        cax = fig.add_subplot(grid[0, 2])
        for ax, (side, _, title) in zip(axes, FIG2_SIDES):
            frame = data["series"][side]
            x = [data["fractions"][e] for e in frame.index]
            if ref is not None:
                for tensor, rows in ref.groupby("tensor", sort=False):
                    rows = rows.sort_values("fraction")
                    ax.plot(rows["fraction"], rows["distance"], color=colour[tensor],
                            linewidth=1.0, linestyle=(0, (4, 2)), alpha=0.7)
                if authors_early is not None:
                    ax.plot(authors_early["fraction"], authors_early["distance"],
                            color="crimson", linewidth=3, linestyle=(0, (5, 2)), zorder=4)
            for tensor in frame.columns:
                ax.plot(x, frame[tensor], color=colour[tensor], linewidth=1.2, alpha=0.9,
                        marker="o" if len(x) <= 30 else None, markersize=2.5)
            if early:
                ax.plot(x, frame[[t for t in early if t in frame.columns]].mean(axis=1),
                        color="black", linewidth=3, zorder=5)
            ax.set_xlim(-0.02, 1.02)
            ax.set_xlabel("fraction of training completed")
            ax.set_title(title)
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("mean pairwise cosine distance (1 − cos)")
        axes[0].set_ylim(bottom=0)
        axes[1].tick_params(labelleft=False)

        n = len(order)
        bar = fig.colorbar(ScalarMappable(norm=BoundaryNorm(np.arange(n + 1) - 0.5, n),
                                          cmap=ListedColormap(colours)), cax=cax)
        step = max(1, math.ceil(n / MAX_COLOURBAR_LABELS))
        bar.set_ticks(list(range(0, n, step)))
        bar.set_ticklabels([_short_tensor_name(order[i]) for i in range(0, n, step)],
                           fontsize=FONT_SIZE - 3)
        bar.ax.invert_yaxis()  # early tensors at the top
        bar.set_label("weight tensor (forward order)")

        mid = cmap(0.45)
        handles = [Line2D([], [], color=mid, linewidth=1.2, marker="o", markersize=2.5),
                   Line2D([], [], color="black", linewidth=3)]
        labels = ["harness, one tensor (colour: bar at right)",
                  f"harness, mean over {early_label} ({len(early)} tensors)"]
        if not early:
            handles, labels = handles[:1], labels[:1]
        if ref is not None:
            handles.append(Line2D([], [], color=mid, linewidth=1.0, linestyle=(0, (4, 2))))
            labels.append(f"{AUTHORS_LABEL}: one tensor")
            if authors_early is not None:
                handles.append(Line2D([], [], color="crimson", linewidth=3,
                                      linestyle=(0, (5, 2))))
                labels.append(f"{AUTHORS_LABEL}: mean over stem + blocks 1-3 "
                              f"({int(authors_early['n_tensors'].max())} tensors)")
        # Figure fractions: footnote lines at the bottom, the legend above them, then the axes.
        line = (FONT_SIZE - 1) * 1.3 / 72 / fig.get_figheight()
        legend_bottom = 0.012 + len(footnote) * line + 0.01
        legend_rows = math.ceil(len(handles) / 2)
        fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False,
                   bbox_to_anchor=(0.5, legend_bottom))
        fig.text(0.5, 0.012, "\n".join(footnote), ha="center", va="bottom",
                 fontsize=FONT_SIZE - 2, color="0.25")
        fig.suptitle("Gradient cosine distance between architectures, per weight tensor "
                     f"({run_dir.name})")
        return _save(fig, out, rect=(0, legend_bottom + legend_rows * 2.2 * line, 1, 1))


# ---------------------------------------------------------------------------- temperature

def tau_vs_temperature(rows: Iterable[Mapping], out: str | os.PathLike,
                       paper: Iterable[Mapping] | None = None,
                       paper_label: str = "paper (Table 5, NAS-Bench-Macro)",
                       title: str = "Ranking quality vs sampling temperature") -> Path:
    """Kendall tau (mean over seeds, with CI error bars) vs sampling temperature, log x.

    rows: [{"tau", "kendall_mean", "ci_low", "ci_high"}] (ci_* optional; a row may also carry
    "paper"). paper: optional [{"tau", "paper"}]; paper values from either source are drawn as
    a second series.
    """
    rows = [dict(r) for r in rows]
    measured = [r for r in rows if r.get("kendall_mean") is not None and r.get("tau") is not None]
    paper_pts = {float(r["tau"]): float(r["paper"]) for r in rows
                 if r.get("paper") is not None and r.get("tau") is not None}
    for r in paper or []:
        if r.get("paper") is not None:
            paper_pts[float(r["tau"])] = float(r["paper"])
    if not measured:
        raise HarnessError("tau_vs_temperature: no row with both 'tau' and 'kendall_mean'")
    if any(float(r["tau"]) <= 0 for r in measured) or any(t <= 0 for t in paper_pts):
        raise HarnessError("tau_vs_temperature: temperatures must be > 0 (log-scale axis)")
    measured.sort(key=lambda r: float(r["tau"]))
    x = np.array([float(r["tau"]) for r in measured])
    y = np.array([float(r["kendall_mean"]) for r in measured])
    lo = np.array([float(r["ci_low"]) if r.get("ci_low") is not None else np.nan for r in measured])
    hi = np.array([float(r["ci_high"]) if r.get("ci_high") is not None else np.nan for r in measured])
    err = np.vstack([np.where(np.isnan(lo), 0, y - lo), np.where(np.isnan(hi), 0, hi - y)])
    with _rc():
        fig = _new_figure(7.5, 4.5)
        ax = fig.subplots()
        ax.errorbar(x, y, yerr=np.clip(err, 0, None), marker="o", capsize=4,
                    label="this reproduction (mean, 95% CI)")
        if paper_pts:
            px = sorted(paper_pts)
            ax.plot(px, [paper_pts[t] for t in px], marker="s", linestyle="--", color="tab:red",
                    label=paper_label)
        ax.set_xscale("log")
        ax.set_xlabel("sampling temperature τ (log scale)")
        ax.set_ylabel("Kendall τ with ground truth")
        ax.set_title(title)
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="best")
        return _save(fig, out)


# ---------------------------------------------------------------------------- density vs accuracy

def density_vs_accuracy(run_dir: str | os.PathLike, truth_frame, space,
                        out: str | os.PathLike) -> Path:
    """Density of each network in the last snapshot that computed densities (x) vs its
    ground-truth accuracy (y); Spearman correlation in the title. space: name or SearchSpace."""
    from scipy.stats import spearmanr

    run_dir = Path(run_dir)
    snaps = [s for s in load_snapshots(run_dir) if s.get("density") and s.get("keys")]
    if not snaps:
        raise HarnessError(f"{run_dir}: no snapshot with densities (a snapshot with "
                           "'keys' and 'density')")
    snap = snaps[-1]
    if len(snap["keys"]) != len(snap["density"]):
        raise HarnessError(f"{run_dir}: snapshot of epoch {snap['epoch']} has "
                           f"{len(snap['keys'])} keys but {len(snap['density'])} densities")
    space = _space_of(space)
    acc = _truth_by_canonical(truth_frame, space)
    dens = pd.Series(snap["density"], index=[space.canonical_key(k) for k in snap["keys"]],
                     dtype=float)
    dens = dens.groupby(level=0).mean()
    both = pd.DataFrame({"density": dens}).join(acc.rename("accuracy"), how="inner").dropna()
    if len(both) < MIN_DENSITY_POINTS:
        raise HarnessError(f"{run_dir}: only {len(both)} networks with a computed density are in the "
                           f"ground truth (need {MIN_DENSITY_POINTS}); a sampled benchmark and a "
                           "max_archs subset rarely overlap")
    rho = spearmanr(both["density"], both["accuracy"])[0]
    estimator = (snap.get("options") or {}).get("estimator", "inverse_mean_distance")
    with _rc():
        fig = _new_figure(7.5, 5.0)
        ax = fig.subplots()
        ax.scatter(both["density"], both["accuracy"], s=24, alpha=0.75, edgecolor="black",
                   linewidth=0.3)
        ax.set_xlabel(f"density α ({estimator}; arbitrary units)")
        ax.set_ylabel("ground-truth accuracy (%)")
        ax.set_title(f"Density vs accuracy, epoch {snap['epoch'] + 1} ({run_dir.name})\n"
                     f"Spearman ρ = {_fmt(float(rho))}, n = {len(both)} networks")
        ax.grid(alpha=0.3)
        return _save(fig, out)


# ---------------------------------------------------------------------------- sampling frequency

def _all_codes(run_dir: Path) -> list[str]:
    """Every code key of the run's space when it is enumerable and small enough, else []."""
    try:
        config = RunDir(run_dir).read_config()["config"]
        space = _space_of(config["space"])
        if not space.enumerable or space.size > MAX_ENUMERATE_FOR_ZEROS:
            return []
        return [space.key(a) for a in space.enumerate()]
    except (OSError, KeyError, TypeError, ValueError, HarnessError):
        return []


def _select_rows(order: list[str]) -> tuple[list[str], str]:
    """Rows to show (sorted by final count, most sampled first) and a note on what was cut."""
    if len(order) <= MAX_HEATMAP_ROWS:
        return order, f"{len(order)} architectures"
    shown = order[:HEATMAP_KEEP] + order[-HEATMAP_KEEP:]
    return shown, (f"{HEATMAP_KEEP} most and {HEATMAP_KEEP} least sampled of "
                   f"{len(order)} architectures")


def sampling_frequency(run_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """How often each architecture was drawn during training.

    With snapshots carrying cumulative `sample_counts`: a heatmap of draws per epoch
    (differences of consecutive snapshots), architectures on y sorted by final count (most
    sampled at the top), epochs on x. Never-sampled codes are included (count 0) when the run's
    space is enumerable (<= 100,000 codes). With more than 60 architectures only the 30 most and
    the 30 least sampled are shown, separated by a white line (the title says so). Keys are the
    codes as drawn (not canonicalised: probabilities are per code). Without snapshots: a bar
    chart of done.json's `sampling_counts` totals, with the same row selection.
    """
    run_dir = Path(run_dir)
    snaps = [s for s in load_snapshots(run_dir) if isinstance(s.get("sample_counts"), dict)]
    if snaps:
        return _frequency_heatmap(run_dir, snaps, out)
    done = RunDir(run_dir).read_done()
    if done is None:
        raise HarnessError(f"{run_dir}: no sampling counts (neither snapshots with "
                           f"'sample_counts' nor {RunDir.DONE})")
    totals = done.get("sampling_counts")
    if not totals:
        raise HarnessError(f"{RunDir(run_dir).done_path}: no 'sampling_counts'")
    return _frequency_bars(run_dir, totals, out)


def _frequency_heatmap(run_dir: Path, snaps: list[dict], out) -> Path:
    keys = list(dict.fromkeys([*_all_codes(run_dir), *(k for s in snaps for k in s["sample_counts"])]))
    cumulative = np.array([[s["sample_counts"].get(k, 0) for k in keys] for s in snaps], dtype=float)
    per_epoch = np.diff(cumulative, axis=0, prepend=0.0).T  # [arch, snapshot]
    final = cumulative[-1]
    order_idx = sorted(range(len(keys)), key=lambda i: (-final[i], keys[i]))
    shown_keys, note = _select_rows([keys[i] for i in order_idx])
    index = {k: i for i, k in enumerate(keys)}
    data = per_epoch[[index[k] for k in shown_keys]]
    epochs = [s["epoch"] + 1 for s in snaps]
    import seaborn as sns
    from matplotlib import colormaps
    from matplotlib.colors import BoundaryNorm

    # Counts are integers: a discrete scale, one colour per count up to 12, then binned.
    top = int(max(data.max(), 1))
    bounds = (np.arange(-0.5, top + 1.5, 1.0) if top <= 12
              else np.unique(np.round(np.linspace(-0.5, top + 0.5, 13))))
    cmap = colormaps["magma"].resampled(len(bounds) - 1)
    with _rc():
        height = max(4.5, 0.2 * len(shown_keys) + 1.8)
        fig = _new_figure(10, height)
        ax = fig.subplots()
        frame = pd.DataFrame(data, index=shown_keys, columns=epochs)
        sns.heatmap(frame, ax=ax, cmap=cmap, norm=BoundaryNorm(bounds, cmap.N),
                    cbar_kws={"label": "draws in the epoch (paths)", "pad": 0.01,
                              "ticks": np.round((bounds[:-1] + bounds[1:]) / 2).astype(int)},
                    linewidths=0, xticklabels=max(1, math.ceil(len(epochs) / 20)),
                    yticklabels=True)
        ax.tick_params(axis="y", labelsize=FONT_SIZE - 1)
        if len(shown_keys) < len(keys):
            ax.axhline(HEATMAP_KEEP, color="white", linewidth=2)
        ax.set_xlabel("epoch (draws counted at the end of each epoch)")
        ax.set_ylabel("architecture (sorted by total draws)")
        ax.set_title(f"Draws per architecture and epoch\n({run_dir.name}; {note})")
        return _save(fig, out)


def _frequency_bars(run_dir: Path, totals: dict[str, Any], out) -> Path:
    counts = {k: 0 for k in _all_codes(run_dir)}
    counts.update({str(k): int(v) for k, v in totals.items()})
    order = sorted(counts, key=lambda k: (-counts[k], k))
    shown, note = _select_rows(order)
    total = sum(counts.values())
    with _rc():
        height = max(4.5, 0.2 * len(shown) + 1.8)
        fig = _new_figure(10, height)
        ax = fig.subplots()
        ax.barh(range(len(shown)), [counts[k] for k in shown], color="tab:blue",
                label="total draws")
        ax.axvline(total / len(counts), color="tab:red", linestyle="--",
                   label="uniform expectation (total / architectures)")
        ax.set_yticks(range(len(shown)))
        ax.set_yticklabels(shown, fontsize=FONT_SIZE - 1)
        ax.invert_yaxis()
        if len(shown) < len(order):
            ax.axhline(HEATMAP_KEEP - 0.5, color="0.3", linewidth=1.5)
        ax.set_xlabel("draws over the whole training (paths)")
        ax.set_ylabel("architecture (sorted by total draws)")
        ax.set_title(f"Total draws per architecture\n({run_dir.name}; {note}; from done.json)")
        ax.legend(loc="lower right")
        return _save(fig, out)


# ---------------------------------------------------------------------------- paired seeds

def paired_seeds(results: Iterable[Mapping], out: str | os.PathLike,
                 metric: str = "kendall_tau", baseline: str = "uniform") -> Path:
    """The comparison Table 3 makes, per seed: left, the metric of every seed of every arm
    (points, with the mean and its 95% t interval); right, each arm's paired difference from
    the baseline per seed, with its mean, t interval and the design's minimum detectable
    difference at 80% power (shaded). Drawn with seaborn."""
    import seaborn as sns

    from harness.analysis.power import mde, paired_difference
    from harness.experiments.arms import arm_of

    # One run per (benchmark, arm, seed); arms, not samplers, since two arms can share a sampler.
    rows = [{"benchmark": r["benchmark"], "arm": arm_of(r), "seed": r["seed"],
             "value": (r.get("metrics") or {}).get(metric, {}).get("value")} for r in results]
    frame = pd.DataFrame(rows).dropna(subset=["value"])
    if frame.empty:
        raise HarnessError(f"paired_seeds: no results carry {metric}")
    wide = frame.pivot_table(index=["benchmark", "seed"], columns="arm", values="value")
    diffs = []
    for arm in [c for c in wide.columns if c != baseline]:
        if baseline not in wide.columns:
            break
        for (benchmark, seed), row in wide.iterrows():
            if np.isfinite(row[arm]) and np.isfinite(row[baseline]):
                diffs.append({"benchmark": benchmark, "comparison": f"{arm} - {baseline}",
                              "seed": seed, "difference": row[arm] - row[baseline]})
    diff = pd.DataFrame(diffs)
    with _rc():
        fig = _new_figure(11, 4.6)
        left, right = fig.subplots(1, 2)
        sns.stripplot(data=frame, x="benchmark", y="value", hue="arm", dodge=True,
                      alpha=0.6, size=5, ax=left, legend=False)
        sns.pointplot(data=frame, x="benchmark", y="value", hue="arm", dodge=0.53,
                      errorbar=("ci", 95), linestyle="none", markers="D", capsize=0.08, ax=left,
                      estimator="mean", seed=0)
        left.set_ylabel(metric.replace("_", " "))
        left.set_title("per seed\n(mean with 95% interval)")
        left.grid(alpha=0.3, axis="y")
        if not diff.empty:
            sns.stripplot(data=diff, x="benchmark", y="difference", hue="comparison", dodge=True,
                          alpha=0.7, size=6, ax=right)
            right.axhline(0.0, color="0.3", linewidth=1)
            groups = list(diff.groupby(["benchmark", "comparison"]))
            comparisons = list(dict.fromkeys(diff["comparison"]))
            benchmarks = list(dict.fromkeys(diff["benchmark"]))
            width = 0.8 / max(len(comparisons), 1)
            for (benchmark, comparison), group in groups:
                x = benchmarks.index(benchmark) - 0.4 + width * (comparisons.index(comparison) + 0.5)
                stats = paired_difference(np.zeros(len(group)), group["difference"].to_numpy())
                if stats["ci_low"] is not None:
                    right.errorbar([x], [stats["mean_difference"]],
                                   yerr=[[stats["mean_difference"] - stats["ci_low"]],
                                         [stats["ci_high"] - stats["mean_difference"]]],
                                   fmt="D", color="black", capsize=4)
                    detectable = mde(stats["sd_difference"], len(group))
                    if np.isfinite(detectable):
                        right.fill_between([x - width / 2, x + width / 2], -detectable,
                                           detectable, color="0.8", alpha=0.5, zorder=0)
            right.set_title("paired difference per seed\n(grey: within the MDE at 80% power)")
        right.set_ylabel(f"difference in {metric.replace('_', ' ')}")
        right.grid(alpha=0.3, axis="y")
        fig.suptitle("Samplers compared seed by seed (common random numbers)")
        return _save(fig, out)
