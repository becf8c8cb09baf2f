"""Issue-level acceptance of the shipped catalog: specific threats where they belong, and
none where they cannot apply."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import medthreat as mt
from medthreat.risk import Assessment, assess

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


# -- rules that fire where their text says (review of the reference models) ----------------------


def _findings(m: mt.Model) -> dict[str, set[str]]:
    """Threat ids found per element or flow id."""
    found: dict[str, set[str]] = {}
    for f in mt.analyze(m).findings:
        found.setdefault(f.element_id, set()).add(f.threat_id)
    return found


CLOUD_STORE_THREATS = {"MT-CLOUD-002", "MT-CLOUD-003", "MT-CLOUD-016", "MT-CLOUD-023"}


def _backups() -> mt.Model:
    m = mt.Model("Backups on premises and in the cloud")
    hospital = m.boundary("Hospital", kind="hospital_network", id="hospital")
    vault = m.boundary("Backup VLAN", kind="hospital_network", parent=hospital, id="vault")
    cloud = m.boundary("Cloud", kind="cloud", id="cloud")
    m.component("pacs", "PACS", boundary=hospital, id="pacs")
    m.component("backup_service", "On-premises backup", boundary=vault, id="onprem",
                attributes={"runs_third_party_software": True,
                            "operated_by": "healthcare_provider"})
    m.component("backup_service", "Cloud backup", boundary=cloud, id="cloudbackup")
    m.component("artifact_registry", "Registry", boundary=cloud, id="registry")
    m.component("object_storage", "Bucket", boundary=cloud, id="bucket",
                attributes={"runs_third_party_software": True})
    m.component("ris", "RIS", boundary=hospital, id="ris")
    m.flow("pacs", "onprem", "smb3_encrypted", data=["phi"], id="pacs-backup")
    m.flow("onprem", "cloudbackup", "https", data=["phi"], id="offsite")
    return m


def test_on_premises_backup_gets_the_hospital_threat_not_the_cloud_ones() -> None:
    found = _findings(_backups())
    assert "MT-HOSP-010" in found["onprem"]
    assert not CLOUD_STORE_THREATS & found["onprem"], found["onprem"]
    assert {"MT-CLOUD-002", "MT-CLOUD-016"} <= found["cloudbackup"]
    assert "MT-HOSP-010" not in found["cloudbackup"]


def test_registry_threat_needs_release_artefacts_not_just_third_party_software() -> None:
    found = _findings(_backups())
    assert "MT-CLOUD-023" in found["registry"]
    assert "MT-CLOUD-023" not in found["bucket"]


def test_ris_is_a_hospital_repository() -> None:
    catalog = mt.Catalog.load()
    assert catalog.component_types["ris"].category.value == "hospital"
    found = _findings(_backups())
    assert {"MT-HOSP-010", "MT-HOSP-004", "MT-HOSP-023"} <= found["ris"]


def _operating_room() -> mt.Model:
    m = mt.Model("Operating room video and motion")
    room = m.boundary("OR network", kind="hospital_network", id="room")
    robot = m.boundary("Robot", kind="device", parent=room, id="robot")
    m.component("surgical_robot_console", "Console", boundary=room, id="console",
                functions=["motion_control"])
    m.component("surgical_robot_arm_controller", "Arms", boundary=robot, id="arms")
    m.component("endoscopy_video_system", "Camera", boundary=robot, id="camera")
    m.component("pacs", "PACS", boundary=room, id="pacs")
    m.component("on_device_inference", "Tracking AI", boundary=robot, id="tracker",
                functions=["decision_support", "motion_control"])
    m.component("on_device_inference", "Advisory AI", boundary=robot, id="advisor",
                functions=["decision_support"])
    video = m.data("clinical_image", "Endoscope video", id="video", integrity="high")
    m.flow("console", "arms", "ethercat", data=["therapy_command"], id="bus")
    m.flow("camera", "console", "rtp_rtsp", data=[video], id="live-video")
    m.flow("camera", "console", "smpte_st2110", data=[video], id="live-2110")
    m.flow("camera", "console", "srtp", data=[video], id="secure-video")
    m.flow("console", "pacs", "dicom", data=[video], id="archive")
    m.flow("camera", "tracker", "in_process", data=[video], id="local-call")
    return m


def test_new_protocols_have_the_documented_properties() -> None:
    protocols = mt.Catalog.load().protocols
    ethercat = protocols["ethercat"]
    assert (ethercat.encrypted, ethercat.authenticated, ethercat.wireless) == (
        False, False, False)
    assert "layer-2" in ethercat.description.lower()
    for plain in ("rtp_rtsp", "smpte_st2110"):
        assert not protocols[plain].encrypted and not protocols[plain].authenticated, plain
    assert protocols["srtp"].encrypted and protocols["srtp"].authenticated


def test_dicom_spoofing_threat_stays_on_dicom() -> None:
    found = _findings(_operating_room())
    assert "MT-FLOW-016" in found["archive"]
    for video in ("live-video", "live-2110", "secure-video"):
        assert "MT-FLOW-016" not in found.get(video, set()), video
    # Unprotected video transport still gets the general flow threats.
    assert {"MT-FLOW-001", "MT-FLOW-005"} <= found["live-video"]
    assert {"MT-FLOW-001", "MT-FLOW-005"} <= found["live-2110"]
    assert not {"MT-FLOW-001", "MT-FLOW-005"} & found["secure-video"]


def test_real_time_links_get_the_timing_threat() -> None:
    catalog = mt.Catalog.load()
    threat = catalog.threats["MT-FLOW-021"]
    assert "CTL-REALTIME-LINK-SUPERVISION" in threat.controls
    found = _findings(_operating_room())
    assert {"MT-FLOW-021", "MT-FLOW-003"} <= found["bus"]  # unauthenticated EtherCAT commands
    assert "MT-FLOW-021" in found["live-video"]  # the surgeon steers by this video
    assert "MT-FLOW-021" not in found["archive"]  # archive upload from the console
    assert "MT-FLOW-021" not in found.get("local-call", set())


def test_ai_output_driving_motion_needs_independent_limits() -> None:
    catalog = mt.Catalog.load()
    assert "CTL-THERAPY-SAFETY-LIMITS" in catalog.threats["MT-AI-055"].controls
    found = _findings(_operating_room())
    assert "MT-AI-055" in found["tracker"]
    assert "MT-AI-055" not in found["advisor"]


def _assessed(m: mt.Model, finding_id: str) -> Assessment:
    found = assess(mt.analyze(m)).get(finding_id)
    assert found is not None, finding_id
    return found


@pytest.mark.parametrize(("build", "control", "target", "finding"), [
    (_backups, "CTL-OFFLINE-BACKUP", "onprem", "MT-HOSP-010@onprem"),
    (_operating_room, "CTL-THERAPY-SAFETY-LIMITS", "tracker", "MT-AI-055@tracker"),
    (_operating_room, "CTL-REALTIME-LINK-SUPERVISION", "bus", "MT-FLOW-021@bus"),
])
def test_newly_mapped_controls_lower_residual_risk(build: Callable[[], mt.Model], control: str,
                                                   target: str, finding: str) -> None:
    bare = _assessed(build(), finding)
    assert bare.exploitability_post.rank + bare.impact_post.rank == (
        bare.exploitability.rank + bare.impact.rank)
    m = build()
    m.control(control, [target], status="implemented", evidence="test")
    done = _assessed(m, finding)
    assert done.counted_controls == (control,)
    assert done.exploitability_post.rank + done.impact_post.rank < (
        bare.exploitability.rank + bare.impact.rank)
    assert done.residual.rank <= bare.residual.rank
    planned = build()
    planned.control(control, [target], status="planned")
    assert _assessed(planned, finding).planned_controls == (control,)
    assert _assessed(planned, finding).residual.rank == bare.residual.rank


REFERENCE_MODELS = sorted((Path(__file__).resolve().parents[1] / "notebooks" / "models")
                          .glob("*.yaml"))


@pytest.mark.parametrize("path", REFERENCE_MODELS, ids=[p.stem for p in REFERENCE_MODELS])
def test_reference_models_apply_no_control_that_addresses_nothing(path: Path) -> None:
    # Every threat-specific control a reference model applies must reach one of its findings;
    # organisational controls (threat_specific: false) serve requirements, not findings.
    catalog = mt.Catalog.load()
    analysis = mt.analyze(mt.load_model(path, catalog), catalog)
    reached = {a.control for f in analysis.findings for a in f.applied_controls}
    applied = {a.control for a in analysis.model.controls}
    idle = sorted(c for c in applied - reached if catalog.controls[c].threat_specific)
    assert not idle, f"{path.stem}: applied controls that address none of its findings: {idle}"


#: Pairings a medical-device security review asked for: control -> threats it must be listed on.
EXPECTED_PAIRINGS = {
    "CTL-OFFLINE-BACKUP": ["MT-HOSP-010", "MT-HOSP-001", "MT-CLOUD-016"],
    "CTL-CLINICAL-DOWNTIME-PROCEDURES": ["MT-AI-050", "MT-HOSP-008", "MT-CLOUD-004"],
    "CTL-HIGH-AVAILABILITY": ["MT-AI-050", "MT-HOSP-008", "MT-CLOUD-004"],
    "CTL-CLINICAL-PROTOCOL-SECURITY": ["MT-FLOW-001", "MT-FLOW-005", "MT-FLOW-009",
                                       "MT-FLOW-016", "MT-FLOW-020", "MT-HOSP-012"],
    "CTL-THERAPY-SAFETY-LIMITS": ["MT-FLOW-003", "MT-DEV-007", "MT-DEV-019", "MT-AI-055"],
    "CTL-HOSP-ENDPOINT-PROTECTION": ["MT-HOSP-001"],
    "CTL-ANNOTATION-QA": ["MT-AI-002"],
    "CTL-MODEL-VALIDATION": ["MT-AI-001", "MT-AI-003"],
    "CTL-MODEL-OUTPUT-CHECKS": ["MT-AI-008", "MT-AI-055"],
    "CTL-SECURE-UPDATE-DELIVERY": ["MT-CLOUD-008", "MT-CLOUD-024"],
    "CTL-VPN-HARDENING": ["MT-HOSP-017"],
    "CTL-DDOS-PROTECTION": ["MT-CLOUD-004"],
    "CTL-WAF": ["MT-APP-002"],
    "CTL-PATCH-MANAGEMENT": ["MT-DEV-011", "MT-HOSP-001"],
    "CTL-PRIVILEGED-ACCESS": ["MT-HOSP-007", "MT-HOSP-010"],
}


@pytest.mark.parametrize("control", sorted(EXPECTED_PAIRINGS))
def test_controls_are_listed_on_the_threats_they_mitigate(control: str) -> None:
    threats = mt.Catalog.load().threats
    missing = [t for t in EXPECTED_PAIRINGS[control] if control not in threats[t].controls]
    assert not missing, f"{control} is not listed on {missing}"
