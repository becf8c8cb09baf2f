"""Open Threat Model (OTM 0.2.0) export of a model, its analysis and optional risk register.

Deterministic: ids are medthreat ids (finding ids for threats, catalog control ids for
mitigations), lists follow the model and analysis order, JSON keys are sorted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .._yaml import atomic_write, dump_json
from ..engine import Analysis
from ..risk import RiskRegister

OTM_VERSION = "0.2.0"
#: medthreat trust -> OTM trustRating (0-100); the importer reads it back by thirds.
TRUST_RATING = {"untrusted": 1, "semi_trusted": 50, "trusted": 100}
#: Zone of elements outside every boundary (OTM components need a parent).
OUTSIDE_ZONE = "medthreat-outside"
_LEVEL_SCORE = {"low": 20, "medium": 50, "high": 100}
_CLOSED = {"mitigated", "avoided", "transferred", "false_positive"}


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-") or "project"


def _rank_pct(rank: int, top: int) -> int:
    return round(100 * rank / top) if top else 0


def otm_document(analysis: Analysis, register: RiskRegister | None = None) -> dict[str, Any]:
    """The OTM document as plain data."""
    model = analysis.model
    catalog = analysis.catalog
    system = model.system
    doc: dict[str, Any] = {
        "otmVersion": OTM_VERSION,
        "project": {"name": system.name, "id": _slug(system.name),
                    "description": system.description or None,
                    "attributes": {"version": system.version,
                                   "manufacturer": system.manufacturer,
                                   "generator": "medthreat"}},
    }
    zones = [{"id": OUTSIDE_ZONE, "name": "Outside every trust boundary", "type": "internet",
              "risk": {"trustRating": TRUST_RATING["untrusted"]}}]
    for b in model.boundaries:
        zone: dict[str, Any] = {"id": b.id, "name": b.name or b.id, "type": b.kind.value,
                                "description": b.description or None,
                                "risk": {"trustRating": TRUST_RATING[b.effective_trust.value]}}
        if b.parent:
            zone["parent"] = {"trustZone": b.parent}
        zones.append(zone)
    doc["trustZones"] = zones
    doc["assets"] = [{"id": d.id, "name": d.name or d.id, "description": d.description or None,
                      "risk": {"confidentiality": _LEVEL_SCORE[d.confidentiality.value],
                               "integrity": _LEVEL_SCORE[d.integrity.value],
                               "availability": _LEVEL_SCORE[d.availability.value]},
                      "attributes": {"kind": d.kind.value}} for d in model.data_assets]

    scales = register.policy if register is not None else None
    threats: list[dict[str, Any]] = []
    refs: dict[str, list[dict[str, Any]]] = {}
    mitigation_ids: set[str] = set()
    for f in analysis.findings:
        a = register.get(f.id) if register is not None else None
        risk: dict[str, Any] = {"likelihood": None, "impact": 0,
                                "impactComment": "not assessed (no risk register)"}
        state = "exposed"
        if a is not None and scales is not None:
            ex_top = max((lv.rank for lv in scales.scales.exploitability.levels), default=0)
            im_scale = getattr(scales.scales, a.impact.scale, None)
            im_top = max((lv.rank for lv in im_scale.levels), default=0) if im_scale else 0
            risk = {"likelihood": _rank_pct(a.exploitability.rank, ex_top),
                    "likelihoodComment": f"exploitability {a.exploitability.level}",
                    "impact": _rank_pct(a.impact.rank, im_top),
                    "impactComment": f"{a.impact.scale} {a.impact.level}; risk "
                                     f"{a.risk.level.id}, residual {a.residual.level.id} "
                                     f"({a.residual.acceptability.value})"}
            if a.status in _CLOSED:
                state = "not-applicable" if a.status == "false_positive" else "mitigated"
            elif a.status == "accepted":
                state = "accepted"
            elif a.counted_controls:
                state = "partly-mitigated"
        threats.append({
            "id": f.id, "name": f.title, "description": f.description or None,
            "categories": [f.stride.value],
            "cwes": [r.split(":")[-1] for r in f.references if r.upper().startswith("CWE:")],
            "risk": risk,
            "attributes": {"threat_id": f.threat_id, "element": f.element_id,
                           "baseline": f.baseline},
        })
        applied = {ac.control: ac.status for ac in f.applied_controls}
        mits = []
        for ctl in sorted(set(f.controls) | set(applied)):
            mitigation_ids.add(ctl)
            mstate = applied.get(ctl)
            mits.append({"mitigation": ctl, "state": {"planned": "required"}.get(
                mstate or "", "implemented" if mstate else "recommended")})
        refs.setdefault(f.element_id, []).append(
            {"threat": f.id, "state": state, "mitigations": mits})
    components = []
    for c in model.components:
        item: dict[str, Any] = {
            "id": c.id, "name": c.name or c.id, "type": c.type,
            "description": c.description or None,
            "parent": {"trustZone": c.boundary or OUTSIDE_ZONE},
            "tags": sorted({f"element:{catalog.component_types[c.type].element}"}
                           if c.type in catalog.component_types else set()),
            "assets": {"processed": list(c.processes), "stored": list(c.stores)},
            "threats": refs.get(c.id, []),
        }
        if c.out_of_scope:
            item["attributes"] = {"out_of_scope": True, "reason": c.out_of_scope_reason}
        components.append(item)
    for actor in model.actors:
        components.append({
            "id": actor.id, "name": actor.name or actor.id, "type": "actor",
            "description": actor.description or None,
            "parent": {"trustZone": actor.boundary or OUTSIDE_ZONE},
            "tags": ["element:external_entity", f"role:{actor.role.value}"],
            "threats": refs.get(actor.id, []),
        })
    doc["components"] = components
    doc["dataflows"] = [{
        "id": fl.id, "name": fl.name or fl.id, "description": fl.description or None,
        "source": fl.source, "destination": fl.target, "bidirectional": fl.bidirectional,
        "assets": list(fl.data), "tags": [f"protocol:{fl.protocol}"],
        "attributes": {"protocol": fl.protocol, "out_of_scope": fl.out_of_scope},
        "threats": refs.get(fl.id, []),
    } for fl in model.flows]
    doc["threats"] = threats
    doc["mitigations"] = [{
        "id": cid, "name": catalog.controls[cid].title if cid in catalog.controls else cid,
        "description": (catalog.controls[cid].description or None)
        if cid in catalog.controls else None,
        "riskReduction": 0,
        "attributes": {"note": "medthreat does not quantify a per-control risk reduction"},
    } for cid in sorted(mitigation_ids)]
    return doc


def otm_json(analysis: Analysis, register: RiskRegister | None = None) -> str:
    """The OTM document as stable JSON text (sorted keys)."""
    return dump_json(otm_document(analysis, register))


def write_otm(analysis: Analysis, path: str | os.PathLike[str],
              register: RiskRegister | None = None) -> Path:
    """Write the OTM JSON document atomically to ``path`` and return it."""
    atomic_write(path, otm_json(analysis, register))
    return Path(path)
