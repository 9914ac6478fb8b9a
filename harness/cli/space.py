"""`nas-harness space show NAME`."""

from __future__ import annotations

import click

from harness.cli.options import json_option
from harness.cli.output import echo_json


def register(cli: click.Group) -> None:
    @cli.group("space")
    def space_group() -> None:
        """Inspect search spaces."""

    @space_group.command("show")
    @click.argument("name")
    @json_option
    def show(name: str, as_json: bool) -> None:
        """Size, distinct networks and choices of a search space."""
        from harness.spaces import get_space

        summary = get_space(name).summary()
        if as_json:
            echo_json(summary)
            return
        for field in ("name", "description", "size", "n_distinct", "enumerable", "n_positions"):
            click.echo(f"{field:<12} {summary[field]}")
        click.echo(f"{'choices':<12} {summary['choices'][0]} (position 0)")
