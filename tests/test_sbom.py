"""SBOMs on model components: CycloneDX JSON and XML reading, NTIA minimum elements, support."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from _models import DATA, mini_catalog, mini_model

import medthreat as mt
from medthreat.errors import MedthreatError
from medthreat.model import save_model
from medthreat.sbom import (
    END_OF_SUPPORT,
    SUPPORT_LEVEL,
    Sbom,
    load_model_sboms,
    load_sbom,
    ntia_check,
)

SBOMS = DATA / "sbom"
TODAY = dt.date(2026, 11, 30)


@pytest.fixture(scope="module")
def pump_json() -> Sbom:
    return load_sbom(SBOMS / "pump.cdx.json")


def test_json_and_xml_give_the_same_components(pump_json: Sbom) -> None:
    xml = load_sbom(SBOMS / "pump.cdx.xml")
    assert (pump_json.spec_version, xml.spec_version) == ("1.5", "1.6")
    assert pump_json.components == xml.components
    assert pump_json.dependencies == xml.dependencies
    assert pump_json.authors == xml.authors == ("Pump Firmware Team",)
    assert pump_json.subject is not None and pump_json.subject.name == "pump-firmware"
    names = [(c.name, c.version, c.supplier) for c in pump_json.components]
    assert sorted(names) == [("lodash", "4.17.20", "OpenJS Foundation"),
                             ("openssl", "3.0.7", "OpenSSL Software Foundation"),
                             ("requests", "2.30.0", "Python Software Foundation")]
    openssl = next(c for c in pump_json if c.name == "openssl")
    assert openssl.cpe.startswith("cpe:2.3:a:openssl")
    assert openssl.support_level == "security_fixes_only"
    assert openssl.end_of_support == dt.date(2026, 9, 7)
    assert openssl.package_url is not None and openssl.package_url.type == "generic"
    assert pump_json.dependencies["pkg:pypi/requests@2.30.0"] == ("pkg:generic/openssl@3.0.7",)


def test_complete_sbom_only_reports_the_expired_component(pump_json: Sbom) -> None:
    problems = ntia_check(pump_json, today=TODAY)
    assert [(p.code, p.component) for p in problems] == [
        ("past_end_of_support", "pkg:generic/openssl@3.0.7")]
    assert "2026-09-07" in problems[0].message
    # Before the end-of-support date nothing is missing.
    assert ntia_check(pump_json, today=dt.date(2026, 1, 1)) == []


def test_incomplete_sbom_lists_every_missing_element() -> None:
    sbom = load_sbom(SBOMS / "incomplete.cdx.json")
    # The library fills in a missing timestamp with the current time; the check must not.
    assert sbom.timestamp == ""
    found = {(p.code, p.component) for p in ntia_check(sbom, today=TODAY)}
    assert found == {
        ("no_author", ""), ("no_timestamp", ""),
        ("no_supplier", "libfoo"),
        ("no_supplier", "nameless-version"), ("no_version", "nameless-version"),
        ("no_identifier", "nameless-version"), ("no_dependencies", "nameless-version"),
        ("no_support_level", "nameless-version"), ("no_end_of_support", "nameless-version"),
        ("no_dependencies", "old"), ("past_end_of_support", "old"),
        ("no_dependencies", "baddate"), ("bad_support_level", "baddate"),
        ("bad_end_of_support", "baddate"),
    }
    problems = ntia_check(sbom, today=TODAY)
    assert problems == sorted(problems)
    assert all(str(p).startswith(str(SBOMS / "incomplete.cdx.json")) for p in problems)
    assert any(SUPPORT_LEVEL in p.message for p in problems)
    assert any(END_OF_SUPPORT in p.message for p in problems)


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("broken.json", "{not json", "not valid JSON or XML"),
    ("spdx.json", '{"spdxVersion": "SPDX-2.3"}', "not a CycloneDX JSON SBOM"),
    ("old.json", '{"bomFormat": "CycloneDX", "specVersion": "1.3", "version": 1}',
     "CycloneDX 1.3 is not read"),
    ("other.xml", "<root/>", "not a CycloneDX XML SBOM"),
    ("broken.xml", "<bom", "not well-formed XML"),
    ("entity.xml", '<!DOCTYPE bom [<!ENTITY x "y">]><bom xmlns="http://cyclonedx.org/schema/'
     'bom/1.5">&x;</bom>', "DTD or entities"),
])
def test_bad_files_are_named_in_the_error(tmp_path: Path, name: str, text: str,
                                          expected: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MedthreatError, match=expected) as info:
        load_sbom(path)
    assert str(path) in str(info.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(MedthreatError, match="cannot read the SBOM") as info:
        load_sbom(tmp_path / "absent.json")
    assert "absent.json" in str(info.value)


def test_component_sbom_field_round_trips_and_resolves_next_to_the_model(
        tmp_path: Path) -> None:
    catalog = mini_catalog()
    model = mini_model()
    i = next(i for i, c in enumerate(model.components) if c.id == "pump")
    model.components[i] = model.components[i].model_copy(update={"sbom": "sboms/pump.cdx.xml"})
    (tmp_path / "sboms").mkdir()
    shutil.copy(SBOMS / "pump.cdx.xml", tmp_path / "sboms" / "pump.cdx.xml")
    save_model(model, tmp_path / "model.yaml")
    assert "sbom: sboms/pump.cdx.xml" in (tmp_path / "model.yaml").read_text(encoding="utf-8")
    loaded = mt.load_model(tmp_path / "model.yaml", catalog)
    sboms = load_model_sboms(loaded)
    assert list(sboms) == ["pump"]
    assert sboms["pump"].components == load_sbom(SBOMS / "pump.cdx.json").components
    # Components without an SBOM keep the empty default and are not listed.
    assert all(c.sbom == "" for c in loaded.components if c.id != "pump")


def test_sbom_check_lines_per_component(tmp_path: Path) -> None:
    from medthreat.sbom import sbom_check_lines

    model = mini_model()
    for i, c in enumerate(model.components):
        if c.id in ("pump", "gateway"):
            name = "pump.cdx.json" if c.id == "pump" else "incomplete.cdx.json"
            model.components[i] = c.model_copy(update={"sbom": name})
    lines, problems = sbom_check_lines(model, base=SBOMS, today=TODAY)
    incomplete = ntia_check(load_sbom(SBOMS / "incomplete.cdx.json"), today=TODAY)
    assert problems == len(incomplete) + 1
    assert lines[0].startswith("gateway: incomplete.cdx.json (CycloneDX 1.4, 4 components): "
                               f"{len(incomplete)} problem(s)")
    assert any(line.startswith("pump: pump.cdx.json (CycloneDX 1.5, 3 components): 1 problem")
               for line in lines)
    assert "  - openssl@3.0.7: support security_fixes_only, end of support 2026-09-07" in lines
    assert lines[-1] == "no SBOM named for 2 component(s): app, db"
    assert sbom_check_lines(model, base=SBOMS, today=TODAY) == (lines, problems)


def test_declared_unsupported_component_is_reported_before_its_date(tmp_path: Path) -> None:
    path = tmp_path / "unsupported.cdx.json"
    path.write_text("""{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
      "metadata": {"timestamp": "2026-01-01T00:00:00Z", "authors": [{"name": "QA"}]},
      "components": [{"type": "library", "bom-ref": "x", "name": "x", "version": "1",
        "supplier": {"name": "X"}, "purl": "pkg:generic/x@1",
        "properties": [{"name": "medthreat:support_level", "value": "abandoned"},
                       {"name": "medthreat:end_of_support", "value": "2030-01-01"}]}],
      "dependencies": [{"ref": "x"}]}""", encoding="utf-8")
    problems = ntia_check(load_sbom(path), today=TODAY)
    assert [(p.code, p.component) for p in problems] == [("unsupported", "x")]
