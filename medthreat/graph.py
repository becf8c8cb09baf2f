"""The model as a directed graph (networkx): zones, reachability and boundary crossings.

Nodes are the in-scope components and actors; each in-scope flow adds an edge from source to
target, and one back when the flow is bidirectional. Every function here is linear in the size
of the model (one breadth-first search, or one pass over the condensation), so that a fleet of
ten thousand devices analyzes in seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import networkx as nx

from .model import Actor, Component, Model, Trust, TrustBoundary

if TYPE_CHECKING:
    from .catalog import Catalog

__all__ = ["GraphFacts", "boundary_chain", "flow_graph", "graph_facts", "reachable"]


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


def reachable(graph: nx.DiGraph, sources: Iterable[str]) -> set[str]:
    """Nodes on a directed path from any of ``sources`` (sources included).

    One multi-source breadth-first search: O(V + E).
    """
    seen = {s for s in sources if s in graph}
    frontier = list(seen)
    succ = graph.succ
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


def _downstream_counts(graph: nx.DiGraph, counted: set[str]) -> dict[str, int]:
    """For each node, how many nodes of ``counted`` (other than itself) it reaches.

    Reachability sets are bitsets (Python ints) propagated over the condensation DAG in
    reverse topological order: O((V + E) * |counted| / 64) word operations.
    """
    if not counted:
        return dict.fromkeys(graph, 0)
    bit = {node: 1 << i for i, node in enumerate(sorted(counted))}
    condensed = nx.condensation(graph)
    members = condensed.graph["mapping"]  # node -> scc index
    scc_bits: dict[int, int] = {}
    for scc in reversed(list(nx.topological_sort(condensed))):
        own = 0
        for node in condensed.nodes[scc]["members"]:
            own |= bit.get(node, 0)
        for succ in condensed.succ[scc]:
            own |= scc_bits[succ]
        scc_bits[scc] = own
    return {
        node: (scc_bits[members[node]] & ~bit.get(node, 0)).bit_count() for node in graph
    }


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
