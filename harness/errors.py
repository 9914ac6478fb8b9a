"""Errors a user can cause. The CLI prints them as one line and exits with code 2.

Any other exception escaping a command is a bug in the harness: the CLI prints its traceback and
exits with code 3 (see `harness.cli.main`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class HarnessError(Exception):
    """A problem with the user's input: the message says what is wrong and what to do."""


class ArchKeyError(HarnessError):
    """An architecture key that the search space cannot parse."""


class DataFileError(HarnessError):
    """A missing, corrupt, truncated or mismatched data file."""


class UnknownNameError(HarnessError):
    """A registry lookup for a name that is not registered."""


class WriteError(HarnessError):
    """A file or folder the harness cannot write (permissions, a full disk, a file in the way)."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest known name, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""
