"""`nas-harness plan EXPERIMENT --profile P --effect D`: seeds and cost to detect a gap."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.options import PathOption, json_option, profile_option
from harness.cli.output import echo_json


def register(cli: click.Group) -> None:
    @cli.command("plan")
    @click.argument("experiment")
    @profile_option("cpu")
    @click.option("--effect", type=float, required=True,
                  help="The gap to detect, in the metric's units (e.g. 0.1 of Kendall tau).")
    @click.option("--metric", default="kendall_tau", show_default=True)
    @click.option("--results", type=PathOption(file_okay=False), default=None,
                  help="Reproduction folder with runs.json (default: reports/<profile>).")
    @json_option
    def plan(experiment, profile, effect, metric, results, as_json) -> None:
        """From measured spreads: seeds per arm for 80% power to detect --effect, and their cost."""
        from harness.analysis.metrics import get_metric
        from harness.experiments.plan import plan as make_plan
        from harness.experiments.spec import get_experiment

        get_experiment(experiment)
        get_metric(metric)  # a typo is refused with "did you mean", before any file is read
        from harness.results import committed_report_dir

        out = make_plan(experiment, profile, effect,
                        Path(results or committed_report_dir(profile)), metric)
        if as_json:
            echo_json(out)
            return
        click.echo(f"{experiment}, {profile} profile: seeds per arm to detect a {metric} gap of "
                   f"{effect:g} with {out['power']:.0%} power (two-sided paired t, alpha 0.05), "
                   f"from {out['results']}")
        for r in out["comparisons"]:
            head = f"  {r['benchmark']}: {r['arm']} vs {r['baseline']}"
            if r.get("sd_difference") is None:
                click.echo(f"{head}: {r['spread_from']}; run a pilot first")
                continue
            if r["sd_difference"] == 0:
                click.echo(f"{head}: SD of paired differences 0 ({r['spread_from']})")
                continue
            need = "more than 100000" if r["seeds_needed"] is None else str(r["seeds_needed"])
            low_n, high_n = r["seeds_needed_range"]
            need += f" [{low_n if low_n is not None else '-'}, " \
                    f"{high_n if high_n is not None else '>100000'}]"
            hours = "-" if r["hours"] is None else f"{r['hours']:.1f}"
            mde_text = "-" if r["mde_design"] is None else f"{r['mde_design']:.3f}"
            if r.get("mde_design_range"):
                mde_text += (f" [{r['mde_design_range'][0]:.3f}, "
                             f"{r['mde_design_range'][1]:.3f}]")
            click.echo(f"{head}: SD of paired differences {r['sd_difference']:.3f} "
                       f"({r['spread_from']}, df {r['sd_df']}); {need} seeds per arm, about "
                       f"{hours} {r['device'].upper()} hours ({r['hours_per_pair']:.2f} per "
                       f"pair); the planned design ({r['design_seeds']} seeds) detects "
                       f"{mde_text} [from the SD's 95% interval]")
