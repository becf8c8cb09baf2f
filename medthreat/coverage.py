"""Regulatory coverage: which framework requirements a model's controls and documents satisfy.

The catalog's ``frameworks`` section lists requirements (FDA premarket items and control
categories, IEC 81001-5-1 clauses, MDR, GDPR, CRA, RED, AI Act, MDCG 2019-16). A requirement is

- **covered** when an applied control that serves it is implemented or verified, or when
  medthreat produces one of the documents it names and the model holds what that document must
  show (``model_elements``: a threat model without trust boundaries does not show them);
- **planned** when the only controls serving it are planned;
- **missing** otherwise, with what is missing in words and catalog controls that would serve it.

A control serves a requirement when it cites one of the requirement's references (or a
sub-clause of one), belongs to one of its FDA categories, or is named in it. Cross-references
mean "serves the same purpose", not "satisfies the requirement" on their own: the coverage
matrix tells a reviewer where to look, the evidence still has to be read.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .catalog import (
    Catalog,
    Control,
    DocumentKind,
    Requirement,
    default_catalog,
    reference_covers,
)
from .model import Model

if TYPE_CHECKING:
    import pandas

__all__ = [
    "PRODUCED_DOCUMENTS",
    "Coverage",
    "RequirementCoverage",
    "coverage",
    "coverage_frame",
    "model_elements",
]

#: Documents medthreat generates from a model (analyze: findings, register, summary, diagram).
PRODUCED_DOCUMENTS: frozenset[DocumentKind] = frozenset({
    DocumentKind.threat_model,
    DocumentKind.risk_assessment,
    DocumentKind.risk_register,
    DocumentKind.traceability,
    DocumentKind.architecture_views,
})

_COUNTED = ("implemented", "verified")
_STATUS_RANK = {"planned": 0, "implemented": 1, "verified": 2}
_SUGGESTIONS = 5


@dataclass(frozen=True)
class RequirementCoverage:
    """One row of the coverage matrix."""

    framework: str
    requirement: str
    title: str
    status: str
    controls: tuple[str, ...] = ()
    planned: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    suggested: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON and tables (lists, not tuples)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass
class Coverage:
    """The coverage matrix of one model, in catalog order of frameworks and requirements."""

    system: str
    rows: list[RequirementCoverage] = field(default_factory=list)

    def __iter__(self) -> Iterator[RequirementCoverage]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def get(self, requirement_id: str) -> RequirementCoverage | None:
        """The row of one requirement, or None."""
        return next((r for r in self.rows if r.requirement == requirement_id), None)

    def summary(self) -> dict[str, dict[str, int]]:
        """Per framework, how many requirements are covered, planned and missing."""
        out: dict[str, dict[str, int]] = {}
        for row in self.rows:
            counts = out.setdefault(row.framework, {"covered": 0, "planned": 0, "missing": 0})
            counts[row.status] += 1
        return out

    def to_records(self) -> list[dict[str, Any]]:
        """Rows as plain dictionaries."""
        return [r.to_dict() for r in self.rows]

    def to_frame(self) -> pandas.DataFrame:
        """The matrix as a pandas DataFrame indexed by requirement id."""
        import pandas as pd

        columns = list(RequirementCoverage.__dataclass_fields__)
        return pd.DataFrame.from_records(self.to_records(), columns=columns).set_index(
            "requirement")

    def to_json(self) -> str:
        """Deterministic JSON: system, summary and rows."""
        data = {"system": self.system, "summary": self.summary(),
                "requirements": self.to_records()}
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def to_markdown(self) -> str:
        """A Markdown report: summary table, then one table per framework."""
        lines = [f"# Regulatory coverage: {_md(self.system)}", "",
                 "| framework | covered | planned | missing |", "|---|---:|---:|---:|"]
        for fw, counts in self.summary().items():
            lines.append(f"| {_md(fw)} | {counts['covered']} | {counts['planned']} | "
                         f"{counts['missing']} |")
        current = None
        for row in self.rows:
            if row.framework != current:
                current = row.framework
                lines += ["", f"## {_md(current)}", "",
                          "| requirement | title | status | satisfied by | missing |",
                          "|---|---|---|---|---|"]
            by = [*row.controls, *(f"{c} (planned)" for c in row.planned),
                  *(f"document: {d}" for d in row.documents)]
            missing = list(row.missing)
            if row.suggested:
                missing.append("candidate controls: " + ", ".join(row.suggested))
            lines.append(f"| {_md(row.requirement)} | {_md(row.title)} | {row.status} | "
                         f"{_md('; '.join(by))} | {_md('; '.join(missing))} |")
        return "\n".join(lines) + "\n"

    def to_text(self) -> str:
        """A plain-text table for the terminal."""
        width = max((len(r.requirement) for r in self.rows), default=11)
        lines: list[str] = []
        current = None
        for row in self.rows:
            if row.framework != current:
                current = row.framework
                lines.append(f"{current}:")
            by = [*row.controls, *(f"{c} (planned)" for c in row.planned), *row.documents]
            lines.append(f"  {row.requirement:<{width}}  {row.status:<7}  "
                         f"{', '.join(by) or '-'}")
            for item in row.missing:
                lines.append(f"  {'':<{width}}  missing: {item}")
            if row.suggested:
                lines.append(f"  {'':<{width}}  candidates: {', '.join(row.suggested)}")
        total = Counter(r.status for r in self.rows)
        lines.append(f"{len(self.rows)} requirements: {total['covered']} covered, "
                     f"{total['planned']} planned, {total['missing']} missing")
        return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    from .export._text import markdown_cell

    return markdown_cell(text)


def model_elements(model: Model, catalog: Catalog) -> frozenset[str]:
    """What the model contains, in the vocabulary of ``Requirement.model_elements``.

    Out-of-scope components and flows do not count: they are not part of the analysis.
    """
    components = [c for c in model.components if not c.out_of_scope]
    flows = [f for f in model.flows if not f.out_of_scope]
    kinds = {ctype.element for c in components
             if (ctype := catalog.component_types.get(c.type)) is not None}
    present = {
        "processes": "process" in kinds,
        "data_stores": "data_store" in kinds,
        "external_entities": bool(model.actors) or "external_entity" in kinds,
        "data_flows": bool(flows),
        "trust_boundaries": bool(model.boundaries),
        "protocols": bool(flows),
        "interfaces": any(c.interfaces for c in components),
        "data_classification": bool(model.data_assets) and any(f.data for f in flows),
        "applied_controls": bool(model.controls),
        "clinical_functions": any(c.functions for c in components),
    }
    return frozenset(k for k, v in present.items() if v)


def _applied(model: Model) -> dict[str, str]:
    """Applied control id -> its best status across the model's applications."""
    best: dict[str, str] = {}
    for applied in model.controls:
        status, known = applied.status.value, best.get(applied.control)
        if known is None or _STATUS_RANK[status] > _STATUS_RANK[known]:
            best[applied.control] = status
    return best


def _cites(req: Requirement, control: Control) -> bool:
    """Whether the control names the requirement (rather than only sharing an FDA category)."""
    return control.id in req.controls or any(
        reference_covers(q, r) for q in req.references for r in control.references)


def _needs(req: Requirement) -> str:
    parts = []
    if req.references:
        parts.append("citing " + " or ".join(req.references))
    if req.fda_categories:
        parts.append("of FDA category " + " or ".join(c.value for c in req.fda_categories))
    if req.controls:
        parts.append("among " + ", ".join(req.controls))
    return "no implemented or verified control " + "; or ".join(parts)


def _row(framework: str, req: Requirement, serving: list[Control], applied: dict[str, str],
         documents: frozenset[DocumentKind], present: frozenset[str]) -> RequirementCoverage:
    counted = tuple(c.id for c in serving if applied.get(c.id) in _COUNTED)
    planned = tuple(c.id for c in serving if applied.get(c.id) == "planned")
    absent = [e for e in req.model_elements if e not in present]
    docs = tuple(d.value for d in req.documents if d in documents) if not absent else ()
    status = "covered" if counted or docs else "planned" if planned else "missing"
    missing: list[str] = []
    suggested: tuple[str, ...] = ()
    if status != "covered":
        if planned:
            missing.append("planned only: implement and verify " + ", ".join(planned))
        elif req.references or req.fda_categories or req.controls:
            missing.append(_needs(req))
            candidates = sorted((c for c in serving if c.id not in applied),
                                key=lambda c: (not _cites(req, c), c.id))
            suggested = tuple(c.id for c in candidates[:_SUGGESTIONS])
        unavailable = [d for d in req.documents if d not in documents]
        if unavailable:
            external = all(d not in PRODUCED_DOCUMENTS for d in unavailable)
            missing.append("document not available: " + ", ".join(d.value for d in unavailable)
                           + (" (provide it; medthreat does not generate it)" if external else ""))
        if absent and any(d in documents for d in req.documents):
            missing.append("model has no " + ", ".join(e.replace("_", " ") for e in absent))
    return RequirementCoverage(
        framework=framework, requirement=req.id, title=req.title, status=status,
        controls=counted, planned=planned, documents=docs, missing=tuple(missing),
        suggested=suggested)


def coverage(model: Model, catalog: Catalog | None = None, *,
             documents: frozenset[DocumentKind] | None = None) -> Coverage:
    """The coverage matrix of ``model`` against every framework in the catalog.

    ``documents`` are the document kinds available (default: those medthreat produces,
    :data:`PRODUCED_DOCUMENTS`); pass more when the manufacturer has, e.g., an SBOM.
    Pure: same model, catalog and documents give the same matrix.
    """
    catalog = catalog or default_catalog()
    available = PRODUCED_DOCUMENTS if documents is None else frozenset(documents)
    applied = _applied(model)
    present = model_elements(model, catalog)
    controls = sorted(catalog.controls.values(), key=lambda c: c.id)
    rows = []
    for fw in catalog.frameworks.values():
        for req in fw.requirements:
            serving = [c for c in controls if req.matches(c)]
            rows.append(_row(fw.name, req, serving, applied, available, present))
    return Coverage(system=model.system.name, rows=rows)


def coverage_frame(model: Model, catalog: Catalog | None = None) -> pandas.DataFrame:
    """:func:`coverage` as a pandas DataFrame indexed by requirement id."""
    return coverage(model, catalog).to_frame()
