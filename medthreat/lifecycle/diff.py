"""Change impact between two revisions of a threat model.

:func:`diff_models` analyzes and assesses both revisions under the same catalog, policy and
decisions and reports what changed: the model itself (elements, flows, data assets, trust
boundaries, applied controls), the findings (new, gone, risk changed), the decisions (keys that
no longer match anything, keys that now decide new findings) and a verdict for change control:
did any residual risk rise, did new unacceptable residual risks appear.

The renderers (:func:`impact_markdown`, :func:`impact_html`, :func:`impact_rows`,
:func:`write_impact_workbook`) all read one list of sections, so the record says the same in
every format. Everything is sorted; the same inputs give byte-identical Markdown and HTML.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._yaml import atomic_output
from ..export._text import markdown_cell, printable, spreadsheet_text
from ..graph import attribute_of

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..model import Component, Model
    from ..risk import Assessment, RiskPolicy, RiskRegister
    from .decisions import Decisions

__all__ = [
    "AIElementCheck",
    "ChangeImpact",
    "DecisionImpact",
    "FieldChange",
    "FindingChange",
    "FindingRisk",
    "ModelChange",
    "diff_models",
    "impact_html",
    "impact_markdown",
    "impact_rows",
    "is_ai_component",
    "write_impact_workbook",
]

#: Model sections compared, in report order: (attribute of Model, label in the report).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("system", "system"),
    ("boundaries", "trust boundary"),
    ("data_assets", "data asset"),
    ("components", "component"),
    ("actors", "actor"),
    ("flows", "flow"),
    ("controls", "applied control"),
)
_SECTION_ORDER = {label: i for i, (_, label) in enumerate(SECTIONS)}

#: Component attributes that make a component an AI element for the PCCP check.
AI_ATTRIBUTES: tuple[str, ...] = (
    "is_ml_model",
    "is_llm",
    "executes_ml_inference",
    "trains_models",
    "holds_model_artifacts",
    "holds_training_data",
)
#: Component types that are AI elements whatever their attributes say.
AI_TYPES: frozenset[str] = frozenset({"model_registry", "training_pipeline"})
#: Data asset kinds that are AI elements.
AI_DATA_KINDS: frozenset[str] = frozenset({"model_weights", "training_data"})

_UNACCEPTABLE = "unacceptable"


# -- result types ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    """One field of a model item that differs: dotted field name, old and new value."""

    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class ModelChange:
    """An item of the model added, removed or changed between the revisions."""

    section: str  # a label of SECTIONS: "component", "flow", "applied control", ...
    id: str
    change: str  # "added", "removed" or "changed"
    name: str = ""
    fields: tuple[FieldChange, ...] = ()


@dataclass(frozen=True)
class FindingRisk:
    """What one revision says about a finding: its pre-control and residual risk."""

    id: str
    threat: str
    title: str
    element: str
    element_name: str
    dimension: str
    risk: str
    risk_rank: int
    acceptability: str
    residual: str
    residual_rank: int
    residual_acceptability: str
    status: str

    @classmethod
    def of(cls, a: Assessment) -> FindingRisk:
        """The snapshot of one assessment."""
        f = a.finding
        return cls(
            id=a.id, threat=f.threat.id, title=f.threat.title, element=f.subject.id,
            element_name=f.subject.name, dimension=a.dimension, risk=a.risk.level.id,
            risk_rank=a.risk.rank, acceptability=a.risk.acceptability.value,
            residual=a.residual.level.id, residual_rank=a.residual.rank,
            residual_acceptability=a.residual.acceptability.value, status=a.status,
        )

    @property
    def unacceptable(self) -> bool:
        """True when the residual risk is unacceptable under the policy."""
        return self.residual_acceptability == _UNACCEPTABLE


@dataclass(frozen=True)
class FindingChange:
    """A finding that is new, gone, or rated differently in the new revision."""

    id: str
    old: FindingRisk | None
    new: FindingRisk | None

    @property
    def change(self) -> str:
        """``new``, ``gone`` or ``changed``."""
        if self.old is None:
            return "new"
        if self.new is None:
            return "gone"
        return "changed"

    @property
    def residual_rose(self) -> bool:
        """The residual level rank went up (or the finding is new with unacceptable residual)."""
        if self.new is None:
            return False
        if self.old is None:
            return self.new.unacceptable
        return self.new.residual_rank > self.old.residual_rank

    @property
    def residual_fell(self) -> bool:
        """The residual level rank went down."""
        return (self.old is not None and self.new is not None
                and self.new.residual_rank < self.old.residual_rank)

    @property
    def turned_unacceptable(self) -> bool:
        """The residual risk is unacceptable now and was not before (or the finding is new)."""
        return (self.new is not None and self.new.unacceptable
                and (self.old is None or not self.old.unacceptable))

    @property
    def current(self) -> FindingRisk:
        """The newest snapshot (the old one for a gone finding)."""
        return self.new or self.old  # type: ignore[return-value]


@dataclass(frozen=True)
class DecisionImpact:
    """A decision key whose reach changed between the revisions.

    ``change`` is ``orphaned`` (matched findings before, matches none now),
    ``still_orphaned`` (matched none in either revision) or ``newly_matched`` (decides findings
    that are new in this revision; ``match`` says whether by exact id or a wildcard).
    """

    key: str
    change: str
    status: str
    match: str = ""
    findings: tuple[str, ...] = ()


@dataclass(frozen=True)
class AIElementCheck:
    """PCCP check of one changed AI element: did its risk stay within bounds?"""

    section: str  # "component" or "data asset"
    id: str
    name: str
    type: str  # component type or data kind
    change: str  # "added", "removed", "changed" or "risk changed"
    findings: int
    residual_before: str
    residual_after: str
    within_bounds: bool
    reason: str


@dataclass(frozen=True)
class ChangeImpact:
    """Everything that changed from ``old_label`` to ``new_label`` and what it does to risk."""

    old_label: str
    new_label: str
    policy: str
    old_finding_count: int
    new_finding_count: int
    old_unacceptable_count: int
    new_unacceptable_count: int
    model_changes: tuple[ModelChange, ...] = ()
    findings: tuple[FindingChange, ...] = ()
    decisions: tuple[DecisionImpact, ...] = ()
    ai_elements: tuple[AIElementCheck, ...] = ()
    residual_rose: bool = False
    new_unacceptable: int = 0

    def _of(self, change: str) -> tuple[FindingChange, ...]:
        return tuple(f for f in self.findings if f.change == change)

    @property
    def new_findings(self) -> tuple[FindingChange, ...]:
        """Findings only the new revision has."""
        return self._of("new")

    @property
    def gone_findings(self) -> tuple[FindingChange, ...]:
        """Findings only the old revision has."""
        return self._of("gone")

    @property
    def changed_findings(self) -> tuple[FindingChange, ...]:
        """Findings of both revisions whose risk, residual risk or acceptability differ."""
        return self._of("changed")

    @property
    def turned_unacceptable(self) -> tuple[FindingChange, ...]:
        """Findings of both revisions whose residual risk became unacceptable."""
        return tuple(f for f in self.changed_findings if f.turned_unacceptable)

    @property
    def orphaned_decisions(self) -> tuple[DecisionImpact, ...]:
        """Decision keys that match no finding of the new revision."""
        return tuple(d for d in self.decisions if d.change != "newly_matched")

    @property
    def empty(self) -> bool:
        """True when nothing changed at all."""
        return not (self.model_changes or self.findings or self.decisions or self.ai_elements)

    @property
    def exit_code(self) -> int:
        """1 when residual risk rose or new unacceptable residual risks appeared, else 0."""
        return 1 if self.residual_rose or self.new_unacceptable else 0


# -- comparing models -----------------------------------------------------------------------


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):  # an empty mapping adds no field
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _items(model: Model, attr: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """id -> (name, flattened fields) of one section of a model."""
    if attr == "system":
        return {"system": (model.system.name, _flatten(model.system.model_dump(mode="json")))}
    items: dict[str, tuple[str, dict[str, Any]]] = {}
    seen: dict[str, int] = {}
    for item in getattr(model, attr):
        data = item.model_dump(mode="json")
        if attr == "controls":
            # Applied controls have no id: the catalog control names them; a control applied
            # more than once is told apart by its position among its namesakes.
            control = data["control"]
            seen[control] = seen.get(control, 0) + 1
            key = control if seen[control] == 1 else f"{control}#{seen[control]}"
            name = control
        else:
            key = data.pop("id")
            name = data.get("name", "") or ""
        items[key] = (name, _flatten(data))
    return items


def _compare_models(old: Model, new: Model) -> list[ModelChange]:
    changes: list[ModelChange] = []
    for attr, label in SECTIONS:
        before, after = _items(old, attr), _items(new, attr)
        for key in sorted(before.keys() | after.keys()):
            if key not in after:
                changes.append(ModelChange(label, key, "removed", before[key][0]))
            elif key not in before:
                changes.append(ModelChange(label, key, "added", after[key][0]))
            else:
                a, b = before[key][1], after[key][1]
                fields = tuple(FieldChange(n, a.get(n), b.get(n))
                               for n in sorted(a.keys() | b.keys()) if a.get(n) != b.get(n))
                if fields:
                    changes.append(ModelChange(label, key, "changed", after[key][0], fields))
    return changes


# -- comparing findings and decisions -------------------------------------------------------


def _compare_findings(old: RiskRegister, new: RiskRegister) -> list[FindingChange]:
    before = {a.id: FindingRisk.of(a) for a in old}
    after = {a.id: FindingRisk.of(a) for a in new}
    changes: list[FindingChange] = []
    for fid in sorted(before.keys() | after.keys()):
        o, n = before.get(fid), after.get(fid)
        if o is not None and n is not None and (
            (o.risk, o.acceptability, o.residual, o.residual_acceptability)
            == (n.risk, n.acceptability, n.residual, n.residual_acceptability)
        ):
            continue
        changes.append(FindingChange(fid, o, n))
    order = {"new": 0, "changed": 1, "gone": 2}
    changes.sort(key=lambda c: (order[c.change], not c.residual_rose,
                                -c.current.residual_rank, -c.current.risk_rank, c.id))
    return changes


def _compare_decisions(decisions: Decisions | None, old_ids: set[str],
                       new_ids: set[str]) -> list[DecisionImpact]:
    if decisions is None or not len(decisions):
        return []
    impacts: list[DecisionImpact] = []
    orphans_before = set(decisions.orphans(old_ids))
    for key in decisions.orphans(new_ids):
        change = "still_orphaned" if key in orphans_before else "orphaned"
        impacts.append(DecisionImpact(key, change, decisions[key].status.value))
    fresh = sorted(new_ids - old_ids)
    by_key: dict[str, list[str]] = {}
    kinds: dict[str, str] = {}
    for fid, resolved in decisions.resolve(fresh).items():
        by_key.setdefault(resolved.key, []).append(fid)
        kinds[resolved.key] = resolved.match.value
    for key in sorted(by_key):
        impacts.append(DecisionImpact(key, "newly_matched", decisions[key].status.value,
                                      kinds[key], tuple(sorted(by_key[key]))))
    order = {"orphaned": 0, "newly_matched": 1, "still_orphaned": 2}
    impacts.sort(key=lambda d: (order[d.change], d.key))
    return impacts


# -- PCCP check -----------------------------------------------------------------------------


def is_ai_component(component: Component, catalog: Catalog) -> bool:
    """True for components whose type is in the catalog's AI category, executes ML inference,
    trains or is a model, holds model artefacts or training data, or is a model registry or
    training pipeline."""
    ctype = catalog.component_types.get(component.type)
    if component.type in AI_TYPES or (ctype is not None and ctype.category.value == "ai"):
        return True
    return any(attribute_of(catalog, component, a) is True for a in AI_ATTRIBUTES)


def _ai_elements(old: Model, new: Model, catalog: Catalog, model_changes: list[ModelChange],
                 findings: list[FindingChange], old_reg: RiskRegister,
                 new_reg: RiskRegister) -> list[AIElementCheck]:
    changed = {(c.section, c.id): c.change for c in model_changes}
    comps = {c.id: c for c in old.components} | {c.id: c for c in new.components}
    assets = {d.id: d for d in old.data_assets} | {d.id: d for d in new.data_assets}
    # Findings about each element: its own, and for a data asset those of the components
    # storing or processing it and the flows carrying it (in either revision).
    related: dict[str, set[str]] = {}
    for reg in (old_reg, new_reg):
        for a in reg:
            related.setdefault(a.finding.subject.id, set()).add(a.id)
    holders: dict[str, set[str]] = {}
    for model in (old, new):
        for c in model.components:
            for d in (*c.stores, *c.processes):
                holders.setdefault(d, set()).add(c.id)
        for fl in model.flows:
            for d in fl.data:
                holders.setdefault(d, set()).add(fl.id)
    by_id = {f.id: f for f in findings}
    before = {a.id: a.residual for a in old_reg}
    after = {a.id: a.residual for a in new_reg}

    candidates: list[tuple[str, str, str, str, set[str]]] = []
    for cid in sorted(comps):
        c = comps[cid]
        if is_ai_component(c, catalog):
            candidates.append(("component", cid, c.name, c.type, related.get(cid, set())))
    for did in sorted(assets):
        d = assets[did]
        if d.kind.value in AI_DATA_KINDS:
            ids: set[str] = set()
            for holder in holders.get(did, set()):
                ids |= related.get(holder, set())
            candidates.append(("data asset", did, d.name, d.kind.value, ids))

    checks: list[AIElementCheck] = []
    for section, eid, name, kind, ids in candidates:
        moved = [by_id[i] for i in sorted(ids) if i in by_id]
        change = changed.get((section, eid))
        if change is None and not moved:
            continue
        rose = [f for f in moved if f.residual_rose or f.turned_unacceptable]
        worst_before = max((before[i] for i in ids if i in before),
                           key=lambda r: r.rank, default=None)
        worst_after = max((after[i] for i in ids if i in after),
                          key=lambda r: r.rank, default=None)
        if rose:
            reason = (f"{len(rose)} finding(s) with rising or newly unacceptable residual "
                      f"risk: {', '.join(f.id for f in rose[:5])}"
                      + (", ..." if len(rose) > 5 else ""))
        elif change == "removed":
            reason = "removed; its findings are gone"
        else:
            reason = "no residual risk rose and no new unacceptable residual risk"
        checks.append(AIElementCheck(
            section=section, id=eid, name=name, type=kind, change=change or "risk changed",
            findings=len([i for i in ids if i in after]),
            residual_before=worst_before.level.id if worst_before else "",
            residual_after=worst_after.level.id if worst_after else "",
            within_bounds=not rose, reason=reason,
        ))
    return checks


# -- the entry point ------------------------------------------------------------------------


def _label(model: Model) -> str:
    version = model.system.version
    return f"{model.system.name} {version}".strip() if version else model.system.name


def diff_models(old_model: Model, new_model: Model, *, catalog: Catalog | None = None,
                policy: RiskPolicy | None = None, decisions: Decisions | None = None,
                old_label: str | None = None, new_label: str | None = None) -> ChangeImpact:
    """Analyze and assess both revisions and report the change impact.

    Both revisions are rated with the same ``catalog`` (default: the shipped one), ``policy``
    (default: the shipped policy) and ``decisions``, so every difference comes from the model.
    ``old_label``/``new_label`` name the revisions in reports (default: system name and
    version).
    """
    from ..catalog import default_catalog
    from ..engine import analyze
    from ..risk import RiskPolicy, assess

    catalog = catalog or default_catalog()
    policy = policy or RiskPolicy.load()
    old_reg = assess(analyze(old_model, catalog), policy, decisions)
    new_reg = assess(analyze(new_model, catalog), policy, decisions)
    model_changes = _compare_models(old_model, new_model)
    findings = _compare_findings(old_reg, new_reg)
    old_ids = {a.id for a in old_reg}
    new_ids = {a.id for a in new_reg}
    decision_impacts = _compare_decisions(decisions, old_ids, new_ids)
    ai = _ai_elements(old_model, new_model, catalog, model_changes, findings, old_reg, new_reg)
    residual_rose = any(f.residual_rose for f in findings)
    new_unacceptable = sum(1 for f in findings if f.turned_unacceptable)
    return ChangeImpact(
        old_label=old_label if old_label is not None else _label(old_model),
        new_label=new_label if new_label is not None else _label(new_model),
        policy=f"{policy.id} {policy.version}",
        old_finding_count=len(old_reg), new_finding_count=len(new_reg),
        old_unacceptable_count=len(old_reg.unacceptable()),
        new_unacceptable_count=len(new_reg.unacceptable()),
        model_changes=tuple(model_changes), findings=tuple(findings),
        decisions=tuple(decision_impacts), ai_elements=tuple(ai),
        residual_rose=residual_rose, new_unacceptable=new_unacceptable,
    )


# -- one document, several formats ----------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    empty: str


@dataclass(frozen=True)
class _Section:
    title: str
    level: int
    text: tuple[str, ...] = ()
    table: _Table | None = None


def _value(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value else '""'
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def _arrow(old: str, new: str) -> str:
    return old if old == new else f"{old} → {new}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _summary(impact: ChangeImpact) -> str:
    mc = impact.model_changes
    counts = {k: sum(1 for c in mc if c.change == k) for k in ("added", "removed", "changed")}
    parts = [
        f"Revision {impact.new_label} is compared with revision {impact.old_label} under risk "
        f"policy {impact.policy}, with the same catalog and decisions for both.",
        f"The model has {len(mc)} change(s): {counts['added']} added, {counts['removed']} "
        f"removed and {counts['changed']} changed item(s).",
        f"Findings go from {impact.old_finding_count} to {impact.new_finding_count}: "
        f"{len(impact.new_findings)} new, {len(impact.gone_findings)} gone and "
        f"{len(impact.changed_findings)} rated differently; unacceptable residual risks go from "
        f"{impact.old_unacceptable_count} to {impact.new_unacceptable_count}.",
    ]
    if impact.decisions:
        parts.append(f"{len(impact.orphaned_decisions)} decision key(s) match no finding of the "
                     f"new revision and {len(impact.decisions) - len(impact.orphaned_decisions)}"
                     " key(s) decide new findings.")
    if impact.empty:
        parts.append("Nothing changed: the revisions are equivalent for risk.")
    elif impact.exit_code:
        parts.append(f"Residual risk rose: {impact.new_unacceptable} residual risk(s) became "
                     "unacceptable and the change needs risk review before release.")
    else:
        parts.append("No residual risk rose and no new unacceptable residual risk appeared.")
    return " ".join(parts)


def _document(impact: ChangeImpact) -> list[_Section]:
    sections = [
        _Section(f"Change impact: {impact.old_label} → {impact.new_label}", 1,
                 (_summary(impact),)),
        _Section("Verdict", 2, table=_Table(("Check", "Result"), (
            ("Residual risk rose", _yes(impact.residual_rose)),
            ("New unacceptable residual risks", str(impact.new_unacceptable)),
            ("Exit code", str(impact.exit_code)),
        ), "")),
    ]
    rows: list[tuple[str, ...]] = []
    for c in impact.model_changes:
        if not c.fields:
            rows.append((c.section, c.id, c.name, c.change, "", "", ""))
        for fc in c.fields:
            rows.append((c.section, c.id, c.name, c.change, fc.field, _value(fc.old),
                         _value(fc.new)))
    sections.append(_Section("Model changes", 2, table=_Table(
        ("Kind", "Id", "Name", "Change", "Field", "Old", "New"), tuple(rows),
        "No model changes.")))

    def risk_rows(items: Iterable[FindingChange]) -> tuple[tuple[str, ...], ...]:
        return tuple((f.id, f.current.title, f.current.element_name or f.current.element,
                      f.current.dimension, f.current.risk, f.current.acceptability,
                      f.current.residual, f.current.residual_acceptability) for f in items)

    heads = ("Finding", "Threat", "Element", "Dimension", "Risk", "Acceptability", "Residual",
             "Residual acceptability")
    sections.append(_Section("Findings", 2))
    sections.append(_Section("New findings", 3, table=_Table(
        heads, risk_rows(impact.new_findings), "No new findings.")))
    sections.append(_Section("Gone findings", 3, table=_Table(
        heads, risk_rows(impact.gone_findings), "No findings are gone.")))
    changed: list[tuple[str, ...]] = []
    for f in impact.changed_findings:
        o, n = f.old, f.new
        assert o is not None and n is not None
        note = ("now unacceptable" if f.turned_unacceptable else
                "residual rose" if f.residual_rose else
                "residual fell" if f.residual_fell else "pre-control risk changed")
        changed.append((f.id, n.title, n.element_name or n.element, _arrow(o.risk, n.risk),
                        _arrow(o.acceptability, n.acceptability), _arrow(o.residual, n.residual),
                        _arrow(o.residual_acceptability, n.residual_acceptability), note))
    sections.append(_Section("Findings with changed risk", 3, table=_Table(
        ("Finding", "Threat", "Element", "Risk", "Acceptability", "Residual",
         "Residual acceptability", "Note"), tuple(changed), "No finding is rated differently.")))
    sections.append(_Section("Decisions affected", 2, table=_Table(
        ("Key", "Change", "Status", "Match", "Findings"),
        tuple((d.key, d.change.replace("_", " "), d.status, d.match.replace("_", " "),
               ", ".join(d.findings)) for d in impact.decisions),
        "No decision is affected.")))
    outside = [a for a in impact.ai_elements if not a.within_bounds]
    pccp = (f"{len(impact.ai_elements)} AI element(s) (ML components, model registries, "
            "training pipelines, model weights and training data) changed or carry findings "
            "whose risk changed; "
            + (f"{len(outside)} of them left the risk bounds (residual risk rose or became "
               "unacceptable) and need assessment outside the predetermined plan."
               if outside else "all stayed within the risk bounds."))
    sections.append(_Section("PCCP check", 2, (pccp,), table=_Table(
        ("Kind", "Id", "Name", "Type", "Change", "Findings", "Worst residual",
         "Within bounds", "Reason"),
        tuple((a.section, a.id, a.name, a.type, a.change, str(a.findings),
               _arrow(a.residual_before or "-", a.residual_after or "-"),
               _yes(a.within_bounds), a.reason) for a in impact.ai_elements),
        "No AI element changed.")))
    return sections


def impact_markdown(impact: ChangeImpact) -> str:
    """The change impact as Markdown for a change-control record or a PCCP update."""
    out: list[str] = []
    for s in _document(impact):
        title = s.title.replace("\n", " ")
        out += ["#" * s.level + " " + markdown_cell(title), ""]
        for paragraph in s.text:
            out += [markdown_cell(paragraph), ""]
        if s.table is not None:
            if not s.table.rows:
                out += [s.table.empty, ""]
                continue
            out.append("| " + " | ".join(s.table.headers) + " |")
            out.append("|" + "|".join("---" for _ in s.table.headers) + "|")
            for row in s.table.rows:
                out.append("| " + " | ".join(markdown_cell(c) for c in row) + " |")
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}
th,td{border:1px solid #bbb;padding:0.25em 0.5em;text-align:left;vertical-align:top}
th{background:#eee}td.no{color:#b71c1c;font-weight:bold}"""


_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def impact_html(impact: ChangeImpact) -> str:
    """The change impact as one self-contained HTML page (all text escaped)."""

    def e(text: str) -> str:
        return html.escape(printable(text))

    title = f"Change impact: {impact.old_label} → {impact.new_label}"
    # No scripts, no requests: even a document that went wrong stays inert.
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
           f"<title>{e(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>"]
    for s in _document(impact):
        out.append(f"<h{s.level}>{e(s.title)}</h{s.level}>")
        out += [f"<p>{e(p)}</p>" for p in s.text]
        if s.table is not None:
            if not s.table.rows:
                out.append(f"<p>{e(s.table.empty)}</p>")
                continue
            out.append("<table>")
            out.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in s.table.headers) + "</tr>")
            for row in s.table.rows:
                out.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
            out.append("</table>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


# -- spreadsheet ----------------------------------------------------------------------------


def impact_rows(impact: ChangeImpact) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """Sheets for a workbook: name -> (headers, rows). Sheets "Model changes",
    "Findings changed" and "Decisions"; one row per changed field, finding or decision key."""
    model_rows: list[list[Any]] = []
    for c in impact.model_changes:
        if not c.fields:
            model_rows.append([c.section, c.id, c.name, c.change, "", "", ""])
        for fc in c.fields:
            model_rows.append([c.section, c.id, c.name, c.change, fc.field, _value(fc.old),
                               _value(fc.new)])
    finding_rows: list[list[Any]] = []
    for f in impact.findings:
        o, n, cur = f.old, f.new, f.current
        finding_rows.append([
            f.id, f.change, cur.title, cur.element, cur.element_name, cur.dimension,
            o.risk if o else "", n.risk if n else "",
            o.acceptability if o else "", n.acceptability if n else "",
            o.residual if o else "", n.residual if n else "",
            o.residual_acceptability if o else "", n.residual_acceptability if n else "",
            f.residual_rose, f.turned_unacceptable,
        ])
    decision_rows = [[d.key, d.change, d.status, d.match, "; ".join(d.findings)]
                     for d in impact.decisions]
    return {
        "Model changes": (["Kind", "Id", "Name", "Change", "Field", "Old", "New"], model_rows),
        "Findings changed": ([
            "Finding", "Change", "Threat", "Element id", "Element", "Dimension", "Risk before",
            "Risk after", "Acceptability before", "Acceptability after", "Residual before",
            "Residual after", "Residual acceptability before", "Residual acceptability after",
            "Residual rose", "Now unacceptable"], finding_rows),
        "Decisions": (["Key", "Change", "Status", "Match", "New findings decided"],
                      decision_rows),
    }


def _put(ws: Any, row: int, col: int, value: Any) -> int:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    cell = ws.cell(row=row, column=col)
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)  # XML cannot hold control characters
        # The shared rule of spreadsheet_text decides what is formula-like; such cells are
        # stored as text with Excel's quote prefix, so they show exactly as written.
        cell.value = value
        if spreadsheet_text(value) != value:
            cell.data_type = "s"
            cell.quotePrefix = True
        return len(value)
    cell.value = value
    return len(str(value))


def write_impact_workbook(impact: ChangeImpact, path: str | os.PathLike[str]) -> None:
    """Write :func:`impact_rows` as an Excel workbook (frozen header, filters, column widths),
    replacing ``path`` atomically."""
    import datetime as dt

    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    fixed = dt.datetime(2000, 1, 1)
    wb.properties.created = fixed
    wb.properties.modified = fixed
    wb.properties.creator = "medthreat"
    for name, (headers, rows) in impact_rows(impact).items():
        ws = wb.create_sheet(name)
        widths = [len(h) for h in headers]
        for col, header in enumerate(headers, 1):
            _put(ws, 1, col, header)
            ws.cell(row=1, column=col).font = Font(bold=True)
        for r, row in enumerate(rows, 2):
            for col, value in enumerate(row, 1):
                widths[col - 1] = max(widths[col - 1], _put(ws, r, col, value))
        for col, width in enumerate(widths, 1):
            ws.column_dimensions[get_column_letter(col)].width = min(60, max(10, width + 2))
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{max(len(rows) + 1, 2)}"
    with atomic_output(path) as handle:
        wb.save(handle)

