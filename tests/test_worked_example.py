"""docs/worked-example.md against the tool.

The page scores five findings of the reference model by hand. Its two machine-readable tables
(between ``<!-- worked-example:NAME:start -->`` and ``...:end -->``) are parsed here and
compared with what ``medthreat.risk.assess`` gives, so the page and the tool cannot drift apart.
The "what if" statements of the page (a planned control implemented, a severity-lowering control
added) are checked on a copy of the model.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import medthreat as mt
from medthreat.engine import Analysis
from medthreat.graph import Exposure, exposure
from medthreat.model import model_from_data
from medthreat.risk import Assessment, RiskRegister, assess

REPO_ROOT = Path(__file__).resolve().parents[1]
DOC = REPO_ROOT / "docs" / "worked-example.md"
MODEL = REPO_ROOT / "notebooks" / "models" / "ai_patient_monitoring.yaml"
ARROW = "→"


def _cells(line: str) -> list[str]:
    return [c.strip().strip("`").strip() for c in line.strip().strip("|").split("|")]


def doc_table(name: str, text: str | None = None) -> list[dict[str, str]]:
    """The rows of the marked Markdown table ``name`` as dictionaries keyed by header."""
    text = DOC.read_text(encoding="utf-8") if text is None else text
    start, end = f"<!-- worked-example:{name}:start -->", f"<!-- worked-example:{name}:end -->"
    assert text.count(start) == 1 and text.count(end) == 1, f"table markers for {name!r}"
    block = text.split(start, 1)[1].split(end, 1)[0]
    lines = [line for line in block.splitlines() if line.strip().startswith("|")]
    header, separator, *body = lines
    assert set(separator.replace("|", "").strip()) <= {"-", ":", " "}, separator
    keys = _cells(header)
    return [dict(zip(keys, _cells(line), strict=True)) for line in body]


def yes_no(value: str) -> bool | None:
    """``yes``/``no`` as bool; ``n/a`` (no such status on this scale) as None."""
    return {"yes": True, "no": False, "n/a": None}[value]


def id_list(value: str) -> tuple[str, ...]:
    """A comma-separated cell as a tuple; ``-`` is the empty list."""
    return () if value == "-" else tuple(v.strip() for v in value.split(","))


SUMMARY = doc_table("summary")
PATHS = doc_table("paths")


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    return mt.analyze(mt.load_model(MODEL))


@pytest.fixture(scope="module")
def register(analysis: Analysis) -> RiskRegister:
    return assess(analysis)


@pytest.fixture(scope="module")
def exposures(analysis: Analysis) -> dict[str, Exposure]:
    return exposure(analysis.model, analysis.catalog)


def assessed(register: RiskRegister, finding_id: str) -> Assessment:
    found = register.get(finding_id)
    assert found is not None, f"{finding_id} is not a finding of the reference model"
    return found


def test_summary_has_five_findings_each_with_its_own_section() -> None:
    ids = [row["Finding"] for row in SUMMARY]
    assert len(ids) == 5 and len(set(ids)) == 5, ids
    headings = [line for line in DOC.read_text(encoding="utf-8").splitlines()
                if line.startswith("#")]
    for finding_id in ids:
        assert sum(f"`{finding_id}`" in h for h in headings) == 1, finding_id
    assert [row["Finding"] for row in PATHS] == ids


@pytest.mark.parametrize("row", SUMMARY, ids=[row["Finding"] for row in SUMMARY])
def test_tool_gives_the_hand_computed_values(row: dict[str, str],
                                             register: RiskRegister) -> None:
    a = assessed(register, row["Finding"])
    expected = {
        "attack vector": row["Attack vector"],
        "exploitability pre": row["Exploitability pre"],
        "exploitability post": row["Exploitability post"],
        "impact scale": row["Impact scale"],
        "impact pre": row["Impact pre"],
        "impact post": row["Impact post"],
        "risk pre": row["Risk pre"],
        "acceptability pre": row["Acceptability pre"],
        "controlled pre": yes_no(row["Controlled pre"]),
        "risk post": row["Risk post"],
        "acceptability post": row["Acceptability post"],
        "controlled post": yes_no(row["Controlled post"]),
        "counted controls": id_list(row["Counted controls"]),
        "planned controls": id_list(row["Planned controls"]),
        "multi-patient": yes_no(row["Multi-patient"]),
        "safety transfer": yes_no(row["Safety transfer"]),
    }
    actual = {
        "attack vector": a.attack_vector,
        "exploitability pre": a.exploitability.level,
        "exploitability post": a.exploitability_post.level,
        "impact scale": a.impact.scale,
        "impact pre": a.impact.level,
        "impact post": a.impact_post.level,
        "risk pre": a.risk.level.id,
        "acceptability pre": a.risk.acceptability.value,
        "controlled pre": a.risk.controlled,
        "risk post": a.residual.level.id,
        "acceptability post": a.residual.acceptability.value,
        "controlled post": a.residual.controlled,
        "counted controls": a.counted_controls,
        "planned controls": a.planned_controls,
        "multi-patient": a.multi_patient,
        "safety transfer": a.safety_transfer,
    }
    assert actual == expected
    # The same values reach the register export.
    record = a.to_dict()
    assert (record["exploitability"], record["residual_risk"], record["controlled_post"]) == (
        expected["exploitability pre"], expected["risk post"], expected["controlled post"])


@pytest.mark.parametrize("row", PATHS, ids=[row["Finding"] for row in PATHS])
def test_attack_paths_as_worked_out(row: dict[str, str], register: RiskRegister,
                                    exposures: dict[str, Exposure]) -> None:
    a = assessed(register, row["Finding"])
    subject = a.finding.subject
    # Element findings use the element's exposure, flow findings their source's.
    assert row["Exposure of"] == (subject.source or subject.id)
    e = exposures[row["Exposure of"]]
    path = tuple(step.strip() for step in row["Best path"].split(ARROW))
    assert (e.entry, e.path, e.boundaries_crossed, e.authenticated, e.encrypted) == (
        row["Entry point"], path, int(row["Boundaries crossed"]),
        yes_no(row["Path authenticated"]), yes_no(row["Path encrypted"]))
    assert e.vector is not None and e.vector.value == a.attack_vector
    protected = any(f.name == "protected path" for f in a.exploitability.factors)
    assert protected is yes_no(row["Protected-path factor"])


#: The page's "what if" results, as it states them (whitespace-normalised), by finding.
WHAT_IF = {
    "MT-AI-004@model_registry": "is **high, unacceptable, uncontrolled** — still not enough",
    "MT-FLOW-007@patch-to-monitor": "`moderate` \u00d7 `serious` (l.234, l.240, l.246) is "
                                    "**medium, review, controlled**",
}


def test_what_if_controls_are_applied(analysis: Analysis) -> None:
    """Finding 2 with CTL-MODEL-SIGNING implemented; finding 3 with CTL-WATCHDOG-FAILSAFE."""
    text = " ".join(DOC.read_text(encoding="utf-8").split())
    for statement in WHAT_IF.values():
        assert statement in text, statement
    data = yaml.safe_load(MODEL.read_text(encoding="utf-8"))
    for control in data["controls"]:
        if control["control"] == "CTL-MODEL-SIGNING":
            control["status"] = "implemented"
    data["controls"].append(
        {"control": "CTL-WATCHDOG-FAILSAFE", "targets": ["monitor"], "status": "implemented"})
    register = assess(mt.analyze(model_from_data(data)))

    signed = assessed(register, "MT-AI-004@model_registry")
    assert (signed.exploitability.level, signed.impact.level) == ("high", "catastrophic")
    assert signed.counted_controls == ("CTL-MODEL-SIGNING",)
    assert (signed.exploitability_post.level, signed.impact_post.level) == ("low", "catastrophic")
    assert (signed.residual.level.id, signed.residual.acceptability.value,
            signed.residual.controlled) == ("high", "unacceptable", False)

    failsafe = assessed(register, "MT-FLOW-007@patch-to-monitor")
    assert (failsafe.exploitability.level, failsafe.impact.level) == ("moderate", "critical")
    assert failsafe.counted_controls == ("CTL-WATCHDOG-FAILSAFE",)
    assert (failsafe.exploitability_post.level, failsafe.impact_post.level) == (
        "moderate", "serious")
    assert (failsafe.residual.level.id, failsafe.residual.acceptability.value,
            failsafe.residual.controlled) == ("medium", "review", True)

    # The reference model itself is unchanged: the five keep the values of the summary table.
    original = assess(analysis)
    for row in SUMMARY:
        assert assessed(original, row["Finding"]).residual.level.id == row["Risk post"]
