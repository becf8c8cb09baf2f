"""Risk assessment of findings: exploitability x impact, before and after controls.

Every number is derived from named factors and can explain itself:

- **Exploitability** (FDA: exploitability, not probability) starts from the attack vector the
  exposure graph gives (internet 5 ... physical 1 on the policy's 5-level scale) and is lowered
  by what the attacker needs: privileges, a user's help, hard conditions (the threat's own
  defaults) and a path that is authenticated and encrypted end to end.
- **Impact** is measured on one of three scales of the policy, never mixed: patient harm (ISO
  14971 severity) when an integrity or availability breach reaches a clinical function, privacy
  impact when personal data is disclosed, business impact otherwise. Model weights and training
  data inherit the clinical function of the components they feed. Reaching several
  patient-facing devices raises patient harm by one level and flags the multi-patient view.
- A CVSS 3.x or 4.0 vector recorded in a finding's decision replaces the derived
  exploitability (see :mod:`medthreat.risk.cvss` for the mapping).
- **Residual risk**: implemented or verified controls that address a finding lower
  exploitability and severity by their catalog effect; planned controls are listed, not counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..catalog import ElementKind, Stride
from ..graph import (
    AttackVector,
    Exposure,
    blast_radius,
    exposure,
    flow_graph,
    flow_protection,
    fold_reachable,
)
from ..model import ClinicalFunction, DataKind, Level, Model
from .cvss import cvss_exploitability
from .policy import RiskCell, RiskPolicy

if TYPE_CHECKING:
    import pandas

    from ..engine import Analysis, Finding
    from ..lifecycle import Decisions, ResolvedDecision

__all__ = [
    "HARM",
    "Assessment",
    "Factor",
    "RiskRegister",
    "Score",
    "assess",
]

#: What a STRIDE category violates.
GOAL = {
    Stride.spoofing: "integrity",
    Stride.tampering: "integrity",
    Stride.repudiation: "accountability",
    Stride.information_disclosure: "confidentiality",
    Stride.denial_of_service: "availability",
    Stride.elevation_of_privilege: "integrity",
}

#: Patient harm (ISO 14971 severity rank 1-5) of losing (integrity, availability) of a function.
HARM: dict[ClinicalFunction, tuple[int, int]] = {
    ClinicalFunction.therapy_delivery: (5, 4),
    ClinicalFunction.motion_control: (5, 4),
    ClinicalFunction.alarming: (4, 4),
    ClinicalFunction.diagnosis: (4, 3),
    ClinicalFunction.monitoring: (3, 3),
    ClinicalFunction.imaging: (3, 2),
    ClinicalFunction.decision_support: (3, 2),
    ClinicalFunction.data_display: (2, 2),
}

#: Exploitability rank of each attack vector before any other factor.
VECTOR_BASE = {
    AttackVector.internet: 5,
    AttackVector.adjacent: 4,
    AttackVector.proximity: 3,
    AttackVector.local: 2,
    AttackVector.physical: 1,
}
_PRIVILEGES = {"none": 0, "low": -1, "high": -2}
_MODEL_DATA = frozenset({DataKind.model_weights, DataKind.training_data})
_PERSONAL = frozenset({DataKind.phi, DataKind.pii})
_COUNTED = frozenset({"implemented", "verified"})


@dataclass(frozen=True)
class Factor:
    """One reason a score has its value: what was looked at and what it did."""

    name: str
    effect: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name} ({self.effect}): {self.reason}"


@dataclass(frozen=True)
class Score:
    """A level on one of the policy's scales with the factors that produced it."""

    scale: str
    rank: int
    level: str
    factors: tuple[Factor, ...]

    def explain(self) -> list[str]:
        """The factors in order, then the result."""
        return [str(f) for f in self.factors] + [f"= {self.level} (rank {self.rank})"]


@dataclass(frozen=True)
class Assessment:
    """A finding with its pre- and post-mitigation risk, controls and decision."""

    finding: Finding
    goal: str
    dimension: str
    exploitability: Score
    impact: Score
    risk: RiskCell
    counted_controls: tuple[str, ...]
    planned_controls: tuple[str, ...]
    suggested_controls: tuple[str, ...]
    exploitability_post: Score
    impact_post: Score
    residual: RiskCell
    attack_vector: str
    multi_patient: bool
    safety_transfer: bool
    decision: ResolvedDecision | None = None

    @property
    def id(self) -> str:
        """The finding id."""
        return self.finding.id

    @property
    def status(self) -> str:
        """Decision status, ``open`` when no decision applies."""
        return self.decision.status.value if self.decision else "open"

    def __repr__(self) -> str:
        return (f"<Assessment {self.id} {self.dimension}: risk {self.risk.level.id} -> "
                f"residual {self.residual.level.id} ({self.residual.acceptability.value}), "
                f"status {self.status}>")

    def _repr_html_(self) -> str:
        from .._display import assessment_html
        return assessment_html(self)

    def explain(self) -> list[str]:
        """Every number with its factors, pre and post mitigation."""
        lines = [f"{self.id}: {self.goal} breach, rated on the {self.dimension} scale"]
        lines += ["exploitability: " + x for x in self.exploitability.explain()]
        lines += [f"{self.impact.scale}: " + x for x in self.impact.explain()]
        lines.append("risk: " + self.risk.explain())
        if self.counted_controls:
            lines += ["after controls " + ", ".join(self.counted_controls) + ":"]
            lines += ["exploitability: " + x for x in self.exploitability_post.explain()]
            lines += [f"{self.impact.scale}: " + x for x in self.impact_post.explain()]
        lines.append("residual risk: " + self.residual.explain())
        return lines

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON and tables."""
        d = self.decision
        return {
            "id": self.id,
            "goal": self.goal,
            "dimension": self.dimension,
            "attack_vector": self.attack_vector,
            "exploitability": self.exploitability.level,
            "exploitability_factors": [str(f) for f in self.exploitability.factors],
            "impact_scale": self.impact.scale,
            "impact": self.impact.level,
            "impact_factors": [str(f) for f in self.impact.factors],
            "risk": self.risk.level.id,
            "acceptability": self.risk.acceptability.value,
            "counted_controls": list(self.counted_controls),
            "planned_controls": list(self.planned_controls),
            "suggested_controls": list(self.suggested_controls),
            "exploitability_post": self.exploitability_post.level,
            "impact_post": self.impact_post.level,
            "residual_risk": self.residual.level.id,
            "acceptability_post": self.residual.acceptability.value,
            "controlled_post": self.residual.controlled,
            "multi_patient": self.multi_patient,
            "safety_transfer": self.safety_transfer,
            "status": self.status,
            "decision_key": d.key if d else "",
            "justification": d.decision.justification if d else "",
            "hazard_ids": list(d.decision.hazard_ids) if d else [],
            "hazardous_situation_ids": list(d.decision.hazardous_situation_ids) if d else [],
            "harm_ids": list(d.decision.harm_ids) if d else [],
        }


@dataclass
class RiskRegister:
    """Assessed findings, highest residual risk first, with the policy that rated them."""

    analysis: Analysis
    policy: RiskPolicy
    assessments: list[Assessment]
    decisions: Decisions | None = field(default=None, repr=False)

    def __iter__(self) -> Iterator[Assessment]:
        return iter(self.assessments)

    def __repr__(self) -> str:
        return (f"<RiskRegister {len(self.assessments)} assessments, "
                f"{len(self.unacceptable())} unacceptable after controls, policy "
                f"{self.policy.id} {self.policy.version}>")

    def _repr_html_(self) -> str:
        from .._display import register_html
        return register_html(self)

    def __len__(self) -> int:
        return len(self.assessments)

    def get(self, finding_id: str) -> Assessment | None:
        """The assessment of one finding, or None."""
        return next((a for a in self.assessments if a.id == finding_id), None)

    def unacceptable(self) -> list[Assessment]:
        """Findings whose residual risk is unacceptable under the policy."""
        return [a for a in self.assessments if a.residual.acceptability.value == "unacceptable"]

    def to_records(self) -> list[dict[str, Any]]:
        """Assessments as plain dictionaries, in register order."""
        return [a.to_dict() for a in self.assessments]

    def to_frame(self) -> pandas.DataFrame:
        """The register as a pandas DataFrame indexed by finding id."""
        import pandas as pd

        return pd.DataFrame.from_records(self.to_records()).set_index("id")


class _Context:
    """Per-model facts the scoring reads, computed once."""

    def __init__(self, analysis: Analysis, policy: RiskPolicy) -> None:
        model, catalog = analysis.model, analysis.catalog
        self.model, self.catalog, self.policy = model, catalog, policy
        self.exposure: dict[str, Exposure] = exposure(model, catalog)
        self.blast = blast_radius(model, catalog)
        self.components = {c.id: c for c in model.components}
        self.assets = {d.id: d for d in model.data_assets}
        self.flows = {f.id: f for f in model.flows}
        self.served = _served_harm(model)

    def data_of(self, element_id: str) -> list[Any]:
        flow = self.flows.get(element_id)
        if flow is not None:
            ids: Iterable[str] = flow.data
        else:
            c = self.components.get(element_id)
            ids = [*c.stores, *c.processes] if c else []
        return [self.assets[i] for i in dict.fromkeys(ids) if i in self.assets]

    def level(self, scale: str, rank: int) -> str:
        return self.policy.level(scale, rank).id


def _served_harm(model: Model) -> dict[str, tuple[int, int]]:
    """For each element, the worst (integrity, availability) harm of the functions it reaches.

    Component-wise max folded over what each element reaches (:func:`fold_reachable`):
    O(V + E). Used for model weights and training data, which inherit the clinical function of
    the components downstream of them.
    """
    graph = flow_graph(model)
    own: dict[str, tuple[int, int]] = {}
    for c in model.components:
        harms = [HARM[f] for f in c.functions]
        own[c.id] = (max((h[0] for h in harms), default=1), max((h[1] for h in harms), default=1))
    return fold_reachable(graph, own, _worse, (1, 1))


def _worse(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return (max(a[0], b[0]), max(a[1], b[1]))


def _clamp(rank: int) -> int:
    return max(1, min(5, rank))


def _exploitability(finding: Finding, ctx: _Context) -> tuple[Score, str]:
    threat = finding.threat
    factors: list[Factor] = []
    subject = finding.subject
    if subject.kind is ElementKind.data_flow:
        flow = ctx.flows[subject.id]
        proto = ctx.catalog.protocols[flow.protocol]
        source = ctx.exposure.get(flow.source)
        candidates: list[tuple[AttackVector, str]] = []
        if source is not None and source.vector is not None:
            candidates.append((source.vector, f"the source {flow.source!r} is reachable "
                                              f"from {source.entry!r} ({source.vector.value})"))
        channel = {"internet": AttackVector.internet, "network": AttackVector.adjacent,
                   "local": AttackVector.local}.get(proto.range.value)
        if proto.range.value == "proximity":
            channel = AttackVector.proximity if proto.wireless else AttackVector.physical
        if channel is not None:
            candidates.append((channel, f"the {proto.name} channel can be reached at "
                                        f"{proto.range.value} range"))
        vector, why = min(candidates, key=lambda c: c[0].rank)
        authenticated, encrypted = flow_protection(flow, ctx.catalog)
        protected = authenticated and encrypted
    else:
        exp = ctx.exposure.get(subject.id)
        if exp is None or exp.vector is None:
            vector, why = AttackVector.physical, "no entry point reaches it in the model"
            protected = False
        else:
            vector = exp.vector
            why = (f"an entry point itself ({exp.entry_reason})" if exp.hops == 0 else
                   f"reached from {exp.entry!r} over {exp.hops} flow(s), crossing "
                   f"{exp.boundaries_crossed} trust boundar"
                   f"{'y' if exp.boundaries_crossed == 1 else 'ies'}")
            protected = exp.authenticated and exp.encrypted
    if threat.attack_vector is not None:
        needed = AttackVector(threat.attack_vector)
        if needed.rank > vector.rank:
            why = (f"the attack needs {needed.value} access although the element is reachable "
                   f"at {vector.value} ({why})")
            vector = needed
    rank = VECTOR_BASE[vector]
    factors.append(Factor("attack vector", f"base {rank}", f"{vector.value}: {why}"))
    if _PRIVILEGES[threat.privileges]:
        rank += _PRIVILEGES[threat.privileges]
        factors.append(Factor("privileges required", f"{_PRIVILEGES[threat.privileges]:+d}",
                              f"{threat.privileges} privileges needed first"))
    if threat.user_interaction:
        rank -= 1
        factors.append(Factor("user interaction", "-1", "a user must act for the attack"))
    if threat.complexity == "high":
        rank -= 1
        factors.append(Factor("attack complexity", "-1", "high: depends on conditions the "
                                                          "attacker does not control"))
    if protected:
        rank -= 1
        factors.append(Factor("protected path", "-1", "every hop on the way is authenticated "
                                                       "and encrypted"))
    rank = _clamp(rank)
    return Score("exploitability", rank, ctx.level("exploitability", rank), tuple(factors)), \
        vector.value


def _harm(finding: Finding, ctx: _Context, goal: str) -> tuple[int, list[Factor]]:
    """Patient harm rank (1 = none beyond negligible) of an integrity/availability breach."""
    subject = finding.subject
    index = 0 if goal == "integrity" else 1
    rank, factors = 1, []
    if subject.kind is ElementKind.data_flow:
        flow = ctx.flows[subject.id]
        ends = [flow.target, *([flow.source] if flow.bidirectional else [])]
    else:
        ends = [subject.id]
    for end in ends:
        c = ctx.components.get(end)
        if c is None:
            continue
        for function in c.functions:
            value = HARM[function][index]
            if value > rank:
                rank = value
                factors = [Factor("clinical function", f"{goal} -> rank {value}",
                                  f"{end!r} performs {function.value.replace('_', ' ')}")]
    data = ctx.data_of(subject.id)
    if goal == "integrity" and any(d.kind is DataKind.therapy_command for d in data) and rank < 5:
        rank = 5
        factors = [Factor("data", "integrity -> rank 5", "carries therapy commands")]
    if goal == "integrity" and any(d.kind in _MODEL_DATA for d in data):
        inherited = ctx.served.get(subject.id if subject.kind is not ElementKind.data_flow
                                   else ctx.flows[subject.id].target, (1, 1))[index]
        if inherited > rank:
            rank = inherited
            factors = [Factor("model data", f"{goal} -> rank {inherited}", "model weights or "
                              "training data feed a clinical function downstream")]
    return rank, factors


def _impact(finding: Finding, ctx: _Context) -> tuple[str, Score, bool]:
    """Dimension (safety, privacy, business), impact score, multi-patient flag."""
    stride = finding.threat.stride
    goal = GOAL[stride]
    subject = finding.subject
    data = ctx.data_of(subject.id)
    target = (ctx.flows[subject.id].target if subject.kind is ElementKind.data_flow
              else subject.id)
    reach = ctx.blast.get(target, 0)
    multi = reach >= 2
    if goal in ("integrity", "availability"):
        goals = ["integrity", "availability"] if stride is Stride.elevation_of_privilege \
            else [goal]
        best, factors = 1, []
        for g in goals:
            rank, why = _harm(finding, ctx, g)
            if rank > best:
                best, factors = rank, why
        if best > 1:
            if multi:
                best = _clamp(best + 1)
                factors.append(Factor("multi-patient reach", "+1", f"reaches {reach} "
                                      "patient-facing devices"))
            return "safety", Score("severity", best, ctx.level("severity", best),
                                   tuple(factors)), multi
    if goal == "confidentiality":
        personal = [d for d in data if d.kind in _PERSONAL]
        if personal:
            identifiable = [d for d in personal if not (d.pseudonymized or d.anonymized)]
            if identifiable:
                top = max(identifiable, key=lambda d: d.confidentiality.rank)
                rank = {Level.low: 2, Level.medium: 3, Level.high: 4}[top.confidentiality]
                why = f"identifiable {top.kind.value} {top.id!r}, confidentiality " \
                      f"{top.confidentiality.value}"
            elif any(d.pseudonymized and not d.anonymized for d in personal):
                rank, why = 2, "pseudonymized personal data only"
            else:
                rank, why = 1, "anonymized data only"
            factors = [Factor("personal data", f"rank {rank}", why)]
            c = ctx.components.get(subject.id)
            ctype = ctx.catalog.component_types[c.type] if c is not None else None
            many = ctype is not None and (ctype.element == "data_store" or bool(
                c.attributes.get("multi_patient", ctype.attributes.get("multi_patient", False))))
            if many and rank > 1:
                rank = _clamp(rank + 1)
                factors.append(Factor("many patients' records", "+1", "a store of many "
                                      "patients' data"))
            return "privacy", Score("privacy", rank, ctx.level("privacy", rank),
                                    tuple(factors)), False
    rank, why = _business_rank(goal, data)
    factors = [Factor("business impact", f"rank {rank}", why)]
    if multi and goal == "availability":
        rank = _clamp(rank + 1)
        factors.append(Factor("fleet reach", "+1", f"reaches {reach} patient-facing devices"))
    return "business", Score("business", rank, ctx.level("business", rank), tuple(factors)), \
        False


def _business_rank(goal: str, data: list[Any]) -> tuple[int, str]:
    kinds = {d.kind for d in data}
    if goal == "confidentiality":
        if DataKind.credentials in kinds:
            return 4, "credentials or keys disclosed open further attacks"
        if kinds & _MODEL_DATA:
            return 3, "model weights or training data are intellectual property"
        return 2, "no personal data or secrets involved"
    if goal == "accountability":
        return 2, "actions cannot be attributed; audit and regulatory reporting suffer"
    if goal == "availability":
        return 3, "service interruption without a clinical function at stake"
    return 3, "unauthorized change without a clinical function at stake"


def _post(score: Score, reduction: int, counted: list[str], scale: str,
          ctx: _Context) -> Score:
    if not reduction:
        return score
    rank = _clamp(score.rank - reduction)
    factors = (*score.factors, Factor("controls", f"-{score.rank - rank}",
                                      ", ".join(counted)))
    return Score(scale, rank, ctx.level(scale, rank), factors)


def _from_cvss(derived: Score, vector: str, ctx: _Context) -> Score:
    rank, why = cvss_exploitability(vector)
    factors = (Factor("CVSS", f"rank {rank}", why + "; replaces the derived level "
                      f"{derived.level} (rank {derived.rank})"),)
    return Score("exploitability", rank, ctx.level("exploitability", rank), factors)


def _assess_one(finding: Finding, ctx: _Context,
                decision: ResolvedDecision | None = None) -> Assessment:
    exploitability, vector = _exploitability(finding, ctx)
    if decision is not None and decision.decision.cvss:
        exploitability = _from_cvss(exploitability, decision.decision.cvss, ctx)
    dimension, impact, multi = _impact(finding, ctx)
    risk = ctx.policy.risk(exploitability.level, impact.level, dimension)
    counted = [a.control for a in finding.applied_controls if a.status in _COUNTED]
    planned = [a.control for a in finding.applied_controls if a.status not in _COUNTED]
    counted = list(dict.fromkeys(counted))
    suggested = [c for c in finding.threat.controls if c not in counted]
    effects = [ctx.catalog.controls[c].effect for c in counted if c in ctx.catalog.controls]
    exp_post = _post(exploitability, sum(e.exploitability for e in effects), counted,
                     "exploitability", ctx)
    imp_post = _post(impact, sum(e.severity for e in effects), counted, impact.scale, ctx)
    residual = ctx.policy.risk(exp_post.level, imp_post.level, dimension)
    return Assessment(
        finding=finding, goal=GOAL[finding.threat.stride], dimension=dimension,
        exploitability=exploitability, impact=impact, risk=risk,
        counted_controls=tuple(counted), planned_controls=tuple(dict.fromkeys(planned)),
        suggested_controls=tuple(suggested), exploitability_post=exp_post,
        impact_post=imp_post, residual=residual, attack_vector=vector,
        multi_patient=multi, safety_transfer=dimension == "safety" and impact.rank >= 3,
        decision=decision,
    )


def assess(analysis: Analysis, policy: RiskPolicy | None = None,
           decisions: Decisions | None = None) -> RiskRegister:
    """Rate every finding of ``analysis`` under ``policy`` (default: the shipped policy).

    With ``decisions`` each assessment carries the decision that applies to it (exact id before
    ``THREAT@*`` before ``*@ELEMENT``). The register lists the highest residual risk first.
    """
    policy = policy or RiskPolicy.load()
    ctx = _Context(analysis, policy)
    resolved = decisions.resolve(f.id for f in analysis.findings) if decisions else {}
    assessments = [_assess_one(f, ctx, resolved.get(f.id)) for f in analysis.findings]
    assessments.sort(key=lambda a: (-a.residual.rank, -a.risk.rank, -a.impact.rank,
                                    -a.exploitability.rank, a.id))
    return RiskRegister(analysis, policy, assessments, decisions)
