"""Import an OWASP Threat Dragon v2 JSON model as a medthreat model."""

from __future__ import annotations

import os
from typing import Any

from ..model import Model
from . import Context, one_line, read

_ELEMENT_SHAPES = {"process": "process", "store": "data_store", "actor": "actor"}
_BOX_SHAPES = {"trust-boundary-box", "trust-broundary-box"}


def _box(cell: dict[str, Any]) -> tuple[float, float, float, float] | None:
    pos, size = cell.get("position"), cell.get("size")
    if not isinstance(pos, dict) or not isinstance(size, dict):
        return None
    try:
        x, y = float(pos["x"]), float(pos["y"])
        return x, y, x + float(size["width"]), y + float(size["height"])
    except (KeyError, TypeError, ValueError):
        return None


def import_threatdragon(path: str | os.PathLike[str]) -> tuple[Model, list[str]]:
    """Read a Threat Dragon v2 JSON file and return ``(model, notes)``.

    All diagrams go into one model. Trust-boundary boxes become boundaries and elements whose
    box lies inside one are placed in it (the smallest enclosing box); trust-boundary curves
    carry no membership and are reported.
    """
    data, src = read(path)
    ctx = Context(src, "Threat Dragon")
    root = ctx.mapping(data, (), "the document")
    if "detail" not in root or "summary" not in root:
        raise ctx.fail((), "not a Threat Dragon v2 model: 'summary' and 'detail' are required")
    summary = ctx.mapping(root["summary"], ("summary",), "summary")
    detail = ctx.mapping(root["detail"], ("detail",), "detail")
    system = {"name": one_line(ctx.text(summary.get("title"), ("summary", "title"), "title"))
              or "Imported Threat Dragon model",
              "description": ctx.text(summary.get("description"), ("summary", "description"),
                                      "description")}
    boundaries: list[dict[str, Any]] = []
    boxes: list[tuple[tuple[float, float, float, float], str]] = []
    components: list[dict[str, Any]] = []
    actors: list[dict[str, Any]] = []
    flows: list[dict[str, Any]] = []
    ids: dict[str, str] = {}
    placed: list[tuple[dict[str, Any], tuple[float, float, float, float] | None]] = []
    pending_flows: list[tuple[dict[str, Any], tuple[str | int, ...]]] = []
    threats = curves = texts = 0
    diagrams = ctx.seq(detail.get("diagrams"), ("detail", "diagrams"), "diagrams")
    for d, raw in enumerate(diagrams):
        dat: tuple[str | int, ...] = ("detail", "diagrams", d)
        diagram = ctx.mapping(raw, dat, "a diagram")
        for c, craw in enumerate(ctx.seq(diagram.get("cells"), (*dat, "cells"), "cells")):
            at = (*dat, "cells", c)
            cell = ctx.mapping(craw, at, "a cell")
            shape = ctx.text(cell.get("shape"), (*at, "shape"), "shape")
            cid = ctx.text(cell.get("id"), (*at, "id"), "id")
            cdata = ctx.mapping(cell.get("data"), (*at, "data"), "data")
            threats += len(ctx.seq(cdata.get("threats"), (*at, "data", "threats"), "threats"))
            name = one_line(ctx.text(cdata.get("name"), (*at, "data", "name"), "name"))
            description = ctx.text(cdata.get("description"), (*at, "data", "description"), "t")
            scope: dict[str, Any] = {}
            if cdata.get("outOfScope") is True:
                scope = {"out_of_scope": True, "out_of_scope_reason": ctx.text(
                    cdata.get("reasonOutOfScope"), (*at, "data", "reasonOutOfScope"), "text")
                    or "out of scope in Threat Dragon"}
            if shape in _ELEMENT_SHAPES:
                if not cid:
                    raise ctx.fail(at, "a cell needs an 'id'")
                new = ctx.new_id(name or shape, shape)
                ids[cid] = new
                if shape == "actor":
                    item: dict[str, Any] = {"id": new, "name": name or new, "role": "other",
                                            "description": description}
                    actors.append(item)
                    if scope:
                        ctx.note(f"actor {new!r}: out of scope has no meaning for actors; "
                                 "ignored")
                else:
                    kind = _ELEMENT_SHAPES[shape]
                    item = {"id": new, "name": name or new, "description": description,
                            "type": ctx.component_type(name or shape, kind, f"{shape} {new!r}"),
                            **scope}
                    components.append(item)
                placed.append((item, _box(cell)))
            elif shape == "flow":
                pending_flows.append((cell, at))
            elif shape in _BOX_SHAPES:
                new = ctx.new_id(name or "boundary", "boundary")
                box = _box(cell)
                if box is None:
                    raise ctx.fail(at, "a trust-boundary box needs 'position' and 'size'")
                boundaries.append({"id": new, "name": name or new, "kind": "physical_site",
                                   "description": description})
                boxes.append((box, new))
            elif shape == "trust-boundary-curve":
                curves += 1
            else:
                texts += 1
    for item, box in placed:
        if box is None:
            continue
        inside = [(b[2] - b[0]) * (b[3] - b[1]) for b, _ in boxes]
        best = None
        for (b, bid), area in zip(boxes, inside, strict=True):
            inside_box = b[0] <= box[0] and b[1] <= box[1] and box[2] <= b[2] and box[3] <= b[3]
            if inside_box and (best is None or area < best[0]):
                best = (area, bid)
        if best is not None:
            item["boundary"] = best[1]
    for cell, at in pending_flows:
        cdata = ctx.mapping(cell.get("data"), (*at, "data"), "data")
        name = one_line(ctx.text(cdata.get("name"), (*at, "data", "name"), "name"))
        ends = []
        for key in ("source", "target"):
            end = ctx.mapping(cell.get(key), (*at, key), key)
            ref = end.get("cell")
            if ref is None:
                ends = []
                break
            if str(ref) not in ids:
                raise ctx.fail((*at, key), f"flow end {ref!r} is not a process, store or actor")
            ends.append(ids[str(ref)])
        if not ends:
            ctx.note(f"flow {name or cell.get('id')!r} is not attached at both ends; left out")
            continue
        label = f"flow {name or cell.get('id')!r}"
        flow: dict[str, Any] = {
            "id": ctx.new_id(f"{ends[0]}-{name or 'flow'}-{ends[1]}", "flow"), "name": name,
            "source": ends[0], "target": ends[1],
            "protocol": ctx.protocol(ctx.text(cdata.get("protocol"),
                                              (*at, "data", "protocol"), "protocol"), label),
            "bidirectional": cdata.get("isBidirectional") is True,
            "description": ctx.text(cdata.get("description"), (*at, "data", "description"), "t"),
        }
        if cdata.get("isEncrypted") is True:
            flow["encryption"] = "transport"
        if cdata.get("outOfScope") is True:
            flow["out_of_scope"] = True
            flow["out_of_scope_reason"] = ctx.text(
                cdata.get("reasonOutOfScope"), (*at, "data", "reasonOutOfScope"),
                "text") or "out of scope in Threat Dragon"
        if cdata.get("isPublicNetwork") is True:
            ctx.note(f"{label}: 'crosses a public network' is not imported; put its ends in "
                     "an internet boundary")
        flows.append(flow)
    if boxes:
        ctx.note(f"{len(boxes)} trust-boundary box(es) imported with kind 'physical_site' "
                 "(Threat Dragon has no trust levels); set the kind by hand")
    if curves:
        ctx.note(f"{curves} trust-boundary curve(s) not imported: a curve does not say which "
                 "elements it encloses; add the boundaries and element placement by hand")
    if texts:
        ctx.note(f"{texts} text block(s) or unknown shape(s) ignored")
    if threats:
        ctx.note(f"{threats} Threat Dragon threat(s) not imported: medthreat derives threats "
                 "from its catalog")
    model = ctx.build({"system": system, "boundaries": boundaries, "components": components,
                       "actors": actors, "flows": flows})
    return model, ctx.notes
