"""Quality of the shipped catalog (issue 4, item 6).

- every specific threat can fire on some shipped component type or protocol (scenario models in
  ``_firing.py``), except a short documented list of threats that need a model override;
- no dangling references: threat and framework controls exist, framework requirements are
  served by some catalog control or a document;
- every ATLAS, EMB3D and OWASP id exists in the reference lists (copies in tests/data/reference);
- every specific threat has a control; every control is listed by some threat (so applying
  it can lower a residual risk) or marked ``threat_specific: false`` as an organisational
  measure, never both; the counts issue 4 asks for;
- the committed docs/catalog.md is the generated one.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import pytest
from _firing import unfired

import medthreat as mt
from medthreat.catalog.doc import catalog_markdown

REFERENCE = Path(__file__).parent / "data" / "reference"
DOC = Path(__file__).resolve().parents[1] / "docs" / "catalog.md"

#: Threats that fire only when a model overrides an attribute no shipped type sets, because the
#: fact is product-specific: (component type to try, attribute overrides, reason).
NEEDS_OVERRIDE: dict[str, tuple[str, dict[str, bool], str]] = {
    "MT-DEV-012": ("clinician_workstation", {"unsupported_software": True},
                   "end-of-life software is a fact about one product, never a type default"),
    "MT-CLOUD-014": ("cloud_service", {"multi_tenant": True},
                     "whether one instance serves several customers is a deployment choice"),
}


@pytest.fixture(scope="module")
def shipped() -> mt.Catalog:
    return mt.Catalog.load()


def _specific(catalog: mt.Catalog) -> list[mt.catalog.Threat]:
    return [t for t in catalog.threats.values() if not t.baseline]


# -- every threat can fire -----------------------------------------------------------------------


def test_every_specific_threat_fires_on_some_shipped_type_or_protocol(
        shipped: mt.Catalog) -> None:
    dead = unfired(shipped, ignore=NEEDS_OVERRIDE)
    assert not dead, (
        "threats no scenario model over the shipped component types and protocols fires "
        f"(dead conditions, or add them to NEEDS_OVERRIDE with a reason): {sorted(dead)}")


def test_firing_checker_reports_a_dead_threat(tmp_path: Path) -> None:
    (tmp_path / "dead.yaml").write_text(
        "threats:\n"
        "  - id: ACME-DEAD-1\n    title: Never\n    stride: tampering\n"
        "    applies_to: [process]\n    description: Contradictory condition.\n"
        "    condition: {all: [{element.category: device}, {element.category: cloud}]}\n"
        "  - id: ACME-LIVE-1\n    title: Always on devices\n    stride: tampering\n"
        "    applies_to: [process]\n    description: Any device.\n"
        "    condition: {element.category: device}\n", encoding="utf-8")
    catalog = mt.Catalog.load(tmp_path)
    others = [t for t in catalog.threats if not t.startswith("ACME-")]
    assert unfired(catalog, ignore=others, limit=3) == {"ACME-DEAD-1"}


@pytest.mark.parametrize("threat_id", sorted(NEEDS_OVERRIDE))
def test_override_exceptions_fire_with_their_override(shipped: mt.Catalog,
                                                      threat_id: str) -> None:
    if threat_id not in shipped.threats:
        pytest.fail(f"{threat_id} is gone from the catalog; remove it from NEEDS_OVERRIDE")
    type_id, overrides, _ = NEEDS_OVERRIDE[threat_id]
    for name, value in overrides.items():
        setters = [t.id for t in shipped.component_types.values()
                   if t.attributes.get(name) == value]
        assert not setters, (f"{threat_id}: types {setters} now set {name}={value}; the "
                             "exception is stale, remove it from NEEDS_OVERRIDE")
    m = mt.Model("override", system={"version": "1"})
    m.component(type_id, "subject", id="subject", attributes=overrides)
    found = {f.threat.id for f in mt.analyze(m, shipped).findings}
    assert threat_id in found


# -- references ----------------------------------------------------------------------------------


@cache
def _reference_ids() -> dict[str, set[str]]:
    """Known ids per reference prefix, e.g. 'ATLAS' -> {'AML.T0020', ...}."""
    ids: dict[str, set[str]] = {"ATLAS": set(), "EMB3D": set()}
    for name in ("atlas_tactics.csv", "atlas_techniques.csv", "atlas_mitigations.csv"):
        with (REFERENCE / name).open(encoding="utf-8") as handle:
            ids["ATLAS"] |= {row["id"] for row in csv.DictReader(handle)}
    lines = (REFERENCE / "emb3d_ids.txt").read_text(encoding="utf-8").splitlines()
    ids["EMB3D"] = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    editions = {
        ("OWASP ML Security Top 10", "2023"): "OWASP-ML:2023",
        ("OWASP Top 10 for LLM Applications", "2025"): "OWASP-LLM:2025",
        ("OWASP Top 10 for LLM Applications", "2026"): "OWASP-LLM:2026",
        ("OWASP Top 10 for Agentic Applications", "2026"): "OWASP-AGENTIC:2026",
        ("NIST AI 100-2", "E2025"): "NIST-AI-100-2:E2025",
    }
    with (REFERENCE / "ai_reference_ids.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            key = editions.get((row["framework"], row["version"].split()[0]))
            if key:
                ids.setdefault(key, set()).add(row["id"])
    return ids


def _checked_prefix(reference: str) -> tuple[str, str] | None:
    parts = reference.split(":")
    if parts[0] in ("ATLAS", "EMB3D"):
        return parts[0], parts[-1]
    if parts[0] in ("OWASP-ML", "OWASP-LLM", "OWASP-AGENTIC", "NIST-AI-100-2"):
        return ":".join(parts[:2]), parts[-1]
    return None


def test_reference_lists_are_complete() -> None:
    ids = _reference_ids()
    assert "AML.T0020" in ids["ATLAS"] and "AML.M0013" in ids["ATLAS"]
    assert "TID-211" in ids["EMB3D"] and "MID-026" in ids["EMB3D"]
    assert "LLM01" in ids["OWASP-LLM:2025"] and "ML02" in ids["OWASP-ML:2023"]
    assert len(ids["OWASP-AGENTIC:2026"]) == 10


def test_every_atlas_emb3d_owasp_nist_id_exists(shipped: mt.Catalog) -> None:
    ids = _reference_ids()
    unknown = []
    entries = [*shipped.threats.values(), *shipped.controls.values()]
    entries += [r for fw in shipped.frameworks.values() for r in fw.requirements]
    for entry in entries:
        for reference in entry.references:
            checked = _checked_prefix(reference)
            if checked is None:
                continue
            prefix, local = checked
            if local not in ids.get(prefix, set()):
                unknown.append(f"{entry.id}: {reference}")
    assert not unknown, "references to ids missing from the reference lists (typo, wrong " \
        "edition, or a technique id used where a mitigation is meant): " + "; ".join(unknown)


def test_atlas_techniques_on_threats_and_mitigations_on_controls(shipped: mt.Catalog) -> None:
    wrong = [f"{t.id}: {r}" for t in shipped.threats.values() for r in t.references
             if r.startswith(("ATLAS:AML.M", "EMB3D:MID"))]
    wrong += [f"{c.id}: {r}" for c in shipped.controls.values() for r in c.references
              if r.startswith(("ATLAS:AML.T", "EMB3D:TID"))]
    assert not wrong, "; ".join(wrong)


def test_no_dangling_references(shipped: mt.Catalog) -> None:
    # Catalog.load already rejects unknown controls; this guards the framework side: each
    # requirement must be servable by some catalog control or a document.
    unserved = [req.id for _, req in shipped.requirements().values()
                if not req.documents and not any(req.matches(c)
                                                 for c in shipped.controls.values())]
    assert not unserved, f"requirements no catalog control or document can serve: {unserved}"
    for threat in shipped.threats.values():
        assert set(threat.controls) <= set(shipped.controls), threat.id


def test_every_specific_threat_has_a_control(shipped: mt.Catalog) -> None:
    bare = [t.id for t in _specific(shipped) if not t.controls]
    assert not bare, f"threats without a mitigating control: {bare}"


def test_every_control_mitigates_some_threat_or_serves_a_requirement(
        shipped: mt.Catalog) -> None:
    used = {c for t in shipped.threats.values() for c in t.controls}
    requirements = [req for _, req in shipped.requirements().values()]
    idle = [c.id for c in shipped.controls.values()
            if c.id not in used and not any(req.matches(c) for req in requirements)]
    assert not idle, f"controls nothing refers to: {idle}"


def unlisted_controls(catalog: mt.Catalog) -> tuple[list[str], list[str]]:
    """Controls whose marking disagrees with the threats: (threat-specific controls no threat
    lists, controls marked not threat-specific that a threat lists anyway)."""
    listed = {c for t in catalog.threats.values() for c in t.controls}
    idle = sorted(c.id for c in catalog.controls.values()
                  if c.threat_specific and c.id not in listed)
    contradicted = sorted(c.id for c in catalog.controls.values()
                          if not c.threat_specific and c.id in listed)
    return idle, contradicted


def test_every_control_is_listed_by_a_threat_or_marked_not_threat_specific(
        shipped: mt.Catalog) -> None:
    # A control no threat lists never lowers a residual risk when a model applies it, so it
    # is either a mapping gap or an organisational measure that must say so.
    idle, contradicted = unlisted_controls(shipped)
    assert not idle, ("controls no threat lists, so applying them lowers no risk: list them "
                      f"on the threats they mitigate or set threat_specific: false: {idle}")
    assert not contradicted, f"marked threat_specific: false but listed by a threat: " \
        f"{contradicted}"


def test_technical_controls_that_threats_list_lower_a_risk(shipped: mt.Catalog) -> None:
    # Organisational pointers (training, supplier management) may be 0/0; a technical control
    # on a threat's list must change a rating when a model implements it.
    listed = {c for t in shipped.threats.values() for c in t.controls}
    inert = [c.id for c in shipped.controls.values()
             if c.id in listed and c.kind.value == "technical"
             and c.effect.exploitability == 0 and c.effect.severity == 0]
    assert not inert, f"technical controls whose effect is 0/0: {inert}"


def test_organisational_controls_are_a_minority_and_serve_a_requirement(
        shipped: mt.Catalog) -> None:
    general = [c for c in shipped.controls.values() if not c.threat_specific]
    assert general, "the organisational controls are marked"
    assert len(general) * 4 < len(shipped.controls), [c.id for c in general]
    requirements = [req for _, req in shipped.requirements().values()]
    for control in general:
        assert any(req.matches(control) for req in requirements), (
            f"{control.id} is not threat-specific and serves no framework requirement either")


def test_unlisted_control_checker_reports_both_kinds_of_gap(tmp_path: Path) -> None:
    entry = ("  - id: {id}\n    title: Example\n    kind: organizational\n"
             "    fda_category: resiliency_recovery\n    description: Example control.\n"
             "    references: [\"IEC81001-5-1:5.1\", \"NIST-800-53:PL-2\"]\n{extra}")
    (tmp_path / "controls.yaml").write_text(
        "controls:\n"
        + entry.format(id="CTL-ACME-IDLE", extra="")
        + entry.format(id="CTL-ACME-PLAN", extra="    threat_specific: false\n")
        + entry.format(id="CTL-ACME-LISTED", extra="    threat_specific: false\n")
        + "threats:\n  - id: ACME-DEV-1\n    title: Example\n    stride: tampering\n"
        "    applies_to: [process]\n    description: Example threat.\n"
        "    controls: [CTL-ACME-LISTED]\n", encoding="utf-8")
    catalog = mt.Catalog.load(tmp_path)
    assert catalog.controls["CTL-ACME-PLAN"].threat_specific is False
    assert catalog.controls["CTL-ACME-IDLE"].threat_specific is True
    idle, contradicted = unlisted_controls(catalog)
    assert [c for c in idle if c.startswith("CTL-ACME-")] == ["CTL-ACME-IDLE"]
    assert contradicted == ["CTL-ACME-LISTED"]


# -- counts (issue 4) ----------------------------------------------------------------------------


def test_issue_4_counts(shipped: mt.Catalog) -> None:
    counts = shipped.counts()
    ai_threats = [t for t in _specific(shipped) if t.ai_category]
    assert counts["component_types"] >= 60
    assert counts["protocols"] >= 25
    assert counts["threats"] >= 180
    assert len(ai_threats) >= 45
    assert counts["controls"] >= 120


def test_frameworks_cover_what_issue_4_lists(shipped: mt.Catalog) -> None:
    ids = set(shipped.requirements())
    assert {"MDR:AnnexI.17.2", "MDR:AnnexI.17.4", "GDPR:Art.5(1)(c)", "GDPR:Art.25",
            "GDPR:Art.32", "RED:Art.3(3)(d)", "RED:Art.3(3)(e)", "RED:Art.3(3)(f)",
            "AI-ACT:Art.10", "AI-ACT:Art.15", "IEC81001-5-1:7.2"} <= ids
    assert sum(1 for i in ids if i.startswith("FDA-CTL:")) == 8
    assert any(i.startswith("CRA:AnnexI.PartI(") for i in ids)
    assert any(i.startswith("CRA:AnnexI.PartII(") for i in ids)
    assert any(i.startswith("MDCG2019-16:") for i in ids)
    assert sum(1 for i in ids if i.startswith("IEC81001-5-1:7.2-")) >= 8


# -- docs/catalog.md -----------------------------------------------------------------------------


def test_docs_catalog_md_is_the_generated_text(shipped: mt.Catalog) -> None:
    assert DOC.read_text(encoding="utf-8") == catalog_markdown(shipped), (
        "docs/catalog.md is stale; regenerate: medthreat catalog doc --out docs/catalog.md")


def test_catalog_doc_has_the_stride_element_table(shipped: mt.Catalog) -> None:
    text = catalog_markdown(shipped)
    assert "| element kind | S | T | R | I | D | E |" in text
    assert "| external_entity |" in text and "| data_flow | n/a |" in text
    assert text == catalog_markdown(shipped)
