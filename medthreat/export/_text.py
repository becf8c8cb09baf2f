"""Escaping of user text for the formats medthreat writes."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: str) -> str:
    """Text a spreadsheet shows as written: a leading ``'`` defuses formula-like cells."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def markdown_cell(value: str) -> str:
    """Text safe inside a Markdown table cell: no HTML, no column breaks, one line."""
    return (
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
    writer.writerow(columns)
    for record in records:
        writer.writerow([spreadsheet_text(cell(c, record[c]) if cell else cell_text(record[c]))
                         for c in columns])
    return buffer.getvalue()
