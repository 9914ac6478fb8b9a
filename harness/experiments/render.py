"""One renderer for every table: a `Table` holds its numbers (a DataFrame, written as CSV) and the
cells it shows (a DataFrame of strings: formatted numbers, run links), and renders itself to
Markdown and HTML. Tables never write Markdown pipes by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.io import atomic_write_csv, atomic_write_text


def _cell(value) -> str:
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(display: pd.DataFrame) -> list[str]:
    """A GitHub-flavoured Markdown table of `display` (cells as given, pipes escaped)."""
    lines = ["| " + " | ".join(_cell(c) for c in display.columns) + " |",
             "|" + "---|" * len(display.columns)]
    for row in display.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return lines


@dataclass
class Table:
    """A table as data: `data` is what the CSV holds, `display` the cells shown (one row per
    shown row), `notes` the paragraphs under it, `sections` sub-tables rendered after it."""

    name: str
    title: str
    data: pd.DataFrame
    display: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    sections: list[Table] = field(default_factory=list)
    level: int = 2

    def to_markdown(self) -> str:
        lines = [f"{'#' * self.level} {self.title}", ""]
        if not self.display.empty:
            lines += markdown_table(self.display)
        for note in self.notes:
            lines += ["", note]
        for section in self.sections:
            lines += ["", section.to_markdown().rstrip("\n")]
        return "\n".join(lines) + "\n"

    def to_html(self, base_dir: Path | None = None) -> str:
        """The same table as an HTML fragment (the report's Markdown renderer)."""
        from harness.experiments.report import markdown_to_html

        return markdown_to_html(self.to_markdown(), base_dir)

    def write(self, report_dir: Path) -> None:
        """`<name>.csv` (the numbers) and `<name>.md` (title, shown cells, notes), atomically."""
        atomic_write_csv(report_dir / f"{self.name}.csv", self.data)
        atomic_write_text(report_dir / f"{self.name}.md", self.to_markdown())
