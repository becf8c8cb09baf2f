"""Change impact between two revisions of the reference model (medthreat.lifecycle.diff)."""

from __future__ import annotations

import copy
import csv
import html
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
import yaml
from conftest import REFERENCE_MODEL, require_tool

import medthreat as mt
from medthreat.catalog import default_catalog
from medthreat.lifecycle import decisions_from_data
from medthreat.lifecycle.diff import (
    ChangeImpact,
    diff_models,
    impact_html,
    impact_markdown,
    impact_rows,
    is_ai_component,
    write_impact_workbook,
)
from medthreat.model import model_from_data, validate_model
from medthreat.risk import RiskPolicy

LLM = "llm_assistant"
REGION = "eu_llm_region"
REMOVED_FLOW = "admin-to-rsg"
FLIPPED = "CTL-MODEL-SIGNING"
HOSTILE = '<script>alert("x")</script> =HYPERLINK("http://evil") | [a](b)'

#: (model attribute, key in the YAML file, section label in the report)
SECTIONS = [
    ("system", "system", "system"),
    ("boundaries", "boundaries", "trust boundary"),
    ("data_assets", "data", "data asset"),
    ("components", "components", "component"),
    ("actors", "actors", "actor"),
    ("flows", "flows", "flow"),
    ("controls", "controls", "applied control"),
]


# -- revisions built from the reference model -----------------------------------------------


def _base_data() -> dict[str, Any]:
    return yaml.safe_load(REFERENCE_MODEL.read_text(encoding="utf-8"))


def _model(data: dict[str, Any]) -> mt.Model:
    model = model_from_data(copy.deepcopy(data))
    validate_model(model, default_catalog())
    return model


def _flip(data: dict[str, Any], control: str, status: str) -> None:
    entry = next(c for c in data["controls"] if c["control"] == control)
    assert entry["status"] == "planned"
    entry["status"] = status


def _llm_revision() -> dict[str, Any]:
    """v2.4: an LLM assistant in a new cloud region with PHI flows, a planned control
    implemented, one remote-service flow removed."""
    data = _base_data()
    data["system"]["version"] = "2.4"
    data["boundaries"].append({"id": REGION, "name": "LLM hosting region", "kind": "cloud"})
    data["components"].append({
        "id": LLM, "name": "Clinical summary assistant", "type": "llm_service",
        "boundary": REGION, "processes": ["vitals", "alarms"],
        "description": "Drafts shift hand-over summaries from trends and alarms.",
    })
    data["flows"] += [
        {"id": "analytics-to-llm", "name": "Trends for summarisation", "source": "analytics",
         "target": LLM, "protocol": "https", "data": ["vitals", "alarms"]},
        {"id": "llm-to-gateway", "name": "Draft summaries", "source": LLM,
         "target": "api_gateway", "protocol": "https", "data": ["vitals"]},
    ]
    _flip(data, FLIPPED, "implemented")
    data["flows"] = [f for f in data["flows"] if f["id"] != REMOVED_FLOW]
    return data


def _control_only_revision() -> dict[str, Any]:
    data = _base_data()
    _flip(data, FLIPPED, "implemented")
    return data


@pytest.fixture(scope="module")
def catalog() -> mt.Catalog:
    return default_catalog()


@pytest.fixture(scope="module")
def policy() -> RiskPolicy:
    return RiskPolicy.load()


@pytest.fixture(scope="module")
def old_data() -> dict[str, Any]:
    return _base_data()


@pytest.fixture(scope="module")
def new_data() -> dict[str, Any]:
    return _llm_revision()


@pytest.fixture(scope="module")
def old(old_data: dict[str, Any]) -> mt.Model:
    return _model(old_data)


@pytest.fixture(scope="module")
def new(new_data: dict[str, Any]) -> mt.Model:
    return _model(new_data)


@pytest.fixture(scope="module")
def registers(old: mt.Model, new: mt.Model, catalog: mt.Catalog,
              policy: RiskPolicy) -> tuple[mt.RiskRegister, mt.RiskRegister]:
    return (mt.assess(mt.analyze(old, catalog), policy),
            mt.assess(mt.analyze(new, catalog), policy))


@pytest.fixture(scope="module")
def impact(old: mt.Model, new: mt.Model, catalog: mt.Catalog,
           policy: RiskPolicy) -> ChangeImpact:
    return diff_models(old, new, catalog=catalog, policy=policy)


# -- model changes --------------------------------------------------------------------------


def _keyed(data: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    if key == "system":
        return {"system": data["system"]}
    if key == "controls":
        return {c["control"]: c for c in data["controls"]}
    return {item["id"]: item for item in data.get(key, [])}


def test_every_model_change_is_reported(impact: ChangeImpact, old_data: dict[str, Any],
                                        new_data: dict[str, Any]) -> None:
    expected = set()
    for _, key, label in SECTIONS:
        before, after = _keyed(old_data, key), _keyed(new_data, key)
        expected |= {(label, i, "added") for i in after.keys() - before.keys()}
        expected |= {(label, i, "removed") for i in before.keys() - after.keys()}
        expected |= {(label, i, "changed") for i in before.keys() & after.keys()
                     if before[i] != after[i]}
    got = [(c.section, c.id, c.change) for c in impact.model_changes]
    assert len(got) == len(set(got))
    assert set(got) == expected
    # The scenario's changes are all there, each once.
    assert {("component", LLM, "added"), ("trust boundary", REGION, "added"),
            ("flow", "analytics-to-llm", "added"), ("flow", "llm-to-gateway", "added"),
            ("flow", REMOVED_FLOW, "removed"), ("applied control", FLIPPED, "changed"),
            ("system", "system", "changed")} == expected
    changes = {(c.section, c.id): c for c in impact.model_changes}
    flipped = changes["applied control", FLIPPED]
    assert [(f.field, f.old, f.new) for f in flipped.fields] == [
        ("status", "planned", "implemented")]
    assert [(f.field, f.old, f.new) for f in changes["system", "system"].fields] == [
        ("version", old_data["system"]["version"], "2.4")]
    # Report order is fixed: sections in order, ids sorted within a section.
    order = [label for _, _, label in SECTIONS]
    keys = [(order.index(c.section), c.id) for c in impact.model_changes]
    assert keys == sorted(keys)


def test_changed_fields_of_an_element(old_data: dict[str, Any], old: mt.Model,
                                      catalog: mt.Catalog, policy: RiskPolicy) -> None:
    data = copy.deepcopy(old_data)
    flow = next(f for f in data["flows"] if f["id"] == "gateway-to-app")
    flow["data"] = ["alarms"]
    flow["authentication"] = "mutual_tls"
    monitor = next(c for c in data["components"] if c["id"] == "monitor")
    monitor["attributes"] = {"holds_secrets": False}
    impact = diff_models(old, _model(data), catalog=catalog, policy=policy)
    fields = {(c.id, f.field): (f.old, f.new) for c in impact.model_changes for f in c.fields}
    assert fields == {
        ("gateway-to-app", "data"): (["vitals", "alarms"], ["alarms"]),
        ("gateway-to-app", "authentication"): ("certificate", "mutual_tls"),
        ("monitor", "attributes.holds_secrets"): (True, False),
    }


# -- findings and verdict -------------------------------------------------------------------


def _rating(a: Any) -> tuple[str, str, str, str]:
    return (a.risk.level.id, a.risk.acceptability.value, a.residual.level.id,
            a.residual.acceptability.value)


def test_findings_new_gone_changed(impact: ChangeImpact, registers: Any) -> None:
    before = {a.id: a for a in registers[0]}
    after = {a.id: a for a in registers[1]}
    assert {f.id for f in impact.new_findings} == after.keys() - before.keys()
    assert {f.id for f in impact.gone_findings} == before.keys() - after.keys()
    assert {f.id for f in impact.changed_findings} == {
        i for i in before.keys() & after.keys() if _rating(before[i]) != _rating(after[i])}
    # The scenario shows up where it should.
    assert any(f.id.endswith("@" + LLM) for f in impact.new_findings)
    assert any(f.id.endswith("@" + REMOVED_FLOW) for f in impact.gone_findings)
    assert impact.gone_findings and all(
        f.id.endswith("@" + REMOVED_FLOW) for f in impact.gone_findings)
    for f in impact.changed_findings:
        assert f.old is not None and f.new is not None
        assert (f.old.risk, f.old.acceptability, f.old.residual, f.old.residual_acceptability) \
            == _rating(before[f.id])
        assert (f.new.risk, f.new.acceptability, f.new.residual, f.new.residual_acceptability) \
            == _rating(after[f.id])
    assert impact.old_finding_count == len(before) and impact.new_finding_count == len(after)


def test_new_unacceptable_llm_risk_fails_the_change(impact: ChangeImpact,
                                                    registers: Any) -> None:
    before = {a.id: a for a in registers[0]}
    unacceptable_now = {a.id for a in registers[1].unacceptable()}
    unacceptable_before = {a.id for a in registers[0].unacceptable()}
    fresh = {i for i in unacceptable_now - unacceptable_before}
    assert any(i.endswith("@" + LLM) for i in fresh), "the scenario needs an unacceptable LLM risk"
    assert impact.new_unacceptable == len(fresh)
    rose = {a.id for a in registers[1]
            if a.id in before and a.residual.rank > before[a.id].residual.rank}
    assert impact.residual_rose
    assert {f.id for f in impact.findings if f.residual_rose} == rose | {
        i for i in fresh if i not in before}
    assert impact.exit_code == 1


def test_implementing_a_planned_control_passes(old: mt.Model, catalog: mt.Catalog,
                                               policy: RiskPolicy) -> None:
    impact = diff_models(old, _model(_control_only_revision()), catalog=catalog,
                         policy=policy)
    assert [(c.section, c.id, c.change) for c in impact.model_changes] == [
        ("applied control", FLIPPED, "changed")]
    assert not impact.new_findings and not impact.gone_findings
    assert impact.changed_findings, "implementing the control must lower some residual risk"
    assert all(f.residual_fell for f in impact.changed_findings)
    assert not impact.residual_rose and impact.new_unacceptable == 0
    assert impact.exit_code == 0
    # PCCP: the ML component the control covers is listed and within bounds.
    checks = {a.id: a for a in impact.ai_elements}
    assert checks["arrhythmia_engine"].within_bounds
    assert checks["arrhythmia_engine"].change == "risk changed"
    assert all(a.within_bounds for a in impact.ai_elements)
    assert "all stayed within the risk bounds" in impact_markdown(impact)


def test_identical_models_give_an_empty_impact(old: mt.Model, old_data: dict[str, Any],
                                               catalog: mt.Catalog,
                                               policy: RiskPolicy) -> None:
    impact = diff_models(old, _model(old_data), catalog=catalog, policy=policy)
    assert impact.empty and impact.exit_code == 0
    assert not impact.model_changes and not impact.findings and not impact.decisions
    assert not impact.ai_elements
    text = impact_markdown(impact)
    assert "No model changes." in text and "No new findings." in text
    assert all(rows == [] for _, rows in impact_rows(impact).values())


# -- decisions ------------------------------------------------------------------------------


def test_decisions_orphaned_and_newly_matched(old: mt.Model, new: mt.Model,
                                              catalog: mt.Catalog, policy: RiskPolicy,
                                              registers: Any) -> None:
    gone = sorted(a.id for a in registers[0] if a.id.endswith("@" + REMOVED_FLOW))
    kept = next(a.id for a in registers[1] if a.id.endswith("@monitor"))
    decisions = decisions_from_data({"decisions": {
        gone[0]: {"status": "in_progress", "owner": "R. Risk"},
        "*@retired_device": {"status": "open"},
        f"*@{LLM}": {"status": "open", "ticket": "SEC-900"},
        kept: {"status": "mitigated"},
    }})
    impact = diff_models(old, new, catalog=catalog, policy=policy, decisions=decisions)
    by_key = {d.key: d for d in impact.decisions}
    assert by_key[gone[0]].change == "orphaned"
    assert by_key["*@retired_device"].change == "still_orphaned"
    llm_findings = tuple(sorted(a.id for a in registers[1] if a.id.endswith("@" + LLM)))
    assert by_key[f"*@{LLM}"].change == "newly_matched"
    assert by_key[f"*@{LLM}"].match == "element_wildcard"
    assert by_key[f"*@{LLM}"].findings == llm_findings
    assert kept not in by_key
    assert {d.key for d in impact.orphaned_decisions} == {gone[0], "*@retired_device"}
    text = impact_markdown(impact)
    assert "orphaned" in text and "\\*@retired\\_device" not in text
    assert "*@retired_device" in text


# -- renderers ------------------------------------------------------------------------------


def test_markdown_is_deterministic_across_processes(tmp_path: Path, old: mt.Model,
                                                    new: mt.Model,
                                                    impact: ChangeImpact) -> None:
    text = impact_markdown(impact)
    assert text == impact_markdown(impact)
    old_file, new_file = tmp_path / "old.yaml", tmp_path / "new.yaml"
    mt.save_model(old, old_file)
    mt.save_model(new, new_file)
    script = (
        "import sys, medthreat as mt\n"
        "from medthreat.lifecycle.diff import diff_models, impact_markdown, impact_html\n"
        "o, n = mt.load_model(sys.argv[1]), mt.load_model(sys.argv[2])\n"
        "i = diff_models(o, n)\n"
        "sys.stdout.buffer.write(impact_markdown(i).encode())\n"
        "sys.stdout.buffer.write(b'\\0' + impact_html(i).encode())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4711"}
    out = subprocess.run([sys.executable, "-c", script, str(old_file), str(new_file)],
                         capture_output=True, check=True, env=env).stdout
    markdown, page = out.split(b"\0")
    assert markdown.decode() == text
    assert page.decode() == impact_html(impact)
    # Content a change-control record needs.
    assert text.startswith("# Change impact: AI patient monitoring 2.3 → AI patient monitoring"
                           " 2.4\n")
    for heading in ("## Verdict", "## Model changes", "### New findings", "### Gone findings",
                    "### Findings with changed risk", "## Decisions affected", "## PCCP check"):
        assert f"\n{heading}\n" in text
    assert "| Exit code | 1 |" in text


def test_pccp_check_lists_changed_ai_elements(impact: ChangeImpact, old: mt.Model,
                                              new: mt.Model, catalog: mt.Catalog) -> None:
    checks = {a.id: a for a in impact.ai_elements}
    assert checks[LLM].change == "added" and not checks[LLM].within_bounds
    assert checks[LLM].type == "llm_service"
    # Every listed component is an AI component; every AI component with a model change is
    # listed.
    comps = {c.id: c for c in [*old.components, *new.components]}
    for a in impact.ai_elements:
        if a.section == "component":
            assert is_ai_component(comps[a.id], catalog)
    changed_ai = {c.id for c in impact.model_changes
                  if c.section == "component" and is_ai_component(comps[c.id], catalog)}
    assert changed_ai <= checks.keys()
    assert not is_ai_component(comps["monitor"], catalog)
    assert is_ai_component(comps["model_registry"], catalog)


def test_html_escapes_hostile_names(old_data: dict[str, Any], old: mt.Model,
                                    catalog: mt.Catalog, policy: RiskPolicy) -> None:
    data = copy.deepcopy(old_data)
    next(c for c in data["components"] if c["id"] == "monitor")["name"] = HOSTILE
    impact = diff_models(old, _model(data), catalog=catalog, policy=policy)
    page = impact_html(impact)
    assert "<script>" not in page
    assert html.escape(HOSTILE) in page
    assert page.count("<table>") == page.count("</table>")
    text = impact_markdown(impact)
    row = next(line for line in text.splitlines() if line.startswith("| component | monitor"))
    # The pipe in the name is escaped: the row keeps its seven columns.
    assert len(re.split(r"(?<!\\)\|", row)) == 7 + 2
    assert "<script>" not in text


def test_workbook_opens_with_text_kept_as_text(tmp_path: Path, old_data: dict[str, Any],
                                               old: mt.Model, catalog: mt.Catalog,
                                               policy: RiskPolicy) -> None:
    data = copy.deepcopy(old_data)
    formula = '=HYPERLINK("http://evil","click")'
    next(c for c in data["components"] if c["id"] == "monitor")["name"] = formula
    _flip(data, FLIPPED, "implemented")
    impact = diff_models(old, _model(data), catalog=catalog, policy=policy)
    path = tmp_path / "impact.xlsx"
    write_impact_workbook(impact, path)
    rows = impact_rows(impact)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Model changes", "Findings changed", "Decisions"]
    for name, (headers, body) in rows.items():
        ws = wb[name]
        assert [c.value for c in ws[1]] == headers
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref
        assert ws.max_row == max(len(body) + 1, 1)
    ws = wb["Model changes"]
    cells = [c for row in ws.iter_rows() for c in row if c.value == formula]
    assert cells and all(c.data_type == "s" for c in cells)
    frames = pd.read_excel(path, sheet_name=None)
    assert list(frames) == list(rows)
    assert formula in set(frames["Model changes"]["Name"])
    assert len(frames["Findings changed"]) == len(impact.findings)
    # Rewriting replaces the file atomically and leaves no temporary files behind.
    write_impact_workbook(impact, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["impact.xlsx"]


def test_libreoffice_reads_formula_like_text_as_text(tmp_path: Path, old_data: dict[str, Any],
                                                     old: mt.Model, catalog: mt.Catalog,
                                                     policy: RiskPolicy) -> None:
    soffice = require_tool("soffice")
    data = copy.deepcopy(old_data)
    formula = "=1+1"
    next(c for c in data["components"] if c["id"] == "monitor")["name"] = formula
    impact = diff_models(old, _model(data), catalog=catalog, policy=policy)
    book = tmp_path / "impact.xlsx"
    write_impact_workbook(impact, book)
    home = tmp_path / "home"
    home.mkdir()
    # The first sheet as CSV, formula results rather than formulas: a formula would show 2.
    proc = subprocess.run(
        [soffice, f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}", "--headless",
         "--norestore", "--nolockcheck", "--convert-to",
         "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,1",
         "--outdir", str(tmp_path / "csv"), str(book)],
        capture_output=True, text=True, timeout=240, check=False,
        env={**os.environ, "HOME": str(home)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sheet = tmp_path / "csv" / "impact-Model changes.csv"
    with sheet.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == impact_rows(impact)["Model changes"][0]
    monitor = next(r for r in rows if r[1] == "monitor")
    assert monitor[2] == formula and monitor[6] == formula
