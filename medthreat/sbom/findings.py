"""Vulnerability matches as findings of the analysis, rated in the register and gated.

Each vulnerability that affects an SBOM component of a model component becomes one finding
``VULN-<ID>@<component>`` (all affected packages of the component together). Its threat is
synthetic, built from the advisory: STRIDE from the CWE ids or the CVSS impact, references to
the vulnerability ids, CWEs as references, and the catalog's patch and vulnerability
management controls. The findings join the analysis (and a copy of its catalog that holds their
threats), so the register, the Excel workbook, findings.json and the report treat them like any
other finding.

:func:`assess_vulnerabilities` rates them with the CVSS vector of the advisory, exactly as if
the vector had been recorded in the finding's decision. :func:`gate_issues` adds the known
exploited vulnerability rule to the decision policy check.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..catalog import Catalog, ElementKind, Stride, Threat
from ..engine import Analysis, Finding
from ..engine import Subject as _Subject
from ..errors import Problem
from ..rules import Node
from .advisories import VulnerabilityMatch

if TYPE_CHECKING:
    from ..lifecycle import Decisions
    from ..risk import RiskPolicy, RiskRegister

__all__ = [
    "VULNERABILITY_CONTROLS",
    "GateIssue",
    "VulnerabilityAnalysis",
    "analyze_with_vulnerabilities",
    "assess_vulnerabilities",
    "gate_issues",
    "vulnerability_threat_id",
]

#: Catalog controls suggested for every vulnerability finding (those the catalog has).
VULNERABILITY_CONTROLS = ("CTL-PATCH-MANAGEMENT", "CTL-VULN-MGMT-SBOM",
                          "CTL-SECURE-UPDATE-DELIVERY")

_CWE_STRIDE: dict[Stride, frozenset[int]] = {
    Stride.spoofing: frozenset({287, 290, 294, 295, 297, 306, 307, 346, 798, 1390}),
    Stride.information_disclosure: frozenset({200, 201, 203, 209, 312, 319, 326, 327, 359,
                                              532, 538, 548, 1295}),
    Stride.denial_of_service: frozenset({400, 401, 404, 674, 770, 772, 789, 834, 835, 1050,
                                         1333}),
    Stride.elevation_of_privilege: frozenset({22, 77, 78, 94, 95, 119, 120, 122, 125, 190, 250,
                                              269, 276, 284, 416, 502, 732, 787, 862, 863,
                                              917, 1321}),
    Stride.repudiation: frozenset({117, 778}),
    Stride.tampering: frozenset({20, 74, 79, 89, 345, 347, 352, 354, 494, 601, 611, 918}),
}
_ORDER = (Stride.elevation_of_privilege, Stride.spoofing, Stride.tampering,
          Stride.information_disclosure, Stride.denial_of_service, Stride.repudiation)


def vulnerability_threat_id(vulnerability_id: str) -> str:
    """``VULN-`` and the id in capitals with other characters as dashes (a valid threat id)."""
    body = re.sub(r"[^A-Z0-9]+", "-", vulnerability_id.upper()).strip("-") or "UNKNOWN"
    return f"VULN-{body}"


def _stride(match: VulnerabilityMatch) -> tuple[Stride, str]:
    for stride in _ORDER:
        hit = sorted(set(match.cwes) & _CWE_STRIDE[stride])
        if hit:
            return stride, f"CWE-{hit[0]}"
    if match.cvss_vector:
        metrics = dict(p.split(":", 1) for p in match.cvss_vector.split("/")[1:] if ":" in p)
        c = metrics.get("C", metrics.get("VC", "N")) != "N"
        i = metrics.get("I", metrics.get("VI", "N")) != "N"
        a = metrics.get("A", metrics.get("VA", "N")) != "N"
        if c and not i and not a:
            return Stride.information_disclosure, "CVSS: confidentiality impact only"
        if a and not c and not i:
            return Stride.denial_of_service, "CVSS: availability impact only"
        if c and i:
            return Stride.elevation_of_privilege, "CVSS: confidentiality and integrity impact"
    return Stride.tampering, "default for a software vulnerability"


def _cvss_threat_fields(vector: str) -> dict[str, Any]:
    """Threat attack attributes from a CVSS vector (used when CVSS does not replace them)."""
    metrics = dict(p.split(":", 1) for p in vector.split("/")[1:] if ":" in p)
    out: dict[str, Any] = {}
    av = {"A": "adjacent", "L": "local", "P": "physical"}.get(metrics.get("AV", ""))
    if av:
        out["attack_vector"] = av
    pr = {"N": "none", "L": "low", "H": "high"}.get(metrics.get("PR", ""))
    if pr:
        out["privileges"] = pr
    if metrics.get("UI", "N") != "N":
        out["user_interaction"] = True
    if metrics.get("AC") == "H" or metrics.get("AT") == "P":
        out["complexity"] = "high"
    return out


class _Matched(Node):
    """The 'why' of a vulnerability finding; never matches in the engine itself."""

    def __init__(self, lines: list[str]) -> None:
        self.text = "advisory match"
        self.lines = lines
        self.test = lambda ctx: False
        self.paths = frozenset()

    def explain(self, ctx: Any) -> list[str]:
        return list(self.lines)


@dataclass(repr=False)  # keep the short repr of Analysis
class VulnerabilityAnalysis(Analysis):
    """An :class:`~medthreat.engine.Analysis` with vulnerability findings and their matches."""

    matches: list[VulnerabilityMatch] = field(default_factory=list, repr=False)
    by_finding: dict[str, list[VulnerabilityMatch]] = field(default_factory=dict, repr=False)

    def vulnerability_findings(self) -> list[Finding]:
        """The findings that come from advisories, in finding order."""
        return [f for f in self.findings if f.id in self.by_finding]


def _threat(vid: str, matches: list[VulnerabilityMatch], kind: ElementKind,
            catalog: Catalog) -> Threat:
    first = matches[0]
    stride, stride_why = _stride(first)
    packages = sorted({m.package.label for m in matches})
    fixed = sorted({v for m in matches for v in m.fixed_versions})
    controls = [c for c in VULNERABILITY_CONTROLS if c in catalog.controls]
    summary = first.summary.strip() or f"Known vulnerability {vid}."
    description = (f"{summary} Affected: {', '.join(packages)}."
                   + (" Listed in CISA's Known Exploited Vulnerabilities catalog." if
                      any(m.kev for m in matches) else ""))
    mitigation = (f"Update to a fixed version ({', '.join(fixed)})." if fixed else
                  "No fixed version is named by the advisories; apply vendor guidance or "
                  "compensating controls.")
    threat = Threat(
        id=vulnerability_threat_id(vid), title=f"Known vulnerability {vid} in "
        f"{', '.join(packages)}"[:200], stride=stride, applies_to=[kind],
        description=description, mitigation=mitigation, controls=controls,
        references=[f"CWE:{n}" for n in first.cwes],
        detection=f"STRIDE category from {stride_why}.",
        **(_cvss_threat_fields(first.cvss_vector) if first.cvss_vector else {}))
    # Vulnerability ids are not catalog frameworks; they are added after validation.
    ids = list(dict.fromkeys(first.ids))
    return threat.model_copy(update={"references": [*ids, *threat.references]})


def analyze_with_vulnerabilities(analysis: Analysis,
                                 matches: Iterable[VulnerabilityMatch], *,
                                 include_resolved: bool = False) -> VulnerabilityAnalysis:
    """``analysis`` plus one finding per (vulnerability, model component) of ``matches``.

    Matches whose VEX state says not affected, resolved or false positive are left out unless
    ``include_resolved``; matches on components that are out of scope or unknown are left out.
    Findings stay in the engine's order (element id, STRIDE, threat id); the returned
    analysis holds a copy of the catalog with the synthetic threats (the original catalog is
    not changed).
    """
    matches = sorted(matches, key=lambda m: (m.component_id, m.vulnerability_id,
                                             m.package.bom_ref, m.package.version))
    catalog = analysis.catalog
    model = analysis.model
    components = {c.id: c for c in model.components if not c.out_of_scope}
    subjects = {f.subject.id: f.subject for f in analysis.findings}
    grouped: dict[tuple[str, str], list[VulnerabilityMatch]] = {}
    for m in matches:
        if m.component_id in components and (include_resolved or not m.resolved_by_vex):
            grouped.setdefault((m.component_id, m.vulnerability_id), []).append(m)
    applied = {}
    for ac in model.controls:
        applied.setdefault(ac.control, []).append(ac)
    threats: dict[str, Threat] = {}
    conditions: dict[str, Node] = {}
    extra: list[Finding] = []
    by_finding: dict[str, list[VulnerabilityMatch]] = {}
    for (component_id, vid), group in sorted(grouped.items()):
        c = components[component_id]
        kind = catalog.component_types[c.type].kind
        threat = _threat(vid, group, kind, catalog)
        existing = threats.get(threat.id)
        if existing is not None and existing.stride is not threat.stride:
            # One vulnerability, one STRIDE category (the report counts by catalog threat);
            # each finding keeps its own packages in title and description.
            threat = threat.model_copy(update={"stride": existing.stride})
        threats.setdefault(threat.id, threat)
        subject = subjects.get(component_id) or _Subject(
            component_id, c.name or component_id, kind, c.type, "", "", (component_id,))
        lines = [f"SBOM {m.sbom_file}: {m.package.label} is affected by {vid}"
                 + (f" (fixed in {', '.join(m.fixed_versions)})" if m.fixed_versions else "")
                 + (f"; advisories: {', '.join(m.sources)}" if m.sources else "")
                 for m in group]
        if any(m.kev for m in group):
            lines.append(f"{vid} is in the CISA Known Exploited Vulnerabilities catalog")
        refs = tuple(
            _ref(ac) for control in threat.controls
            for ac in applied.get(control, ()) if not ac.targets or component_id in ac.targets)
        finding = Finding(threat, subject, refs, _Matched(lines))
        extra.append(finding)
        by_finding[finding.id] = group
        conditions.setdefault(threat.id, _Matched([]))
    new_catalog = dataclasses.replace(
        catalog, threats={**catalog.threats, **threats},
        conditions={**catalog.conditions, **conditions})
    findings = sorted([*analysis.findings, *extra],
                      key=lambda f: (f.subject.id, f.threat.stride.order, f.threat.id))
    return VulnerabilityAnalysis(model=model, catalog=new_catalog, findings=findings,
                                 facts=analysis.facts, matches=list(matches),
                                 by_finding=by_finding)


def _ref(ac: Any) -> Any:
    from ..engine import AppliedControlRef

    return AppliedControlRef(ac.control, ac.status.value, ac.evidence)


def assess_vulnerabilities(analysis: Analysis, policy: RiskPolicy | None = None,
                           decisions: Decisions | None = None) -> RiskRegister:
    """:func:`medthreat.risk.assess`, with each vulnerability finding's exploitability taken
    from its advisory's CVSS vector (unless its decision records a vector of its own).

    Works through the decisions: the finding is rated as if its decision carried the vector.
    The register keeps the real decisions (``None`` where there is none).
    """
    from ..lifecycle import Decision, Decisions, DecisionStatus
    from ..risk import assess

    by_finding = getattr(analysis, "by_finding", {})
    overlay = dict(decisions.decisions) if decisions is not None else {}
    real = decisions.resolve(by_finding) if decisions is not None else {}
    changed = False
    for finding_id, group in sorted(by_finding.items()):
        vector = next((m.cvss_vector for m in group if m.cvss_vector), "")
        if not vector:
            continue
        resolved = real.get(finding_id)
        if resolved is None:
            overlay[finding_id] = Decision(status=DecisionStatus.open, cvss=vector)
        elif not resolved.decision.cvss:
            overlay[finding_id] = resolved.decision.model_copy(update={"cvss": vector})
        else:
            continue
        changed = True
    if not changed:
        return assess(analysis, policy, decisions)
    register = assess(analysis, policy, Decisions(decisions=overlay))
    register.assessments = [
        dataclasses.replace(a, decision=real.get(a.id)) if a.id in by_finding else a
        for a in register.assessments]
    register.decisions = decisions
    return register


@dataclass(frozen=True, order=True)
class GateIssue(Problem):
    """A gate problem: a decision policy issue or a known exploited vulnerability not fixed."""

    code: str = ""
    key: str = ""
    finding_id: str = ""


def gate_issues(register: RiskRegister, decisions: Decisions | None = None,
                ) -> list[GateIssue]:
    """Everything that fails the release gate, in order.

    First the issues of :func:`medthreat.lifecycle.check` (unacceptable residual risks need a
    justified decision, blank justifications, orphans), with every known exploited
    vulnerability counted as unacceptable; then ``kev_not_fixed`` for each known exploited
    vulnerability whose decision is not ``mitigated`` (fixed) or ``false_positive`` with a
    justification (not affected). Accepting or transferring a known exploited vulnerability
    does not pass: it has to be designed out.
    """
    from ..lifecycle import Decisions, DecisionStatus, check

    decisions = decisions if decisions is not None else (register.decisions or Decisions())
    analysis = register.analysis
    by_finding = getattr(analysis, "by_finding", {})
    kev = sorted(fid for fid, group in by_finding.items() if any(m.kev for m in group))
    unacceptable = sorted({a.id for a in register.unacceptable()} | set(kev))
    issues = [GateIssue(i.file, i.line, i.path, i.message, i.code.value, i.key, i.finding_id)
              for i in check(decisions, [f.id for f in analysis.findings],
                             unacceptable=unacceptable)]
    for finding_id in kev:
        resolved = decisions.resolve_one(finding_id)
        if resolved is not None and (
                resolved.status is DecisionStatus.mitigated or
                (resolved.status is DecisionStatus.false_positive and
                 resolved.decision.justified)):
            continue
        state = "has no decision" if resolved is None else f"is {resolved.status.value!r}"
        issues.append(GateIssue(decisions.source_file, None, finding_id,
                                f"known exploited vulnerability {finding_id} {state}; it must "
                                "be fixed (decision 'mitigated' once the fixed version ships) "
                                "or shown not to apply ('false_positive' with a "
                                "justification)", "kev_not_fixed",
                                resolved.key if resolved else "", finding_id))
    return issues
