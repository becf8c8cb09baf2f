"""Findings as JSON and CSV, byte for byte the same for the same model and catalog.

``findings.json`` (format ``medthreat-findings/2``) is described by the JSON Schema
``medthreat/schemas/findings.schema.json`` (:func:`findings_schema`). Written with a risk
register, every finding carries its row of the register
(:func:`~medthreat.export.register.register_record`) as its ``register`` object and the
document names the risk policy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from .._runtime import gc_paused
from .._yaml import atomic_write
from ..engine import Analysis
from ..risk import RiskRegister
from ._text import cell_text, csv_text
from .register import RecordContext, json_chunks, register_record, write_chunks

__all__ = [
    "CSV_COLUMNS",
    "FORMAT",
    "findings_chunks",
    "findings_csv",
    "findings_json",
    "findings_schema",
    "write_findings",
    "write_findings_json",
]

FORMAT = "medthreat-findings/2"

CSV_COLUMNS = (
    "id", "threat_id", "stride", "title", "element_id", "element_name", "element_kind",
    "element_type", "source", "target", "why", "controls", "applied_controls", "references",
    "baseline",
)


def findings_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``findings.json``, as shipped with medthreat."""
    text = resources.files("medthreat.schemas").joinpath("findings.schema.json").read_text(
        encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def findings_chunks(analysis: Analysis, register: RiskRegister | None = None,
                    ) -> Iterator[str]:
    """The text of :func:`findings_json` piece by piece, one finding at a time, so a large
    analysis is written without holding every record in memory."""
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
    }
    if register is None:
        return json_chunks(doc, "findings", (f.to_dict() for f in analysis.findings))
    policy = register.policy
    doc["policy"] = {"id": policy.id, "version": policy.version, "title": policy.title}
    context = RecordContext.of(register)
    by_id = {a.id: a for a in register}
    missing = [f.id for f in analysis.findings if f.id not in by_id]
    if missing:
        raise ValueError(f"the register does not assess {len(missing)} finding(s) of the "
                         f"analysis, e.g. {missing[0]}; assess this analysis")

    def records() -> Iterator[dict[str, Any]]:
        for f in analysis.findings:
            record = f.to_dict()
            record["register"] = register_record(by_id[f.id], context)
            yield record

    return json_chunks(doc, "findings", records())


def findings_json(analysis: Analysis, register: RiskRegister | None = None) -> str:
    """The findings with system, catalog and summary information, as stable JSON text.

    With a ``register`` (an assessment of this analysis) every finding also carries its row of
    the risk register as ``register`` (every column of the Excel *Risk Register* sheet, typed)
    and the document names the risk ``policy``.
    """
    with gc_paused():
        return "".join(findings_chunks(analysis, register))


def write_findings_json(analysis: Analysis, path: str | os.PathLike[str],
                        register: RiskRegister | None = None) -> Path:
    """Stream :func:`findings_json` into ``path`` (atomically: a temporary file beside it is
    renamed over it) and return the path; memory stays flat however many findings there are."""
    return write_chunks(path, findings_chunks(analysis, register))


def findings_csv(analysis: Analysis) -> str:
    """One row per finding; list cells joined with ``; ``; formula-like text defused."""

    def cell(column: str, value: Any) -> str:
        if column == "applied_controls":
            return "; ".join(f"{a['control']} ({a['status']})" for a in value)
        return cell_text(value)

    with gc_paused():
        return csv_text(analysis.to_records(), CSV_COLUMNS, cell)


def write_findings(analysis: Analysis, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write what an analysis without a risk assessment documents into ``out_dir``:
    findings.json, findings.csv, summary.md and the data-flow diagram (dfd.dot, and dfd.svg
    where Graphviz is installed). Return the paths. With an assessed register,
    :func:`medthreat.export.write_all` writes these and every other document."""
    from .diagram import dfd_dot, dfd_svg
    from .markdown import summary_markdown

    out = Path(out_dir)
    written = [write_findings_json(analysis, out / "findings.json")]
    dot = dfd_dot(analysis.model, analysis)
    files = {"findings.csv": findings_csv(analysis), "summary.md": summary_markdown(analysis),
             "dfd.dot": dot}
    svg = dfd_svg(dot)
    if svg is not None:
        files["dfd.svg"] = svg
    for name, text in files.items():
        atomic_write(out / name, text)
        written.append(out / name)
    return written
