"""Assemble reports/<profile>/ into report.md and one self-contained report.html.

`build_report(profile, report_dir)` collects what the table and figure builders already wrote
into report_dir: Markdown table fragments (*.md, opaque; order table3, table4, table5, table6,
topk, search, then the rest alphabetically), figures (*.png, alphabetically) and runs.json (a list
of result dicts) for a "Runs" section whose numbers link to the run directories. report.html is
rendered from report.md by markdown-it-py (CommonMark with GitHub tables) inside a Jinja2 page
template, with images embedded as base64 data URIs, so the page can be moved or mailed on its own
(links to run directories stay relative to the report folder).
"""

from __future__ import annotations

import base64
import mimetypes
import os
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, unquote

from harness.errors import HarnessError
from harness.io import atomic_write_text
from harness.results import ReportDir

TABLE_ORDER = ("table3", "table4", "table5", "table6", "topk", "search")
REPORT_STEM = "report"
EMBED_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg"}


# ---------------------------------------------------------------------------- collection

def _fragment_rank(path: Path) -> tuple[int, str]:
    head = re.split(r"[_\-.]", path.stem, maxsplit=1)[0]
    for i, name in enumerate(TABLE_ORDER):
        if path.stem == name or head == name:
            return i, path.stem
    return len(TABLE_ORDER), path.stem


def table_fragments(report_dir: Path) -> list[Path]:
    """The *.md fragments of report_dir in report order (report.md and hidden files excluded)."""
    found = [p for p in report_dir.glob("*.md")
             if p.is_file() and not p.name.startswith(".") and p.name != f"{REPORT_STEM}.md"]
    return sorted(found, key=_fragment_rank)


def figure_files(report_dir: Path) -> list[Path]:
    return sorted(p for p in report_dir.glob("*.png") if p.is_file() and not p.name.startswith("."))


def _provenance() -> dict:
    try:
        from harness.train.config import provenance

        return provenance()
    except ImportError:  # torch missing: version and commit still known
        from harness import __version__
        from harness.train.config import git_commit

        return {"harness_version": __version__, "git_commit": git_commit()}


# ---------------------------------------------------------------------------- markdown

def run_link(run_dir: str | os.PathLike | None, base: Path) -> str | None:
    """URL of a run directory relative to `base` (the report folder) when possible."""
    if not run_dir:
        return None
    path = Path(run_dir)
    if not path.is_absolute():
        path = Path.cwd() / path
    try:
        rel = os.path.relpath(path, base.resolve())
    except ValueError:  # another drive (Windows)
        return path.resolve().as_uri()
    return quote(Path(rel).as_posix(), safe="/._-~") + "/"


def _cell(text) -> str:
    return str(text).replace("|", r"\|").replace("\n", " ")


def _metric(result: Mapping, name: str) -> dict:
    return ((result.get("metrics") or {}).get(name)) or {}


def _num(value, digits: int = 3) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return f"{value:.{digits}f}"


def _linked(text: str | None, href: str | None) -> str:
    if text is None:
        return "n/a"
    return f"[{text}]({href})" if href else text


def _options_text(options) -> str:
    if not options:
        return ""
    return ", ".join(f"{k}={v}" for k, v in sorted(dict(options).items()))


def runs_section(runs: list[dict], report_dir: Path) -> str:
    """'## Runs' with one row per result; numbers and the run name link to its run directory."""
    lines = ["## Runs", "",
             f"{len(runs)} runs. Kendall τ and Spearman ρ of supernet estimates against the "
             "benchmark's ground truth; 95% bootstrap interval of τ as recorded in result.json. "
             "Each number links to its run directory.", "",
             "| label | seed | sampler | options | Kendall τ | τ 95% CI | Spearman ρ | n | run |",
             "|---|---:|---|---|---:|---:|---:|---:|---|"]
    for result in runs:
        archived = report_dir / result["archive"] if result.get("archive") else None
        href = run_link(archived if archived is not None and archived.exists()
                        else result.get("run_dir"), report_dir)
        tau = _metric(result, "kendall_tau")
        rho = _metric(result, "spearman")
        low, high = _num(tau.get("ci_low"), 2), _num(tau.get("ci_high"), 2)
        ci = f"{low} – {high}" if low is not None and high is not None else None
        name = Path(str(result["run_dir"])).name if result.get("run_dir") else None
        cells = [
            _cell(result.get("label", "")),
            _cell(result.get("seed", "")),
            _cell(result.get("sampler", "")),
            _cell(_options_text(result.get("sampler_options"))),
            _linked(_num(tau.get("value")), href),
            _linked(ci, href),
            _linked(_num(rho.get("value")), href),
            _linked(None if result.get("n") is None else str(result["n"]), href),
            _linked(None if name is None else _cell(name), href),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_markdown(profile: str, report_dir: Path, fragments: list[Path], figures: list[Path],
                    runs: list[dict], provenance: Mapping, generated: str) -> str:
    parts = [
        f"# nas-harness report: profile `{profile}`", "",
        f"- generated: {generated}",
        f"- harness version: {provenance.get('harness_version', 'unknown')}",
        f"- git commit: {provenance.get('git_commit') or 'unknown'}",
    ]
    for key in ("torch", "python"):
        if provenance.get(key):
            parts.append(f"- {key}: {provenance[key]}")
    parts.append("")
    if not (fragments or figures or runs):
        parts += ["Nothing to report yet: no tables (*.md), figures (*.png) or runs.json in "
                  "this folder.", ""]
    for path in fragments:
        text = path.read_text().strip()
        if not text.startswith("#"):
            parts += [f"## {path.stem}", ""]
        parts += [text, ""]
    if figures:
        parts += ["## Figures", ""]
        from harness.experiments.figures import figure_caption

        for path in figures:
            heading, caption = figure_caption(path.stem)
            parts += [f"### {heading}", "", f"![{heading}]({quote(path.name)})", ""]
            if caption:
                parts += [f"*{caption}* (`{path.name}`)", ""]
    if runs:
        parts.append(runs_section(runs, report_dir))
    return "\n".join(parts).rstrip() + "\n"


# ---------------------------------------------------------------------------- markdown -> HTML

def _markdown_parser():
    """CommonMark with GFM tables (markdown-it-py); local images become data: URIs."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table")


def _image_src(src: str, base_dir: Path | None) -> str:
    if base_dir is not None and "://" not in src and not src.startswith("data:"):
        path = base_dir / unquote(src)
        if path.suffix.lower() in EMBED_SUFFIXES and path.is_file():
            mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    return src


def markdown_to_html(text: str, base_dir: Path | None = None) -> str:
    """Markdown -> HTML body with markdown-it-py; images under base_dir are embedded, so the page
    is self-contained."""
    md = _markdown_parser()
    tokens = md.parse(text)
    for token in tokens:
        for child in token.children or []:
            if child.type == "image":
                child.attrSet("src", _image_src(child.attrGet("src") or "", base_dir))
    return md.renderer.render(tokens, md.options, {})


CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; font-size: 15px;
       line-height: 1.5; color: #1f2328; background: #fff; margin: 0; }
main { max-width: 1150px; margin: 0 auto; padding: 1.5em 2em 4em; }
h1, h2, h3 { line-height: 1.25; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .3em;
       margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 14px; display: block;
        overflow-x: auto; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; }
th { background: #f6f8fa; } tbody tr:nth-child(even) { background: #fafbfc; }
td { font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
code { background: #f3f4f6; padding: 0 3px; border-radius: 3px; font-size: 90%; }
pre { background: #f6f8fa; padding: 10px; overflow-x: auto; }
a { color: #0969da; text-decoration: none; } a:hover { text-decoration: underline; }
blockquote { margin: 0; padding: 0 1em; color: #59636e; border-left: 4px solid #d0d7de; }
"""


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>{{ css }}</style>
</head>
<body>
<main>
{{ body }}
</main>
</body>
</html>
"""


def render_html(markdown: str, title: str, base_dir: Path | None) -> str:
    """The self-contained page: a Jinja2 template around the rendered Markdown."""
    from jinja2 import Environment
    from markupsafe import Markup

    template = Environment(autoescape=True).from_string(PAGE)
    return template.render(title=title, css=Markup(CSS),
                           body=Markup(markdown_to_html(markdown, base_dir)))


# ---------------------------------------------------------------------------- entry point

def build_report(profile: str, report_dir: str | os.PathLike) -> dict[str, Path]:
    """Write report_dir/report.md and report_dir/report.html; returns {"markdown", "html"}."""
    report_dir = Path(report_dir)
    if not report_dir.is_dir():
        raise HarnessError(f"{report_dir}: no such report folder (build the tables and figures "
                           f"of profile '{profile}' first)")
    fragments = table_fragments(report_dir)
    figures = figure_files(report_dir)
    runs = ReportDir(report_dir).read_runs()
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    markdown = render_markdown(profile, report_dir, fragments, figures, runs, _provenance(),
                               generated)
    md_path = atomic_write_text(report_dir / f"{REPORT_STEM}.md", markdown)
    page = render_html(markdown, f"nas-harness report: {profile}", report_dir)
    html_path = atomic_write_text(report_dir / f"{REPORT_STEM}.html", page)
    return {"markdown": md_path, "html": html_path}
