"""Findings as JSON and CSV, byte for byte the same for the same model and catalog."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .._yaml import atomic_write, dump_json
from ..engine import Analysis
from ..risk import RiskRegister
from ._text import cell_text, csv_text

FORMAT = "medthreat-findings/1"

CSV_COLUMNS = (
    "id", "threat_id", "stride", "title", "element_id", "element_name", "element_kind",
    "element_type", "source", "target", "why", "controls", "applied_controls", "references",
    "baseline",
)


def findings_json(analysis: Analysis) -> str:
    """The findings with system, catalog and summary information, as stable JSON text."""
    system = analysis.model.system
    doc: dict[str, Any] = {
        "format": FORMAT,
        "system": {"name": system.name, "version": system.version},
        "catalog": analysis.catalog.counts(),
        "summary": {
            "findings": len(analysis.findings),
            "specific": sum(1 for f in analysis.findings if not f.baseline),
            "by_stride": analysis.by_stride(),
        },
        "findings": analysis.to_records(),
    }
    return dump_json(doc)


def findings_csv(analysis: Analysis) -> str:
    """One row per finding; list cells joined with ``; ``; formula-like text defused."""

    def cell(column: str, value: Any) -> str:
        if column == "applied_controls":
            return "; ".join(f"{a['control']} ({a['status']})" for a in value)
        return cell_text(value)

    return csv_text(analysis.to_records(), CSV_COLUMNS, cell)


def write_findings(analysis: Analysis, out_dir: str | os.PathLike[str],
                   register: RiskRegister | None = None) -> list[Path]:
    """Write findings.json, findings.csv, summary.md and the data-flow diagram (dfd.dot, and
    dfd.svg where Graphviz is installed) into ``out_dir``; with a risk ``register`` also
    register.xlsx (the Excel risk register), register.json and register.csv, and a risk section
    in summary.md. Return the paths."""
    from .markdown import summary_markdown

    out = Path(out_dir)
    summary = summary_markdown(analysis)
    files = {
        "findings.json": findings_json(analysis),
        "findings.csv": findings_csv(analysis),
    }
    if register is not None:
        from .register import register_csv, register_json, risk_markdown

        files["register.json"] = register_json(register)
        files["register.csv"] = register_csv(register)
        summary += "\n" + risk_markdown(register)
    files["summary.md"] = summary
    from .diagram import dfd_dot, dfd_svg

    dot = dfd_dot(analysis.model, analysis)
    files["dfd.dot"] = dot
    svg = dfd_svg(dot)
    if svg is not None:
        files["dfd.svg"] = svg
    written = []
    for name, text in files.items():
        atomic_write(out / name, text)
        written.append(out / name)
    if register is not None:
        from .excel import write_register

        written.insert(2, write_register(register, out / "register.xlsx"))
    return written
