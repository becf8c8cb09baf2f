"""OWASP Threat Dragon v2 export: one STRIDE diagram with threats in ``cell.data.threats``.

Layout is a deterministic grid: one trust-boundary box per medthreat boundary (nesting is
flattened; an element sits in the box of its innermost boundary), elements outside every
boundary in a first column group without a box. Cell ids are medthreat ids.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .._yaml import atomic_write, dump_json
from ..engine import Analysis
from ..risk import RiskRegister

TD_VERSION = "2.3.0"
#: medthreat STRIDE category -> Threat Dragon threat type.
STRIDE_TYPES = {
    "spoofing": "Spoofing", "tampering": "Tampering", "repudiation": "Repudiation",
    "information_disclosure": "Information disclosure",
    "denial_of_service": "Denial of service",
    "elevation_of_privilege": "Elevation of privilege",
}
#: residual acceptability -> Threat Dragon severity.
SEVERITY = {"unacceptable": "High", "review": "Medium", "acceptable": "Low"}
#: decision status -> Threat Dragon status (Open / Mitigated / NA).
STATUS = {"open": "Open", "in_progress": "Open", "accepted": "Open",
          "mitigated": "Mitigated", "avoided": "Mitigated", "transferred": "Mitigated",
          "false_positive": "NA"}
_W, _H, _GAP_X, _GAP_Y, _PAD, _COLS = 160, 80, 60, 60, 40, 3


def _threats(analysis: Analysis, register: RiskRegister | None) -> dict[str, list[dict]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for n, f in enumerate(analysis.findings, start=1):
        a = register.get(f.id) if register is not None else None
        if a is not None:
            severity = SEVERITY[a.residual.acceptability.value]
            status = STATUS.get(a.status, "Open")
            score = f"risk {a.risk.level.id}, residual {a.residual.level.id}"
        else:
            severity, status, score = "Medium", "Open", "not assessed"
        mitigation = f.threat.mitigation or ""
        if f.controls:
            mitigation = (mitigation + " Controls: " + ", ".join(f.controls)).strip()
        out.setdefault(f.element_id, []).append({
            "id": f.id, "threatId": f.id, "number": n, "title": f.title,
            "type": STRIDE_TYPES[f.stride.value], "modelType": "STRIDE",
            "status": status, "severity": severity, "score": score,
            "description": f.description or f.title, "mitigation": mitigation,
        })
    return out


def threatdragon_document(analysis: Analysis,
                          register: RiskRegister | None = None) -> dict[str, Any]:
    """The Threat Dragon v2 document as plain data."""
    model = analysis.model
    catalog = analysis.catalog
    threats = _threats(analysis, register)
    groups: list[tuple[str | None, list[Any]]] = [
        (None, [e for e in [*model.actors, *model.components] if not e.boundary])]
    groups += [(b.id, [e for e in [*model.actors, *model.components] if e.boundary == b.id])
               for b in model.boundaries]
    cells: list[dict[str, Any]] = []
    x0 = 0
    z = 1
    for boundary_id, members in groups:
        cols = max(1, min(_COLS, len(members)))
        rows = max(1, -(-len(members) // _COLS))
        width = _PAD * 2 + cols * _W + (cols - 1) * _GAP_X
        height = _PAD * 2 + rows * _H + (rows - 1) * _GAP_Y
        if boundary_id is not None:
            b = next(x for x in model.boundaries if x.id == boundary_id)
            cells.append({
                "id": b.id, "shape": "trust-boundary-box", "zIndex": z,
                "position": {"x": x0, "y": 0}, "size": {"width": width, "height": height},
                "attrs": {"label": {"text": b.name or b.id}},
                "data": {"type": "tm.BoundaryBox", "name": b.name or b.id,
                         "description": f"{b.kind.value}, {b.effective_trust.value}",
                         "isTrustBoundary": True, "hasOpenThreats": False},
            })
            z += 1
        for i, e in enumerate(members):
            x = x0 + _PAD + (i % _COLS) * (_W + _GAP_X)
            y = _PAD + (i // _COLS) * (_H + _GAP_Y)
            own = threats.get(e.id, [])
            data: dict[str, Any] = {"name": e.name or e.id, "description": e.description,
                                    "isTrustBoundary": False, "threats": own,
                                    "hasOpenThreats": any(t["status"] == "Open" for t in own)}
            if hasattr(e, "role"):
                shape, data["type"] = "actor", "tm.Actor"
                data["providesAuthentication"] = False
            else:
                ctype = catalog.component_types.get(e.type)
                element = ctype.element if ctype else "process"
                shape = {"data_store": "store", "external_entity": "actor"}.get(element,
                                                                               "process")
                data["type"] = {"store": "tm.Store", "actor": "tm.Actor"}.get(shape,
                                                                              "tm.Process")
                data["outOfScope"] = e.out_of_scope
                data["reasonOutOfScope"] = e.out_of_scope_reason
            cells.append({"id": e.id, "shape": shape, "zIndex": z + 1,
                          "position": {"x": x, "y": y}, "size": {"width": _W, "height": _H},
                          "attrs": {"text": {"text": e.name or e.id}}, "data": data})
        x0 += width + _GAP_X * 2
    for fl in model.flows:
        own = threats.get(fl.id, [])
        enc = fl.encryption.value if fl.encryption is not None else ""
        proto = catalog.protocols.get(fl.protocol)
        encrypted = enc in {"transport", "end_to_end"} or (not enc and proto is not None
                                                          and bool(proto.encrypted))
        line: dict[str, Any] = {"stroke": "#333333", "strokeWidth": 1,
                                "targetMarker": {"name": "block"}}
        if fl.bidirectional:
            line["sourceMarker"] = {"name": "block"}
        cells.append({
            "id": fl.id, "shape": "flow", "zIndex": z + 2,
            "source": {"cell": fl.source}, "target": {"cell": fl.target},
            "attrs": {"line": line},
            "data": {"type": "tm.Flow", "name": fl.name or fl.id,
                     "description": fl.description, "protocol": fl.protocol,
                     "isEncrypted": encrypted, "isBidirectional": fl.bidirectional,
                     "isPublicNetwork": False, "isTrustBoundary": False,
                     "outOfScope": fl.out_of_scope, "reasonOutOfScope": fl.out_of_scope_reason,
                     "threats": own, "hasOpenThreats": any(t["status"] == "Open" for t in own)},
        })
    system = model.system
    return {
        "version": TD_VERSION,
        "summary": {"title": system.name, "owner": system.manufacturer,
                    "description": system.description, "id": 0},
        "detail": {
            "contributors": [], "reviewer": "", "diagramTop": 1,
            "threatTop": len(analysis.findings),
            "diagrams": [{"id": 0, "title": f"{system.name} data flows", "diagramType": "STRIDE",
                          "version": TD_VERSION, "description": system.description,
                          "thumbnail": "./public/content/images/thumbnail.stride.jpg",
                          "cells": cells}],
        },
    }


def threatdragon_json(analysis: Analysis, register: RiskRegister | None = None) -> str:
    """The Threat Dragon document as stable JSON text (sorted keys)."""
    return dump_json(threatdragon_document(analysis, register))


def write_threatdragon(analysis: Analysis, path: str | os.PathLike[str],
                       register: RiskRegister | None = None) -> Path:
    """Write the Threat Dragon JSON document atomically to ``path`` and return it."""
    atomic_write(path, threatdragon_json(analysis, register))
    return Path(path)
