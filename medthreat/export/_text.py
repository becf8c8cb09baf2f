"""Escaping of user text for the formats medthreat writes."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: C0 and C1 control characters other than tab, line feed and carriage return, DEL, and the
#: bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(value: str) -> str:
    """Text without control characters (terminal escape sequences, bell, NUL, right-to-left
    overrides): each becomes U+FFFD, so a document read on a terminal, in a browser or fed to
    Graphviz shows it instead of obeying it (and it cannot reorder the text around it)."""
    return _CONTROL.sub("\ufffd", value)


def spreadsheet_text(value: str) -> str:
    """Text a spreadsheet shows as written: a leading ``'`` defuses formula-like cells."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def markdown_cell(value: str) -> str:
    """Text safe inside a Markdown table cell: no HTML, no column breaks, one line, no control
    characters."""
    return printable(
        value.replace("\\", "\\\\")
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "\\|")
        .replace("[", "\\[")
        .replace("]", "\\]")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def cell_text(value: Any) -> str:
    """A value as CSV cell text: lists joined with ``; ``, booleans true/false."""
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def csv_text(records: Iterable[dict[str, Any]], columns: Sequence[str],
             cell: Callable[[str, Any], str] | None = None) -> str:
    """CSV with a header row: lists joined with ``; ``, booleans as true/false, every cell
    spreadsheet-safe. ``cell(column, value)`` may render special columns first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    # The csv module quotes only the characters of its line terminator: a bare carriage return
    # would stay unquoted and end the row for Excel and RFC 4180 readers, so a row holding one
    # is written fully quoted.
    quoted = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(columns)
    for record in records:
        row = [spreadsheet_text(cell(c, record[c]) if cell else cell_text(record[c]))
               for c in columns]
        (quoted if any("\r" in v for v in row) else writer).writerow(row)
    return buffer.getvalue()
