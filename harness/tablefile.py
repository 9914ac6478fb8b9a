"""Tables as users have them: CSV, TSV or semicolon files (delimiter sniffed), JSON (`{key: score}`
or a list of records), JSON lines, any of them gzipped. One reader, one-line errors.

pandas reads each form; what is written here is only the choice between them and the errors,
since pandas alone would take a JSON dict for a frame of columns and a TSV for one column.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pandas as pd

from harness.errors import DataFileError

DELIMITERS = ",\t;|"


def _text(path: Path, what: str) -> str:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except IsADirectoryError:
        raise DataFileError(f"{path}: is a folder, not a {what}") from None
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read the {what} ({exc.strerror or exc}); check the "
                            "file and its permissions") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataFileError(f"{path}: a damaged gzip file ({exc}); fetch or write it again") \
                from None
    if b"\x00" in raw[:8192]:
        raise DataFileError(f"{path}: a binary file, not a {what} (CSV, TSV, JSON or JSON lines, "
                            "optionally gzipped)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataFileError(f"{path}: not UTF-8 text; save the {what} as UTF-8") from None


def _from_json(text: str, path: Path, key_column: str, score_column: str) -> pd.DataFrame:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataFileError(f"{path}: line {number} is not JSON ({exc.msg}); a JSON, "
                                    "JSON-lines or delimited file was expected") from None
        value = rows
    if isinstance(value, dict):
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values()):
            return pd.DataFrame({key_column: list(value), score_column: list(value.values())})
        raise DataFileError(f"{path}: a JSON object whose values are not all numbers; write "
                            "{architecture key: score} or a list of records")
    if isinstance(value, list) and all(isinstance(r, dict) for r in value):
        frame = pd.DataFrame.from_records(value)
        if key_column in frame.columns:
            frame[key_column] = frame[key_column].astype(object)
        return frame
    raise DataFileError(f"{path}: JSON that is neither {{key: score}} nor a list of records")


def _delimiter(path: Path, text: str) -> str:
    """The delimiter of a delimited file: from the header line only (keys such as NB-201's
    strings hold '|' and '+', NASLib's tuples hold ','); a header without any is one column."""
    header = text.split("\n", 1)[0]
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".tsv"):
        return "\t"
    if not any(d in header for d in DELIMITERS):
        return "\x1f"  # one column: a separator no text file holds
    try:
        return csv.Sniffer().sniff(header + "\n", DELIMITERS).delimiter
    except csv.Error:
        return ","


def read_table(path: str | Path, what: str = "table", key_column: str = "key",
               score_column: str = "score") -> pd.DataFrame:
    """The file as a frame. `key_column` stays text (codes such as '00120021' keep their zeros);
    a JSON `{key: score}` object becomes the columns `key_column` and `score_column`."""
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"{path}: {what} not found; check the path")
    if not path.is_dir() and not path.is_file():
        raise DataFileError(f"{path}: not a regular file; pass a {what}")
    text = _text(path, what)
    if not text.strip():
        raise DataFileError(f"{path}: file is empty; pass a {what}")
    if text.lstrip()[:1] in ("{", "["):
        frame = _from_json(text, path, key_column, score_column)
    else:
        delimiter = _delimiter(path, text)
        try:
            frame = pd.read_csv(io.StringIO(text), sep=delimiter, dtype={key_column: str})
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
            raise DataFileError(f"{path}: malformed CSV {what} ({first}); fix the file or re-export it") from None
    if frame.empty:
        raise DataFileError(f"{path}: file has a header but no rows; pass a {what} with rows")
    return frame
