"""The model as a directed graph (networkx): zones, reachability, boundary crossings, exposure.

Nodes are the in-scope components and actors; each in-scope flow adds an edge from source to
target, and one back when the flow is bidirectional. The facts the engine reads
(:func:`graph_facts`) are linear in the size of the model (one breadth-first search, or one pass
over the condensation), so that a fleet of ten thousand devices analyzes in seconds.

The exposure analysis (second half, see ``docs/exposure.md``) answers how an attacker reaches
each element (:func:`exposure`), by which paths the critical assets are reached
(:func:`attack_paths`), how many patient devices a compromise reaches (:func:`blast_radius`)
and how updates travel from build and signing to the devices (:func:`update_paths`), each also
as a pandas DataFrame.
"""

from __future__ import annotations

import heapq
import operator
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import islice, pairwise
from typing import TYPE_CHECKING, Any, TypeVar

import networkx as nx

from .model import (
    Actor,
    AuthMethod,
    BoundaryKind,
    ClinicalFunction,
    Component,
    DataKind,
    Encryption,
    Flow,
    InterfaceKind,
    Model,
    Trust,
    TrustBoundary,
)

if TYPE_CHECKING:
    from .catalog import Catalog

__all__ = [
    "AttackPath",
    "AttackVector",
    "Exposure",
    "GraphFacts",
    "PathLimitWarning",
    "UpdatePath",
    "attack_paths",
    "attack_paths_frame",
    "attribute_of",
    "blast_radius",
    "blast_radius_frame",
    "boundary_chain",
    "critical_assets",
    "entry_points",
    "exposure",
    "exposure_frame",
    "exposure_graph",
    "flow_graph",
    "flow_protection",
    "fold_reachable",
    "graph_facts",
    "patient_devices",
    "reachable",
    "update_paths",
    "update_paths_frame",
]


def flow_graph(model: Model) -> nx.DiGraph:
    """Directed graph of in-scope elements with an edge per in-scope flow direction."""
    graph = nx.DiGraph()
    for c in model.components:
        if not c.out_of_scope:
            graph.add_node(c.id)
    for a in model.actors:
        graph.add_node(a.id)
    for f in model.flows:
        if f.out_of_scope or f.source not in graph or f.target not in graph:
            continue
        graph.add_edge(f.source, f.target)
        if f.bidirectional:
            graph.add_edge(f.target, f.source)
    return graph


def reachable(graph: nx.DiGraph | Mapping[str, Iterable[str]], sources: Iterable[str]
              ) -> set[str]:
    """Nodes on a directed path from any of ``sources`` (sources included).

    ``graph`` is a networkx digraph or a mapping node -> successors. One multi-source
    breadth-first search: O(V + E).
    """
    succ = graph.succ if isinstance(graph, nx.DiGraph) else graph
    seen = {s for s in sources if s in succ}
    frontier = list(seen)
    while frontier:
        nxt = []
        for node in frontier:
            for other in succ[node]:
                if other not in seen:
                    seen.add(other)
                    nxt.append(other)
        frontier = nxt
    return seen


def boundary_chain(boundaries: dict[str, TrustBoundary], start: str | None) -> tuple[str, ...]:
    """The boundary ids from ``start`` outwards to the outermost (cycle-safe)."""
    chain: list[str] = []
    current = start
    while current is not None and current in boundaries and current not in chain:
        chain.append(current)
        current = boundaries[current].parent
    return tuple(chain)


V = TypeVar("V")


def fold_reachable(graph: nx.DiGraph, own: Mapping[str, V], combine: Callable[[V, V], V],
                   empty: V, *, upstream: bool = False) -> dict[str, V]:
    """For each node, ``combine`` folded over ``own`` of every node it reaches (itself included).

    With ``upstream`` the fold runs over the nodes that reach it instead. ``combine`` must be
    associative, commutative and idempotent (bitwise or, max). Values are propagated once over
    the condensation DAG in topological order: O(V + E) combine calls.
    """
    condensed = nx.condensation(graph)
    members = condensed.graph["mapping"]  # node -> scc index
    order = list(nx.topological_sort(condensed))
    neighbours = condensed.pred if upstream else condensed.succ
    if not upstream:
        order.reverse()
    folded: dict[int, V] = {}
    for scc in order:
        value = empty
        for node in condensed.nodes[scc]["members"]:
            value = combine(value, own.get(node, empty))
        for other in neighbours[scc]:
            value = combine(value, folded[other])
        folded[scc] = value
    return {node: folded[members[node]] for node in graph}


def _downstream_counts(graph: nx.DiGraph, counted: set[str]) -> dict[str, int]:
    """For each node, how many nodes of ``counted`` (other than itself) it reaches.

    Reachability sets are bitsets (Python ints) folded over the condensation:
    O((V + E) * |counted| / 64) word operations.
    """
    if not counted:
        return dict.fromkeys(graph, 0)
    bit = {node: 1 << i for i, node in enumerate(sorted(counted))}
    reach = fold_reachable(graph, bit, operator.or_, 0)
    return {node: (reach[node] & ~bit.get(node, 0)).bit_count() for node in graph}


@dataclass
class GraphFacts:
    """Per-element and per-flow graph predicates that threat conditions read."""

    trust: dict[str, Trust] = field(default_factory=dict)
    internet_reachable: set[str] = field(default_factory=set)
    untrusted_reachable: set[str] = field(default_factory=set)
    receives_from_untrusted: set[str] = field(default_factory=set)
    inbound: dict[str, int] = field(default_factory=dict)
    outbound: dict[str, int] = field(default_factory=dict)
    downstream_devices: dict[str, int] = field(default_factory=dict)
    chains: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def boundaries_crossed(self, source: str, target: str) -> int:
        """Boundaries left plus boundaries entered going from ``source`` to ``target``."""
        a, b = set(self.chains.get(source, ())), set(self.chains.get(target, ()))
        return len(a ^ b)


def graph_facts(model: Model, catalog: Catalog, *, blast_radius: bool | None = None
                ) -> GraphFacts:
    """Compute zones, reachability and fan-in/out for every in-scope element.

    ``downstream_devices`` (the costliest fact) is computed when ``blast_radius`` is true, or,
    when it is None, only if some catalog condition reads ``graph.downstream_devices``.
    """
    boundaries = {b.id: b for b in model.boundaries}
    graph = flow_graph(model)
    facts = GraphFacts()
    internet_sources: list[str] = []
    untrusted_sources: list[str] = []
    devices: set[str] = set()
    elements: list[Component | Actor] = [*model.components, *model.actors]
    for e in elements:
        if e.id not in graph:
            continue
        chain = boundary_chain(boundaries, e.boundary)
        facts.chains[e.id] = chain
        trust = boundaries[chain[0]].effective_trust if chain else Trust.untrusted
        facts.trust[e.id] = trust
        in_internet = not chain or boundaries[chain[0]].kind == "internet"
        facing = False
        if isinstance(e, Component):
            ctype = catalog.component_types.get(e.type)
            facing = bool(e.attributes.get("internet_facing",
                                           ctype.attributes.get("internet_facing", False)
                                           if ctype else False))
            if ctype is not None and ctype.category == "device":
                devices.add(e.id)
        if in_internet or facing:
            internet_sources.append(e.id)
        if trust is Trust.untrusted:
            untrusted_sources.append(e.id)
    facts.internet_reachable = reachable(graph, internet_sources)
    facts.untrusted_reachable = reachable(graph, untrusted_sources)
    for node in graph:
        preds = graph.pred[node]
        facts.inbound[node] = len(preds)
        facts.outbound[node] = len(graph.succ[node])
        rank = facts.trust[node].rank
        if any(facts.trust[p].rank < rank for p in preds):
            facts.receives_from_untrusted.add(node)
    if blast_radius is None:
        blast_radius = catalog.reads("graph", "downstream_devices")
    if blast_radius:
        facts.downstream_devices = _downstream_counts(graph, devices)
    return facts


# ---------------------------------------------------------------------------------------------
# Exposure: attack vectors, attack paths, multi-patient blast radius, update path
# ---------------------------------------------------------------------------------------------
#
# Everything below is a pure function of (model, catalog) and reads the catalog's attributes,
# never component type names, so that a user catalog's own types take part. The one exception is
# the protocol id ``ota_package`` (UPDATE_PROTOCOLS): protocols have no attribute saying that
# they carry software updates.


class AttackVector(StrEnum):
    """Where an attacker has to be to reach an element, from the least to the most demanding.

    The order follows CVSS (network, adjacent, local, physical) with radio range split out of
    "adjacent": ``internet`` < ``adjacent`` < ``proximity`` < ``local`` < ``physical``.
    """

    internet = "internet"
    adjacent = "adjacent"
    proximity = "proximity"
    local = "local"
    physical = "physical"

    @property
    def rank(self) -> int:
        """0 for internet (least demanding) up to 4 for physical."""
        return _VECTOR_RANK[self]


_VECTORS = tuple(AttackVector)
_VECTOR_RANK = {v: i for i, v in enumerate(_VECTORS)}

#: Interfaces an attacker within radio range can talk to.
RADIO_INTERFACES = frozenset({
    InterfaceKind.ble, InterfaceKind.bluetooth_classic, InterfaceKind.nfc,
    InterfaceKind.proprietary_rf, InterfaceKind.wifi,
})
#: Interfaces an attacker must plug something into.
PHYSICAL_PORTS = frozenset({
    InterfaceKind.usb, InterfaceKind.serial, InterfaceKind.jtag_swd, InterfaceKind.sd_card,
    InterfaceKind.can,
})
#: Data kinds whose flows make up the update path.
UPDATE_DATA = frozenset({DataKind.firmware, DataKind.model_weights})
#: Protocol ids whose flows make up the update path whatever data they name.
UPDATE_PROTOCOLS = frozenset({"ota_package"})
#: Vectors whose entry points :func:`attack_paths` starts from by default.
REMOTE_VECTORS = (AttackVector.internet, AttackVector.adjacent, AttackVector.proximity)
#: Default cap on the entry x target pairs :func:`attack_paths` enumerates paths for.
MAX_PAIRS = 250

_NO_PHYSICAL_ACCESS = ("", "none")


class PathLimitWarning(UserWarning):
    """:func:`attack_paths` stopped at ``max_pairs`` entry-target pairs."""


def _catalog(catalog: Catalog | None) -> Catalog:
    if catalog is not None:
        return catalog
    from .catalog import default_catalog

    return default_catalog()


def attribute_of(catalog: Catalog, e: Component | Actor, name: str,
                 fallback: Any = False) -> Any:
    """Effective attribute value: the component's override, its type's value, the default."""
    if isinstance(e, Component):
        if name in e.attributes:
            return e.attributes[name]
        ctype = catalog.component_types.get(e.type)
        if ctype is not None and name in ctype.attributes:
            return ctype.attributes[name]
    spec = catalog.attributes.get(name)
    return spec.default if spec is not None else fallback


def flow_protection(flow: Flow, catalog: Catalog) -> tuple[bool, bool]:
    """``(authenticated, encrypted)`` of a flow, as threat conditions see them.

    A flow's ``authentication`` / ``encryption`` override the protocol's defaults
    ``Protocol.authenticated`` / ``Protocol.encrypted``; ``none`` means no. An unknown protocol
    counts as neither.
    """
    proto = catalog.protocols.get(flow.protocol)
    if flow.authentication is None:
        authenticated = bool(proto and proto.authenticated)
    else:
        authenticated = flow.authentication is not AuthMethod.none
    if flow.encryption is None:
        encrypted = bool(proto and proto.encrypted)
    else:
        encrypted = flow.encryption is not Encryption.none
    return authenticated, encrypted


@dataclass(slots=True)
class _Hop:
    """What an attacker path needs to know about one edge ``u -> v`` of the flow graph."""

    flows: list[str]
    authenticated: bool
    encrypted: bool
    crossed: int


@dataclass
class _Net:
    """The flow graph as plain dicts (``succ[u][v]`` is a :class:`_Hop`): the exposure analysis
    walks it many times, and a dict of dicts is several times cheaper to build than a DiGraph.
    """

    elements: dict[str, Component | Actor]
    chains: dict[str, tuple[str, ...]]
    succ: dict[str, dict[str, _Hop]]

    def digraph(self) -> nx.DiGraph:
        graph = nx.DiGraph()
        graph.add_nodes_from((n, {"element": e, "chain": self.chains[n]})
                             for n, e in self.elements.items())
        graph.add_edges_from((u, v, {"flows": list(h.flows), "authenticated": h.authenticated,
                                     "encrypted": h.encrypted, "crossed": h.crossed})
                             for u, out in self.succ.items() for v, h in out.items())
        return graph


def _net(model: Model, catalog: Catalog, update_only: bool = False) -> _Net:
    boundaries = {b.id: b for b in model.boundaries}
    kinds = {d.id: d.kind for d in model.data_assets}
    # Elements share few boundaries and flows share few protocol settings: compute each once.
    chain_of: dict[str | None, tuple[str, ...]] = {}
    zone: dict[str, str | None] = {}
    elements: dict[str, Component | Actor] = {}
    chains: dict[str, tuple[str, ...]] = {}
    for e in (*(c for c in model.components if not c.out_of_scope), *model.actors):
        chain = chain_of.get(e.boundary)
        if chain is None:
            chain = chain_of[e.boundary] = boundary_chain(boundaries, e.boundary)
        zone[e.id] = e.boundary
        elements[e.id] = e
        chains[e.id] = chain
    succ: dict[str, dict[str, _Hop]] = {n: {} for n in elements}
    crossed_of: dict[tuple[str | None, str | None], int] = {}
    protection: dict[tuple[str, AuthMethod | None, Encryption | None], tuple[bool, bool]] = {}
    for f in model.flows:
        if f.out_of_scope or f.source not in zone or f.target not in zone:
            continue
        if update_only and not _is_update_flow(f, kinds):
            continue
        key = (f.protocol, f.authentication, f.encryption)
        flags = protection.get(key)
        if flags is None:
            flags = protection[key] = flow_protection(f, catalog)
        authenticated, encrypted = flags
        ends = [(f.source, f.target), (f.target, f.source)] if f.bidirectional else [
            (f.source, f.target)]
        for u, v in ends:
            hop = succ[u].get(v)
            if hop is None:
                pair = (zone[u], zone[v])
                crossed = crossed_of.get(pair)
                if crossed is None:
                    crossed = crossed_of[pair] = len(set(chain_of[pair[0]])
                                                     ^ set(chain_of[pair[1]]))
                succ[u][v] = _Hop([f.id], authenticated, encrypted, crossed)
            else:
                hop.flows.append(f.id)
                hop.authenticated = hop.authenticated and authenticated
                hop.encrypted = hop.encrypted and encrypted
    return _Net(elements, chains, succ)


def exposure_graph(model: Model, catalog: Catalog | None = None, *,
                   update_only: bool = False) -> nx.DiGraph:
    """The flow graph of :func:`flow_graph` with what an attacker path needs on each edge.

    Node attributes: ``element`` (the Component or Actor), ``chain`` (its boundary ids, inner
    to outer). Edge ``u -> v`` attributes, over the in-scope flows ``F(u, v)`` that carry data
    from ``u`` to ``v`` (a bidirectional flow counts both ways):

    - ``flows``: their ids, in model order;
    - ``authenticated`` = AND of :func:`flow_protection` over ``F(u, v)``, ``encrypted``
      likewise (an attacker uses the weakest of parallel flows);
    - ``crossed`` = ``|chain(u) △ chain(v)|``, the boundaries left plus the boundaries entered
      (:meth:`GraphFacts.boundaries_crossed`).

    With ``update_only`` only flows of the update path are kept: flows carrying data of kind
    firmware or model_weights, or using a protocol of :data:`UPDATE_PROTOCOLS`. O(V + E).
    """
    return _net(model, _catalog(catalog), update_only).digraph()


def _is_update_flow(flow: Flow, kinds: dict[str, DataKind]) -> bool:
    return flow.protocol in UPDATE_PROTOCOLS or any(kinds.get(d) in UPDATE_DATA
                                                    for d in flow.data)


def _path_facts(net: _Net, path: list[str] | tuple[str, ...]
                ) -> tuple[tuple[str, ...], int, bool, bool]:
    """Flows, boundaries crossed, authenticated and encrypted along a path.

    The flags are the AND over the path's edges, and false for a path without edges.
    """
    flows: list[str] = []
    crossed = 0
    authenticated = encrypted = len(path) > 1
    succ = net.succ
    for u, v in pairwise(path):
        hop = succ[u][v]
        flows += hop.flows
        crossed += hop.crossed
        authenticated = authenticated and hop.authenticated
        encrypted = encrypted and hop.encrypted
    return tuple(flows), crossed, authenticated, encrypted


#: element id -> its (vector, reason) pairs as an entry point, by vector rank.
EntryPoints = dict[str, tuple[tuple[AttackVector, str], ...]]


def entry_points(model: Model, catalog: Catalog | None = None, *,
                 attacker_on: Iterable[str] = ()) -> EntryPoints:
    """How an attacker reaches each in-scope element directly, before following any flow.

    Returns, for every element that is an entry point, its ``(vector, reason)`` pairs sorted
    by vector rank (an element may be an entry point in several ways). With ``inner`` the
    element's innermost boundary:

    - **internet**: no boundary, or ``inner.kind == internet``, or the effective attribute
      ``internet_facing`` (the entry points of ``graph.internet_reachable``);
    - **adjacent**: ``inner`` is untrusted (home_network, mobile_device by default, or any
      boundary given ``trust: untrusted``), or ``inner``'s id or kind is in ``attacker_on``
      (an insider or a foothold assumed on, say, the ``hospital_network``);
    - **proximity**: an exposed radio interface (:data:`RADIO_INTERFACES`), or either end of a
      flow whose protocol is ``wireless`` with ``range: proximity``;
    - **local**: a user interface (``has_user_interface``) that people can reach
      (``physical_access`` not ``none``), or the target of a flow from an actor over a protocol
      that is not wireless and has range proximity or local (someone operates it on the spot);
    - **physical**: an exposed port (:data:`PHYSICAL_PORTS`), an interface inside the
      enclosure (``exposed: false``), or ``physical_access`` other than ``none``.

    Actors carry no interfaces or attributes, so they are entry points through their zone only.
    O(V + F) for V elements and F flows.
    """
    catalog = _catalog(catalog)
    zones = {str(z) for z in attacker_on}
    boundaries = {b.id: b for b in model.boundaries}
    found: dict[str, list[tuple[AttackVector, str]]] = {}

    def add(element_id: str, vector: AttackVector, reason: str) -> None:
        found.setdefault(element_id, []).append((vector, reason))

    in_scope: dict[str, Component | Actor] = {
        e.id: e for e in (*model.components, *model.actors)
        if not getattr(e, "out_of_scope", False)}
    for e in in_scope.values():
        inner = boundaries.get(e.boundary) if e.boundary else None
        if inner is None:
            add(e.id, AttackVector.internet, "outside every trust boundary")
        elif inner.kind is BoundaryKind.internet:
            add(e.id, AttackVector.internet, f"in internet boundary {inner.id!r}")
        if isinstance(e, Component) and attribute_of(catalog, e, "internet_facing"):
            add(e.id, AttackVector.internet, "internet_facing")
        if inner is not None and inner.kind is not BoundaryKind.internet:
            if inner.effective_trust is Trust.untrusted:
                add(e.id, AttackVector.adjacent,
                    f"in untrusted zone {inner.id!r} ({inner.kind.value})")
            if inner.id in zones or inner.kind.value in zones:
                add(e.id, AttackVector.adjacent,
                    f"attacker assumed on {inner.id!r} ({inner.kind.value})")
        if not isinstance(e, Component):
            continue
        for i in e.interfaces:
            kind = i.kind.value
            if i.exposed and i.kind in RADIO_INTERFACES:
                add(e.id, AttackVector.proximity, f"exposed {kind} radio interface")
            elif i.exposed and i.kind in PHYSICAL_PORTS:
                add(e.id, AttackVector.physical, f"exposed {kind} port")
            elif not i.exposed:
                add(e.id, AttackVector.physical, f"{kind} interface inside the enclosure")
        access = str(attribute_of(catalog, e, "physical_access", "none"))
        if access not in _NO_PHYSICAL_ACCESS:
            if attribute_of(catalog, e, "has_user_interface"):
                add(e.id, AttackVector.local, f"user interface, physical_access {access}")
            add(e.id, AttackVector.physical, f"physical_access {access}")
    for f in model.flows:
        if f.out_of_scope or f.source not in in_scope or f.target not in in_scope:
            continue
        proto = catalog.protocols.get(f.protocol)
        if proto is None:
            continue
        if proto.wireless and proto.range.value == "proximity":
            for end in dict.fromkeys((f.source, f.target)):
                add(end, AttackVector.proximity, f"end of radio flow {f.id!r} ({proto.id})")
        elif (not proto.wireless and proto.range.value in ("proximity", "local")
              and isinstance(in_scope[f.source], Actor)
              and isinstance(in_scope[f.target], Component)):
            add(f.target, AttackVector.local,
                f"operated by {f.source!r} over {proto.id} (flow {f.id!r})")
    return {
        element_id: tuple(sorted(dict.fromkeys(pairs), key=lambda p: p[0].rank))
        for element_id, pairs in found.items()
    }


def _best_paths(succ: dict[str, dict[str, _Hop]], seeds: dict[str, int]
                ) -> tuple[dict[str, tuple[int, int, int, str]], dict[str, str | None]]:
    """Multi-source Dijkstra with the lexicographic cost ``(rank, crossed, hops, entry)``.

    Every path starts at a seed ``s`` with cost ``(seeds[s], 0, 0, s)``; an edge adds
    ``(0, crossed(u, v), 1, -)``. Rank and entry are constant along a path and the other two
    terms are non-negative sums, so extending a path never lowers its cost and the order is
    preserved by extension: Dijkstra's label-setting argument holds. O((V + E) log V).
    Returns the best cost and the predecessor on the best path for every reached node.
    """
    dist: dict[str, tuple[int, int, int, str]] = {}
    pred: dict[str, str | None] = {}
    heap: list[tuple[int, int, int, str, str]] = []
    for node, rank in seeds.items():
        dist[node] = (rank, 0, 0, node)
        pred[node] = None
        heap.append((rank, 0, 0, node, node))
    heapq.heapify(heap)
    while heap:
        rank, crossed, hops, entry, node = heapq.heappop(heap)
        if (rank, crossed, hops, entry) > dist[node]:
            continue  # stale heap item
        for other, hop in succ[node].items():
            cand = (rank, crossed + hop.crossed, hops + 1, entry)
            old = dist.get(other)
            if old is None or cand < old:
                dist[other] = cand
                pred[other] = node
                heapq.heappush(heap, (*cand, other))
    return dist, pred


@dataclass(frozen=True)
class Exposure:
    """How an attacker reaches one element, and the easiest path that does it.

    ``vector`` is None when no entry point reaches the element in the model (nothing flows
    into it and it has no exposure of its own); ``path`` is then empty.
    """

    element: str
    vector: AttackVector | None
    entry: str | None
    entry_reason: str
    path: tuple[str, ...]
    flows: tuple[str, ...]
    boundaries_crossed: int
    authenticated: bool
    encrypted: bool
    direct: AttackVector | None
    reachable_by: tuple[AttackVector, ...]

    @property
    def hops(self) -> int:
        """Flows hops from the entry point (0 for the entry point itself or when unreached)."""
        return max(len(self.path) - 1, 0)


def exposure(model: Model, catalog: Catalog | None = None, *,
             attacker_on: Iterable[str] = ()) -> dict[str, Exposure]:
    """Attack vector of every in-scope element, with the easiest path from an entry point.

    Let ``seed(s)`` be the best vector rank of entry point ``s`` (:func:`entry_points`). An
    attacker at ``s`` who compromises it can send what ``s`` sends, so the vector propagates
    along flow edges unchanged. For a path ``P = s -> ... -> v`` let
    ``cost(P) = (seed(s), crossed(P), hops(P), s)`` with ``crossed(P)`` the sum over its edges
    of the boundaries left plus entered. The element's best path minimises ``cost``
    lexicographically: the least demanding vector first, then the fewest trust boundaries on
    the way, then the fewest hops, then the smallest entry id. Found with one multi-source
    Dijkstra over all entry points, O((V + E) log V).

    ``authenticated`` (``encrypted``) is true when the best path has at least one flow and every
    hop is authenticated (encrypted) per :func:`flow_protection`; an entry point itself
    (``hops == 0``) is reached with nothing in between, so both are false. ``direct`` is the
    element's own best vector as an entry point; ``reachable_by`` lists every vector with some
    entry point of that vector reaching the element (one BFS per vector, O(5 (V + E))).
    """
    catalog = _catalog(catalog)
    net = _net(model, catalog)
    seeds = entry_points(model, catalog, attacker_on=attacker_on)
    best_seed = {n: pairs[0][0].rank for n, pairs in seeds.items() if n in net.succ}
    dist, pred = _best_paths(net.succ, best_seed)
    reach_by: dict[str, list[AttackVector]] = {n: [] for n in net.succ}
    sources: dict[AttackVector, list[str]] = {v: [] for v in _VECTORS}
    for node, pairs in seeds.items():
        for vector in dict.fromkeys(v for v, _ in pairs):
            sources[vector].append(node)
    for vector in _VECTORS:
        for node in reachable(net.succ, sources[vector]):
            reach_by[node].append(vector)
    # Best paths form a tree (pred); walk it from the entries outwards so that each node
    # extends its predecessor's facts by one hop.
    walked: dict[str, tuple[tuple[str, ...], tuple[str, ...], int, bool, bool]] = {}
    for node in sorted(dist, key=lambda n: dist[n][2]):
        before = pred[node]
        if before is None:
            walked[node] = ((node,), (), 0, False, False)
            continue
        path, flows, crossed, authenticated, encrypted = walked[before]
        hop = net.succ[before][node]
        first = len(path) == 1
        walked[node] = ((*path, node), (*flows, *hop.flows), crossed + hop.crossed,
                        (first or authenticated) and hop.authenticated,
                        (first or encrypted) and hop.encrypted)
    result: dict[str, Exposure] = {}
    for node in net.succ:
        own = seeds.get(node)
        direct = own[0][0] if own else None
        if node not in dist:
            result[node] = Exposure(node, None, None, "", (), (), 0, False, False, direct, ())
            continue
        rank, _, _, entry = dist[node]
        reason = "; ".join(r for v, r in seeds[entry] if v.rank == rank)
        result[node] = Exposure(node, _VECTORS[rank], entry, reason, *walked[node], direct,
                                tuple(reach_by[node]))
    return result


def critical_assets(model: Model, catalog: Catalog | None = None) -> dict[str, tuple[str, ...]]:
    """In-scope components an attacker path should be traced to, with why each is critical.

    Reasons (in this order): ``therapy_delivery`` (clinical function, or attribute
    ``delivers_therapy``), ``alarming`` (function, or ``raises_alarms``), ``phi_store`` (a
    component of element kind data_store that stores a phi asset or has ``stores_phi``),
    ``model_weights`` (stores or processes a model_weights asset, or ``holds_model_artifacts``),
    ``training_data`` (stores or processes a training_data asset, or ``holds_training_data``),
    ``signing_keys`` (``holds_signing_keys``). Components in model order.
    """
    catalog = _catalog(catalog)
    kinds = {d.id: d.kind for d in model.data_assets}
    result: dict[str, tuple[str, ...]] = {}
    for c in model.components:
        if c.out_of_scope:
            continue
        ctype = catalog.component_types.get(c.type)
        handled = {kinds.get(d) for d in (*c.stores, *c.processes)}
        stored = {kinds.get(d) for d in c.stores}
        reasons = []
        if ClinicalFunction.therapy_delivery in c.functions or attribute_of(catalog, c,
                                                                    "delivers_therapy"):
            reasons.append("therapy_delivery")
        if ClinicalFunction.alarming in c.functions or attribute_of(catalog, c, "raises_alarms"):
            reasons.append("alarming")
        if ctype is not None and ctype.element == "data_store" and (
                DataKind.phi in stored or attribute_of(catalog, c, "stores_phi")):
            reasons.append("phi_store")
        if DataKind.model_weights in handled or attribute_of(catalog, c, "holds_model_artifacts"):
            reasons.append("model_weights")
        if DataKind.training_data in handled or attribute_of(catalog, c, "holds_training_data"):
            reasons.append("training_data")
        if attribute_of(catalog, c, "holds_signing_keys"):
            reasons.append("signing_keys")
        if reasons:
            result[c.id] = tuple(reasons)
    return result


@dataclass(frozen=True)
class AttackPath:
    """One of the k shortest simple paths from an entry point to a critical asset."""

    target: str
    target_reasons: tuple[str, ...]
    entry: str
    vector: AttackVector
    entry_reason: str
    rank: int
    path: tuple[str, ...]
    flows: tuple[str, ...]
    boundaries_crossed: int
    authenticated: bool
    encrypted: bool

    @property
    def hops(self) -> int:
        """Number of flow hops (edges) on the path."""
        return len(self.path) - 1


def _entry_masks(graph: nx.DiGraph, index: dict[str, int]) -> dict[str, int]:
    """For each node, the bitset of indexed entry nodes with a path to it (itself included).

    O((V + E) * |index| / 64) word operations (:func:`fold_reachable` upstream).
    """
    bits = {node: 1 << i for node, i in index.items()}
    return fold_reachable(graph, bits, operator.or_, 0, upstream=True)


def _set_bits(bits: int) -> Iterator[int]:
    while bits:
        low = bits & -bits
        yield low.bit_length() - 1
        bits ^= low


def attack_paths(model: Model, catalog: Catalog | None = None, k: int = 3, *,
                 vectors: Iterable[AttackVector | str] = REMOTE_VECTORS,
                 targets: Iterable[str] | None = None, entries: Iterable[str] | None = None,
                 max_pairs: int | None = MAX_PAIRS, attacker_on: Iterable[str] = ()
                 ) -> list[AttackPath]:
    """Up to ``k`` shortest simple paths from each entry point to each critical asset.

    Entry points are the elements of :func:`entry_points` with a vector in ``vectors`` (by
    default internet, adjacent and proximity; a path's ``vector`` is the entry's best one among
    them), restricted to ``entries`` when given. Targets are :func:`critical_assets`, or
    exactly the elements of ``targets`` when given (critical or not: ``target_reasons`` is then
    empty for the others). Unknown ids in ``entries`` or ``targets`` raise ValueError. A
    pair ``(s, t)`` with ``s != t`` and a path from ``s`` to ``t`` yields the first ``k``
    paths of ``networkx.shortest_simple_paths`` (Yen's algorithm, by hop count) on the flow
    graph, ranked 1..k.

    Work bound: at most ``max_pairs`` pairs are enumerated (None: all). Pairs are taken round
    robin over the targets in id order: first every target's easiest entry (the best path of
    :func:`exposure` restricted to these entry points), then each target's other entries by
    vector rank and id. When pairs are left out a :class:`PathLimitWarning` says how many.
    Finding which entries reach which target is one pass over the condensation with bitsets;
    each pair then costs O(k * L * (V + E)) for paths of L hops.

    Result order: target id, entry vector rank, entry id, path rank.
    """
    paths, _, _ = _attack_paths(model, _catalog(catalog), k, vectors, targets, entries,
                                max_pairs, attacker_on)
    return paths


def _attack_paths(model: Model, catalog: Catalog, k: int, vectors: Iterable[AttackVector | str],
                  targets: Iterable[str] | None, entries: Iterable[str] | None,
                  max_pairs: int | None, attacker_on: Iterable[str]
                  ) -> tuple[list[AttackPath], int, int]:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if max_pairs is not None and max_pairs < 0:
        raise ValueError(f"max_pairs must be >= 0 or None, got {max_pairs}")
    allowed = {_vector(v) for v in vectors}
    net = _net(model, catalog)
    wanted = _known(net, entries, "entries")
    chosen = _known(net, targets, "targets")
    starts: dict[str, tuple[AttackVector, str]] = {}
    for node, pairs in entry_points(model, catalog, attacker_on=attacker_on).items():
        if node not in net.succ or (wanted is not None and node not in wanted):
            continue
        usable = [(v, r) for v, r in pairs if v in allowed]
        if usable:
            best = usable[0][0]
            starts[node] = (best, "; ".join(r for v, r in usable if v is best))
    critical = critical_assets(model, catalog)
    if chosen is not None:
        critical = {t: critical.get(t, ()) for t in chosen}
    critical = {t: critical[t] for t in sorted(critical) if t in net.succ}
    if not starts or not critical:
        return [], 0, 0
    graph = net.digraph()
    order = sorted(starts, key=lambda n: (starts[n][0].rank, n))
    index = {node: i for i, node in enumerate(order)}
    masks = _entry_masks(graph, index)
    dist, _ = _best_paths(net.succ, {n: starts[n][0].rank for n in order})
    total = 0
    queues: list[Iterator[tuple[str, str]]] = []
    for t in critical:
        bits = masks[t] & ~(1 << index[t]) if t in index else masks[t]
        if not bits:
            continue
        total += bits.bit_count()
        first = dist[t][3] if t in dist and dist[t][3] != t else None
        queues.append(_entries_of(t, first, bits, order, index))
    pairs: list[tuple[str, str]] = []
    limit = total if max_pairs is None else min(max_pairs, total)
    while queues and len(pairs) < limit:
        active = []
        for queue in queues:
            if len(pairs) >= limit:
                break
            pair = next(queue, None)
            if pair is not None:
                pairs.append(pair)
                active.append(queue)
        queues = active
    if len(pairs) < total:
        warnings.warn(
            f"attack_paths: enumerated paths for {len(pairs):,} of {total:,} entry-target pairs "
            f"(max_pairs={max_pairs}); each critical asset got its easiest entry first. Pass "
            "max_pairs=None for all, or narrow targets= / entries=.",
            PathLimitWarning, stacklevel=3)
    result: list[AttackPath] = []
    for entry, target in pairs:
        vector, reason = starts[entry]
        found = islice(nx.shortest_simple_paths(graph, entry, target), k)
        ranked = sorted((tuple(p) for p in found), key=lambda p: (len(p), p))
        for rank, path in enumerate(ranked, 1):
            flows, crossed, authenticated, encrypted = _path_facts(net, path)
            result.append(AttackPath(target, critical[target], entry, vector, reason, rank,
                                     path, flows, crossed, authenticated, encrypted))
    result.sort(key=lambda p: (p.target, p.vector.rank, p.entry, p.rank))
    return result, len(pairs), total


def _vector(value: AttackVector | str) -> AttackVector:
    try:
        return AttackVector(value)
    except ValueError:
        names = ", ".join(v.value for v in _VECTORS)
        raise ValueError(f"unknown attack vector {value!r}; expected one of {names}") from None


def _known(net: _Net, ids: Iterable[str] | None, what: str) -> set[str] | None:
    if ids is None:
        return None
    wanted = set(ids)
    unknown = sorted(wanted - net.succ.keys())
    if unknown:
        raise ValueError(f"{what}: no in-scope component or actor with id "
                         f"{', '.join(map(repr, unknown))}")
    return wanted


def _entries_of(target: str, first: str | None, bits: int, order: list[str],
                index: dict[str, int]) -> Iterator[tuple[str, str]]:
    """The (entry, target) pairs of one target: its easiest entry, then by vector rank and id."""
    if first is not None:
        yield first, target
        bits &= ~(1 << index[first])
    for i in _set_bits(bits):
        yield order[i], target


def patient_devices(model: Model, catalog: Catalog | None = None) -> set[str]:
    """In-scope components that each stand for at least one patient.

    A component counts when its effective attribute ``patient_facing`` is true, or when its
    type has category ``device`` and its effective ``max_patients`` is not 0 (a service laptop
    is a device that cares for no patient; a catalog without ``max_patients`` counts every
    device).
    """
    catalog = _catalog(catalog)
    found: set[str] = set()
    for c in model.components:
        if c.out_of_scope:
            continue
        ctype = catalog.component_types.get(c.type)
        if attribute_of(catalog, c, "patient_facing") or (
                ctype is not None and ctype.category == "device"
                and attribute_of(catalog, c, "max_patients", 1) != 0):
            found.add(c.id)
    return found


def blast_radius(model: Model, catalog: Catalog | None = None) -> dict[str, int]:
    """Multi-patient blast radius: patient devices each element can reach downstream.

    ``blast_radius(v) = |{d in D, d != v : a directed flow path leads from v to d}|`` with D
    the :func:`patient_devices`. A compromised element can send what it sends, so everything
    downstream is within its reach; a fleet backend or update server reaching thousands of
    devices harms many patients at once. Bitsets over the condensation DAG:
    O((V + E) * |D| / 64). Keys in flow-graph node order.
    """
    catalog = _catalog(catalog)
    graph = flow_graph(model)
    return _downstream_counts(graph, patient_devices(model, catalog) & set(graph))


@dataclass(frozen=True)
class UpdatePath:
    """The chain that carries software, firmware or model updates from their origin to a
    device."""

    device: str
    origin: str
    path: tuple[str, ...]
    flows: tuple[str, ...]
    boundaries_crossed: int
    authenticated: bool
    encrypted: bool
    built: bool
    signed: bool
    via_update_server: bool
    bypasses_signing: bool

    @property
    def hops(self) -> int:
        """Number of flow hops (edges) on the chain."""
        return len(self.path) - 1


def update_paths(model: Model, catalog: Catalog | None = None) -> list[UpdatePath]:
    """Update chains from build and signing to each device.

    Let ``U`` be the update graph (:func:`exposure_graph` with ``update_only``: flows carrying
    firmware or model_weights, or using :data:`UPDATE_PROTOCOLS`) and ``S`` the release
    stages: in-scope components with the effective attribute ``builds_software``,
    ``holds_signing_keys`` or ``is_update_server``. An *origin* is a stage with no other stage
    upstream of it in ``U`` (stages on a common cycle are all origins). For each origin ``o``
    and each component ``d != o`` of category device reachable from ``o`` in ``U``, the result
    holds one shortest chain ``o -> ... -> d`` (breadth-first, first found in flow order), with:
    ``built`` / ``signed`` / ``via_update_server`` when a node of the chain has the
    corresponding attribute, ``bypasses_signing`` when ``d`` is reachable from ``o`` in ``U``
    without passing any signing-key holder (false when ``o`` holds the keys), and the
    authenticated / encrypted / boundaries-crossed facts of the chain as in :func:`exposure`.
    A device absent from the result receives no update along the modeled flows.

    O(|origins| * (V + E)). Result order: device id, origin id.
    """
    catalog = _catalog(catalog)
    net = _net(model, catalog, update_only=True)
    role: dict[str, set[str]] = {"builds_software": set(), "holds_signing_keys": set(),
                                 "is_update_server": set()}
    devices: set[str] = set()
    for c in model.components:
        if c.out_of_scope:
            continue
        for name, members in role.items():
            if attribute_of(catalog, c, name):
                members.add(c.id)
        ctype = catalog.component_types.get(c.type)
        if ctype is not None and ctype.category == "device":
            devices.add(c.id)
    stages = set().union(*role.values()) & set(net.succ)
    signers = role["holds_signing_keys"]
    back: dict[str, dict[str, _Hop]] = {n: {} for n in net.succ}
    for u, out in net.succ.items():
        for v, hop in out.items():
            back[v][u] = hop
    origins = []
    for stage in sorted(stages):
        upstream = reachable(back, [stage]) - reachable(net.succ, [stage])
        if not upstream & stages:
            origins.append(stage)
    unsigned = {u: {v: h for v, h in out.items() if v not in signers}
                for u, out in net.succ.items() if u not in signers}
    result: list[UpdatePath] = []
    for origin in origins:
        parent = _bfs_tree(net.succ, origin)
        free = set() if origin in signers else reachable(unsigned, [origin])
        for device in sorted(devices & parent.keys() - {origin}):
            path = [device]
            while (step := parent[path[-1]]) is not None:
                path.append(step)
            path.reverse()
            flows, crossed, authenticated, encrypted = _path_facts(net, path)
            nodes = set(path)
            result.append(UpdatePath(
                device, origin, tuple(path), flows, crossed, authenticated, encrypted,
                bool(nodes & role["builds_software"]), bool(nodes & signers),
                bool(nodes & role["is_update_server"]), device in free))
    result.sort(key=lambda u: (u.device, u.origin))
    return result


def _bfs_tree(succ: dict[str, dict[str, _Hop]], source: str) -> dict[str, str | None]:
    """Breadth-first search tree from ``source``: node -> parent (None for the source).

    Successors are visited in flow order, so each node's tree path is the first shortest path.
    """
    parent: dict[str, str | None] = {source: None}
    frontier = [source]
    while frontier:
        nxt = []
        for node in frontier:
            for other in succ[node]:
                if other not in parent:
                    parent[other] = node
                    nxt.append(other)
        frontier = nxt
    return parent


# -- DataFrames --------------------------------------------------------------------------------

_ARROW = " -> "

EXPOSURE_COLUMNS = (
    "element", "name", "kind", "type", "boundary", "vector", "direct", "reachable_by", "entry",
    "entry_reason", "hops", "boundaries_crossed", "authenticated", "encrypted", "path", "flows",
)
ATTACK_PATH_COLUMNS = (
    "target", "target_reasons", "entry", "vector", "entry_reason", "rank", "hops",
    "boundaries_crossed", "authenticated", "encrypted", "path", "flows",
)
BLAST_RADIUS_COLUMNS = ("element", "name", "kind", "type", "patient_devices")
UPDATE_PATH_COLUMNS = (
    "device", "origin", "hops", "built", "signed", "via_update_server", "bypasses_signing",
    "authenticated", "encrypted", "boundaries_crossed", "path", "flows",
)


def _describe(model: Model) -> dict[str, tuple[str, str, str, str]]:
    """element id -> (name, kind, type or role, boundary)."""
    out: dict[str, tuple[str, str, str, str]] = {}
    for c in model.components:
        out[c.id] = (c.name or c.id, "component", c.type, c.boundary or "")
    for a in model.actors:
        out[a.id] = (a.name or a.id, "actor", a.role.value, a.boundary or "")
    return out


def _frame(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> Any:
    import pandas as pd

    return pd.DataFrame(rows, columns=list(columns))


def exposure_frame(model: Model, catalog: Catalog | None = None, *,
                   attacker_on: Iterable[str] = ()) -> Any:
    """:func:`exposure` as a pandas DataFrame, one row per in-scope element.

    Columns: ``element``, ``name``, ``kind`` (component | actor), ``type`` (component type id,
    or actor role), ``boundary`` (innermost, "" for none), ``vector`` / ``direct`` (vector
    names, None when unreached / not an entry point), ``reachable_by`` (comma-separated
    vectors), ``entry``, ``entry_reason``, ``hops``, ``boundaries_crossed``,
    ``authenticated``, ``encrypted``, ``path`` (element ids joined by " -> "), ``flows``
    (flow ids, comma-separated). Rows by vector rank (unreached last), then element id.
    """
    described = _describe(model)
    rows = []
    for e in exposure(model, catalog, attacker_on=attacker_on).values():
        name, kind, type_, boundary = described[e.element]
        rows.append({
            "element": e.element, "name": name, "kind": kind, "type": type_,
            "boundary": boundary, "vector": e.vector.value if e.vector else None,
            "direct": e.direct.value if e.direct else None,
            "reachable_by": ", ".join(v.value for v in e.reachable_by), "entry": e.entry,
            "entry_reason": e.entry_reason, "hops": e.hops,
            "boundaries_crossed": e.boundaries_crossed, "authenticated": e.authenticated,
            "encrypted": e.encrypted, "path": _ARROW.join(e.path), "flows": ", ".join(e.flows),
        })
    rows.sort(key=lambda r: (_VECTOR_RANK[AttackVector(r["vector"])] if r["vector"]
                             else len(_VECTORS), r["element"]))
    return _frame(rows, EXPOSURE_COLUMNS)


def attack_paths_frame(model: Model, catalog: Catalog | None = None, k: int = 3, *,
                       vectors: Iterable[AttackVector | str] = REMOTE_VECTORS,
                       targets: Iterable[str] | None = None,
                       entries: Iterable[str] | None = None,
                       max_pairs: int | None = MAX_PAIRS,
                       attacker_on: Iterable[str] = ()) -> Any:
    """:func:`attack_paths` as a pandas DataFrame, one row per path, in the same order.

    Columns: ``target``, ``target_reasons`` (comma-separated), ``entry``, ``vector``,
    ``entry_reason``, ``rank`` (1..k within the pair), ``hops``, ``boundaries_crossed``,
    ``authenticated``, ``encrypted``, ``path`` (" -> "), ``flows`` (comma-separated).
    ``frame.attrs`` holds ``pairs_enumerated`` and ``pairs_total`` (they differ when
    ``max_pairs`` cut the work short).
    """
    paths, done, total = _attack_paths(model, _catalog(catalog), k, vectors, targets, entries,
                                       max_pairs, attacker_on)
    rows = [{
        "target": p.target, "target_reasons": ", ".join(p.target_reasons), "entry": p.entry,
        "vector": p.vector.value, "entry_reason": p.entry_reason, "rank": p.rank,
        "hops": p.hops, "boundaries_crossed": p.boundaries_crossed,
        "authenticated": p.authenticated, "encrypted": p.encrypted,
        "path": _ARROW.join(p.path), "flows": ", ".join(p.flows),
    } for p in paths]
    frame = _frame(rows, ATTACK_PATH_COLUMNS)
    frame.attrs["pairs_enumerated"] = done
    frame.attrs["pairs_total"] = total
    return frame


def blast_radius_frame(model: Model, catalog: Catalog | None = None) -> Any:
    """:func:`blast_radius` as a pandas DataFrame, one row per in-scope element.

    Columns: ``element``, ``name``, ``kind`` (component | actor), ``type`` (component type id
    or actor role), ``patient_devices``. Rows by ``patient_devices`` descending, then element
    id.
    """
    described = _describe(model)
    rows = []
    for element, count in blast_radius(model, catalog).items():
        name, kind, type_, _ = described[element]
        rows.append({"element": element, "name": name, "kind": kind, "type": type_,
                     "patient_devices": count})
    rows.sort(key=lambda r: (-r["patient_devices"], r["element"]))
    return _frame(rows, BLAST_RADIUS_COLUMNS)


def update_paths_frame(model: Model, catalog: Catalog | None = None) -> Any:
    """:func:`update_paths` as a pandas DataFrame, one row per (device, origin) chain.

    Columns: ``device``, ``origin``, ``hops``, ``built``, ``signed``, ``via_update_server``,
    ``bypasses_signing``, ``authenticated``, ``encrypted``, ``boundaries_crossed``, ``path``
    (" -> "), ``flows`` (comma-separated). Rows by device id, then origin id.
    """
    rows = [{
        "device": u.device, "origin": u.origin, "hops": u.hops, "built": u.built,
        "signed": u.signed, "via_update_server": u.via_update_server,
        "bypasses_signing": u.bypasses_signing, "authenticated": u.authenticated,
        "encrypted": u.encrypted, "boundaries_crossed": u.boundaries_crossed,
        "path": _ARROW.join(u.path), "flows": ", ".join(u.flows),
    } for u in update_paths(model, catalog)]
    return _frame(rows, UPDATE_PATH_COLUMNS)
