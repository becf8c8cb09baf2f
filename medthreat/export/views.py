"""Architecture views of a model as Graphviz diagrams: the data-flow diagram and FDA's four
security architecture views (global system, multi-patient harm, updatability/patchability, one
security use case per clinical function).

:func:`architecture_views` builds them from a risk register, :func:`write_views` writes each as
``views/<id>.dot`` and, where Graphviz's ``dot`` runs, ``.svg`` and ``.png``. Every view is
drawn by the machinery of :mod:`medthreat.export.diagram`: trust boundaries as nested clusters,
and a view with more than ``max_nodes`` elements collapsed to one node per trust boundary with
aggregated flows and a note on the picture (``full=True`` draws everything).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .._runtime import gc_paused
from .._yaml import atomic_write
from ..graph import (
    UPDATE_DATA,
    UPDATE_PROTOCOLS,
    blast_radius,
    patient_devices,
    reachable,
    update_paths,
)
from ..model import ClinicalFunction, Component, DataKind, Flow
from .diagram import (
    DEFAULT_MAX_NODES,
    FULL_HINT,
    DotMissingWarning,
    _Ctx,
    _dfd_scene,
    _Html,
    _html_table,
    _plural,
    _Scene,
    _short,
    dot_available,
    render,
)

if TYPE_CHECKING:
    from ..risk import RiskRegister

__all__ = ["View", "architecture_views", "write_views"]


@dataclass(frozen=True)
class View:
    """One diagram: a stable ``id`` (also its file name), a title, a paragraph saying what the
    view shows and how to read it, its DOT source, and whether a large model was collapsed to
    one node per trust boundary."""

    id: str
    title: str
    description: str
    dot: str
    collapsed: bool = False
    #: Number of elements (components and actors) the view shows before any collapse.
    elements: int = 0


#: Fill colours of component categories in the global system view.
CATEGORY_COLOURS = {
    "device": "#90caf9", "app": "#d1c4e9", "hospital": "#ffe0b2", "cloud": "#b2dfdb",
    "ai": "#f8bbd0", "external": "#e0e0e0", "actor": "#ffffff", "unknown": "#f5f5f5",
}
#: Blast-radius classes of the multi-patient view: (lowest count, colour, legend text).
BLAST_CLASSES = (
    (100, "#4a148c", "reaches 100 or more patient devices"),
    (10, "#7b1fa2", "reaches 10 to 99 patient devices"),
    (3, "#ba68c8", "reaches 3 to 9 patient devices"),
    (2, "#e1bee7", "reaches 2 patient devices"),
)
#: Data kinds that change what a clinical function does: followed upstream in use case views.
BEHAVIOUR_DATA = frozenset({
    DataKind.therapy_command, DataKind.configuration, DataKind.credentials, DataKind.firmware,
    DataKind.model_weights, DataKind.training_data, DataKind.other,
})
_PATH = "#6a1b9a"
_UPDATE = "#1565c0"
_ROLE_COLOURS = {"origin": "#c5cae9", "signing": "#c8e6c9", "server": "#b3e5fc",
                 "relay": "#eeeeee", "device": "#ffe0b2", "feeder": "#f5f5f5"}
_COLLAPSE_SENTENCE = (
    " The model is large, so this view is collapsed: each box stands for the elements of one "
    "trust boundary (with their count and worst residual risk) and each arrow for all flows "
    "between two boundaries (with their count and protocols); " + FULL_HINT + " draws every "
    "element.")


def architecture_views(register: RiskRegister, *, full: bool = False,
                       max_nodes: int = DEFAULT_MAX_NODES) -> list[View]:
    """The data-flow diagram and FDA's security architecture views of the register's model.

    In this order: ``dfd``, ``global``, ``multi_patient``, ``updatability``, then one
    ``use_case_<function>`` per clinical function performed by an in-scope component (in the
    order of :class:`~medthreat.model.ClinicalFunction`). A view showing more than
    ``max_nodes`` elements is collapsed to one node per trust boundary unless ``full``.
    Deterministic: the same register gives the same DOT text.
    """
    analysis = register.analysis
    with gc_paused():
        ctx = _Ctx(analysis.model, analysis.catalog, analysis, register)
    builders = [
        ("dfd", "Data-flow diagram", _dfd_description, lambda: _dfd_scene(ctx)),
        ("global", "Global system view", _global_description, lambda: _global_scene(ctx)),
        ("multi_patient", "Multi-patient harm view", _multi_description,
         lambda: _multi_patient_scene(ctx)),
        ("updatability", "Updatability and patchability view", _update_description,
         lambda: _update_scene(ctx)),
    ]
    present = {f for c in ctx.model.components if not c.out_of_scope for f in c.functions}
    for function in ClinicalFunction:
        if function in present:
            words = function.value.replace("_", " ")
            builders.append((f"use_case_{function.value}", f"Security use case: {words}",
                             _use_case_description(function),
                             _scene_of_use_case(ctx, function)))
    views = []
    with gc_paused():
        for view_id, title, description, build in builders:
            scene = build()
            scene.name, scene.title = view_id, title
            dot, collapsed = ctx.to_dot(scene, full=full, max_nodes=max_nodes)
            text = description + (_COLLAPSE_SENTENCE if collapsed else "")
            views.append(View(view_id, title, text, dot, collapsed, len(scene.nodes)))
    return views


def write_views(views: Iterable[View], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write each view as ``<out_dir>/views/<id>.dot`` and, where Graphviz's ``dot`` runs,
    ``<id>.svg`` and ``<id>.png``; return the paths written.

    Without ``dot`` only the DOT sources are written, with one :class:`DotMissingWarning` for
    the whole call.
    """
    folder = Path(out_dir) / "views"
    views = list(views)
    written: list[Path] = []
    for view in views:
        path = folder / f"{view.id}.dot"
        atomic_write(path, view.dot)
        written.append(path)
    if not dot_available():
        warnings.warn("Graphviz 'dot' not found: the architecture views are written as DOT "
                      "source only; install Graphviz (e.g. apt-get install graphviz) for SVG "
                      "and PNG", DotMissingWarning, stacklevel=2)
        return written
    jobs = [(view, fmt) for view in views for fmt in ("svg", "png")]
    workers = max(1, min(4, os.cpu_count() or 1, len(jobs)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        images = list(pool.map(lambda job: render(job[0].dot, job[1]), jobs))
    for (view, fmt), data in zip(jobs, images, strict=True):
        if data is None:  # dot vanished while rendering
            continue
        path = folder / f"{view.id}.{fmt}"
        atomic_write(path, data)
        written.append(path)
    return written


# -- descriptions ------------------------------------------------------------------------------

_BOUNDARIES = ("Dashed rounded frames are trust boundaries, nested as in the model and coloured "
               "by trust (red untrusted, amber semi-trusted, green trusted).")
_dfd_description = (
    "Every component, person and data flow of the model inside its trust boundaries. Rounded "
    "boxes are processes, cylinders data stores, plain boxes external entities and people; "
    "dashed grey boxes are out of scope. Each element is filled with the colour of the highest "
    "residual risk (after the implemented and verified controls) among its findings, on the "
    "risk levels of the policy shown in the legend, and states how many findings it has. Each "
    "arrow is a flow labelled with its name, protocol and the data assets it carries; its colour "
    "is the highest residual risk of the flow's findings and it is dashed when the flow is not "
    "encrypted. " + _BOUNDARIES)
_global_description = (
    "The whole system and everything it connects to: devices, apps, hospital systems, the "
    "manufacturer's cloud, remote service and the update infrastructure, third-party and "
    "out-of-scope systems, and the people who use them, each in its trust boundary. Boxes are "
    "filled by the kind of component (legend). Each component lists its physical and radio "
    "interfaces (ports; 'internal' when reachable only with the enclosure opened) and its "
    "security-relevant roles such as internet-facing, remote service, update server, code "
    "signing or build. Arrows are the external and internal connections, labelled with their "
    "protocol; dashed arrows are unencrypted, dotted ones out of scope. " + _BOUNDARIES)
_multi_description = (
    "Where one compromise can harm several patients at once. Every element whose compromise "
    "reaches two or more patient-facing devices along the modeled flows is filled by how many "
    "it reaches (its multi-patient blast radius, legend) and labelled with the count; patient "
    "devices have a double outline. The purple arrows are the paths from these elements to the "
    "patient devices: a compromised element can send what it sends, so harm travels along "
    "them. Grey elements and arrows reach at most one patient device and are shown only for "
    "context. " + _BOUNDARIES)
_update_description = (
    "How software, firmware and model updates travel from where they are built and signed to "
    "each device that receives them. Blue arrows are the hops of the update paths, from each "
    "origin (a build, signing or update-server component with no other such component upstream) "
    "through every intermediate system to the device, labelled with the protocol, whether the "
    "hop is authenticated and encrypted, and the controls applied to it (such as signed "
    "firmware). Boxes name their role on the path and list the controls applied to them with "
    "their status; the table lists every control on the path. Grey elements feed the release "
    "(for example model weights entering the firmware build). Devices with a red outline "
    "receive no update along the modeled flows, or can be reached by an update path that "
    "bypasses code signing. " + _BOUNDARIES)


def _use_case_description(function: ClinicalFunction) -> str:
    words = function.value.replace("_", " ")
    return (
        f"The security use case of the clinical function '{words}': the components that "
        "perform it (thick outline) and everything upstream that feeds them. Every flow into a "
        "performing component is shown; further upstream only flows that change its behaviour "
        "are followed (commands, configuration, credentials, firmware, model weights, training "
        "data, code and packages), so the picture shows who can make the function do something "
        "else. Elements are filled with their highest residual risk (legend) and list the "
        "controls applied to them; the tables list the data assets involved and the controls "
        "applied, with their status. " + _BOUNDARIES)


# -- scenes ------------------------------------------------------------------------------------


def _role_words(ctx: _Ctx, c: Component) -> list[str]:
    roles = []
    for attr, word in (("internet_facing", "internet-facing"), ("remote_service",
                       "remote service"), ("is_update_server", "update server"),
                       ("holds_signing_keys", "holds signing keys"),
                       ("builds_software", "builds software")):
        if ctx.attr(c, attr):
            roles.append(word)
    return roles


def _interfaces(c: Component) -> str:
    parts = [i.kind.value + ("" if i.exposed else " (internal)") for i in c.interfaces]
    return "ports: " + ", ".join(parts) if parts else ""


def _global_scene(ctx: _Ctx) -> _Scene:
    scene = _Scene("global", "Global system view")
    used: dict[str, str] = {}
    for c in ctx.model.components:
        extra = [_interfaces(c)]
        roles = _role_words(ctx, c)
        if roles:
            extra.append(", ".join(roles))
        node = scene.add(ctx.node(c.id, *[x for x in extra if x], risk=False))
        if not c.out_of_scope:
            category = ctx.category(c)
            node.fill = CATEGORY_COLOURS.get(category, CATEGORY_COLOURS["unknown"])
            used[category] = node.fill
            node.tags = (category, *roles)
    for a in ctx.model.actors:
        scene.add(ctx.node(a.id, risk=False))
        used["actor"] = CATEGORY_COLOURS["actor"]
    for f in ctx.model.flows:
        if f.source in scene.nodes and f.target in scene.nodes:
            scene.edges.append(ctx.edge(f, ctx.flow_lines(f, name=False, data=False),
                                        risk=False))
    names = {"actor": "person (actor)", "app": "app", "ai": "AI / machine learning",
             "external": "external or third-party system"}
    scene.legend = [(colour, names.get(cat, cat)) for cat, colour in
                    sorted(used.items(), key=lambda kv: list(CATEGORY_COLOURS).index(kv[0])
                           if kv[0] in CATEGORY_COLOURS else 99)]
    scene.legend_title = "Kind of component"
    scene.legend_notes = ["dashed flow: not encrypted", "dotted, grey: out of scope",
                          "ports: interfaces; internal = enclosure must be opened"]
    return scene


def _blast_class(count: int) -> tuple[str, str] | None:
    for lowest, colour, text in BLAST_CLASSES:
        if count >= lowest:
            return colour, text
    return None


def _multi_patient_scene(ctx: _Ctx) -> _Scene:
    scene = _Scene("multi_patient", "Multi-patient harm view")
    model, catalog = ctx.model, ctx.catalog
    radius = blast_radius(model, catalog)
    devices = patient_devices(model, catalog)
    succ, pred = _adjacency(ctx)
    multi = [e for e in radius if radius[e] >= 2]
    downstream = reachable(succ, multi)
    feeds_device = reachable(pred, [d for d in devices if d in pred])
    on_path = downstream & feeds_device
    used: dict[str, str] = {}
    for e in [*model.components, *model.actors]:
        if e.id not in succ:
            continue
        count = radius.get(e.id, 0)
        extra = [f"reaches {_plural(count, 'patient device')}"] if count >= 2 else []
        node = scene.add(ctx.node(e.id, *extra, risk=False))
        node.tags = ()
        if e.id in devices:
            node.peripheries, node.tags = 2, ("patient device",)
            node.lines.insert(2, "patient device")
        klass = _blast_class(count)
        if klass is not None:
            node.fill, node.emphasis = klass[0], True
            node.tags = (*node.tags, "multi-patient element")
            used[klass[1]] = klass[0]
        elif e.id in on_path:
            node.fill = "#ffffff"
        else:
            node.dim = True
    for f in model.flows:
        if f.out_of_scope or f.source not in scene.nodes or f.target not in scene.nodes:
            continue
        e = ctx.edge(f, ctx.flow_lines(f, name=False, data=False), risk=False)
        ends = [(f.source, f.target)] + ([(f.target, f.source)] if f.bidirectional else [])
        if any(u in downstream and v in feeds_device for u, v in ends):
            e.color, e.emphasis = _PATH, True
            e.penwidth = "3" if f.target in devices or (
                f.bidirectional and f.source in devices) else "2"
        else:
            e.dim = True
        scene.edges.append(e)
    scene.legend = [(colour, text) for _, colour, text in BLAST_CLASSES if text in used]
    scene.legend += [("#ffffff", "on a path to patient devices"),
                     ("#f6f6f6", "reaches at most one patient device (context)")]
    scene.legend_title = "Multi-patient blast radius"
    scene.legend_notes = ["double outline: patient device",
                          "purple arrow: on a path to patient devices",
                          "thick purple arrow: into a patient device"]
    if not multi:
        scene.notes.append("No element reaches more than one patient device.")
    return scene


def _controls_panel(ctx: _Ctx, title: str, targets: Iterable[str]) -> _Html | None:
    """Table of the applied controls on ``targets`` (and system-wide ones)."""
    names = {**{c.id: c.name or c.id for c in ctx.model.components},
             **{a.id: a.name or a.id for a in ctx.model.actors},
             **{f.id: f.name or f.id for f in ctx.model.flows}}
    wanted = list(dict.fromkeys(targets))
    rows: list[tuple[str, str]] = []
    for applied in ctx.model.controls:
        on = [t for t in applied.targets if t in wanted]
        if applied.targets and not on:
            continue
        control = ctx.catalog.controls.get(applied.control)
        what = _short(control.title, 44) if control else ""
        where = ", ".join(_short(names.get(t, t), 28) for t in on[:3]) if on else "whole system"
        if len(on) > 3:
            where += f" +{len(on) - 3} more"
        colour = {"verified": "#2e7d32", "implemented": "#81c784", "planned": "#ffffff"}[
            applied.status.value]
        rows.append((colour, f"{applied.control} ({applied.status.value}): {what} - on {where}"))
    if not rows:
        return None
    return _html_table(title, rows, extra=["green: verified; light green: implemented; "
                                           "white: planned (not counted in residual risk)"])


def _update_scene(ctx: _Ctx) -> _Scene:
    scene = _Scene("updatability", "Updatability and patchability view")
    model, catalog = ctx.model, ctx.catalog
    paths = update_paths(model, catalog)
    on_path: dict[str, None] = {}
    path_flows: dict[str, None] = {}
    origins = {p.origin for p in paths}
    bypass = {p.device for p in paths if p.bypasses_signing}
    for p in paths:
        on_path.update(dict.fromkeys(p.path))
        path_flows.update(dict.fromkeys(p.flows))
    updated = {p.device for p in paths}
    devices = [c for c in model.components
               if not c.out_of_scope and (ctype := catalog.component_types.get(c.type))
               and ctype.category.value == "device"]
    _, update_pred = _adjacency(ctx, lambda f: _carries_updates(f, ctx))
    feeders = [n for n in reachable(update_pred, origins) if n not in on_path]
    order = {e.id: i for i, e in enumerate([*model.components, *model.actors])}
    for eid in sorted(on_path, key=lambda n: order.get(n, -1)):
        c = ctx.components.get(eid)
        roles = _role_words(ctx, c) if c is not None else []
        roles = [r for r in roles if r not in ("internet-facing", "remote service")]
        if eid in origins:
            roles.insert(0, "origin of updates")
        if eid in updated:
            roles.append("receives updates")
        node = scene.add(ctx.node(eid, *roles, *ctx.controls_text(eid), risk=False))
        role = ("origin" if eid in origins else "signing" if "holds signing keys" in roles
                else "server" if "update server" in roles else "device" if eid in updated
                else "relay")
        node.fill, node.emphasis, node.tags = _ROLE_COLOURS[role], True, (role,)
        if eid in bypass:
            node.color, node.penwidth = "#c62828", "3"
            node.lines.append("an update path bypasses code signing")
    for eid in sorted(feeders, key=lambda n: order.get(n, -1)):
        node = scene.add(ctx.node(eid, "feeds the release", risk=False))
        node.dim, node.tags = True, ("feeds the release",)
    for c in devices:
        if c.id not in scene.nodes:
            node = scene.add(ctx.node(c.id, "no update path modeled", risk=False))
            node.color, node.penwidth, node.tags = "#c62828", "3", ("no update path",)
    for f in model.flows:
        if f.out_of_scope or f.source not in scene.nodes or f.target not in scene.nodes:
            continue
        if f.id in path_flows:
            lines = [f"[{f.protocol}]", *ctx.data_names(f.data, limit=1),
                     ("authenticated" if ctx.authenticated(f) else "NOT authenticated") + ", "
                     + ("encrypted" if ctx.encrypted(f) else "NOT encrypted"),
                     *ctx.controls_text(f.id)]
            e = ctx.edge(f, lines, risk=False)
            e.color, e.penwidth, e.emphasis = _UPDATE, "2.5", True
            scene.edges.append(e)
        elif (f.target in on_path and (f.source in feeders or f.source in on_path)
              and _carries_updates(f, ctx)):
            e = ctx.edge(f, [f"[{f.protocol}]", *ctx.data_names(f.data, limit=1)], risk=False)
            e.dim = True
            scene.edges.append(e)
        elif f.source in feeders and f.target in feeders:
            e = ctx.edge(f, [f"[{f.protocol}]"], risk=False)
            e.dim = True
            scene.edges.append(e)
    scene.legend = [(_ROLE_COLOURS["origin"], "origin: build or release stage"),
                    (_ROLE_COLOURS["signing"], "holds the code-signing keys"),
                    (_ROLE_COLOURS["server"], "update server"),
                    (_ROLE_COLOURS["relay"], "relays updates"),
                    (_ROLE_COLOURS["device"], "device receiving updates"),
                    (_ROLE_COLOURS["feeder"], "feeds the release (context)")]
    scene.legend_title = "Role on the update path"
    scene.legend_notes = ["blue arrow: hop of an update path",
                          "red outline: no update path, or signing bypassed",
                          "dashed: not encrypted"]
    panel = _controls_panel(ctx, "Controls applied on the update path",
                            [*on_path, *path_flows])
    if panel is not None:
        scene.panels.append(panel)
    if not paths:
        scene.notes.append("No update path is modeled: no flow carries firmware or model "
                           "weights from a build, signing or update server to a device.")
    return scene


def _adjacency(ctx: _Ctx, keep: Callable[[Flow], bool] | None = None
               ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Successors and predecessors of the in-scope elements over the in-scope flows (those
    ``keep`` accepts), as :func:`medthreat.graph.flow_graph` sees them."""
    succ: dict[str, list[str]] = {c.id: [] for c in ctx.model.components if not c.out_of_scope}
    succ.update((a.id, []) for a in ctx.model.actors)
    pred: dict[str, list[str]] = {n: [] for n in succ}
    for f in ctx.model.flows:
        if f.out_of_scope or f.source not in succ or f.target not in succ:
            continue
        if keep is not None and not keep(f):
            continue
        succ[f.source].append(f.target)
        pred[f.target].append(f.source)
        if f.bidirectional:
            succ[f.target].append(f.source)
            pred[f.source].append(f.target)
    return succ, pred


def _carries_updates(f: Flow, ctx: _Ctx) -> bool:
    """Whether a flow is part of the update graph (as :func:`medthreat.graph.update_paths`
    defines it)."""
    return f.protocol in UPDATE_PROTOCOLS or any(
        d in ctx.assets and ctx.assets[d].kind in UPDATE_DATA for d in f.data)


def _behaviour(f: Flow, ctx: _Ctx) -> bool:
    return f.protocol in UPDATE_PROTOCOLS or any(
        d in ctx.assets and ctx.assets[d].kind in BEHAVIOUR_DATA for d in f.data)


def _scene_of_use_case(ctx: _Ctx, function: ClinicalFunction) -> Callable[[], _Scene]:
    return lambda: _use_case_scene(ctx, function)


def _use_case_scene(ctx: _Ctx, function: ClinicalFunction) -> _Scene:
    model = ctx.model
    scene = _Scene(f"use_case_{function.value}", "Security use case")
    performers = [c.id for c in model.components if not c.out_of_scope and function in c.functions]
    elements = {e.id for e in [*model.components, *model.actors]
                if not getattr(e, "out_of_scope", False)}
    into: dict[str, list[Flow]] = {}
    for f in model.flows:
        if f.out_of_scope or f.source not in elements or f.target not in elements:
            continue
        into.setdefault(f.target, []).append(f)
        if f.bidirectional:
            into.setdefault(f.source, []).append(f)
    included: dict[str, None] = dict.fromkeys(performers)
    flows: dict[str, Flow] = {}
    frontier = list(performers)
    performing = set(performers)
    while frontier:
        nxt = []
        for node in frontier:
            for f in into.get(node, []):
                if node not in performing and not _behaviour(f, ctx):
                    continue
                other = f.source if f.target == node else f.target
                flows[f.id] = f
                if other not in included:
                    included[other] = None
                    nxt.append(other)
        frontier = nxt
    order = {e.id: i for i, e in enumerate([*model.components, *model.actors])}
    words = function.value.replace("_", " ")
    for eid in sorted(included, key=lambda n: order.get(n, -1)):
        controls = ctx.controls_text(eid)
        extra = [f"performs {words}"] if eid in performing else []
        if controls:
            extra.append(_plural(len(controls), "control"))
        node = scene.add(ctx.node(eid, *extra))
        if eid in performing:
            node.penwidth, node.color, node.emphasis = "4", "#0d47a1", True
            node.tags = ("performs " + words,)
    for f in model.flows:
        if f.id in flows:
            e = ctx.edge(f, ctx.flow_lines(f, name=False))
            scene.edges.append(e)
    scene.legend = ctx.risk_legend()
    scene.legend_title = "Highest residual risk of the findings"
    scene.legend_notes = ["thick blue outline: performs " + words, "dashed flow: not encrypted"]
    assets: dict[str, None] = {}
    for eid in performers:
        c = ctx.components[eid]
        assets.update(dict.fromkeys([*c.stores, *c.processes]))
    for f in flows.values():
        assets.update(dict.fromkeys(f.data))
    rows = []
    for d in assets:
        asset = ctx.assets.get(d)
        if asset is None:
            continue
        cia = (f"C {asset.confidentiality.value}, I {asset.integrity.value}, "
               f"A {asset.availability.value}")
        rows.append(("", f"{_short(asset.name or asset.id, 44)} ({asset.kind.value}; {cia})"))
    if rows:
        scene.panels.append(_html_table("Data assets involved", rows))
    panel = _controls_panel(ctx, "Controls applied", [*included, *flows])
    if panel is not None:
        scene.panels.append(panel)
    return scene
