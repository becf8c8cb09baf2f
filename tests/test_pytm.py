"""pytm interop: import a live pytm TM or pytm's JSON dump; run pytm's engine and compare."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import random
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import in_ci

import medthreat as mt
from medthreat.errors import MedthreatError, ModelError
from medthreat.interop.pytm import (
    PYTM_STRIDE,
    compare_with_pytm,
    comparison_csv,
    comparison_markdown,
    import_pytm,
    model_to_pytm,
    run_pytm,
)
from medthreat.model import model_to_data, validate_model

DATA = Path(__file__).parent / "data" / "pytm"
SCRIPT = DATA / "infusion_pump_tm.py"
FIXTURE = DATA / "infusion_pump.json"


def _require_pytm() -> ModuleType:
    """pytm, or skip (locally) / fail (CI=true, where the dev extra installs it)."""
    try:
        import pytm
    except ImportError:
        if in_ci():
            pytest.fail("pytm is not installed; CI=true, so the dev extra must install it",
                        pytrace=False)
        pytest.skip("pytm is not installed")
    return pytm


def _pump_script() -> ModuleType:
    """The fixture pytm script as a module (its build() returns the TM, unprocessed)."""
    _require_pytm()
    spec = importlib.util.spec_from_file_location("infusion_pump_tm", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def catalog() -> mt.Catalog:
    return mt.Catalog.load()


@pytest.fixture(scope="module")
def live(catalog: mt.Catalog) -> tuple[mt.Model, list[str], dict[str, Any]]:
    """The pump model imported from a live TM, with what pytm itself holds for comparison."""
    pytm = _require_pytm()
    tm = _pump_script().build()
    state = pytm.TM._get_state()
    facts = {
        "elements": [(type(e).__name__, e.name, e.inBoundary.name if e.inBoundary else None)
                     for e in state.elements
                     if not isinstance(e, pytm.Boundary | pytm.Dataflow)],
        "boundaries": [(b.name, b.inBoundary.name if b.inBoundary else None)
                       for b in state.boundaries],
        "flows": [(f.name, f.source.name, f.sink.name, f.protocol) for f in state.flows],
        "data": [d.name for d in state.data],
    }
    model, notes = import_pytm(tm, catalog=catalog)
    # the import reads the objects; it does not run pytm's check() on them
    facts["flows_after"] = [(f.name, f.source.name, f.sink.name, f.protocol)
                            for f in pytm.TM._get_state().flows]
    return model, notes, facts


@pytest.fixture(scope="module")
def reference(reference_model_path: Path, catalog: mt.Catalog) -> mt.Analysis:
    return mt.analyze(mt.load_model(reference_model_path, catalog), catalog)


@pytest.fixture(scope="module")
def reference_run(reference: mt.Analysis):
    _require_pytm()
    return run_pytm(reference.model, reference.catalog)


def _by_name(items: list[Any]) -> dict[str, Any]:
    return {item.name: item for item in items}


# -- import from a live TM ----------------------------------------------------------------------

def test_live_import_validates_and_analyzes(live, catalog):
    model, _, _ = live
    validate_model(model, catalog)
    analysis = mt.analyze(model, catalog)
    assert analysis.findings
    assert {f.element_id for f in analysis.findings} >= {c.id for c in model.components}


def test_live_import_keeps_names_boundaries_flows_and_data(live):
    model, _, facts = live
    assert facts["flows_after"] == facts["flows"]
    element_names = [c.name for c in model.components] + [a.name for a in model.actors]
    assert sorted(element_names) == sorted(name for _, name, _ in facts["elements"])
    boundary_name = {b.id: b.name for b in model.boundaries}
    placed = {**{c.name: c.boundary for c in model.components},
              **{a.name: a.boundary for a in model.actors}}
    for _, name, boundary in facts["elements"]:
        assert boundary_name.get(placed[name]) == boundary
    assert [(b.name, boundary_name.get(b.parent)) for b in model.boundaries] == \
        facts["boundaries"]
    names = {e.id: e.name for e in [*model.components, *model.actors]}
    assert [(f.name, names[f.source], names[f.target]) for f in model.flows] == [
        (name, src, dst) for name, src, dst, _ in facts["flows"]]
    assert [d.name for d in model.data_assets] == facts["data"]
    assert model.system.name == "Connected infusion pump"
    assert model.system.assumptions == ["The ward network is a dedicated VLAN"]


def test_live_import_mapping(live):
    model, _, _ = live
    comps = _by_name(model.components)
    assert comps["Infusion pump"].type == "infusion_pump"
    assert comps["Pump cloud API"].type == "cloud_service"       # head noun "API", not "pump"
    assert comps["Infusion records DB"].type == "sql_database"
    assert comps["Alarm forwarding function"].type == "serverless_function"
    assert comps["Hospital EHR"].type == "external_service"      # an ExternalEntity stays one
    assert comps["Infusion records DB"].attributes == {"stores_phi": True}
    nurse = _by_name(model.actors)["Ward nurse"]
    assert nurse.role.value == "clinician"
    kinds = {b.name: b.kind.value for b in model.boundaries}
    assert kinds == {"Hospital ward network": "hospital_network", "Vendor cloud": "cloud",
                     "Production VPC": "cloud", "Integration zone": "hospital_network",
                     "Zone 7": "physical_site"}
    data = _by_name(model.data_assets)
    assert (data["Infusion records"].kind.value, data["Infusion records"].confidentiality.value) \
        == ("phi", "high")
    assert data["Infusion orders"].kind.value == "therapy_command"
    assert data["Infusion orders"].confidentiality.value == "medium"
    assert data["Device API token"].kind.value == "credentials"
    flows = _by_name(model.flows)
    upload = flows["Upload infusion records"]
    assert (upload.protocol, upload.authentication.value) == ("https", "mutual_tls")
    assert "Destination port 443." in upload.description
    assert upload.data == ["infusion-records", "device-api-token"]
    assert flows["Program infusion"].protocol == "local_ui"
    assert flows["Alarm events"].protocol == "mqtts"            # MQTT marked encrypted
    assert flows["Infusion orders"].protocol == "hl7_mllp"
    assert flows["Infusion orders"].id == "infusion-orders-2"  # the data asset came first
    assert comps["Infusion records DB"].stores == ["infusion-records"]
    applied = {c.control: c.targets for c in model.controls}
    assert applied["CTL-INPUT-VALIDATION"] == ["infusion-pump"]
    assert applied["CTL-ENCRYPTION-AT-REST"] == ["infusion-records-db"]
    assert all(c.status.value == "implemented" and "pytm" in c.evidence for c in model.controls)


def test_unknown_protocol_and_fallbacks_are_noted(live):
    model, notes, _ = live
    assert _by_name(model.flows)["Page clinician"].protocol == "tcp_proprietary"
    assert any("'Zigbee' has no medthreat equivalent" in n for n in notes)
    assert any("Zone 7" in n and "physical_site" in n for n in notes)
    assert any("'Pager gateway'" in n and "external_service" in n for n in notes)


def test_live_import_is_deterministic(catalog):
    script = _pump_script()
    first, notes1 = import_pytm(script.build(), catalog=catalog)
    second, notes2 = import_pytm(script.build(), catalog=catalog)
    assert model_to_data(first) == model_to_data(second)
    assert notes1 == notes2


def test_import_rejects_other_objects():
    _require_pytm()
    with pytest.raises(TypeError, match="pytm TM or a file path"):
        import_pytm(42)


# -- import pytm's JSON dump ---------------------------------------------------------------------

def test_json_dump_written_by_pytm_imports(tmp_path, catalog, live):
    _require_pytm()
    out = tmp_path / "tm.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--json", str(out)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    model, notes = import_pytm(out, catalog=catalog)
    validate_model(model, catalog)
    assert mt.analyze(model, catalog).findings
    # the committed fixture is what pytm writes for this script
    fixture_model, fixture_notes = import_pytm(FIXTURE, catalog=catalog)
    assert model_to_data(model) == model_to_data(fixture_model)
    assert notes == fixture_notes
    # same elements, boundaries and data as the live route; pytm's check() (run before --json)
    # replaced the protocol of the flow into the pump, whose sink declares none
    live_model = live[0]
    for group in ("boundaries", "data_assets", "components", "actors"):
        assert model_to_data(model)[group if group != "data_assets" else "data"] == \
            model_to_data(live_model)[group if group != "data_assets" else "data"]
    assert [f.id for f in model.flows] == [f.id for f in live_model.flows]
    assert _by_name(model.flows)["Infusion orders"].protocol == "tcp_proprietary"
    assert any("flow 'Infusion orders'" in n and "check()" in n for n in notes)
    assert any("pytm finding(s) were not imported" in n for n in notes)


def test_json_route_needs_no_pytm(monkeypatch, catalog):
    monkeypatch.setitem(sys.modules, "pytm", None)  # any "import pytm" now fails
    model, notes = import_pytm(FIXTURE, catalog=catalog)
    assert (len(model.components), len(model.actors), len(model.flows)) == (6, 1, 6)
    assert notes


def test_json_errors_name_file_and_entry(tmp_path):
    doc = json.loads(FIXTURE.read_text(encoding="utf-8"))
    doc["flows"][0]["sink"] = "No such element"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    with pytest.raises(ModelError) as err:
        import_pytm(bad)
    problem = err.value.problems[0]
    assert problem.file == str(bad) and problem.path == "flows[0].sink"
    assert problem.line is not None and "No such element" in problem.message
    other = tmp_path / "other.json"
    other.write_text('{"project": {}}', encoding="utf-8")
    with pytest.raises(ModelError, match="not a pytm JSON dump"):
        import_pytm(other)


# -- pytm's engine on a medthreat model ----------------------------------------------------------

def test_run_pytm_twice_identical_and_state_restored(reference, reference_run):
    pytm = _require_pytm()
    pytm.TM.reset()
    user_tm = pytm.TM("user model", description="a notebook user's own model")
    pytm.Process("user process")
    before = pytm.TM._get_state()
    random.seed(12345)
    random_state = random.getstate()
    again = run_pytm(reference.model, reference.catalog)
    assert random.getstate() == random_state  # TM() reseeds random; run_pytm puts it back
    assert pytm.TM._get_state() is before
    assert [e.name for e in before.elements] == ["user process"] and user_tm.name
    assert again == reference_run
    assert reference_run.findings
    assert all(f.threat_id and f.severity for f in reference_run.findings)


def test_compare_with_pytm_on_reference_model(reference, reference_run):
    frame = compare_with_pytm(reference, pytm_run=reference_run)
    model = reference.model
    ids = [*(c.id for c in model.components), *(a.id for a in model.actors),
           *(f.id for f in model.flows)]
    assert list(frame.index) == [*ids, "TOTAL"]
    body = frame.drop(index="TOTAL")
    for col in ("pytm_findings", "medthreat_findings", "medthreat_specific"):
        assert body[col].map(lambda v: isinstance(v, int) and v >= 0).all()
        assert frame.loc["TOTAL", col] == body[col].sum()
    assert frame.loc["TOTAL", "pytm_findings"] == len(reference_run.findings)
    assert frame.loc["TOTAL", "medthreat_findings"] == len(reference.findings)
    per_element = reference_run.by_element()
    for element_id in ids:
        assert frame.loc[element_id, "pytm_findings"] == len(per_element[element_id])
        assert set(frame.loc[element_id, "pytm_stride"]) <= set("STRIDE")
    assert set(body["kind"]) <= {"process", "data_store", "external_entity", "actor",
                                 "data_flow"}
    assert (body.loc[[a.id for a in model.actors], "pytm_class"] == "Actor").all()
    # deterministic: a second comparison (with a fresh pytm run) is identical
    assert compare_with_pytm(reference).equals(frame)


def test_pytm_stride_reads_every_threat_of_the_shipped_library():
    pytm = _require_pytm()
    library = Path(pytm.__file__).parent / "threatlib" / "threats.json"
    sids = {t["SID"] for t in json.loads(library.read_text(encoding="utf-8"))
            if "DEPRECATED" not in t}
    assert sids <= set(PYTM_STRIDE)
    assert all(letters and set(letters) <= set("STRIDE") for letters in PYTM_STRIDE.values())


def test_missing_pytm_gives_install_hint(monkeypatch, reference):
    monkeypatch.setitem(sys.modules, "pytm", None)
    with pytest.raises(MedthreatError, match=r"pip install 'medthreat\[pytm\]'"):
        run_pytm(reference.model, reference.catalog)


# -- round trip ---------------------------------------------------------------------------------

def test_round_trip_through_pytm_keeps_elements_and_flows(live, reference, catalog):
    _require_pytm()
    for model in (live[0], reference.model):
        again, _ = import_pytm(model_to_pytm(model, catalog), catalog=catalog)
        validate_model(again, catalog)
        for group in ("boundaries", "data_assets", "components", "actors", "flows"):
            assert len(getattr(again, group)) == len(getattr(model, group)), group
        assert [c.type for c in again.components] == [c.type for c in model.components]
        assert [a.role for a in again.actors] == [a.role for a in model.actors]
        assert [d.kind for d in again.data_assets] == [d.kind for d in model.data_assets]
        assert [b.kind for b in again.boundaries] == [b.kind for b in model.boundaries]
        names = {e.id: e.name for e in [*model.components, *model.actors]}
        again_names = {e.id: e.name for e in [*again.components, *again.actors]}
        assert [(names[f.source], names[f.target]) for f in model.flows] == \
            [(again_names[f.source], again_names[f.target]) for f in again.flows]


def test_subclasses_and_explicit_hints(catalog):
    pytm = _require_pytm()

    class VolumetricPump(pytm.Process):
        """A user subclass, as pytm models often define."""

    pytm.TM.reset()
    tm = pytm.TM("Hints", description="subclasses and medthreat_* attributes")
    home = pytm.Boundary("Zone A", medthreat_kind="home_network")
    pump = VolumetricPump("Volumetric pump", inBoundary=home)
    hub = pytm.Process("Bedside box", inBoundary=home, medthreat_type="home_hub")
    person = pytm.Actor("Person", medthreat_role="caregiver")
    data = pytm.Data("Blob", medthreat_kind="telemetry")
    pytm.Dataflow(person, pump, "Set rate", protocol="Local UI")
    pytm.Dataflow(pump, hub, "Status", protocol="BLE", data=data)
    model, notes = import_pytm(tm, catalog=catalog)
    comps = _by_name(model.components)
    assert comps["Volumetric pump"].type == "infusion_pump"
    assert comps["Bedside box"].type == "home_hub"
    assert model.boundaries[0].kind.value == "home_network"
    assert model.actors[0].role.value == "caregiver"
    assert model.data_assets[0].kind.value == "telemetry"
    assert _by_name(model.flows)["Status"].protocol == "ble"
    assert not any("medthreat_" in n for n in notes)
    assert pump.name and tm.name


def test_comparison_tables_are_safe_and_stable(catalog):
    _require_pytm()
    m = mt.Model("Tables")
    home = m.boundary("Home", kind="home_network")
    pump = m.component("insulin_pump", "=HYPERLINK(1)", boundary=home, id="pump")
    app = m.component("mobile_app", "App | phone", boundary=home, id="app")
    m.flow(app, pump, "ble", data=["therapy_command"])
    frame = compare_with_pytm(mt.analyze(m, catalog))
    text = comparison_csv(frame)
    assert text == comparison_csv(compare_with_pytm(mt.analyze(m, catalog)))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["element"] for r in rows] == ["pump", "app", "app-ble-pump", "TOTAL"]
    assert rows[0]["name"] == "'=HYPERLINK(1)"
    assert int(rows[-1]["pytm_findings"]) == sum(int(r["pytm_findings"]) for r in rows[:-1])
    markdown = comparison_markdown(frame)
    assert "App \\| phone" in markdown
    assert len(markdown.splitlines()) == 2 + len(frame)
