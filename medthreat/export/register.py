"""The assessed risk register as JSON, CSV and a Markdown section: highest residual risk first.

:func:`register_record` is the one definition of a row of the risk register: the *Risk
Register* sheet of the Excel workbook and the ``register`` object of every finding in
``findings.json`` are both built from it, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._runtime import gc_paused
from .._yaml import atomic_output
from ..risk import RiskRegister
from ._text import csv_text
from ._text import markdown_cell as cell

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..risk.assess import Assessment

__all__ = [
    "COMPUTED_COLUMNS",
    "CSV_COLUMNS",
    "EDITABLE_COLUMNS",
    "FORMAT",
    "REGISTER_COLUMNS",
    "RecordContext",
    "json_chunks",
    "register_csv",
    "register_json",
    "register_json_chunks",
    "register_record",
    "register_records",
    "requirements_by_control",
    "risk_markdown",
    "write_chunks",
    "write_register_json",
]

FORMAT = "medthreat-register/1"

CSV_COLUMNS = (
    "id", "dimension", "goal", "attack_vector", "exploitability", "impact_scale", "impact",
    "risk", "acceptability", "counted_controls", "planned_controls", "exploitability_post",
    "impact_post", "residual_risk", "acceptability_post", "multi_patient", "safety_transfer",
    "status", "decision_key", "justification", "exploitability_factors", "impact_factors",
)

#: Columns of the risk register computed from the analysis, in sheet order.
COMPUTED_COLUMNS = (
    "finding_id", "threat_id", "title", "stride", "ai_privacy_category", "protection_goal",
    "element_id", "element_name", "element_kind", "element_type", "flow", "boundaries_crossed",
    "description", "attack_vector", "exploitability_pre", "impact_dimension",
    "patient_harm_severity", "privacy_business_impact", "risk_pre", "acceptability_pre",
    "controls", "planned_controls", "suggested_controls", "fda_control_categories",
    "control_status", "exploitability_post", "severity_post", "residual_risk",
    "acceptability_post", "controlled_post", "multi_patient", "safety_transfer",
    "requirement_ids", "verification_ids", "references", "decision_key",
)
#: The decision columns a risk manager edits (read back by the workbook import).
EDITABLE_COLUMNS = ("status", "justification", "owner", "date", "ticket", "hazard_ids")
#: Every column of the risk register: the keys of :func:`register_record`, in order.
REGISTER_COLUMNS = COMPUTED_COLUMNS + EDITABLE_COLUMNS


@dataclass(frozen=True)
class RecordContext:
    """What the rows of one register share: the register, the catalog and, per control, the
    catalog requirement ids it serves. Build it once with :meth:`of`."""

    register: RiskRegister
    catalog: Catalog
    requirements: dict[str, list[str]]
    #: Control columns by (counted, planned, suggested, applied controls): findings of one
    #: threat on like elements share them.
    controls_memo: dict[tuple[Any, ...], tuple[list[str], list[str], list[str], list[str]]] = \
        field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, register: RiskRegister, catalog: Catalog | None = None) -> RecordContext:
        """The context of ``register``; ``catalog`` defaults to the analysis catalog."""
        catalog = catalog or register.analysis.catalog
        controls = {c for a in register
                    for c in (*a.counted_controls, *a.planned_controls, *a.suggested_controls)}
        return cls(register, catalog, requirements_by_control(catalog, controls))


def requirements_by_control(catalog: Catalog, controls: Iterable[str]) -> dict[str, list[str]]:
    """For each control id, the ids of the catalog requirements it satisfies (sorted input
    order of the catalog; an unknown control serves none)."""
    reqs = catalog.requirements()
    out: dict[str, list[str]] = {}
    for control_id in sorted(set(controls)):
        control = catalog.controls.get(control_id)
        out[control_id] = ([rid for rid, (_, req) in reqs.items() if req.matches(control)]
                           if control is not None else [])
    return out


def register_record(a: Assessment, context: RecordContext) -> dict[str, Any]:
    """One row of the risk register, keyed by :data:`REGISTER_COLUMNS` in that order.

    Values are typed: lists stay lists, flags are booleans, a value that does not apply is
    ``None`` (``flow`` of a non-flow element, the impact column of the other scale,
    ``controlled_post`` without a policy target, ``decision_key`` and ``date`` without a
    decision); ``date`` is ISO 8601 text. Free-text decision fields are ``""`` when empty.
    """
    f = a.finding
    threat = f.threat
    resolved = a.decision
    d = resolved.decision if resolved else None
    key = (a.counted_controls, a.planned_controls, a.suggested_controls, f.applied_controls)
    memo = context.controls_memo.get(key)
    if memo is None:
        controls = context.catalog.controls
        control_ids = [*a.counted_controls, *a.planned_controls]
        all_controls = list(dict.fromkeys([*control_ids, *a.suggested_controls]))
        status_of = {ref.control: ref.status for ref in f.applied_controls}
        memo = context.controls_memo[key] = (
            [f"{c} {controls[c].title}" if c in controls else c for c in control_ids],
            sorted({controls[c].fda_category.value for c in all_controls if c in controls}),
            [f"{c}: {status_of.get(c, 'suggested')}" for c in all_controls],
            list(dict.fromkeys(r for c in a.counted_controls
                               for r in context.requirements.get(c, ()))),
        )
    titled, fda, control_status, served = memo
    requirement_ids = list(dict.fromkeys([*d.requirement_ids, *served])) if d else list(served)
    safety = a.dimension == "safety"
    category = [x for x in (threat.ai_category and f"AI: {threat.ai_category}",
                            threat.privacy_category and f"privacy: {threat.privacy_category}")
                if x]
    if f.source:
        chains = context.register.analysis.facts.chains
        crossed = sorted(set(chains.get(f.source, ())) ^ set(chains.get(f.target, ())))
        flow: str | None = f"{f.source} -> {f.target}"
    else:
        crossed, flow = [], None
    return {
        "finding_id": f.id,
        "threat_id": threat.id,
        "title": threat.title,
        "stride": threat.stride.value,
        "ai_privacy_category": category,
        "protection_goal": a.goal,
        "element_id": f.element_id,
        "element_name": f.element_name,
        "element_kind": f.element_kind.value,
        "element_type": f.element_type,
        "flow": flow,
        "boundaries_crossed": crossed,
        "description": threat.description,
        "attack_vector": str(a.attack_vector),
        "exploitability_pre": a.exploitability.level,
        "impact_dimension": a.dimension,
        "patient_harm_severity": a.impact.level if safety else None,
        "privacy_business_impact": None if safety else f"{a.dimension}: {a.impact.level}",
        "risk_pre": a.risk.level.id,
        "acceptability_pre": a.risk.acceptability.value,
        "controls": list(titled),
        "planned_controls": list(a.planned_controls),
        "suggested_controls": list(a.suggested_controls),
        "fda_control_categories": list(fda),
        "control_status": list(control_status),
        "exploitability_post": a.exploitability_post.level,
        "severity_post": a.impact_post.level,
        "residual_risk": a.residual.level.id,
        "acceptability_post": a.residual.acceptability.value,
        "controlled_post": a.residual.controlled,
        "multi_patient": a.multi_patient,
        "safety_transfer": a.safety_transfer,
        "requirement_ids": requirement_ids,
        "verification_ids": list(d.verification_ids) if d else [],
        "references": list(threat.references),
        "decision_key": resolved.key if resolved else None,
        "status": a.status,
        "justification": d.justification if d else "",
        "owner": d.owner if d else "",
        "date": d.date.isoformat() if d and d.date else None,
        "ticket": d.ticket if d else "",
        "hazard_ids": list(d.hazard_ids) if d else [],
    }


def register_records(register: RiskRegister, catalog: Catalog | None = None,
                     ) -> Iterator[dict[str, Any]]:
    """:func:`register_record` of every assessment, in register order (highest residual risk
    first), produced one at a time."""
    context = RecordContext.of(register, catalog)
    for a in register:
        yield register_record(a, context)


_encode_str = json.encoder.encode_basestring  # type: ignore[attr-defined]
_KEYS: dict[str, str] = {}  # key -> '"key": '


def _key(name: str) -> str:
    """``"name": `` as JSON, remembered for the few field names records have."""
    text = _KEYS.get(name)
    if text is None:
        text = _encode_str(name) + ": "
        if len(_KEYS) < 4096:
            _KEYS[name] = text
    return text


def _dumped(value: Any, pad: str) -> str:
    """``value`` as ``json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)`` writes
    it at the depth whose line start is ``pad`` (a newline and spaces): the same text, built
    without the slow pure-Python encoder ``json`` falls back to when indenting."""
    kind = type(value)
    if kind is str:
        return _encode_str(value)
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if kind is int:
        return int.__repr__(value)
    if kind is list or kind is tuple:
        if not value:
            return "[]"
        inner = pad + "  "
        try:  # lists of text, the common case, in one pass of the C string encoder
            body = ("," + inner).join(map(_encode_str, value))
        except TypeError:
            body = ("," + inner).join([_dumped(v, inner) for v in value])
        return "[" + inner + body + pad + "]"
    if kind is dict:
        if not value:
            return "{}"
        inner = pad + "  "
        parts = []
        keys = _KEYS
        try:
            for name in sorted(value):
                item = value[name]
                item_kind = type(item)
                if item_kind is str:
                    text = _encode_str(item)
                elif item is None:
                    text = "null"
                elif item_kind is bool:
                    text = "true" if item else "false"
                else:
                    text = _dumped(item, inner)
                prefix = keys.get(name)
                parts.append((prefix if prefix is not None else _key(name)) + text)
        except TypeError:  # keys that are not all text: leave it to json
            pass
        else:
            return "{" + inner + ("," + inner).join(parts) + pad + "}"
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return text.replace("\n", pad)


def _nested(value: Any, indent: int) -> str:
    """``value`` as :func:`~medthreat._yaml.dump_json` would write it ``indent`` levels deep."""
    return _dumped(value, "\n" + "  " * indent)


def json_chunks(doc: dict[str, Any], key: str, items: Iterable[Any]) -> Iterator[str]:
    """The text of ``dump_json({**doc, key: list(items)})``, produced piece by piece so that
    the items never have to be held in memory together (``doc`` must not contain ``key``)."""
    full = {**doc, key: []}
    keys = sorted(full)
    yield "{"
    for i, k in enumerate(keys):
        yield ("\n  " if i == 0 else ",\n  ") + json.dumps(k, ensure_ascii=False) + ": "
        if k != key:
            yield _nested(full[k], 1)
            continue
        first = True
        for item in items:
            yield ("[\n    " if first else ",\n    ") + _nested(item, 2)
            first = False
        yield "[]" if first else "\n  ]"
    yield "\n}\n" if keys else "}\n"


def register_json_chunks(register: RiskRegister) -> Iterator[str]:
    """The text of :func:`register_json` piece by piece, one assessment at a time."""
    policy = register.policy
    doc: dict[str, Any] = {
        "format": FORMAT,
        "policy": {"id": policy.id, "version": policy.version, "title": policy.title},
        "counts": {
            "pre": dict(sorted(Counter(a.risk.level.id for a in register).items())),
            "post": dict(sorted(Counter(a.residual.level.id for a in register).items())),
            "unacceptable_post": len(register.unacceptable()),
        },
    }
    return json_chunks(doc, "register", (a.to_dict() for a in register))


def register_json(register: RiskRegister) -> str:
    """Policy identity, counts and every assessment, as stable JSON text."""
    with gc_paused():
        return "".join(register_json_chunks(register))


def write_register_json(register: RiskRegister, path: str | os.PathLike[str]) -> Path:
    """Stream :func:`register_json` into ``path`` (atomically) and return the path."""
    return write_chunks(path, register_json_chunks(register))


def write_chunks(path: str | os.PathLike[str], chunks: Iterable[str]) -> Path:
    """Write text pieces to ``path`` as UTF-8 through a temporary file beside it that is
    renamed over it (a crash leaves the previous file), with the garbage collector paused;
    return the path. Memory holds one piece at a time."""
    target = Path(path)
    with atomic_output(target) as handle, gc_paused():
        for chunk in chunks:
            handle.write(chunk.encode("utf-8"))
    return target


def register_csv(register: RiskRegister) -> str:
    """One row per finding in register order; list cells joined with ``; ``."""
    with gc_paused():
        return csv_text((a.to_dict() for a in register), CSV_COLUMNS)


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
