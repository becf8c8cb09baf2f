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
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from .._runtime import gc_paused
from ..catalog import STRIDE_PER_ELEMENT, Catalog, ElementKind, Stride, Threat, default_catalog
from ..graph import GraphFacts, graph_facts
from ..model import Actor, Component, Flow, Model, validate_model
from ..rules import Node
from ._context import ContextBuilder

if TYPE_CHECKING:
    import pandas

__all__ = ["Analysis", "AppliedControlRef", "Finding", "analyze"]


@dataclass(frozen=True)
class AppliedControlRef:
    """A control of the model that addresses a finding, with its implementation status."""

    control: str
    status: str
    evidence: str = ""


@dataclass(frozen=True, slots=True)
class Subject:
    """The element or flow findings are about, shared by all of its findings."""

    id: str
    name: str
    kind: ElementKind
    type: str
    source: str = ""
    target: str = ""
    targets: tuple[str, ...] = ()
    context: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Finding:
    """One threat applying to one element or flow; ``id`` is ``THREAT-ID@element-id``.

    The catalog threat is kept whole (``threat``); title, category, references and mitigating
    controls are read from it, the element from ``subject``.
    """

    threat: Threat
    subject: Subject
    applied_controls: tuple[AppliedControlRef, ...] = ()
    # The explanation is worked out when asked for: most findings of a large fleet are only
    # counted, and explaining costs more than matching.
    rule: Node | None = field(default=None, repr=False, compare=False)

    @property
    def id(self) -> str:
        """Stable id: ``THREAT-ID@ELEMENT-ID``."""
        return f"{self.threat.id}@{self.subject.id}"

    @property
    def element_id(self) -> str:
        """Id of the component, actor or flow."""
        return self.subject.id

    @property
    def element_name(self) -> str:
        """Name of the component, actor or flow."""
        return self.subject.name

    @property
    def element_kind(self) -> ElementKind:
        """DFD element kind."""
        return self.subject.kind

    @property
    def element_type(self) -> str:
        """Component type, ``actor:<role>`` or, for flows, the protocol."""
        return self.subject.type

    @property
    def source(self) -> str:
        """Source of a flow (empty for elements)."""
        return self.subject.source

    @property
    def target(self) -> str:
        """Target of a flow (empty for elements)."""
        return self.subject.target

    @property
    def why(self) -> tuple[str, ...]:
        """The condition clauses that made the threat apply, in words."""
        if self.threat.baseline:
            kind = self.subject.kind.value.replace("_", " ")
            category = self.threat.stride.value.replace("_", " ")
            return (f"STRIDE per element: every {kind} is exposed to {category}; no specific "
                    "threat of this category matched",)
        if self.rule is None:
            return ()
        return tuple(self.rule.explain(self.subject.context))

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

    def __repr__(self) -> str:
        return f"<Finding {self.id} {self.stride.value}: {self.title}>"

    def _repr_html_(self) -> str:
        from .._display import finding_html
        return finding_html(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON, with enum values as strings."""
        threat = self.threat
        subject = self.subject
        return {
            "id": self.id,
            "threat_id": threat.id,
            "title": threat.title,
            "stride": threat.stride.value,
            "element_id": subject.id,
            "element_name": subject.name,
            "element_kind": subject.kind.value,
            "element_type": subject.type,
            "source": subject.source,
            "target": subject.target,
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

    def __repr__(self) -> str:
        specific = sum(1 for f in self.findings if not f.baseline)
        system = self.model.system
        return (f"<Analysis {system.name!r} {system.version}: {len(self.findings)} findings "
                f"({specific} specific)>")

    def _repr_html_(self) -> str:
        from .._display import analysis_html
        return analysis_html(self)

    def __len__(self) -> int:
        return len(self.findings)

    def finding(self, finding_id: str) -> Finding | None:
        """The finding with this id, or None."""
        threat_id, _, element_id = finding_id.partition("@")
        return next((f for f in self.findings
                     if f.subject.id == element_id and f.threat.id == threat_id), None)

    def by_stride(self) -> dict[str, int]:
        """Number of findings per STRIDE category, in S-T-R-I-D-E order (zeros included)."""
        counts = Counter(f.threat.stride for f in self.findings)
        return {s.value: counts.get(s, 0) for s in Stride}

    def to_records(self) -> list[dict[str, Any]]:
        """Findings as plain dictionaries (for JSON, CSV or a pandas DataFrame)."""
        return [f.to_dict() for f in self.findings]

    def to_frame(self) -> pandas.DataFrame:
        """Findings as a pandas DataFrame indexed by finding id (needs pandas installed)."""
        import pandas as pd

        frame = pd.DataFrame.from_records(self.to_records(), columns=list(RECORD_FIELDS))
        return frame.set_index("id")


#: Keys of :meth:`Finding.to_dict`, in order (the columns of tables of findings).
RECORD_FIELDS = (
    "id", "threat_id", "title", "stride", "element_id", "element_name", "element_kind",
    "element_type", "source", "target", "why", "description", "references", "controls",
    "applied_controls", "baseline",
)


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


class _MatchPlan:
    """Which threats apply to a context of one element kind, memoized by what they read.

    Conditions read a fixed set of attributes (known after compilation). Elements whose values
    for exactly those attributes agree get the same threats, so each distinct combination is
    evaluated once: a fleet of identical devices costs one evaluation, not one per device.
    The answer includes the STRIDE-per-element baselines for the categories left uncovered.
    """

    def __init__(self, catalog: Catalog, kind: ElementKind) -> None:
        threats = catalog.threats_for(kind)
        self.specific = [(t, catalog.conditions[t.id]) for t in threats if not t.baseline]
        self.baselines = [(category, t) for category in STRIDE_PER_ELEMENT[kind]
                          for t in threats if t.baseline and t.stride is category]
        paths: dict[str, set[str]] = {}
        for _, rule in self.specific:
            for ns, attr in rule.paths:
                paths.setdefault(ns, set()).add(attr)
        # One itemgetter per namespace collects the values the conditions can see.
        self.getters = [(ns, itemgetter(*sorted(attrs))) for ns, attrs in sorted(paths.items())]
        self.memo: dict[tuple[Any, ...], list[tuple[Threat, Node | None]]] = {}

    def matches(self, ctx: dict[str, Any]) -> list[tuple[Threat, Node | None]]:
        key = tuple([getter(ctx[ns]) for ns, getter in self.getters])
        found = self.memo.get(key)
        if found is None:
            found = [(t, rule) for t, rule in self.specific if rule.test(ctx)]
            covered = {t.stride for t, _ in found}
            found += [(t, None) for category, t in self.baselines if category not in covered]
            found.sort(key=lambda pair: (pair[0].stride.order, pair[0].id))
            self.memo[key] = found
        return found


def analyze(model: Model, catalog: Catalog | None = None, *, check: bool = True) -> Analysis:
    """Match the catalog's threats to the model and return the findings.

    ``catalog`` defaults to the shipped catalog. With ``check`` (the default) the model is first
    validated against the catalog and :class:`~medthreat.errors.ModelError` is raised on
    problems.
    """
    catalog = catalog or default_catalog()
    if check:
        validate_model(model, catalog)
    with gc_paused():
        return _analyze(model, catalog)


def _analyze(model: Model, catalog: Catalog) -> Analysis:
    facts = graph_facts(model, catalog)
    contexts = ContextBuilder(model, catalog, facts)
    applied = _applied_index(model, catalog)
    plans = {kind: _MatchPlan(catalog, kind) for kind in ElementKind}
    findings: list[Finding] = []
    append = findings.append

    def controls_for(threat: Threat, targets: tuple[str, ...]) -> tuple[AppliedControlRef, ...]:
        return tuple(ref for scope, ref in applied[threat.id]
                     if not scope or not scope.isdisjoint(targets))

    # Findings come out ordered by element id, then STRIDE order, then threat id: elements
    # are visited in id order and each plan answers in category order.
    elements: dict[str, Component | Actor] = {}
    items: list[tuple[str, ElementKind, Component | Actor | Flow]] = []
    for c in model.components:
        if not c.out_of_scope:
            elements[c.id] = c
            items.append((c.id, catalog.component_types[c.type].kind, c))
    for a in model.actors:
        elements[a.id] = a
        items.append((a.id, ElementKind.external_entity, a))
    items.extend((f.id, ElementKind.data_flow, f) for f in model.flows if not f.out_of_scope)
    items.sort(key=itemgetter(0))
    for element_id, kind, e in items:
        name = e.name or element_id
        if isinstance(e, Flow):
            ctx = contexts.for_flow(e, elements[e.source], elements[e.target])
            subject = Subject(element_id, name, kind, e.protocol, e.source, e.target,
                              (element_id, e.source, e.target), ctx)
        elif isinstance(e, Component):
            ctx = contexts.for_element(e)
            subject = Subject(element_id, name, kind, e.type, "", "", (element_id,), ctx)
        else:
            ctx = contexts.for_element(e)
            subject = Subject(element_id, name, kind, f"actor:{e.role.value}", "", "",
                              (element_id,), ctx)
        for threat, rule in plans[kind].matches(ctx):
            refs = controls_for(threat, subject.targets) if threat.id in applied else ()
            append(Finding(threat, subject, refs, rule))
    return Analysis(model=model, catalog=catalog, findings=findings, facts=facts)
