"""A Markdown summary of an analysis, for a pull request or a change record."""

from __future__ import annotations

from collections import Counter

from ..catalog import Stride
from ..engine import Analysis
from ._text import markdown_cell as cell


def summary_markdown(analysis: Analysis) -> str:
    """Counts by STRIDE category and element, then every specific finding with its reason."""
    model = analysis.model
    findings = analysis.findings
    specific = [f for f in findings if not f.baseline]
    lines = [
        f"# Threat model summary: {cell(model.system.name)}"
        + (f" {cell(model.system.version)}" if model.system.version else ""),
        "",
        f"{len(model.components)} components, {len(model.actors)} actors, "
        f"{len(model.flows)} flows, {len(model.boundaries)} trust boundaries.",
        f"{len(findings)} findings: {len(specific)} from specific catalog threats, "
        f"{len(findings) - len(specific)} generic STRIDE-per-element baseline findings.",
        "",
        "## Findings by STRIDE category",
        "",
        "| Category | Specific | Baseline | Total |",
        "|---|---:|---:|---:|",
    ]
    spec_counts = Counter(f.stride for f in specific)
    all_counts = Counter(f.stride for f in findings)
    for s in Stride:
        label = s.value.replace("_", " ").capitalize()
        lines.append(f"| {s.letter} {label} | {spec_counts[s]} | "
                     f"{all_counts[s] - spec_counts[s]} | {all_counts[s]} |")
    lines += ["", "## Findings by element", "",
              "| Element | Kind | " + " | ".join(s.letter for s in Stride) + " |",
              "|---|---|" + "---:|" * len(Stride)]
    per_element: dict[str, Counter[Stride]] = {}
    kinds: dict[str, str] = {}
    for f in specific:
        per_element.setdefault(f.element_id, Counter())[f.stride] += 1
        kinds[f.element_id] = f.element_kind.value.replace("_", " ")
    for element_id in sorted(per_element):
        counts = per_element[element_id]
        lines.append(f"| {cell(element_id)} | {kinds[element_id]} | "
                     + " | ".join(str(counts[s]) for s in Stride) + " |")
    lines += ["", "## Specific findings", "",
              "| Finding | STRIDE | Title | Why | Applied controls |", "|---|---|---|---|---|"]
    for f in specific:
        applied = ", ".join(f"{a.control} ({a.status})" for a in f.applied_controls) or "-"
        lines.append(f"| `{f.id}` | {f.stride.letter} | {cell(f.title)} | "
                     f"{cell('; '.join(f.why))} | {cell(applied)} |")
    return "\n".join(lines) + "\n"
