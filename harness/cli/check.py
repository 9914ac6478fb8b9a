"""`nas-harness check --baseline FILE [--results DIR] [--update]`."""

from __future__ import annotations

import sys
from pathlib import Path

import click


def register(cli: click.Group) -> None:
    @cli.command("check")
    # Plain paths: a folder for --baseline or a file for --results is refused in one line.
    @click.option("--baseline", type=click.Path(), required=True)
    @click.option("--results", type=click.Path(), default=None,
                  help="Report folder with summary.json (default: reports/<baseline profile>).")
    @click.option("--update", is_flag=True, help="Rewrite the baseline from the results, on purpose.")
    def check(baseline, results, update) -> None:
        """Exit 1 with a table of what moved when a metric leaves its tolerance; 0 otherwise.

        A missing, malformed or empty baseline or summary is a user error (exit 2).
        """
        from harness.experiments.check import check as run_check

        code, text = run_check(Path(baseline), Path(results) if results else None, update)
        click.echo(text)
        sys.exit(code)
