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
    @click.option("--paper-size", is_flag=True,
                  help="train-step at the paper's sizes (CIFAR 32x32x3, ImageNet 224 for mobilenet).")
    @click.option("--amp", is_flag=True, help="train-step with mixed precision (CUDA).")
    @click.option("--channels-last", is_flag=True, help="train-step in channels_last memory format.")
    @data_dir_option
    @json_option
    def bench(only, device, quick, paper_size, amp, channels_last, data_dir, as_json) -> None:
        """Speed ratios measured side by side in one run (not timed tests)."""
        from harness.errors import HarnessError
        from harness.perf import run_sections, section_names

        for name in only:
            if name not in section_names():
                raise HarnessError(f"unknown bench section '{name}'; known: "
                                   f"{', '.join(section_names())}")
        report = run_sections(list(only) or None, data_dir=data_dir, device=device, quick=quick,
                              paper_size=paper_size, amp=amp, channels_last=channels_last)
        if as_json:
            echo_json(report)
            return
        for section, rows in report.items():
            click.echo(f"[{section}]")
            for row in rows:
                click.echo("  " + "  ".join(f"{k}={v}" for k, v in row.items()))
