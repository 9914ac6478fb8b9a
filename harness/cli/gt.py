"""`nas-harness gt show|fetch|convert|export`: ground-truth tables."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.main import echo_json
from harness.cli.options import data_dir_option, json_option


def register(cli: click.Group) -> None:
    @cli.group("gt")
    def gt_group() -> None:
        """Ground-truth benchmarks: show, fetch, convert, export."""

    @gt_group.command("show")
    @click.argument("name")
    @data_dir_option
    @json_option
    def show(name: str, data_dir: str | None, as_json: bool) -> None:
        """Summary of a benchmark: size, distinct networks, best and worst, checksum."""
        from harness.benchmarks import load_benchmark

        summary = load_benchmark(name, data_dir).summary()
        if as_json:
            echo_json(summary)
            return
        for field, value in summary.items():
            if field != "recipe":
                click.echo(f"{field:<16} {value}")

    @gt_group.command("fetch")
    @click.argument("name")
    @data_dir_option
    def fetch(name: str, data_dir: str | None) -> None:
        """Download a known ground-truth file into the data directory and verify its sha256.

        NAME is a file name from the registry or a benchmark name (fetches all its files).
        """
        from harness.benchmarks import BENCHMARKS
        from harness.benchmarks.files import KNOWN_FILES
        from harness.benchmarks.files import fetch as fetch_file

        names = list(BENCHMARKS.get(name).files) if name in BENCHMARKS else [KNOWN_FILES.get(name).name]
        for file_name in names:
            path = fetch_file(file_name, data_dir)
            click.echo(f"{file_name}: {path} (verified)")

    @gt_group.command("convert")
    @click.argument("kind", type=click.Choice(["nb201"]))
    @click.argument("file", type=click.Path(dir_okay=False))
    @data_dir_option
    def convert(kind: str, file: str, data_dir: str | None) -> None:
        """Convert the official NAS-Bench-201 file (a pickle: only a file you trust) to compact tables."""
        from harness.benchmarks.base import resolve_data_dir
        from harness.benchmarks.nb201 import convert_nb201

        written = convert_nb201(Path(file), resolve_data_dir(data_dir))
        for name, path in written.items():
            click.echo(f"{name}: {path}")

    @gt_group.command("export")
    @click.argument("name")
    @click.option("--column", default="accuracy", show_default=True, help="Column to export as 'score'.")
    @click.option("--out", "out", type=click.Path(dir_okay=False), required=True)
    @data_dir_option
    def export(name: str, column: str, out: str, data_dir: str | None) -> None:
        """Write key,score from a benchmark column (e.g. pooling's published_M1_avg) as predictions."""
        from harness.benchmarks import load_benchmark
        from harness.errors import HarnessError
        from harness.io import atomic_write_csv

        frame = load_benchmark(name, data_dir).frame
        if column not in frame.columns:
            raise HarnessError(
                f"benchmark '{name}' has no column '{column}'; available: {', '.join(frame.columns)}"
            )
        atomic_write_csv(out, frame[["key", column]].rename(columns={column: "score"}))
        click.echo(f"wrote {len(frame)} rows to {out}")
