"""Issue-level acceptance of the shipped catalog: specific threats where they belong, and
none where they cannot apply."""

from __future__ import annotations

from pathlib import Path

import medthreat as mt

INJECTION_CWES = {"CWE:89", "CWE:78", "CWE:79", "CWE:94", "CWE:918"}


def test_every_reference_component_gets_specific_threats(reference_model_path: Path) -> None:
    model = mt.load_model(reference_model_path)
    result = mt.analyze(model)
    specific: dict[str, set[str]] = {}
    for f in result.findings:
        if not f.baseline:
            specific.setdefault(f.element_id, set()).add(f.threat_id)
    for c in model.components:
        if not c.out_of_scope:
            assert specific.get(c.id), f"{c.id} ({c.type}) gets only generic findings"


def _small_system() -> mt.Analysis:
    m = mt.Model("AI services and a BLE pump")
    cloud = m.boundary("Cloud", kind="cloud", id="cloud")
    home = m.boundary("Home", kind="home_network", id="home")
    m.component("inference_service", "Inference", boundary=cloud, id="inference")
    m.component("llm_service", "Assistant", boundary=cloud, id="llm")
    m.component("insulin_pump", "Pump", boundary=home, id="pump",
                functions=["therapy_delivery"], interfaces=["ble"])
    m.component("mobile_app", "App", boundary=home, id="app")
    m.component("api_gateway", "API", boundary=cloud, id="api")
    m.flow("app", "pump", "ble", data=["therapy_command"], id="ble-link")
    m.flow("app", "api", "https", id="app-api")
    m.flow("api", "inference", "https", id="api-inference")
    m.flow("api", "llm", "https", id="api-llm")
    return mt.analyze(m)


def test_ai_services_get_their_own_threats() -> None:
    result = _small_system()
    by_element: dict[str, list[mt.Finding]] = {}
    for f in result.findings:
        by_element.setdefault(f.element_id, []).append(f)
    inference = by_element["inference"]
    assert any(f.threat.ai_category == "evasion" for f in inference)
    assert any("extract" in f.title.lower() for f in inference)
    llm = by_element["llm"]
    assert any("OWASP-LLM:2025:LLM01" in f.references for f in llm)  # prompt injection


def test_ble_pump_gets_radio_threats_and_no_web_injection() -> None:
    result = _small_system()
    pump = {f.threat_id for f in result.findings if f.element_id == "pump" and not f.baseline}
    link = [f for f in result.findings if f.element_id == "ble-link"]
    assert any("replay" in f.title.lower() for f in link)
    assert any("pairing" in f.title.lower() for f in link)
    assert len(pump) >= 5
    for f in link:
        assert not INJECTION_CWES & set(f.references), f.id


def test_every_threat_states_its_clinical_impact_and_goals() -> None:
    catalog = mt.Catalog.load()
    for threat in catalog.threats.values():
        if threat.baseline:
            continue
        assert threat.clinical_impact.strip(), f"{threat.id} lacks clinical_impact"
        assert threat.protection_goals, threat.id
    for control in catalog.controls.values():
        assert control.verification.strip(), f"{control.id} lacks verification"


def test_every_control_names_its_iec_81001_5_1_clause_and_nist_control() -> None:
    for control in mt.Catalog.load().controls.values():
        prefixes = {r.split(":", 1)[0] for r in control.references}
        assert {"IEC81001-5-1", "NIST-800-53"} <= prefixes, control.id
