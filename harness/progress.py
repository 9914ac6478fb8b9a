"""Progress of long work: a tqdm bar on a terminal, plain lines at a bounded rate otherwise.

When stderr is not a terminal (a log file, CI, a SLURM job), tqdm switches itself off and long
work would be silent; `Progress` then prints one line at most every `every` seconds (and at the
end): what it is doing, i of N, elapsed time and ETA.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class Progress:
    """`with Progress(n, "epoch 3/12") as bar: ... bar.update(1, loss=0.3)`."""

    def __init__(self, total: int, what: str, enabled: bool = True, every: float = 10.0,
                 stream=None, initial: int = 0):
        self.total, self.what, self.every = int(total), what, float(every)
        self.stream = stream or sys.stderr
        self.done = self.initial = int(initial)
        self.started = time.perf_counter()
        self.last_line = self.started
        self.postfix = ""
        self.bar = None
        self.enabled = enabled
        self.plain = False
        self._lock = threading.Lock()
        if enabled:
            tty = hasattr(self.stream, "isatty") and self.stream.isatty()
            if tty:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=self.total, initial=self.initial, desc=what, leave=False,
                                file=self.stream)
            else:
                self.plain = True

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, n: int = 1, **postfix) -> None:
        self.done += n
        if postfix:
            self.postfix = ", ".join(f"{k} {v}" for k, v in postfix.items())
        if self.bar is not None:
            self.bar.update(n)
            if postfix:
                self.bar.set_postfix_str(self.postfix)
        elif self.plain:
            now = time.perf_counter()
            if now - self.last_line >= self.every:
                self._line(now)

    def _line(self, now: float, doing: str = "") -> None:
        elapsed = now - self.started
        fresh = self.done - self.initial  # the rate counts this process's work only
        # Elapsed time over steps done, stages (e.g. density recomputes) included: once one has
        # run, the ETA carries its share of the remaining work.
        eta = elapsed / fresh * (self.total - self.done) if fresh > 0 else float("nan")
        eta_text = _duration(eta) if fresh > 0 else "?"
        extra = f", {self.postfix}" if self.postfix else ""
        now_doing = f"; now: {doing}" if doing else ""
        with self._lock:
            print(f"{self.what}: {self.done} of {self.total}, {_duration(elapsed)} elapsed, "
                  f"ETA {eta_text}{extra}{now_doing}", file=self.stream, flush=True)
            self.last_line = now

    @contextmanager
    def stage(self, doing: str) -> Iterator[None]:
        """Work between steps (a density recompute): plain output keeps its promised rate, a
        line at least every `every` seconds saying what is running and for how long."""
        if not self.plain:
            yield
            return
        stop = threading.Event()
        began = time.perf_counter()

        def beat() -> None:
            while not stop.wait(max(0.0, self.every - (time.perf_counter() - self.last_line))):
                now = time.perf_counter()
                if now - self.last_line >= self.every:
                    self._line(now, f"{doing}, {_duration(now - began)} so far")

        thread = threading.Thread(target=beat, name="progress-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.plain and self.done > self.initial and time.perf_counter() - self.started >= self.every:
            self._line(time.perf_counter())
        self.plain = False
