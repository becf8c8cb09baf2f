"""CycloneDX VEX export: what the manufacturer says about each vulnerability finding.

One CycloneDX 1.5 ``vulnerabilities`` entry per vulnerability finding (vulnerability x model
component), its analysis taken from the finding's decision:

==========================  =========================================================
decision                    CycloneDX analysis
==========================  =========================================================
none                        the VEX state of the input advisories, else ``in_triage``
open, in_progress           ``exploitable`` (response ``update`` when a fix exists)
mitigated                   ``resolved`` (response ``update``)
avoided                     ``resolved`` (the feature or component was designed out)
false_positive              ``not_affected``, justification code from the text
accepted, transferred       ``not_affected`` when the justification names a CycloneDX
                            justification code, else ``exploitable`` with response
                            ``will_not_fix`` (accepted) or ``workaround_available``
==========================  =========================================================

The decision's justification goes into ``analysis.detail``. Output is deterministic: no
timestamp unless one is passed, and the serial number is derived from the content.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._yaml import atomic_write

if TYPE_CHECKING:
    from ..risk import Assessment, RiskRegister
    from .advisories import VulnerabilityMatch

__all__ = ["JUSTIFICATIONS", "analysis_of", "vex_document", "vex_json", "write_vex"]

#: CycloneDX 1.5 impact analysis justification codes.
JUSTIFICATIONS = (
    "code_not_present", "code_not_reachable", "requires_configuration", "requires_dependency",
    "requires_environment", "protected_by_compiler", "protected_at_runtime",
    "protected_at_perimeter", "protected_by_mitigating_control",
)
_SPEC = "1.5"


def _justification_code(text: str) -> str:
    low = text.lower()
    return next((code for code in JUSTIFICATIONS
                 if code in low or code.replace("_", " ") in low), "")


def analysis_of(assessment: Assessment | None, matches: list[VulnerabilityMatch]
                ) -> dict[str, Any]:
    """The CycloneDX ``analysis`` object of one vulnerability finding (see the module doc)."""
    fixed = any(m.fixed_versions for m in matches)
    resolved = assessment.decision if assessment is not None else None
    if resolved is None:
        vex = next((m for m in matches if m.vex_state), None)
        if vex is None:
            return {"state": "in_triage"}
        out: dict[str, Any] = {"state": vex.vex_state}
        if vex.vex_justification:
            out["justification"] = vex.vex_justification
        if vex.vex_detail:
            out["detail"] = vex.vex_detail
        return out
    decision = resolved.decision
    status = decision.status.value
    text = decision.justification.strip()
    code = _justification_code(text)
    if status in ("open", "in_progress"):
        out = {"state": "exploitable"}
        if fixed:
            out["response"] = ["update"]
    elif status == "mitigated":
        out = {"state": "resolved", "response": ["update"]}
    elif status == "avoided":
        out = {"state": "resolved"}
    elif status == "false_positive" or code:
        out = {"state": "not_affected"}
        if code:
            out["justification"] = code
    else:
        out = {"state": "exploitable",
               "response": ["will_not_fix" if status == "accepted" else "workaround_available"]}
    if text:
        out["detail"] = text
    return out


def _severity(score: float | None) -> str:
    if score is None:
        return "unknown"
    for floor, name in ((9.0, "critical"), (7.0, "high"), (4.0, "medium"), (0.1, "low")):
        if score >= floor:
            return name
    return "none"


def _rating(match: VulnerabilityMatch) -> dict[str, Any]:
    vector = match.cvss_vector
    method = ("CVSSv4" if vector.startswith("CVSS:4.0/") else
              "CVSSv31" if vector.startswith("CVSS:3.1/") else "CVSSv3")
    rating: dict[str, Any] = {"method": method, "vector": vector,
                              "severity": _severity(match.cvss_score)}
    if match.cvss_score is not None:
        rating["score"] = match.cvss_score
    return rating


def vex_document(register: RiskRegister, *, timestamp: str = "") -> dict[str, Any]:
    """A CycloneDX 1.5 VEX document (as a dict) for the vulnerability findings of
    ``register`` (whose analysis comes from
    :func:`~medthreat.sbom.analyze_with_vulnerabilities`).

    Components are the affected SBOM packages, with bom-refs ``<component id>:<SBOM bom-ref>``;
    ``timestamp`` (ISO 8601) is written only when given.
    """
    analysis = register.analysis
    by_finding: dict[str, list[VulnerabilityMatch]] = getattr(analysis, "by_finding", {})
    system = analysis.model.system
    components: dict[str, dict[str, Any]] = {}
    vulns = []
    for finding_id, matches in sorted(by_finding.items()):
        assessment = register.get(finding_id)
        first = matches[0]
        affects = []
        for m in matches:
            ref = f"{m.component_id}:{m.package.bom_ref or m.package.label}"
            entry: dict[str, Any] = {"type": "library", "bom-ref": ref, "name": m.package.name}
            if m.package.group:
                entry["group"] = m.package.group
            if m.package.version:
                entry["version"] = m.package.version
            if m.package.purl:
                entry["purl"] = m.package.purl
            components[ref] = entry
            versions = [{"version": m.package.version, "status": "affected"}]
            versions += [{"version": v, "status": "unaffected"} for v in m.fixed_versions]
            affects.append({"ref": ref, "versions": versions})
        vuln: dict[str, Any] = {"bom-ref": finding_id, "id": first.vulnerability_id}
        if first.aliases:
            vuln["references"] = [{"id": a, "source": {"name": _source_name(a)}}
                                  for a in first.aliases]
        if first.cvss_vector:
            vuln["ratings"] = [_rating(first)]
        if first.cwes:
            vuln["cwes"] = list(first.cwes)
        if first.summary:
            vuln["description"] = first.summary
        fixed = sorted({v for m in matches for v in m.fixed_versions})
        if fixed:
            vuln["recommendation"] = f"Update to {', '.join(fixed)} or later."
        vuln["analysis"] = analysis_of(assessment, matches)
        vuln["affects"] = sorted(affects, key=lambda a: a["ref"])
        props = [{"name": "medthreat:finding_id", "value": finding_id},
                 {"name": "medthreat:known_exploited", "value": str(
                     any(m.kev for m in matches)).lower()}]
        if assessment is not None:
            props.append({"name": "medthreat:residual_risk",
                          "value": assessment.residual.level.id})
        vuln["properties"] = props
        vulns.append(vuln)
    metadata: dict[str, Any] = {}
    if timestamp:
        metadata["timestamp"] = timestamp
    metadata["component"] = {"type": "device", "bom-ref": "medthreat:system",
                             "name": system.name, "version": str(system.version or "")}
    doc: dict[str, Any] = {"bomFormat": "CycloneDX", "specVersion": _SPEC, "version": 1,
                           "metadata": metadata,
                           "components": [components[k] for k in sorted(components)],
                           "vulnerabilities": vulns}
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
    doc = {"bomFormat": "CycloneDX", "specVersion": _SPEC,
           "serialNumber": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'medthreat:' + digest)}",
           **{k: v for k, v in doc.items() if k not in ("bomFormat", "specVersion")}}
    return doc


def _source_name(vid: str) -> str:
    upper = vid.upper()
    if upper.startswith("CVE-"):
        return "NVD"
    if upper.startswith("GHSA-"):
        return "GitHub"
    return upper.split("-", 1)[0] or "advisory"


def vex_json(register: RiskRegister, *, timestamp: str = "") -> str:
    """:func:`vex_document` as JSON text (two-space indent, trailing newline)."""
    return json.dumps(vex_document(register, timestamp=timestamp), indent=2,
                      ensure_ascii=False) + "\n"


def write_vex(register: RiskRegister, path: str | os.PathLike[str], *,
              timestamp: str = "") -> Path:
    """Write :func:`vex_json` to ``path`` atomically and return the path."""
    path = Path(path)
    atomic_write(path, vex_json(register, timestamp=timestamp))
    return path
