"""findings.json with the risk register, and its published JSON Schema (draft 2020-12)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import medthreat as mt
from medthreat.catalog import ElementKind, Stride
from medthreat.catalog._entries import SECTIONS, FdaCategory
from medthreat.export.findings import (
    FORMAT,
    findings_json,
    findings_schema,
    write_findings_json,
)
from medthreat.export.register import (
    REGISTER_COLUMNS,
    RecordContext,
    json_chunks,
    register_record,
)
from medthreat.graph import AttackVector
from medthreat.lifecycle import Decision, Decisions, DecisionStatus
from medthreat.model._types import ControlStatus
from medthreat.risk.policy import DIMENSIONS, Acceptability

REFERENCE_MODEL = Path(__file__).resolve().parents[1] / "notebooks" / "models" / \
    "ai_patient_monitoring.yaml"


@pytest.fixture(scope="module")
def analysis() -> mt.Analysis:
    return mt.analyze(mt.load_model(REFERENCE_MODEL))


@pytest.fixture(scope="module")
def register(analysis: mt.Analysis) -> mt.RiskRegister:
    ids = [f.id for f in analysis.findings]
    decisions = Decisions(decisions={
        ids[0]: Decision(status=DecisionStatus.accepted, justification="Reviewed in RM-3.",
                         owner="R. Manager", date="2026-11-30", hazard_ids=["HAZ-1", "HAZ-2"],
                         verification_ids=["VT-1"], requirement_ids=["SR-9"]),
        f"{ids[1].split('@')[0]}@*": Decision(status=DecisionStatus.transferred,
                                              justification="Hospital IT operates it."),
    })
    return mt.assess(analysis, decisions=decisions)


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return findings_schema()


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def with_register(analysis: mt.Analysis, register: mt.RiskRegister) -> dict[str, Any]:
    return json.loads(findings_json(analysis, register))


def _errors(validator: jsonschema.Draft202012Validator, doc: Any) -> list[str]:
    return [e.message for e in validator.iter_errors(doc)]


def test_schema_is_valid_draft_2020_12(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["format"]["const"] == FORMAT


def test_reference_model_validates(analysis: mt.Analysis, with_register: dict[str, Any],
                                   validator: jsonschema.Draft202012Validator) -> None:
    plain = json.loads(findings_json(analysis))
    assert _errors(validator, plain) == []
    assert all("register" not in f for f in plain["findings"]) and "policy" not in plain
    assert _errors(validator, with_register) == []
    assert len(with_register["findings"]) == len(analysis.findings)


def test_every_register_column_is_in_the_schema(schema: dict[str, Any]) -> None:
    record = schema["$defs"]["register_record"]
    assert tuple(record["properties"]) == REGISTER_COLUMNS
    assert record["required"] == list(REGISTER_COLUMNS)
    assert record["additionalProperties"] is False
    assert schema["$defs"]["finding"]["properties"]["register"] == \
        {"$ref": "#/$defs/register_record"}


def test_schema_enums_follow_the_code(schema: dict[str, Any]) -> None:
    defs = schema["$defs"]
    for name, values in (("stride", Stride), ("element_kind", ElementKind),
                         ("attack_vector", AttackVector), ("acceptability", Acceptability),
                         ("decision_status", DecisionStatus), ("control_status", ControlStatus),
                         ("fda_category", FdaCategory)):
        assert defs[name]["enum"] == [v.value for v in values], name
    assert defs["dimension"]["enum"] == list(DIMENSIONS)
    assert schema["properties"]["catalog"]["required"] == list(SECTIONS)
    assert schema["properties"]["summary"]["properties"]["by_stride"]["required"] == \
        [s.value for s in Stride]


def test_records_carry_every_register_field(analysis: mt.Analysis, register: mt.RiskRegister,
                                            with_register: dict[str, Any]) -> None:
    context = RecordContext.of(register)
    by_id = {a.id: a for a in register}
    assert [f["id"] for f in with_register["findings"]] == [f.id for f in analysis.findings]
    for finding in with_register["findings"]:
        record = finding["register"]
        assert list(record) == sorted(REGISTER_COLUMNS)  # dump order: sorted keys
        assert record == register_record(by_id[finding["id"]], context)
        assert record["finding_id"] == finding["id"]
        assert finding["why"]  # what a finding had before is still there
    decided = next(f["register"] for f in with_register["findings"]
                   if f["register"]["status"] == "accepted")
    assert decided["date"] == "2026-11-30" and decided["hazard_ids"] == ["HAZ-1", "HAZ-2"]
    assert decided["owner"] == "R. Manager" and decided["verification_ids"] == ["VT-1"]
    assert "SR-9" in decided["requirement_ids"]
    assert with_register["policy"]["id"] == register.policy.id


def _finding(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["findings"][0]


@pytest.mark.parametrize(("label", "break_it"), [
    ("wrong stride", lambda d: _finding(d).update(stride="spoofed")),
    ("wrong acceptability", lambda d: _finding(d)["register"].update(
        acceptability_post="fine")),
    ("wrong decision status", lambda d: _finding(d)["register"].update(status="closed")),
    ("wrong element kind", lambda d: _finding(d).update(element_kind="server")),
    ("wrong attack vector", lambda d: _finding(d)["register"].update(attack_vector="wifi")),
    ("missing why", lambda d: _finding(d).pop("why")),
    ("missing register column", lambda d: _finding(d)["register"].pop("residual_risk")),
    ("unknown register column", lambda d: _finding(d)["register"].update(colour="red")),
    ("list as text", lambda d: _finding(d)["register"].update(hazard_ids="HAZ-1")),
    ("bad date", lambda d: _finding(d)["register"].update(date="30.11.2026")),
    ("register without policy", lambda d: d.pop("policy")),
    ("policy without register", lambda d: _finding(d).pop("register")),
    ("wrong format", lambda d: d.update(format="medthreat-findings/1")),
])
def test_broken_documents_are_rejected(label: str, break_it: Any,
                                       with_register: dict[str, Any],
                                       validator: jsonschema.Draft202012Validator) -> None:
    doc = copy.deepcopy({**with_register, "findings": with_register["findings"][:3]})
    assert _errors(validator, doc) == []
    break_it(doc)
    assert _errors(validator, doc), label


def test_json_is_deterministic_and_canonical(analysis: mt.Analysis, register: mt.RiskRegister,
                                            tmp_path: Path) -> None:
    text = findings_json(analysis, register)
    assert text == findings_json(analysis, register)
    # Streamed piece by piece, the text is exactly what one json.dumps of the whole would give.
    canonical = json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False)
    assert text == canonical + "\n"
    assert "".join(json_chunks({"b": 1, "a": {"x": [1]}}, "items", iter([]))) == \
        json.dumps({"a": {"x": [1]}, "b": 1, "items": []}, indent=2, sort_keys=True) + "\n"
    path = write_findings_json(analysis, tmp_path / "f" / "findings.json", register)
    assert path.read_text(encoding="utf-8") == text
    assert [p.name for p in path.parent.iterdir()] == ["findings.json"]


def test_register_of_another_analysis_is_refused(register: mt.RiskRegister) -> None:
    from _models import mini_catalog, mini_model

    other = mt.analyze(mini_model(), mini_catalog())
    with pytest.raises(ValueError, match="does not assess"):
        findings_json(other, register)


@pytest.mark.parametrize("value", [
    {"a": 1.5, "b": [], "c": {}, "d": [{"x": None, "y": [True, False]}],
     "é": "ü\u2028\"\\\n<&>", "n": -3, "t": ("a", 2)},
    [], {}, "text", 2.0, [[], [[]], {"k": {}}],
])
def test_json_pieces_match_json_dumps(value: Any) -> None:
    items = [value, {"nested": value}]
    expected = json.dumps({"head": value, "items": items}, indent=2, sort_keys=True,
                          ensure_ascii=False) + "\n"
    assert "".join(json_chunks({"head": value}, "items", iter(items))) == expected
