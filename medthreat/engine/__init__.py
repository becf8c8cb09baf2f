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
from ..model import Actor, Component, Model, validate_model
from ._context import ContextBuilder

__all__ = ["Analysis", "AppliedControlRef", "Finding", "analyze"]


@dataclass(frozen=True)
class AppliedControlRef:
    """A control of the model that addresses a finding, with its implementation status."""

    control: str
    status: str
    evidence: str = ""


@dataclass(frozen=True, slots=True)
class Finding:
    """One threat applying to one element or flow; ``id`` is ``THREAT-ID@element-id``.

    The catalog threat is kept whole (``threat``); title, category, references and mitigating
    controls are read from it.
    """

    id: str
    threat: Threat
    element_id: str
    element_name: str
    element_kind: ElementKind
    element_type: str
    why: tuple[str, ...]
    applied_controls: tuple[AppliedControlRef, ...] = ()
    source: str = ""
    target: str = ""

    @property
    def threat_id(self) -> str:
        """Id of the catalog threat."""
        return self.threat.id

    @property
    def title(self) -> str:
        """Title of the catalog threat."""
        return self.threat.title

    @property
    def stride(self) -> Stride:
        """STRIDE category."""
        return self.threat.stride

    @property
    def description(self) -> str:
        """What the attacker does."""
        return self.threat.description

    @property
    def references(self) -> tuple[str, ...]:
        """CWE, CAPEC, ATLAS, EMB3D, OWASP ... references of the threat."""
        return tuple(self.threat.references)

    @property
    def controls(self) -> tuple[str, ...]:
        """Catalog controls that mitigate the threat."""
        return tuple(self.threat.controls)

    @property
    def baseline(self) -> bool:
        """Whether this is a generic STRIDE-per-element finding."""
        return self.threat.baseline

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON, with enum values as strings."""
        threat = self.threat
        return {
            "id": self.id,
            "threat_id": threat.id,
            "title": threat.title,
            "stride": threat.stride.value,
            "element_id": self.element_id,
            "element_name": self.element_name,
            "element_kind": self.element_kind.value,
            "element_type": self.element_type,
            "source": self.source,
            "target": self.target,
            "why": list(self.why),
            "description": threat.description,
            "references": list(threat.references),
            "controls": list(threat.controls),
            "applied_controls": [
                {"control": a.control, "status": a.status, "evidence": a.evidence}
                for a in self.applied_controls
            ],
            "baseline": threat.baseline,
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
        counts = Counter(f.threat.stride for f in self.findings)
        return {s.value: counts.get(s, 0) for s in Stride}

    def to_records(self) -> list[dict[str, Any]]:
        """Findings as plain dictionaries (for JSON, CSV or a pandas DataFrame)."""
        return [f.to_dict() for f in self.findings]


def _applied_index(model: Model, catalog: Catalog) -> dict[str, list[tuple[frozenset[str],
                                                                          AppliedControlRef]]]:
    """Threat id -> the model's applied controls that mitigate it, with their targets."""
    by_control: dict[str, list[tuple[frozenset[str], AppliedControlRef]]] = {}
    for ac in model.controls:
        ref = AppliedControlRef(ac.control, ac.status.value, ac.evidence)
        by_control.setdefault(ac.control, []).append((frozenset(ac.targets), ref))
    if not by_control:
        return {}
    return {
        threat.id: [pair for control in threat.controls for pair in by_control.get(control, ())]
        for threat in catalog.threats.values()
        if any(control in by_control for control in threat.controls)
    }


def _baseline_why(threat: Threat, kind: ElementKind) -> tuple[str, ...]:
    return (f"STRIDE per element: every {kind.value.replace('_', ' ')} is exposed to "
            f"{threat.stride.value.replace('_', ' ')}; no specific threat of this category "
            "matched",)


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
    applied = _applied_index(model, catalog)
    conditions = catalog.conditions
    # Per kind: (threat, compiled test, explainer) for specific threats, then the baselines.
    specific = {
        kind: [(t, conditions[t.id].test, conditions[t.id].explain)
               for t in catalog.threats_for(kind) if not t.baseline]
        for kind in ElementKind
    }
    baseline = {
        kind: [(category, t, _baseline_why(t, kind))
               for category in STRIDE_PER_ELEMENT[kind]
               for t in catalog.threats_for(kind) if t.baseline and t.stride is category]
        for kind in ElementKind
    }
    findings: list[Finding] = []
    append = findings.append

    def controls_for(threat: Threat, targets: tuple[str, ...]) -> tuple[AppliedControlRef, ...]:
        if threat.id not in applied:
            return ()
        return tuple(ref for scope, ref in applied[threat.id]
                     if not scope or not scope.isdisjoint(targets))

    def match(kind: ElementKind, ctx: dict[str, Any], element_id: str, name: str, etype: str,
              targets: tuple[str, ...], source: str = "", target: str = "") -> None:
        covered: set[Stride] = set()
        for threat, test, explain in specific[kind]:
            if test(ctx):
                covered.add(threat.stride)
                append(Finding(f"{threat.id}@{element_id}", threat, element_id, name, kind,
                               etype, tuple(explain(ctx)), controls_for(threat, targets),
                               source, target))
        for category, threat, why in baseline[kind]:
            if category not in covered:
                append(Finding(f"{threat.id}@{element_id}", threat, element_id, name, kind,
                               etype, why, controls_for(threat, targets), source, target))

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
        match(ElementKind.data_flow, contexts.for_flow(f, elements[f.source], elements[f.target]),
              f.id, f.name or f.id, f.protocol, (f.id, f.source, f.target), f.source, f.target)

    order = {s: i for i, s in enumerate(Stride)}
    findings.sort(key=lambda x: (x.element_id, order[x.threat.stride], x.threat.id))
    return Analysis(model=model, catalog=catalog, findings=findings, facts=facts)
