"""The `nas-harness` entry point: a click group that maps every outcome to an exit code.

Exit codes (also in the README):

* 0: success;
* 1: `check` found a regression (a metric left its tolerance);
* 2: a user error: a HarnessError, printed as one line "error: ..." that says what is wrong and
  what to do; click's own usage errors (an unknown option, a bad option type) also exit 2;
* 3: an internal error, a bug: any other exception escaping a command; its traceback is printed,
  then one line asking for a report;
* 130: interrupted (Ctrl-C), quietly;
* 141: the output pipe was closed by its reader (e.g. `| head`), quietly;
* 143: terminated (SIGTERM, e.g. `kill` or a scheduler), with one line saying what is kept.
"""

from __future__ import annotations

import sys
import traceback

import click

from harness import __version__
from harness.errors import HarnessError

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a killed writer
EXIT_TERMINATED = 143  # 128 + SIGTERM


class Terminated(BaseException):
    """SIGTERM, raised where the process is so that `finally` blocks and atomic writes unwind
    (a BaseException: no `except Exception` swallows it)."""


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


def _silence_stdout() -> None:
    # Python flushes stdout at exit; on a closed pipe that would print one more error.
    try:
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


class UserError(click.ClickException):
    """A HarnessError on its way out: one line on stderr, exit code 2, no traceback."""

    exit_code = EXIT_USER_ERROR

    def show(self, file=None) -> None:
        click.echo(f"error: {_one_line(self.format_message())}", err=True)


def internal_error_line() -> str:
    return (f"internal error (nas-harness {__version__}): please report it at the project's issue "
            "tracker with the command line above")


class HarnessGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except HarnessError as exc:
            raise UserError(str(exc) or exc.__class__.__name__) from None
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # usage errors (exit 2), explicit exits, click's own aborts
        except KeyboardInterrupt:
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except Terminated:
            click.echo("terminated (SIGTERM): files are only ever replaced whole, so what was "
                       "written before stays; a training run resumes from its last checkpoint "
                       "with --resume", err=True)
            raise click.exceptions.Exit(EXIT_TERMINATED) from None
        except BrokenPipeError:  # the reader went away (`nas-harness ls | head -1`): not a bug
            _silence_stdout()
            raise click.exceptions.Exit(EXIT_BROKEN_PIPE) from None
        except Exception:  # noqa: BLE001 - a bug: show it, ask for a report, exit 3
            click.echo(traceback.format_exc().rstrip("\n"), err=True)
            click.echo(internal_error_line(), err=True)
            raise click.exceptions.Exit(EXIT_INTERNAL_ERROR) from None


@click.group(cls=HarnessGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nas-harness")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE",
              help="Import MODULE first: a plug-in that registers samplers, spaces, benchmarks "
                   "or metrics (repeatable; also HARNESS_PLUGINS and the nas_harness.plugins "
                   "entry points).")
def cli(plugins: tuple[str, ...]) -> None:
    """Train weight-sharing supernets under different samplers and score their rankings.

    Exit codes: 0 ok, 1 `check` found a regression, 2 a user error (one line saying what to do),
    3 an internal error (please report it), 130 interrupted, 143 terminated (SIGTERM).
    """
    from harness.plugins import load_plugins

    try:
        load_plugins(plugins)
    except HarnessError as exc:
        raise UserError(str(exc)) from None


def _register_commands() -> None:
    from harness.cli import (
        audit,
        bench,
        check,
        correlate,
        evaluate,
        gt,
        ls,
        noise,
        plan,
        report,
        reproduce,
        rescore,
        runs,
        space,
        train,
    )

    for module in (ls, space, gt, correlate, train, evaluate, audit, runs, bench, plan, noise,
                   reproduce, rescore, report, check):
        module.register(cli)


_register_commands()


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        cli.main(prog_name="nas-harness")
    except KeyboardInterrupt:  # outside a command (e.g. while parsing): still quiet
        sys.exit(EXIT_INTERRUPTED)
    except Terminated:
        sys.exit(EXIT_TERMINATED)


if __name__ == "__main__":
    sys.exit(main())
