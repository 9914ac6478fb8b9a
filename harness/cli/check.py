"""`nas-harness check --baseline FILE [--results DIR] [--update] [--mode M] [--only PREFIX]`."""

from __future__ import annotations

import sys
from pathlib import Path

import click


def register(cli: click.Group) -> None:
    @cli.command("check")
    # Plain paths: a folder for --baseline or a file for --results is refused in one line.
    @click.option("--baseline", type=click.Path(), required=True)
    @click.option("--results", type=click.Path(), default=None,
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
    def check(baseline, results, update, mode, only) -> None:
        """Exit 1 when a metric dropped beyond the noise (another environment) or changed at all
        (the baseline's environment); 0 otherwise. A missing, malformed or empty baseline or
        summary is a user error (exit 2)."""
        from harness.experiments.check import check as run_check

        code, text = run_check(Path(baseline), Path(results) if results else None, update,
                               mode, tuple(only))
        click.echo(text)
        sys.exit(code)
