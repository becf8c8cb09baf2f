"""Data-flow diagram of a model, as Graphviz DOT source and, where ``dot`` runs, as SVG or PNG.

Trust boundaries become nested clusters, processes rounded boxes, data stores cylinders,
external entities plain boxes, out-of-scope elements dashed grey boxes. Flows are labelled with
their name, protocol and the data assets they carry; flows without encryption are drawn dashed.

With a risk register, elements and flows are filled with the colour of the highest residual
risk level among their findings (the risk levels and colours of the register's policy), and a
legend explains the colours. Without one, elements are shaded by how many specific findings
they carry, so the eye goes where the threats are.

A model with more than ``max_nodes`` elements is collapsed to one node per trust boundary (see
:func:`dfd_dot`); the architecture views of :mod:`medthreat.export.views` are drawn by the same
machinery.
"""

from __future__ import annotations

import html
import math
import re
import shutil
import subprocess
import textwrap
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from .._runtime import gc_paused
from ..catalog import Catalog, default_catalog
from ..model import AppliedControl, Component, Flow, Model, TrustBoundary
from ._text import printable

if TYPE_CHECKING:
    from ..engine import Analysis
    from ..risk import RiskLevel, RiskRegister

__all__ = [
    "DEFAULT_MAX_NODES",
    "DotMissingWarning",
    "dfd_dot",
    "dfd_svg",
    "dot_available",
    "render",
]

#: Above this many elements a diagram is collapsed to one node per trust boundary.
DEFAULT_MAX_NODES = 150
#: How to get the full diagram of a collapsed one (printed on the picture).
FULL_HINT = ("architecture_views(register, full=True), dfd_dot(..., full=True) or the CLI "
             "option --full-diagram")

_SHAPES = {"process": ("box", "rounded,filled"), "data_store": ("cylinder", "filled"),
           "external_entity": ("box", "filled")}
_HEAT = ("#ffffff", "#fff4d6", "#ffe0a3", "#ffc470", "#ff9f5a", "#f4714e")
_BOUNDARY_COLORS = {"untrusted": "#c0392b", "semi_trusted": "#d68910", "trusted": "#1e8449"}
_UNENCRYPTED = "#c0392b"
_EDGE = "#555555"
_DIM = "#b0b0b0"
_WRAP = 30
_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
_KEYWORDS = frozenset({"node", "edge", "graph", "digraph", "subgraph", "strict"})


class DotMissingWarning(UserWarning):
    """Graphviz's ``dot`` is not installed: diagrams are written as DOT source only."""


def dot_available() -> bool:
    """Whether Graphviz's ``dot`` program can be run."""
    return shutil.which("dot") is not None


# -- DOT text ----------------------------------------------------------------------------------


class _Esc(str):
    """Text already escaped for a quoted DOT string (may hold ``\\n`` line breaks)."""

    __slots__ = ()


class _Html(str):
    """An HTML-like DOT label (written between ``<`` and ``>``); built from escaped parts."""

    __slots__ = ()


def _esc(text: str) -> str:
    """Escape user text for a double-quoted DOT string: backslashes, quotes, line breaks."""
    return (str(text).replace("\\", "\\\\").replace('"', '\\"')
            .replace("\r\n", " ").replace("\n", " ").replace("\r", " "))


def _label(*lines: str) -> _Esc:
    """A multi-line label: each line escaped, joined with DOT's centred line break."""
    return _Esc("\\n".join(_esc(line) for line in lines if line))


def _id(text: str) -> str:
    """A DOT identifier: bare when it is a plain word, otherwise quoted and escaped."""
    if _BARE.fullmatch(text) and text.lower() not in _KEYWORDS:
        return text
    return f'"{_esc(text)}"'


def _value(value: str | int | float) -> str:
    if isinstance(value, _Html):
        return f"<{value}>"
    if isinstance(value, _Esc):
        return f'"{value}"'
    text = str(value)
    if _BARE.fullmatch(text) and text.lower() not in _KEYWORDS:
        return text
    return f'"{_esc(text)}"'


def _attrs(attrs: dict[str, str | int | float]) -> str:
    if not attrs:
        return ""
    return " [" + " ".join(f"{k}={_value(v)}" for k, v in attrs.items() if v != "") + "]"


def _wrap(text: str, width: int = _WRAP) -> list[str]:
    """Break a long phrase into lines of about ``width`` characters (deterministic)."""
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


def _font_on(colour: str) -> str:
    """Black or white text, whichever reads better on ``colour``."""
    r, g, b = (int(colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
    return "#ffffff" if 0.299 * r + 0.587 * g + 0.114 * b < 140 else "#000000"


def _html_lines(text: str, width: int) -> list[str]:
    return [html.escape(line) for line in _wrap(text, width)]


def _html_table(title: str, rows: Sequence[tuple[str, str]], *,
                extra: Sequence[str] = (), width: int = 60) -> _Html:
    """A legend table: a title, then one line per (swatch colour or "", text), then notes;
    long texts wrap at ``width`` characters. The lines share one top-aligned cell, so the
    table can be stretched beside a taller one without spreading its lines apart."""
    lines: list[str] = []
    for colour, text in rows:
        wrapped = _html_lines(text, width)
        if colour:
            pale = min(int(colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4)) > 0xe4
            glyph = "\u25a1" if pale else "\u25a0"
            shade = "#777777" if glyph == "\u25a1" else html.escape(colour)
            swatch = f'<FONT COLOR="{shade}" POINT-SIZE="16">{glyph}</FONT> '
        else:
            swatch = "- "
        lines.append(swatch + wrapped[0])
        lines += ["    " + w for w in wrapped[1:]]
    for text in extra:
        lines += _html_lines(text, width + 6)
    body = '<BR ALIGN="LEFT"/>'.join([f"<B>{html.escape(title)}</B>", *lines])
    return _Html('<TABLE BORDER="1" COLOR="#999999" CELLBORDER="0" CELLSPACING="0" '
                 f'CELLPADDING="5"><TR><TD ALIGN="LEFT" VALIGN="TOP" BALIGN="LEFT">{body}'
                 '<BR ALIGN="LEFT"/></TD></TR></TABLE>')


# -- scene: what a diagram draws, independent of collapse --------------------------------------


@dataclass
class _Node:
    """One element as a diagram draws it."""

    id: str
    lines: list[str]
    shape: str = "box"
    style: str = "filled"
    fill: str = "#ffffff"
    color: str = "#333333"
    fontcolor: str = ""
    penwidth: str = ""
    peripheries: int = 0
    tooltip: str = ""
    boundary: str | None = None
    #: Short words a collapsed group counts ("patient device", "device").
    tags: tuple[str, ...] = ()
    #: Worst residual risk of the element's findings (None without register or findings).
    level: RiskLevel | None = None
    emphasis: bool = False
    dim: bool = False

    def dot(self) -> str:
        attrs: dict[str, str | int | float] = {
            "label": _label(*self.lines), "shape": self.shape, "style": self.style,
            "fillcolor": self.fill, "color": self.color,
            "fontcolor": self.fontcolor or _font_on(self.fill)}
        if self.dim:
            attrs.update(fillcolor="#f6f6f6", color=_DIM, fontcolor="#8a8a8a")
        if self.penwidth:
            attrs["penwidth"] = self.penwidth
        if self.peripheries:
            attrs["peripheries"] = self.peripheries
        if self.tooltip:
            attrs["tooltip"] = self.tooltip
        return f"{_id(self.id)}{_attrs(attrs)}"


@dataclass
class _Edge:
    """One flow (or one direction of it) as a diagram draws it."""

    id: str
    source: str
    target: str
    #: Label lines, or a function giving them (labels of a collapsed view are never built).
    lines: list[str] | Callable[[], list[str]]
    protocol: str
    color: str = _EDGE
    style: str = ""
    penwidth: str = ""
    bidirectional: bool = False
    encrypted: bool = True
    level: RiskLevel | None = None
    emphasis: bool = False
    dim: bool = False
    tooltip: str = ""

    def dot(self) -> str:
        lines = self.lines() if callable(self.lines) else self.lines
        attrs: dict[str, str | int | float] = {
            "label": _label(*lines), "color": self.color,
            "fontcolor": "#333333" if not self.dim else "#9a9a9a"}
        if self.dim:
            attrs["color"] = _DIM
        if self.style:
            attrs["style"] = self.style
        if self.penwidth:
            attrs["penwidth"] = self.penwidth
        if self.bidirectional:
            attrs["dir"] = "both"
        attrs["tooltip"] = self.tooltip or self.id
        return f"{_id(self.source)} -> {_id(self.target)}{_attrs(attrs)}"


@dataclass
class _Scene:
    """Everything one diagram shows, before the choice between full and collapsed drawing."""

    name: str
    title: str
    nodes: dict[str, _Node] = field(default_factory=dict)
    edges: list[_Edge] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)
    legend_title: str = "Legend"
    legend_notes: list[str] = field(default_factory=list)
    #: Further HTML tables drawn beside the legend (controls, assets).
    panels: list[_Html] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rankdir: str = "TB"

    def add(self, node: _Node) -> _Node:
        self.nodes.setdefault(node.id, node)
        return self.nodes[node.id]


class _Ctx:
    """Lookups over one model (and its register) shared by every diagram of it."""

    def __init__(self, model: Model, catalog: Catalog, analysis: Analysis | None = None,
                 register: RiskRegister | None = None) -> None:
        self.model, self.catalog, self.register = model, catalog, register
        self.policy = register.policy if register is not None else None
        levels = self.policy.levels("risk") if self.policy is not None else []
        self.levels: list[RiskLevel] = list(levels)  # type: ignore[arg-type]
        self.boundaries: dict[str, TrustBoundary] = {b.id: b for b in model.boundaries}
        self.components = {c.id: c for c in model.components}
        self.actors = {a.id: a for a in model.actors}
        self.flows = {f.id: f for f in model.flows}
        self.assets = {d.id: d for d in model.data_assets}
        self.worst: dict[str, RiskLevel] = {}
        self.counts: Counter[str] = Counter()
        if register is not None:
            # One pass over what can be 100,000 assessments: plain dicts, ranks compared once.
            worst, ranks, counts = self.worst, {}, self.counts
            for a in register.assessments:
                eid, level = a.finding.subject.id, a.residual.level
                counts[eid] = counts.get(eid, 0) + 1
                rank = level.rank
                if rank > ranks.get(eid, 0):
                    ranks[eid], worst[eid] = rank, level
        elif analysis is not None:
            self.counts.update(f.element_id for f in analysis.findings if not f.baseline)
        self.controls_on: dict[str, list[AppliedControl]] = {}
        self.system_controls: list[AppliedControl] = []
        for ctl in model.controls:
            if not ctl.targets:
                self.system_controls.append(ctl)
            for t in dict.fromkeys(ctl.targets):
                self.controls_on.setdefault(t, []).append(ctl)
        self._chains: dict[str | None, tuple[str, ...]] = {}

    # -- model facts ---------------------------------------------------------------------------

    def chain(self, boundary: str | None) -> tuple[str, ...]:
        """Boundary ids from the outermost down to ``boundary`` (cycle-safe, cached)."""
        found = self._chains.get(boundary)
        if found is None:
            chain: list[str] = []
            current = boundary
            while current is not None and current in self.boundaries and current not in chain:
                chain.append(current)
                current = self.boundaries[current].parent
            found = self._chains[boundary] = tuple(reversed(chain))
        return found

    def boundary_of(self, element_id: str) -> str | None:
        e = self.components.get(element_id) or self.actors.get(element_id)
        return e.boundary if e is not None and e.boundary in self.boundaries else None

    def kind(self, c: Component) -> str:
        ctype = self.catalog.component_types.get(c.type)
        return ctype.element if ctype else "process"

    def category(self, c: Component) -> str:
        ctype = self.catalog.component_types.get(c.type)
        return ctype.category.value if ctype else "unknown"

    def type_name(self, c: Component) -> str:
        ctype = self.catalog.component_types.get(c.type)
        return ctype.name if ctype else c.type

    def attr(self, c: Component, name: str, fallback: object = False) -> object:
        """Effective attribute: the component's value, its type's, the catalog default."""
        if name in c.attributes:
            return c.attributes[name]
        ctype = self.catalog.component_types.get(c.type)
        if ctype is not None and name in ctype.attributes:
            return ctype.attributes[name]
        spec = self.catalog.attributes.get(name)
        return spec.default if spec is not None else fallback

    def encrypted(self, f: Flow) -> bool:
        if f.encryption is not None:
            return f.encryption.value != "none"
        proto = self.catalog.protocols.get(f.protocol)
        return bool(proto and proto.encrypted)

    def authenticated(self, f: Flow) -> bool:
        if f.authentication is not None:
            return f.authentication.value != "none"
        proto = self.catalog.protocols.get(f.protocol)
        return bool(proto and proto.authenticated)

    def data_names(self, ids: Iterable[str], limit: int = 2, width: int = 30) -> list[str]:
        """Names of data assets, shortened: at most ``limit`` names, then "+N more"."""
        names = [(self.assets[d].name or d) if d in self.assets else d for d in dict.fromkeys(ids)]
        shown = [_short(n, width) for n in names[:limit]]
        if len(names) > limit:
            shown.append(f"+{len(names) - limit} more")
        return shown

    def controls_text(self, target: str) -> list[str]:
        return [f"{c.control} ({c.status.value})" for c in self.controls_on.get(target, [])]

    # -- risk ----------------------------------------------------------------------------------

    def risk_line(self, element_id: str) -> str:
        n = self.counts.get(element_id, 0)
        if not n:
            return ""
        level = self.worst.get(element_id)
        if level is None:
            return _plural(n, "finding")
        return f"{_plural(n, 'finding')}, worst residual {level.name}"

    def risk_fill(self, element_id: str) -> str:
        level = self.worst.get(element_id)
        if self.register is not None:
            return level.colour if level is not None else "#ffffff"
        return _HEAT[min(self.counts.get(element_id, 0), len(_HEAT) - 1)]

    def risk_legend(self) -> list[tuple[str, str]]:
        """Swatches of the policy's risk levels, lowest first, then "no findings"."""
        rows = [(lv.colour, f"residual risk {lv.name}") for lv in self.levels]
        return [*rows, ("#ffffff", "no findings")]

    # -- base drawing of elements and flows ----------------------------------------------------

    def node(self, element_id: str, *extra: str, risk: bool = True) -> _Node:
        """The DFD drawing of a component or actor: shape by kind, name and type, risk fill."""
        c = self.components.get(element_id)
        if c is not None:
            label = [c.name or c.id, f"«{self.type_name(c)}»"]
            if c.out_of_scope:
                return _Node(c.id, [c.name or c.id, "(out of scope)", *extra], shape="box",
                             style="dashed", color="grey50", fontcolor="grey40",
                             boundary=self.boundary_of(c.id), tags=("out of scope",),
                             tooltip=c.out_of_scope_reason)
            shape, style = _SHAPES[self.kind(c)]
            tags: tuple[str, ...] = (self.category(c),)
        else:
            a = self.actors[element_id]
            label = [a.name or a.id, f"«{a.role.value.replace('_', ' ')}»"]
            shape, style = _SHAPES["external_entity"]
            tags = ("actor",)
        lines = [*label, *extra]
        if risk:
            lines.append(self.risk_line(element_id))
        return _Node(element_id, lines, shape=shape, style=style,
                     fill=self.risk_fill(element_id) if risk else "#ffffff",
                     boundary=self.boundary_of(element_id), tags=tags,
                     level=self.worst.get(element_id))

    def edge(self, f: Flow, lines: list[str] | Callable[[], list[str]], *,
             risk: bool = True) -> _Edge:
        """A flow with DFD styling: dashed when unencrypted, dotted when out of scope."""
        encrypted = self.encrypted(f)
        level = self.worst.get(f.id)
        e = _Edge(f.id, f.source, f.target, lines, f.protocol, bidirectional=f.bidirectional,
                  encrypted=encrypted, level=level)
        if risk and self.register is not None and level is not None:
            e.color = level.colour
            e.penwidth = str(1 + level.rank * 0.5)
        elif not encrypted:
            e.color = _UNENCRYPTED
        if not encrypted:
            e.style = "dashed"
        if f.out_of_scope:
            e.style, e.color = "dotted", "grey60"
        return e

    def flow_lines(self, f: Flow, *, name: bool = True, data: bool = True,
                   count: bool = False) -> list[str]:
        """Edge label: the flow's name, ``[protocol]``, the data assets it carries."""
        lines = _wrap(f.name, 34) if (name and f.name) else []
        lines.append(f"[{f.protocol}]")
        if data and f.data:
            lines += self.data_names(f.data)
        if count and (n := self.counts.get(f.id, 0)):
            lines.append(_plural(n, "finding"))
        return lines

    # -- output --------------------------------------------------------------------------------

    def to_dot(self, scene: _Scene, *, full: bool, max_nodes: int) -> tuple[str, bool]:
        """DOT text of a scene: every element, or one node per trust boundary when the scene
        has more than ``max_nodes`` nodes and ``full`` is false. Returns (dot, collapsed)."""
        # Control characters from model text would stop Graphviz's parser: shown as U+FFFD.
        if not full and len(scene.nodes) > max_nodes:
            return printable(self._collapsed(scene, max_nodes)), True
        return printable(self._full(scene)), False

    def _header(self, scene: _Scene, notes: Sequence[str]) -> list[str]:
        """Graph opening: the title, notes and legend tables form the graph's label (above
        the drawing, so they never disturb the layout)."""
        system = self.model.system
        head = [f'<FONT POINT-SIZE="18"><B>{html.escape(scene.title)}</B></FONT>',
                html.escape(f"{system.name} {system.version}".strip())]
        head += [f'<FONT COLOR="#b71c1c"><B>{html.escape(line)}</B></FONT>' for line in notes]
        rows = [f'<TR><TD ALIGN="LEFT" BALIGN="LEFT">{"<BR/>".join(head)}</TD></TR>']
        tables = []
        if scene.legend or scene.legend_notes:
            tables.append(_html_table(scene.legend_title, scene.legend,
                                      extra=scene.legend_notes))
        tables += scene.panels
        if tables:
            cells = "".join(f'<TD VALIGN="TOP">{t}</TD>' for t in tables)
            rows.append(f'<TR><TD ALIGN="LEFT"><TABLE BORDER="0" CELLSPACING="8">'
                        f"<TR>{cells}</TR></TABLE></TD></TR>")
        label = _Html(f'<TABLE BORDER="0" CELLSPACING="2">{"".join(rows)}</TABLE>')
        graph = {"rankdir": scene.rankdir, "fontname": "Helvetica", "fontsize": "11",
                 "compound": "true", "label": label, "labelloc": "t", "labeljust": "l",
                 "nodesep": "0.35", "ranksep": "0.7", "pad": "0.3", "tooltip": scene.title}
        return [f"digraph {_id(scene.name)} {{",
                f"\tgraph{_attrs(graph)}",
                '\tnode [fontname=Helvetica fontsize=10 margin="0.12,0.06"]',
                "\tedge [fontname=Helvetica fontsize=8 arrowsize=0.7]"]

    def _cluster_attrs(self, b: TrustBoundary) -> dict[str, str | int | float]:
        trust = b.effective_trust.value
        return {"label": _label(b.name or b.id, f"{b.kind.value} · {trust}"),
                "style": "dashed,rounded", "color": _BOUNDARY_COLORS[trust],
                "fontcolor": _BOUNDARY_COLORS[trust], "fontsize": "11",
                "tooltip": f"trust boundary {b.id}"}

    def _full(self, scene: _Scene) -> str:
        out = self._header(scene, scene.notes)
        members: dict[str | None, list[_Node]] = {}
        used: set[str] = set()
        for node in scene.nodes.values():
            members.setdefault(node.boundary, []).append(node)
            used.update(self.chain(node.boundary))
        children: dict[str | None, list[str]] = {}
        for b in self.model.boundaries:
            if b.id in used:
                chain = self.chain(b.id)
                children.setdefault(chain[-2] if len(chain) > 1 else None, []).append(b.id)

        def emit(scope: str | None, depth: int) -> None:
            pad = "\t" * depth
            for node in members.get(scope, []):
                out.append(pad + node.dot())
            for child in children.get(scope, []):
                out.append(f"{pad}subgraph {_id('cluster_' + child)} {{")
                out.append(f"{pad}\tgraph{_attrs(self._cluster_attrs(self.boundaries[child]))}")
                emit(child, depth + 1)
                out.append(pad + "}")

        emit(None, 1)
        out.extend("\t" + e.dot() for e in scene.edges)
        out.append("}")
        return "\n".join(out) + "\n"

    def _collapsed(self, scene: _Scene, max_nodes: int) -> str:
        chains = {n.id: self.chain(n.boundary) for n in scene.nodes.values()}
        deepest = max((len(c) for c in chains.values()), default=0)
        depth = max(deepest, 1)
        while depth > 1 and len({c[:depth] for c in chains.values()}) > max_nodes:
            depth -= 1
        group_of: dict[str, tuple[str, ...]] = {nid: c[:depth] for nid, c in chains.items()}
        groups: dict[tuple[str, ...], list[_Node]] = {}
        for node in scene.nodes.values():
            groups.setdefault(group_of[node.id], []).append(node)
        ancestors = {path[:i] for path in groups for i in range(1, len(path))}
        inner: Counter[tuple[str, ...]] = Counter()
        links: dict[tuple[tuple[str, ...], tuple[str, ...]], list[_Edge]] = {}
        for e in scene.edges:
            gu, gv = group_of.get(e.source), group_of.get(e.target)
            if gu is None or gv is None:
                continue
            if gu == gv:
                inner[gu] += 1
            else:
                links.setdefault((gu, gv), []).append(e)
        gid = {path: (path[-1] if path else "_outside") for path in groups}
        n_elements, n_flows = len(scene.nodes), len(scene.edges)
        level_name = "innermost" if depth >= deepest else (
            "top-level" if depth == 1 else f"level-{depth}")
        notes = [
            f"COLLAPSED: {n_elements:,} elements and {n_flows:,} flows are drawn as "
            f"{len(groups):,} nodes, one per {level_name} trust boundary "
            f"(more than {max_nodes:,} elements).",
            f"For every element: {FULL_HINT}.",
        ]
        # Left to right: the many boundaries of one parent stack up instead of forming one
        # very wide rank.
        key = _Scene(scene.name, scene.title, panels=scene.panels, rankdir="LR",
                     legend=self.risk_legend() if self.register is not None else [],
                     legend_title="Worst residual risk among the elements",
                     legend_notes=["3-D box: the elements of one trust boundary, counted by "
                                   "kind", "arrow: all flows between two boundaries; thicker "
                                   "= more flows", "dashed arrow: some of them not encrypted",
                                   *(["thick outline or arrow: holds what the view is about"]
                                     if any(n.emphasis for n in scene.nodes.values()) else [])])
        out = self._header(key, [*scene.notes, *notes])
        placed: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        for path in groups:
            scope = path if path in ancestors else path[:-1]
            placed.setdefault(scope, []).append(path)
        clusters: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        for path in sorted(ancestors, key=lambda p: [self._order(b) for b in p]):
            clusters.setdefault(path[:-1], []).append(path)

        def group_node(path: tuple[str, ...]) -> str:
            nodes = groups[path]
            b = self.boundaries.get(path[-1]) if path else None
            name = (b.name or b.id) if b is not None else "Outside every trust boundary"
            lines = [f"{name} (elements directly inside)" if path in ancestors else name]
            if b is not None:
                lines.append(f"{b.kind.value} · {b.effective_trust.value}")
            lines.append(_plural(len(nodes), "element") + (
                f", {_plural(inner[path], 'flow')} inside" if inner[path] else ""))
            tags = Counter(t for n in nodes for t in n.tags)
            lines += [f"{tag}: {count:,}" for tag, count in
                      sorted(tags.items(), key=lambda kv: (-kv[1], kv[0]))[:4]]
            worst = max((n.level for n in nodes if n.level is not None),
                        key=lambda lv: lv.rank, default=None)
            fill = "#ffffff"
            if worst is not None:
                lines.append(f"worst residual: {worst.name}")
                fill = worst.colour
            elif self.register is None and any(self.counts.get(n.id) for n in nodes):
                total = sum(self.counts.get(n.id, 0) for n in nodes)
                lines.append(_plural(total, "finding"))
            node = _Node(gid[path], lines, shape="box3d", style="filled", fill=fill,
                         color=_BOUNDARY_COLORS[b.effective_trust.value] if b else "#333333",
                         penwidth="2", tooltip=", ".join(n.id for n in nodes[:20]),
                         dim=all(n.dim for n in nodes),
                         emphasis=any(n.emphasis for n in nodes))
            if node.emphasis:
                node.penwidth = "3.5"
            return node.dot()

        def emit(scope: tuple[str, ...], depth_: int) -> None:
            pad = "\t" * depth_
            for path in placed.get(scope, []):
                out.append(pad + group_node(path))
            for child in clusters.get(scope, []):
                out.append(f"{pad}subgraph {_id('cluster_' + child[-1])} {{")
                attrs = self._cluster_attrs(self.boundaries[child[-1]])
                out.append(f"{pad}\tgraph{_attrs(attrs)}")
                emit(child, depth_ + 1)
                out.append(pad + "}")

        emit((), 1)
        for (gu, gv), edges in links.items():
            protocols = sorted({e.protocol for e in edges})
            shown = ", ".join(protocols[:4]) + (f" +{len(protocols) - 4} more"
                                                if len(protocols) > 4 else "")
            unencrypted = sum(1 for e in edges if not e.encrypted)
            lines = [_plural(len(edges), "flow"), *_wrap(shown, 34)]
            if unencrypted:
                lines.append(f"{unencrypted:,} unencrypted")
            worst = max((e.level for e in edges if e.level is not None),
                        key=lambda lv: lv.rank, default=None)
            agg = _Edge(f"{gid[gu]}->{gid[gv]}", gid[gu], gid[gv], lines, "",
                        color=worst.colour if worst is not None else _EDGE,
                        penwidth=f"{min(1 + math.log2(len(edges)), 6):.1f}",
                        style="dashed" if unencrypted else "",
                        dim=all(e.dim for e in edges),
                        tooltip=", ".join(e.id for e in edges[:20]))
            if any(e.emphasis for e in edges):
                emphasised = next(e for e in edges if e.emphasis)
                agg.color = emphasised.color
                agg.penwidth = f"{min(2.5 + math.log2(len(edges)), 7):.1f}"
            out.append("\t" + agg.dot())
        out.append("}")
        return "\n".join(out) + "\n"

    def _order(self, boundary_id: str) -> int:
        if not hasattr(self, "_border"):
            self._border = {b.id: i for i, b in enumerate(self.model.boundaries)}
        return self._border.get(boundary_id, -1)


# -- the data-flow diagram ---------------------------------------------------------------------


def _dfd_scene(ctx: _Ctx, highlight: str | None = None) -> _Scene:
    scene = _Scene("dfd", "Data-flow diagram")
    for c in ctx.model.components:
        node = scene.add(ctx.node(c.id))
        if c.id == highlight:
            node.penwidth, node.color = "3", "#1f6feb"
    for a in ctx.model.actors:
        node = scene.add(ctx.node(a.id))
        if a.id == highlight:
            node.penwidth, node.color = "3", "#1f6feb"
    for f in ctx.model.flows:
        if f.source not in scene.nodes or f.target not in scene.nodes:
            continue
        e = ctx.edge(f, partial(ctx.flow_lines, f, count=ctx.register is None))
        if f.id == highlight:
            e.penwidth, e.color = "3", "#1f6feb"
        scene.edges.append(e)
    if ctx.register is not None:
        scene.legend = ctx.risk_legend()
        scene.legend_title = "Highest residual risk of the findings"
    else:
        scene.legend = [(_HEAT[1], "1 specific finding"), (_HEAT[3], "3 specific findings"),
                        (_HEAT[-1], f"{len(_HEAT) - 1} or more"), ("#ffffff", "none")]
        scene.legend_title = "Specific findings"
    scene.legend_notes = ["dashed flow: not encrypted", "dotted, grey: out of scope",
                          "rounded box: process; cylinder: data store;",
                          "box: external entity or person"]
    return scene


def dfd_dot(model: Model, analysis: Analysis | None = None, *,
            catalog: Catalog | None = None, highlight: str | None = None,
            register: RiskRegister | None = None, full: bool = False,
            max_nodes: int = DEFAULT_MAX_NODES) -> str:
    """DOT source of the model's data-flow diagram (deterministic for the same input).

    With a ``register`` elements and flows are filled with the colour of the highest residual
    risk level among their findings; otherwise, with an ``analysis``, elements are shaded by
    their number of specific findings. ``highlight`` outlines one element or flow. Above
    ``max_nodes`` elements (components and actors) the diagram is collapsed to one node per
    trust boundary with aggregated flows and a note saying so, unless ``full`` is true.
    """
    if analysis is None and register is not None:
        analysis = register.analysis
    catalog = catalog or (analysis.catalog if analysis else default_catalog())
    with gc_paused():
        ctx = _Ctx(model, catalog, analysis, register)
        dot, _ = ctx.to_dot(_dfd_scene(ctx, highlight), full=full, max_nodes=max_nodes)
    return dot


# -- rendering ---------------------------------------------------------------------------------


def render(dot: str, fmt: str) -> bytes | None:
    """Render DOT source with Graphviz to ``"svg"`` or ``"png"`` bytes; None when ``dot`` is
    not installed (no warning: callers that write files warn once)."""
    if fmt not in ("svg", "png"):
        raise ValueError(f"unsupported diagram format {fmt!r}; expected 'svg' or 'png'")
    exe = shutil.which("dot")
    if exe is None:
        return None
    args = [exe, f"-T{fmt}"]
    if fmt == "png":
        args.append("-Gdpi=110")
    done = subprocess.run(args, input=dot.encode("utf-8"), capture_output=True,  # noqa: S603
                          check=False, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"dot -T{fmt} failed ({done.returncode}): "
                           f"{done.stderr.decode('utf-8', 'replace').strip()}")
    return done.stdout


def dfd_svg(dot_source: str) -> str | None:
    """Render DOT source to SVG text, or None (with one warning) when ``dot`` is missing."""
    svg = render(dot_source, "svg")
    if svg is None:
        warnings.warn("Graphviz 'dot' not found: the diagram is written as DOT source only; "
                      "install Graphviz (e.g. apt-get install graphviz) for SVG",
                      DotMissingWarning, stacklevel=2)
        return None
    return svg.decode("utf-8")
