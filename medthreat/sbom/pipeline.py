"""One-call helpers for the command line: SBOM check text, and analysis plus advisories."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .advisories import load_advisories, load_kev, match_vulnerabilities
from .findings import VulnerabilityAnalysis, analyze_with_vulnerabilities, assess_vulnerabilities
from .sbom import load_model_sboms, ntia_check

if TYPE_CHECKING:
    from ..engine import Analysis
    from ..lifecycle import Decisions
    from ..model import Model
    from ..risk import RiskPolicy, RiskRegister

__all__ = ["sbom_check_lines", "with_vulnerabilities"]

PathLike = str | os.PathLike[str]


def sbom_check_lines(model: Model, *, base: PathLike | None = None,
                     today: dt.date | None = None) -> tuple[list[str], int]:
    """Text of ``medthreat sbom check``: per model component, its SBOM and what it lacks.

    Returns the lines and the number of problems (NTIA minimum elements, support level and
    end of support); components without an SBOM are listed once at the end.
    """
    sboms = load_model_sboms(model, base=base)
    lines: list[str] = []
    total = 0
    for component_id, sbom in sboms.items():
        problems = ntia_check(sbom, today=today)
        total += len(problems)
        state = "complete" if not problems else f"{len(problems)} problem(s)"
        lines.append(f"{component_id}: {sbom.label} (CycloneDX {sbom.spec_version}, "
                     f"{len(sbom)} components): {state}")
        for p in problems:
            lines.append(f"  [{p.code}] {p.path}: {p.message}")
        for c in sbom.components:
            end = c.end_of_support.isoformat() if c.end_of_support else "no date"
            lines.append(f"  - {c.label}: support {c.support_level or 'not stated'}, "
                         f"end of support {end}")
    missing = sorted(c.id for c in model.components if not c.sbom and not c.out_of_scope)
    if missing:
        lines.append(f"no SBOM named for {len(missing)} component(s): {', '.join(missing)}")
    return lines, total


def with_vulnerabilities(analysis: Analysis, advisories: Sequence[PathLike], *,
                         kev: PathLike | None = None, policy: RiskPolicy | None = None,
                         decisions: Decisions | None = None, base: PathLike | None = None,
                         ) -> tuple[VulnerabilityAnalysis, RiskRegister]:
    """Load the model's SBOMs and the advisory files, add the vulnerability findings and
    assess: the analysis and register ``analyze``, ``gate`` and ``vex`` work on."""
    sboms = load_model_sboms(analysis.model, base=base)
    kev_ids = load_kev(Path(kev)) if kev else frozenset()
    matches = match_vulnerabilities(sboms, load_advisories(advisories), kev_ids)
    result = analyze_with_vulnerabilities(analysis, matches)
    return result, assess_vulnerabilities(result, policy, decisions)
