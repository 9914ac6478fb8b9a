"""`nas-harness report --profile P`."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.options import PathOption, profile_option


def register(cli: click.Group) -> None:
    @cli.command("report")
    @profile_option("smoke")
    @click.option("--out", "out", type=PathOption(file_okay=False), default=None,
                  help="Report folder (default: runs/reports/<profile>, ignored by git; a committed "
                       "report is written with an explicit --out reports/<profile> from a clean "
                       "commit).")
    def report(profile, out) -> None:
        """One self-contained HTML page plus Markdown with every table and figure of a profile."""
        from harness.errors import HarnessError
        from harness.experiments.report import build_report
        from harness.experiments.reportdir import guard_tracked_output
        from harness.results import default_report_dir

        report_dir = Path(out) if out else default_report_dir(profile)
        guard_tracked_output(report_dir)
        if not report_dir.is_dir():
            raise HarnessError(f"{report_dir}: no report folder; run `nas-harness reproduce all "
                               f"--profile {profile}` first")
        for kind, path in build_report(profile, report_dir).items():
            click.echo(f"{kind}: {path}")
