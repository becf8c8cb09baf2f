"""Regulatory coverage: frameworks in the catalog, the coverage matrix and `medthreat coverage`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import medthreat as mt
from medthreat.catalog import DocumentKind, reference_covers
from medthreat.coverage import PRODUCED_DOCUMENTS, coverage, coverage_frame, model_elements

MODEL = Path(__file__).parent / "data" / "models" / "insulin_pump.yaml"


@pytest.fixture(scope="module")
def shipped() -> mt.Catalog:
    return mt.Catalog.load()


def _model(*controls: tuple[str, str]) -> mt.Model:
    m = mt.Model("Coverage", system={"version": "1"})
    home = m.boundary("Home", kind="home_network")
    pump = m.component("insulin_pump", "Pump", boundary=home, interfaces=["ble"])
    app = m.component("mobile_app", "App", boundary=home)
    m.actor("patient", "Patient", boundary=home)
    m.flow(app, pump, "ble", data=["therapy_command"])
    for control, status in controls:
        m.control(control, [pump], status=status)
    return m


@pytest.mark.parametrize(("wanted", "cited", "expected"), [
    ("GDPR:Art.32", "GDPR:Art.32", True),
    ("GDPR:Art.32", "GDPR:Art.32(1)", True),
    ("GDPR:Art.3", "GDPR:Art.32", False),
    ("IEC81001-5-1:5.4", "IEC81001-5-1:5.4.2", True),
    ("IEC81001-5-1:5.4.2", "IEC81001-5-1:5.4", False),
    ("CRA:AnnexI.PartI", "CRA:AnnexI.PartII", False),
])
def test_reference_covers_sub_clauses_only(wanted: str, cited: str, expected: bool) -> None:
    assert reference_covers(wanted, cited) is expected


def test_control_status_decides_covered_planned_missing(shipped: mt.Catalog) -> None:
    gdpr32 = [c.id for c in shipped.controls.values()
              if any(reference_covers("GDPR:Art.32", r) for r in c.references)]
    assert gdpr32, "some shipped control should cite GDPR:Art.32"
    missing = coverage(_model(), shipped).get("GDPR:Art.32")
    assert missing is not None and missing.status == "missing"
    assert missing.missing and set(missing.suggested) <= set(shipped.controls)
    planned = coverage(_model((gdpr32[0], "planned")), shipped).get("GDPR:Art.32")
    assert planned is not None and planned.status == "planned"
    assert planned.planned == (gdpr32[0],) and "planned only" in planned.missing[0]
    done = coverage(_model((gdpr32[0], "verified")), shipped).get("GDPR:Art.32")
    assert done is not None and done.status == "covered" and done.controls == (gdpr32[0],)


def test_fda_category_requirement_is_met_by_a_control_of_that_category(
        shipped: mt.Catalog) -> None:
    ctl = next(c.id for c in sorted(shipped.controls.values(), key=lambda c: c.id)
               if c.fda_category.value == "cryptography")
    row = coverage(_model((ctl, "implemented")), shipped).get("FDA-CTL:cryptography")
    assert row is not None and row.status == "covered" and ctl in row.controls


def test_documents_need_the_model_content_they_show(shipped: mt.Catalog) -> None:
    m = _model()
    assert "trust_boundaries" in model_elements(m, shipped)
    row = coverage(m, shipped).get("IEC81001-5-1:7.2-trust-boundaries")
    assert row is not None and row.status == "covered" and row.documents == ("threat_model",)
    bare = mt.Model("No boundaries", system={"version": "1"})
    bare.component("insulin_pump", "Pump")
    row = coverage(bare, shipped).get("IEC81001-5-1:7.2-trust-boundaries")
    assert row is not None and row.status == "missing"
    assert any("model has no trust boundaries" in m for m in row.missing)


def test_documents_not_produced_are_named_and_can_be_supplied(shipped: mt.Catalog) -> None:
    assert DocumentKind.sbom not in PRODUCED_DOCUMENTS
    row = coverage(_model(), shipped).get("FDA-PM:third-party-components")
    assert row is not None and row.status == "missing"
    assert any("sbom" in m for m in row.missing)
    with_sbom = coverage(_model(), shipped, documents=PRODUCED_DOCUMENTS | {DocumentKind.sbom})
    row = with_sbom.get("FDA-PM:third-party-components")
    assert row is not None and row.status == "covered"


def test_matrix_lists_every_requirement_once_and_is_deterministic(shipped: mt.Catalog) -> None:
    first, second = coverage(_model(), shipped), coverage(_model(), shipped)
    assert len(first) == len(shipped.requirements())
    assert first.to_json() == second.to_json()
    assert first.to_markdown() == second.to_markdown()
    summary = first.summary()
    assert sum(sum(v.values()) for v in summary.values()) == len(first)


def test_coverage_frame(shipped: mt.Catalog) -> None:
    frame = coverage_frame(_model(), shipped)
    assert frame.index.name == "requirement"
    assert {"framework", "status", "controls", "missing"} <= set(frame.columns)
    assert frame.loc["FDA-PM:threat-model", "status"] == "covered"


def test_user_catalog_framework_with_unknown_control_fails_with_location(
        tmp_path: Path) -> None:
    (tmp_path / "fw.yaml").write_text(
        "frameworks:\n"
        "  - id: acme\n    name: ACME\n    title: ACME policy\n    description: House rules.\n"
        "    requirements:\n"
        "      - id: ACME:1\n        title: One\n        description: First.\n"
        "        controls: [CTL-NOPE]\n"
        "      - id: ACME:2\n        title: Two\n        description: Nothing satisfies it.\n",
        encoding="utf-8")
    with pytest.raises(mt.CatalogError) as err:
        mt.Catalog.load(tmp_path)
    text = err.value.render()
    assert "fw.yaml:10" in text and "unknown control 'CTL-NOPE'" in text
    assert "ACME:2" in text and "nothing can satisfy it" in text


def test_cli_coverage_prints_and_writes(run_cli, tmp_path: Path) -> None:
    done = run_cli("coverage", MODEL, "--out", tmp_path / "coverage.json")
    assert done.returncode == 0, done.stderr
    assert "FDA-PM:threat-model" in done.stdout and "requirements:" in done.stdout
    data = json.loads((tmp_path / "coverage.json").read_text(encoding="utf-8"))
    assert data["system"] == "Insulin pump system"
    assert {r["status"] for r in data["requirements"]} <= {"covered", "planned", "missing"}
    md = run_cli("coverage", MODEL, "--out", tmp_path / "coverage.md")
    assert md.returncode == 0, md.stderr
    text = (tmp_path / "coverage.md").read_text(encoding="utf-8")
    assert text.startswith("# Regulatory coverage: Insulin pump system")
    again = run_cli("coverage", MODEL, "--out", tmp_path / "again.md")
    assert again.returncode == 0
    assert (tmp_path / "again.md").read_bytes() == (tmp_path / "coverage.md").read_bytes()
    bad = run_cli("coverage", MODEL, "--out", tmp_path / "coverage.txt")
    assert bad.returncode == 2 and "should end in .md or .json" in bad.stderr


def test_cli_catalog_doc(run_cli, tmp_path: Path) -> None:
    done = run_cli("catalog", "doc", "--out", tmp_path / "catalog.md")
    assert done.returncode == 0, done.stderr
    assert "| element kind | S | T | R | I | D | E |" in (tmp_path / "catalog.md").read_text()
