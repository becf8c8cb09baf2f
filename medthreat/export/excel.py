"""The Excel risk register: one workbook per analysis, and the import of what was edited in it.

:func:`write_register` writes the sheets *Summary*, *Risk Register*, *Controls*,
*Traceability*, *Assets* and *Interfaces* (plus a hidden *medthreat* sheet remembering what was
exported). :func:`import_register` reads the editable decision columns of the *Risk Register*
back and merges them into a decisions file with :func:`medthreat.lifecycle.merge`.

The rows of the *Risk Register* are :func:`medthreat.export.register.register_record`, the same
records ``findings.json`` carries, so the workbook and the JSON cannot disagree.

Only what the risk manager changed in the workbook is applied: every row is compared with the
decision values the workbook was exported with (kept on the hidden sheet), so a stale workbook
cannot overwrite a newer decisions file with values nobody touched. Text that a spreadsheet
would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or CR) is written as a
text cell with Excel's quote prefix, so it shows and comes back exactly as written.

Large registers (tens of thousands of findings) are written in a streaming way: openpyxl lays
out the workbook (styles, column widths, frozen header, autofilter, conditional formatting,
data validation, print setup, hidden sheet) with empty sheets, and the cell rows are then
streamed into each sheet's XML as inline-string cells with the workbook's own cell formats, so
time and memory grow linearly and stay small. The file is byte-identical for the same inputs.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import io
import operator
import os
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from pydantic import ValidationError

from .._runtime import gc_paused
from .._yaml import atomic_output
from ..errors import DecisionsError, Problem
from ..errors import shorten as _short
from ..graph import flow_protection
from ..lifecycle.decisions import (
    Change,
    Decision,
    Decisions,
    DecisionStatus,
    check_key,
    merge,
)
from ..risk.policy import DIMENSIONS
from .register import (
    COMPUTED_COLUMNS,
    EDITABLE_COLUMNS,
    REGISTER_COLUMNS,
    RecordContext,
    register_record,
)

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

    from ..catalog import Catalog
    from ..risk import RiskRegister
    from ..risk.assess import Assessment

__all__ = [
    "EDITABLE",
    "REGISTER_COLUMNS",
    "SHEETS",
    "import_register",
    "sheet_title",
    "write_register",
]

FORMAT = "medthreat-register-xlsx/1"

SUMMARY, REGISTER, CONTROLS, TRACE, ASSETS, INTERFACES, LABELING, META = (
    "Summary", "Risk Register", "Controls", "Traceability", "Assets", "Interfaces", "Labeling",
    "medthreat")
#: Visible sheets in workbook order.
SHEETS = (SUMMARY, REGISTER, CONTROLS, TRACE, ASSETS, INTERFACES, LABELING)

#: Column widths of the Risk Register (every register column needs one).
_WIDTHS: dict[str, int] = {
    "finding_id": 34, "threat_id": 16, "title": 40, "stride": 16, "ai_privacy_category": 16,
    "protection_goal": 14, "element_id": 22, "element_name": 24, "element_kind": 14,
    "element_type": 20, "flow": 30, "boundaries_crossed": 22, "description": 60,
    "attack_vector": 12, "exploitability_pre": 12, "impact_dimension": 11,
    "patient_harm_severity": 14, "privacy_business_impact": 14, "risk_pre": 11,
    "acceptability_pre": 13, "controls": 50, "planned_controls": 30, "suggested_controls": 30,
    "fda_control_categories": 30, "control_status": 30, "exploitability_post": 12,
    "severity_post": 12, "residual_risk": 11, "acceptability_post": 13, "controlled_post": 11,
    "multi_patient": 9, "safety_transfer": 9, "requirement_ids": 24, "verification_ids": 24,
    "references": 36, "decision_key": 30,
    "status": 15, "justification": 50, "owner": 18, "date": 12, "ticket": 14, "hazard_ids": 18,
}
#: (header, width) of the computed columns of the Risk Register.
_COMPUTED: tuple[tuple[str, int], ...] = tuple((c, _WIDTHS[c]) for c in COMPUTED_COLUMNS)
#: The decision columns a risk manager edits; read back by :func:`import_register`.
EDITABLE: tuple[tuple[str, int], ...] = tuple((c, _WIDTHS[c]) for c in EDITABLE_COLUMNS)
_EDIT_FIELDS = EDITABLE_COLUMNS
_STATUSES = tuple(s.value for s in DecisionStatus)
_LIST_SEP = "; "

_HEADER_FILL = PatternFill("solid", start_color="1F3864", end_color="1F3864")
_EDIT_HEADER_FILL = PatternFill("solid", start_color="7F6000", end_color="7F6000")
_EDIT_FILL = PatternFill("solid", start_color="FFF2CC", end_color="FFF2CC")
_HEADER_FONT = Font(bold=True, color="FFFFFF")
_BOLD = Font(bold=True)
_WRAP = Alignment(wrap_text=True, vertical="top")
_HEADER_ALIGN = Alignment(wrap_text=True, vertical="center")
_CENTER = Alignment(horizontal="center", vertical="center")
_THIN = Side(style="thin", color="BFBFBF")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_ACCEPTABILITY_COLOURS = {"acceptable": "#c8e6c9", "review": "#ffe082",
                          "unacceptable": "#ef9a9a"}
_DATE_FORMAT = "yyyy-mm-dd"
# Workbook metadata and zip entries would otherwise carry the time of export.
_EPOCH = dt.datetime(2000, 1, 1)
_ZIP_TIME = (2000, 1, 1, 0, 0, 0)
_EXCEL_DAY0 = dt.date(1899, 12, 30)
#: The first day whose spreadsheet day number is ``(day - _EXCEL_DAY0).days``.
_FIRST_SERIAL_DAY = dt.date(1900, 3, 1)


# -- cells ----------------------------------------------------------------------------------


def sheet_title(name: str, taken: Iterable[str] = ()) -> str:
    """A valid, unique Excel sheet name for ``name``.

    Excel's rules: at most 31 characters, none of ``[]:*?/\\``, not starting or ending with an
    apostrophe, not empty, not ``History``; names compare case-insensitively, so a clash with
    ``taken`` gets a ``~2``, ``~3`` ... suffix within the 31 characters.
    """
    text = re.sub(r"[\[\]:*?/\\]", "_", ILLEGAL_CHARACTERS_RE.sub("", name)).strip().strip("'")
    text = text[:31].strip().strip("'") or "Sheet"
    if text.lower() == "history":
        text = "History_"
    used = {t.lower() for t in taken}
    base, n = text, 1
    while text.lower() in used:
        n += 1
        suffix = f"~{n}"
        text = base[: 31 - len(suffix)] + suffix
    return text


@functools.lru_cache(maxsize=256)
def _fill(colour: str) -> PatternFill:
    hex_ = colour.lstrip("#").upper()
    return PatternFill("solid", start_color=hex_, end_color=hex_)


@functools.lru_cache(maxsize=256)
def _font_on(colour: str) -> Font:
    r, g, b = (int(colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
    dark = 0.299 * r + 0.587 * g + 0.114 * b < 150
    return Font(bold=True, color="FFFFFF" if dark else "000000")


def _escape(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")  # a literal CR would become LF when read
    if "_x" in text:
        # Spreadsheets read _xHHHH_ as the character U+HHHH; text that merely looks like it
        # keeps its underscore escaped (_x005F_), as ECMA-376 prescribes.
        text = _XSTRING_ESCAPE.sub(r"_x005F\g<0>", text)
    return text


_XSTRING_ESCAPE = re.compile(r"_(?=x[0-9A-Fa-f]{4}_)")


class _Cells:
    """Cell XML with a shared string table: each distinct text is stored once."""

    def __init__(self) -> None:
        self._index: dict[str, tuple[int, bool]] = {}
        self._texts: list[str] = []

    def xml(self, ref: str, value: Any, style: int, quoted: int) -> str:
        """One ``<c>`` element at ``ref`` (``""``: no reference, the cell follows the previous
        one of its row): text as a shared string, with the quote-prefixed format when it looks
        like a formula (so it is never one); numbers and dates as values; booleans yes/no; an
        empty cell keeps its format (the fill of the editable columns)."""
        at = f' r="{ref}"' if ref else ""
        kind = type(value)
        if kind is str:
            text = value
        elif kind is list or kind is tuple:
            text = _LIST_SEP.join(str(v) for v in value)
        elif kind is bool:
            text = "yes" if value else "no"
        elif value is None:
            text = ""
        elif isinstance(value, dt.date):
            day = value.date() if isinstance(value, dt.datetime) else value
            if day >= _FIRST_SERIAL_DAY:
                return f'<c{at} s="{style}"><v>{(day - _EXCEL_DAY0).days}</v></c>'
            # Spreadsheets number earlier days differently (1900 is a leap year to Excel, and
            # there is no day before 1900-01-01): ISO text reads back as the same date.
            text = day.isoformat()
        elif isinstance(value, int | float):
            return f'<c{at} s="{style}"><v>{value!r}</v></c>'
        else:
            text = str(value)
        if not text:
            return f'<c{at} s="{style}"/>'
        entry = self._index.get(text)
        if entry is None:
            clean = ILLEGAL_CHARACTERS_RE.sub("", text)
            entry = self._index[text] = (len(self._texts), clean.startswith(_FORMULA_START))
            self._texts.append(clean)
        index, formula = entry
        return f'<c{at} s="{quoted if formula else style}" t="s"><v>{index}</v></c>'

    def table_xml(self) -> Iterator[str]:
        """The ``sharedStrings.xml`` part, piece by piece."""
        yield ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns='
               f'"{_MAIN_NS}" uniqueCount="{len(self._texts)}">')
        for text in self._texts:
            space = ' xml:space="preserve"' if text and (text[0].isspace() or
                                                          text[-1].isspace()) else ""
            yield f"<si><t{space}>{_escape(text)}</t></si>"
        yield "</sst>"


_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
#: What makes text formula-like: the same rule as :func:`~medthreat.export._text.spreadsheet_text`.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Styles:
    """Cell formats of the workbook (``cellXfs`` ids), registered through openpyxl on a scratch
    sheet that is removed before saving."""

    def __init__(self, wb: Workbook) -> None:
        self._wb = wb
        self._ws = wb.create_sheet("~styles")
        self._ids: dict[tuple[Any, ...], int] = {}
        self._keep: list[tuple[Any, ...]] = []

    def id(self, *, font: Font | None = None, fill: PatternFill | None = None,
           alignment: Alignment | None = None, border: Border | None = None,
           number_format: str | None = None, quote: bool = False) -> int:
        # By identity: hashing openpyxl style objects is slow, and the module's styles (and the
        # memoized fills and fonts per colour) are shared objects.
        key = (id(font), id(fill), id(alignment), id(border), number_format, quote)
        sid = self._ids.get(key)
        if sid is None:
            self._keep.append((font, fill, alignment, border))
            cell = self._ws.cell(row=len(self._ids) + 1, column=1)
            if font is not None:
                cell.font = font
            if fill is not None:
                cell.fill = fill
            if alignment is not None:
                cell.alignment = alignment
            if border is not None:
                cell.border = border
            if number_format is not None:
                cell.number_format = number_format
            if quote:
                cell.quotePrefix = True
            sid = self._ids[key] = cell.style_id
        return sid

    def pair(self, **style: Any) -> tuple[int, int]:
        """The format and its quote-prefixed twin."""
        return self.id(**style), self.id(**style, quote=True)

    def close(self) -> None:
        self._wb.remove(self._ws)


@dataclass
class _Sheet:
    """The cells of one sheet: a grid of placed cells, then streamed table rows."""

    ws: Worksheet
    styles: _Styles
    cells: dict[tuple[int, int], tuple[Any, tuple[int, int]]] = field(default_factory=dict)
    heights: dict[int, float] = field(default_factory=dict)
    rows: Iterable[Sequence[Any]] = ()
    row_styles: Sequence[tuple[int, int]] = ()
    row_count: int = 0

    def put(self, row: int, col: int, value: Any, **style: Any) -> None:
        """Place one cell with its format (font, fill, alignment, border, number_format)."""
        self.cells[(row, col)] = (value, self.styles.pair(**style))

    @property
    def first_table_row(self) -> int:
        return max((r for r, _ in self.cells), default=0) + 1

    def dimension(self) -> str:
        last_row = self.first_table_row - 1 + self.row_count
        last_col = max([c for _, c in self.cells] + [len(self.row_styles), 1])
        return f"A1:{get_column_letter(last_col)}{max(last_row, 1)}"

    def xml_rows(self, xml: Callable[[str, Any, int, int], str]) -> Iterator[str]:
        """The ``<row>`` elements, cells written by ``xml(ref, value, style, quoted)``."""
        by_row: dict[int, list[int]] = {}
        for r, c in sorted(self.cells):
            by_row.setdefault(r, []).append(c)
        for r, cols in by_row.items():
            height = self.heights.get(r)
            attrs = f' ht="{height}" customHeight="1"' if height else ""
            cells = []
            for c in cols:
                value, (style, quoted) = self.cells[(r, c)]
                cells.append(xml(f"{get_column_letter(c)}{r}", value, style, quoted))
            yield f'<row r="{r}"{attrs}>{"".join(cells)}</row>'
        # Table cells carry no reference (they follow each other), so a cell's XML depends
        # only on its column and value: it is made once per distinct value of a column and
        # looked up in C (``map``) for every row. Row values must be hashable (no lists).
        columns = [_ColumnCells(xml, style, quoted) for style, quoted in self.row_styles]
        width = len(columns)
        getitem = operator.getitem
        r = self.first_table_row - 1
        for r, values in enumerate(self.rows, start=self.first_table_row):
            if len(values) != width:
                raise ValueError(f"sheet {self.ws.title!r} row {r}: {len(values)} values for "
                                 f"{width} columns")
            yield f'<row r="{r}">' + "".join(map(getitem, columns, values)) + "</row>"
        expected = self.first_table_row - 1 + self.row_count
        if r != expected:
            raise RuntimeError(f"sheet {self.ws.title!r}: {r} rows written, {expected} counted")


class _ColumnCells(dict[Any, str]):
    """The XML of the cells of one table column, by value, made on first use. (A column must
    not mix booleans and numbers: ``True == 1`` would share a cell.)"""

    def __init__(self, xml: Callable[[str, Any, int, int], str], style: int,
                 quoted: int) -> None:
        super().__init__()
        self._xml, self._style, self._quoted = xml, style, quoted

    def __missing__(self, value: Any) -> str:
        cell = self[value] = self._xml("", value, self._style, self._quoted)
        return cell


def _hashable(rows: Iterable[Sequence[Any]]) -> Iterator[list[Any]]:
    """Rows with list values as tuples, for :class:`_ColumnCells`."""
    for row in rows:
        yield [tuple(v) if isinstance(v, list) else v for v in row]


def _table(sheet: _Sheet, headers: Sequence[str], rows: Iterable[Sequence[Any]],
           widths: Sequence[int], *, count: int | None = None, editable: int = 0,
           hashable: bool = False) -> int:
    """Header row, data rows, frozen header, autofilter, widths, wrapping, print setup.

    The last ``editable`` columns are marked as the ones to edit; ``count`` is the number of
    ``rows`` (needed when they are an iterator); ``hashable`` says the rows hold no lists
    (otherwise they are converted). Returns the last row.
    """
    ws, styles = sheet.ws, sheet.styles
    if count is None:
        rows = rows if isinstance(rows, Sequence) else list(rows)
        count = len(rows)
    first_edit = len(headers) - editable
    for col, header in enumerate(headers, start=1):
        sheet.put(1, col, header, font=_HEADER_FONT, alignment=_HEADER_ALIGN, border=_BOX,
                  fill=_EDIT_HEADER_FILL if col > first_edit else _HEADER_FILL)
    sheet.heights[1] = 32
    sheet.rows, sheet.row_count = rows if hashable else _hashable(rows), count
    sheet.row_styles = [styles.pair(alignment=_WRAP, fill=_EDIT_FILL if col > first_edit
                                    else None) for col in range(1, len(headers) + 1)]
    last = count + 1
    for col, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(col)].width = width
    end = get_column_letter(len(headers))
    ws.freeze_panes = "B2" if ws.title == REGISTER else "A2"
    ws.auto_filter.ref = f"A1:{end}{max(last, 2)}"
    _print_setup(ws)
    return last


def _print_setup(ws: Worksheet) -> None:
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"
    ws.oddFooter.center.text = "&A — page &P of &N"


# -- the register rows ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    register: RiskRegister
    catalog: Catalog
    records: RecordContext

    @property
    def requirements(self) -> dict[str, list[str]]:
        """Control id -> catalog requirement ids serving it."""
        return self.records.requirements


def _editable_values(a: Assessment) -> dict[str, Any]:
    d = a.decision.decision if a.decision else None
    return {
        "status": a.status,
        "justification": d.justification if d else "",
        "owner": d.owner if d else "",
        "date": d.date if d else None,
        "ticket": d.ticket if d else "",
        "hazard_ids": _LIST_SEP.join(d.hazard_ids) if d else "",
    }


def _register_row(a: Assessment, ctx: _Context) -> list[Any]:
    """The cells of one Risk Register row: its :func:`register_record` as cell values."""
    values = list(register_record(a, ctx.records).values())
    for i in _LIST_INDEXES:
        values[i] = _LIST_SEP.join(values[i]) if values[i] else ""
    if values[_DATE_INDEX]:
        values[_DATE_INDEX] = dt.date.fromisoformat(values[_DATE_INDEX])
    return values


_DATE_INDEX = REGISTER_COLUMNS.index("date")
#: Register columns whose record values are lists of text.
_LIST_INDEXES = tuple(REGISTER_COLUMNS.index(c) for c in (
    "ai_privacy_category", "boundaries_crossed", "controls", "planned_controls",
    "suggested_controls", "fda_control_categories", "control_status", "requirement_ids",
    "verification_ids", "references", "hazard_ids"))


# -- sheets ---------------------------------------------------------------------------------


def _write_summary(sheet: _Sheet, ctx: _Context) -> None:
    ws = sheet.ws
    register, policy = ctx.register, ctx.register.policy
    levels = policy.levels("risk")
    level_ids = [lv.id for lv in levels]
    model = register.analysis.model
    put = sheet.put
    pre_levels = [a.risk.level.id for a in register]
    post_levels = [a.residual.level.id for a in register]
    row = 1
    put(row, 1, f"Risk register: {model.system.name} {model.system.version}",
        font=Font(bold=True, size=14))
    row += 1
    put(row, 1, f"Policy {policy.id} {policy.version}: {policy.title}")
    row += 1
    put(row, 1, f"{len(register)} findings; {len(register.unacceptable())} with "
                "unacceptable residual risk")
    row += 2

    def counts(title: str, key: Callable[[Assessment], str],
               order: Sequence[str] | None = None) -> None:
        nonlocal row
        keys = [key(a) for a in register]
        pre = Counter(zip(keys, pre_levels, strict=True))
        post = Counter(zip(keys, post_levels, strict=True))
        values = list(order) if order is not None else sorted(set(keys))
        headers = [title, "findings", *(f"pre: {lv}" for lv in level_ids),
                   *(f"post: {lv}" for lv in level_ids)]
        for col, h in enumerate(headers, start=1):
            put(row, col, h, font=_HEADER_FONT, fill=_HEADER_FILL, border=_BOX)
        for value in values:
            row += 1
            total = sum(pre[(value, lv)] for lv in level_ids)
            cells = [value, total, *(pre[(value, lv)] for lv in level_ids),
                     *(post[(value, lv)] for lv in level_ids)]
            for col, v in enumerate(cells, start=1):
                put(row, col, v, border=_BOX)
        row += 2

    counts("risk level", lambda a: "all findings", ["all findings"])
    counts("STRIDE", lambda a: a.finding.stride.value,
           [s for s in ("spoofing", "tampering", "repudiation", "information_disclosure",
                        "denial_of_service", "elevation_of_privilege")])
    counts("protection goal", lambda a: a.goal)
    counts("impact dimension", lambda a: a.dimension)
    counts("element", lambda a: a.finding.element_id)

    for dimension in ("safety", "privacy", "business"):
        impact_ids = [lv.id for lv in policy.levels(DIMENSIONS[dimension])]
        for when, pick in (("before controls", lambda a: (a.exploitability.level,
                                                            a.impact.level)),
                           ("after controls", lambda a: (a.exploitability_post.level,
                                                           a.impact_post.level))):
            grid = Counter(pick(a) for a in register if a.dimension == dimension)
            put(row, 1, f"{dimension} risk matrix {when} (findings per cell; colour = "
                        "risk level)", font=_BOLD)
            row += 1
            put(row, 1, "exploitability \\ impact", font=_BOLD)
            for col, s in enumerate(impact_ids, start=2):
                put(row, col, s, font=_BOLD, alignment=_CENTER)
            for e in reversed([lv.id for lv in policy.levels("exploitability")]):
                row += 1
                put(row, 1, e, font=_BOLD)
                for col, s in enumerate(impact_ids, start=2):
                    colour = policy.risk(e, s, dimension).level.colour
                    put(row, col, grid[(e, s)], fill=_fill(colour), font=_font_on(colour),
                        alignment=_CENTER, border=_BOX)
            row += 2
    put(row, 1, "Risk levels", font=_BOLD)
    for lv in levels:
        row += 1
        put(row, 1, lv.id, fill=_fill(lv.colour), font=_font_on(lv.colour))
        put(row, 2, lv.description)
    ws.column_dimensions["A"].width = 34
    for col in range(2, 2 + 2 * len(level_ids) + 1):
        ws.column_dimensions[get_column_letter(col)].width = 13
    _print_setup(ws)
    ws.page_setup.orientation = "portrait"


def _write_register(sheet: _Sheet, ctx: _Context) -> None:
    ws = sheet.ws
    widths = [w for _, w in _COMPUTED + EDITABLE]
    rows = (_register_row(a, ctx) for a in ctx.register)
    last = _table(sheet, REGISTER_COLUMNS, rows, widths, count=len(ctx.register),
                  editable=len(EDITABLE), hashable=True)
    col = {h: get_column_letter(i) for i, h in enumerate(REGISTER_COLUMNS, start=1)}
    end = max(last, 2)
    date_col = REGISTER_COLUMNS.index("date")
    styles = list(sheet.row_styles)
    styles[date_col] = sheet.styles.pair(alignment=_WRAP, fill=_EDIT_FILL,
                                         number_format=_DATE_FORMAT)
    sheet.row_styles = styles
    # Conditional formatting by risk level and acceptability, so edits and filters keep colour.
    levels = ctx.register.policy.levels("risk")
    for name in ("risk_pre", "residual_risk"):
        ref = f"{col[name]}2:{col[name]}{end}"
        for lv in levels:
            colour = lv.colour  # type: ignore[attr-defined]
            ws.conditional_formatting.add(ref, CellIsRule(
                operator="equal", formula=[f'"{lv.id}"'], fill=_fill(colour),
                font=_font_on(colour)))
    for name in ("acceptability_pre", "acceptability_post"):
        ref = f"{col[name]}2:{col[name]}{end}"
        for value, colour in _ACCEPTABILITY_COLOURS.items():
            ws.conditional_formatting.add(ref, CellIsRule(
                operator="equal", formula=[f'"{value}"'], fill=_fill(colour)))
    status = DataValidation(type="list", formula1='"' + ",".join(_STATUSES) + '"',
                            allow_blank=True, showDropDown=False)
    status.error = "Pick a status from the list: " + ", ".join(_STATUSES)
    status.errorTitle = "Unknown status"
    status.prompt = "Decision status (see docs/decisions.md)"
    status.add(f"{col['status']}2:{col['status']}{end}")
    date = DataValidation(type="date", operator="greaterThan", formula1="1",
                          allow_blank=True)
    date.error = "Enter a date (YYYY-MM-DD)"
    date.prompt = "Date of the decision, YYYY-MM-DD"
    date.add(f"{col['date']}2:{col['date']}{end}")
    text = DataValidation(type="textLength", operator="lessThanOrEqual", formula1="32000",
                          allow_blank=True)
    text.prompt = "Free text; kept as written when imported"
    for name in ("justification", "owner", "ticket", "hazard_ids"):
        text.add(f"{col[name]}2:{col[name]}{end}")
    for dv in (status, date, text):
        dv.showErrorMessage = True
        dv.showInputMessage = True
        ws.add_data_validation(dv)


def _write_controls(sheet: _Sheet, ctx: _Context) -> None:
    catalog, register = ctx.catalog, ctx.register
    findings: Counter[str] = Counter()
    for a in register:
        for c in {*a.counted_controls, *a.planned_controls, *a.suggested_controls}:
            findings[c] += 1
    applied: dict[str, list[str]] = {}
    for ac in register.analysis.model.controls:
        targets = ", ".join(ac.targets) or "whole system"
        text = f"{ac.status.value} on {targets}" + (f" ({ac.evidence})" if ac.evidence else "")
        applied.setdefault(ac.control, []).append(text)
    headers = ["control_id", "title", "kind", "fda_category", "applied", "findings_addressed",
               "effect_exploitability", "effect_severity", "verification", "requirement_ids",
               "references", "description"]
    rows = []
    for cid in sorted(findings):
        c = catalog.controls.get(cid)
        if c is None:
            rows.append([cid, "", "", "", applied.get(cid, []), findings[cid], "", "", "",
                         [], [], "not in the catalog"])
            continue
        rows.append([cid, c.title, c.kind.value, c.fda_category.value,
                     applied.get(cid, ["not applied"]), findings[cid],
                     c.effect.exploitability, c.effect.severity, c.verification,
                     ctx.requirements.get(cid, []), list(c.references), c.description])
    _table(sheet, headers, rows, [22, 36, 14, 24, 34, 10, 10, 10, 36, 36, 36, 60])


def _write_traceability(sheet: _Sheet, ctx: _Context) -> None:
    catalog = ctx.catalog
    headers = ["finding_id", "threat_id", "threat_title", "element_id", "control_id",
               "control_title", "control_status", "requirement_ids",
               "decision_requirement_ids", "verification", "verification_ids", "hazard_ids",
               "hazardous_situation_ids", "harm_ids", "decision_status"]
    ordered = sorted(ctx.register, key=lambda a: a.id)

    def controls_of(a: Assessment) -> list[str]:
        return list(dict.fromkeys([*a.counted_controls, *a.planned_controls,
                                   *a.suggested_controls])) or [""]

    def rows() -> Iterator[list[Any]]:
        for a in ordered:
            d = a.decision.decision if a.decision else None
            status_of = {ref.control: ref.status for ref in a.finding.applied_controls}
            links = [tuple(d.requirement_ids), None, tuple(d.verification_ids),
                     tuple(d.hazard_ids), tuple(d.hazardous_situation_ids),
                     tuple(d.harm_ids)] if d else [()] * 6
            aid, f = a.id, a.finding
            threat_id, title, element_id = f.threat_id, f.title, f.element_id
            for cid in controls_of(a):
                c = catalog.controls.get(cid)
                yield [aid, threat_id, title, element_id, cid,
                       c.title if c else "", status_of.get(cid, "suggested") if cid else "",
                       requirements.get(cid, ()), links[0], c.verification if c else "",
                       links[2], links[3], links[4], links[5], a.status]

    requirements = {cid: tuple(ids) for cid, ids in ctx.requirements.items()}
    count = sum(len(controls_of(a)) for a in ordered)
    _table(sheet, headers, rows(), [34, 16, 36, 22, 22, 34, 12, 36, 20, 36, 20, 16, 16, 16, 14],
           count=count, hashable=True)


def _write_assets(sheet: _Sheet, ctx: _Context) -> None:
    model, catalog = ctx.register.analysis.model, ctx.catalog
    trust = ctx.register.analysis.facts.trust
    assets = {d.id: d for d in model.data_assets}
    headers = ["asset_kind", "id", "name", "type", "boundary", "trust", "clinical_functions",
               "data", "confidentiality", "integrity", "availability", "pseudonymized",
               "anonymized", "out_of_scope", "description"]
    rows: list[list[Any]] = []
    for c in sorted(model.components, key=lambda c: c.id):
        data = [assets[i] for i in dict.fromkeys([*c.stores, *c.processes]) if i in assets]

        def top(attr: str, data: list[Any] = data) -> str:
            return max((getattr(d, attr) for d in data), key=lambda lv: lv.rank).value \
                if data else ""
        ctype = catalog.component_types.get(c.type)
        kind = f"component ({ctype.element})" if ctype else "component"
        t = trust.get(c.id)
        rows.append([kind, c.id, c.name, c.type, c.boundary or "", t.value if t else "",
                     [f.value for f in c.functions], [d.id for d in data],
                     top("confidentiality"), top("integrity"), top("availability"), "", "",
                     c.out_of_scope, c.description])
    for d in sorted(model.data_assets, key=lambda d: d.id):
        holders = sorted(c.id for c in model.components if d.id in c.stores or
                         d.id in c.processes)
        rows.append(["data asset", d.id, d.name, d.kind.value, "", "", [], holders,
                     d.confidentiality.value, d.integrity.value, d.availability.value,
                     d.pseudonymized, d.anonymized, False, d.description])
    _table(sheet, headers, rows, [22, 24, 32, 22, 18, 14, 24, 30, 14, 12, 12, 12, 12, 10, 60])


_RADIOS = frozenset({"ble", "bluetooth_classic", "nfc", "proprietary_rf", "wifi", "cellular"})


def _write_interfaces(sheet: _Sheet, ctx: _Context) -> None:
    model, catalog = ctx.register.analysis.model, ctx.catalog
    headers = ["component", "kind", "interface", "name", "direction", "peer", "flow_id",
               "range", "wireless", "exposed", "authenticated", "encrypted", "data",
               "boundaries_crossed", "description"]
    chains = ctx.register.analysis.facts.chains
    rows: list[list[Any]] = []
    for c in model.components:
        for i in c.interfaces:
            kind = "radio" if i.kind.value in _RADIOS else "port"
            rows.append([c.id, kind, i.kind.value, i.name, "in/out", "", "", "", kind == "radio",
                         i.exposed, "", "", [], [], i.description])
    for f in model.flows:
        proto = catalog.protocols.get(f.protocol)
        auth, enc = flow_protection(f, catalog) if proto else (False, False)
        crossed = sorted(set(chains.get(f.source, ())) ^ set(chains.get(f.target, ())))
        for end, peer, way in ((f.source, f.target, "outbound"), (f.target, f.source, "inbound")):
            direction = "bidirectional" if f.bidirectional else way
            rows.append([end, "protocol", f.protocol, proto.name if proto else f.protocol,
                         direction, peer, f.id, proto.range.value if proto else "",
                         proto.wireless if proto else "", "", auth, enc, list(f.data), crossed,
                         f.description])
    rows.sort(key=lambda r: (r[0], r[1], r[2], r[6], r[4]))
    _table(sheet, headers, rows, [24, 10, 18, 28, 13, 24, 36, 11, 9, 9, 9, 9, 28, 24, 50])



def _write_labeling(sheet: _Sheet, ctx: _Context) -> None:
    """The labeling draft (FDA labeling, MDR Annex I 23.4(ab)) with its gaps, as a checklist."""
    from .labeling import labeling_rows

    headers, rows = labeling_rows(ctx.register)
    widths = {"topic": 26, "item": 36, "detail": 70, "source": 30, "gap": 8}
    _table(sheet, headers, rows, [widths.get(h, 24) for h in headers])


def _write_meta(sheet: _Sheet, ctx: _Context) -> None:
    """The exported decision values, so an import applies only what was edited."""
    headers = ["format", "finding_id", *_EDIT_FIELDS]
    for col, h in enumerate(headers, start=1):
        sheet.put(1, col, h)

    def rows() -> Iterator[list[Any]]:
        for a in sorted(ctx.register, key=lambda a: a.id):
            values = _editable_values(a)
            values["date"] = values["date"].isoformat() if values["date"] else ""
            yield [FORMAT, a.id, *values.values()]

    sheet.rows, sheet.row_count = rows(), len(ctx.register)
    sheet.row_styles = [sheet.styles.pair()] * len(headers)
    sheet.ws.sheet_state = "hidden"


_SHEET_DATA = re.compile(rb"<sheetData\s*/>|<sheetData>\s*</sheetData>")
_DIMENSION = re.compile(rb'<dimension ref="[^"]*"\s*/>')
_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")
_STRINGS_PART = "xl/sharedStrings.xml"
_STRINGS_TYPE = ('<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                 'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>')
_STRINGS_REL = ('<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                'relationships/sharedStrings" Target="sharedStrings.xml" Id="rIdStrings"/>')
_CHUNK = 1 << 20


def _zip_info(name: str) -> zipfile.ZipInfo:
    """A deflated zip entry with a fixed time, so the file is the same byte for byte."""
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    # The fastest deflate level: a third of the time of the default for a slightly larger
    # file (the attribute is public from Python 3.13 on, private before).
    setattr(info, "compress_level" if hasattr(info, "compress_level") else "_compresslevel", 1)
    return info


def _stream(out: zipfile.ZipFile, name: str, pieces: Iterable[str]) -> None:
    """Write text pieces into one zip entry, encoded in chunks of about a megabyte."""
    with out.open(_zip_info(name), "w", force_zip64=True) as stream:
        chunk: list[str] = []
        size = 0
        for piece in pieces:
            chunk.append(piece)
            size += len(piece)
            if size >= _CHUNK:
                stream.write("".join(chunk).encode("utf-8"))
                chunk.clear()
                size = 0
        stream.write("".join(chunk).encode("utf-8"))


def _sheet_pieces(skeleton: bytes, sheet: _Sheet, cells: _Cells) -> Iterator[str]:
    """The sheet XML openpyxl wrote (with no cells) with the cell rows streamed into it."""
    match = _SHEET_DATA.search(skeleton)
    if match is None:
        raise RuntimeError(f"unexpected worksheet XML for {sheet.ws.title!r}: no empty "
                           "sheetData")
    head = _DIMENSION.sub(f'<dimension ref="{sheet.dimension()}"/>'.encode(),
                          skeleton[:match.start()], count=1)
    yield head.decode("utf-8") + "<sheetData>"
    yield from sheet.xml_rows(cells.xml)
    yield "</sheetData>" + skeleton[match.end():].decode("utf-8")


def write_register(register: RiskRegister, path: str | os.PathLike[str], *,
                   catalog: Catalog | None = None) -> Path:
    """Write the risk register workbook to ``path`` (atomically) and return the path.

    ``catalog`` defaults to the catalog of the analysis. The file depends only on the register
    (byte for byte), and time and memory grow linearly with its size: tens of thousands of
    findings are written in seconds.
    """
    with gc_paused():
        return _write_workbook(register, Path(path), catalog or register.analysis.catalog)


def _write_workbook(register: RiskRegister, target: Path, catalog: Catalog) -> Path:
    ctx = _Context(register, catalog, RecordContext.of(register, catalog))
    wb = Workbook()
    initial = wb.active  # the empty sheet every new workbook starts with
    wb.properties.created = _EPOCH
    wb.properties.modified = _EPOCH
    wb.properties.creator = "medthreat"
    wb.properties.title = ILLEGAL_CHARACTERS_RE.sub(
        "", f"Risk register {register.analysis.model.system.name}")
    styles = _Styles(wb)
    taken: list[str] = []
    writers = ((SUMMARY, _write_summary), (REGISTER, _write_register),
               (CONTROLS, _write_controls), (TRACE, _write_traceability),
               (ASSETS, _write_assets), (INTERFACES, _write_interfaces),
               (LABELING, _write_labeling), (META, _write_meta))
    sheets: list[_Sheet] = []
    for index, (name, writer) in enumerate(writers):
        title = sheet_title(name, taken)
        taken.append(title)
        sheet = _Sheet(wb.create_sheet(title, index), styles)
        writer(sheet, ctx)
        sheets.append(sheet)
    wb.remove(initial)
    styles.close()
    wb.active = 1  # open on the register
    skeleton = io.BytesIO()
    wb.save(skeleton)
    parts = {sheet.ws.path.lstrip("/"): sheet for sheet in sheets}
    cells = _Cells()
    with atomic_output(target) as handle, zipfile.ZipFile(skeleton) as src, \
            zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as out:
        for item in src.infolist():
            data = src.read(item)
            if item.filename in parts:
                _stream(out, item.filename, _sheet_pieces(data, parts[item.filename], cells))
                continue
            if item.filename == "docProps/core.xml":
                data = _MODIFIED.sub(rb"\g<1>2000-01-01T00:00:00Z\g<2>", data)
            elif item.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", _STRINGS_TYPE.encode() + b"</Types>")
            elif item.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>",
                                    _STRINGS_REL.encode() + b"</Relationships>")
            out.writestr(_zip_info(item.filename), data)
        _stream(out, _STRINGS_PART, cells.table_xml())
    return target


# -- import ---------------------------------------------------------------------------------


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _status(text: str) -> str | None:
    norm = re.sub(r"[\s-]+", "_", text.strip().lower())
    return norm if norm in _STATUSES else None


def _split(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"[;,\n]", text) if p.strip()]


#: The most a register workbook may unpack to (all parts together, as declared in the zip).
#: A 300-component fleet's workbook unpacks to 27 MB, so this leaves room for fleets of
#: thousands of components while bounding what a hostile file can make the reader unpack.
MAX_UNPACKED_BYTES = 1024 * 1024 * 1024
#: The highest compression ratio of one part larger than :data:`_RATIO_FLOOR` bytes. The
#: sheets medthreat writes compress 5 to 45 times (the most: the Traceability sheet, 42 times
#: at 300 components, 44 at 3,000); a zip bomb compresses hundreds or thousands of times.
MAX_COMPRESSION_RATIO = 200
_RATIO_FLOOR = 1024 * 1024
#: The most rows read from one sheet (one row per finding; far beyond any real model).
MAX_SHEET_ROWS = 1_000_000


def _check_zip(path: str | os.PathLike[str], name: str) -> None:
    """Reject a workbook whose parts would unpack beyond the limits, before openpyxl opens it.

    The sizes are the ones the zip declares; :mod:`zipfile` never returns more than a part
    declares (it stops and reports a CRC error), so the check bounds what is unpacked.
    """
    def fail(message: str) -> DecisionsError:
        return DecisionsError([Problem(name, None, "", f"not a register workbook medthreat "
                                       f"reads: {message}")])

    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except FileNotFoundError:
        raise DecisionsError([Problem(name, None, "", "register workbook not found")]) from None
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise DecisionsError([Problem(name, None, "", "not an Excel workbook (.xlsx, a zip "
                                      f"archive) medthreat can read: {_short(exc)}")]
                             ) from None
    total = sum(p.file_size for p in parts)
    if total > MAX_UNPACKED_BYTES:
        raise fail(f"its parts unpack to {total:,} bytes; the limit is "
                   f"{MAX_UNPACKED_BYTES:,} bytes")
    for part in parts:
        if (part.file_size > _RATIO_FLOOR
                and part.file_size > MAX_COMPRESSION_RATIO * max(part.compress_size, 1)):
            raise fail(f"part {part.filename[:100]!r} unpacks {part.file_size:,} bytes from "
                       f"{part.compress_size:,} (more than {MAX_COMPRESSION_RATIO} times; a "
                       "zip bomb, not a workbook medthreat wrote)")


def _sheet_rows(ws: Any, name: str, sheet: str) -> list[tuple[Any, ...]]:
    """The values of a read-only sheet, at most :data:`MAX_SHEET_ROWS` rows."""
    rows: list[tuple[Any, ...]] = []
    try:
        for row in ws.iter_rows(values_only=True):
            if len(rows) >= MAX_SHEET_ROWS:
                raise DecisionsError([Problem(name, None, sheet, f"more than "
                                              f"{MAX_SHEET_ROWS:,} rows; not a register "
                                              "medthreat wrote")])
            rows.append(row)
    except DecisionsError:
        raise
    except Exception as exc:  # openpyxl reads a read-only sheet's XML only now
        raise DecisionsError([Problem(name, None, sheet, f"the sheet cannot be read (damaged "
                                      f"or not written by a spreadsheet program): "
                                      f"{type(exc).__name__}: {_short(exc)}")]) from None
    return rows


def _normalise(values: dict[str, str]) -> dict[str, Any]:
    """Editable cell texts as decision field values (status already validated)."""
    return {
        "status": values["status"],
        "justification": values["justification"],
        "owner": values["owner"],
        "date": values["date"] or None,
        "ticket": values["ticket"],
        "hazard_ids": _split(values["hazard_ids"]),
    }


def import_register(
    xlsx_path: str | os.PathLike[str], decisions: Decisions, *,
    finding_ids: Iterable[str] | None = None,
) -> tuple[Decisions, list[Change], list[str]]:
    """Read the edited decision columns of a register workbook and merge them into ``decisions``.

    Returns the merged decisions, the :class:`~medthreat.lifecycle.Change` list and notes (rows
    whose finding was not in the exported workbook, or — when ``finding_ids`` of the current
    analysis are given — no longer exists; their decisions are still merged, never dropped).
    Only fields changed in the workbook since export are applied; an edit of a finding whose
    decision came from a wildcard key creates an exact decision that starts from the wildcard's.

    Raises :class:`~medthreat.errors.DecisionsError` naming sheet and cell of every bad value
    (unknown status, malformed date, finding id or hazard id) without changing anything.
    """
    name = str(xlsx_path)
    _check_zip(xlsx_path, name)
    try:
        wb = load_workbook(xlsx_path, read_only=True, data_only=True)
    except FileNotFoundError:
        raise DecisionsError([Problem(name, None, "", "register workbook not found")]) from None
    except Exception as exc:  # openpyxl raises several kinds for files that are not xlsx
        raise DecisionsError([Problem(name, None, "", "not an Excel workbook (.xlsx) medthreat "
                                      f"can read: {_short(exc)}")]) from None
    try:
        sheet = next((s for s in wb.sheetnames if s == REGISTER), None)
        if sheet is None:
            raise DecisionsError([Problem(name, None, "", f"no sheet {REGISTER!r}; sheets: "
                                          f"{_short(', '.join(wb.sheetnames))}")])
        rows = _sheet_rows(wb[sheet], name, sheet)
        exported: dict[str, dict[str, str]] | None = None
        if META in wb.sheetnames:
            meta = _sheet_rows(wb[META], name, META)
            if meta:
                head = [_cell_text(v) for v in meta[0]]
                exported = {}
                for values in meta[1:]:
                    rec = dict(zip(head, (_cell_text(v) for v in values), strict=False))
                    if rec.get("finding_id"):
                        exported[rec["finding_id"]] = {f: rec.get(f, "") for f in _EDIT_FIELDS}
    except DecisionsError:
        raise
    except Exception as exc:  # a damaged part shows only while openpyxl reads the sheet
        raise DecisionsError([Problem(name, None, "", "not an Excel workbook (.xlsx) medthreat "
                                      f"can read: {type(exc).__name__}: {_short(exc)}")]
                             ) from None
    finally:
        wb.close()
    if not rows:
        raise DecisionsError([Problem(name, None, sheet, "the sheet is empty")])
    header = [_cell_text(v) for v in rows[0]]
    missing = [h for h in ("finding_id", *_EDIT_FIELDS) if h not in header]
    if missing:
        raise DecisionsError([Problem(name, None, f"{sheet}!1", "header row lacks the "
                                      f"column(s) {', '.join(missing)}")])
    index = {h: header.index(h) for h in ("finding_id", *_EDIT_FIELDS)}
    letter = {h: get_column_letter(i + 1) for h, i in index.items()}
    current = set(finding_ids) if finding_ids is not None else None
    problems: list[Problem] = []
    notes: list[str] = []
    incoming: dict[str, Decision] = {}
    seen: dict[str, int] = {}

    def where(field: str, r: int) -> str:
        return f"{sheet}!{letter[field]}{r}"

    for r, values in enumerate(rows[1:], start=2):
        cells = {h: _cell_text(values[i]) if i < len(values) else ""
                 for h, i in index.items()}
        fid = cells.pop("finding_id")
        if not fid:
            if any(cells.values()):
                notes.append(f"{sheet} row {r}: decision values without a finding id; "
                             "ignored (add the finding id to import them)")
            continue
        try:
            check_key(fid)
        except ValueError as exc:
            problems.append(Problem(name, None, where("finding_id", r), str(exc)))
            continue
        if fid in seen:
            problems.append(Problem(name, None, where("finding_id", r), f"finding {fid} "
                                    f"appears twice (first in row {seen[fid]}); keep one row"))
            continue
        seen[fid] = r
        raw_status = cells["status"]
        if raw_status:
            status = _status(raw_status)
            if status is None:
                close = difflib.get_close_matches(raw_status.lower(), _STATUSES, n=1)
                hint = f" — did you mean {close[0]!r}?" if close else ""
                problems.append(Problem(name, None, where("status", r),
                                        f"unknown status {raw_status!r}{hint} (expected one "
                                        f"of {', '.join(_STATUSES)})"))
                continue
            cells["status"] = status
        before = exported.get(fid) if exported is not None else None
        resolved = decisions.resolve_one(fid)
        if before is None:
            # No record of the export (row added, or hidden sheet lost): compare with the file.
            d = resolved.decision if resolved else None
            before = {"status": d.status.value if d else "open",
                      "justification": d.justification if d else "",
                      "owner": d.owner if d else "", "date": _cell_text(d.date if d else None),
                      "ticket": d.ticket if d else "",
                      "hazard_ids": _LIST_SEP.join(d.hazard_ids) if d else ""}
            if exported is not None:
                notes.append(f"{sheet} row {r}: finding {fid} was not in the exported "
                             "register; its values were compared with the decisions file")
        if not cells["status"]:
            cells["status"] = before["status"] or "open"
        new = _normalise(cells)
        old = _normalise({**before, "status": before["status"] or "open"})
        changed = {k for k in new if new[k] != old[k]}
        if current is not None and fid not in current:
            notes.append(f"{sheet} row {r}: finding {fid} no longer exists in the analysis"
                         + ("; its decision is merged and kept (an orphan until the element "
                            "returns)" if changed else "; nothing edited, nothing merged"))
        if not changed:
            continue
        exact = decisions.get(fid)
        base = (exact or (resolved.decision if resolved else None))
        data = base.to_data() if base is not None else {}
        data.update({k: new[k] for k in changed})
        data.setdefault("status", new["status"])
        try:
            full = Decision.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                field = str(err["loc"][0]) if err["loc"] else "status"
                cell = where(field, r) if field in letter else f"{sheet}!row {r}"
                problems.append(Problem(name, None, cell, f"{field}: {err['msg']} "
                                        f"(got {err.get('input')!r})"))
            continue
        fields_set = set(changed) if exact is not None else \
            set(full.model_fields_set) | set(changed) | {"status"}
        incoming[fid] = Decision.model_construct(
            _fields_set=fields_set, **{k: getattr(full, k) for k in Decision.model_fields})
    if problems:
        raise DecisionsError(problems)
    update = Decisions.model_construct(schema_version=decisions.schema_version,
                                       decisions=incoming)
    merged, changes = merge(decisions, update)
    return merged, changes, notes
