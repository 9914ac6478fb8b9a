"""Output helpers every command shares; this module imports no command."""

from __future__ import annotations

import errno
import io
import os
import sys
import time

import click

from harness.errors import WriteError
from harness.io import dumps_strict, json_safe

__all__ = ["BootstrapProgress", "echo_json", "emit", "json_safe", "plain"]


def plain(value) -> str:
    """A value as plain text, never a Python repr: true/false, '-' for unset, lists and dicts
    as comma-separated items, floats to 4 significant digits."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {plain(v)}" for k, v in value.items()) or "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(plain(v) for v in value) or "-"
    return str(value)

# Errors of a write that stopped short: the disk is full, or a file size limit was reached.
_OUT_OF_ROOM = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


def emit(text: str) -> None:
    """`text` and a newline on standard output, failing in one line when the write stops short.

    Python's buffered writer can lose the error of a short write (`ulimit -f`, a full disk) and
    exit 0 with a truncated file: this writes the bytes itself and checks every write."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        click.echo(text)  # not a real file (a test runner's buffer)
        return
    sys.stdout.flush()
    view = memoryview((text + "\n").encode("utf-8"))
    while view:
        try:
            written = os.write(fd, view)
        except OSError as exc:
            if exc.errno in _OUT_OF_ROOM:
                raise WriteError(f"cannot write the output ({exc.strerror}): what was written is "
                                 "incomplete; free space or raise the file size limit and run "
                                 "again") from None
            raise
        view = view[written:]


def echo_json(obj) -> None:
    """Print strict JSON (no NaN or Infinity: null instead)."""
    emit(dumps_strict(obj, indent=2, sort_keys=False))


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class BootstrapProgress:
    """Progress of a long bootstrap on stderr, called as ``progress(done, total)``.

    Quiet for short work: it shows from the start when `always` (the CLI sets it for 2000
    resamples or more), else once the work has run `min_seconds`. On a terminal it redraws one
    line (at most every `tty_interval` s); otherwise (a log, CI) it prints a plain line
    "bootstrap i of N ..., elapsed, ETA" at most once every `plain_interval` seconds (the first
    about a second in, when an ETA can be estimated), and a last line when it printed any.
    """

    def __init__(self, label: str = "bootstrap", unit: str = "resamples (all metrics)",
                 always: bool = False, min_seconds: float = 5.0,
                 plain_interval: float = 10.0, tty_interval: float = 0.25, stream=None,
                 clock=time.monotonic) -> None:
        self.label = label
        self.unit = unit
        self.always = always
        self.min_seconds = min_seconds
        self.plain_interval = plain_interval
        self.tty_interval = tty_interval
        self._stream = stream
        self._clock = clock
        self._start: float | None = None
        self._last: float | None = None
        self.lines = 0
        self._drawn = False
        self._finished = False
        self._tty: bool | None = None

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stderr

    def _isatty(self) -> bool:
        if self._tty is None:  # asked once: a system call per resample would cost
            try:
                self._tty = bool(self.stream.isatty())
            except (AttributeError, ValueError):
                self._tty = False
        return self._tty

    def _text(self, done: int, total: int, now: float) -> str:
        elapsed = now - self._start
        if done >= total:
            return f"{self.label} {total} of {total} {self.unit} done in {_duration(elapsed)}"
        eta = "?" if done <= 0 else _duration(elapsed * (total - done) / done)
        return (f"{self.label} {done} of {total} {self.unit}, elapsed {_duration(elapsed)}, "
                f"ETA {eta}")

    def __call__(self, done: int, total: int) -> None:
        if self._finished:
            return
        now = self._clock()
        if self._start is None:
            self._start = now
        elapsed = now - self._start
        if not self.always and elapsed < self.min_seconds and not (self._drawn or self.lines):
            return
        finished = done >= total
        tty = self._isatty()
        if finished:
            self._finished = True
            # Long work (`always`) always ends with its line, however fast it ran.
            if self._drawn or self.lines or self.always:
                self._emit(self._text(done, total, now), tty, final=True)
            return
        interval = self.tty_interval if tty else self.plain_interval
        # The first plain line comes once an ETA can be estimated (about a second in).
        if self._last is None:
            if not tty and elapsed < min(1.0, self.plain_interval):
                return
        elif now - self._last < interval:
            return
        self._last = now
        self._emit(self._text(done, total, now), tty, final=False)

    def _emit(self, text: str, tty: bool, final: bool) -> None:
        stream = self.stream
        if tty:
            stream.write("\r\x1b[K" + text + ("\n" if final else ""))
            self._drawn = not final
        else:
            stream.write(text + "\n")
        self.lines += 1
        stream.flush()
