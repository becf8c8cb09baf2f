"""SBOMs of model components, vulnerabilities from advisory files, and VEX export.

- :func:`load_sbom`, :func:`load_model_sboms`, :func:`ntia_check`: CycloneDX SBOMs and the
  NTIA minimum elements plus support level and end of support per component.
- :func:`load_advisories`, :func:`load_kev`, :func:`match_vulnerabilities`: OSV, CycloneDX
  VEX and CSAF 2.0 advisories and the CISA KEV catalog, matched by package URL and version.
- :func:`analyze_with_vulnerabilities`, :func:`assess_vulnerabilities`, :func:`gate_issues`:
  matches as findings in the analysis, the register (CVSS exploitability) and the gate (known
  exploited vulnerabilities must be fixed).
- :func:`vex_document`, :func:`write_vex`: CycloneDX VEX from the findings' decisions.

See docs/sbom.md.
"""

from .advisories import (
    Advisory,
    AffectedPackage,
    VulnerabilityMatch,
    load_advisories,
    load_advisory_file,
    load_kev,
    match_vulnerabilities,
    package_key,
)
from .findings import (
    VULNERABILITY_CONTROLS,
    GateIssue,
    VulnerabilityAnalysis,
    analyze_with_vulnerabilities,
    assess_vulnerabilities,
    gate_issues,
    vulnerability_threat_id,
)
from .pipeline import sbom_check_lines, with_vulnerabilities
from .sbom import (
    END_OF_SUPPORT,
    SUPPORT_LEVEL,
    SUPPORT_LEVELS,
    Sbom,
    SbomComponent,
    SbomProblem,
    load_model_sboms,
    load_sbom,
    ntia_check,
)
from .vex import JUSTIFICATIONS, analysis_of, vex_document, vex_json, write_vex

__all__ = [
    "END_OF_SUPPORT",
    "JUSTIFICATIONS",
    "SUPPORT_LEVEL",
    "SUPPORT_LEVELS",
    "VULNERABILITY_CONTROLS",
    "Advisory",
    "AffectedPackage",
    "GateIssue",
    "Sbom",
    "SbomComponent",
    "SbomProblem",
    "VulnerabilityAnalysis",
    "VulnerabilityMatch",
    "analysis_of",
    "analyze_with_vulnerabilities",
    "assess_vulnerabilities",
    "gate_issues",
    "load_advisories",
    "load_advisory_file",
    "load_kev",
    "load_model_sboms",
    "load_sbom",
    "match_vulnerabilities",
    "ntia_check",
    "package_key",
    "sbom_check_lines",
    "vex_document",
    "vex_json",
    "vulnerability_threat_id",
    "with_vulnerabilities",
    "write_vex",
]
