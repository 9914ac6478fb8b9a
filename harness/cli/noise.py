"""`nas-harness noise BENCHMARK --profile P`: the noise of a run's Kendall tau, decomposed."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.options import (
    PathOption,
    data_dir_option,
    json_option,
    parse_seeds,
    profile_option,
)
from harness.cli.output import echo_json
from harness.errors import HarnessError
from harness.experiments.noise_options import EVAL_OPTIONS

PARTS = (("seed", "seed"), ("trajectory", "trajectory (one-ulp rerun)"),
         ("evaluation", "evaluation (image sets)"), ("total", "one run, total"))


def _sd(component: dict | None) -> str:
    if not component:
        return "-"
    return f"{component['sd']:.3f} [{component['sd_low']:.3f}, {component['sd_high']:.3f}]"


def format_study(study: dict) -> str:
    """The decomposition at the profile's default, then the figure of merit of every option."""
    lines = [f"{study['benchmark']}, {study['profile']} profile: {len(study['seeds'])} seeds x "
             f"{len(study['perturbations'])} runs each (one perturbed by one ulp); "
             f"CPU hours spent: {study['cpu_hours']['total']:.2f} (train "
             f"{study['cpu_hours']['train']:.2f}, scoring {study['cpu_hours']['score']:.2f})"]
    default = next(s for s in study["sections"] if s["default"])
    lines.append(f"Kendall tau of one run ({default['option']} BN, {default['epochs']} epochs; "
                 f"the profile scores {default['images']} images): mean "
                 f"{default['kendall_mean']:.3f}. SD of each part [95% interval] by the images "
                 "a run is scored on (trajectory and evaluation separate only where a "
                 "checkpoint has two or more disjoint image sets):")
    lines.append(f"  {'images':>6} {'sets':>4}  " + "  ".join(f"{name:<24}" for _, name in PARTS))
    for s in study["sections"]:
        if s["runs"] != "full" or s["option"] != default["option"]:
            continue
        cells = [_sd(s["components"].get(key)) for key, _ in PARTS]
        lines.append(f"  {s['images']:>6} {s['image_sets']:>4}  "
                     + "  ".join(f"{c:<24}" for c in cells))
    total = default["components"]["total"]["variance"]
    if total > 0:
        shares = ", ".join(f"{key} {default['components'][key]['variance'] / total:.0%}"
                           for key, _ in PARTS[:3] if key in default["components"])
        lines.append(f"  share of the variance at {default['images']} images: {shares}")
    lines.append(f"CPU hours per detectable {study['effect']:g} (80% power, paired two-sided "
                 "t at 0.05, both arms) [from the variance's 95% interval]:")
    lines.append(f"  {'runs':<6} {'option':<12} {'images':>6} {'Kendall':>8} {'paired SD':>10} "
                 f"{'pairs':>6} {'h/run':>6}  CPU hours")
    for s in study["sections"]:
        pairs = "-" if s["pairs"] is None else str(s["pairs"])
        hours = "-" if s["cpu_hours"] is None else f"{s['cpu_hours']:.1f}"
        low = "-" if s["cpu_hours_low"] is None else f"{s['cpu_hours_low']:.1f}"
        high = ">" if s["cpu_hours_high"] is None else f"{s['cpu_hours_high']:.1f}"
        mark = "  (default)" if s["default"] else ""
        lines.append(f"  {s['runs']:<6} {s['option']:<12} {s['images']:>6} "
                     f"{s['kendall_mean']:>8.3f} {s['paired_sd']:>10.3f} {pairs:>6} "
                     f"{s['cost_per_run_hours']:>6.3f}  {hours} [{low}, {high}]{mark}")
    for skip in study.get("skipped", []):
        lines.append(f"  {skip['runs']:<6} {skip['option']:<12} not measured: {skip['reason']}")
    if study.get("density"):
        d = study["density"]
        lines.append(f"Density reliability at the {d['checkpoint']}, {d['networks']} networks, "
                     f"seeds {', '.join(map(str, d['seeds']))}: Spearman of the densities of two "
                     f"disjoint probes [95% t interval over seeds]; recompute CPU seconds; share "
                     f"of training at {d['recomputes']} recomputes")
        for r in d["rows"]:
            lines.append(f"  {r['probe_batches']} batch(es), {r['probe_images']:>5} images: "
                         f"{r['reliability']:.3f} [{r['low']:.3f}, {r['high']:.3f}]  "
                         f"{r['recompute_seconds']:7.1f} s  {r['overhead_of_training']:.0%}")
    return "\n".join(lines)


def register(cli: click.Group) -> None:
    @cli.command("noise")
    @click.argument("benchmark")
    @profile_option("cpu")
    @click.option("--seeds", default=None,
                  help="Seeds of the study (at least 2; default: Table 3's paired seeds of the "
                       "space, at least 4); each is trained twice, once perturbed.")
    @click.option("--options", "eval_options", default=",".join(EVAL_OPTIONS),
                  show_default=True,
                  help="Evaluation options scored on every full-length checkpoint: batch, "
                       "recalibrate, running (BatchNorm modes) and average (weights averaged "
                       "over the last epochs' checkpoints).")
    @click.option("--short/--no-short", default=True, show_default=True,
                  help="Also measure runs half as long (the 'more seeds of shorter runs' option).")
    @click.option("--runs-dir", type=PathOption(file_okay=False), default="runs",
                  show_default=True, help="Cache of run directories (shared with reproduce).")
    @click.option("--out", type=PathOption(dir_okay=False), default=None,
                  help="Also write the study as JSON to this file.")
    @click.option("--as-reproduction", "as_reproduction", type=PathOption(file_okay=False),
                  default=None,
                  help="Also write the unperturbed runs' Kendall (Table 3's uniform runs, "
                       "trained here) as a reproduction folder that `check` reads.")
    @click.option("--option", "eval_option", type=click.Choice(["batch", "recalibrate", "running",
                                                                 "average"]),
                  default="batch", show_default=True,
                  help="The evaluation that --as-reproduction scores with.")
    @click.option("--density", "density_ks", default=None, metavar="K,K,...",
                  help="Also measure the density's own noise: the reliability of alpha from "
                       "probes of K batches (e.g. 1,2,4) at the end of warm-up, and its cost.")
    @click.option("--density-seeds", type=click.IntRange(min=2), default=None,
                  help="Seeds whose checkpoints the density measurement uses (default: all).")
    @click.option("--quiet", is_flag=True, help="No progress lines.")
    @json_option
    @data_dir_option
    def noise(benchmark, profile, seeds, eval_options, short, runs_dir, out, as_reproduction, eval_option,
              density_ks, density_seeds, quiet, as_json, data_dir) -> None:
        """Split the variance of a run's Kendall tau into seed, trajectory and evaluation noise
        (training what is missing, cached), and give the CPU hours a paired comparison needs to
        detect 0.05 under each evaluation option."""
        from harness.experiments.noise import (
            analyse,
            density_reliability,
            design_for,
            train_specs,
            write_reproduction,
        )
        from harness.io import atomic_write_json, check_writable

        options = tuple(o.strip() for o in eval_options.split(",") if o.strip())
        unknown = [o for o in options if o not in EVAL_OPTIONS]
        if unknown or "batch" not in options:
            raise HarnessError(f"--options {eval_options!r}: choose from "
                               f"{', '.join(EVAL_OPTIONS)}, batch included (the default the "
                               "others are compared with)")
        design = design_for(benchmark, profile, parse_seeds(seeds) if seeds else None,
                            short_fraction=0.5 if short else None, options=options)
        if out:
            check_writable(out)
        log = (lambda m: None) if quiet else (lambda m: click.echo(m, err=True))
        train_specs(design.all_specs(), Path(runs_dir), progress=not quiet, log=log)
        ks = parse_seeds(density_ks, "--density") if density_ks else None
        study = analyse(design, Path(runs_dir), data_dir, progress=not quiet, log=log)
        if ks:
            study["density"] = density_reliability(design, Path(runs_dir), tuple(ks),
                                                   density_seeds, log)
        if out:
            atomic_write_json(out, study)
        if as_reproduction:
            write_reproduction(design, Path(runs_dir), eval_option, Path(as_reproduction),
                               data_dir)
            log(f"noise: reproduction folder ({eval_option} evaluation): {as_reproduction}")
        if as_json:
            echo_json(study)
        else:
            click.echo(format_study(study))
