"""Every reference model in notebooks/models/ against the real loader, engine and risk assessment.

The tests are parametrized over the model files found on disk, so a model added to the folder is
checked without touching this file. The domain checks read what they expect from the model
itself (clinical functions, effective attributes, protocols, applied controls) and the policy's
scales, never from a list of finding ids copied from the tool's output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import medthreat as mt
from medthreat.catalog import ElementKind, Stride
from medthreat.cli import main as cli_main
from medthreat.engine import Analysis, Finding
from medthreat.graph import flow_protection
from medthreat.lifecycle import check, load_decisions
from medthreat.model import Component, Flow, Model, model_to_data
from medthreat.risk import Assessment, RiskRegister

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS = REPO_ROOT / "notebooks" / "models"
DECISIONS = MODELS / "decisions"
MODEL_PATHS = sorted(MODELS.glob("*.yaml"))
COUNTED = frozenset({"implemented", "verified"})
DICOM_PROTOCOLS = frozenset({"dicom", "dicom_tls", "dicomweb"})
UPDATE_DATA = frozenset({"firmware", "model_weights"})
#: Reference models of systems that are not medical devices (medthreat's own threat model):
#: few catalog threats are specific to them, so most of their findings are the generic
#: STRIDE-per-element ones, and of the device-domain checks only software delivery applies.
NON_DEVICE_MODELS = frozenset({"medthreat_itself"})


@dataclass(frozen=True)
class Reviewed:
    """One reference model with its analysis and risk register."""

    path: Path
    model: Model
    analysis: Analysis
    register: RiskRegister

    @property
    def stem(self) -> str:
        return self.path.stem

    def findings_on(self, element_id: str) -> list[Finding]:
        return [f for f in self.analysis.findings if f.element_id == element_id]

    def assessments_on(self, element_id: str) -> list[Assessment]:
        return [a for a in self.register if a.finding.element_id == element_id]

    def attr(self, component: Component, name: str) -> Any:
        """Effective attribute value: the model's override, the type's value, the default."""
        catalog = self.analysis.catalog
        if name in component.attributes:
            return component.attributes[name]
        ctype = catalog.component_types[component.type]
        if name in ctype.attributes:
            return ctype.attributes[name]
        return catalog.attributes[name].default

    def kind_of(self, component: Component) -> ElementKind:
        return self.analysis.catalog.component_types[component.type].kind

    def components(self) -> Iterator[Component]:
        return (c for c in self.model.components if not c.out_of_scope)

    def flows(self) -> Iterator[Flow]:
        return (f for f in self.model.flows if not f.out_of_scope)

    def data_kinds(self, flow: Flow) -> set[str]:
        assets = {d.id: d for d in self.model.data_assets}
        return {assets[i].kind.value for i in flow.data if i in assets}


def test_the_folder_holds_the_reference_models() -> None:
    stems = {p.stem for p in MODEL_PATHS}
    assert {"ai_patient_monitoring", "ai_surgical_robot", "networked_imaging_ai_triage"} <= stems


@pytest.fixture(scope="module")
def catalog() -> mt.Catalog:
    return mt.Catalog.load()


@pytest.fixture(scope="module", params=MODEL_PATHS, ids=lambda p: p.stem)
def reviewed(request: pytest.FixtureRequest, catalog: mt.Catalog) -> Reviewed:
    path: Path = request.param
    model = mt.load_model(path, catalog)
    analysis = mt.analyze(model, catalog)
    return Reviewed(path, model, analysis, mt.assess(analysis))


# --- file-level properties ---------------------------------------------------------------------


@pytest.mark.parametrize("path", MODEL_PATHS, ids=lambda p: p.stem)
def test_validates_on_the_command_line(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The command line's own entry point, in process (a subprocess per model costs seconds).
    code = cli_main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert f"{path}: valid" in out


def test_save_then_load_is_the_identity(reviewed: Reviewed, tmp_path: Path,
                                        catalog: mt.Catalog) -> None:
    first = tmp_path / "first.yaml"
    second = tmp_path / "second.yaml"
    mt.save_model(reviewed.model, first)
    loaded = mt.load_model(first, catalog)
    assert loaded == reviewed.model
    assert model_to_data(loaded) == model_to_data(reviewed.model)
    mt.save_model(loaded, second)
    assert second.read_bytes() == first.read_bytes()
    as_json = tmp_path / "model.json"
    mt.save_model(reviewed.model, as_json)
    assert mt.load_model(as_json, catalog) == reviewed.model
    again = mt.analyze(loaded, catalog)
    assert [f.id for f in again.findings] == [f.id for f in reviewed.analysis.findings]


def test_every_in_scope_component_takes_part_in_a_flow(reviewed: Reviewed) -> None:
    ends = {e for f in reviewed.model.flows for e in (f.source, f.target)}
    loose = sorted(c.id for c in reviewed.components() if c.id not in ends)
    assert not loose, f"{reviewed.stem}: components without any flow: {loose}"


def test_applied_controls_are_a_mix_with_evidence(reviewed: Reviewed) -> None:
    statuses = {ac.status.value for ac in reviewed.model.controls}
    assert statuses == {"planned", "implemented", "verified"}
    claimed = [ac for ac in reviewed.model.controls if ac.status.value in COUNTED]
    missing = sorted(ac.control for ac in claimed if not ac.evidence.strip())
    assert not missing, f"{reviewed.stem}: implemented or verified without evidence: {missing}"


def test_system_description_states_intended_use_and_assumptions(reviewed: Reviewed) -> None:
    system = reviewed.model.system
    assert system.intended_use.strip()
    assert system.description.strip()
    assert len(system.assumptions) >= 3


# --- analysis and register ---------------------------------------------------------------------


def test_findings_cover_every_stride_category(reviewed: Reviewed) -> None:
    found = {f.threat.stride for f in reviewed.analysis.findings}
    assert found == set(Stride)


def test_findings_are_more_than_the_baseline(reviewed: Reviewed) -> None:
    specific = [f for f in reviewed.analysis.findings if not f.threat.baseline]
    share = 1 / 3 if reviewed.stem in NON_DEVICE_MODELS else 1 / 2
    assert len(specific) > len(reviewed.analysis.findings) * share


def test_applied_controls_reduce_unacceptable_risks(reviewed: Reviewed) -> None:
    reduced = [a for a in reviewed.register
               if a.risk.acceptability.value == "unacceptable" and a.residual.rank < a.risk.rank]
    assert reduced, f"{reviewed.stem}: no unacceptable risk is reduced by the applied controls"
    applied = {(ac.control, ac.status.value) for ac in reviewed.model.controls}
    for a in reduced:
        assert a.counted_controls
        for control in a.counted_controls:
            assert {(control, s) for s in COUNTED} & applied, (a.id, control)
    assert len(reviewed.register.unacceptable()) < sum(
        1 for a in reviewed.register if a.risk.acceptability.value == "unacceptable")


def test_only_implemented_or_verified_controls_lower_a_risk(reviewed: Reviewed) -> None:
    planned = {ac.control for ac in reviewed.model.controls if ac.status.value == "planned"}
    for a in reviewed.register:
        assert set(a.planned_controls) <= planned, a.id
        if not a.counted_controls:
            assert a.residual.rank == a.risk.rank, a.id


# --- domain checks -----------------------------------------------------------------------------
# Each returns the elements it examined, so a test can require that a check applied at all.


def _top_severity_ranks(reviewed: Reviewed) -> set[int]:
    levels = reviewed.register.policy.levels("severity")
    ranks = sorted(level.rank for level in levels)
    return set(ranks[-2:])


def check_motion_and_therapy(reviewed: Reviewed) -> list[str]:
    """Components that move instruments or deliver therapy carry top-severity patient harm."""
    top = _top_severity_ranks(reviewed)
    examined = []
    for c in reviewed.components():
        functions = {f.value for f in c.functions}
        if not functions & {"motion_control", "therapy_delivery"}:
            continue
        examined.append(c.id)
        safety = [a for a in reviewed.assessments_on(c.id) if a.dimension == "safety"]
        assert safety, c.id
        integrity = [a for a in safety if a.goal == "integrity" and a.impact.rank in top]
        assert integrity, f"{c.id}: no integrity finding at the top severity levels"
        availability = [a for a in safety if a.finding.threat.stride is Stride.denial_of_service]
        assert availability, f"{c.id}: losing the function is not rated as patient harm"
    for flow in reviewed.flows():
        if "therapy_command" in reviewed.data_kinds(flow):
            examined.append(flow.id)
            tampering = [a for a in reviewed.assessments_on(flow.id) if a.goal == "integrity"]
            assert tampering and max(a.impact.rank for a in tampering) == max(top), flow.id
    return examined


def _has_atlas(finding: Finding) -> bool:
    return any(r.startswith("ATLAS:") for r in finding.threat.references)


def check_training(reviewed: Reviewed) -> list[str]:
    """Training pipelines get AI threats (poisoning, backdoors) with a MITRE ATLAS reference."""
    examined = []
    for c in reviewed.components():
        if not reviewed.attr(c, "trains_models"):
            continue
        examined.append(c.id)
        ai = [f for f in reviewed.findings_on(c.id) if f.threat.ai_category and _has_atlas(f)]
        assert ai, f"{c.id}: no AI threat with an ATLAS reference"
        assert any(f.threat.stride is Stride.tampering for f in ai), c.id
        assert any(f.threat.stride is Stride.information_disclosure for f in ai), c.id
    return examined


def check_model_stores(reviewed: Reviewed) -> list[str]:
    """Stores of model artefacts get artefact-replacement threats with an ATLAS reference."""
    examined = []
    for c in reviewed.components():
        if reviewed.kind_of(c) is not ElementKind.data_store:
            continue
        if not reviewed.attr(c, "holds_model_artifacts"):
            continue
        examined.append(c.id)
        replaced = [f for f in reviewed.findings_on(c.id)
                    if f.threat.stride is Stride.tampering and _has_atlas(f)]
        assert replaced, c.id
    return examined


def check_updates(reviewed: Reviewed) -> list[str]:
    """Update servers and every non-local flow of software or models get tampering threats."""
    examined = []
    for c in reviewed.components():
        if reviewed.attr(c, "is_update_server"):
            examined.append(c.id)
            assert any(f.threat.stride is Stride.tampering and not f.threat.baseline
                       for f in reviewed.findings_on(c.id)), c.id
    protocols = reviewed.analysis.catalog.protocols
    for flow in reviewed.flows():
        if not reviewed.data_kinds(flow) & UPDATE_DATA:
            continue
        if protocols[flow.protocol].range.value == "local":
            continue
        examined.append(flow.id)
        assert any(f.threat.stride is Stride.tampering and not f.threat.baseline
                   for f in reviewed.findings_on(flow.id)), flow.id
    return examined


def check_remote_service(reviewed: Reviewed) -> list[str]:
    """Components offering remote service access get an elevation-of-privilege threat."""
    examined = []
    for c in reviewed.components():
        if reviewed.kind_of(c) is not ElementKind.process or not reviewed.attr(c,
                                                                               "remote_service"):
            continue
        examined.append(c.id)
        assert any(f.threat.stride is Stride.elevation_of_privilege and not f.threat.baseline
                   for f in reviewed.findings_on(c.id)), c.id
    return examined


def check_dicom(reviewed: Reviewed) -> list[str]:
    """Every DICOM flow has findings; unauthenticated or cleartext image transfers specific ones."""
    examined = []
    for flow in reviewed.flows():
        if flow.protocol not in DICOM_PROTOCOLS:
            continue
        examined.append(flow.id)
        findings = reviewed.findings_on(flow.id)
        assert findings, flow.id
        authenticated, encrypted = flow_protection(flow, reviewed.analysis.catalog)
        kinds = reviewed.data_kinds(flow)
        if "clinical_image" in kinds and not authenticated:
            assert any(f.threat.stride is Stride.tampering and not f.threat.baseline
                       for f in findings), f"{flow.id}: unauthenticated images not flagged"
        if kinds & {"clinical_image", "phi", "pii"} and not encrypted:
            assert any(f.threat.stride is Stride.information_disclosure and not f.threat.baseline
                       for f in findings), f"{flow.id}: cleartext patient data not flagged"
    return examined


def check_archive_availability(reviewed: Reviewed) -> list[str]:
    """Image archives have denial-of-service findings rated as patient harm or business impact;
    backup controls the model applies to an archive lower those they address."""
    examined = []
    for c in reviewed.components():
        if c.type != "pacs":
            continue
        examined.append(c.id)
        dos = [a for a in reviewed.assessments_on(c.id)
               if a.finding.threat.stride is Stride.denial_of_service]
        assert dos, c.id
        assert {a.dimension for a in dos} <= {"safety", "business"}, c.id
        backups = {ac.control for ac in reviewed.model.controls
                   if ac.status.value in COUNTED and "BACKUP" in ac.control
                   and (not ac.targets or c.id in ac.targets)}
        addressed = [a for a in dos if set(a.counted_controls) & backups]
        for a in addressed:
            assert a.residual.rank <= a.risk.rank
        if backups:
            assert any(a.residual.rank < a.risk.rank for a in addressed), c.id
    return examined


def check_deidentification(reviewed: Reviewed) -> list[str]:
    """De-identification services get re-identification or key-exposure threats; data they
    pseudonymise that leaves for a third party or a training set is flagged as re-identifiable."""
    examined = []
    for c in reviewed.components():
        if not reviewed.attr(c, "deidentifies_data"):
            continue
        examined.append(c.id)
        disclosure = [f for f in reviewed.findings_on(c.id)
                      if f.threat.stride is Stride.information_disclosure
                      and not f.threat.baseline]
        assert disclosure, c.id
    return examined


CHECKS: dict[str, Callable[[Reviewed], list[str]]] = {
    "motion_and_therapy": check_motion_and_therapy,
    "training": check_training,
    "model_stores": check_model_stores,
    "updates": check_updates,
    "remote_service": check_remote_service,
    "dicom": check_dicom,
    "archive_availability": check_archive_availability,
    "deidentification": check_deidentification,
}

#: Which checks must find something to examine in each model (the domain it is about).
EXPECTED: dict[str, set[str]] = {
    "ai_patient_monitoring": {"training", "model_stores", "updates", "remote_service",
                              "deidentification"},
    "ai_surgical_robot": {"motion_and_therapy", "training", "model_stores", "updates",
                          "remote_service", "dicom", "archive_availability",
                          "deidentification"},
    "networked_imaging_ai_triage": {"model_stores", "updates", "remote_service", "dicom",
                                    "archive_availability", "deidentification"},
    "medthreat_itself": {"updates"},
}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_domain_check(reviewed: Reviewed, name: str) -> None:
    examined = CHECKS[name](reviewed)
    if name in EXPECTED.get(reviewed.stem, set()):
        assert examined, f"{reviewed.stem}: the {name} check found nothing to examine"


def test_every_model_is_covered_by_some_domain_check(reviewed: Reviewed) -> None:
    applied = [name for name, fn in CHECKS.items() if fn(reviewed)]
    needed = 1 if reviewed.stem in NON_DEVICE_MODELS else 3
    assert len(applied) >= needed, f"{reviewed.stem}: only {applied}"


# --- model-specific facts, read from the model -------------------------------------------------


def _reviewed(catalog: mt.Catalog, stem: str) -> Reviewed:
    path = MODELS / f"{stem}.yaml"
    model = mt.load_model(path, catalog)
    analysis = mt.analyze(model, catalog)
    return Reviewed(path, model, analysis, mt.assess(analysis))


@pytest.fixture(scope="module")
def robot(catalog: mt.Catalog) -> Reviewed:
    return _reviewed(catalog, "ai_surgical_robot")


@pytest.fixture(scope="module")
def imaging(catalog: mt.Catalog) -> Reviewed:
    return _reviewed(catalog, "networked_imaging_ai_triage")


def test_robot_ai_output_that_limits_motion_inherits_motion_harm(robot: Reviewed) -> None:
    # The AI node's tracking results drive motion boundaries; tampering with the model weights
    # on their way from the registry must be rated at the worst severity of the policy.
    top = max(_top_severity_ranks(robot))
    weights = {d.id for d in robot.model.data_assets if d.kind.value == "model_weights"}
    registry = [c.id for c in robot.components() if robot.attr(c, "holds_model_artifacts")
                and robot.kind_of(c) is ElementKind.data_store]
    assert registry
    flows = [f for f in robot.flows() if f.source in registry and set(f.data) & weights]
    assert flows
    for flow in flows:
        integrity = [a for a in robot.assessments_on(flow.id) if a.goal == "integrity"]
        assert max(a.impact.rank for a in integrity) == top, flow.id


def test_robot_annotation_vendor_is_a_re_identification_risk(robot: Reviewed) -> None:
    third_party = {c.id for c in robot.components() if robot.attr(c, "operated_by") ==
                   "third_party" and robot.kind_of(c) is ElementKind.process}
    assert third_party
    pseudonymised = {d.id for d in robot.model.data_assets if d.pseudonymized}
    outbound = [f for f in robot.flows() if f.target in third_party and set(f.data) & pseudonymised]
    assert outbound
    for flow in outbound:
        assert any(f.threat.privacy_category and f.threat.stride is Stride.information_disclosure
                   for f in robot.findings_on(flow.id)), flow.id


def test_imaging_ransomware_findings_on_clinical_servers(imaging: Reviewed) -> None:
    # Every hospital server running general-purpose software in a hospital network segment is
    # a ransomware target: an availability finding that is not a baseline one.
    boundaries = {b.id: b for b in imaging.model.boundaries}
    servers = [c for c in imaging.components()
               if imaging.attr(c, "runs_third_party_software")
               and not imaging.attr(c, "runs_firmware")
               and c.boundary in boundaries
               and boundaries[c.boundary].kind.value == "hospital_network"]
    assert len(servers) >= 4
    for c in servers:
        assert any(f.threat.stride is Stride.denial_of_service and not f.threat.baseline
                   for f in imaging.findings_on(c.id)), c.id


def test_imaging_only_pseudonymised_studies_reach_the_cloud(imaging: Reviewed) -> None:
    boundaries = {b.id: b for b in imaging.model.boundaries}
    owners = {c.id: c for c in imaging.model.components}
    assets = {d.id: d for d in imaging.model.data_assets}
    into_cloud = [f for f in imaging.flows()
                  if f.target in owners and owners[f.target].boundary in boundaries
                  and boundaries[owners[f.target].boundary].kind.value == "cloud"
                  and f.source in owners and owners[f.source].boundary in boundaries
                  and boundaries[owners[f.source].boundary].kind.value != "cloud"]
    assert into_cloud
    for flow in into_cloud:
        for data_id in flow.data:
            asset = assets[data_id]
            if asset.kind.value in {"phi", "pii", "clinical_image"}:
                assert asset.pseudonymized or asset.anonymized, (flow.id, data_id)
    # ... and no finding says identifiable data goes to training or a third party.
    assert not [f for f in imaging.analysis.findings
                if f.threat.id in {"MT-PRIV-009", "MT-PRIV-010"}]


def test_imaging_triage_outage_is_minor_patient_harm(imaging: Reviewed) -> None:
    # Triage only reorders the worklist: losing it must not be rated worse than losing the
    # archive the radiologists read from.
    triage = [c for c in imaging.components() if imaging.attr(c, "executes_ml_inference")]
    archive = [c for c in imaging.components() if c.type == "pacs"]
    assert triage and archive

    def worst_dos(ids: list[str]) -> int:
        return max(a.impact.rank for i in ids for a in imaging.assessments_on(i)
                   if a.finding.threat.stride is Stride.denial_of_service
                   and a.dimension == "safety")

    assert worst_dos([c.id for c in triage]) < worst_dos([c.id for c in archive])


# --- decisions files ---------------------------------------------------------------------------


DECISION_PATHS = sorted(DECISIONS.glob("*.yaml"))


def test_decisions_files_belong_to_a_model() -> None:
    stems = {p.stem for p in MODEL_PATHS}
    assert DECISION_PATHS
    for path in DECISION_PATHS:
        assert path.stem in stems, path.name


@pytest.mark.parametrize("path", DECISION_PATHS, ids=lambda p: p.stem)
def test_decisions_match_findings_and_are_justified(path: Path, catalog: mt.Catalog) -> None:
    reviewed = _reviewed(catalog, path.stem)
    decisions = load_decisions(path)
    ids = [f.id for f in reviewed.analysis.findings]
    assert decisions.orphans(ids) == []
    decided = mt.assess(reviewed.analysis, decisions=decisions)
    unacceptable = [a.id for a in decided.unacceptable()]
    issues = check(decisions, ids, unacceptable=unacceptable)
    codes = {issue.code.value for issue in issues}
    assert codes <= {"unacceptable_undecided"}, codes
    statuses = {a.status for a in decided}
    assert len(statuses - {"open"}) >= 2
    # These decisions carry no CVSS vector, so they record treatment without changing a rating.
    plain = {a.id: (a.risk.rank, a.residual.rank) for a in reviewed.register}
    assert {a.id: (a.risk.rank, a.residual.rank) for a in decided} == plain
