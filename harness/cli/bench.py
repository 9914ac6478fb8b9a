"""`nas-harness bench [--only SECTION] [--json]`."""

from __future__ import annotations

import click

from harness.cli.options import data_dir_option, json_option
from harness.cli.output import echo_json


def register(cli: click.Group) -> None:
    @cli.command("bench")
    @click.option("--only", "only", multiple=True, help="Run only these sections (repeatable).")
    @click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
    @click.option("--quick", is_flag=True, help="Fewer repeats, smaller problems (for a first look).")
    @data_dir_option
    @json_option
    def bench(only, device, quick, data_dir, as_json) -> None:
        """Speed ratios measured side by side in one run (not timed tests)."""
        from harness.perf import run_sections

        report = run_sections(list(only) or None, data_dir=data_dir, device=device, quick=quick)
        if as_json:
            echo_json(report)
            return
        for section, rows in report.items():
            click.echo(f"[{section}]")
            for row in rows:
                click.echo("  " + "  ".join(f"{k}={v}" for k, v in row.items()))
