"""The one table renderer: DataFrames of numbers (CSV) and shown cells (Markdown, HTML)."""

from __future__ import annotations

import pandas as pd

from harness.experiments.render import Table, markdown_table


def test_markdown_table_escapes_pipes_and_blanks_missing_cells():
    shown = pd.DataFrame({"a": ["x|y", None], "b": [1.5, float("nan")]})
    assert markdown_table(shown) == ["| a | b |", "|---|---|", "| x\\|y | 1.5 |", "|  |  |"]


def test_table_writes_csv_numbers_and_markdown_cells(tmp_path):
    data = pd.DataFrame({"sampler": ["uniform"], "kendall_mean": [0.123456]})
    shown = pd.DataFrame({"sampler": ["uniform"], "Kendall tau": ["[0.123](runs/r1/pred.csv)"]})
    sub = Table("t_paired", "Paired", data, shown, ["sub note"], level=3)
    table = Table("t", "Title", data, shown, ["first note", "second note"], [sub])
    table.write(tmp_path)
    assert pd.read_csv(tmp_path / "t.csv").equals(data)
    text = (tmp_path / "t.md").read_text()
    assert text.splitlines()[:5] == ["## Title", "", "| sampler | Kendall tau |", "|---|---|",
                                     "| uniform | [0.123](runs/r1/pred.csv) |"]
    assert text.index("first note") < text.index("second note") < text.index("### Paired")
    assert text.index("### Paired") < text.index("sub note")
    html = table.to_html()
    assert "<table>" in html and '<a href="runs/r1/pred.csv">0.123</a>' in html
