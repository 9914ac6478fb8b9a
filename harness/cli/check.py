"""`nas-harness check --baseline FILE [--results DIR] [--update] [--mode M] [--only PREFIX]`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.cli.options import PathOption


def register(cli: click.Group) -> None:
    @cli.command("check")
    # Plain paths: a folder for --baseline or a file for --results is refused in one line.
    @click.option("--baseline", type=PathOption(), required=True)
    @click.option("--results", type=PathOption(), default=None,
                  help="Report folder with summary.json (default: runs/reports/<baseline "
                       "profile>).")
    @click.option("--update", is_flag=True,
                  help="Rewrite the baseline from the results, on purpose (a committed baseline "
                       "only from a clean commit).")
    @click.option("--mode", type=click.Choice(["auto", "exact", "statistical"]), default="auto",
                  show_default=True,
                  help="auto: exact on the baseline's environment fingerprint (runs are "
                       "deterministic there), statistical elsewhere.")
    @click.option("--only", multiple=True, metavar="PREFIX",
                  help="Check only the metrics whose name starts with PREFIX (repeatable), "
                       "e.g. table3/pooling-fmnist/uniform.")
    @click.option("--simulate", is_flag=True,
                  help="Print the statistical check's false-alarm rate and power by simulation "
                       "from the baseline's per-seed values, instead of checking results.")
    @click.option("--drop", "drops", multiple=True, metavar="NAME=DROP[@PREFIX]",
                  help="With --simulate: the power against a drop of DROP in every metric, or "
                       "in those starting with PREFIX (repeatable), e.g. "
                       "wrong-bn=0.12@table3/nb-macro-fmnist.")
    @click.option("--new-seeds", type=click.IntRange(min=1), default=None,
                  help="With --simulate: seeds of the simulated rerun (default: the baseline's).")
    @click.option("--reps", type=click.IntRange(min=100), default=2000, show_default=True)
    def check(baseline, results, update, mode, only, simulate, drops, new_seeds, reps) -> None:
        """Exit 1 when a metric dropped beyond the noise (another environment) or changed at all
        (the baseline's environment); 0 otherwise. A missing, malformed or empty baseline or
        summary is a user error (exit 2)."""
        from harness.experiments.check import check as run_check

        if simulate:
            _simulate(Path(baseline), drops, new_seeds, reps, tuple(only))
            return

        code, text = run_check(Path(baseline), Path(results) if results else None, update,
                               mode, tuple(only))
        click.echo(text)
        sys.exit(code)


def _simulate(baseline_path: Path, drops, new_seeds, reps, only) -> None:
    from harness.errors import HarnessError
    from harness.experiments.check import operating_characteristics, read_baseline

    named = {}
    for item in drops:
        name, sep, rest = item.partition("=")
        value, _, prefix = rest.partition("@")
        try:
            named[name] = (float(value), prefix)
        except ValueError:
            raise HarnessError(f"--drop {item!r}: expected NAME=NUMBER[@PREFIX], e.g. "
                               "wrong-bn=0.12@table3/nb-macro-fmnist") from None
        if not sep or not name:
            raise HarnessError(f"--drop {item!r}: expected NAME=NUMBER[@PREFIX], e.g. "
                               "wrong-bn=0.12@table3/nb-macro-fmnist")
    for d in (0.02, 0.05, 0.1, 0.2):
        named.setdefault(f"drop {d:g}", (d, ""))
    oc = operating_characteristics(read_baseline(baseline_path), reps, new_seeds, named, only)
    click.echo(f"statistical check of {baseline_path}: {oc['metrics']} metrics, {reps} "
               f"simulated reruns of {new_seeds or 'the baseline' + chr(39) + 's'} seeds each")
    click.echo(f"  false alarms (no change): {oc['false_alarm']:.3f} (target <= 0.05)")
    for name, entry in oc["power"].items():
        click.echo(f"  power against {name} ({entry['drop']:+.3f} in {entry['metrics']}, "
                   f"{entry['n_hit']} metrics): {entry['power']:.3f}")
    click.echo("  detectable drop per metric (80% power at Holm's strictest level):")
    for key, value in oc["detectable_drop"].items():
        click.echo(f"    {key:<44} {value:.3f}")
