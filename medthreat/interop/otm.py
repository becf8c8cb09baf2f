"""Import an Open Threat Model (OTM 0.2.0) file as a medthreat model."""

from __future__ import annotations

import os
import re
from typing import Any

from ..model import DataKind, Model
from . import Context, normalise, one_line, read

#: Trust zone name keyword -> boundary kind; else the kind follows the trust rating.
ZONE_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("internet", "internet"), ("public", "internet"), ("home", "home_network"),
    ("mobile", "mobile_device"), ("hospital", "hospital_network"), ("clinic", "clinic_network"),
    ("vendor", "vendor_network"), ("third-party", "third_party_cloud"), ("cloud", "cloud"),
    ("aws", "cloud"), ("azure", "cloud"), ("gcp", "cloud"), ("device", "device"),
    ("site", "physical_site"),
)
_KIND_BY_TRUST = {"untrusted": "internet", "semi_trusted": "physical_site", "trusted": "cloud"}
#: The zone medthreat's OTM export puts elements outside every boundary in.
OUTSIDE_ZONE = "medthreat-outside"
_DATA_KINDS = {k.value for k in DataKind}
_ACTOR_TYPES = {"actor", "user", "human", "person", "people", "generic-client-user"}
_STORE_HINT = re.compile(r"(^|-)(db|database|store|storage|bucket|file|queue|sql|nosql|s3)(-|$)")
_EXTERNAL_HINT = re.compile(r"(^|-)(external|third-party|client|browser)(-|$)")


def trust_of_rating(rating: float) -> str:
    """OTM trustRating (0-100) -> medthreat trust: <34 untrusted, <67 semi_trusted, else
    trusted."""
    if rating < 34:
        return "untrusted"
    return "semi_trusted" if rating < 67 else "trusted"


def level_of_score(score: float) -> str:
    """OTM asset risk value (0-100) -> low (<34), medium (<67) or high."""
    return "low" if score < 34 else "medium" if score < 67 else "high"


def import_otm(path: str | os.PathLike[str]) -> tuple[Model, list[str]]:
    """Read an OTM file (YAML or JSON) and return ``(model, notes)``."""
    data, src = read(path)
    ctx = Context(src, "OTM")
    root = ctx.mapping(data, (), "the document")
    if not root or "project" not in root:
        raise ctx.fail((), "not an OTM document: the key 'project' is missing")
    project = ctx.mapping(root["project"], ("project",), "project")
    system = {"name": one_line(ctx.text(project.get("name"), ("project", "name"), "name"))
              or "Imported OTM model",
              "description": ctx.text(project.get("description"), ("project", "description"),
                                      "description")}

    zones: dict[str, str | None] = {}
    boundaries: list[dict[str, Any]] = []
    zone_parents: list[tuple[dict[str, Any], str, tuple[str | int, ...]]] = []
    for i, raw in enumerate(ctx.seq(root.get("trustZones"), ("trustZones",), "trustZones")):
        at: tuple[str | int, ...] = ("trustZones", i)
        zone = ctx.mapping(raw, at, "a trust zone")
        zid = ctx.text(zone.get("id"), (*at, "id"), "id")
        if not zid:
            raise ctx.fail(at, "a trust zone needs an 'id'")
        if zid == OUTSIDE_ZONE:
            zones[zid] = None
            continue
        name = one_line(ctx.text(zone.get("name"), (*at, "name"), "name")) or zid
        risk = ctx.mapping(zone.get("risk"), (*at, "risk"), "risk")
        rating = risk.get("trustRating")
        if isinstance(rating, bool) or not isinstance(rating, int | float):
            raise ctx.fail((*at, "risk"), "risk.trustRating should be a number")
        trust = trust_of_rating(float(rating))
        norm = f"-{normalise(name)}-{normalise(ctx.text(zone.get('type'), at, 'type'))}-"
        kind = next((k for w, k in ZONE_KEYWORDS if f"-{w}-" in norm), _KIND_BY_TRUST[trust])
        item = {"id": ctx.new_id(zid, "zone"), "name": name, "kind": kind, "trust": trust,
                "description": ctx.text(zone.get("description"), (*at, "description"), "text")}
        zones[zid] = item["id"]
        boundaries.append(item)
        parent = ctx.mapping(zone.get("parent"), (*at, "parent"), "parent")
        if parent.get("trustZone"):
            zone_parents.append((item, str(parent["trustZone"]), (*at, "parent")))
    for item, parent_id, at in zone_parents:
        if parent_id not in zones:
            raise ctx.fail(at, f"unknown parent trust zone {parent_id!r}")
        item["parent"] = zones[parent_id]

    assets: dict[str, str] = {}
    data_assets: list[dict[str, Any]] = []
    for i, raw in enumerate(ctx.seq(root.get("assets"), ("assets",), "assets")):
        at = ("assets", i)
        asset = ctx.mapping(raw, at, "an asset")
        aid = ctx.text(asset.get("id"), (*at, "id"), "id")
        if not aid:
            raise ctx.fail(at, "an asset needs an 'id'")
        risk = ctx.mapping(asset.get("risk"), (*at, "risk"), "risk")
        attrs = ctx.mapping(asset.get("attributes"), (*at, "attributes"), "attributes")
        kind = attrs.get("kind") if attrs.get("kind") in _DATA_KINDS else "other"
        item = {"id": ctx.new_id(aid, "asset"), "kind": kind,
                "name": one_line(ctx.text(asset.get("name"), (*at, "name"), "name")),
                "description": ctx.text(asset.get("description"), (*at, "description"), "t")}
        for goal in ("confidentiality", "integrity", "availability"):
            value = risk.get(goal)
            if isinstance(value, int | float) and not isinstance(value, bool):
                item[goal] = level_of_score(float(value))
        assets[aid] = item["id"]
        data_assets.append(item)
    untyped = sum(1 for d in data_assets if d["kind"] == "other")
    if untyped:
        ctx.note(f"{untyped} asset(s) imported with data kind 'other': OTM has no data "
                 "kinds; set phi, pii, therapy_command ... by hand")

    def asset_ids(values: Any, at: tuple[str | int, ...]) -> list[str]:
        out = []
        for j, ref in enumerate(ctx.seq(values, at, "asset list")):
            if ref is None:
                continue
            if str(ref) not in assets:
                raise ctx.fail((*at, j), f"unknown asset {ref!r}")
            out.append(assets[str(ref)])
        return out

    components: list[dict[str, Any]] = []
    actors: list[dict[str, Any]] = []
    ids: dict[str, str] = {}
    nested: list[tuple[dict[str, Any], str, tuple[str | int, ...]]] = []
    threat_refs = 0
    for i, raw in enumerate(ctx.seq(root.get("components"), ("components",), "components")):
        at = ("components", i)
        comp = ctx.mapping(raw, at, "a component")
        cid = ctx.text(comp.get("id"), (*at, "id"), "id")
        if not cid:
            raise ctx.fail(at, "a component needs an 'id'")
        name = one_line(ctx.text(comp.get("name"), (*at, "name"), "name")) or cid
        ctype = ctx.text(comp.get("type"), (*at, "type"), "type")
        parent = ctx.mapping(comp.get("parent"), (*at, "parent"), "parent")
        boundary = None
        if parent.get("trustZone") is not None:
            zid = str(parent["trustZone"])
            if zid not in zones:
                raise ctx.fail((*at, "parent"), f"unknown trust zone {zid!r}")
            boundary = zones[zid]
        new_id = ctx.new_id(cid, "component")
        ids[cid] = new_id
        threat_refs += len(ctx.seq(comp.get("threats"), (*at, "threats"), "threats"))
        description = ctx.text(comp.get("description"), (*at, "description"), "text")
        if normalise(ctype) in _ACTOR_TYPES:
            actors.append({"id": new_id, "name": name, "role": "other", "boundary": boundary,
                           "description": description})
            continue
        norm = normalise(ctype or name)
        kind = ("data_store" if _STORE_HINT.search(norm)
                else "external_entity" if _EXTERNAL_HINT.search(norm) else "process")
        item = {"id": new_id, "name": name, "boundary": boundary, "description": description,
                "type": ctx.component_type(ctype or name, kind, f"component {cid!r}")}
        inst = ctx.mapping(comp.get("assets"), (*at, "assets"), "assets")
        item["processes"] = asset_ids(inst.get("processed"), (*at, "assets", "processed"))
        item["stores"] = asset_ids(inst.get("stored"), (*at, "assets", "stored"))
        if parent.get("component") is not None:
            nested.append((item, str(parent["component"]), (*at, "parent")))
        components.append(item)
    by_id = {c["id"]: c for c in components}
    for item, parent_id, at in nested:
        if parent_id not in ids:
            raise ctx.fail(at, f"unknown parent component {parent_id!r}")
        host = by_id.get(ids[parent_id])
        item["boundary"] = host["boundary"] if host else None
        ctx.note(f"component {item['id']!r} is nested in component {parent_id!r}; medthreat "
                 "has no component nesting, it is placed in that component's trust zone")

    flows: list[dict[str, Any]] = []
    for i, raw in enumerate(ctx.seq(root.get("dataflows"), ("dataflows",), "dataflows")):
        at = ("dataflows", i)
        flow = ctx.mapping(raw, at, "a dataflow")
        fid = ctx.text(flow.get("id"), (*at, "id"), "id")
        ends = []
        for key in ("source", "destination"):
            ref = ctx.text(flow.get(key), (*at, key), key)
            if ref not in ids:
                if ref in zones:
                    ends = []
                    break
                raise ctx.fail((*at, key), f"unknown {key} {ref!r}")
            ends.append(ids[ref])
        if not ends:
            ctx.note(f"dataflow {fid!r} starts or ends at a trust zone; medthreat flows connect "
                     "components and actors, so it was left out")
            continue
        threat_refs += len(ctx.seq(flow.get("threats"), (*at, "threats"), "threats"))
        attrs = ctx.mapping(flow.get("attributes"), (*at, "attributes"), "attributes")
        proto_name = ctx.text(attrs.get("protocol"), (*at, "attributes", "protocol"), "protocol")
        flows.append({
            "id": ctx.new_id(fid or f"{ends[0]}-{ends[1]}", "flow"),
            "name": one_line(ctx.text(flow.get("name"), (*at, "name"), "name")),
            "description": ctx.text(flow.get("description"), (*at, "description"), "text"),
            "source": ends[0], "target": ends[1],
            "bidirectional": bool(flow.get("bidirectional")),
            "protocol": ctx.protocol(proto_name, f"dataflow {fid!r}"),
            "data": asset_ids(flow.get("assets"), (*at, "assets")),
        })
    n_threats = len(ctx.seq(root.get("threats"), ("threats",), "threats"))
    n_mitigations = len(ctx.seq(root.get("mitigations"), ("mitigations",), "mitigations"))
    if n_threats or n_mitigations or threat_refs:
        ctx.note(f"{n_threats} threat(s), {n_mitigations} mitigation(s) and {threat_refs} "
                 "threat reference(s) were not imported: medthreat derives threats from its "
                 "catalog; apply catalog controls in the model's 'controls' list")
    if root.get("representations"):
        ctx.note("representations (diagram positions, code links) are not imported")
    model = ctx.build({"system": system, "boundaries": boundaries, "data": data_assets,
                       "components": components, "actors": actors, "flows": flows})
    return model, ctx.notes
