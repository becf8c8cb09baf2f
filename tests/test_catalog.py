"""Catalog loading, merging and checking (with the mini catalog and the shipped one)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from _models import MINI_CATALOG, mini_catalog

import medthreat as mt
from medthreat.catalog import STRIDE_PER_ELEMENT, ElementKind, Stride, shipped_catalog_dir


def copy_mini(tmp_path: Path) -> Path:
    folder = tmp_path / "cat"
    shutil.copytree(MINI_CATALOG, folder)
    return folder


def mutate(folder: Path, old: str, new: str) -> None:
    path = folder / "catalog.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def load_errors(*folders: Path, shipped: bool = False) -> str:
    with pytest.raises(mt.CatalogError) as info:
        mt.Catalog.load(*folders, shipped=shipped)
    return str(info.value)


def test_mini_catalog_loads_and_compiles_every_condition() -> None:
    catalog = mini_catalog()
    assert catalog.counts() == {"attributes": 5, "component_types": 4, "protocols": 3,
                                "threats": 22, "controls": 3, "frameworks": 0}
    assert set(catalog.conditions) == set(catalog.threats)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # dangling control reference, with a hint
        ("controls: [CTL-DEBUG-LOCK]", "controls: [CTL-DEBUG-LOK]",
         ":51: threats[0].controls[0]: threat T-DEBUG: unknown control 'CTL-DEBUG-LOK' — did "
         "you mean 'CTL-DEBUG-LOCK'?"),
        # unknown attribute in a condition: threat id and clause named
        ("{element.has_debug_port: true}", "{element.has_debug_prt: true}",
         ":49: threats[0].condition.all[0].element.has_debug_prt: threat T-DEBUG: condition "
         "clause condition.all[0].element.has_debug_prt: unknown attribute 'has_debug_prt' in "
         "namespace 'element' — did you mean 'has_debug_port'?"),
        # namespace of the wrong scope
        ("condition: {flow.encrypted: false}", "condition: {element.encrypted: false}",
         "threat T-CLEAR: condition clause condition.element.encrypted: namespace 'element' is "
         "not available in flow threats"),
        # literal of the wrong type
        ("condition: {flow.encrypted: false}", "condition: {flow.encrypted: 'no'}",
         "flow.encrypted is a boolean (true/false), got text 'no'"),
        # unknown enumerated value
        ("{element.category: device}", "{element.category: devices}",
         "'devices' is not a known value of element.category"),
        # duplicate ids in one folder
        ("  - id: app\n", "  - id: pump\n",
         ":17: component_types[1].id: duplicate component_types id 'pump' (first defined in "),
        # component type with an undefined attribute
        ("attributes: {internet_facing: true, max_sessions: 1000}",
         "attributes: {internet_facing: true, max_session: 1000}",
         "component_types[2].attributes.max_session: unknown attribute 'max_session'; expected "
         "one defined under 'attributes' — did you mean 'max_sessions'?"),
        # STRIDE per element: no spoofing of a data flow
        ("    stride: information_disclosure\n    applies_to: [data_flow]",
         "    stride: spoofing\n    applies_to: [data_flow]",
         "threat T-CLEAR: spoofing does not apply to data_flow under STRIDE per element"),
        # mixing flows and elements
        ("applies_to: [data_store]", "applies_to: [data_store, data_flow]",
         "a threat applies either to data flows or to elements, not both"),
        # missing baseline pair
        ("applies_to: [data_flow], baseline: true, description: Generic.}\n",
         "applies_to: [data_flow], baseline: false, description: Generic.}\n",
         ": threats: no baseline threat for data_flow / tampering"),
        # schema errors: wrong enum, unknown key, bad reference format
        ("fda_category: cryptography", "fda_category: crypto",
         "controls[1].fda_category: Input should be 'authentication', "),
        ("    description: Attacker uses the debug port.",
         "    description: Attacker uses the debug port.\n    severity: high",
         "threats[0].severity: unknown key 'severity'"),
        ('references: ["CWE:1191"]', 'references: ["CWE1191"]',
         "reference 'CWE1191' should look like FRAMEWORK:ID"),
        ('references: ["CWE:1191"]', 'references: ["XYZ:1"]',
         "reference 'XYZ:1' names unknown framework 'XYZ'"),
        ("  - {id: runs_firmware, type: bool, default: false,",
         "  - {id: runs_firmware, type: bool, default: 0,",
         "attributes[0].default: default 0 is not of type bool"),
        ("  - {id: max_sessions,", "  - {id: trust,", "attribute 'trust' shadows a built-in"),
        ("threats:\n", "threats:\n  - nonsense\n", "threats[0]: Input should be a valid "),
    ],
)
def test_catalog_check_rejects(tmp_path: Path, old: str, new: str, expected: str) -> None:
    folder = copy_mini(tmp_path)
    mutate(folder, old, new)
    message = load_errors(folder)
    assert expected in message
    assert str(folder) in message


def test_malformed_catalog_yaml_names_file_and_line(tmp_path: Path) -> None:
    folder = copy_mini(tmp_path)
    (folder / "broken.yaml").write_text("threats:\n  - id: X\n   title: y\n")
    assert "broken.yaml:3: malformed YAML" in load_errors(folder)


def test_unknown_section_and_missing_folder(tmp_path: Path) -> None:
    folder = copy_mini(tmp_path)
    (folder / "extra.yaml").write_text("threat: []\n")
    assert "extra.yaml:1: threat: unknown catalog section 'threat'" in load_errors(folder)
    assert "catalog folder not found" in load_errors(tmp_path / "nowhere")


def test_user_catalog_adds_and_overrides_by_id(tmp_path: Path) -> None:
    user = tmp_path / "user"
    user.mkdir()
    (user / "mine.yaml").write_text(yaml.safe_dump({
        "component_types": [
            {"id": "pump", "name": "Patch pump", "element": "process", "category": "device",
             "description": "Our pump has no debug port.", "attributes": {"runs_firmware": True}},
            {"id": "cgm", "name": "CGM", "element": "process", "category": "device",
             "description": "Glucose sensor."},
        ],
    }))
    catalog = mt.Catalog.load(MINI_CATALOG, user, shipped=False)
    assert catalog.component_types["pump"].name == "Patch pump"
    assert "cgm" in catalog.component_types
    assert catalog.counts()["component_types"] == 5
    assert catalog.sources == [str(MINI_CATALOG), str(user)]


def test_user_catalog_problems_name_the_user_file(tmp_path: Path) -> None:
    user = tmp_path / "user"
    user.mkdir()
    (user / "mine.yaml").write_text(
        "threats:\n  - id: U-ONE\n    title: t\n    stride: tampering\n"
        "    applies_to: [process]\n    description: d\n    condition: {element.nope: true}\n")
    message = load_errors(MINI_CATALOG, user)
    assert f"{user / 'mine.yaml'}:7: threats[0].condition.element.nope: threat U-ONE" in message


# -- the shipped catalog ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> mt.Catalog:
    return mt.Catalog.load()


def test_shipped_catalog_has_starter_breadth(shipped: mt.Catalog) -> None:
    counts = shipped.counts()
    assert counts["component_types"] >= 25
    assert counts["protocols"] >= 15
    assert counts["threats"] >= 40
    assert counts["controls"] >= 25
    categories = {t.category.value for t in shipped.component_types.values()}
    assert {"device", "hospital", "cloud", "ai"} <= categories
    specific = [t for t in shipped.threats.values() if not t.baseline]
    assert {t.stride for t in specific} == set(Stride)


def test_shipped_catalog_has_one_baseline_per_stride_pair(shipped: mt.Catalog) -> None:
    pairs = [(k, t.stride) for t in shipped.threats.values() if t.baseline for k in t.applies_to]
    expected = [(k, s) for k, cats in STRIDE_PER_ELEMENT.items() for s in cats]
    assert sorted(pairs) == sorted(expected)


def test_shipped_threats_carry_reviewer_fields(shipped: mt.Catalog) -> None:
    for threat in shipped.threats.values():
        if threat.baseline:
            continue
        for field in ("description", "impact", "detection", "mitigation", "check"):
            assert getattr(threat, field).strip(), f"{threat.id} lacks {field}"
        assert threat.controls, f"{threat.id} names no mitigating control"
        assert threat.references, f"{threat.id} names no reference"


def test_shipped_catalog_lives_in_the_package_or_repo() -> None:
    folder = shipped_catalog_dir()
    assert (folder / "attributes.yaml").is_file()
    assert any(folder.rglob("*.yaml"))


def test_element_kinds_of_types_are_valid(shipped: mt.Catalog) -> None:
    kinds = {t.kind for t in shipped.component_types.values()}
    assert kinds <= {ElementKind.process, ElementKind.data_store, ElementKind.external_entity}


def test_policy_folder_is_not_read_as_catalog_entries(tmp_path: Path) -> None:
    folder = copy_mini(tmp_path)
    (folder / "policies").mkdir()
    (folder / "policies" / "mine.yaml").write_text("policy: {id: mine}\n")
    assert mt.Catalog.load(folder, shipped=False).counts()["threats"] == 22
