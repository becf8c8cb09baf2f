"""Interop: OTM and Threat Dragon export (schema-validated) and import; Threagile import."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

import medthreat as mt
from medthreat.errors import ModelError
from medthreat.export.otm import OUTSIDE_ZONE, otm_document, otm_json, write_otm
from medthreat.export.threatdragon import (
    threatdragon_document,
    threatdragon_json,
    write_threatdragon,
)
from medthreat.interop import (
    import_otm,
    import_threagile,
    import_threatdragon,
    map_component_type,
    map_protocol,
)

DATA = Path(__file__).parent / "data" / "interop"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "examples"
OTM_SCHEMA = json.loads((DATA / "otm-0.2.0.schema.json").read_text(encoding="utf-8"))
TD_SCHEMA = json.loads((DATA / "threat-dragon-v2.schema.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def assessed(reference_model_path: Path) -> tuple[mt.Analysis, mt.RiskRegister]:
    analysis = mt.analyze(mt.load_model(reference_model_path))
    return analysis, mt.assess(analysis)


# -- OTM export ---------------------------------------------------------------------------------

def test_otm_export_validates_against_schema(assessed):
    analysis, register = assessed
    doc = otm_document(analysis, register)
    jsonschema.validate(doc, OTM_SCHEMA)
    jsonschema.validate(otm_document(analysis), OTM_SCHEMA)
    model = analysis.model
    zones = {z["id"]: z for z in doc["trustZones"]}
    assert set(zones) == {b.id for b in model.boundaries} | {OUTSIDE_ZONE}
    assert {c["id"] for c in doc["components"]} == {
        e.id for e in [*model.components, *model.actors]}
    assert {f["id"] for f in doc["dataflows"]} == {f.id for f in model.flows}
    assert {t["id"] for t in doc["threats"]} == {f.id for f in analysis.findings}
    mitigation_ids = {m["id"] for m in doc["mitigations"]}
    for element in [*doc["components"], *doc["dataflows"]]:
        for ref in element["threats"]:
            assert ref["threat"] in {t["id"] for t in doc["threats"]}
            assert {m["mitigation"] for m in ref["mitigations"]} <= mitigation_ids


def test_otm_export_trust_ratings_and_parents(assessed):
    analysis, register = assessed
    doc = otm_document(analysis, register)
    zones = {z["id"]: z for z in doc["trustZones"]}
    for b in analysis.model.boundaries:
        rating = zones[b.id]["risk"]["trustRating"]
        assert rating == {"untrusted": 1, "semi_trusted": 50, "trusted": 100}[
            b.effective_trust.value]
        if b.parent:
            assert zones[b.id]["parent"] == {"trustZone": b.parent}
    by_id = {c["id"]: c for c in doc["components"]}
    for c in analysis.model.components:
        assert by_id[c.id]["parent"] == {"trustZone": c.boundary or OUTSIDE_ZONE}


def test_otm_threats_carry_stride_and_risk(assessed):
    analysis, register = assessed
    doc = otm_document(analysis, register)
    first = analysis.findings[0]
    threat = next(t for t in doc["threats"] if t["id"] == first.id)
    assert threat["categories"] == [first.stride.value]
    assert isinstance(threat["risk"]["likelihood"], int)
    assert register.get(first.id).risk.level.id in threat["risk"]["impactComment"]


def test_exports_are_deterministic(assessed, tmp_path):
    analysis, register = assessed
    write_otm(analysis, tmp_path / "a.otm.json", register)
    write_threatdragon(analysis, tmp_path / "a.td.json", register)
    again = mt.analyze(mt.load_model(analysis.model._source.file))
    again_register = mt.assess(again)
    write_otm(again, tmp_path / "b.otm.json", again_register)
    write_threatdragon(again, tmp_path / "b.td.json", again_register)
    assert (tmp_path / "a.otm.json").read_bytes() == (tmp_path / "b.otm.json").read_bytes()
    assert (tmp_path / "a.td.json").read_bytes() == (tmp_path / "b.td.json").read_bytes()
    assert otm_json(analysis, register) == (tmp_path / "a.otm.json").read_text("utf-8")
    assert threatdragon_json(analysis) == threatdragon_json(analysis)


# -- OTM import ---------------------------------------------------------------------------------

def test_otm_import_medical_example():
    model, notes = import_otm(DATA / "medical-otm.yaml")
    types = {c.id: c.type for c in model.components}
    assert types == {"pump": "infusion_pump", "server": "web_portal", "db": "sql_database",
                     "flux": "cloud_service"}
    assert [a.id for a in model.actors] == ["nurse"]
    ward = next(b for b in model.boundaries if b.id == "ward")
    assert ward.parent == "hospital" and ward.effective_trust.value == "semi_trusted"
    internet = next(b for b in model.boundaries if b.id == "internet")
    assert internet.kind.value == "internet" and internet.effective_trust.value == "untrusted"
    assert {f.id for f in model.flows} == {"server-to-pump", "server-to-db", "nurse-to-pump"}
    assert next(f for f in model.flows if f.id == "server-to-pump").protocol == "https"
    assert any("flux-capacitor" in n and "fallback" in n for n in notes)
    assert any("internet-to-server" in n for n in notes)
    mt.analyze(model)


def test_otm_round_trip(assessed, tmp_path):
    analysis, register = assessed
    path = tmp_path / "model.otm.json"
    write_otm(analysis, path, register)
    model, notes = import_otm(path)
    original = analysis.model
    assert {(c.id, c.type, c.boundary) for c in model.components} == {
        (c.id, c.type, c.boundary) for c in original.components}
    assert {(a.id, a.boundary) for a in model.actors} == {
        (a.id, a.boundary) for a in original.actors}
    assert {(f.id, f.source, f.target, f.protocol) for f in model.flows} == {
        (f.id, f.source, f.target, f.protocol) for f in original.flows}
    assert {(d.id, d.kind) for d in model.data_assets} == {
        (d.id, d.kind) for d in original.data_assets}
    assert {(b.id, b.effective_trust, b.parent) for b in model.boundaries} == {
        (b.id, b.effective_trust, b.parent) for b in original.boundaries}
    assert any("not imported" in n for n in notes)
    mt.analyze(model)


@pytest.mark.skipif(not (SHARED / "otm-example.yaml").exists(),
                    reason="../shared/reference absent (the OTM example is CC BY-SA, not copied)")
def test_otm_import_upstream_example():
    model, notes = import_otm(SHARED / "otm-example.yaml")
    assert len(model.components) >= 3
    assert notes
    mt.analyze(model)


def test_otm_import_bad_input_names_file_line_and_path(tmp_path):
    bad = tmp_path / "bad.otm.yaml"
    bad.write_text("otmVersion: 0.2.0\nproject: {name: x, id: x}\ntrustZones:\n"
                   "  - id: z\n    name: Z\n    risk: {trustRating: 50}\ncomponents:\n"
                   "  - id: c\n    name: C\n    type: web-service\n"
                   "    parent: {trustZone: nowhere}\n", encoding="utf-8")
    with pytest.raises(ModelError) as info:
        import_otm(bad)
    text = str(info.value)
    assert "bad.otm.yaml:11" in text and "components[0].parent" in text and "nowhere" in text
    not_otm = tmp_path / "x.yaml"
    not_otm.write_text("- 1\n", encoding="utf-8")
    with pytest.raises(ModelError, match=r"x\.yaml"):
        import_otm(not_otm)


# -- Threat Dragon --------------------------------------------------------------------------------

def test_threatdragon_export_validates_against_schema(assessed):
    analysis, register = assessed
    doc = threatdragon_document(analysis, register)
    jsonschema.validate(doc, TD_SCHEMA)
    jsonschema.validate(threatdragon_document(analysis), TD_SCHEMA)
    cells = doc["detail"]["diagrams"][0]["cells"]
    shapes = {c["shape"] for c in cells}
    assert {"process", "flow", "actor", "trust-boundary-box"} <= shapes
    threats = [t for c in cells for t in c["data"].get("threats", [])]
    assert len(threats) == len(analysis.findings)
    assert {t["status"] for t in threats} <= {"Open", "Mitigated", "NA"}
    assert {t["severity"] for t in threats} <= {"High", "Medium", "Low"}
    assert len({t["severity"] for t in threats}) > 1


def test_threatdragon_status_follows_decisions(assessed):
    analysis, _ = assessed
    decisions = mt.load_decisions(Path(__file__).parent / "data" / "decisions" / "reference.yaml")
    register = mt.assess(analysis, decisions=decisions)
    doc = threatdragon_document(analysis, register)
    jsonschema.validate(doc, TD_SCHEMA)
    by_id = {t["id"]: t for c in doc["detail"]["diagrams"][0]["cells"]
             for t in c["data"].get("threats", [])}
    expected = {"open": "Open", "in_progress": "Open", "accepted": "Open",
                "mitigated": "Mitigated", "avoided": "Mitigated", "transferred": "Mitigated",
                "false_positive": "NA"}
    statuses = {a.status for a in register}
    assert "mitigated" in statuses and "transferred" in statuses
    for a in register:
        assert by_id[a.id]["status"] == expected[a.status]
    otm = otm_document(analysis, register)
    jsonschema.validate(otm, OTM_SCHEMA)
    states = {r["threat"]: r["state"] for c in [*otm["components"], *otm["dataflows"]]
              for r in c["threats"]}
    for a in register:
        if a.status in {"mitigated", "transferred", "avoided"}:
            assert states[a.id] == "mitigated"


def test_threatdragon_demo_imports_and_analyzes():
    model, notes = import_threatdragon(DATA / "threatdragon-example.json")
    assert len(model.components) == 6 and len(model.actors) == 1
    assert len(model.flows) == 9
    assert any("curve" in n for n in notes)
    assert any("threat(s) not imported" in n for n in notes)
    assert {c.type for c in model.components} >= {"message_queue", "sql_database"}
    assert len(mt.analyze(model).findings) > 0


def test_threatdragon_round_trip_keeps_boundaries(assessed, tmp_path):
    analysis, register = assessed
    path = tmp_path / "model.td.json"
    write_threatdragon(analysis, path, register)
    model, _ = import_threatdragon(path)
    original = analysis.model
    # External-entity components are drawn as actors, so they come back as actors.
    elements = [*model.components, *model.actors]
    original_elements = [*original.components, *original.actors]
    assert len(elements) == len(original_elements)
    assert len(model.flows) == len(original.flows)
    names = {b.id: b.name for b in model.boundaries}
    orig_names = {b.id: b.name or b.id for b in original.boundaries}
    placed = {e.name: names.get(e.boundary) for e in elements}
    assert placed == {e.name or e.id: orig_names.get(e.boundary) for e in original_elements}
    mt.analyze(model)


def test_threatdragon_bad_input(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"summary": {"title": "x"}, "detail": {"diagrams": [{"cells": [\n'
                   '{"id": "f1", "shape": "flow", "source": {"cell": "ghost"},\n'
                   ' "target": {"cell": "ghost"}}]}]}}\n', encoding="utf-8")
    with pytest.raises(ModelError) as info:
        import_threatdragon(bad)
    assert "bad.json:" in str(info.value) and "detail.diagrams[0].cells[0].source" in str(
        info.value)
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(ModelError, match=r"broken\.json"):
        import_threatdragon(broken)


# -- Threagile -----------------------------------------------------------------------------------

def test_threagile_example_imports_and_analyzes():
    model, notes = import_threagile(DATA / "threagile-example.yaml")
    ids = {c.id for c in model.components}
    assert {"load-balancer", "sql-database", "erp-system"} <= ids
    types = {c.id: c.type for c in model.components}
    assert types["load-balancer"] == "api_gateway"
    assert types["sql-database"] == "sql_database"
    assert types["identity-provider"] == "identity_provider"
    assert types["jenkins-build-server"] == "ci_cd_pipeline"
    assert {a.id for a in model.actors} >= {"customer-client"}
    bounds = {b.id: b for b in model.boundaries}
    assert bounds["web-dmz"].parent == "application-network"
    assert next(c for c in model.components if c.id == "erp-system").boundary == "erp-dmz"
    protocols = {f.protocol for f in model.flows}
    assert {"https", "sql", "ssh", "ldaps"} <= protocols
    assert any("nfs" in n for n in notes)
    assert any("risk_tracking" in n for n in notes)
    assert len(model.data_assets) == 12
    assert len(mt.analyze(model).findings) > 0


def test_threagile_bad_input(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: x\ntechnical_assets:\n  A:\n    id: a\n    type: process\n"
                   "    technology: web-server\n    communication_links:\n      L:\n"
                   "        target: nowhere\n        protocol: https\n", encoding="utf-8")
    with pytest.raises(ModelError) as info:
        import_threagile(bad)
    assert "bad.yaml:9" in str(info.value) and "nowhere" in str(info.value)
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text("title: !!python/object/apply:os.system ['true']\n"
                      "technical_assets: {}\n", encoding="utf-8")
    with pytest.raises(ModelError):
        import_threagile(unsafe)


# -- mapping tables -------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "kind", "expected", "mapped"), [
    ("insulin_pump", "process", "insulin_pump", True),
    ("AWS S3 bucket", "data_store", "object_storage", True),
    ("load-balancer", "process", "api_gateway", True),
    ("PostgreSQL", "data_store", "sql_database", True),
    ("something-odd", "data_store", "object_storage", False),
    ("something-odd", "external_entity", "external_service", False),
])
def test_component_type_mapping(name, kind, expected, mapped):
    from medthreat.catalog import default_catalog

    assert map_component_type(name, kind, set(default_catalog().component_types)) == (
        expected, mapped)


def test_protocol_mapping():
    from medthreat.catalog import default_catalog

    known = set(default_catalog().protocols)
    assert map_protocol("HTTPS", known) == ("https", True)
    assert map_protocol("jdbc-encrypted", known) == ("sql", True)
    assert map_protocol("carrier pigeon", known) == ("tcp_proprietary", False)
