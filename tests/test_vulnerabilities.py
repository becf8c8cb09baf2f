"""Advisories (OSV, CSAF 2.0, CycloneDX VEX, CISA KEV) matched to SBOMs, as findings in the
register and the gate, and the CycloneDX VEX export."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
from _models import DATA, mini_catalog, mini_model
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

import medthreat as mt
from medthreat.errors import MedthreatError
from medthreat.export.excel import write_register
from medthreat.export.findings import findings_json, findings_schema
from medthreat.lifecycle import Decision, Decisions
from medthreat.risk.cvss import cvss_exploitability
from medthreat.sbom import (
    VulnerabilityAnalysis,
    analyze_with_vulnerabilities,
    assess_vulnerabilities,
    gate_issues,
    load_advisories,
    load_advisory_file,
    load_kev,
    load_model_sboms,
    load_sbom,
    match_vulnerabilities,
    vex_document,
    vex_json,
    write_vex,
)

SBOMS = DATA / "sbom"
ADVISORIES = [SBOMS / n for n in ("osv_lodash.json", "osv_requests.json", "csaf_openssl.json",
                                   "supplier.vex.json")]
KEV_ID = "VULN-CVE-2099-1003@pump"


@pytest.fixture(scope="module")
def catalog() -> mt.Catalog:
    return mini_catalog()


@pytest.fixture(scope="module")
def model() -> mt.Model:
    m = mini_model()
    i = next(i for i, c in enumerate(m.components) if c.id == "pump")
    m.components[i] = m.components[i].model_copy(update={"sbom": "pump.cdx.json"})
    return m


@pytest.fixture(scope="module")
def matches(model: mt.Model) -> list[mt.sbom.VulnerabilityMatch]:
    sboms = load_model_sboms(model, base=SBOMS)
    return match_vulnerabilities(sboms, load_advisories(ADVISORIES), load_kev(SBOMS / "kev.json"))


@pytest.fixture(scope="module")
def analysis(model: mt.Model, catalog: mt.Catalog) -> mt.Analysis:
    return mt.analyze(model, catalog)


@pytest.fixture(scope="module")
def vulns(analysis: mt.Analysis,
          matches: list[mt.sbom.VulnerabilityMatch]) -> VulnerabilityAnalysis:
    return analyze_with_vulnerabilities(analysis, matches)


def _by_id(matches: list[mt.sbom.VulnerabilityMatch]) -> dict[str, mt.sbom.VulnerabilityMatch]:
    return {m.vulnerability_id: m for m in matches}


# -- reading and matching ---------------------------------------------------------------------


def test_formats_are_recognised_by_content() -> None:
    formats = {a.id: a.format for p in ADVISORIES for a in load_advisory_file(p)}
    assert formats["GHSA-test-lod1-0001"] == "osv"
    assert formats["PYSEC-2099-0002"] == "osv"
    assert formats["CVE-2099-1003"] == "csaf"
    assert formats["CVE-2099-1004"] == "cyclonedx-vex"
    assert load_kev(SBOMS / "kev.json") == frozenset({"CVE-2099-1003"})


def test_unknown_or_broken_advisory_files_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "other.json"
    bad.write_text('{"hello": 1}', encoding="utf-8")
    with pytest.raises(MedthreatError, match="not an advisory file") as info:
        load_advisory_file(bad)
    assert str(bad) in str(info.value)
    with pytest.raises(MedthreatError, match="not a CISA KEV catalog"):
        load_kev(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("[", encoding="utf-8")
    with pytest.raises(MedthreatError, match="not valid JSON"):
        load_advisory_file(broken)


def test_matches_in_range_and_not_out_of_range(matches: list) -> None:
    found = _by_id(matches)
    # In range: OSV SEMVER (purl), OSV ECOSYSTEM (ecosystem + name, other capitalisation),
    # OSV exact versions, CSAF vers range, CycloneDX VEX with a vers range.
    assert set(found) == {"CVE-2099-1001", "CVE-2099-1002", "CVE-2099-1003", "CVE-2099-1004",
                          "CVE-2099-1005", "PYSEC-2099-0008"}
    # Out of range: fixed exactly at the SBOM's version (PYSEC-2099-0006), a version list
    # without it (PYSEC-2099-0007), a CSAF product of another version (CVE-2099-1009).
    assert not {"PYSEC-2099-0006", "PYSEC-2099-0007", "CVE-2099-1009"} & set(found)
    lodash = found["CVE-2099-1001"]
    assert lodash.package.name == "lodash" and lodash.aliases == ("GHSA-test-lod1-0001",)
    assert lodash.fixed_versions == ("4.17.21",)
    assert lodash.cvss_vector == "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"
    openssl = found["CVE-2099-1003"]
    assert openssl.kev and openssl.fixed_versions == ("3.0.8",) and openssl.cwes == (787,)
    assert openssl.cvss_score == 9.8
    assert [m.vulnerability_id for m in matches if m.kev] == ["CVE-2099-1003"]
    # A CycloneDX VEX vector without the CVSS: prefix gets it from the rating method.
    assert found["CVE-2099-1004"].cvss_vector.startswith("CVSS:3.1/AV:N/")
    assert found["CVE-2099-1004"].vex_state == "not_affected"
    assert found["CVE-2099-1004"].vex_justification == "code_not_reachable"
    assert matches == sorted(matches, key=lambda m: (m.component_id, m.vulnerability_id,
                                                     m.package.bom_ref, m.package.version))


def test_version_boundaries() -> None:
    osv = {a.id: a for a in load_advisories(ADVISORIES)}
    lodash = osv["GHSA-test-lod1-0001"].affected[0]
    assert lodash.affects("0.1.0") and lodash.affects("4.17.20")
    assert not lodash.affects("4.17.21") and not lodash.affects("5.0.0")
    last = osv["PYSEC-2099-0008"].affected[0]
    assert last.affects("2.29.9") and last.affects("1.0") and last.affects("2.30.0")
    assert not last.affects("2.29.10") and not last.affects("0.9")
    csaf = osv["CVE-2099-1003"].affected[0]
    assert csaf.affects("3.0.0") and csaf.affects("3.0.7")
    assert not csaf.affects("3.0.8") and not csaf.affects("2.9.9")
    assert not lodash.affects("not-a-version")


def test_components_without_purl_are_not_matched(tmp_path: Path) -> None:
    advisory = tmp_path / "osv.json"
    advisory.write_text(json.dumps([
        {"id": "TEST-1", "affected": [{"package": {"purl": "pkg:generic/libbar"},
                                       "ranges": [{"type": "ECOSYSTEM",
                                                   "events": [{"introduced": "0"}]}]}]},
        {"id": "TEST-2", "affected": [{"package": {"purl": "pkg:generic/libfoo"},
                                       "ranges": [{"type": "ECOSYSTEM",
                                                   "events": [{"introduced": "0"}]}]}]},
    ]), encoding="utf-8")
    sbom = load_sbom(SBOMS / "incomplete.cdx.json")  # libbar has neither purl nor version
    found = match_vulnerabilities({"box": sbom}, load_advisories([advisory]))
    assert [(m.vulnerability_id, m.package.name) for m in found] == [("TEST-2", "libfoo")]


# -- findings, register, gate -----------------------------------------------------------------


def test_matches_become_findings(analysis: mt.Analysis, vulns: VulnerabilityAnalysis,
                                 matches: list) -> None:
    ids = sorted(f.id for f in vulns.vulnerability_findings())
    # The VEX statement "not_affected" keeps CVE-2099-1004 out.
    assert ids == ["VULN-CVE-2099-1001@pump", "VULN-CVE-2099-1002@pump", KEV_ID,
                   "VULN-CVE-2099-1005@pump", "VULN-PYSEC-2099-0008@pump"]
    assert len(vulns.findings) == len(analysis.findings) + len(ids)
    with_resolved = analyze_with_vulnerabilities(analysis, matches, include_resolved=True)
    assert "VULN-CVE-2099-1004@pump" in {f.id for f in with_resolved.findings}
    kev = vulns.finding(KEV_ID)
    assert kev is not None and kev.element_id == "pump"
    assert kev.stride.value == "elevation_of_privilege"  # CWE-787
    assert "CVE-2099-1003" in kev.references and "CWE:787" in kev.references
    assert any("Known Exploited" in line for line in kev.why)
    info = vulns.finding("VULN-CVE-2099-1002@pump")
    assert info is not None and info.stride.value == "information_disclosure"  # C only
    # The engine's order is kept, the original catalog untouched, and the copy's synthetic
    # threats never match on their own.
    key = [(f.subject.id, f.threat.stride.order, f.threat.id) for f in vulns.findings]
    assert key == sorted(key)
    assert "VULN-CVE-2099-1003" not in analysis.catalog.threats
    assert "VULN-CVE-2099-1003" in vulns.catalog.threats
    again = mt.analyze(vulns.model, vulns.catalog)
    assert [f.id for f in again.findings] == [f.id for f in analysis.findings]


def test_exploitability_comes_from_the_advisory_cvss(vulns: VulnerabilityAnalysis,
                                                     matches: list) -> None:
    register = assess_vulnerabilities(vulns)
    for finding in vulns.vulnerability_findings():
        a = register.get(finding.id)
        assert a is not None and a.decision is None
        vector = vulns.by_finding[finding.id][0].cvss_vector
        if vector:
            rank, _ = cvss_exploitability(vector)
            assert a.exploitability.rank == rank
            assert a.exploitability.factors[0].name == "CVSS"
    # Other findings are rated exactly as plain assess rates them.
    plain = mt.risk.assess(vulns)
    assert {a.id: a.exploitability for a in plain if a.id not in vulns.by_finding} == {
        a.id: a.exploitability for a in register if a.id not in vulns.by_finding}
    # A vector in the decision wins over the advisory's; the real decision is kept.
    own = "CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:H/A:N"
    decisions = Decisions(decisions={KEV_ID: Decision(status="in_progress", cvss=own)})
    rated = assess_vulnerabilities(vulns, decisions=decisions).get(KEV_ID)
    assert rated is not None and rated.exploitability.rank == cvss_exploitability(own)[0]
    assert rated.decision is not None and rated.decision.decision.cvss == own
    justified = Decisions(decisions={KEV_ID: Decision(status="accepted", justification="x")})
    kept = assess_vulnerabilities(vulns, decisions=justified)
    got = kept.get(KEV_ID)
    assert got is not None and got.decision is not None and got.decision.decision.cvss == ""
    assert kept.decisions is justified


def _closing_decisions(register: mt.RiskRegister, **overrides: Decision) -> Decisions:
    base = {a.id: Decision(status="accepted", justification="tolerable after review")
            for a in register.unacceptable()}
    return Decisions(decisions={**base, **overrides})


def test_known_exploited_vulnerability_fails_the_gate_until_fixed(
        vulns: VulnerabilityAnalysis) -> None:
    register = assess_vulnerabilities(vulns)
    assert "kev_not_fixed" in {i.code for i in gate_issues(register)}
    accepted = _closing_decisions(register, **{KEV_ID: Decision(
        status="accepted", justification="we live with it")})
    issues = gate_issues(assess_vulnerabilities(vulns, decisions=accepted), accepted)
    assert [(i.code, i.finding_id) for i in issues] == [("kev_not_fixed", KEV_ID)]
    fixed = _closing_decisions(register, **{KEV_ID: Decision(
        status="mitigated", justification="openssl 3.0.8 ships in release 3.2.1")})
    assert gate_issues(assess_vulnerabilities(vulns, decisions=fixed), fixed) == []
    not_affected = _closing_decisions(register, **{KEV_ID: Decision(
        status="false_positive", justification="code_not_reachable: no certificates parsed")})
    assert gate_issues(assess_vulnerabilities(vulns, decisions=not_affected), not_affected) == []


def test_a_justified_decision_lets_a_non_kev_vulnerability_pass(
        vulns: VulnerabilityAnalysis) -> None:
    register = assess_vulnerabilities(vulns)
    target = "VULN-CVE-2099-1001@pump"
    assert target in {a.id for a in register.unacceptable()}
    assert target in {i.finding_id for i in gate_issues(register)}
    decisions = _closing_decisions(register, **{KEV_ID: Decision(status="mitigated")})
    decisions = Decisions(decisions={**decisions.decisions, target: Decision(
        status="accepted", justification="prototype pollution needs a local script")})
    issues = gate_issues(assess_vulnerabilities(vulns, decisions=decisions), decisions)
    assert target not in {i.finding_id for i in issues}
    blank = Decisions(decisions={**decisions.decisions, target: Decision(status="accepted")})
    codes = {(i.code, i.finding_id) for i in gate_issues(
        assess_vulnerabilities(vulns, decisions=blank), blank)}
    assert ("unacceptable_unjustified", target) in codes


def test_register_workbook_and_findings_json_carry_them(vulns: VulnerabilityAnalysis,
                                                        tmp_path: Path) -> None:
    import jsonschema

    register = assess_vulnerabilities(vulns)
    doc = json.loads(findings_json(vulns, register))
    jsonschema.validate(doc, findings_schema())
    listed = {f["id"] for f in doc["findings"]}
    assert set(vulns.by_finding) <= listed
    path = write_register(register, tmp_path / "register.xlsx")
    book = openpyxl.load_workbook(path, read_only=True)
    cells = {str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True)
             for c in row if c is not None}
    book.close()
    assert set(vulns.by_finding) <= cells


# -- VEX export -------------------------------------------------------------------------------


def test_vex_states_follow_decisions_and_the_document_validates(
        vulns: VulnerabilityAnalysis, tmp_path: Path) -> None:
    decisions = Decisions(decisions={
        KEV_ID: Decision(status="mitigated", justification="3.0.8 shipped"),
        "VULN-CVE-2099-1001@pump": Decision(
            status="false_positive",
            justification="Code not reachable: the template function is never called"),
        "VULN-CVE-2099-1002@pump": Decision(status="accepted",
                                            justification="protected at perimeter by proxy"),
        "VULN-PYSEC-2099-0008@pump": Decision(status="in_progress"),
    })
    register = assess_vulnerabilities(vulns, decisions=decisions)
    doc = vex_document(register)
    states = {v["bom-ref"]: v["analysis"] for v in doc["vulnerabilities"]}
    assert states[KEV_ID]["state"] == "resolved"
    assert states["VULN-CVE-2099-1001@pump"] == {
        "state": "not_affected", "justification": "code_not_reachable",
        "detail": "Code not reachable: the template function is never called"}
    assert states["VULN-CVE-2099-1002@pump"]["state"] == "not_affected"
    assert states["VULN-CVE-2099-1002@pump"]["justification"] == "protected_at_perimeter"
    assert states["VULN-PYSEC-2099-0008@pump"]["state"] == "exploitable"
    # No decision: the input VEX statement is passed on.
    assert states["VULN-CVE-2099-1005@pump"] == {"state": "exploitable"}
    kev_entry = next(v for v in doc["vulnerabilities"] if v["bom-ref"] == KEV_ID)
    assert {"name": "medthreat:known_exploited", "value": "true"} in kev_entry["properties"]
    assert kev_entry["affects"][0]["versions"] == [
        {"version": "3.0.7", "status": "affected"}, {"version": "3.0.8", "status": "unaffected"}]
    text = vex_json(register)
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(text) is None
    # Deterministic: same input, same bytes; no timestamp unless given.
    assert vex_json(assess_vulnerabilities(vulns, decisions=decisions)) == text
    assert "timestamp" not in doc["metadata"]
    stamped = vex_document(register, timestamp="2026-11-30T00:00:00Z")
    assert stamped["metadata"]["timestamp"] == "2026-11-30T00:00:00Z"
    assert stamped["serialNumber"] != doc["serialNumber"]
    undecided = vex_document(assess_vulnerabilities(vulns))
    assert undecided["serialNumber"] != doc["serialNumber"]
    assert {v["analysis"]["state"] for v in undecided["vulnerabilities"]} == {
        "in_triage", "exploitable"}
    out = write_vex(register, tmp_path / "vex.json")
    assert out.read_text(encoding="utf-8") == text


def test_accepted_without_a_justification_code_stays_exploitable(
        vulns: VulnerabilityAnalysis) -> None:
    decisions = Decisions(decisions={KEV_ID: Decision(status="accepted",
                                                      justification="business decision")})
    doc = vex_document(assess_vulnerabilities(vulns, decisions=decisions))
    entry = next(v for v in doc["vulnerabilities"] if v["bom-ref"] == KEV_ID)
    assert entry["analysis"] == {"state": "exploitable", "response": ["will_not_fix"],
                                 "detail": "business decision"}


def test_gate_without_advisories_is_the_decision_check(analysis: mt.Analysis) -> None:
    from medthreat.lifecycle import check

    register = mt.risk.assess(analysis)
    decisions = Decisions()
    expected = check(decisions, [f.id for f in analysis.findings],
                     unacceptable=[a.id for a in register.unacceptable()])
    got = gate_issues(register, decisions)
    assert [(i.code, i.finding_id, i.message) for i in got] == [
        (i.code.value, i.finding_id, i.message) for i in expected]


def test_with_vulnerabilities_from_a_model_file(model: mt.Model, catalog: mt.Catalog,
                                                tmp_path: Path) -> None:
    import shutil

    from medthreat.model import save_model
    from medthreat.sbom import with_vulnerabilities

    shutil.copy(SBOMS / "pump.cdx.json", tmp_path / "pump.cdx.json")
    save_model(model, tmp_path / "model.yaml")
    loaded = mt.load_model(tmp_path / "model.yaml", catalog)
    result, register = with_vulnerabilities(mt.analyze(loaded, catalog), ADVISORIES,
                                            kev=SBOMS / "kev.json")
    assert sorted(result.by_finding) == sorted(assess_vulnerabilities(
        analyze_with_vulnerabilities(mt.analyze(model, catalog), load_advisories_matches(
            model))).analysis.by_finding)
    assert KEV_ID in {a.id for a in register}
    assert all("SBOM pump.cdx.json:" in f.why[0] for f in result.vulnerability_findings())


def load_advisories_matches(model: mt.Model) -> list[mt.sbom.VulnerabilityMatch]:
    return match_vulnerabilities(load_model_sboms(model, base=SBOMS), load_advisories(ADVISORIES),
                                 load_kev(SBOMS / "kev.json"))


def test_one_vulnerability_on_two_components(analysis: mt.Analysis) -> None:
    sboms = {"pump": load_sbom(SBOMS / "pump.cdx.json"), "app": load_sbom(SBOMS / "pump.cdx.xml")}
    found = match_vulnerabilities(sboms, load_advisories(ADVISORIES[2:3]),
                                  load_kev(SBOMS / "kev.json"))
    assert [(m.component_id, m.vulnerability_id) for m in found] == [
        ("app", "CVE-2099-1003"), ("pump", "CVE-2099-1003")]
    result = analyze_with_vulnerabilities(analysis, found)
    assert sorted(result.by_finding) == ["VULN-CVE-2099-1003@app", KEV_ID]
    issues = gate_issues(assess_vulnerabilities(result))
    assert {i.finding_id for i in issues if i.code == "kev_not_fixed"} == set(result.by_finding)
    doc = vex_document(assess_vulnerabilities(result))
    assert [v["bom-ref"] for v in doc["vulnerabilities"]] == sorted(result.by_finding)
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(json.dumps(doc)) is None


def test_cyclonedx_vex_xml_reads_like_json() -> None:
    def key(advisories: list) -> list:
        return sorted((a.id, a.cvss_vector, a.cvss_score, a.cwes, a.vex_state,
                       a.vex_justification, a.vex_detail, a.affected, a.summary)
                      for a in advisories)

    xml = load_advisory_file(SBOMS / "supplier.vex.xml")
    assert {a.format for a in xml} == {"cyclonedx-vex"}
    assert key(xml) == key(load_advisory_file(SBOMS / "supplier.vex.json"))


def test_repr_stays_short(vulns: VulnerabilityAnalysis) -> None:
    assert repr(vulns).startswith("<Analysis 'Mini pump'")
    assert f"{len(vulns.findings)} findings" in repr(vulns)


def test_cvss_4_vector_rates_exploitability(analysis: mt.Analysis, tmp_path: Path) -> None:
    vector = "CVSS:4.0/AV:A/AC:L/AT:P/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N"
    advisory = tmp_path / "osv4.json"
    advisory.write_text(json.dumps({
        "id": "GHSA-test-v4v4-0001", "modified": "2099-01-01T00:00:00Z",
        "severity": [{"type": "CVSS_V4", "score": vector}],
        "affected": [{"package": {"ecosystem": "npm", "name": "lodash"},
                      "versions": ["4.17.20"]}]}), encoding="utf-8")
    found = match_vulnerabilities({"pump": load_sbom(SBOMS / "pump.cdx.json")},
                                  load_advisories([advisory]))
    assert [(m.vulnerability_id, m.cvss_vector) for m in found] == [
        ("GHSA-test-v4v4-0001", vector)]
    result = analyze_with_vulnerabilities(analysis, found)
    finding_id = "VULN-GHSA-TEST-V4V4-0001@pump"
    finding = result.finding(finding_id)
    assert finding is not None and finding.stride.value == "information_disclosure"
    rated = assess_vulnerabilities(result).get(finding_id)
    assert rated is not None and rated.exploitability.rank == cvss_exploitability(vector)[0]
    entry = vex_document(assess_vulnerabilities(result))["vulnerabilities"][0]
    assert entry["ratings"][0]["method"] == "CVSSv4"
