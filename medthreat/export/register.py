"""The assessed risk register as JSON, CSV and a Markdown section: highest residual risk first."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .._yaml import dump_json
from ..risk import RiskRegister
from ._text import csv_text
from ._text import markdown_cell as cell

FORMAT = "medthreat-register/1"

CSV_COLUMNS = (
    "id", "dimension", "goal", "attack_vector", "exploitability", "impact_scale", "impact",
    "risk", "acceptability", "counted_controls", "planned_controls", "exploitability_post",
    "impact_post", "residual_risk", "acceptability_post", "multi_patient", "safety_transfer",
    "status", "decision_key", "justification", "exploitability_factors", "impact_factors",
)


def register_json(register: RiskRegister) -> str:
    """Policy identity, counts and every assessment, as stable JSON text."""
    policy = register.policy
    doc: dict[str, Any] = {
        "format": FORMAT,
        "policy": {"id": policy.id, "version": policy.version, "title": policy.title},
        "counts": {
            "pre": dict(sorted(Counter(a.risk.level.id for a in register).items())),
            "post": dict(sorted(Counter(a.residual.level.id for a in register).items())),
            "unacceptable_post": len(register.unacceptable()),
        },
        "register": register.to_records(),
    }
    return dump_json(doc)


def register_csv(register: RiskRegister) -> str:
    """One row per finding in register order; list cells joined with ``; ``."""
    return csv_text(register.to_records(), CSV_COLUMNS)


def risk_markdown(register: RiskRegister, top: int = 15) -> str:
    """Pre/post risk matrix counts for patient harm and the highest residual risks."""
    policy = register.policy
    exp_levels = [lv.id for lv in policy.levels("exploitability")]
    sev_levels = [lv.id for lv in policy.levels("severity")]
    lines = ["## Risk (policy " + cell(f"{policy.id} {policy.version}") + ")", ""]
    by_dim = Counter((a.dimension, a.residual.acceptability.value) for a in register)
    lines += ["| Impact on | Acceptable | Review | Unacceptable (residual) |",
              "|---|---:|---:|---:|"]
    for dim in ("safety", "privacy", "business"):
        lines.append(f"| {dim} | {by_dim[(dim, 'acceptable')]} | {by_dim[(dim, 'review')]} | "
                     f"{by_dim[(dim, 'unacceptable')]} |")
    for title, pick in (("before", lambda a: (a.exploitability.level, a.impact.level)),
                        ("after", lambda a: (a.exploitability_post.level, a.impact_post.level))):
        counts = Counter(pick(a) for a in register if a.dimension == "safety")
        lines += ["", f"Patient-harm findings {title} controls (exploitability x severity):", "",
                  "| exploitability \\ severity | " + " | ".join(sev_levels) + " |",
                  "|---|" + "---:|" * len(sev_levels)]
        for e in reversed(exp_levels):
            lines.append(f"| {e} | " + " | ".join(str(counts[(e, s)]) for s in sev_levels) + " |")
    lines += ["", f"Highest residual risks (of {len(register)}):", "",
              "| Finding | Impact | Exploitability | Residual | Status |", "|---|---|---|---|---|"]
    for a in register.assessments[:top]:
        lines.append(f"| `{a.id}` | {a.dimension}: {a.impact_post.level} | "
                     f"{a.exploitability_post.level} ({a.attack_vector}) | "
                     f"{a.residual.level.id}, {a.residual.acceptability.value} | {a.status} |")
    return "\n".join(lines) + "\n"
