"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable

import click

from harness.errors import HarnessError


class PathOption(click.Path):
    """click.Path whose refusals (a file where a folder is expected, or the reverse) are one
    `error:` line with exit 2, as every other bad input, not click's usage block."""

    def fail(self, message, param=None, ctx=None):
        name = param.opts[0] if param is not None and getattr(param, "opts", None) else "path"
        what = "a folder" if not self.file_okay else "a file" if not self.dir_okay else "a path"
        raise HarnessError(f"{name}: {message.rstrip('.')}; pass {what}")


class ProfileChoice(click.ParamType):
    """A registered profile's name, checked when the command runs (so a plug-in's profile is
    a choice too); a wrong name is one `error:` line with "did you mean"."""

    name = "profile"

    def get_metavar(self, param, ctx=None) -> str:
        from harness.profiles import profile_names

        return "[" + "|".join(profile_names()) + "]"

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem

        from harness.profiles import profile_names

        return [CompletionItem(n) for n in profile_names() if n.startswith(incomplete)]

    def convert(self, value, param, ctx):
        from harness.errors import did_you_mean
        from harness.profiles import PROFILES, profile_names

        if value not in PROFILES:
            raise HarnessError(f"--profile {value!r}: unknown profile"
                               f"{did_you_mean(value, profile_names())}; known: "
                               f"{', '.join(profile_names())} (nas-harness ls profiles)")
        return value


def profile_option(default: str, help: str = "Profile (nas-harness ls profiles).") -> Callable:
    return click.option("--profile", type=ProfileChoice(), default=default, show_default=True,
                        help=help)


data_dir_option = click.option(
    "--data-dir",
    type=PathOption(file_okay=False),
    default=None,
    help="Ground-truth data directory (default: $HARNESS_DATA_DIR, then the user cache).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def parse_seeds(text: str, flag: str = "--seeds") -> tuple[int, ...]:
    """'0,1,2' or '0-7' (or a mix) -> distinct seeds in order; one clear error otherwise."""
    seeds: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            low, _, high = part.partition("-") if part.count("-") == 1 and not part.startswith("-") \
                else (part, "", "")
            span = range(int(low), int(high) + 1) if high else [int(low)]
            if high and int(high) < int(low):
                raise ValueError
            seeds.extend(s for s in span if s not in seeds)
    except ValueError:
        raise HarnessError(f"{flag} {text!r}: expected comma-separated integers or ranges "
                           "(e.g. 0,1 or 0-7)") from None
    if not seeds:
        raise HarnessError(f"{flag} {text!r}: no seeds given")
    if any(s < 0 for s in seeds):
        raise HarnessError(f"{flag} {text!r}: seeds must be non-negative")
    return tuple(seeds)
