"""The Excel risk register: one workbook per analysis, and the import of what was edited in it.

:func:`write_register` writes the sheets *Summary*, *Risk Register*, *Controls*,
*Traceability*, *Assets* and *Interfaces* (plus a hidden *medthreat* sheet remembering what was
exported). :func:`import_register` reads the editable decision columns of the *Risk Register*
back and merges them into a decisions file with :func:`medthreat.lifecycle.merge`.

Only what the risk manager changed in the workbook is applied: every row is compared with the
decision values the workbook was exported with (kept on the hidden sheet), so a stale workbook
cannot overwrite a newer decisions file with values nobody touched. Text that a spreadsheet
would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or CR) is written as a
text cell with Excel's quote prefix, so it shows and comes back exactly as written.
"""

from __future__ import annotations

import datetime as dt
import difflib
import io
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from pydantic import ValidationError

from .._yaml import atomic_write
from ..errors import DecisionsError, Problem
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
from ._text import spreadsheet_text

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

SUMMARY, REGISTER, CONTROLS, TRACE, ASSETS, INTERFACES, META = (
    "Summary", "Risk Register", "Controls", "Traceability", "Assets", "Interfaces", "medthreat")
#: Visible sheets in workbook order.
SHEETS = (SUMMARY, REGISTER, CONTROLS, TRACE, ASSETS, INTERFACES)

#: (header, width) of the computed columns of the Risk Register.
_COMPUTED: tuple[tuple[str, int], ...] = (
    ("finding_id", 34), ("threat_id", 16), ("title", 40), ("stride", 16),
    ("ai_privacy_category", 16), ("protection_goal", 14), ("element_id", 22),
    ("element_name", 24), ("element_kind", 14), ("element_type", 20), ("flow", 30),
    ("boundaries_crossed", 22), ("description", 60), ("attack_vector", 12),
    ("exploitability_pre", 12), ("impact_dimension", 11), ("patient_harm_severity", 14),
    ("privacy_business_impact", 14), ("risk_pre", 11), ("acceptability_pre", 13),
    ("controls", 50), ("planned_controls", 30), ("suggested_controls", 30),
    ("fda_control_categories", 30), ("control_status", 30), ("exploitability_post", 12),
    ("severity_post", 12), ("residual_risk", 11), ("acceptability_post", 13),
    ("controlled_post", 11), ("multi_patient", 9), ("safety_transfer", 9),
    ("requirement_ids", 24), ("verification_ids", 24), ("references", 36),
    ("decision_key", 30),
)
#: The decision columns a risk manager edits; read back by :func:`import_register`.
EDITABLE: tuple[tuple[str, int], ...] = (
    ("status", 15), ("justification", 50), ("owner", 18), ("date", 12), ("ticket", 14),
    ("hazard_ids", 18),
)
REGISTER_COLUMNS = tuple(h for h, _ in _COMPUTED + EDITABLE)
_EDIT_FIELDS = tuple(h for h, _ in EDITABLE)
_STATUSES = tuple(s.value for s in DecisionStatus)
_LIST_SEP = "; "

_HEADER_FILL = PatternFill("solid", start_color="1F3864", end_color="1F3864")
_EDIT_HEADER_FILL = PatternFill("solid", start_color="7F6000", end_color="7F6000")
_EDIT_FILL = PatternFill("solid", start_color="FFF2CC", end_color="FFF2CC")
_HEADER_FONT = Font(bold=True, color="FFFFFF")
_BOLD = Font(bold=True)
_WRAP = Alignment(wrap_text=True, vertical="top")
_CENTER = Alignment(horizontal="center", vertical="center")
_THIN = Side(style="thin", color="BFBFBF")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_ACCEPTABILITY_COLOURS = {"acceptable": "#c8e6c9", "review": "#ffe082",
                          "unacceptable": "#ef9a9a"}
# Workbook metadata would otherwise carry the time of export.
_EPOCH = dt.datetime(2000, 1, 1)


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


def _text(value: Any) -> Any:
    """A Python value as cell content: lists joined, booleans yes/no, text cleaned."""
    if isinstance(value, list | tuple):
        value = _LIST_SEP.join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return ""
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def _put(ws: Worksheet, row: int, col: int, value: Any) -> Any:
    """Write one cell; formula-like text becomes a quote-prefixed text cell, never a formula."""
    value = _text(value)
    cell = ws.cell(row=row, column=col)
    cell.value = value
    if isinstance(value, str) and spreadsheet_text(value) != value:
        cell.data_type = "s"
        cell.quotePrefix = True
    return cell


def _fill(colour: str) -> PatternFill:
    hex_ = colour.lstrip("#").upper()
    return PatternFill("solid", start_color=hex_, end_color=hex_)


def _font_on(colour: str) -> Font:
    r, g, b = (int(colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
    dark = 0.299 * r + 0.587 * g + 0.114 * b < 150
    return Font(bold=True, color="FFFFFF" if dark else "000000")


def _table(ws: Worksheet, headers: Sequence[str], rows: Iterable[Sequence[Any]],
           widths: Sequence[int], *, editable: int = 0) -> int:
    """Header row, data rows, frozen header, autofilter, widths, wrapping, print setup.

    The last ``editable`` columns are marked as the ones to edit. Returns the last row.
    """
    for col, header in enumerate(headers, start=1):
        cell = _put(ws, 1, col, header)
        cell.font = _HEADER_FONT
        cell.fill = _EDIT_HEADER_FILL if col > len(headers) - editable else _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
        cell.border = _BOX
    last = 1
    for last, values in enumerate(rows, start=2):
        for col, value in enumerate(values, start=1):
            cell = _put(ws, last, col, value)
            cell.alignment = _WRAP
            if col > len(headers) - editable:
                cell.fill = _EDIT_FILL
    for col, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(col)].width = width
    end = get_column_letter(len(headers))
    ws.freeze_panes = "B2" if ws.title == REGISTER else "A2"
    ws.auto_filter.ref = f"A1:{end}{max(last, 2)}"
    ws.row_dimensions[1].height = 32
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
    requirements: dict[str, list[str]]  # control id -> catalog requirement ids serving it


def _requirements_by_control(catalog: Catalog, controls: Iterable[str]) -> dict[str, list[str]]:
    reqs = catalog.requirements()
    out: dict[str, list[str]] = {}
    for control_id in sorted(set(controls)):
        control = catalog.controls.get(control_id)
        out[control_id] = ([rid for rid, (_, req) in reqs.items() if req.matches(control)]
                           if control is not None else [])
    return out


def _boundaries_crossed(a: Assessment, ctx: _Context) -> list[str]:
    finding = a.finding
    if not finding.source:
        return []
    chains = ctx.register.analysis.facts.chains
    src, dst = set(chains.get(finding.source, ())), set(chains.get(finding.target, ()))
    return sorted(src ^ dst)


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
    f, catalog = a.finding, ctx.catalog
    threat = f.threat
    d = a.decision.decision if a.decision else None
    control_ids = [*a.counted_controls, *a.planned_controls]
    titled = [f"{c} {catalog.controls[c].title}" if c in catalog.controls else c
              for c in control_ids]
    all_controls = list(dict.fromkeys([*control_ids, *a.suggested_controls]))
    fda = sorted({catalog.controls[c].fda_category.value for c in all_controls
                  if c in catalog.controls})
    status_of = {ref.control: ref.status for ref in f.applied_controls}
    control_status = [f"{c}: {status_of.get(c, 'suggested')}" for c in all_controls]
    requirement_ids = list(dict.fromkeys(
        [*(d.requirement_ids if d else []),
         *(r for c in a.counted_controls for r in ctx.requirements.get(c, []))]))
    safety = a.dimension == "safety"
    category = "; ".join(x for x in (threat.ai_category and f"AI: {threat.ai_category}",
                                     threat.privacy_category
                                     and f"privacy: {threat.privacy_category}") if x)
    flow = f"{f.source} -> {f.target}" if f.source else ""
    computed = [
        f.id, threat.id, threat.title, threat.stride.value, category, a.goal, f.element_id,
        f.element_name, f.element_kind.value, f.element_type, flow, _boundaries_crossed(a, ctx),
        threat.description, a.attack_vector, a.exploitability.level, a.dimension,
        a.impact.level if safety else "", "" if safety else f"{a.dimension}: {a.impact.level}",
        a.risk.level.id, a.risk.acceptability.value, titled, list(a.planned_controls),
        list(a.suggested_controls), fda, control_status, a.exploitability_post.level,
        a.impact_post.level, a.residual.level.id, a.residual.acceptability.value,
        "" if a.residual.controlled is None else a.residual.controlled, a.multi_patient,
        a.safety_transfer, requirement_ids, list(d.verification_ids) if d else [],
        list(threat.references), a.decision.key if a.decision else "",
    ]
    return computed + list(_editable_values(a).values())


# -- sheets ---------------------------------------------------------------------------------


def _write_summary(ws: Worksheet, ctx: _Context) -> None:
    register, policy = ctx.register, ctx.register.policy
    levels = policy.levels("risk")
    level_ids = [lv.id for lv in levels]
    model = register.analysis.model
    row = 1
    _put(ws, row, 1, f"Risk register: {model.system.name} {model.system.version}").font = \
        Font(bold=True, size=14)
    row += 1
    _put(ws, row, 1, f"Policy {policy.id} {policy.version}: {policy.title}")
    row += 1
    _put(ws, row, 1, f"{len(register)} findings; {len(register.unacceptable())} with "
                     "unacceptable residual risk")
    row += 2

    def counts(title: str, key: Any, order: Sequence[str] | None = None) -> None:
        nonlocal row
        pre = Counter((key(a), a.risk.level.id) for a in register)
        post = Counter((key(a), a.residual.level.id) for a in register)
        values = list(order) if order is not None else sorted({key(a) for a in register})
        headers = [title, "findings", *(f"pre: {lv}" for lv in level_ids),
                   *(f"post: {lv}" for lv in level_ids)]
        for col, h in enumerate(headers, start=1):
            cell = _put(ws, row, col, h)
            cell.font, cell.fill, cell.border = _HEADER_FONT, _HEADER_FILL, _BOX
        for value in values:
            row += 1
            total = sum(pre[(value, lv)] for lv in level_ids)
            cells = [value, total, *(pre[(value, lv)] for lv in level_ids),
                     *(post[(value, lv)] for lv in level_ids)]
            for col, v in enumerate(cells, start=1):
                _put(ws, row, col, v).border = _BOX
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
            _put(ws, row, 1, f"{dimension} risk matrix {when} (findings per cell; colour = "
                             "risk level)").font = _BOLD
            row += 1
            _put(ws, row, 1, "exploitability \\ impact").font = _BOLD
            for col, s in enumerate(impact_ids, start=2):
                cell = _put(ws, row, col, s)
                cell.font, cell.alignment = _BOLD, _CENTER
            for e in reversed([lv.id for lv in policy.levels("exploitability")]):
                row += 1
                _put(ws, row, 1, e).font = _BOLD
                for col, s in enumerate(impact_ids, start=2):
                    colour = policy.risk(e, s, dimension).level.colour
                    cell = _put(ws, row, col, grid[(e, s)])
                    cell.fill, cell.font = _fill(colour), _font_on(colour)
                    cell.alignment, cell.border = _CENTER, _BOX
            row += 2
    _put(ws, row, 1, "Risk levels").font = _BOLD
    for lv in levels:
        row += 1
        cell = _put(ws, row, 1, lv.id)
        cell.fill, cell.font = _fill(lv.colour), _font_on(lv.colour)
        _put(ws, row, 2, lv.description)
    ws.column_dimensions["A"].width = 34
    for col in range(2, 2 + 2 * len(level_ids) + 1):
        ws.column_dimensions[get_column_letter(col)].width = 13
    _print_setup(ws)
    ws.page_setup.orientation = "portrait"


def _write_register(ws: Worksheet, ctx: _Context) -> None:
    rows = [_register_row(a, ctx) for a in ctx.register]
    widths = [w for _, w in _COMPUTED + EDITABLE]
    last = _table(ws, REGISTER_COLUMNS, rows, widths, editable=len(EDITABLE))
    col = {h: get_column_letter(i) for i, h in enumerate(REGISTER_COLUMNS, start=1)}
    end = max(last, 2)
    date_col = REGISTER_COLUMNS.index("date") + 1
    for r in range(2, last + 1):
        ws.cell(row=r, column=date_col).number_format = "yyyy-mm-dd"
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


def _write_controls(ws: Worksheet, ctx: _Context) -> None:
    catalog, register = ctx.catalog, ctx.register
    findings: dict[str, list[str]] = {}
    for a in register:
        for c in dict.fromkeys([*a.counted_controls, *a.planned_controls,
                                *a.suggested_controls]):
            findings.setdefault(c, []).append(a.id)
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
            rows.append([cid, "", "", "", applied.get(cid, []), len(findings[cid]), "", "", "",
                         [], [], "not in the catalog"])
            continue
        rows.append([cid, c.title, c.kind.value, c.fda_category.value,
                     applied.get(cid, ["not applied"]), len(findings[cid]),
                     c.effect.exploitability, c.effect.severity, c.verification,
                     ctx.requirements.get(cid, []), list(c.references), c.description])
    _table(ws, headers, rows, [22, 36, 14, 24, 34, 10, 10, 10, 36, 36, 36, 60])


def _write_traceability(ws: Worksheet, ctx: _Context) -> None:
    catalog = ctx.catalog
    headers = ["finding_id", "threat_id", "threat_title", "element_id", "control_id",
               "control_title", "control_status", "requirement_ids",
               "decision_requirement_ids", "verification", "verification_ids", "hazard_ids",
               "hazardous_situation_ids", "harm_ids", "decision_status"]
    rows = []
    for a in sorted(ctx.register, key=lambda a: a.id):
        d = a.decision.decision if a.decision else None
        status_of = {ref.control: ref.status for ref in a.finding.applied_controls}
        links = [list(d.requirement_ids), None, list(d.verification_ids), list(d.hazard_ids),
                 list(d.hazardous_situation_ids), list(d.harm_ids)] if d else [[]] * 6
        controls = list(dict.fromkeys([*a.counted_controls, *a.planned_controls,
                                       *a.suggested_controls])) or [""]
        for cid in controls:
            c = catalog.controls.get(cid)
            rows.append([a.id, a.finding.threat_id, a.finding.title, a.finding.element_id, cid,
                         c.title if c else "", status_of.get(cid, "suggested") if cid else "",
                         ctx.requirements.get(cid, []), links[0],
                         c.verification if c else "", links[2], links[3], links[4], links[5],
                         a.status])
    _table(ws, headers, rows, [34, 16, 36, 22, 22, 34, 12, 36, 20, 36, 20, 16, 16, 16, 14])


def _write_assets(ws: Worksheet, ctx: _Context) -> None:
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
    _table(ws, headers, rows, [22, 24, 32, 22, 18, 14, 24, 30, 14, 12, 12, 12, 12, 10, 60])


_RADIOS = frozenset({"ble", "bluetooth_classic", "nfc", "proprietary_rf", "wifi", "cellular"})


def _write_interfaces(ws: Worksheet, ctx: _Context) -> None:
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
    _table(ws, headers, rows, [24, 10, 18, 28, 13, 24, 36, 11, 9, 9, 9, 9, 28, 24, 50])


def _write_meta(ws: Worksheet, ctx: _Context) -> None:
    """The exported decision values, so an import applies only what was edited."""
    headers = ["format", "finding_id", *_EDIT_FIELDS]
    for col, h in enumerate(headers, start=1):
        _put(ws, 1, col, h)
    for r, a in enumerate(sorted(ctx.register, key=lambda a: a.id), start=2):
        values = _editable_values(a)
        values["date"] = values["date"].isoformat() if values["date"] else ""
        for col, v in enumerate([FORMAT, a.id, *values.values()], start=1):
            _put(ws, r, col, v)
    ws.sheet_state = "hidden"


def write_register(register: RiskRegister, path: str | os.PathLike[str], *,
                   catalog: Catalog | None = None) -> Path:
    """Write the risk register workbook to ``path`` (atomically) and return the path.

    ``catalog`` defaults to the catalog of the analysis. The cell values depend only on the
    register, so two exports of the same inputs show the same content.
    """
    catalog = catalog or register.analysis.catalog
    controls = [c for a in register
                for c in (*a.counted_controls, *a.planned_controls, *a.suggested_controls)]
    ctx = _Context(register, catalog, _requirements_by_control(catalog, controls))
    wb = Workbook()
    wb.properties.created = _EPOCH
    wb.properties.creator = "medthreat"
    wb.properties.title = f"Risk register {register.analysis.model.system.name}"
    taken: list[str] = []
    writers = ((SUMMARY, _write_summary), (REGISTER, _write_register),
               (CONTROLS, _write_controls), (TRACE, _write_traceability),
               (ASSETS, _write_assets), (INTERFACES, _write_interfaces), (META, _write_meta))
    first = True
    for name, writer in writers:
        title = sheet_title(name, taken)
        taken.append(title)
        if first:
            ws = wb.active
            ws.title = title
            first = False
        else:
            ws = wb.create_sheet(title)
        writer(ws, ctx)
    wb.active = 1  # open on the register
    buffer = io.BytesIO()
    wb.save(buffer)
    target = Path(path)
    atomic_write(target, buffer.getvalue())
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
    try:
        wb = load_workbook(xlsx_path, read_only=True, data_only=True)
    except FileNotFoundError:
        raise DecisionsError([Problem(name, None, "", "register workbook not found")]) from None
    except Exception as exc:  # openpyxl raises several kinds for files that are not xlsx
        raise DecisionsError([Problem(name, None, "", "not an Excel workbook (.xlsx) medthreat "
                                      f"can read: {exc}")]) from None
    try:
        sheet = next((s for s in wb.sheetnames if s == REGISTER), None)
        if sheet is None:
            raise DecisionsError([Problem(name, None, "", f"no sheet {REGISTER!r}; sheets: "
                                          f"{', '.join(wb.sheetnames)}")])
        rows = list(wb[sheet].iter_rows(values_only=True))
        exported: dict[str, dict[str, str]] | None = None
        if META in wb.sheetnames:
            meta = list(wb[META].iter_rows(values_only=True))
            if meta:
                head = [_cell_text(v) for v in meta[0]]
                exported = {}
                for values in meta[1:]:
                    rec = dict(zip(head, (_cell_text(v) for v in values), strict=False))
                    if rec.get("finding_id"):
                        exported[rec["finding_id"]] = {f: rec.get(f, "") for f in _EDIT_FIELDS}
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
