"""Data-flow diagram of a model, as Graphviz DOT source and, where ``dot`` runs, as SVG.

Trust boundaries become nested clusters, processes rounded boxes, data stores cylinders,
external entities plain boxes. Flows without encryption are drawn dashed and red; elements are
shaded by how many specific findings they carry, so the eye goes where the threats are.
"""

from __future__ import annotations

import shutil
import warnings
from collections import Counter
from typing import TYPE_CHECKING

import graphviz

from ..catalog import Catalog, default_catalog
from ..model import Model

if TYPE_CHECKING:
    from ..engine import Analysis

__all__ = ["DotMissingWarning", "dfd_dot", "dfd_svg", "dot_available"]

_SHAPES = {"process": ("box", "rounded,filled"), "data_store": ("cylinder", "filled"),
           "external_entity": ("box", "filled")}
_HEAT = ("#ffffff", "#fff4d6", "#ffe0a3", "#ffc470", "#ff9f5a", "#f4714e")
_BOUNDARY_COLORS = {"untrusted": "#c0392b", "semi_trusted": "#d68910", "trusted": "#1e8449"}


class DotMissingWarning(UserWarning):
    """Graphviz's ``dot`` is not installed: diagrams are written as DOT source only."""


def dot_available() -> bool:
    """Whether Graphviz's ``dot`` program can be run."""
    return shutil.which("dot") is not None


def _label(*lines: str) -> str:
    return "\\n".join(graphviz.escape(line) for line in lines if line)


def dfd_dot(model: Model, analysis: Analysis | None = None, *,
            catalog: Catalog | None = None, highlight: str | None = None) -> str:
    """DOT source of the model's data-flow diagram (deterministic for the same input).

    With an ``analysis``, elements are shaded by their number of specific findings;
    ``highlight`` outlines one element or flow.
    """
    catalog = catalog or (analysis.catalog if analysis else default_catalog())
    counts: Counter[str] = Counter()
    if analysis is not None:
        counts.update(f.element_id for f in analysis.findings if not f.baseline)
    dot = graphviz.Digraph(name="dfd", graph_attr={
        "rankdir": "LR", "fontname": "Helvetica", "fontsize": "11", "compound": "true",
        "label": _label(f"{model.system.name} {model.system.version}".strip()),
        "labelloc": "t", "nodesep": "0.4", "ranksep": "0.8"})
    dot.attr("node", fontname="Helvetica", fontsize="10")
    dot.attr("edge", fontname="Helvetica", fontsize="8")
    children: dict[str | None, list[str]] = {}
    ids = {b.id for b in model.boundaries}
    for b in model.boundaries:
        children.setdefault(b.parent if b.parent in ids else None, []).append(b.id)
    members: dict[str | None, list[tuple[str, str, str, str]]] = {}
    for c in model.components:
        ctype = catalog.component_types.get(c.type)
        kind = ctype.element if ctype else "process"
        label = _label(c.name or c.id, f"«{ctype.name if ctype else c.type}»")
        if c.out_of_scope:
            kind, label = "out_of_scope", _label(c.name or c.id, "(out of scope)")
        members.setdefault(c.boundary if c.boundary in ids else None, []).append(
            (c.id, label, kind, c.id))
    for a in model.actors:
        members.setdefault(a.boundary if a.boundary in ids else None, []).append(
            (a.id, _label(a.name or a.id, f"«{a.role.value.replace('_', ' ')}»"),
             "external_entity", a.id))
    boundaries = {b.id: b for b in model.boundaries}

    def add_nodes(graph: graphviz.Digraph, scope: str | None) -> None:
        for node_id, label, kind, _ in members.get(scope, []):
            if kind == "out_of_scope":
                graph.node(node_id, label=label, shape="box", style="dashed", color="grey50",
                           fontcolor="grey40")
                continue
            shape, style = _SHAPES[kind]
            n = counts.get(node_id, 0)
            fill = _HEAT[min(n, len(_HEAT) - 1)]
            extra = {"penwidth": "3", "color": "#1f6feb"} if node_id == highlight else {}
            if n:
                label = label + "\\n" + graphviz.escape(f"{n} finding{'s' if n != 1 else ''}")
            graph.node(node_id, label=label, shape=shape, style=style, fillcolor=fill, **extra)
        for child in children.get(scope, []):
            b = boundaries[child]
            trust = b.effective_trust.value
            with graph.subgraph(name=f"cluster_{child}") as sub:
                sub.attr(label=_label(b.name or b.id, f"{b.kind.value} · {trust}"),
                         style="dashed,rounded", color=_BOUNDARY_COLORS[trust],
                         fontcolor=_BOUNDARY_COLORS[trust], fontsize="10")
                add_nodes(sub, child)

    add_nodes(dot, None)
    for f in model.flows:
        proto = catalog.protocols.get(f.protocol)
        encrypted = (f.encryption.value != "none" if f.encryption is not None
                     else bool(proto and proto.encrypted))
        attrs = {"label": _label(f.name or "", f.protocol), "color": "#555555"}
        if not encrypted:
            attrs.update(style="dashed", color="#c0392b", fontcolor="#c0392b")
        if f.out_of_scope:
            attrs.update(style="dotted", color="grey60")
        if f.bidirectional:
            attrs["dir"] = "both"
        if f.id == highlight:
            attrs.update(penwidth="3", color="#1f6feb")
        n = counts.get(f.id, 0)
        if n:
            attrs["label"] += "\\n" + graphviz.escape(f"{n} finding{'s' if n != 1 else ''}")
        dot.edge(f.source, f.target, **attrs)
    return dot.source


def dfd_svg(dot_source: str) -> str | None:
    """Render DOT source to SVG text, or None (with one warning) when ``dot`` is missing."""
    if not dot_available():
        warnings.warn("Graphviz 'dot' not found: the diagram is written as DOT source only; "
                      "install Graphviz (e.g. apt-get install graphviz) for SVG",
                      DotMissingWarning, stacklevel=2)
        return None
    return graphviz.Source(dot_source).pipe(format="svg", encoding="utf-8")
