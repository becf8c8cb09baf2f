"""Import a Threagile YAML model as a medthreat model (safe YAML loading only)."""

from __future__ import annotations

import os
from typing import Any

from ..model import Model
from . import Context, normalise, one_line, read

#: Threagile trust boundary type -> medthreat boundary kind.
BOUNDARY_KINDS = {
    "network-on-prem": "physical_site",
    "network-dedicated-hoster": "vendor_network",
    "network-virtual-lan": "physical_site",
    "network-cloud-provider": "cloud",
    "network-cloud-security-group": "cloud",
    "network-policy-namespace-isolation": "cloud",
    "execution-environment": "device",
}
#: Threagile confidentiality -> medthreat level.
CONFIDENTIALITY = {"public": "low", "internal": "low", "restricted": "medium",
                   "confidential": "high", "strictly-confidential": "high"}
#: Threagile integrity/availability criticality -> medthreat level.
CRITICALITY = {"archive": "low", "operational": "low", "important": "medium",
               "critical": "high", "mission-critical": "high"}
#: Threagile link authentication -> medthreat authentication method.
AUTHENTICATION = {"none": "none", "credentials": "password", "session-id": "token",
                  "token": "token", "client-certificate": "certificate",
                  "two-factor": "other", "externalized": "sso"}
#: Threagile link authorization -> medthreat authorization.
AUTHORIZATION = {"none": "none", "technical-user": "role_based",
                 "enduser-identity-propagation": "attribute_based",
                 "end-user-identity-propagation": "attribute_based"}
_ELEMENT = {"external-entity": "external_entity", "process": "process",
            "datastore": "data_store"}
_DATA_KIND_WORDS = (("credential", "credentials"), ("account", "credentials"),
                    ("password", "credentials"), ("config", "configuration"),
                    ("customizing", "configuration"), ("log", "audit_log"),
                    ("code", "firmware"), ("patient", "phi"), ("customer", "pii"))
_NOT_IMPORTED = ("shared_runtimes", "individual_risk_categories", "custom_risk_categories",
                 "risk_tracking", "abuse_cases", "security_requirements", "questions")


def import_threagile(path: str | os.PathLike[str]) -> tuple[Model, list[str]]:
    """Read a Threagile YAML file and return ``(model, notes)``."""
    data, src = read(path)
    ctx = Context(src, "Threagile")
    root = ctx.mapping(data, (), "the document")
    if "technical_assets" not in root:
        raise ctx.fail((), "not a Threagile model: the key 'technical_assets' is missing")
    overview = ctx.mapping(root.get("business_overview"), ("business_overview",), "overview")
    system = {"name": one_line(ctx.text(root.get("title"), ("title",), "title"))
              or "Imported Threagile model",
              "description": ctx.text(overview.get("description"),
                                      ("business_overview", "description"), "description")}

    data_ids: dict[str, str] = {}
    data_assets = []
    guessed = []
    for key, raw in ctx.mapping(root.get("data_assets"), ("data_assets",), "data_assets").items():
        at: tuple[str | int, ...] = ("data_assets", key)
        asset = ctx.mapping(raw, at, "a data asset")
        tid = ctx.text(asset.get("id"), (*at, "id"), "id") or str(key)
        norm = normalise(f"{key} {tid}")
        kind = next((k for w, k in _DATA_KIND_WORDS if w in norm), "other")
        guessed.append(f"{tid}={kind}")
        item: dict[str, Any] = {"id": ctx.new_id(tid, "data"), "name": one_line(str(key)),
                                "kind": kind, "description": ctx.text(
                                    asset.get("description"), (*at, "description"), "text")}
        for goal, table in (("confidentiality", CONFIDENTIALITY), ("integrity", CRITICALITY),
                            ("availability", CRITICALITY)):
            value = ctx.text(asset.get(goal), (*at, goal), goal)
            if value:
                if value not in table:
                    raise ctx.fail((*at, goal), f"unknown {goal} {value!r}; expected one of "
                                   f"{', '.join(table)}")
                item[goal] = table[value]
        data_ids[tid] = item["id"]
        data_assets.append(item)
    if guessed:
        ctx.note("data kinds guessed from names (check them): " + ", ".join(guessed))

    def data_refs(values: Any, at: tuple[str | int, ...]) -> list[str]:
        out = []
        for j, ref in enumerate(ctx.seq(values, at, "data asset list")):
            if str(ref) not in data_ids:
                raise ctx.fail((*at, j), f"unknown data asset {ref!r}")
            out.append(data_ids[str(ref)])
        return out

    assets = ctx.mapping(root.get("technical_assets"), ("technical_assets",), "technical_assets")
    ids: dict[str, str] = {}
    for key, raw in assets.items():
        at = ("technical_assets", key)
        tid = ctx.text(ctx.mapping(raw, at, "a technical asset").get("id"), (*at, "id"), "id")
        if not tid:
            raise ctx.fail(at, "a technical asset needs an 'id'")
        ids[tid] = ctx.new_id(tid, "asset")

    boundary_of: dict[str, str] = {}
    boundaries = []
    parents: list[tuple[str, str, tuple[str | int, ...]]] = []
    bids: dict[str, str] = {}
    tbs = ctx.mapping(root.get("trust_boundaries"), ("trust_boundaries",), "trust_boundaries")
    for key, raw in tbs.items():
        at = ("trust_boundaries", key)
        tb = ctx.mapping(raw, at, "a trust boundary")
        bid = ctx.text(tb.get("id"), (*at, "id"), "id") or str(key)
        btype = ctx.text(tb.get("type"), (*at, "type"), "type")
        kind = BOUNDARY_KINDS.get(btype)
        if kind is None:
            kind = "physical_site"
            ctx.note(f"trust boundary {bid!r}: type {btype!r} unknown; using 'physical_site'")
        new = ctx.new_id(bid, "boundary")
        bids[bid] = new
        boundaries.append({"id": new, "name": one_line(str(key)), "kind": kind,
                           "description": ctx.text(tb.get("description"),
                                                   (*at, "description"), "text")})
        for j, ref in enumerate(ctx.seq(tb.get("technical_assets_inside"),
                                        (*at, "technical_assets_inside"), "asset list")):
            if str(ref) not in ids:
                raise ctx.fail((*at, "technical_assets_inside", j),
                               f"unknown technical asset {ref!r}")
            boundary_of[ids[str(ref)]] = new
        for j, ref in enumerate(ctx.seq(tb.get("trust_boundaries_nested"),
                                        (*at, "trust_boundaries_nested"), "boundary list")):
            parents.append((str(ref), new, (*at, "trust_boundaries_nested", j)))
    by_bid = {b["id"]: b for b in boundaries}
    for child, parent, at in parents:
        if child not in bids:
            raise ctx.fail(at, f"unknown trust boundary {child!r}")
        by_bid[bids[child]]["parent"] = parent

    components: list[dict[str, Any]] = []
    actors: list[dict[str, Any]] = []
    flows: list[dict[str, Any]] = []
    for key, raw in assets.items():
        at = ("technical_assets", key)
        ta = ctx.mapping(raw, at, "a technical asset")
        tid = str(ta["id"])
        new = ids[tid]
        name = one_line(str(key))
        etype = ctx.text(ta.get("type"), (*at, "type"), "type")
        if etype not in _ELEMENT:
            raise ctx.fail((*at, "type"), f"unknown type {etype!r}; expected one of "
                           f"{', '.join(_ELEMENT)}")
        description = ctx.text(ta.get("description"), (*at, "description"), "text")
        if etype == "external-entity" and ta.get("used_as_client_by_human"):
            actors.append({"id": new, "name": name, "role": "other",
                           "boundary": boundary_of.get(new), "description": description})
            ctx.note(f"technical asset {tid!r} (a client used by a person) became an actor "
                     "with role 'other'")
        else:
            tech = ctx.text(ta.get("technology"), (*at, "technology"), "technology")
            item: dict[str, Any] = {
                "id": new, "name": name, "boundary": boundary_of.get(new),
                "description": description,
                "type": ctx.component_type(tech or etype, _ELEMENT[etype],
                                           f"technical asset {tid!r}"),
                "processes": data_refs(ta.get("data_assets_processed"),
                                       (*at, "data_assets_processed")),
                "stores": data_refs(ta.get("data_assets_stored"), (*at, "data_assets_stored")),
            }
            if ta.get("out_of_scope"):
                item["out_of_scope"] = True
                item["out_of_scope_reason"] = ctx.text(
                    ta.get("justification_out_of_scope"),
                    (*at, "justification_out_of_scope"), "text") or "out of scope in Threagile"
            if ta.get("internet") is True and etype != "external-entity":
                item["attributes"] = {"internet_facing": True}
            components.append(item)
        links = ctx.mapping(ta.get("communication_links"), (*at, "communication_links"),
                            "communication_links")
        for lname, lraw in links.items():
            lat = (*at, "communication_links", lname)
            link = ctx.mapping(lraw, lat, "a communication link")
            target = ctx.text(link.get("target"), (*lat, "target"), "target")
            if target not in ids:
                raise ctx.fail((*lat, "target"), f"unknown technical asset {target!r}")
            proto_name = ctx.text(link.get("protocol"), (*lat, "protocol"), "protocol")
            label = f"link {tid}/{lname}"
            flow: dict[str, Any] = {
                "id": ctx.new_id(f"{tid}-{normalise(str(lname))}", "flow"),
                "name": one_line(str(lname)), "source": new, "target": ids[target],
                "protocol": ctx.protocol(proto_name, label),
                "description": ctx.text(link.get("description"), (*lat, "description"), "t"),
            }
            sent = data_refs(link.get("data_assets_sent"), (*lat, "data_assets_sent"))
            received = data_refs(link.get("data_assets_received"),
                                 (*lat, "data_assets_received"))
            flow["data"] = sorted(set(sent) | set(received))
            flow["bidirectional"] = bool(received)
            auth = ctx.text(link.get("authentication"), (*lat, "authentication"), "text")
            if auth:
                if auth not in AUTHENTICATION:
                    raise ctx.fail((*lat, "authentication"), f"unknown authentication {auth!r}")
                flow["authentication"] = AUTHENTICATION[auth]
            authz = ctx.text(link.get("authorization"), (*lat, "authorization"), "text")
            if authz:
                if authz not in AUTHORIZATION:
                    raise ctx.fail((*lat, "authorization"), f"unknown authorization {authz!r}")
                flow["authorization"] = AUTHORIZATION[authz]
            if proto_name.endswith("-encrypted") or link.get("vpn") is True:
                flow["encryption"] = "transport"
            flows.append(flow)
    skipped = [k for k in _NOT_IMPORTED if root.get(k)]
    if skipped:
        ctx.note("not imported (no medthreat equivalent; medthreat derives risks from its "
                 "catalog): " + ", ".join(skipped))
    model = ctx.build({"system": system, "boundaries": boundaries, "data": data_assets,
                       "components": components, "actors": actors, "flows": flows})
    return model, ctx.notes
