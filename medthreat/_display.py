"""HTML renderers for rich display in notebooks (``_repr_html_``) and the explorer widget.

Every function returns a self-contained HTML fragment: a small scoped style block (class names
start with ``mt-``) and markup in which every piece of model, catalog and decision text is
escaped with :func:`html.escape`. The output depends only on its inputs (no ids, times or
object addresses), and long lists are cut at a limit with a line saying how many were left out,
so displaying a large model stays fast.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from html import escape
from typing import TYPE_CHECKING

from .export._text import printable

if TYPE_CHECKING:
    from .catalog import Catalog
    from .engine import Analysis, Finding
    from .model import Model
    from .risk import Assessment, RiskPolicy, RiskRegister
    from .risk.assess import Score
    from .risk.policy import RiskCell

__all__ = [
    "ACCEPTABILITY_COLOURS",
    "STYLE",
    "analysis_html",
    "assessment_html",
    "diagram_html",
    "finding_html",
    "focus_svg",
    "model_html",
    "register_html",
    "risk_badge",
    "risk_matrices_html",
    "svg_inline",
]

#: Default number of table rows shown before "and K more".
LIMIT = 25
#: Models with more elements than this get no inline diagram (rendering would be slow).
DIAGRAM_LIMIT = 250

#: (background, text) of a matrix cell per acceptability.
ACCEPTABILITY_COLOURS = {
    "acceptable": ("#dcefd9", "#1b5e20"),
    "review": ("#fff1c2", "#6d4c00"),
    "unacceptable": ("#f9d0d0", "#8e1b1b"),
}

# Selectors repeat ``.mt-card`` to outrank the notebook's own rules for rendered HTML
# (JupyterLab right-aligns table cells, centres tables and spaces lists for Markdown).
STYLE = """<style>
.mt-card{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;font-size:13px;
 color:#1f2328;background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:10px 14px;
 margin:4px 0;max-width:1100px;line-height:1.4;text-align:left}
.mt-card.mt-card h3{margin:0 0 4px 0;font-size:16px;font-weight:600;line-height:1.4}
.mt-card.mt-card h4{margin:10px 0 4px 0;font-size:12px;font-weight:600;color:#57606a;
 text-transform:uppercase;letter-spacing:.04em;line-height:1.4}
.mt-card .mt-sub{color:#57606a;margin-bottom:6px}
.mt-card.mt-card table{border-collapse:collapse;margin:2px 0;table-layout:auto;
 color:#1f2328;font-size:12.5px}
.mt-card.mt-card table th,.mt-card.mt-card table td{border:1px solid #d8dee4;
 padding:3px 7px;text-align:left;vertical-align:top;background-clip:padding-box}
.mt-card.mt-card table th{background:#f6f8fa;font-weight:600}
.mt-card.mt-card table tr{text-align:left;background:transparent}
.mt-card code{font-family:SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;
 background:#f6f8fa;padding:0 3px;border-radius:3px}
.mt-card table td code{white-space:nowrap}
.mt-card.mt-card ul.mt-list,.mt-card.mt-card ul.mt-factors{margin:2px 0 2px 18px;padding:0;
 list-style:disc}
.mt-card.mt-card ul.mt-factors{margin:0 0 0 16px;color:#3d444d;font-size:12px}
.mt-card.mt-card table .mt-num{text-align:right;font-variant-numeric:tabular-nums}
.mt-badge{display:inline-block;padding:1px 7px;border-radius:10px;font-size:12px;
 font-weight:600;white-space:nowrap}
.mt-counts{display:flex;flex-wrap:wrap;gap:6px;margin:4px 0}
.mt-count{border:1px solid #d0d7de;border-radius:6px;padding:3px 9px;background:#f6f8fa}
.mt-count b{font-size:15px}
.mt-more{color:#57606a;font-style:italic;margin:3px 0}
.mt-note{color:#57606a;margin:4px 0}
.mt-error{color:#8e1b1b;background:#fbe9e9;border:1px solid #e6b3b3;border-radius:4px;
 padding:4px 8px;margin:4px 0}
.mt-ok{color:#1b5e20;background:#e8f5e6;border:1px solid #b7dcb2;border-radius:4px;
 padding:4px 8px;margin:4px 0}
.mt-matrices{display:flex;flex-direction:column;gap:10px}
.mt-dim{display:flex;flex-wrap:wrap;gap:14px}
.mt-card.mt-card table.mt-matrix td{width:38px;height:24px;padding:2px 4px;
 text-align:center;vertical-align:middle;font-weight:600;font-size:13px}
.mt-card.mt-card table.mt-matrix td.mt-zero{font-weight:400;opacity:.55}
.mt-card.mt-card table.mt-matrix td.mt-mark{outline:3px solid #1f6feb;outline-offset:-3px}
.mt-card.mt-card table.mt-matrix th{font-size:10px;font-weight:500;vertical-align:middle;
 padding:2px 4px}
.mt-card.mt-card table.mt-matrix th.mt-corner{color:#57606a;line-height:1.2}
.mt-diagram svg{max-width:100%;height:auto}
</style>"""

_STRIDE_LETTERS = {
    "spoofing": "S", "tampering": "T", "repudiation": "R", "information_disclosure": "I",
    "denial_of_service": "D", "elevation_of_privilege": "E",
}
_SVG_START = re.compile(r"<svg\b")
_SVG_SIZE = re.compile(r'\s(width|height)="[^"]*"')


def _e(value: object) -> str:
    """Escape any value as HTML text (quotes too, so it is safe in attributes), control
    characters shown as U+FFFD."""
    return escape(printable(str(value)), quote=True)


def _words(value: str) -> str:
    return value.replace("_", " ")


def _card(body: str) -> str:
    return f'{STYLE}<div class="mt-card">{body}</div>'


def _counts(items: Iterable[tuple[str, object]]) -> str:
    cells = "".join(f'<span class="mt-count"><b>{_e(n)}</b> {_e(label)}</span>'
                    for label, n in items)
    return f'<div class="mt-counts">{cells}</div>'


def _more(shown: int, total: int, what: str) -> str:
    if total <= shown:
        return ""
    return f'<div class="mt-more">and {total - shown} more {_e(what)}</div>'


def _text_colour(colour: str) -> str:
    """Black or white, whichever reads better on the hex background ``colour``."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return "#000000" if (0.299 * r + 0.587 * g + 0.114 * b) > 150 else "#ffffff"


def risk_badge(cell: RiskCell) -> str:
    """A risk level as a pill in the policy's colour for that level."""
    colour = cell.level.colour
    return (f'<span class="mt-badge" style="background:{_e(colour)};'
            f'color:{_text_colour(colour)}">{_e(cell.level.name)}</span>')


def _acceptability(cell: RiskCell) -> str:
    bg, fg = ACCEPTABILITY_COLOURS.get(cell.acceptability.value, ("#eeeeee", "#333333"))
    text = cell.acceptability.value
    if cell.controlled is not None:
        text += ", " + ("controlled" if cell.controlled else "uncontrolled")
    return f'<span class="mt-badge" style="background:{bg};color:{fg}">{_e(text)}</span>'


def _list(items: Sequence[str], empty: str = "none") -> str:
    if not items:
        return f'<span class="mt-note">{_e(empty)}</span>'
    return '<ul class="mt-list">' + "".join(f"<li>{_e(i)}</li>" for i in items) + "</ul>"


def _codes(items: Iterable[str], empty: str = "none") -> str:
    found = [f"<code>{_e(i)}</code>" for i in items]
    return ", ".join(found) if found else f'<span class="mt-note">{_e(empty)}</span>'


# -- diagrams ---------------------------------------------------------------------------------


def svg_inline(svg: str) -> str:
    """SVG text from Graphviz ready to sit inside HTML: no XML prolog or doctype, and sized to
    scale down with its container."""
    match = _SVG_START.search(svg)
    body = svg[match.start():] if match else svg
    end = body.find(">")
    head = body[:end]
    if 'viewBox="' not in head:
        return body
    width = re.search(r'\swidth="([0-9.]+)pt"', head)
    style = f' style="width:{width.group(1)}pt"' if width else ""
    return _SVG_SIZE.sub("", head) + style + body[end:]


_GROUP = re.compile(r'<g id="[^"]*" class="(node|edge)">\s*<title>(.*?)</title>(.*?)</g>',
                    re.DOTALL)
_PAIR = re.compile(r"(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)")
_SHAPE_ATTR = re.compile(r'\s(?:points|d)="([^"]*)"')
_ELLIPSE = re.compile(r'<ellipse[^>]*\scx="(-?[\d.]+)"[^>]*\scy="(-?[\d.]+)"[^>]*'
                      r'\srx="([\d.]+)"[^>]*\sry="([\d.]+)"')
_TRANSFORM = re.compile(r'class="graph" transform="scale\(([\d.]+)[ ,]*([\d.]*)\)'
                        r'[^"]*?translate\((-?[\d.]+)[ ,]+(-?[\d.]+)\)"')
_VIEWBOX = re.compile(r'viewBox="(-?[\d.]+) (-?[\d.]+) ([\d.]+) ([\d.]+)"')


def focus_svg(svg: str, titles: Iterable[str], *, width: float = 560,
              height: float = 380) -> str | None:
    """Crop a Graphviz SVG to a window of about ``width`` x ``height`` points around the nodes
    or edges with these titles (a node's id, ``source->target`` for an edge), so one element of
    a large diagram can be read at full size. None when none of them is found."""
    from html import unescape

    wanted = set(titles)
    transform = _TRANSFORM.search(svg)
    box = _VIEWBOX.search(svg)
    if transform is None or box is None:
        return None
    sx = float(transform.group(1))
    sy = float(transform.group(2) or transform.group(1))
    tx, ty = float(transform.group(3)), float(transform.group(4))
    xs: list[float] = []
    ys: list[float] = []
    for match in _GROUP.finditer(svg):
        if unescape(match.group(2)) not in wanted:
            continue
        body = match.group(3)
        for attr in _SHAPE_ATTR.findall(body):
            for x, y in _PAIR.findall(attr):
                xs.append(float(x))
                ys.append(float(y))
        for cx, cy, rx, ry in _ELLIPSE.findall(body):
            xs += [float(cx) - float(rx), float(cx) + float(rx)]
            ys += [float(cy) - float(ry), float(cy) + float(ry)]
    if not xs:
        return None
    full_x, full_y, full_w, full_h = (float(v) for v in box.groups())
    left, right = sx * (min(xs) + tx), sx * (max(xs) + tx)
    top, bottom = sy * (min(ys) + ty), sy * (max(ys) + ty)
    w = min(full_w, max(width, right - left + 80))
    h = min(full_h, max(height, bottom - top + 80))
    x = min(max(full_x, (left + right) / 2 - w / 2), full_x + full_w - w)
    y = min(max(full_y, (top + bottom) / 2 - h / 2), full_y + full_h - h)
    start = svg.index(box.group(0))
    head_end = svg.index(">", start)
    head = _SVG_SIZE.sub("", svg[:head_end].replace(
        box.group(0), f'viewBox="{x:.2f} {y:.2f} {w:.2f} {h:.2f}"'))
    return head + f' width="{w:.0f}pt" height="{h:.0f}pt"' + svg[head_end:]


def _element_count(model: Model) -> int:
    return len(model.components) + len(model.actors) + len(model.flows)


def diagram_html(model: Model, analysis: Analysis | None = None, *,
                 highlight: str | None = None, focus: bool = False,
                 max_elements: int = DIAGRAM_LIMIT) -> str:
    """The data-flow diagram as inline SVG (``highlight`` outlines one element or flow; with
    ``focus`` the picture is cropped to the part around it, at full size).

    Without Graphviz's ``dot``, or for a model with more than ``max_elements`` components,
    actors and flows, a short note says why there is no picture.
    """
    from .export.diagram import dfd_dot, dfd_svg, dot_available

    n = _element_count(model)
    if not n:
        return '<div class="mt-note">No components, actors or flows to draw yet.</div>'
    if n > max_elements:
        return (f'<div class="mt-note">Diagram not drawn inline: {n} elements (more than '
                f"{max_elements}); write it with <code>medthreat analyze</code> instead.</div>")
    if not dot_available():
        return ('<div class="mt-note">Diagram not available: Graphviz <code>dot</code> is not '
                "installed (e.g. <code>apt-get install graphviz</code>).</div>")
    svg = dfd_svg(dfd_dot(model, analysis, highlight=highlight))
    if svg is None:  # dot disappeared between the check and the call
        return '<div class="mt-note">Diagram not available: Graphviz failed.</div>'
    if focus and highlight:
        flow = next((f for f in model.flows if f.id == highlight), None)
        titles = [f"{flow.source}->{flow.target}"] if flow is not None else [highlight]
        svg = focus_svg(svg, titles) or svg
    return f'<div class="mt-diagram">{svg_inline(svg)}</div>'


# -- model ------------------------------------------------------------------------------------


def model_html(model: Model, *, diagram: bool = True,
               max_elements: int = DIAGRAM_LIMIT) -> str:
    """A model as a card: name, version, manufacturer, intended use, counts, and its diagram."""
    s = model.system
    title = _e(s.name) + (f' <span class="mt-sub">{_e(s.version)}</span>' if s.version else "")
    parts = [f"<h3>{title}</h3>"]
    sub = [x for x in (s.manufacturer, ", ".join(c.value for c in s.care_settings)) if x]
    if sub:
        parts.append(f'<div class="mt-sub">{" · ".join(_e(x) for x in sub)}</div>')
    if s.intended_use:
        parts.append(f"<div><b>Intended use:</b> {_e(s.intended_use)}</div>")
    parts.append(_counts([
        ("trust boundaries", len(model.boundaries)),
        ("components", len(model.components)),
        ("actors", len(model.actors)),
        ("data flows", len(model.flows)),
        ("data assets", len(model.data_assets)),
        ("applied controls", len(model.controls)),
    ]))
    if s.assumptions:
        parts.append(f"<details><summary>{len(s.assumptions)} assumption(s)</summary>"
                     f"{_list(s.assumptions)}</details>")
    if diagram:
        parts.append(diagram_html(model, max_elements=max_elements))
    return _card("".join(parts))


# -- findings ---------------------------------------------------------------------------------


def _element(finding: Finding) -> str:
    kind = _words(finding.element_kind.value)
    name = finding.element_name
    label = _e(name) + (f" (<code>{_e(finding.element_id)}</code>)"
                        if name != finding.element_id else "")
    if finding.source:
        label += f" {_e(finding.source)} → {_e(finding.target)}"
    return f"{label}, {_e(kind)} <code>{_e(finding.element_type)}</code>"


def _stride(value: str) -> str:
    return f"{_STRIDE_LETTERS.get(value, '?')} · {_e(_words(value))}"


def analysis_html(analysis: Analysis, *, limit: int = LIMIT) -> str:
    """An analysis: counts by STRIDE category and a table of its specific findings."""
    findings = analysis.findings
    specific = [f for f in findings if not f.baseline]
    by_stride = analysis.by_stride()
    spec = Counter(f.stride.value for f in specific)
    rows = "".join(
        f"<tr><td>{_stride(s)}</td><td class=\"mt-num\">{spec.get(s, 0)}</td>"
        f"<td class=\"mt-num\">{n - spec.get(s, 0)}</td><td class=\"mt-num\">{n}</td></tr>"
        for s, n in by_stride.items())
    total = (f'<tr><th>all</th><th class="mt-num">{len(specific)}</th><th class="mt-num">'
             f'{len(findings) - len(specific)}</th><th class="mt-num">{len(findings)}</th></tr>')
    parts = [
        f"<h3>Analysis of {_e(analysis.model.system.name)}</h3>",
        _counts([("findings", len(findings)), ("specific", len(specific)),
                 ("STRIDE baseline", len(findings) - len(specific)),
                 ("elements with findings", len({f.element_id for f in findings}))]),
        "<h4>By STRIDE category</h4>",
        "<table><tr><th>category</th><th>specific</th><th>baseline</th><th>total</th></tr>"
        f"{rows}{total}</table>",
        "<h4>Specific findings</h4>",
    ]
    shown = specific[:max(0, limit)]
    if shown:
        parts.append("<table><tr><th>id</th><th>STRIDE</th><th>element</th><th>threat</th></tr>"
                     + "".join(
                         f"<tr><td><code>{_e(f.id)}</code></td><td>{_e(f.stride.letter)}</td>"
                         f"<td>{_e(f.element_name)}</td><td>{_e(f.title)}</td></tr>"
                         for f in shown) + "</table>")
    else:
        parts.append('<div class="mt-note">No specific findings.</div>')
    parts.append(_more(len(shown), len(specific), "specific findings"))
    return _card("".join(parts))


def _description(finding: Finding) -> str:
    return (f'<div style="margin-top:4px">{_e(finding.description)}</div>'
            if finding.description else "")


def _why(finding: Finding) -> str:
    return "<h4>Why it applies</h4>" + _list(finding.why, "no recorded reason")


def _controls(finding: Finding, catalog: Catalog | None) -> str:
    def control(cid: str) -> str:
        c = catalog.controls.get(cid) if catalog is not None else None
        return f"<code>{_e(cid)}</code>" + (f" {_e(c.title)}" if c is not None else "")

    applied = {a.control: a for a in finding.applied_controls}
    rows = []
    for cid in finding.controls:
        a = applied.get(cid)
        if a is None:
            state = '<span class="mt-note">not in the model (suggested)</span>'
        else:
            counted = a.status in ("implemented", "verified")
            state = (f"<b>{_e(a.status)}</b>" if counted else _e(a.status)) + (
                " — counted" if counted else " — not counted yet") + (
                f" · evidence {_e(a.evidence)}" if a.evidence else "")
        rows.append(f"<tr><td>{control(cid)}</td><td>{state}</td></tr>")
    if not rows:
        return '<h4>Controls</h4><div class="mt-note">The catalog names no control.</div>'
    return ("<h4>Controls that address it</h4><table><tr><th>control</th><th>in this model"
            "</th></tr>" + "".join(rows) + "</table>")


def _references(finding: Finding) -> str:
    if not finding.references:
        return ""
    return f"<h4>References</h4><div>{_codes(finding.references)}</div>"


def finding_html(finding: Finding, *, catalog: Catalog | None = None) -> str:
    """A finding: title, STRIDE, element, why it applies and the controls that address it."""
    head = [
        f"<h3>{_e(finding.title)}</h3>",
        f'<div class="mt-sub"><code>{_e(finding.id)}</code> · {_stride(finding.stride.value)}'
        + (" · STRIDE baseline" if finding.baseline else "") + "</div>",
        f"<div><b>Element:</b> {_element(finding)}</div>",
    ]
    return _card("".join([*head, _description(finding), _why(finding),
                          _controls(finding, catalog), _references(finding)]))


# -- risk -------------------------------------------------------------------------------------


def _score(score: Score) -> str:
    factors = "".join(f"<li><b>{_e(f.name)}</b> ({_e(f.effect)}): {_e(f.reason)}</li>"
                      for f in score.factors)
    return (f"<b>{_e(_words(score.level))}</b> (rank {score.rank})"
            + (f'<ul class="mt-factors">{factors}</ul>' if factors else ""))


def _decision(a: Assessment) -> str:
    d = a.decision
    if d is None:
        return '<div class="mt-note">No decision recorded: the finding is open.</div>'
    via = "" if d.match.value == "exact" else f" (through the wildcard <code>{_e(d.key)}</code>)"
    dec = d.decision
    rows = [("status", f"<b>{_e(_words(dec.status.value))}</b>{via}")]
    for label, value in (("justification", dec.justification), ("owner", dec.owner),
                         ("date", dec.date.isoformat() if dec.date else ""),
                         ("ticket", dec.ticket), ("CVSS", dec.cvss)):
        if value:
            rows.append((label, _e(value)))
    for label, ids in (("hazards", dec.hazard_ids), ("requirements", dec.requirement_ids),
                       ("verification", dec.verification_ids)):
        if ids:
            rows.append((label, _codes(ids)))
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + \
        "</table>"


def assessment_html(assessment: Assessment, *, catalog: Catalog | None = None) -> str:
    """An assessment: scores before and after controls with their factors, and the decision."""
    a, f = assessment, assessment.finding
    impact = _words(a.impact.scale)
    if a.counted_controls:
        after_e, after_i = _score(a.exploitability_post), _score(a.impact_post)
    else:
        same = '<span class="mt-note">unchanged: no implemented or verified control</span>'
        after_e = after_i = same
    parts = [
        f"<h3>{risk_badge(a.residual)} {_e(f.title)}</h3>",
        f'<div class="mt-sub"><code>{_e(f.id)}</code> · {_stride(f.stride.value)} · '
        f"{_e(a.goal)} breach rated on the {_e(a.dimension)} scale · attack vector "
        f"{_e(a.attack_vector)}"
        + (" · reaches several patients" if a.multi_patient else "") + "</div>",
        f"<div><b>Element:</b> {_element(f)}</div>",
        _description(f),
        _why(f),
        "<h4>Risk before and after controls</h4>",
        "<table><tr><th></th><th>before controls</th><th>after controls</th></tr>",
        f"<tr><th>exploitability</th><td>{_score(a.exploitability)}</td><td>{after_e}</td></tr>",
        f"<tr><th>{_e(impact)}</th><td>{_score(a.impact)}</td><td>{after_i}</td></tr>",
        f"<tr><th>risk</th><td>{risk_badge(a.risk)} {_acceptability(a.risk)}</td>"
        f"<td>{risk_badge(a.residual)} {_acceptability(a.residual)}</td></tr></table>",
        _controls(f, catalog),
        "<h4>Decision</h4>", _decision(a),
        _references(f),
    ]
    return _card("".join(parts))


def risk_matrices_html(policy: RiskPolicy, assessments: Sequence[Assessment], *,
                       mark: Assessment | None = None) -> str:
    """Pre- and post-mitigation matrices (one pair per impact dimension with findings).

    Each cell shows how many of ``assessments`` fall in it and is coloured by the policy's
    acceptability of that cell; the cells of ``mark`` (before and after) are outlined.
    """
    from .risk.policy import DIMENSIONS

    pre = Counter((a.dimension, a.risk.exploitability.id, a.risk.severity.id)
                  for a in assessments)
    post = Counter((a.dimension, a.residual.exploitability.id, a.residual.severity.id)
                   for a in assessments)
    used = {a.dimension for a in assessments} | ({mark.dimension} if mark else set())
    exploit = policy.levels("exploitability")
    blocks = []
    for dimension, impact_name in DIMENSIONS.items():
        if dimension not in used:
            continue
        impact = policy.levels(impact_name)
        pair = []
        for label, counts, cell_of in (("before controls", pre, "risk"),
                                       ("after controls", post, "residual")):
            marked = getattr(mark, cell_of) if mark is not None and \
                mark.dimension == dimension else None
            rows = [f'<tr><th class="mt-corner">exploitability ↓<br>'
                    f"{_e(_words(impact_name))} →</th>"
                    + "".join(f"<th>{_e(s.name)}</th>" for s in impact) + "</tr>"]
            for e in reversed(exploit):
                cells = []
                for s in impact:
                    c = policy.risk(e.id, s.id, dimension)
                    n = counts.get((dimension, e.id, s.id), 0)
                    bg, fg = ACCEPTABILITY_COLOURS.get(c.acceptability.value,
                                                       ("#eeeeee", "#333333"))
                    cls = ["mt-zero"] if not n else []
                    if marked is not None and marked.exploitability.id == e.id and \
                            marked.severity.id == s.id:
                        cls.append("mt-mark")
                    klass = f' class="{" ".join(cls)}"' if cls else ""
                    tip = f"{c.level.name} risk, {c.acceptability.value}"
                    cells.append(f'<td{klass} style="background:{bg};color:{fg}" '
                                 f'title="{_e(tip)}">{n if n else "·"}</td>')
                rows.append(f"<tr><th>{_e(e.name)}</th>{''.join(cells)}</tr>")
            total = sum(v for k, v in counts.items() if k[0] == dimension)
            pair.append(f"<div><b>{_e(dimension.capitalize())}</b> {_e(label)} "
                          f'<span class="mt-note">({total})</span>'
                          f'<table class="mt-matrix">{"".join(rows)}</table></div>')
        blocks.append(f'<div class="mt-dim">{"".join(pair)}</div>')
    legend = " ".join(
        f'<span class="mt-badge" style="background:{bg};color:{fg}">{_e(k)}</span>'
        for k, (bg, fg) in ACCEPTABILITY_COLOURS.items())
    if not blocks:
        return '<div class="mt-note">No findings to place in the risk matrices.</div>'
    return (f'<div class="mt-matrices">{"".join(blocks)}</div>'
            f'<div class="mt-note">Cell colour: acceptability under policy '
            f"<code>{_e(policy.id)}</code> {_e(policy.version)} — {legend}</div>")


def register_html(register: RiskRegister, *, limit: int = LIMIT) -> str:
    """A risk register: counts, pre/post matrices and the highest residual risks."""
    items = list(register)
    policy = register.policy
    residual = Counter(a.residual.level.id for a in items)
    accept = Counter(a.residual.acceptability.value for a in items)
    status = Counter(a.status for a in items)
    levels = [lv for lv in reversed(policy.levels("risk"))]
    parts = [
        f"<h3>Risk register of {_e(register.analysis.model.system.name)}</h3>",
        f'<div class="mt-sub">policy <code>{_e(policy.id)}</code> {_e(policy.version)} · '
        f"{_e(policy.title)}</div>",
        _counts([("findings", len(items))]
                + [(f"{lv.name.lower()} residual", residual.get(lv.id, 0)) for lv in levels]
                + [("unacceptable", accept.get("unacceptable", 0)),
                   ("decided", len(items) - status.get("open", 0))]),
        "<h4>Risk matrices</h4>", risk_matrices_html(policy, items),
        "<h4>Highest residual risks</h4>",
    ]
    shown = items[:max(0, limit)]
    if shown:
        parts.append(
            "<table><tr><th>residual</th><th>acceptability</th><th>id</th><th>STRIDE</th>"
            "<th>element</th><th>threat</th><th>status</th></tr>" + "".join(
                f"<tr><td>{risk_badge(a.residual)}</td><td>{_acceptability(a.residual)}</td>"
                f"<td><code>{_e(a.id)}</code></td><td>{_e(a.finding.stride.letter)}</td>"
                f"<td>{_e(a.finding.element_name)}</td><td>{_e(a.finding.title)}</td>"
                f"<td>{_e(_words(a.status))}</td></tr>" for a in shown) + "</table>")
    else:
        parts.append('<div class="mt-note">No findings.</div>')
    parts.append(_more(len(shown), len(items), "assessed findings"))
    return _card("".join(parts))
