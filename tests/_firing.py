"""Which catalog threats can fire at all: scenario models over every shipped type and protocol.

A threat whose condition no realistic model satisfies is dead catalog content. Rather than
reasoning about conditions symbolically, build small models that put every component type (with
its default attributes) into every trust-zone layout, with rich and bare variants of data,
interfaces, clinical functions and connections, and every protocol on flows between them; run
the real engine on each and collect the threats that fired. Models are tried in order of how
likely they are to fire what is still missing, and the search stops when everything fired.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import medthreat as mt
from medthreat.model import ActorRole, BoundaryKind, ClinicalFunction, DataKind, InterfaceKind

#: Boundary layouts, innermost kind first; () = outside every boundary.
LAYOUTS: tuple[tuple[str, ...], ...] = (
    (), *((k.value,) for k in BoundaryKind),
    ("device", "hospital_network"), ("device", "home_network"), ("device", "clinic_network"),
    ("mobile_device", "home_network"), ("cloud", "third_party_cloud"),
)

#: Data variants: (label, list of data-asset fields).
DATA_VARIANTS: tuple[tuple[str, list[dict[str, Any]]], ...] = (
    ("all kinds, identifiable, high", [
        {"kind": k.value, "confidentiality": "high", "integrity": "high", "availability": "high"}
        for k in DataKind]),
    ("no data", []),
    ("all kinds, pseudonymized", [
        {"kind": k.value, "confidentiality": "high", "integrity": "high", "availability": "high",
         "pseudonymized": True} for k in DataKind]),
    ("all kinds, anonymized, low", [
        {"kind": k.value, "confidentiality": "low", "integrity": "low", "availability": "low",
         "anonymized": True} for k in DataKind]),
    *((f"only {k.value}", [{"kind": k.value, "confidentiality": "high", "integrity": "high",
                            "availability": "high"}]) for k in DataKind),
    *((f"only {k.value}, pseudonymized", [{"kind": k.value, "confidentiality": "high",
                                           "pseudonymized": True}])
      for k in (DataKind.phi, DataKind.pii, DataKind.training_data)),
)


def _first(catalog: mt.Catalog, **wanted: str) -> str:
    for ctype in sorted(catalog.component_types.values(), key=lambda t: t.id):
        if all(getattr(ctype, k) == v for k, v in wanted.items()):
            return ctype.id
    raise AssertionError(f"no component type with {wanted}")


def _base(catalog: mt.Catalog, layout: tuple[str, ...], data: list[dict[str, Any]],
          name: str) -> tuple[mt.Model, str | None, list[str], Any, Any]:
    m = mt.Model(name, system={"version": "1"})
    parent = None
    for i, kind in enumerate(reversed(layout)):
        parent = m.boundary(f"zone {i}", kind=kind, parent=parent, id=f"zone{i}")
    zone = parent.id if parent is not None else None
    assets = [m.data(d["kind"], id=f"d{i}", **{k: v for k, v in d.items() if k != "kind"}).id
              for i, d in enumerate(data)]
    internet = m.boundary("Internet", kind="internet", id="net")
    outsider = m.component(_first(catalog, element="external_entity"), "Outsider",
                           boundary=internet, id="outsider")
    sink = m.component(_first(catalog, category="device", element="process"), "Sink device",
                       boundary=zone, id="sink", functions=["therapy_delivery"])
    return m, zone, assets, outsider, sink


def element_model(catalog: mt.Catalog, layout: tuple[str, ...], data: list[dict[str, Any]],
                  ) -> mt.Model:
    """Every component type three times (connected and rich, internal, bare) and every role."""
    m, zone, assets, outsider, sink = _base(catalog, layout, data, "element scenario")
    everything = [{"kind": k.value, "exposed": True} for k in InterfaceKind]
    hidden = [{"kind": k.value, "exposed": False} for k in InterfaceKind]
    functions = [f.value for f in ClinicalFunction]
    for tid in sorted(catalog.component_types):
        rich = m.component(tid, f"{tid} rich", id=f"{tid}.rich", boundary=zone, stores=assets,
                           processes=assets, interfaces=everything, functions=functions)
        m.flow(outsider, rich, "https", data=assets, id=f"in.{tid}")
        m.flow(rich, sink, "https", data=assets, id=f"out.{tid}")
        internal = m.component(tid, f"{tid} internal", id=f"{tid}.internal", boundary=zone,
                               stores=assets, processes=assets, interfaces=hidden,
                               functions=functions)
        m.flow(internal, sink, "in_process", data=assets, id=f"internal.{tid}")
        m.component(tid, f"{tid} bare", id=f"{tid}.bare", boundary=zone, stores=assets,
                    processes=assets)
    for role in ActorRole:
        actor = m.actor(role.value, role.value, boundary=zone, id=f"actor.{role.value}")
        m.flow(actor, sink, "local_ui", data=assets, id=f"ui.{role.value}")
    return m


#: Flow security variants: protocol defaults, then what a model may state on a flow.
SECURITY: tuple[dict[str, str], ...] = (
    {},
    {"encryption": "transport", "authentication": "none"},
    {"encryption": "none", "authentication": "none"},
    {"encryption": "end_to_end", "authentication": "mutual_tls"},
)


def flow_model(catalog: mt.Catalog, protocol: str, layout: tuple[str, ...],
               data: list[dict[str, Any]], security: dict[str, str] | None = None) -> mt.Model:
    """``protocol`` on flows into and out of every component type and between categories."""
    m, zone, assets, outsider, sink = _base(catalog, layout, data, f"flows over {protocol}")
    sec = security or {}
    reps: dict[str, Any] = {}
    for ctype in sorted(catalog.component_types.values(), key=lambda t: t.id):
        if ctype.category.value not in reps:
            reps[ctype.category.value] = m.component(ctype.id, f"rep {ctype.category.value}",
                                                     id=f"rep.{ctype.category.value}")
    for tid in sorted(catalog.component_types):
        c = m.component(tid, tid, id=tid, boundary=zone, stores=assets, processes=assets)
        m.flow(outsider, c, protocol, data=assets, id=f"in.{tid}", **sec)
        m.flow(c, sink, protocol, data=assets, id=f"out.{tid}", **sec)
        for cat, rep in reps.items():
            m.flow(c, rep, protocol, data=assets, id=f"{tid}.to.{cat}", **sec)
            m.flow(rep, c, protocol, data=assets, id=f"{cat}.to.{tid}", **sec)
    for role in ActorRole:
        actor = m.actor(role.value, role.value, boundary=zone, id=f"actor.{role.value}")
        m.flow(actor, sink, protocol, data=assets, id=f"ui.{role.value}", **sec)
    return m


def scenarios(catalog: mt.Catalog) -> Iterator[mt.Model]:
    """Scenario models, most productive first (a few hundred; each analyzes in ~0.1 s)."""
    protocols = sorted(catalog.protocols)
    identifiable, nothing, pseudonymized = (v[1] for v in DATA_VARIANTS[:3])
    for data in (identifiable, nothing):
        for layout in LAYOUTS:
            yield element_model(catalog, layout, data)
    for protocol in protocols:
        yield flow_model(catalog, protocol, ("hospital_network",), identifiable)
    for protocol in protocols:
        for data in (pseudonymized, identifiable):
            for security in SECURITY:
                yield flow_model(catalog, protocol, ("hospital_network",), data, security)
    for _, data in DATA_VARIANTS[2:]:
        for layout in LAYOUTS:
            yield element_model(catalog, layout, data)
    for data in (identifiable, nothing, pseudonymized):
        for layout in ((), ("home_network",), ("cloud",), ("device", "hospital_network")):
            for protocol in protocols:
                yield flow_model(catalog, protocol, layout, data)


def unfired(catalog: mt.Catalog, ignore: Iterable[str] = (),
            limit: int | None = None) -> set[str]:
    """Specific threats (not baseline) that no scenario model fires, minus ``ignore``.

    ``limit`` stops after that many scenario models (for testing the checker itself).
    """
    waiting = {t.id for t in catalog.threats.values() if not t.baseline} - set(ignore)
    for n, model in enumerate(scenarios(catalog)):
        if not waiting or (limit is not None and n >= limit):
            break
        result = mt.analyze(model, catalog, check=False)
        waiting -= {f.threat.id for f in result.findings}
    return waiting
