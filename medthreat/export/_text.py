"""Escaping of user text for the formats medthreat writes."""

from __future__ import annotations

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
