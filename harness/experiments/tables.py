"""The paper's tables as functions of cached run results, written as Markdown and CSV.

Every cell that aggregates runs gives the mean over seeds, the number of seeds and an interval:
a t interval of the mean over seeds when there are at least two, else the run's own bootstrap
interval over architectures. The paper's number stands beside ours, with the profile that made ours.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats

from harness.analysis.formatting import fixed
from harness.analysis.intervals import metric_bounds, seed_interval
from harness.experiments import paper
from harness.experiments.arms import arm_of
from harness.experiments.render import Table
from harness.io import atomic_write_csv
from harness.rundir import RunDir


def _link(text: str, run_dirs: list[str], report_dir: Path) -> str:
    """A Markdown link to the first run behind a number (its archived copy when there is one)."""
    if not run_dirs:
        return text
    first = run_dirs[0]
    target = first if not os.path.isabs(first) and first.startswith("runs/") and \
        (report_dir / first).exists() else os.path.relpath(first, report_dir)
    return f"[{text}]({target})"


def aggregate(results: list[dict], metric: str, group_by: str = "label") -> list[dict]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in results:
        groups[r[group_by]].append(r)
    rows = []
    missing = {"value": np.nan, "ci_low": None, "ci_high": None}
    for label, runs in groups.items():
        runs = sorted(runs, key=lambda r: r["seed"])
        # A result scored before a metric existed lacks it: nan, not an error.
        runs = [{**r, "metrics": {metric: missing, **r["metrics"]}} for r in runs]
        values = [r["metrics"][metric]["value"] for r in runs]
        boot = (runs[0]["metrics"][metric]["ci_low"], runs[0]["metrics"][metric]["ci_high"])
        mean, std, low, high = seed_interval(values, boot if len(runs) == 1 else None,
                                             metric_bounds(metric))
        rows.append({"label": label, "space": runs[0]["space"], "sampler": runs[0]["sampler"],
                     "arm": arm_of(runs[0]), "benchmark": runs[0]["benchmark"], "metric": metric, "n_seeds": len(runs),
                     "sampler_tau": (runs[0].get("sampler_options") or {}).get("tau"),
                     "mean": mean, "std": std, "ci_low": low, "ci_high": high,
                     "values": values, "seeds": [r["seed"] for r in runs],
                     "run_dirs": [r.get("archive") or r["run_dir"] for r in runs],
                     # Mean half-width of the runs' bootstrap intervals over architectures.
                     "boot_half": float(np.nanmean([
                         (r["metrics"][metric]["ci_high"] - r["metrics"][metric]["ci_low"]) / 2
                         if r["metrics"][metric]["ci_low"] is not None else np.nan for r in runs]))
                     if any(r["metrics"][metric]["ci_low"] is not None for r in runs) else np.nan,
                     "n_archs": runs[0]["n"], **audit_cells(runs)})
    return rows


def audited(sampler: str) -> bool:
    """Whether a sampler's arm shows its draw audit (the sampler says so: `audit_in_tables`)."""
    from harness.samplers import SAMPLERS

    return sampler in SAMPLERS and SAMPLERS.get(sampler).audit_in_tables
# A tilt drawn from a density less reliable than this is the probe's noise, not the density.
NOISE_RELIABILITY = 0.5


def audit_cells(runs: list[dict]) -> dict:
    """Mean KL and effective fraction of the runs' draws, and how many seeds' draws differ from
    uniform sampling (chi-squared p < 0.05), from each result's sampler audit."""
    audits = [r.get("audit") for r in runs]
    known = [a for a in audits if a]
    if not known:
        return {"kl_mean": np.nan, "effective_fraction_mean": np.nan,
                "alpha_reliability_mean": np.nan, "n_tilted": None, "n_tilted_by_noise": None,
                "n_audited": 0, "tests_debiasing": None, "audit_note": "no audit recorded"}
    kl = [a["kl_from_uniform_nats"] for a in known if a.get("kl_from_uniform_nats") is not None]
    eff = [a["effective_fraction"] for a in known if a.get("effective_fraction") is not None]
    tilted = sum(1 for a in known if a.get("tests_debiasing"))
    all_tilted = tilted == len(runs)
    reliability = [a["alpha_reliability"] for a in known if a.get("alpha_reliability") is not None]
    by_noise = sum(1 for a in known if a.get("tests_debiasing")
                   and a.get("alpha_reliability") is not None
                   and a["alpha_reliability"] < NOISE_RELIABILITY)
    note = "" if all_tilted else (
        f"does not test debiasing: the draws of {len(runs) - tilted} of {len(runs)} seeds cannot "
        "be told from uniform sampling (chi-squared p >= 0.05)")
    if by_noise:
        note = (note + "; " if note else "") + (
            f"tilted by noise: {by_noise} of {len(runs)} seeds drew from a density whose "
            f"split-half reliability is below {NOISE_RELIABILITY}")
    return {"kl_mean": float(np.mean(kl)) if kl else np.nan,
            "effective_fraction_mean": float(np.mean(eff)) if eff else np.nan,
            "alpha_reliability_mean": float(np.mean(reliability)) if reliability else np.nan,
            "n_tilted": tilted, "n_tilted_by_noise": by_noise, "n_audited": len(known),
            "tests_debiasing": all_tilted, "audit_note": note}


def _audit_columns(row: dict) -> dict:
    keys = ("sampler_tau", "kl_mean", "effective_fraction_mean", "alpha_reliability_mean",
            "n_tilted", "n_tilted_by_noise", "tests_debiasing", "audit_note")
    return {k: row.get(k) for k in keys}


def audit_text(row: dict) -> tuple[str, str, str]:
    """(KL cell, effective-fraction cell, flag cell) of a table row; '-' for non-density rows."""
    if not audited(row["sampler"]):
        return "-", "-", ""
    flag = "" if row.get("tests_debiasing") else "**does not test debiasing**"
    if row.get("n_tilted") is not None:
        flag = (flag + f" ({row['n_tilted']}/{row['n_seeds']} seeds tilted)").strip()
    if row.get("n_tilted_by_noise"):
        flag += f"; **tilted by noise** ({row['n_tilted_by_noise']}/{row['n_seeds']} seeds)"
    return fixed(row.get("kl_mean"), 4), fixed(row.get("effective_fraction_mean"), 3), flag


def reliability_cell(row: dict) -> str:
    """Alpha's split-half reliability (mean over seeds); '-' where no run recorded it (a
    one-batch probe) or for a sampler without a density."""
    if not audited(row["sampler"]):
        return "-"
    return fixed(row.get("alpha_reliability_mean"), 2)


def write_table(table: Table, report_dir: Path) -> pd.DataFrame:
    """Write a table's CSV and Markdown (harness.experiments.render) and return its numbers."""
    table.write(report_dir)
    return table.data


def our_dataset(profile: str) -> str:
    """The dataset our rows of `profile` were trained on, as a table names it."""
    from harness.profiles import PROFILES

    name = PROFILES.get(profile).dataset if profile in PROFILES else ""
    return {"fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}.get(name, name or profile)


def published_section(name: str, what: str, rows: list[dict], profile: str) -> Table:
    """The paper's numbers in a table of their own, under ours, with their dataset named: in
    the same row as ours they read as a comparison the data cannot make."""
    return Table(f"{name}_published", f"Published numbers ({what}), apart from ours",
                 pd.DataFrame(), pd.DataFrame(rows),
                 [f"Ours above: {profile} profile on {our_dataset(profile)}. These are the "
                  "paper's, on its own benchmarks and data: a gap between the two tables is not "
                  "a measured difference."], level=3)


def _interval_text(row: dict) -> str:
    kind = "seeds" if row["n_seeds"] > 1 else "bootstrap"
    return f"[{fixed(row['ci_low'], 2)}, {fixed(row['ci_high'], 2)}] ({kind})"


# The paper's benchmark of each space, as its tables report them.
PAPER_BENCHMARKS = {"pooling": "pooling (ResNet20, CIFAR-10)",
                    "nb-macro": "NAS-Bench-Macro (CIFAR-10)"}


def table3(results: list[dict], profile: str, report_dir: Path) -> pd.DataFrame:
    tau = {r["label"]: r for r in aggregate(results, "kendall_tau")}
    rho = {r["label"]: r for r in aggregate(results, "spearman")}
    rows, shown = [], []
    for label, t in tau.items():
        s = rho[label]
        # The paper's numbers belong to its arms (tau 7), not to an extra arm of the same sampler.
        p_tau, p_rho = paper.TABLE3.get((t["space"], t["arm"]), (None, None))
        rows.append({"benchmark": t["benchmark"], "arm": t["arm"], "sampler": t["sampler"],
                     "n_seeds": t["n_seeds"],
                     "n_archs": t["n_archs"], "kendall_mean": t["mean"], "kendall_std": t["std"],
                     "kendall_ci_low": t["ci_low"], "kendall_ci_high": t["ci_high"],
                     "spearman_mean": s["mean"], "spearman_std": s["std"],
                     "spearman_ci_low": s["ci_low"], "spearman_ci_high": s["ci_high"],
                     "kendall_boot_half": t["boot_half"], "spearman_boot_half": s["boot_half"],
                     "kendall_per_seed": json.dumps([round(v, 4) for v in t["values"]]),
                     "paper_kendall": p_tau, "paper_spearman": p_rho,
                     "sampler_tau": t.get("sampler_tau"), "kl_mean": t["kl_mean"],
                     "effective_fraction_mean": t["effective_fraction_mean"],
                     "alpha_reliability_mean": t["alpha_reliability_mean"],
                     "n_tilted": t["n_tilted"], "n_tilted_by_noise": t["n_tilted_by_noise"],
                     "tests_debiasing": t["tests_debiasing"], "audit_note": t["audit_note"]})
        kl, eff, flag = audit_text(t)
        shown.append({
            "benchmark": t["benchmark"], "arm": t["arm"], "seeds": t["n_seeds"],
            "archs": t["n_archs"],
            "Kendall tau (mean)": _link(fixed(t["mean"]), t["run_dirs"], report_dir),
            "tau 95% interval": _interval_text(t),
            "Spearman (mean)": _link(fixed(s["mean"]), s["run_dirs"], report_dir),
            "rho 95% interval": _interval_text(s),
            "tau (sampler)": fixed(t.get("sampler_tau"), 3), "KL (nats)": kl,
            "alpha reliability": reliability_cell(t), "eff. N / N": eff,
            "audit": flag})
    notes = [AUDIT_FOOTNOTE]
    notes += ground_truth_ceiling_lines(sorted({t["benchmark"] for t in tau.values()}))
    published = [{"paper's benchmark": PAPER_BENCHMARKS.get(space, space), "arm": arm,
                  "Kendall tau": fixed(p[0], 2), "Spearman": fixed(p[1], 2)}
                 for (space, arm), p in paper.TABLE3.items()
                 if any(t["space"] == space for t in tau.values())]
    table = Table("table3", f"Table 3: rank correlation with stand-alone accuracy ({profile} "
                  f"profile, {our_dataset(profile)})", pd.DataFrame(rows), pd.DataFrame(shown),
                  notes, [published_section("table3", "the paper's supplement, Table 3",
                                            published, profile)] if published else [])
    frame = _with_paired(table, results, "uniform", report_dir, paper_gap)
    frame.attrs["per_seed"] = {f"{t['benchmark']}/{t['arm']}/{name}": _per_seed(agg)
                               for name, by_label in (("kendall", tau), ("spearman", rho))
                               for label, agg in by_label.items() for t in [tau[label]]}
    return frame


def _per_seed(agg: dict) -> dict:
    """{"seeds", "values"} of an aggregated cell, at full precision (`check` compares them)."""
    return {"seeds": list(agg["seeds"]), "values": [float(v) for v in agg["values"]]}


def paired_comparisons(results: list[dict], baseline: str = "uniform",
                       metrics: tuple = ("kendall_tau", "spearman"),
                       effects=None) -> tuple[Table | None, list[dict]]:
    """Each arm against the `baseline` arm on the same benchmark, paired by seed: the mean paired
    difference with its t interval and p-value, the minimum detectable difference at 80% power
    for this design (its seeds and measured spread of differences) with its degrees of freedom
    and range, the ground truth's reliability ceiling, and a verdict (a result only at p < 0.05
    or where the interval excludes the named effect of interest that `effects(run, metric)`
    gives as (effect, name), e.g. the paper's gap)."""
    from harness.analysis.power import comparison_verdict, mde_with_interval, paired_difference

    by = defaultdict(dict)
    for r in results:
        by[(r["benchmark"], arm_of(r))][r["seed"]] = r
    rows = []
    for (benchmark, arm), runs in sorted(by.items()):
        base = by.get((benchmark, baseline))
        if arm == baseline or not base:
            continue
        first = next(iter(runs.values()))
        sampler = first["sampler"]
        seeds = sorted(set(runs) & set(base))
        for metric in metrics:
            a = [base[s]["metrics"][metric]["value"] for s in seeds]
            b = [runs[s]["metrics"][metric]["value"] for s in seeds]
            diff = paired_difference(a, b)
            diff.update(mde_with_interval(diff["sd_difference"], len(seeds)))
            effect, effect_name = (effects(first, metric) if effects else None) or (None, "")
            tilted = audit_cells([runs[s] for s in seeds])
            rows.append({"benchmark": benchmark, "arm": arm, "sampler": sampler,
                         "baseline": baseline, "metric": metric, "seeds": seeds, **diff,
                         "effect_of_interest": effect, "effect_name": effect_name or None,
                         "verdict": comparison_verdict(diff, effect, effect_name),
                         "tests_debiasing": tilted["tests_debiasing"],
                         "kl_mean": tilted["kl_mean"], **ground_truth_ceiling(benchmark)})
    if not rows:
        return None, []
    shown = []
    for r in rows:
        flag = "" if not audited(r["sampler"]) else (
            "tilted" if r["tests_debiasing"] else "**does not test debiasing**")
        shown.append({
            "benchmark": r["benchmark"], "arm": r["arm"], "metric": r["metric"],
            "pairs": r["n_pairs"], "mean difference": f"{r['mean_difference']:+.3f}",
            "95% t interval": f"[{fixed(r['ci_low'])}, {fixed(r['ci_high'])}]",
            "p": "-" if r["p_value"] is None else f"{r['p_value']:.3g}",
            "MDE (80% power) [range], df": mde_text(r), "verdict": r["verdict"],
            "GT ceiling (Spearman)": fixed(r.get("gt_ceiling_spearman"), 2), "audit": flag})
    note = ("MDE: the smallest true mean difference this design (pairs, measured SD of the "
            "paired differences) detects with 80% power in a two-sided paired t test at 0.05 "
            "(noncentral t); the range beside it follows from the SD's 95% chi-squared interval "
            "with n - 1 degrees of freedom (an SD from 2 or 3 pairs is barely known). A verdict "
            "says 'result' only when p < 0.05, or when the interval excludes the named effect "
            "of interest (the paper's gap where it has one); anything else is no result. GT "
            "ceiling: the Spearman correlation a perfect ranking could reach against the noisy "
            "ground truth (square root of its split-half reliability).")
    note += (" Pairs share the seed (initial weights, data order); a debiased run also forks from "
             "its uniform partner's warm-up checkpoint (common random numbers until the sampler "
             "acts). Samplers whose warm-up differs from uniform's train from scratch.")
    table = Table("table3_paired", f"Paired comparison with {baseline} (same seeds)",
                  pd.DataFrame(rows), pd.DataFrame(shown), [note], level=3)
    return table, rows


def mde_text(row: dict, digits: int = 3) -> str:
    """'0.148 [0.098, 0.301], df 7': the MDE, its range from the SD's interval, its df."""
    if not np.isfinite(row.get("mde_80", np.nan)):
        return "-"
    return (f"{fixed(row['mde_80'], digits)} [{fixed(row['mde_80_low'], digits)}, "
            f"{fixed(row['mde_80_high'], digits)}], df {row['mde_df']}")


def paper_gap(run: dict, metric: str):
    """Table 3's effect of interest: the paper's gap between this sampler and uniform on the
    same space, (gap, name), or None where the paper has no number (CIFAR-10 / ImageNet)."""
    index = {"kendall_tau": 0, "spearman": 1}.get(metric)
    ours = paper.TABLE3.get((run["space"], run["sampler"]))
    base = paper.TABLE3.get((run["space"], "uniform"))
    if index is None or ours is None or base is None:
        return None
    return ours[index] - base[index], f"the paper's {run['sampler']} gain (CIFAR-10)"


def ground_truth_ceiling(benchmark: str) -> dict:
    """The generated benchmark's reliability figures ({} for published tables)."""
    from harness.benchmarks.generated import GENERATED, generated_table_path, table_statistics

    if benchmark not in GENERATED:
        return {}
    stats = table_statistics(generated_table_path(benchmark, None).with_name(
        f"{benchmark}.runs.jsonl"))
    return {k: stats.get(k) for k in ("gt_ceiling_spearman", "gt_reliability", "gt_n_seeds")}


AUDIT_FOOTNOTE = (
    "Sampler audit (density samplers): KL(P || uniform) and the effective number of "
    "architectures 1/sum P^2 as a fraction of N, of the distribution the post-warm-up draws came "
    "from, mean over seeds; a row is flagged **does not test debiasing** when the realised draws "
    "of any seed cannot be told from uniform sampling (chi-squared p >= 0.05, `nas-harness audit`)."
    " Alpha reliability: the split-half reliability of the densities the draws came from (two "
    "halves of the probe batches, Spearman-Brown), mean over recomputes and seeds; '-' where the "
    "probe was one batch (probe_batches 1), which records none. A tilt drawn from a density "
    "with reliability below 0.5 is flagged **tilted by noise**.")


def ground_truth_ceiling_lines(benchmarks: list[str]) -> list[str]:
    """How consistently each generated benchmark ranks its own networks across training seeds."""
    from harness.benchmarks.generated import GENERATED, generated_table_path, table_statistics

    lines = []
    for name in benchmarks:
        if name not in GENERATED:
            continue
        stats = table_statistics(generated_table_path(name, None).with_name(f"{name}.runs.jsonl"))
        if stats.get("gt_reliability") is None:
            continue
        lines.append(f"Ground-truth reliability, {name}: {stats['gt_n_seeds']} seeds, split-half "
                     f"(Spearman-Brown) {stats['gt_reliability']:.2f}, seed-to-seed Kendall "
                     f"{stats['gt_seed_kendall']:.2f}; a perfect ranking reaches Spearman "
                     f"{stats['gt_ceiling_spearman']:.2f} at most against it.")
    return lines


def table4(results: list[dict], profile: str, report_dir: Path) -> pd.DataFrame:
    rows, shown = [], []
    for t in aggregate(results, "kendall_tau"):
        estimator = t["label"].split("/", 1)[1]
        rows.append({"estimator": estimator, "n_seeds": t["n_seeds"], "kendall_mean": t["mean"],
                     "kendall_std": t["std"], "kendall_boot_half": t["boot_half"],
                     "kendall_ci_low": t["ci_low"], "kendall_ci_high": t["ci_high"],
                     "paper_kendall": paper.TABLE4.get(estimator), **_audit_columns(t)})
        kl, eff, flag = audit_text(t)
        shown.append({"estimator": estimator, "seeds": t["n_seeds"],
                      "Kendall tau (mean)": _link(fixed(t["mean"]), t["run_dirs"], report_dir),
                      "95% interval": _interval_text(t),
                      "tau (sampler)": fixed(t.get("sampler_tau"), 3), "KL (nats)": kl,
                      "alpha reliability": reliability_cell(t), "eff. N / N": eff,
                      "audit": flag})
    published = [{"paper's benchmark": PAPER_BENCHMARKS["pooling"], "estimator": e,
                  "Kendall tau": fixed(v, 2)} for e, v in paper.TABLE4.items()]
    frame = _with_paired(Table("table4", f"Table 4: density estimator, pooling ({profile} "
                               f"profile, {our_dataset(profile)})", pd.DataFrame(rows),
                               pd.DataFrame(shown), [AUDIT_FOOTNOTE],
                               [published_section("table4", "the paper's Table 4", published,
                                                  profile)]),
                         results, "inverse_mean_distance", report_dir, _paper_kde_gap)
    frame.attrs["per_seed"] = {f"{t['label'].split('/', 1)[1]}/kendall": _per_seed(t)
                               for t in aggregate(results, "kendall_tau")}
    return frame


def _with_paired(table: Table, results: list[dict], baseline: str, report_dir: Path,
                 effects=None) -> pd.DataFrame:
    """Write `table` with each arm's paired comparison against the `baseline` arm (same seeds:
    the density runs of a seed fork from one uniform warm-up), as Table 3 does with uniform."""
    paired, comparisons = paired_comparisons(results, baseline=baseline, effects=effects)
    if paired is not None:
        paired.name = f"{table.name}_paired"
        table.sections.append(paired)
    frame = write_table(table, report_dir)
    if comparisons:
        atomic_write_csv(report_dir / f"{table.name}_paired.csv", pd.DataFrame(comparisons))
    frame.attrs["paired"] = comparisons
    return frame


def _paper_kde_gap(run: dict, metric: str):
    """Table 4's effect of interest: the paper's KDE minus inverse-mean-distance gap."""
    estimator = arm_of(run)
    if metric != "kendall_tau" or estimator not in paper.TABLE4:
        return None
    return (paper.TABLE4[estimator] - paper.TABLE4["inverse_mean_distance"],
            f"the paper's {estimator} gap (CIFAR-10)")


def _paper_temperature_gap(run: dict, metric: str):
    """Table 5's effect of interest: the paper's gap between this temperature and tau 7."""
    temperature = float(arm_of(run).split("=")[1])
    if metric != "kendall_tau" or temperature not in paper.TABLE5:
        return None
    return (paper.TABLE5[temperature] - paper.TABLE5[7.0],
            f"the paper's tau {temperature:g} gap (CIFAR-10 NAS-Bench-Macro)")


def table5(results: list[dict], profile: str, report_dir: Path) -> pd.DataFrame:
    rows, shown = [], []
    for t in sorted(aggregate(results, "kendall_tau"), key=lambda r: -float(r["label"].split("=")[1])):
        temperature = float(t["label"].split("=")[1])
        rows.append({"benchmark": t["benchmark"], "tau": temperature, "n_seeds": t["n_seeds"],
                     "kendall_mean": t["mean"], "kendall_ci_low": t["ci_low"],
                     "kendall_ci_high": t["ci_high"], "kendall_std": t["std"],
                     "kendall_boot_half": t["boot_half"], "paper_kendall": paper.TABLE5.get(temperature),
                     **_audit_columns(t)})
        kl, eff, flag = audit_text(t)
        shown.append({"benchmark": t["benchmark"], "temperature": f"{temperature:g}",
                      "seeds": t["n_seeds"],
                      "Kendall tau (mean)": _link(fixed(t["mean"]), t["run_dirs"], report_dir),
                      "95% interval": _interval_text(t),
                      "KL (nats)": kl,
            "alpha reliability": reliability_cell(t), "eff. N / N": eff, "audit": flag})
    published = [{"paper's benchmark": PAPER_BENCHMARKS["nb-macro"], "temperature": f"{t:g}",
                  "Kendall tau": fixed(v, 2)} for t, v in paper.TABLE5.items()]
    frame = _with_paired(Table("table5", f"Table 5: sampling temperature ({profile} profile, "
                               f"{our_dataset(profile)})", pd.DataFrame(rows),
                               pd.DataFrame(shown), [AUDIT_FOOTNOTE],
                               [published_section("table5", "the paper's Table 5", published,
                                                  profile)]),
                         results, "tau=7", report_dir, _paper_temperature_gap)
    frame.attrs["per_seed"] = {f"{float(t['label'].split('=')[1])}/kendall": _per_seed(t)
                               for t in aggregate(results, "kendall_tau")}
    return frame


def density_trajectory(run_dir: str | Path) -> list[tuple[int, dict[str, float]]]:
    """(epoch, {key: density}) for every snapshot that computed densities."""
    out = []
    for snap in RunDir(run_dir).snapshots():
        if snap.get("density") is not None and snap.get("keys"):
            out.append((int(snap["epoch"]), dict(zip(snap["keys"], snap["density"]))))
    return sorted(out)


def table6(results: list[dict], profile: str, report_dir: Path) -> pd.DataFrame:
    """Spearman between the density after e uniform epochs and the density at convergence (the
    end of a longer run), per seed; rows at the paper's warm-up epochs mapped to fractions of
    the profile's run length; mean over seeds with a t interval."""
    from harness.profiles import PROFILES

    length = PROFILES.get(profile).table6_length if profile in PROFILES else None
    mapping = paper.table6_epochs(profile) if length else {}
    rows = []
    for r in results:
        trajectory = dict(density_trajectory(r["run_dir"]))  # snapshot epoch -> densities
        if len(trajectory) < 2:
            continue
        final_epoch = max(trajectory)
        final = trajectory[final_epoch]
        keys = sorted(final)
        for paper_epoch, here in mapping.items():
            snapshot_epoch = here - 1  # `here` epochs completed; -1 = before training
            if snapshot_epoch not in trajectory or snapshot_epoch == final_epoch:
                continue
            density = trajectory[snapshot_epoch]
            rho = scipy.stats.spearmanr([density[k] for k in keys], [final[k] for k in keys]).statistic
            rows.append({"seed": r["seed"], "paper_epoch": paper_epoch, "epochs": here,
                         "fraction": here / length, "convergence_epoch": final_epoch + 1,
                         "spearman": float(rho), "paper_spearman": paper.TABLE6.get(paper_epoch),
                         "run_dir": r.get("archive") or r["run_dir"]})
    frame = pd.DataFrame(rows)
    shown, notes = [], []
    if not frame.empty:
        for paper_epoch, group in frame.groupby("paper_epoch"):
            mean, _, low, high = seed_interval(list(group["spearman"]), bounds=(-1.0, 1.0))
            shown.append({"paper epochs (of 300)": paper_epoch,
                          "fraction of training": f"{group['fraction'].iloc[0]:.3f}",
                          "epochs here": group["epochs"].iloc[0], "seeds": len(group),
                          "Spearman (mean)": _link(fixed(mean), list(group["run_dir"]), report_dir),
                          "95% interval": f"[{fixed(low, 2)}, {fixed(high, 2)}]",
                          "per seed": ", ".join(fixed(v, 2) for v in group["spearman"])})
        converged = int(frame["convergence_epoch"].iloc[0])
        notes.append(f"Convergence: the density after {converged} epochs of uniform training at a "
                     f"constant learning rate, a run a third longer than the profile's {length} "
                     "epochs, so no tracked row is the reference itself. Epoch 0 is the untrained "
                     "supernet. The paper's epochs are mapped to the same fraction of training.")
    published = [{"paper's benchmark": PAPER_BENCHMARKS["pooling"],
                  "warm-up epochs (of 300)": k, "Spearman": fixed(v, 2)}
                 for k, v in paper.TABLE6.items()]
    write_table(Table("table6", "Table 6: uniform warm-up vs Spearman with the density at "
                      f"convergence ({profile} profile, {our_dataset(profile)})",
                      frame.drop(columns=["run_dir"], errors="ignore"), pd.DataFrame(shown), notes,
                      [published_section("table6", "the paper's Table 6", published, profile)]),
                report_dir)
    return frame


TOPK_METRICS = [f"{family}_{pct}pct" for family in ("kd_at_top", "kt_at_gt_top", "p_at_top", "br_at")
                for pct in (5, 10, 20)]


def topk(results: list[dict], profile: str, report_dir: Path) -> pd.DataFrame:
    by_label: dict[str, dict] = defaultdict(dict)
    for metric in TOPK_METRICS:
        for agg in aggregate(results, metric):
            by_label[agg["label"]][metric] = agg
    rows, shown = [], []
    for metrics in by_label.values():
        first = next(iter(metrics.values()))
        row = {"benchmark": first["benchmark"], "arm": first["arm"], "sampler": first["sampler"],
               "n_seeds": first["n_seeds"]}
        cells = {"benchmark": first["benchmark"], "arm": first["arm"], "seeds": first["n_seeds"]}
        for metric in TOPK_METRICS:
            agg = metrics[metric]
            row[f"{metric}_mean"], row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = (
                agg["mean"], agg["ci_low"], agg["ci_high"])
            cells[metric] = (f"{fixed(agg['mean'], 2)} [{fixed(agg['ci_low'], 2)}, "
                             f"{fixed(agg['ci_high'], 2)}]")
        rows.append(row)
        shown.append(cells)
    note = ("KD@top-K: Kendall tau among the predicted top K (higher is better). KT@GT-top-K: "
            "Kendall tau among the K networks with the best ground truth, the paper's Figure 1 "
            "reading (higher is better). P@top-K: share of "
            "the predicted top K in the true top K (higher is better). BR@K: best true rank among the "
            "predicted top K as a fraction of N (lower is better). K is a fraction of the scored networks.")
    return write_table(Table("topk", f"Top-K table ({profile} profile): mean over seeds [95% "
                             "interval]", pd.DataFrame(rows), pd.DataFrame(shown), [note]),
                       report_dir)


NB201_METRICS = ("kendall_tau", "spearman", "kt_at_gt_top_10pct", "p_at_top_10pct")


def nb201_table(results: list[dict], profile: str, report_dir: Path) -> pd.DataFrame:
    """The NB-201 table: per benchmark and sampler, Kendall, Spearman, KT@GT-top-10% and
    P@top-10% over seeds, the sampler audit, and each sampler's paired difference from uniform.
    The main paper's own NB-201 numbers are not public: its column stays empty."""
    aggregated = {m: {a["label"]: a for a in aggregate(results, m)} for m in NB201_METRICS}
    rows, shown = [], []
    for label, t in aggregated["kendall_tau"].items():
        row = {"benchmark": t["benchmark"], "sampler": t["sampler"], "n_seeds": t["n_seeds"],
               "n_archs": t["n_archs"], "paper_kendall": None, **_audit_columns(t)}
        cells = {"benchmark": t["benchmark"], "sampler": t["sampler"], "seeds": t["n_seeds"],
                 "networks": t["n_archs"]}
        for metric in NB201_METRICS:
            a = aggregated[metric][label]
            row[f"{metric}_mean"], row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = (
                a["mean"], a["ci_low"], a["ci_high"])
            shown_value = _link(fixed(a["mean"]), a["run_dirs"], report_dir) \
                if metric == "kendall_tau" else fixed(a["mean"])
            cells[metric] = f"{shown_value} {_interval_text(a)}"
        kl, eff, flag = audit_text(t)
        cells.update({"KL (nats)": kl,
            "alpha reliability": reliability_cell(t), "eff. N / N": eff,
                      "audit": flag})
        rows.append(row)
        shown.append(cells)
    paired, comparisons = paired_comparisons(results)
    if paired is not None:
        paired.name = "nb201_paired"
    notes = ["Networks: distinct cells of the ground truth (isomorphic cells merged, their "
             "accuracies averaged: `--networks distinct`). The main paper's NB-201 numbers are "
             "not public, so no published row stands beside ours. Paper profile: one supernet per dataset, "
             "PA&DA's NB-201 setting (see harness/profiles.py); cpu and smoke: Fashion-MNIST "
             "against nb201-fmnist, which covers only some cells.", AUDIT_FOOTNOTE]
    notes += ground_truth_ceiling_lines(sorted({t["benchmark"] for t in aggregated[
        "kendall_tau"].values()}))
    table = Table("nb201", f"NAS-Bench-201: rank correlation by sampler ({profile} profile)",
                  pd.DataFrame(rows), pd.DataFrame(shown), notes,
                  [paired] if paired is not None else [])
    frame = write_table(table, report_dir)
    if comparisons:
        atomic_write_csv(report_dir / "nb201_paired.csv", pd.DataFrame(comparisons))
    return frame


def _audit_flag(sampler: str, note) -> dict:
    """The audit's warning for a density sampler's row ('' when its draws were tilted)."""
    if not audited(sampler):
        return {}
    return {"audit_note": note if isinstance(note, str) else ""}


def summary_metrics(tables: dict[str, pd.DataFrame]) -> dict[str, dict]:
    """Flat {id: {"value", "std", "boot_half", "n_seeds", "seeds", "per_seed",
    "higher_is_better"}} of the numbers `check` guards (std over seeds; boot_half the runs' mean
    bootstrap half-width; per_seed at full precision, in the order of `seeds`)."""
    out: dict[str, dict] = {}
    t3 = tables.get("table3")
    if t3 is not None and not t3.empty:
        per_seed = t3.attrs.get("per_seed", {})
        for row in t3.itertuples():
            for metric in ("kendall", "spearman"):
                seeds = per_seed.get(f"{row.benchmark}/{row.arm}/{metric}", {})
                out[f"table3/{row.benchmark}/{row.arm}/{metric}"] = {
                    "value": getattr(row, f"{metric}_mean"), "std": getattr(row, f"{metric}_std"),
                    "boot_half": getattr(row, f"{metric}_boot_half"),
                    "n_seeds": row.n_seeds, "higher_is_better": True,
                    "seeds": seeds.get("seeds"), "per_seed": seeds.get("values"),
                    **_audit_flag(row.sampler, getattr(row, "audit_note", ""))}
    for name in ("table4", "table5"):
        frame = tables.get(name)
        if frame is None or frame.empty:
            continue
        per_seed = frame.attrs.get("per_seed", {})
        for row in frame.to_dict("records"):
            key = row.get("estimator", row.get("tau"))
            seeds = per_seed.get(f"{key}/kendall", {})
            out[f"{name}/{key}/kendall"] = {"value": row["kendall_mean"], "std": row["kendall_std"],
                                            "boot_half": row["kendall_boot_half"],
                                            "n_seeds": row["n_seeds"], "higher_is_better": True,
                                            "seeds": seeds.get("seeds"),
                                            "per_seed": seeds.get("values"),
                                            **_audit_flag("debiased", row.get("audit_note", ""))}
    return out
