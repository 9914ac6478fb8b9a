"""Figures of the reproduction, drawn from plain data (result dicts, run directories).

Every function takes its data and an output path, draws with matplotlib's Agg canvas (the
object-oriented `Figure` API: no pyplot, no global backend switch, nothing left open), writes the
PNG atomically (a temporary .png in the same folder, then os.replace) and returns the path.
Missing data raises HarnessError with a one-line message naming the run directory and what is
missing.

  fig1_rank_scatter     ground-truth rank vs supernet rank, one panel per sampler (paper Fig. 1)
  fig2_layer_distances  per-layer mean pairwise gradient cosine distance vs epoch (paper Fig. 2)
  tau_vs_temperature    Kendall tau vs sampling temperature, with the paper's values (Table 5)
  density_vs_accuracy   density of each network (last computed snapshot) vs its accuracy
  sampling_frequency    draws per architecture and epoch (heatmap), or final totals (bar chart)
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.io import atomic_write_with

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


def _rc():
    import matplotlib

    return matplotlib.rc_context(_RC)


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
    """Every snapshots/epoch_XXXX.json of a run, sorted by epoch ([] if there are none)."""
    folder = Path(run_dir) / "snapshots"
    snaps = []
    for path in sorted(folder.glob("epoch_*.json")) if folder.is_dir() else []:
        try:
            snap = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise HarnessError(f"{path}: unreadable snapshot ({err})") from err
        snap.setdefault("epoch", int(path.stem.split("_")[-1]))
        snaps.append(snap)
    return sorted(snaps, key=lambda s: s["epoch"])


def _read_json(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as err:
        raise HarnessError(f"{path.parent}: no {path.name} ({what})") from err
    except (OSError, json.JSONDecodeError) as err:
        raise HarnessError(f"{path}: unreadable ({err})") from err


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


# ---------------------------------------------------------------------------- Figure 1

def _ranked_pairs(result: Mapping, truth) -> pd.DataFrame:
    """(key, truth_rank, supernet_rank) for the networks in both pred.csv and the ground truth."""
    run_dir = Path(str(result.get("run_dir", "")))
    pred_path = run_dir / "pred.csv"
    if not result.get("run_dir") or not pred_path.is_file():
        raise HarnessError(f"{run_dir}: no pred.csv (run '{result.get('label', '?')}' has not "
                           "been evaluated)")
    pred = pd.read_csv(pred_path, dtype={"key": str})
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
    panels = [(name, result, _ranked_pairs(result, truth_frame))
              for name, result in results_by_sampler.items()]
    with _rc():
        n_panels = len(panels)
        fig = _new_figure(max(10.0, 5.0 * n_panels), 4.8)
        axes = fig.subplots(1, n_panels, squeeze=False)[0]
        for ax, (name, result, pairs) in zip(axes, panels):
            n = len(pairs)
            ax.plot([1, n], [1, n], color="0.5", linestyle="--", linewidth=1,
                    label="perfect ranking (y = x)")
            ax.scatter(pairs["truth_rank"], pairs["supernet_rank"], s=28, alpha=0.8,
                       color="tab:blue" if "uniform" in name else "tab:orange",
                       edgecolor="black", linewidth=0.4, label="architecture")
            ax.set_xlim(0, n + 1)
            ax.set_ylim(0, n + 1)
            ax.set_aspect("equal", adjustable="box")
            ax.set_xlabel("ground-truth rank (1 = best)")
            ax.set_ylabel("supernet rank (1 = best)")
            seed = result.get("seed")
            ax.set_title(f"{name}" + (f" (seed {seed})" if seed is not None else ""))
            tau = (result.get("metrics") or {}).get("kendall_tau") or {}
            text = f"Kendall τ = {_fmt(tau.get('value'))}"
            if tau.get("ci_low") is not None and tau.get("ci_high") is not None:
                text += f"\n95% CI [{_fmt(tau['ci_low'], 2)}, {_fmt(tau['ci_high'], 2)}]"
            text += f"\nn = {n} networks"
            ax.text(0.03, 0.97, text, transform=ax.transAxes, va="top", ha="left",
                    bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85})
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False)
        bench = next(iter(results_by_sampler.values())).get("benchmark") or ""
        fig.suptitle(f"Supernet rank vs ground-truth rank{' on ' + bench if bench else ''}")
        return _save(fig, out, rect=(0, 0.07, 1, 1))


# ---------------------------------------------------------------------------- Figure 2

def fig2_layer_distances(run_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Mean pairwise cosine distance of architecture gradients per layer vs epoch (paper Fig. 2).

    Left: a training batch; right: the fixed probe (validation) batch. One line per layer group,
    coloured from early (dark) to late (light) layers; x = epochs completed (snapshot epoch + 1).
    """
    run_dir = Path(run_dir)
    snaps = load_snapshots(run_dir)
    if not snaps:
        raise HarnessError(f"{run_dir}: no snapshots/epoch_*.json (only density samplers write them)")
    sides = [("per_layer_mean_distance_train", "training batches"),
             ("per_layer_mean_distance_probe", "fixed validation (probe) batch")]
    series = {}
    for field, _ in sides:
        rows = [(s["epoch"] + 1, s[field]) for s in snaps if s.get(field)]
        if not rows:
            raise HarnessError(f"{run_dir}: snapshots have no '{field}' (per-layer distances "
                               "are recorded by the 'debiased' sampler only)")
        layers = list(dict.fromkeys(layer for _, d in rows for layer in d))
        frame = pd.DataFrame([{layer: d.get(layer, np.nan) for layer in layers} for _, d in rows],
                             index=[e for e, _ in rows], dtype=float)
        series[field] = frame
    from matplotlib import colormaps
    from matplotlib.ticker import MaxNLocator

    with _rc():
        fig = _new_figure(10, 4.5)
        axes = fig.subplots(1, 2, sharey=True)
        for ax, (field, side) in zip(axes, sides):
            frame = series[field]
            cmap = colormaps["viridis"]
            n_layers = frame.shape[1]
            for i, layer in enumerate(frame.columns):
                colour = cmap(i / max(1, n_layers - 1) * 0.9)
                ax.plot(frame.index, frame[layer], marker="o" if len(frame) <= 30 else None,
                        markersize=3, color=colour, label=str(layer))
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("epochs completed")
            ax.set_ylabel("mean pairwise cosine distance (1 − cos)")
            ax.set_title(side)
            ax.grid(alpha=0.3)
            ax.legend(title="layer", loc="best")
        fig.suptitle(f"Gradient cosine distance between architectures per layer ({run_dir.name})")
        return _save(fig, out)


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
        raise HarnessError(f"{run_dir}: no snapshot with densities (snapshots/epoch_*.json with "
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
        config = json.loads((run_dir / "config.json").read_text())["config"]
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
    done_path = run_dir / "done.json"
    if not done_path.is_file():
        raise HarnessError(f"{run_dir}: no sampling counts (neither snapshots with "
                           "'sample_counts' nor done.json)")
    totals = _read_json(done_path, "written when training finished").get("sampling_counts")
    if not totals:
        raise HarnessError(f"{done_path}: no 'sampling_counts'")
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
    from matplotlib import colormaps

    with _rc():
        height = max(4.5, 0.2 * len(shown_keys) + 1.8)
        fig = _new_figure(10, height)
        ax = fig.subplots()
        image = ax.imshow(data, aspect="auto", interpolation="nearest", cmap=colormaps["magma"],
                          extent=(0.5, len(epochs) + 0.5, len(shown_keys) - 0.5, -0.5))
        ax.set_yticks(range(len(shown_keys)))
        ax.set_yticklabels(shown_keys, fontsize=FONT_SIZE - 1)
        step = max(1, math.ceil(len(epochs) / 20))
        ticks = list(range(1, len(epochs) + 1, step))
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(epochs[t - 1]) for t in ticks])
        if len(shown_keys) < len(keys):
            ax.axhline(HEATMAP_KEEP - 0.5, color="white", linewidth=2)
        ax.set_xlabel("epoch (draws counted at the end of each epoch)")
        ax.set_ylabel("architecture (sorted by total draws)")
        ax.set_title(f"Draws per architecture and epoch\n({run_dir.name}; {note})")
        colorbar = fig.colorbar(image, ax=ax, pad=0.01)
        colorbar.set_label("draws in the epoch (paths)")
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
