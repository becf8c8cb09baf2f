"""The STRIDE engine on a small model whose findings were worked out by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from _models import mini_catalog, mini_model

import medthreat as mt
from medthreat.catalog import STRIDE_PER_ELEMENT, ElementKind, Stride
from medthreat.graph import graph_facts

# Worked out by hand from tests/data/mini_catalog/catalog.yaml and mini_model():
EXPECTED = {
    # app: no specific threat matches -> all six process baselines
    "B-P-S@app", "B-P-T@app", "B-P-R@app", "B-P-I@app", "B-P-D@app", "B-P-E@app",
    # BLE therapy flow: unauthenticated therapy command to a safety-critical pump (T),
    # cleartext (I); no specific D threat -> baseline D
    "T-THERAPY@app-ble-pump", "T-CLEAR@app-ble-pump", "B-DF-D@app-ble-pump",
    # HTTPS flow: encrypted and authenticated -> only the three flow baselines
    "B-DF-T@app-https-gateway", "B-DF-I@app-https-gateway", "B-DF-D@app-https-gateway",
    # database stores identifiable PHI -> disclosure threat; T, R, D baselines
    "T-STORE@db", "B-DS-T@db", "B-DS-R@db", "B-DS-D@db",
    # internet-facing gateway with >= 100 sessions -> E; S, T, R, I, D baselines
    "T-EXPOSED@gateway", "B-P-S@gateway", "B-P-T@gateway", "B-P-R@gateway", "B-P-I@gateway",
    "B-P-D@gateway",
    # SQL flow in cleartext -> I; T, D baselines
    "T-CLEAR@gateway-sql-db", "B-DF-T@gateway-sql-db", "B-DF-D@gateway-sql-db",
    # patient: repudiation threat for patients and clinicians; spoofing baseline
    "T-NOLOG@patient", "B-EE-S@patient",
    # pump: debug port on a device (T); other five process baselines
    "T-DEBUG@pump", "B-P-S@pump", "B-P-R@pump", "B-P-I@pump", "B-P-D@pump", "B-P-E@pump",
}


@pytest.fixture(scope="module")
def catalog() -> mt.Catalog:
    return mini_catalog()


def test_exact_findings_of_hand_checked_model(catalog: mt.Catalog) -> None:
    result = mt.analyze(mini_model(), catalog)
    assert {f.id for f in result.findings} == EXPECTED
    assert len(result.findings) == len(EXPECTED)


def test_finding_carries_why_controls_and_references(catalog: mt.Catalog) -> None:
    result = mt.analyze(mini_model(), catalog)
    debug = result.finding("T-DEBUG@pump")
    assert debug is not None
    assert debug.stride is Stride.tampering
    assert debug.element_kind is ElementKind.process
    assert debug.element_type == "pump"
    assert debug.why == ("element.has_debug_port = true", "element.category = 'device'")
    assert debug.references == ("CWE:1191",)
    assert debug.controls == ("CTL-DEBUG-LOCK",)
    # the applied control is reported, and the threat is kept
    assert [(a.control, a.status, a.evidence) for a in debug.applied_controls] == [
        ("CTL-DEBUG-LOCK", "implemented", "TR-1")]
    therapy = result.finding("T-THERAPY@app-ble-pump")
    assert therapy is not None
    assert (therapy.source, therapy.target) == ("app", "pump")
    assert "target.safety_critical = true" in therapy.why
    # a control with no targets applies system-wide
    clear = result.finding("T-CLEAR@gateway-sql-db")
    assert clear is not None
    assert [a.control for a in clear.applied_controls] == ["CTL-TLS"]


def test_every_element_gets_every_stride_category_of_its_kind(catalog: mt.Catalog) -> None:
    result = mt.analyze(mini_model(), catalog)
    seen: dict[str, set[Stride]] = {}
    kinds: dict[str, ElementKind] = {}
    for f in result.findings:
        seen.setdefault(f.element_id, set()).add(f.stride)
        kinds[f.element_id] = f.element_kind
    for element_id, categories in seen.items():
        assert categories == set(STRIDE_PER_ELEMENT[kinds[element_id]]), element_id


def test_model_changes_change_findings(catalog: mt.Catalog) -> None:
    m = mini_model()
    # authenticate and encrypt the BLE link: the therapy and cleartext threats go away
    m.flows[0].authentication = "pairing"
    m.flows[0].encryption = "end_to_end"
    ids = {f.id for f in mt.analyze(m, catalog).findings}
    assert "T-THERAPY@app-ble-pump" not in ids
    assert "T-CLEAR@app-ble-pump" not in ids
    assert {"B-DF-T@app-ble-pump", "B-DF-I@app-ble-pump"} <= ids
    # an attribute override switches the debug threat off
    m.components[0].attributes["has_debug_port"] = False
    assert "T-DEBUG@pump" not in {f.id for f in mt.analyze(m, catalog).findings}


def test_out_of_scope_elements_get_no_findings(catalog: mt.Catalog) -> None:
    m = mini_model()
    m.flows[0].out_of_scope = True
    m.flows[0].out_of_scope_reason = "Covered by the pump's own submission"
    m.components[0].out_of_scope = True
    m.components[0].out_of_scope_reason = "Covered by the pump's own submission"
    ids = {f.id for f in mt.analyze(m, catalog).findings}
    assert not any(i.endswith("@pump") or i.endswith("@app-ble-pump") for i in ids)


def test_findings_are_sorted_and_stable(catalog: mt.Catalog) -> None:
    first = mt.analyze(mini_model(), catalog).to_records()
    second = mt.analyze(mini_model(), catalog).to_records()
    assert first == second
    keys = [(f["element_id"], list(Stride).index(Stride(f["stride"])), f["threat_id"])
            for f in first]
    assert keys == sorted(keys)


def test_findings_identical_across_hash_seeds(tmp_path) -> None:
    script = (
        "import sys; sys.path.insert(0, 'tests'); from _models import *; import medthreat as mt;"
        "from medthreat.export import findings_json;"
        "sys.stdout.write(findings_json(mt.analyze(mini_model(), mini_catalog())))"
    )
    outputs = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              env=env, check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
        outputs.add(done.stdout)
    assert len(outputs) == 1
    assert json.loads(outputs.pop())["summary"]["findings"] == len(EXPECTED)


def test_graph_predicates(catalog: mt.Catalog) -> None:
    m = mini_model()
    result = mt.analyze(m, catalog)
    facts = result.facts
    assert facts.internet_reachable == {"gateway", "db"}
    # everything at home is in the untrusted zone and reaches the cloud through the app
    assert facts.untrusted_reachable == {"app", "pump", "patient", "gateway", "db"}
    assert facts.receives_from_untrusted == {"gateway"}
    assert facts.downstream_devices == {}  # no condition of this catalog reads it
    full = graph_facts(m, catalog, blast_radius=True)
    assert full.downstream_devices == {"app": 1, "pump": 0, "gateway": 0, "db": 0,
                                       "patient": 0}
    assert facts.boundaries_crossed("app", "gateway") == 2
    assert facts.boundaries_crossed("app", "pump") == 0


def test_engine_indexes_threats_by_element_kind(catalog: mt.Catalog) -> None:
    # data-flow threats are never tested against components and vice versa
    flow_ids = {t.id for t in catalog.threats_for(ElementKind.data_flow)}
    process_ids = {t.id for t in catalog.threats_for(ElementKind.process)}
    assert "T-CLEAR" in flow_ids and "T-CLEAR" not in process_ids
    assert "T-DEBUG" in process_ids and "T-DEBUG" not in flow_ids


def test_nested_boundaries_are_visible_to_conditions(tmp_path) -> None:
    from _models import MINI_CATALOG

    user = tmp_path / "user"
    user.mkdir()
    (user / "t.yaml").write_text(
        "threats:\n"
        "  - id: U-WARD\n    title: Ward device\n    stride: denial_of_service\n"
        "    applies_to: [process]\n    description: d\n"
        "    condition: {element.boundary_kinds: {contains: hospital_network},"
        " element.boundary_kind: device, boundary.trust: trusted}\n")
    catalog = mt.Catalog.load(MINI_CATALOG, user, shipped=False)
    m = mt.Model("Ward")
    hospital = m.boundary("Hospital", kind="hospital_network")
    enclosure = m.boundary("Pump enclosure", kind="device", parent=hospital)
    m.component("pump", "Ward pump", boundary=enclosure)
    m.component("pump", "Loose pump", boundary=hospital)
    result = mt.analyze(m, catalog)
    ids = {f.id for f in result.findings if f.threat_id == "U-WARD"}
    assert ids == {"U-WARD@ward-pump"}
    why = result.finding("U-WARD@ward-pump").why
    assert "element.boundary_kinds contains 'hospital_network' (is ['device', " \
        "'hospital_network'])" in why


def test_findings_as_dataframe(catalog: mt.Catalog) -> None:
    pd = pytest.importorskip("pandas")
    result = mt.analyze(mini_model(), catalog)
    frame = result.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index) == [f.id for f in result.findings]
    assert frame.loc["T-DEBUG@pump", "stride"] == "tampering"
    assert frame.groupby("stride").size().to_dict() == {
        k: v for k, v in result.by_stride().items() if v}
    from medthreat.engine import RECORD_FIELDS

    assert all(tuple(f.to_dict()) == RECORD_FIELDS for f in result.findings)
    empty = mt.analyze(mt.Model("Empty"), catalog).to_frame()
    assert empty.empty and "stride" in empty.columns
