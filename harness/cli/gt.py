"""`nas-harness gt show|fetch|convert|export`: ground-truth tables."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.options import PathOption, data_dir_option, json_option, parse_seeds
from harness.cli.output import echo_json


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
            if field == "recipe":
                continue
            if value is None and field.endswith(("_index", "_n_seeds")):
                value = "not in this space" if field.endswith("_index") else "not recorded in the file"
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
    @click.argument("file", type=PathOption(dir_okay=False))
    @data_dir_option
    def convert(kind: str, file: str, data_dir: str | None) -> None:
        """Convert the official NAS-Bench-201 file (a pickle: only a file you trust) to compact tables."""
        from harness.benchmarks.base import resolve_data_dir
        from harness.benchmarks.nb201 import convert_nb201

        path = Path(file)
        if path.is_file():  # a missing file gets its own one-line error, without this note
            click.echo(f"note: {path} is a Python pickle and will be unpickled (loading a pickle can "
                       "run code): convert only a file you trust, e.g. the official download",
                       err=True)
        written = convert_nb201(path, resolve_data_dir(data_dir))
        for name, path in written.items():
            click.echo(f"{name}: {path}")

    @gt_group.command("export")
    @click.argument("name")
    @click.option("--column", default="accuracy", show_default=True, help="Column to export as 'score'.")
    @click.option("--out", "out", type=PathOption(), required=True, help="CSV file to write.")
    @data_dir_option
    def export(name: str, column: str, out: str, data_dir: str | None) -> None:
        """Write key,score from a benchmark column (e.g. pooling's published_M1_avg) as predictions."""
        from harness.benchmarks import BENCHMARKS, load_benchmark
        from harness.errors import HarnessError
        from harness.io import atomic_write_csv, check_writable

        # Names and the output path first; nothing is created before the data is loaded and checked.
        BENCHMARKS.get(name)
        check_writable(out)
        frame = load_benchmark(name, data_dir).frame
        if column not in frame.columns:
            raise HarnessError(
                f"benchmark '{name}' has no column '{column}'; available: {', '.join(frame.columns)}"
            )
        atomic_write_csv(out, frame[["key", column]].rename(columns={column: "score"}))
        click.echo(f"wrote {len(frame)} rows to {out}")

    register_train(gt_group)


def register_train(gt_group: click.Group) -> None:
    @gt_group.command("train")
    @click.option("--space", required=True)
    @click.option("--dataset", default="fashion-mnist", show_default=True)
    @click.option("--archs", default="all", show_default=True,
                  help="all | distinct | stratified:N | sample:N | FILE of keys.")
    @click.option("--seeds", default="0,1", show_default=True, help="Comma-separated training seeds.")
    @click.option("--name", required=True, help="Table name, e.g. pooling-fmnist.")
    @click.option("--out", "out", type=PathOption(file_okay=False), required=True,
                  help="Folder for NAME.csv, NAME.json and NAME.runs.jsonl.")
    @click.option("--subset", type=int, default=10000, show_default=True)
    @click.option("--test-subset", type=int, default=None)
    @click.option("--resize", type=int, default=None)
    @click.option("--width-mult", type=float, default=0.5, show_default=True)
    @click.option("--net-option", "net_options", multiple=True, metavar="KEY=VALUE")
    @click.option("--epochs", type=int, default=8, show_default=True)
    @click.option("--batch-size", type=int, default=128, show_default=True)
    @click.option("--lr", type=float, default=0.05, show_default=True)
    @click.option("--weight-decay", type=float, default=5e-4, show_default=True)
    @click.option("--threads", type=int, default=None)
    @click.option("--sample-seed", type=int, default=0, show_default=True)
    @click.option("--quiet", is_flag=True)
    def train(space, dataset, archs, seeds, name, out, subset, test_subset, resize, width_mult,
              net_options, epochs, batch_size, lr, weight_decay, threads, sample_seed, quiet) -> None:
        """Ground truth by stand-alone training, one architecture at a time (resumable)."""
        import shlex
        import sys

        from harness.cli.train import parse_options
        from harness.errors import HarnessError
        from harness.evaluate import resolve_archs
        from harness.spaces import get_space
        from harness.train.standalone import StandaloneRecipe, gt_train, stratified_archs

        space_obj = get_space(space)
        if archs.startswith("stratified:"):
            try:
                arch_list = stratified_archs(space_obj, int(archs.split(":", 1)[1]), sample_seed)
            except ValueError:
                raise HarnessError(f"--archs {archs!r}: N in stratified:N must be an integer") from None
        else:
            arch_list = resolve_archs(space_obj, archs, sample_seed)
        seed_list = list(parse_seeds(seeds))
        recipe = StandaloneRecipe(
            dataset=dataset, subset=subset, test_subset=test_subset, resize=resize,
            width_mult=width_mult, net_options=parse_options(net_options, "--net-option"),
            epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, threads=threads,
        )
        from harness.benchmarks.generated import record_table_checksum

        command = "nas-harness " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        table = gt_train(space, arch_list, seed_list, recipe, Path(out), name, command, not quiet)
        record_table_checksum(Path(out), name)
        click.echo(f"{name}: {len(table)} architectures -> {Path(out) / (name + '.csv')}")
