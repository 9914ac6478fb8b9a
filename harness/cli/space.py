"""`nas-harness space show NAME` and `nas-harness space convert FILE --from F --to G`."""

from __future__ import annotations

import click

from harness.cli.options import PathOption, data_dir_option, json_option
from harness.cli.output import echo_json


def register(cli: click.Group) -> None:
    @cli.group("space")
    def space_group() -> None:
        """Inspect search spaces."""

    @space_group.command("show")
    @click.argument("name")
    @click.option("--arch", "arch_key", default=None,
                  help="One architecture (any accepted key form): its keys, official index, "
                       "equivalence class, params and FLOPs.")
    @click.option("--dataset", default=None,
                  help="Input size and classes for params and FLOPs (default: the space's paper "
                       "dataset). With --arch.")
    @click.option("--members", default=20, show_default=True, type=click.IntRange(min=0),
                  help="Class members listed at most. With --arch.")
    @json_option
    @data_dir_option
    def show(name: str, arch_key: str | None, dataset: str | None, members: int,
             as_json: bool, data_dir: str | None) -> None:
        """Size, distinct networks and choices of a search space, or one architecture's facts."""
        from harness.errors import HarnessError
        from harness.spaces import get_space

        space = get_space(name)
        if arch_key is None:
            if dataset is not None:
                raise HarnessError("--dataset needs --arch: it sets the input of one network's "
                                   "params and FLOPs")
        else:
            from harness.nets.facts import architecture_facts

            facts = architecture_facts(space, arch_key, dataset, members)
            if facts["official_index"] is not None:
                from harness.benchmarks.nb201 import official_record_cost

                # The official record's numbers beside ours, where the data directory has it.
                record = official_record_cost(space.name, facts["official_index"],
                                              facts["cost"]["dataset"], data_dir)
                if record is not None:
                    facts["official_record"] = record
            if as_json:
                echo_json(facts)
                return
            for field, value in facts.items():
                if isinstance(value, dict):
                    value = ", ".join(f"{k} {v}" for k, v in value.items())
                elif isinstance(value, list):
                    value = ", ".join(map(str, value))
                click.echo(f"{field:<16} {value}")
            return
        summary = space.summary()
        if as_json:
            echo_json(summary)
            return
        for field in ("name", "description", "size", "n_distinct", "enumerable", "n_positions"):
            click.echo(f"{field:<12} {summary[field]}")
        click.echo(f"{'choices':<12} {summary['choices'][0]} (position 0)")

    @space_group.command("convert")
    # A plain path: read_table refuses a folder or a binary file in one line.
    @click.argument("file", type=PathOption())
    @click.option("--from", "from_format", required=True,
                  help="The keys' format now (`nas-harness ls key-formats`; auto: the space's "
                       "own forms).")
    @click.option("--to", "to_format", required=True, help="The format to write the keys in.")
    @click.option("--space", "space_name", default=None,
                  help="The search space (needed only with --from auto).")
    @click.option("--key-column", default="key", show_default=True)
    @click.option("--out", type=PathOption(), default=None,
                  help="CSV to write (default: standard output).")
    def convert(file: str, from_format: str, to_format: str, space_name: str | None,
                key_column: str, out: str | None) -> None:
        """Rewrite the keys of FILE (CSV, TSV, JSON, JSON lines, gzip) from one encoding to
        another; every other column is kept. The output is CSV."""
        from harness.errors import HarnessError
        from harness.io import atomic_write_csv, check_writable
        from harness.spaces.formats import FORMAT_AUTO, KEY_FORMATS, resolve_keys
        from harness.tablefile import read_table

        target = KEY_FORMATS.get(to_format)
        if from_format != FORMAT_AUTO:
            space_name = space_name or KEY_FORMATS.get(from_format).space
        elif space_name is None:
            space_name = target.space
        if target.space != space_name:
            raise HarnessError(f"--to {to_format} is a {target.space} format, but the keys are "
                               f"{space_name} architectures; `nas-harness ls key-formats` lists "
                               "each space's formats")
        if out is not None:
            check_writable(out)
        frame = read_table(file, "file of architecture keys", key_column)
        if key_column not in frame.columns:
            raise HarnessError(f"{file}: no column '{key_column}' (found "
                               f"{list(frame.columns)[:8]}); pass --key-column")
        archs = resolve_keys(frame[key_column].tolist(), space_name, from_format, file)
        frame[key_column] = [target.write(a) for a in archs]
        if out is None:
            click.echo(frame.to_csv(index=False), nl=False)
        else:
            atomic_write_csv(out, frame)
            click.echo(f"{len(frame)} keys {from_format} -> {to_format}: {out}", err=True)
