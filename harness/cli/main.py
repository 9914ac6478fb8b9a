"""The `nas-harness` entry point: a click group whose user errors print one line and exit 2."""

from __future__ import annotations

import sys

import click

from harness import __version__
from harness.errors import HarnessError


class UserError(click.ClickException):
    """A HarnessError on its way out: one line on stderr, exit code 2, no traceback."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class HarnessGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except HarnessError as exc:
            raise UserError(str(exc)) from None


@click.group(cls=HarnessGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nas-harness")
def cli() -> None:
    """Train weight-sharing supernets under different samplers and score their rankings."""


def _register_commands() -> None:
    from harness.cli import (
        audit,
        bench,
        check,
        correlate,
        evaluate,
        gt,
        ls,
        report,
        reproduce,
        space,
        train,
    )

    for module in (ls, space, gt, correlate, train, evaluate, audit, bench, reproduce, report,
                   check):
        module.register(cli)


_register_commands()


def main() -> None:
    cli.main(prog_name="nas-harness")


if __name__ == "__main__":
    sys.exit(main())
