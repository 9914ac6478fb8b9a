"""Options shared by several commands."""

from __future__ import annotations

import click

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Ground-truth data directory (default: $HARNESS_DATA_DIR, then the user cache).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
