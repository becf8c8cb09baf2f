"""Incident response playbooks derived from the model's flow graph.

For every critical component (clinical functions, patient devices, stores of PHI, model weights,
training data or signing keys) a :class:`Playbook` answers, from the architecture alone:

- what stops working when the component is isolated: the flows it sends that are lost, the
  elements left with no input at all, the clinical functions that depend on them;
- what to isolate to contain a compromise of it: every flow it takes part in, the neighbours
  across trust boundaries where the flows can be blocked, and the smallest set of flows whose
  cut separates it from every other patient device;
- in which order to recover: what it depends on first (identity, infrastructure, servers),
  then the component, then what depends on it, following :func:`dependency_graph`.

The playbook is a skeleton for the incident response plan (detect, contain, eradicate,
recover, practise) with the model's element names filled in; people complete it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import networkx as nx

from ..export._text import markdown_cell
from ..graph import (
    _catalog,
    attribute_of,
    boundary_chain,
    critical_assets,
    flow_graph,
    patient_devices,
    reachable,
)
from ..model import Actor, Component, Model

if TYPE_CHECKING:
    from ..catalog import Catalog

__all__ = [
    "LIST_LIMIT",
    "LostInput",
    "Playbook",
    "dependency_graph",
    "incident_playbooks",
    "playbook_markdown",
    "recovery_order",
    "restore_tier",
]

@dataclass(frozen=True)
class LostInput:
    """A flow an element no longer receives when its source is isolated."""

    flow: str
    source: str
    target: str
    data: tuple[str, ...]


@dataclass(frozen=True)
class Playbook:
    """Incident response skeleton for one critical component (all lists sorted)."""

    component: str
    name: str
    reasons: tuple[str, ...]
    boundary: str | None
    functions: tuple[str, ...]
    lost_inputs: tuple[LostInput, ...]
    starved: tuple[str, ...]
    downstream: tuple[str, ...]
    functions_affected: tuple[tuple[str, tuple[str, ...]], ...]
    isolate_flows: tuple[str, ...]
    boundary_neighbours: tuple[str, ...]
    boundary_flows: tuple[str, ...]
    devices_reached: tuple[str, ...]
    device_cut: tuple[str, ...]
    recovery: tuple[tuple[str, ...], ...]
    detect: tuple[str, ...]
    contain: tuple[str, ...]
    eradicate: tuple[str, ...]
    recover: tuple[str, ...]
    practise: tuple[str, ...]


# -- dependencies and recovery order ---------------------------------------------------------


def restore_tier(component: Component, catalog: Catalog | None = None) -> int:
    """Restore tier of a component: 0 identity (``is_identity_provider``), 1 infrastructure
    (``network_infrastructure`` or ``routes_messages``, not a device or app), 2 servers and
    data stores, 3 apps and devices (catalog category device or app, or ``patient_facing``).
    Read from catalog attributes, never from type names."""
    catalog = _catalog(catalog)
    ctype = catalog.component_types.get(component.type)
    category = str(ctype.category) if ctype is not None else ""
    if attribute_of(catalog, component, "is_identity_provider"):
        return 0
    if category in ("device", "app") or attribute_of(catalog, component, "patient_facing"):
        return 3
    if attribute_of(catalog, component, "network_infrastructure") or attribute_of(
            catalog, component, "routes_messages"):
        return 1
    return 2


def dependency_graph(model: Model, catalog: Catalog | None = None) -> nx.DiGraph:
    """Who needs whom to work: an edge ``a -> b`` means b depends on a (restore a first).

    Nodes are the in-scope components (people are not restored) with a ``tier`` attribute
    (:func:`restore_tier`). Each in-scope flow direction ``u -> v`` between components gives
    one edge: when v has a lower tier than u, v is a provider u calls (a directory, the
    infrastructure, a server), so u depends on v (edge ``v -> u``); otherwise v consumes what
    u sends and depends on u (edge ``u -> v``). Flows between components of the same tier in
    both directions make a cycle: those components are restored together.
    """
    catalog = _catalog(catalog)
    graph = nx.DiGraph()
    comps = {c.id: c for c in model.components if not c.out_of_scope}
    for cid, comp in comps.items():
        graph.add_node(cid, tier=restore_tier(comp, catalog))
    for f in model.flows:
        if f.out_of_scope or f.source not in comps or f.target not in comps:
            continue
        ends = [(f.source, f.target)]
        if f.bidirectional:
            ends.append((f.target, f.source))
        for u, v in ends:
            if u == v:
                continue
            if graph.nodes[v]["tier"] < graph.nodes[u]["tier"]:
                graph.add_edge(v, u)
            else:
                graph.add_edge(u, v)
    return graph


def recovery_order(graph: nx.DiGraph) -> list[tuple[str, ...]]:
    """Restore steps: each step is one strongly connected group of ``graph`` (sorted ids) and
    comes after every step it depends on. Cycles are condensed into one step; among steps ready
    at the same time, lower tier first, then the smallest id (deterministic)."""
    condensed = nx.condensation(graph)
    members = {n: tuple(sorted(condensed.nodes[n]["members"])) for n in condensed}

    def key(n: int) -> tuple[int, str]:
        tier = min((graph.nodes[m].get("tier", 2) for m in members[n]), default=2)
        return tier, members[n][0]

    return [members[n] for n in nx.lexicographical_topological_sort(condensed, key=key)]


# -- playbooks -------------------------------------------------------------------------------


def _starved(succ: dict[str, list[str]], indegree: dict[str, int], gone: str) -> set[str]:
    """Nodes that lose every input once ``gone`` is removed: a node with inputs whose inputs
    all come from removed or starved nodes (cascading). One pass over the edges: O(V + E)."""
    live_in = dict(indegree)
    dead = {gone}
    frontier = [gone]
    while frontier:
        node = frontier.pop()
        for nxt in succ[node]:
            if nxt in dead:
                continue
            live_in[nxt] -= 1
            if live_in[nxt] == 0:
                dead.add(nxt)
                frontier.append(nxt)
    dead.discard(gone)
    return dead


def _device_cut(adjacency: tuple[dict[str, list[str]], dict[str, list[str]]], source: str,
                below: set[str], devices: set[str],
                flows_of: dict[tuple[str, str], list[str]]) -> tuple[set[str], tuple[str, ...]]:
    """Devices reachable from ``source`` and the flows of a minimum edge cut separating them.

    Each flow-graph edge (all flows between the same two elements in one direction) has
    capacity 1 and every reachable device drains into one sink of unlimited capacity, so the
    cut never "cuts" a device itself. Unit-capacity augmenting paths (breadth-first, neighbours
    in sorted order): O(cut size * (V + E)). Of the minimum cuts, the one closest to the devices
    is returned: the saturated edges into the set of nodes that can still reach the sink.
    """
    reach = below & devices
    if not reach:
        return set(), ()
    region = below | {source}
    succ_all, pred_all = adjacency
    succ = {u: [v for v in succ_all[u] if v in region] for u in region}
    pred = {u: [v for v in pred_all[u] if v in region] for u in region}
    used: set[tuple[str, str]] = set()  # edges carrying one unit of flow

    def forward(x: str) -> Iterable[tuple[str, tuple[str, str], bool]]:
        for y in succ[x]:
            if (x, y) not in used:
                yield y, (x, y), True
        for y in pred[x]:
            if (y, x) in used:
                yield y, (y, x), False

    while True:  # augment along a shortest residual path from source to any device
        parent: dict[str, tuple[str, tuple[str, str], bool] | None] = {source: None}
        queue, end = [source], None
        for x in queue:
            if x in reach and x != source:
                end = x
                break
            for y, edge, fwd in forward(x):
                if y not in parent:
                    parent[y] = (x, edge, fwd)
                    queue.append(y)
        if end is None:
            break
        node = end
        while parent[node] is not None:
            prev, edge, fwd = parent[node]  # type: ignore[misc]
            if fwd:
                used.add(edge)
            else:
                used.discard(edge)
            node = prev
    # Nodes that can still reach the sink in the residual graph: the devices, and every node
    # with a residual edge into that set (found backwards from the devices).
    sink_side = set(reach)
    queue = sorted(reach)
    for y in queue:
        for x in pred[y]:  # residual x -> y along an unused edge
            if x not in sink_side and (x, y) not in used:
                sink_side.add(x)
                queue.append(x)
        for x in succ[y]:  # residual x -> y against a used edge y -> x
            if x not in sink_side and (y, x) in used:
                sink_side.add(x)
                queue.append(x)
    cut = sorted({f for u in region if u not in sink_side for v in succ[u] if v in sink_side
                  for f in flows_of.get((u, v), ())})
    return reach, tuple(cut)


#: Longest list of names or flows written into one playbook line; the rest are counted.
LIST_LIMIT = 12


def _some(items: Iterable[str], limit: int = LIST_LIMIT) -> str:
    """Items joined with commas, at most ``limit`` of them, then "and N more"; "none" if empty."""
    items = list(items)
    if not items:
        return "none"
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"


def _label(labels: dict[str, str], ident: str) -> str:
    name = labels.get(ident, "")
    return f"{name} ({ident})" if name and name != ident else ident


def incident_playbooks(model: Model, catalog: Catalog | None = None, *,
                       limit: int | None = None) -> list[Playbook]:
    """One playbook per critical component, in model order (the first ``limit`` only, when
    given: a report of a large model shows a few and points to ``medthreat playbook``).

    Critical components are those of :func:`medthreat.graph.critical_assets` plus the
    :func:`medthreat.graph.patient_devices`. Deterministic: the same model gives the same
    playbooks. Cost per playbook: a few passes over the flow graph plus the minimum cut,
    O(cut size * (V + E)).
    """
    catalog = _catalog(catalog)
    graph = flow_graph(model)
    critical = critical_assets(model, catalog)
    devices = patient_devices(model, catalog) & set(graph)
    boundaries = {b.id: b for b in model.boundaries}
    elements: dict[str, Component | Actor] = {
        **{a.id: a for a in model.actors},
        **{c.id: c for c in model.components if not c.out_of_scope},
    }
    labels = {e: el.name for e, el in elements.items()}
    adjacency = ({u: sorted(graph.succ[u]) for u in graph},
                 {u: sorted(graph.pred[u]) for u in graph})
    indegree = {u: len(p) for u, p in adjacency[1].items()}
    chains = {e: boundary_chain(boundaries, el.boundary) for e, el in elements.items()}
    flows_of: dict[tuple[str, str], list[str]] = {}
    flows = [f for f in model.flows
             if not f.out_of_scope and f.source in graph and f.target in graph]
    for f in flows:
        flows_of.setdefault((f.source, f.target), []).append(f.id)
        if f.bidirectional:
            flows_of.setdefault((f.target, f.source), []).append(f.id)
    deps = dependency_graph(model, catalog)
    order = recovery_order(deps)
    loggers = sorted(c for c in elements if isinstance(elements[c], Component)
                     and attribute_of(catalog, elements[c], "logs_security_events"))
    controls = {c.id: sorted({a.control for a in model.controls
                              if c.id in a.targets or not a.targets})
                for c in model.components}

    playbooks: list[Playbook] = []
    for comp in model.components:
        cid = comp.id
        if comp.out_of_scope or cid not in graph or (cid not in critical and cid not in devices):
            continue
        if limit is not None and len(playbooks) >= limit:
            break
        reasons = tuple(critical.get(cid, ())) + (("patient_device",) if cid in devices else ())
        lost = []
        for f in flows:
            targets = []
            if f.source == cid:
                targets.append(f.target)
            if f.bidirectional and f.target == cid:
                targets.append(f.source)
            lost += [LostInput(f.id, cid, t, tuple(f.data)) for t in targets if t != cid]
        lost.sort(key=lambda x: (x.target, x.flow))
        starved = _starved(adjacency[0], indegree, cid)
        downstream = reachable(graph, [cid]) - {cid}
        touched = sorted({cid, *starved, *(x.target for x in lost)})
        affected = tuple(
            (e, tuple(sorted(fn.value for fn in elements[e].functions)))
            for e in touched
            if isinstance(elements[e], Component) and elements[e].functions)
        own = {f.id for f in flows if cid in (f.source, f.target)}
        neighbours = set(graph.pred[cid]) | set(graph.succ[cid])
        across = sorted(n for n in neighbours if chains[n][:1] != chains[cid][:1])
        boundary_flows = sorted(f.id for f in flows if cid in (f.source, f.target)
                                and (f.target if f.source == cid else f.source) in across)
        reach, cut = _device_cut(adjacency, cid, downstream, devices - {cid},
                                 flows_of)
        needed = nx.ancestors(deps, cid) | {cid} | (
            {*starved, *(x.target for x in lost)} & set(deps))
        recovery = tuple(step for step in order if set(step) & needed)
        recovery = tuple(tuple(m for m in step if m in needed) for step in recovery)
        playbooks.append(_playbook(
            model, labels, comp, reasons, chains, lost, starved, downstream, affected, own, across,
            boundary_flows, reach, cut, recovery, loggers, controls.get(cid, [])))
    return playbooks


def _names(labels: dict[str, str], ids: Iterable[str]) -> str:
    ids = list(ids)
    shown = [_label(labels, i) for i in ids[:LIST_LIMIT]]
    return _some(shown + ids[LIST_LIMIT:])


def _playbook(model: Model, labels: dict[str, str], comp: Component, reasons: tuple[str, ...],
              chains: dict[str, tuple[str, ...]], lost: list[LostInput], starved: set[str],
              downstream: set[str], affected: tuple[tuple[str, tuple[str, ...]], ...],
              own: set[str], across: list[str], boundary_flows: list[str], reach: set[str],
              cut: tuple[str, ...], recovery: tuple[tuple[str, ...], ...], loggers: list[str],
              controls: list[str]) -> Playbook:
    cid = comp.id
    me = _label(labels, cid)
    chain = chains[cid]
    zone = chain[0] if chain else None
    in_flows = sorted(f.id for f in model.flows if f.target == cid and f.id in own)
    out_flows = sorted(f.id for f in model.flows if f.source == cid and f.id in own)
    near = downstream | {f.source for f in model.flows if f.id in own}
    watchers = [e for e in loggers if e != cid and e in near]
    detect = [
        f"Watch the inputs of {me} for unexpected senders or content: "
        f"{_some(in_flows)}.",
        f"Watch its outputs for unexpected destinations or volumes: "
        f"{_some(out_flows)}.",
        "Security events from the elements it talks to or feeds: "
        + (_names(labels, watchers) + "." if watchers else
           "none of them logs security events in the model; add a log source."),
    ]
    if controls:
        detect.append("Check the controls applied to it still work: " + ", ".join(controls)
                      + ".")
    contain = [
        f"Isolate {me}: block its flows {_some(sorted(own))}.",
        ("Block at the trust boundary, at its neighbours in other zones: "
         f"{_names(labels, across)} (flows {_some(boundary_flows)})." if across else
         "It has no neighbours in another trust zone; isolate it inside its zone."),
    ]
    if reach:
        contain.append(f"To protect the other patient devices it can reach "
                       f"({_names(labels, sorted(reach))}) while it stays online, cut at least "
                       f"the flows {_some(cut)} (a minimum cut of the flow graph).")
    else:
        contain.append("It reaches no other patient device through the model's flows.")
    lost_text = "; ".join(f"{_label(labels, x.target)} loses {x.flow} "
                          f"({', '.join(x.data) or 'no data named'})"
                          for x in lost[:LIST_LIMIT])
    if len(lost) > LIST_LIMIT:
        lost_text += f"; and {len(lost) - LIST_LIMIT} more flows"
    if lost_text:
        contain.append(f"Isolation cost: {lost_text}.")
    if starved:
        contain.append(f"Left with no input at all: {_names(labels, sorted(starved))}.")
    hit = [f"{_label(labels, e)}: {', '.join(fns)}" for e, fns in affected[:LIST_LIMIT]]
    if len(affected) > LIST_LIMIT:
        hit.append(f"and {len(affected) - LIST_LIMIT} more elements")
    if hit:
        contain.append("Clinical functions affected: " + "; ".join(hit)
                       + ". Switch to the clinical fallback before isolating.")
    eradicate = [
        f"Preserve evidence from {me} (logs, memory, storage images) before rebuilding it.",
        f"Rebuild {me} from a known-good, signed image; rotate the credentials and keys it "
        "holds or receives.",
        f"Before reconnecting, check the elements that sent it data for the same compromise: "
        f"{_names(labels, sorted({f.source for f in model.flows if f.id in in_flows}))}.",
    ]
    steps = [" + ".join(_label(labels, m) for m in step) for step in recovery]
    recover = [f"{i}. {s}" for i, s in enumerate(steps, 1)]
    recover.append(f"Verify its clinical functions ({', '.join(f.value for f in comp.functions)})"
                   " and alarms end to end before returning to clinical use." if comp.functions
                   else "Verify data integrity end to end before reconnecting consumers.")
    practise = [
        f"Exercise this playbook at least once a year (tabletop or technical drill) for "
        f"{me}, record the date and lessons learned, and update the model and the playbook.",
    ]
    return Playbook(
        cid, comp.name, reasons, zone, tuple(sorted(f.value for f in comp.functions)),
        tuple(lost), tuple(sorted(starved)), tuple(sorted(downstream)), affected,
        tuple(sorted(own)), tuple(across), tuple(boundary_flows), tuple(sorted(reach)), cut,
        recovery, tuple(detect), tuple(contain), tuple(eradicate), tuple(recover),
        tuple(practise))


def playbook_markdown(playbooks: Sequence[Playbook], *, heading: int = 1) -> str:
    """The playbooks as Markdown (deterministic; user text escaped)."""
    h = "#" * heading
    lines = [f"{h} Incident response playbooks", "",
             "Derived from the threat model's flow graph: one skeleton per critical component. "
             "Complete each with contacts, tools and clinical fallback procedures.", ""]
    if not playbooks:
        lines += ["No critical components in the model.", ""]
    for pb in playbooks:
        title = f"{pb.name} ({pb.component})" if pb.name and pb.name != pb.component \
            else pb.component
        lines += [f"{h}# {markdown_cell(title)}", "",
                  f"Critical because: {', '.join(pb.reasons)}. Trust zone: "
                  f"{markdown_cell(pb.boundary or 'none')}.", ""]
        for section, items in (("Detect", pb.detect), ("Contain", pb.contain),
                               ("Eradicate", pb.eradicate), ("Recover", pb.recover),
                               ("Practise", pb.practise)):
            lines += [f"{h}## {section}", ""]
            for item in items:
                text = markdown_cell(item)
                lines.append(text if section == "Recover" and text[:1].isdigit()
                             else f"- {text}")
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
