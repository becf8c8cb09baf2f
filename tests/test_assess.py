"""Risk assessment: exploitability and impact from their factors, controls, decisions, gate."""

from __future__ import annotations

from pathlib import Path

import pytest

import medthreat as mt
from medthreat.lifecycle import Decision, Decisions, save_decisions
from medthreat.risk import RiskPolicy, assess


def pump_system() -> mt.Model:
    """Insulin pump at home driven over BLE by a phone app that syncs PHI to a cloud API."""
    m = mt.Model("Pump system")
    home = m.boundary("Home", kind="home_network", id="home")
    cloud = m.boundary("Cloud", kind="cloud", id="cloud")
    m.component("insulin_pump", "Pump", boundary=home, id="pump",
                functions=["therapy_delivery"], interfaces=["ble"])
    m.component("mobile_app", "App", boundary=home, id="app")
    m.component("api_gateway", "API", boundary=cloud, id="api")
    m.data("therapy_command", "Bolus", id="bolus", integrity="high")
    m.data("phi", "Glucose history", id="history", confidentiality="high")
    m.flow("app", "pump", "ble", data=["bolus"], id="app-pump")
    m.flow("app", "api", "https", data=["history"], id="app-api", authentication="token")
    return m


@pytest.fixture(scope="module")
def policy() -> RiskPolicy:
    return RiskPolicy.load()


def register_of(model: mt.Model, policy: RiskPolicy, decisions: Decisions | None = None):
    return assess(mt.analyze(model), policy, decisions)


def test_hand_checked_scores(policy: RiskPolicy) -> None:
    register = register_of(pump_system(), policy)
    # Unsigned firmware accepted by the pump: the pump sits in the untrusted home network
    # (adjacent, base 4 = high); tampering breaks the integrity of therapy delivery (ISO 14971
    # catastrophic, 5).
    firmware = register.get("MT-DEV-003@pump")
    assert firmware is not None
    assert (firmware.attack_vector, firmware.exploitability.rank,
            firmware.exploitability.level) == ("adjacent", 4, "high")
    assert (firmware.dimension, firmware.impact.level) == ("safety", "catastrophic")
    assert (firmware.risk.level.id, firmware.risk.acceptability.value,
            firmware.risk.controlled) == ("very_high", "unacceptable", False)
    assert firmware.safety_transfer and not firmware.multi_patient
    assert [f.name for f in firmware.exploitability.factors] == ["attack vector"]
    assert "'pump' performs therapy delivery" in firmware.impact.factors[0].reason
    # The debug port needs physical access whatever the network reach (base 1 = very low):
    # catastrophic harm at very low exploitability is a "review" cell.
    debug = register.get("MT-DEV-001@pump")
    assert debug is not None
    assert (debug.attack_vector, debug.exploitability.level) == ("physical", "very_low")
    assert "needs physical access although the element is reachable at adjacent" in \
        debug.exploitability.factors[0].reason
    cell = policy.risk("very_low", "catastrophic")
    assert (debug.risk.level.id, debug.risk.acceptability) == (cell.level.id, cell.acceptability)
    # The HTTPS sync: internet channel (5), token-authenticated and encrypted (-1) = high;
    # tampering with it touches no clinical function: business impact moderate (3).
    sync = register.get("MT-FLOW-015@app-api")
    assert sync is not None
    assert [f.effect for f in sync.exploitability.factors] == ["base 5", "-1"]
    assert (sync.exploitability.level, sync.dimension, sync.impact.level) == (
        "high", "business", "moderate")
    cell = policy.risk("high", "moderate", "business")
    assert (sync.risk.level.id, sync.risk.acceptability) == (cell.level.id, cell.acceptability)
    # every number explains itself
    text = "\n".join(firmware.explain())
    assert "attack vector (base 4)" in text and "= catastrophic (rank 5)" in text
    assert "cell exploitability high (rank 4) x severity catastrophic (rank 5)" in text


def test_register_is_ordered_by_residual_risk(policy: RiskPolicy) -> None:
    register = register_of(pump_system(), policy)
    ranks = [a.residual.rank for a in register]
    assert ranks == sorted(ranks, reverse=True)
    top = register.assessments[0]
    assert top.dimension == "safety" and top.finding.element_id in {"pump", "app-pump"}


def test_phi_disclosure_is_a_privacy_impact(policy: RiskPolicy) -> None:
    m = pump_system()
    m.component("sql_database", "Records", boundary="cloud", id="records", stores=["history"])
    m.flow("api", "records", "sql", data=["history"], id="api-records")
    register = register_of(m, policy)
    disclosures = [a for a in register if a.finding.element_id == "records"
                   and a.goal == "confidentiality"]
    assert disclosures
    for a in disclosures:
        assert a.dimension == "privacy"
        # identifiable PHI, confidentiality high (4), a store of many patients' records (+1)
        assert (a.impact.scale, a.impact.rank, a.impact.level) == ("privacy", 5, "maximum")
        assert not a.safety_transfer
    m.data_assets[1].pseudonymized = True
    for a in register_of(m, policy):
        if a.finding.element_id == "records" and a.goal == "confidentiality":
            assert a.impact.rank == 3  # pseudonymized (2) + many records (1)


def test_verified_control_lowers_exactly_the_findings_it_addresses(policy: RiskPolicy) -> None:
    before = {a.id: a for a in register_of(pump_system(), policy)}
    m = pump_system()
    m.control("CTL-DEBUG-LOCK", ["pump"], status="verified", evidence="TR-7")
    after = {a.id: a for a in register_of(m, policy)}
    assert before.keys() == after.keys()  # the threat is kept, not hidden
    changed = {i for i in after if (after[i].exploitability_post.rank,
                                    after[i].residual.level.id)
               != (before[i].exploitability_post.rank, before[i].residual.level.id)}
    addressed = {a.id for a in after.values() if "CTL-DEBUG-LOCK" in a.finding.threat.controls
                 and a.finding.element_id == "pump"}
    # a finding already at the lowest exploitability cannot drop further; all others do
    lowerable = {i for i in addressed if before[i].exploitability.rank > 1}
    assert changed == lowerable and changed
    assert all(after[i].counted_controls == ("CTL-DEBUG-LOCK",) for i in addressed)
    for i in changed:
        a = after[i]
        assert a.counted_controls == ("CTL-DEBUG-LOCK",)
        assert a.exploitability.rank == before[i].exploitability.rank  # pre stays
        assert a.exploitability_post.rank == max(1, a.exploitability.rank - 2)
        assert a.exploitability_post.factors[-1].name == "controls"
        assert "CTL-DEBUG-LOCK" not in a.suggested_controls


def test_planned_controls_are_shown_not_counted(policy: RiskPolicy) -> None:
    m = pump_system()
    m.control("CTL-DEBUG-LOCK", ["pump"], status="planned")
    a = register_of(m, policy).get("MT-DEV-001@pump")
    assert a is not None
    assert a.planned_controls == ("CTL-DEBUG-LOCK",) and a.counted_controls == ()
    assert a.residual.level.id == a.risk.level.id
    assert "CTL-DEBUG-LOCK" in a.suggested_controls


def test_multi_patient_reach_raises_severity(policy: RiskPolicy) -> None:
    m = mt.Model("Fleet")
    ward = m.boundary("Ward", kind="hospital_network", id="ward")
    cloud = m.boundary("Cloud", kind="cloud", id="cloud")
    m.component("update_server", "Updates", boundary=cloud, id="ota")
    for i in range(3):
        m.component("infusion_pump", f"Pump {i}", boundary=ward, id=f"pump{i}",
                    functions=["therapy_delivery"])
        m.flow("ota", f"pump{i}", "ota_package", data=["firmware"], id=f"ota-pump{i}")
    register = register_of(m, policy)
    flows = [a for a in register if a.finding.element_id == "ota-pump0" and a.goal == "integrity"]
    assert flows and all(not a.multi_patient for a in flows)  # one pump behind each flow
    server = [a for a in register if a.finding.element_id == "ota"
              and a.dimension == "business" and a.goal == "availability"]
    assert server and all(a.impact.factors[-1].name == "fleet reach" for a in server)
    # a central station that alarms (critical) and drives three pumps: catastrophic, flagged
    m.component("central_station", "Central", boundary=ward, id="central",
                functions=["alarming"])
    for i in range(3):
        m.flow("central", f"pump{i}", "https", id=f"central-pump{i}")
    central = [a for a in register_of(m, policy)
               if a.finding.element_id == "central" and a.dimension == "safety"]
    assert central
    for a in central:
        assert a.multi_patient and a.impact.level == "catastrophic"
        assert [f.name for f in a.impact.factors] == ["clinical function", "multi-patient reach"]


def test_model_weights_inherit_the_clinical_function(policy: RiskPolicy) -> None:
    m = mt.Model("AI monitor")
    icu = m.boundary("ICU", kind="hospital_network", id="icu")
    cloud = m.boundary("Cloud", kind="cloud", id="cloud")
    m.component("model_registry", "Registry", boundary=cloud, id="registry",
                stores=[m.data("model_weights", "Arrhythmia model", id="weights")])
    m.component("on_device_inference", "Detector", boundary=icu, id="detector",
                functions=["alarming"], processes=["weights"])
    m.flow("registry", "detector", "https", data=["weights"], id="deploy")
    register = register_of(m, policy)
    registry = [a for a in register if a.finding.element_id == "registry"
                and a.goal == "integrity"]
    assert registry
    for a in registry:
        assert a.dimension == "safety" and a.impact.level == "critical"
        assert a.impact.factors[0].name == "model data"


def test_decisions_are_attached(policy: RiskPolicy) -> None:
    decisions = Decisions(decisions={
        "MT-DEV-001@pump": Decision(status="mitigated", justification="Port fused (TR-7)"),
        "MT-FLOW-003@*": Decision(status="in_progress", owner="A. Lee"),
    })
    register = register_of(pump_system(), policy, decisions)
    assert register.get("MT-DEV-001@pump").status == "mitigated"
    assert register.get("MT-FLOW-003@app-pump").decision.key == "MT-FLOW-003@*"
    assert register.get("MT-DEV-003@pump").status == "open"


# -- the gate ------------------------------------------------------------------------------


def test_gate_fails_without_decisions_and_passes_with_justified_ones(
    run_cli, tmp_path: Path, reference_model_path: Path
) -> None:
    failed = run_cli("gate", reference_model_path)
    assert failed.returncode == 1, failed.stderr
    assert "[unacceptable_undecided]" in failed.stdout
    register = assess(mt.analyze(mt.load_model(reference_model_path)))
    unacceptable = [a.id for a in register.unacceptable()]
    assert unacceptable
    # decide every unacceptable risk but one: still fails, naming that one
    decided = {i: Decision(status="mitigated", justification=f"Reviewed: {i}")
               for i in unacceptable}
    missing = unacceptable[0]
    partial = dict(decided)
    del partial[missing]
    path = tmp_path / "decisions.yaml"
    save_decisions(Decisions(decisions=partial), path)
    done = run_cli("gate", reference_model_path, "--decisions", path)
    assert done.returncode == 1
    assert missing in done.stdout and done.stdout.count("[unacceptable_undecided]") == 1
    # all decided with a justification: passes
    save_decisions(Decisions(decisions=decided), path)
    done = run_cli("gate", reference_model_path, "--decisions", path)
    assert done.returncode == 0, done.stdout
    assert "gate: passed" in done.stdout
    # an accepted decision without justification, and an orphan, fail it again
    broken = dict(decided)
    broken[missing] = Decision(status="accepted")
    broken["MT-DEV-001@no_such_element"] = Decision(status="open")
    save_decisions(Decisions(decisions=broken), path)
    done = run_cli("gate", reference_model_path, "--decisions", path)
    assert done.returncode == 1
    assert "[missing_justification]" in done.stdout and "[orphan]" in done.stdout


def test_gate_reports_bad_decisions_file_with_exit_2(run_cli, tmp_path: Path,
                                                     reference_model_path: Path) -> None:
    path = tmp_path / "decisions.yaml"
    path.write_text("schema_version: 1\ndecisions:\n  MT-DEV-001@ecg_patch:\n"
                    "    status: acepted\n")
    done = run_cli("gate", reference_model_path, "--decisions", path)
    assert done.returncode == 2
    assert f"{path}:4" in done.stderr and "did you mean 'accepted'" in done.stderr


def test_reference_model_puts_reachable_therapy_and_alarm_risks_on_top(
    reference_model_path: Path, policy: RiskPolicy
) -> None:
    model = mt.load_model(reference_model_path)
    register = assess(mt.analyze(model), policy)
    top_level = max(lv.rank for lv in policy.levels("risk"))
    critical = {c.id for c in model.components
                if {"alarming", "therapy_delivery"} & {f.value for f in c.functions}}
    position = {a.id: i for i, a in enumerate(register)}
    selected = [a for a in register if a.finding.element_id in critical
                and a.goal in ("integrity", "availability")
                and a.attack_vector in ("internet", "proximity")]
    assert len(selected) >= 10
    first_business = min(position[a.id] for a in register if a.dimension == "business")
    for a in selected:
        assert a.dimension == "safety"
        # before controls: internet reach is the top of the matrix, radio reach one below
        expected = top_level if a.attack_vector == "internet" else top_level - 1
        assert a.risk.rank >= expected, a.id
        assert a.risk.acceptability.value == "unacceptable", a.id
        if not a.counted_controls and a.attack_vector == "internet":
            assert a.residual.rank == top_level and position[a.id] < first_business, a.id
        else:  # controls the model applies lower them, and only them
            assert a.residual.rank <= a.risk.rank
    # PHI disclosure is a privacy impact, never patient harm
    phi = {d.id for d in model.data_assets if d.kind.value == "phi"}
    disclosures = [a for a in register if a.goal == "confidentiality"
                   and any(d.id in phi for d in _data_of(model, a.finding.element_id))]
    assert disclosures
    assert {a.dimension for a in disclosures} == {"privacy"}
    # every number can be traced to its factors in the output
    for record in register.to_records():
        assert record["exploitability_factors"] and record["impact_factors"]


def _data_of(model: mt.Model, element_id: str) -> list:
    assets = {d.id: d for d in model.data_assets}
    element = model.element(element_id)
    if isinstance(element, mt.model.Flow):
        ids = element.data
    elif isinstance(element, mt.model.Component):
        ids = [*element.stores, *element.processes]
    else:
        ids = []
    return [assets[i] for i in ids]


def test_many_patients_records_follow_the_type_attribute(policy: RiskPolicy) -> None:
    m = pump_system()
    m.component("interface_engine", "Engine", boundary="cloud", id="ehr",
                processes=["history"])
    m.flow("api", "ehr", "https", data=["history"], id="api-ehr")
    found = [a for a in register_of(m, policy)
             if a.finding.element_id == "ehr" and a.dimension == "privacy"]
    assert found
    for a in found:  # interface_engine is multi_patient by type: identifiable high (4) + 1
        assert a.impact.rank == 5 and a.impact.factors[-1].name == "many patients' records"
    m.components[-1].attributes["multi_patient"] = False  # the model says otherwise
    for a in register_of(m, policy):
        if a.finding.element_id == "ehr" and a.dimension == "privacy":
            assert a.impact.rank == 4
