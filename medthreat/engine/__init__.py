"""The STRIDE engine: catalog threats matched to model elements and flows, as findings.

STRIDE per element is the baseline (which categories an element kind can suffer); catalog
threats refine it with conditions over the element, its data, its zone and the graph. For every
element and every baseline category no specific threat covered, the catalog's generic baseline
threat is reported, so no category goes unconsidered. Findings keep the controls that address
them: applied controls lower residual risk later, they never hide a threat.

Cost: threats are indexed by element kind and each element is tested only against the threats
of its kind, with conditions compiled once per catalog: O(elements x threats per kind).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..catalog import STRIDE_PER_ELEMENT, Catalog, ElementKind, Stride, Threat, default_catalog
from ..graph import GraphFacts, graph_facts
from ..model import Actor, Component, Flow, Model, validate_model
from ._context import ContextBuilder

__all__ = ["Analysis", "AppliedControlRef", "Finding", "analyze"]


@dataclass(frozen=True)
class AppliedControlRef:
    """A control of the model that addresses a finding, with its implementation status."""

    control: str
    status: str
    evidence: str = ""


@dataclass(frozen=True)
class Finding:
    """One threat applying to one element or flow; ``id`` is ``THREAT-ID@element-id``."""

    id: str
    threat_id: str
    title: str
    stride: Stride
    element_id: str
    element_name: str
    element_kind: ElementKind
    element_type: str
    why: tuple[str, ...]
    description: str
    references: tuple[str, ...]
    controls: tuple[str, ...]
    applied_controls: tuple[AppliedControlRef, ...] = ()
    baseline: bool = False
    source: str = ""
    target: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON, with enum values as strings."""
        return {
            "id": self.id,
            "threat_id": self.threat_id,
            "title": self.title,
            "stride": self.stride.value,
            "element_id": self.element_id,
            "element_name": self.element_name,
            "element_kind": self.element_kind.value,
            "element_type": self.element_type,
            "source": self.source,
            "target": self.target,
            "why": list(self.why),
            "description": self.description,
            "references": list(self.references),
            "controls": list(self.controls),
            "applied_controls": [
                {"control": a.control, "status": a.status, "evidence": a.evidence}
                for a in self.applied_controls
            ],
            "baseline": self.baseline,
        }


@dataclass
class Analysis:
    """The result of :func:`analyze`: findings in a stable order, with model and catalog."""

    model: Model
    catalog: Catalog
    findings: list[Finding]
    facts: GraphFacts = field(repr=False)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    def __len__(self) -> int:
        return len(self.findings)

    def finding(self, finding_id: str) -> Finding | None:
        """The finding with this id, or None."""
        return next((f for f in self.findings if f.id == finding_id), None)

    def by_stride(self) -> dict[str, int]:
        """Number of findings per STRIDE category, in S-T-R-I-D-E order (zeros included)."""
        counts = Counter(f.stride for f in self.findings)
        return {s.value: counts.get(s, 0) for s in Stride}

    def to_records(self) -> list[dict[str, Any]]:
        """Findings as plain dictionaries (for JSON, CSV or a pandas DataFrame)."""
        return [f.to_dict() for f in self.findings]


def _applied(model: Model) -> dict[str, list[tuple[set[str], AppliedControlRef]]]:
    index: dict[str, list[tuple[set[str], AppliedControlRef]]] = {}
    for ac in model.controls:
        ref = AppliedControlRef(ac.control, ac.status.value, ac.evidence)
        index.setdefault(ac.control, []).append((set(ac.targets), ref))
    return index


def analyze(model: Model, catalog: Catalog | None = None, *, check: bool = True) -> Analysis:
    """Match the catalog's threats to the model and return the findings.

    ``catalog`` defaults to the shipped catalog. With ``check`` (the default) the model is first
    validated against the catalog and :class:`~medthreat.errors.ModelError` is raised on
    problems.
    """
    catalog = catalog or default_catalog()
    if check:
        validate_model(model, catalog)
    facts = graph_facts(model, catalog)
    contexts = ContextBuilder(model, catalog, facts)
    applied = _applied(model)
    conditions = catalog.conditions
    index = {kind: [t for t in catalog.threats_for(kind) if not t.baseline]
             for kind in ElementKind}
    baseline = {(kind, t.stride): t for kind in ElementKind for t in catalog.threats_for(kind)
                if t.baseline}
    findings: list[Finding] = []

    def emit(threat: Threat, element_id: str, name: str, kind: ElementKind, etype: str,
             ctx: dict[str, Any], targets: tuple[str, ...], source: str = "",
             target: str = "") -> None:
        refs = []
        for control in threat.controls:
            for scope, ref in applied.get(control, ()):
                if not scope or not scope.isdisjoint(targets):
                    refs.append(ref)
        why = tuple(conditions[threat.id].explain(ctx)) if not threat.baseline else (
            f"STRIDE per element: every {kind.value.replace('_', ' ')} is exposed to "
            f"{threat.stride.value.replace('_', ' ')}; no specific threat of this category "
            "matched",)
        findings.append(Finding(
            id=f"{threat.id}@{element_id}", threat_id=threat.id, title=threat.title,
            stride=threat.stride, element_id=element_id, element_name=name, element_kind=kind,
            element_type=etype, why=why, description=threat.description,
            references=tuple(threat.references), controls=tuple(threat.controls),
            applied_controls=tuple(refs), baseline=threat.baseline, source=source,
            target=target,
        ))

    def match(kind: ElementKind, ctx: dict[str, Any], element_id: str, name: str, etype: str,
              targets: tuple[str, ...], source: str = "", target: str = "") -> None:
        covered: set[Stride] = set()
        for threat in index[kind]:
            if conditions[threat.id].test(ctx):
                covered.add(threat.stride)
                emit(threat, element_id, name, kind, etype, ctx, targets, source, target)
        for category in STRIDE_PER_ELEMENT[kind]:
            if category not in covered and (kind, category) in baseline:
                emit(baseline[(kind, category)], element_id, name, kind, etype, ctx, targets,
                     source, target)

    elements: dict[str, Component | Actor] = {}
    for c in model.components:
        if c.out_of_scope:
            continue
        elements[c.id] = c
        ctype = catalog.component_types[c.type]
        match(ctype.kind, contexts.for_element(c), c.id, c.name or c.id, c.type, (c.id,))
    for a in model.actors:
        elements[a.id] = a
        match(ElementKind.external_entity, contexts.for_element(a), a.id, a.name or a.id,
              f"actor:{a.role.value}", (a.id,))
    for f in model.flows:
        if f.out_of_scope:
            continue
        source, target = elements[f.source], elements[f.target]
        flow: Flow = f
        match(ElementKind.data_flow, contexts.for_flow(flow, source, target), f.id,
              f.name or f.id, f.protocol, (f.id, f.source, f.target), f.source, f.target)

    findings.sort(key=lambda x: (x.element_id, x.stride.order, x.threat_id))
    return Analysis(model=model, catalog=catalog, findings=findings, facts=facts)
