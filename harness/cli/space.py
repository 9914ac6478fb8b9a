"""`nas-harness space show NAME`."""

from __future__ import annotations

import click

from harness.cli.options import data_dir_option, json_option
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
