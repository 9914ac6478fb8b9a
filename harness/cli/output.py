"""Output helpers every command shares; this module imports no command."""

from __future__ import annotations

import sys
import time

import click

from harness.io import dumps_strict, json_safe

__all__ = ["BootstrapProgress", "echo_json", "json_safe"]


def echo_json(obj) -> None:
    """Print strict JSON (no NaN or Infinity: null instead)."""
    click.echo(dumps_strict(obj, indent=2, sort_keys=False))


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

    Quiet for short work: it shows once the total is at least `min_total` resample evaluations or
    the work has run `min_seconds`. On a terminal it redraws one line (at most `tty_interval` s
    apart); otherwise (a log, CI) it prints a plain line "bootstrap i of N, elapsed, ETA" at most
    once every `plain_interval` seconds, and a last line when it printed any.
    """

    def __init__(self, label: str = "bootstrap", min_total: int = 2000, min_seconds: float = 3.0,
                 plain_interval: float = 10.0, tty_interval: float = 0.25, stream=None,
                 clock=time.monotonic) -> None:
        self.label = label
        self.min_total = min_total
        self.min_seconds = min_seconds
        self.plain_interval = plain_interval
        self.tty_interval = tty_interval
        self._stream = stream
        self._clock = clock
        self._start: float | None = None
        self._last: float | None = None
        self.lines = 0
        self._drawn = False

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stderr

    def _isatty(self) -> bool:
        try:
            return bool(self.stream.isatty())
        except (AttributeError, ValueError):
            return False

    def _text(self, done: int, total: int, now: float) -> str:
        elapsed = now - self._start
        if done >= total:
            return f"{self.label} {total} of {total} done in {_duration(elapsed)}"
        eta = "?" if done <= 0 else _duration(elapsed * (total - done) / done)
        return f"{self.label} {done} of {total}, elapsed {_duration(elapsed)}, ETA {eta}"

    def __call__(self, done: int, total: int) -> None:
        now = self._clock()
        if self._start is None:
            self._start = now
        elapsed = now - self._start
        if total < self.min_total and elapsed < self.min_seconds and not self._drawn:
            return
        finished = done >= total
        tty = self._isatty()
        if finished:
            if self._drawn or self.lines:
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
