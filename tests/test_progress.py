"""Plain progress keeps its promised rate through work between steps (a density recompute)."""

from __future__ import annotations

import io
import time

from harness.progress import Progress


class Plain(io.StringIO):
    def isatty(self) -> bool:
        return False


def test_a_long_stage_prints_a_line_every_period_and_names_itself():
    stream = Plain()
    bar = Progress(10, "train run", stream=stream, every=0.05)
    bar.update(5, loss=0.5)
    with bar.stage("density recompute"):
        time.sleep(0.32)
    lines = [line for line in stream.getvalue().splitlines() if "now: density recompute" in line]
    assert len(lines) >= 4, stream.getvalue()
    assert all(line.startswith("train run: 5 of 10") for line in lines)
    assert "so far" in lines[-1]
    before = stream.getvalue()
    time.sleep(0.12)  # after the stage, no more heartbeat lines
    assert stream.getvalue() == before
    bar.close()


def test_a_short_stage_prints_nothing_and_a_terminal_gets_no_lines():
    stream = Plain()
    bar = Progress(10, "train run", stream=stream, every=5.0)
    with bar.stage("density recompute"):
        time.sleep(0.01)
    assert stream.getvalue() == ""
    off = Progress(10, "train run", stream=Plain(), enabled=False, every=0.01)
    with off.stage("density recompute"):
        time.sleep(0.05)
