"""Assemble reports/<profile>/ into report.md and one self-contained report.html.

`build_report(profile, report_dir)` collects what the table and figure builders already wrote
into report_dir: Markdown table fragments (*.md, opaque; order table3, table4, table5, table6,
topk, search, then the rest alphabetically), figures (*.png, alphabetically) and runs.json (a list
of result dicts) for a "Runs" section whose numbers link to the run directories. report.html is
produced from report.md by the small Markdown converter below (GitHub pipe tables, headings,
paragraphs, lists, fenced code, links, images, `code`, **bold**, *emphasis*), with images embedded
as base64 data URIs, so the page can be moved or mailed on its own (links to run directories stay
relative to the report folder).
"""

from __future__ import annotations

import base64
import html
import json
import mimetypes
import os
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, unquote

from harness.errors import HarnessError
from harness.io import atomic_write_text

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


def load_runs(path: Path) -> list[dict]:
    """runs.json as a list of result dicts ([] if absent); accepts {"runs": [...]} too."""
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise HarnessError(f"{path}: unreadable runs list ({err})") from err
    if isinstance(data, Mapping):
        data = data.get("runs", [])
    if not isinstance(data, list) or not all(isinstance(r, Mapping) for r in data):
        raise HarnessError(f"{path}: expected a list of result objects")
    return [dict(r) for r in data]


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
        for path in figures:
            parts += [f"### {path.stem}", "", f"![{path.stem}]({quote(path.name)})", ""]
    if runs:
        parts.append(runs_section(runs, report_dir))
    return "\n".join(parts).rstrip() + "\n"


# ---------------------------------------------------------------------------- markdown -> HTML

_LINK_TAIL = r"\(\s*<?([^()\s<>]+)>?(?:\s+\"([^\"]*)\")?\s*\)"
_INLINE = re.compile(
    r"`([^`]+)`"                              # 1 code span
    r"|!\[([^\]]*)\]" + _LINK_TAIL +          # 2 alt, 3 src, 4 title
    r"|\[([^\]]+)\]" + _LINK_TAIL +           # 5 text, 6 href, 7 title
    r"|<(https?://[^>\s]+)>"                  # 8 autolink
)
_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+.!|-])")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_EM = re.compile(r"(?<![*\w])\*(?=[^\s*])([^*]+?)(?<=[^\s*])\*(?![*\w])")


def _text(segment: str) -> str:
    out = html.escape(_ESCAPED.sub(r"\1", segment), quote=False)
    out = _BOLD.sub(r"<strong>\1</strong>", out)
    return _EM.sub(r"<em>\1</em>", out)


def _image_src(src: str, base_dir: Path | None) -> str:
    if base_dir is not None and "://" not in src and not src.startswith("data:"):
        path = base_dir / unquote(src)
        if path.suffix.lower() in EMBED_SUFFIXES and path.is_file():
            mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    return src


def inline(text: str, base_dir: Path | None = None) -> str:
    """Inline Markdown -> HTML: code spans, images (embedded when local), links, emphasis."""
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(_text(text[pos:m.start()]))
        if m.group(1) is not None:
            out.append(f"<code>{html.escape(m.group(1), quote=False)}</code>")
        elif m.group(3) is not None:
            title = f' title="{html.escape(m.group(4))}"' if m.group(4) else ""
            src = html.escape(_image_src(m.group(3), base_dir))
            out.append(f'<img src="{src}" alt="{html.escape(m.group(2))}"{title}>')
        elif m.group(6) is not None:
            title = f' title="{html.escape(m.group(7))}"' if m.group(7) else ""
            out.append(f'<a href="{html.escape(m.group(6))}"{title}>'
                       f"{inline(m.group(5), base_dir)}</a>")
        else:
            url = html.escape(m.group(8))
            out.append(f'<a href="{url}">{url}</a>')
        pos = m.end()
    out.append(_text(text[pos:]))
    return "".join(out)


_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+(.*)$")
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")


def _split_row(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line)]


def _alignments(separator: str) -> list[str | None]:
    aligns = []
    for cell in _split_row(separator):
        left, right = cell.startswith(":"), cell.endswith(":")
        aligns.append("center" if left and right else "right" if right else
                      "left" if left else None)
    return aligns


def _table(header: str, separator: str, rows: list[str], base_dir: Path | None) -> str:
    heads = _split_row(header)
    aligns = _alignments(separator)
    aligns += [None] * (len(heads) - len(aligns))

    def cells(values: list[str], tag: str) -> str:
        values = (values + [""] * len(heads))[:len(heads)]
        styles = [f' style="text-align:{a}"' if a else "" for a in aligns]
        return "".join(f"<{tag}{style}>{inline(v, base_dir)}</{tag}>"
                       for v, style in zip(values, styles))

    body = "".join(f"<tr>{cells(_split_row(r), 'td')}</tr>\n" for r in rows)
    return (f"<table>\n<thead><tr>{cells(heads, 'th')}</tr></thead>\n"
            f"<tbody>\n{body}</tbody>\n</table>")


def _slug(text: str, used: set[str]) -> str:
    base = re.sub(r"[^\w\- ]", "", re.sub(r"<[^>]+>", "", text)).strip().lower().replace(" ", "-")
    slug, i = base or "section", 1
    while slug in used:
        i += 1
        slug = f"{base}-{i}"
    used.add(slug)
    return slug


def markdown_to_html(text: str, base_dir: Path | None = None) -> str:
    """Block-level Markdown -> HTML fragment (see the module docstring for what is supported)."""
    lines = text.replace("\r\n", "\n").split("\n")
    out: list[str] = []
    paragraph: list[str] = []
    used: set[str] = set()
    i = 0

    def flush() -> None:
        if paragraph:
            out.append(f"<p>{inline(' '.join(s.strip() for s in paragraph), base_dir)}</p>")
            paragraph.clear()

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            flush()
            i += 1
        elif stripped.startswith("```"):
            flush()
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith("```"):
                j += 1
            out.append("<pre><code>" + html.escape("\n".join(lines[i + 1:j]), quote=False)
                       + "</code></pre>")
            i = j + 1
        elif m := _HEADING.match(line):
            flush()
            level, content = len(m.group(1)), inline(m.group(2), base_dir)
            out.append(f'<h{level} id="{_slug(content, used)}">{content}</h{level}>')
            i += 1
        elif "|" in stripped and i + 1 < len(lines) and _SEPARATOR.match(lines[i + 1]) \
                and "-" in lines[i + 1]:
            flush()
            j = i + 2
            while j < len(lines) and lines[j].strip() and "|" in lines[j]:
                j += 1
            out.append(_table(line, lines[i + 1], lines[i + 2:j], base_dir))
            i = j
        elif _RULE.match(line):
            flush()
            out.append("<hr>")
            i += 1
        elif _BULLET.match(line) or _NUMBERED.match(line):
            flush()
            pattern, tag = (_BULLET, "ul") if _BULLET.match(line) else (_NUMBERED, "ol")
            items = []
            while i < len(lines) and (m := pattern.match(lines[i])):
                items.append(f"<li>{inline(m.group(1), base_dir)}</li>")
                i += 1
            out.append(f"<{tag}>\n" + "\n".join(items) + f"\n</{tag}>")
        elif stripped.startswith(">"):
            flush()
            quoted = []
            while i < len(lines) and lines[i].strip().startswith(">"):
                quoted.append(lines[i].strip()[1:].lstrip())
                i += 1
            out.append(f"<blockquote>{markdown_to_html(chr(10).join(quoted), base_dir)}</blockquote>")
        else:
            paragraph.append(line)
            i += 1
    flush()
    return "\n".join(out)


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


def render_html(markdown: str, title: str, base_dir: Path | None) -> str:
    body = markdown_to_html(markdown, base_dir)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n"
            f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n")


# ---------------------------------------------------------------------------- entry point

def build_report(profile: str, report_dir: str | os.PathLike) -> dict[str, Path]:
    """Write report_dir/report.md and report_dir/report.html; returns {"markdown", "html"}."""
    report_dir = Path(report_dir)
    if not report_dir.is_dir():
        raise HarnessError(f"{report_dir}: no such report folder (build the tables and figures "
                           f"of profile '{profile}' first)")
    fragments = table_fragments(report_dir)
    figures = figure_files(report_dir)
    runs = load_runs(report_dir / "runs.json")
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    markdown = render_markdown(profile, report_dir, fragments, figures, runs, _provenance(),
                               generated)
    md_path = atomic_write_text(report_dir / f"{REPORT_STEM}.md", markdown)
    page = render_html(markdown, f"nas-harness report: {profile}", report_dir)
    html_path = atomic_write_text(report_dir / f"{REPORT_STEM}.html", page)
    return {"markdown": md_path, "html": html_path}
