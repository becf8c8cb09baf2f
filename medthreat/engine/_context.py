"""What threat conditions can read: the vocabulary, and the contexts that give its values.

The vocabulary (namespaces, attributes, types, known values) and the context builders live side
by side so that every attribute a condition may name is one the engine fills.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..model import (
    ActorRole,
    AuthMethod,
    Authorization,
    BoundaryKind,
    ClinicalFunction,
    Component,
    DataAsset,
    DataKind,
    Encryption,
    InterfaceKind,
    Model,
    Trust,
)
from ..rules import AttrSpec

if TYPE_CHECKING:
    from ..catalog import Catalog, ComponentType, Protocol
    from ..graph import GraphFacts
    from ..model import Actor, Flow

ACTOR_TYPE = "actor"
_ELEMENT_KINDS = frozenset({"process", "data_store", "external_entity"})
_CATEGORIES = frozenset({"device", "app", "hospital", "cloud", "ai", "external", ACTOR_TYPE})


def _values(enum: Iterable[Any], *extra: str) -> frozenset[str]:
    return frozenset([*(e.value for e in enum), *extra])


def build_vocabulary(
    catalog: Catalog, *, builtins_only: bool = False
) -> dict[str, dict[str, dict[str, AttrSpec]]]:
    """Namespaces and typed attributes that conditions of element and flow threats may read."""
    types = frozenset(catalog.component_types) | {ACTOR_TYPE}
    protocols = frozenset(catalog.protocols)
    text = AttrSpec("str")
    flag = AttrSpec("bool")
    number = AttrSpec("int")
    element: dict[str, AttrSpec] = {
        "id": text,
        "name": text,
        "type": AttrSpec("str", types),
        "kind": AttrSpec("str", _ELEMENT_KINDS),
        "category": AttrSpec("str", _CATEGORIES),
        "role": AttrSpec("str", _values(ActorRole, "")),
        "boundary": text,
        "boundary_kind": AttrSpec("str", _values(BoundaryKind, "")),
        "boundary_kinds": AttrSpec("list", _values(BoundaryKind)),
        "trust": AttrSpec("trust"),
        "functions": AttrSpec("list", _values(ClinicalFunction)),
        "interfaces": AttrSpec("list", _values(InterfaceKind)),
        "exposed_interfaces": AttrSpec("list", _values(InterfaceKind)),
        "data_kinds": AttrSpec("list", _values(DataKind)),
        "stores": AttrSpec("list", _values(DataKind)),
    }
    type_ns: dict[str, AttrSpec] = {"id": AttrSpec("str", types),
                                    "category": AttrSpec("str", _CATEGORIES)}
    if not builtins_only:
        for attr in catalog.attributes.values():
            spec = AttrSpec(attr.type)
            element.setdefault(attr.id, spec)
            type_ns.setdefault(attr.id, spec)
    data = {
        "kinds": AttrSpec("list", _values(DataKind)),
        "ids": AttrSpec("list"),
        "count": number,
        "max_confidentiality": AttrSpec("level"),
        "max_integrity": AttrSpec("level"),
        "max_availability": AttrSpec("level"),
        "identifiable": flag,
    }
    protocol = {
        "id": AttrSpec("str", protocols),
        "range": AttrSpec("range"),
        "wireless": flag,
        "encrypted": flag,
        "authenticated": flag,
    }
    flow = {
        **protocol,
        "protocol": AttrSpec("str", protocols),
        "id": text,
        "authentication": AttrSpec("str", _values(AuthMethod)),
        "authorized": flag,
        "authorization": AttrSpec("str", _values(Authorization)),
        "bidirectional": flag,
        "encryption": AttrSpec("str", _values(Encryption)),
    }
    return {
        "element": {
            "element": element,
            "type": type_ns,
            "data": data,
            "boundary": {"id": text, "kind": AttrSpec("str", _values(BoundaryKind, "")),
                         "trust": AttrSpec("trust")},
            "graph": {
                "internet_reachable": flag,
                "untrusted_reachable": flag,
                "receives_from_untrusted": flag,
                "inbound": number,
                "outbound": number,
                "downstream_devices": number,
            },
        },
        "flow": {
            "flow": flow,
            "protocol": protocol,
            "source": element,
            "target": element,
            "data": data,
            "graph": {
                "crosses_boundary": flag,
                "boundaries_crossed": number,
                "from_untrusted": flag,
                "internet_reachable": flag,
            },
        },
    }


class ContextBuilder:
    """Builds, once per element, the attribute dictionaries that conditions read."""

    def __init__(self, model: Model, catalog: Catalog, facts: GraphFacts) -> None:
        self.model = model
        self.catalog = catalog
        self.facts = facts
        self.defaults = {a.id: a.default for a in catalog.attributes.values()}
        self.boundaries = {b.id: b for b in model.boundaries}
        self.assets = {d.id: d for d in model.data_assets}
        self._data_cache: dict[tuple[str, ...], dict[str, Any]] = {}
        self._type_cache: dict[str, dict[str, Any]] = {}
        self._protocol_cache: dict[str, dict[str, Any]] = {}
        self._flow_cache: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._boundary_cache: dict[str, dict[str, Any]] = {}
        self.elements: dict[str, dict[str, Any]] = {}

    # -- namespaces --------------------------------------------------------------------------

    def data(self, ids: Iterable[str]) -> dict[str, Any]:
        """The ``data`` namespace for a set of data asset ids."""
        ids = tuple(ids)
        cached = self._data_cache.get(ids)
        if cached is not None:
            return cached
        key = tuple(sorted(set(ids)))
        cached = self._data_cache.get(key)
        if cached is not None:
            self._data_cache[ids] = cached
            return cached
        assets: list[DataAsset] = [self.assets[i] for i in key if i in self.assets]

        def top(attr: str) -> str:
            levels = [getattr(a, attr) for a in assets]
            return max(levels, key=lambda lv: lv.rank).value if levels else "none"

        ns = {
            "kinds": frozenset(a.kind.value for a in assets),
            "ids": frozenset(key),
            "count": len(assets),
            "max_confidentiality": top("confidentiality"),
            "max_integrity": top("integrity"),
            "max_availability": top("availability"),
            "identifiable": any(
                a.kind in (DataKind.phi, DataKind.pii) and not (a.pseudonymized or a.anonymized)
                for a in assets
            ),
        }
        self._data_cache[key] = self._data_cache[ids] = ns
        return ns

    def type_ns(self, ctype: ComponentType | None) -> dict[str, Any]:
        """The ``type`` namespace: a component type's own attribute values."""
        key = ctype.id if ctype else ACTOR_TYPE
        cached = self._type_cache.get(key)
        if cached is None:
            cached = {**self.defaults, **(ctype.attributes if ctype else {}),
                      "id": key, "category": ctype.category.value if ctype else ACTOR_TYPE}
            self._type_cache[key] = cached
        return cached

    def protocol(self, proto: Protocol) -> dict[str, Any]:
        """The ``protocol`` namespace: a protocol's defaults."""
        cached = self._protocol_cache.get(proto.id)
        if cached is None:
            cached = {"id": proto.id, "range": proto.range.value, "wireless": proto.wireless,
                      "encrypted": proto.encrypted, "authenticated": proto.authenticated}
            self._protocol_cache[proto.id] = cached
        return cached

    def boundary(self, boundary_id: str | None) -> dict[str, Any]:
        """The ``boundary`` namespace of an element's innermost boundary."""
        key = boundary_id or ""
        cached = self._boundary_cache.get(key)
        if cached is None:
            b = self.boundaries.get(key)
            cached = ({"id": "", "kind": "", "trust": Trust.untrusted.value} if b is None else
                      {"id": b.id, "kind": b.kind.value, "trust": b.effective_trust.value})
            self._boundary_cache[key] = cached
        return cached

    def element(self, e: Component | Actor) -> dict[str, Any]:
        """The ``element`` namespace (also ``source``/``target`` of flows), built once."""
        cached = self.elements.get(e.id)
        if cached is not None:
            return cached
        facts = self.facts
        b = self.boundaries.get(e.boundary or "")
        ns: dict[str, Any]
        if isinstance(e, Component):
            ctype = self.catalog.component_types[e.type]
            stored = [self.assets[i] for i in e.stores if i in self.assets]
            ns = {
                **self.type_ns(ctype),
                **e.attributes,
                "type": ctype.id,
                "kind": ctype.element,
                "category": ctype.category.value,
                "role": "",
                "functions": frozenset(f.value for f in e.functions),
                "interfaces": frozenset(i.kind.value for i in e.interfaces),
                "exposed_interfaces": frozenset(i.kind.value for i in e.interfaces if i.exposed),
                "data_kinds": self.data([*e.stores, *e.processes])["kinds"],
                "stores": frozenset(a.kind.value for a in stored),
            }
        else:
            ns = {
                **self.type_ns(None),
                "type": ACTOR_TYPE,
                "kind": "external_entity",
                "category": ACTOR_TYPE,
                "role": e.role.value,
                "functions": frozenset(),
                "interfaces": frozenset(),
                "exposed_interfaces": frozenset(),
                "data_kinds": frozenset(),
                "stores": frozenset(),
            }
        ns["id"] = e.id
        ns["name"] = e.name or e.id
        ns["boundary"] = e.boundary or ""
        ns["boundary_kind"] = b.kind.value if b else ""
        ns["boundary_kinds"] = frozenset(
            self.boundaries[i].kind.value for i in facts.chains.get(e.id, ()))
        ns["trust"] = facts.trust.get(e.id, Trust.untrusted).value
        self.elements[e.id] = ns
        return ns

    def graph_element(self, element_id: str) -> dict[str, Any]:
        """The ``graph`` namespace of an element."""
        f = self.facts
        return {
            "internet_reachable": element_id in f.internet_reachable,
            "untrusted_reachable": element_id in f.untrusted_reachable,
            "receives_from_untrusted": element_id in f.receives_from_untrusted,
            "inbound": f.inbound.get(element_id, 0),
            "outbound": f.outbound.get(element_id, 0),
            "downstream_devices": f.downstream_devices.get(element_id, 0),
        }

    # -- whole contexts ----------------------------------------------------------------------

    def for_element(self, e: Component | Actor) -> dict[str, dict[str, Any]]:
        """Context of an element threat."""
        if isinstance(e, Component):
            ctype = self.catalog.component_types[e.type]
            data = self.data([*e.stores, *e.processes])
        else:
            ctype, data = None, self.data(())
        return {
            "element": self.element(e),
            "type": self.type_ns(ctype),
            "data": data,
            "boundary": self.boundary(e.boundary),
            "graph": self.graph_element(e.id),
        }

    def _flow_ns(self, protocol: str, encryption: Encryption | None,
                 authentication: AuthMethod | None, authorization: Authorization | None,
                 bidirectional: bool) -> dict[str, Any]:
        """The ``flow`` namespace for one combination of protocol and settings."""
        proto = self.catalog.protocols[protocol]
        if encryption is None:
            encryption = Encryption.transport if proto.encrypted else Encryption.none
        if authentication is None:
            authentication = AuthMethod.other if proto.authenticated else AuthMethod.none
        authorization = authorization or Authorization.none
        return {
            **self.protocol(proto),
            "protocol": proto.id,
            "encrypted": encryption is not Encryption.none,
            "encryption": encryption.value,
            "authenticated": authentication is not AuthMethod.none,
            "authentication": authentication.value,
            "authorized": authorization is not Authorization.none,
            "authorization": authorization.value,
            "bidirectional": bidirectional,
        }

    def for_flow(self, f: Flow, source: Component | Actor,
                 target: Component | Actor) -> dict[str, dict[str, Any]]:
        """Context of a flow threat: the flow with its protocol, ends and data."""
        facts = self.facts
        key = (f.protocol, f.encryption, f.authentication, f.authorization, f.bidirectional)
        shared = self._flow_cache.get(key)
        if shared is None:
            shared = self._flow_ns(*key)
            self._flow_cache[key] = shared
        src_trust = facts.trust.get(source.id, Trust.untrusted)
        dst_trust = facts.trust.get(target.id, Trust.untrusted)
        return {
            "flow": {**shared, "id": f.id},
            "protocol": self.protocol(self.catalog.protocols[f.protocol]),
            "source": self.element(source),
            "target": self.element(target),
            "data": self.data(f.data),
            "graph": {
                "crosses_boundary": (source.boundary or "") != (target.boundary or ""),
                "boundaries_crossed": facts.boundaries_crossed(source.id, target.id),
                "from_untrusted": src_trust.rank < dst_trust.rank,
                "internet_reachable": source.id in facts.internet_reachable,
            },
        }
