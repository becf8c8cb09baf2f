"""The regulatory report: a cybersecurity risk management report as Markdown, HTML and PDF.

The structure follows what the FDA premarket cybersecurity guidance asks of a security risk
management report and the documentation IEC 81001-5-1 expects, in fourteen numbered sections:
system and intended use, assumptions and scope, method, architecture views, threat model,
risk method and acceptance criteria, risk before and after controls, findings by element,
controls and traceability, the residual risk statement, the safety-transfer list, regulatory
coverage, the labeling draft and the open items.

Everything is computed once into plain data (:func:`_context`) and laid out by two Jinja2
templates shipped inside the package (``templates/report.md.j2`` and ``report.html.j2``):
Markdown cells go through :func:`~medthreat.export._text.markdown_cell`, HTML is autoescaped.
The report is deterministic: the same register and views give byte-identical text. Long
lists are cut at a fixed length with a count of the rest, so a fleet of thousands of
components still gives a readable report in seconds.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup

from .. import __version__
from .._yaml import atomic_write
from ..catalog import Stride
from ..coverage import coverage
from ..lifecycle import check
from ..risk.policy import DIMENSIONS, SCALE_NAMES, Acceptability, RiskLevel
from ._text import markdown_cell, printable
from .labeling import TOPICS, labeling_items
from .register import requirements_by_control

if TYPE_CHECKING:
    from ..risk import RiskRegister
    from ..risk.assess import Assessment
    from .views import View

__all__ = [
    "CHROMIUM_ENV",
    "SECTIONS",
    "PdfUnavailableWarning",
    "pdf_renderer",
    "report_html",
    "report_markdown",
    "write_report",
]

#: The numbered sections of the report: (anchor, title).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("system", "System description and intended use"),
    ("assumptions", "Assumptions and scope"),
    ("methodology", "Threat modeling methodology"),
    ("architecture", "Architecture views"),
    ("threats", "Threat model summary"),
    ("risk-method", "Risk method and acceptance criteria"),
    ("risk-summary", "Risk before and after controls"),
    ("findings", "Findings by element"),
    ("traceability", "Controls and traceability"),
    ("residual", "Residual risk statement"),
    ("safety-transfer", "Safety-transfer list"),
    ("coverage", "Regulatory coverage"),
    ("labeling", "Labeling draft"),
    ("open-items", "Open items"),
    ("maintenance", "Maintenance and incident response"),
)

#: Incident response playbooks the report shows in full (``medthreat playbook`` writes all).
PLAYBOOKS_SHOWN = 8

#: How many rows long lists show before summarising the rest.
TOP_ELEMENTS = 40
DETAIL_ELEMENTS = 15
DETAIL_FINDINGS = 12
TOP_ROWS = 250
LABELING_PER_TOPIC = 40
IDS_PER_CELL = 8

_STRIDE_LABEL = {s: s.value.replace("_", " ").capitalize() for s in Stride}
_ACCEPTABILITY_COLOURS = {"acceptable": "#c8e6c9", "review": "#ffe082",
                          "unacceptable": "#ef9a9a"}
_STANDARDS = (
    ("FDA premarket cybersecurity guidance", "Cybersecurity in Medical Devices: Quality System "
     "Considerations and Content of Premarket Submissions (threat modeling, security risk "
     "management report, architecture views, labeling)"),
    ("IEC 81001-5-1:2021", "Health software and health IT systems safety, effectiveness and "
     "security, part 5-1: security activities in the product life cycle (threat model, "
     "security risk management, 7.2 and 7.3)"),
    ("ISO 14971:2019 and AAMI TIR57", "Safety risk management and the principles for medical "
     "device security risk management it is linked to (hazard ids, safety transfer)"),
    ("EU MDR 2017/745 Annex I and MDCG 2019-16", "General safety and performance requirements "
     "17.2, 17.4 and 23.4(ab); guidance on cybersecurity for medical devices"),
    ("IEC 62443-4-2 and NIST SP 800-53", "Component security requirements and security "
     "controls the catalog's controls are cross-referenced to"),
    ("STRIDE, MITRE ATLAS, CWE, CAPEC, EMB3D, OWASP, LINDDUN", "Threat taxonomies the catalog's "
     "threats are classified and referenced by"),
)


class PdfUnavailableWarning(UserWarning):
    """No PDF renderer (Chromium) was found, or it failed: the report is written without PDF."""


# -- small helpers -------------------------------------------------------------------------


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _text_on(colour: str) -> str:
    r, g, b = (int(colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
    return "#ffffff" if 0.299 * r + 0.587 * g + 0.114 * b < 150 else "#000000"


def _ids(values: Iterable[str], limit: int = IDS_PER_CELL) -> str:
    items = list(values)
    shown = ", ".join(items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _level(level: RiskLevel) -> dict[str, Any]:
    return {"id": level.id, "name": level.name, "rank": level.rank, "colour": level.colour,
            "fg": _text_on(level.colour)}


def _svg_inline(svg: str) -> str:
    """Graphviz SVG made fit for inlining in HTML: no prolog, no comments, scalable."""
    svg = re.sub(r"<\?xml[^>]*\?>", "", svg)
    svg = re.sub(r"<!DOCTYPE[^>]*>", "", svg)
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.DOTALL)
    svg = re.sub(r"<script\b.*?</script\s*>", "", svg, flags=re.DOTALL | re.IGNORECASE)
    svg = re.sub(r'\s(?:xlink:)?href="\s*javascript:[^"]*"', "", svg, flags=re.IGNORECASE)

    def root(match: re.Match[str]) -> str:
        tag = match.group(0)
        width = re.search(r'\swidth="([\d.]+)pt"', tag)
        tag = re.sub(r'\s(width|height)="[^"]*"', "", tag)
        # As wide as the page, never wider than drawn; vector text stays sharp when zoomed.
        style = f' style="width:100%; max-width:{width.group(1)}pt"' if width else \
            ' style="width:100%"'
        return tag[:-1] + f' preserveAspectRatio="xMidYMin meet"{style} role="img">'

    return re.sub(r"<svg\b[^>]*>", root, svg, count=1).strip()


def _render_svg(dot: str) -> str | None:
    """SVG of a DOT source with the views module's renderer, or Graphviz; None without it."""
    from . import views

    render = getattr(views, "render", None)
    if render is not None:
        data = render(dot, "svg")
        return data.decode("utf-8") if data is not None else None
    if shutil.which("dot") is None:
        return None
    import graphviz

    return str(graphviz.Source(dot).pipe(format="svg", encoding="utf-8"))


# -- the report's data ---------------------------------------------------------------------


def _system(register: RiskRegister) -> dict[str, Any]:
    model = register.analysis.model
    s = model.system
    kinds = Counter()
    for c in model.components:
        ctype = register.analysis.catalog.component_types.get(c.type)
        kinds[ctype.element if ctype else "process"] += 1
    return {
        "name": s.name, "version": s.version, "manufacturer": s.manufacturer,
        "description": _one_line(s.description), "intended_use": _one_line(s.intended_use),
        "care_settings": ", ".join(c.value for c in s.care_settings),
        "counts": [
            ("Components", len(model.components)),
            ("Processes", kinds["process"]),
            ("Data stores", kinds["data_store"]),
            ("External systems", kinds["external_entity"]),
            ("Actors (people)", len(model.actors)),
            ("Data flows", len(model.flows)),
            ("Trust boundaries", len(model.boundaries)),
            ("Data assets", len(model.data_assets)),
            ("Applied controls", len(model.controls)),
            ("Out of scope (components and flows)",
             sum(1 for c in model.components if c.out_of_scope)
             + sum(1 for f in model.flows if f.out_of_scope)),
        ],
    }


def _assumptions(register: RiskRegister) -> dict[str, Any]:
    model = register.analysis.model
    out = [{"kind": "component", "id": c.id, "name": c.name,
            "reason": _one_line(c.out_of_scope_reason) or "(no reason given)"}
           for c in sorted(model.components, key=lambda c: c.id) if c.out_of_scope]
    out += [{"kind": "flow", "id": f.id, "name": f.name,
             "reason": _one_line(f.out_of_scope_reason) or "(no reason given)"}
            for f in sorted(model.flows, key=lambda f: f.id) if f.out_of_scope]
    return {"assumptions": [_one_line(a) for a in model.system.assumptions],
            "out_of_scope": out}


def _methodology(register: RiskRegister) -> dict[str, Any]:
    analysis, policy = register.analysis, register.policy
    catalog = analysis.catalog
    threats = list(catalog.threats.values())
    counts = catalog.counts()
    vectors = Counter(a.attack_vector for a in register)
    specific = sum(1 for f in analysis.findings if not f.baseline)
    return {
        "version": __version__,
        "catalog": [
            ("Component types", counts["component_types"]),
            ("Protocols", counts["protocols"]),
            ("Specific threats (with conditions)", sum(1 for t in threats if not t.baseline)),
            ("Baseline STRIDE-per-element threats", sum(1 for t in threats if t.baseline)),
            ("Controls", counts["controls"]),
            ("Attributes", counts["attributes"]),
            ("Regulatory frameworks", counts["frameworks"]),
        ],
        "user_catalogs": max(0, len(catalog.sources) - 1),
        "findings": len(analysis.findings), "specific": specific,
        "baseline": len(analysis.findings) - specific,
        "vectors": [(v, vectors[v]) for v in ("internet", "adjacent", "proximity", "local",
                                             "physical") if vectors[v]],
        "policy": f"{policy.id} {policy.version}",
        "standards": _STANDARDS,
    }


def _views(views: Sequence[View], svgs: Mapping[str, str] | None, html: bool
           ) -> list[dict[str, Any]]:
    out = []
    for number, v in enumerate(views, start=1):
        svg = None
        if html:
            raw = svgs.get(v.id) if svgs is not None else _render_svg(v.dot)
            svg = Markup(_svg_inline(raw)) if raw else None  # noqa: S704 - Graphviz output
        out.append({"number": number, "id": v.id, "title": v.title,
                    "description": _one_line(v.description), "collapsed": v.collapsed,
                    "svg": svg, "dot_file": f"views/{v.id}.dot"})
    return out


def _threats(register: RiskRegister) -> dict[str, Any]:
    findings = register.analysis.findings
    # One pass, keyed by catalog threat and element kind; everything else is derived.
    per = Counter((f.threat.id, f.subject.kind) for f in findings)
    threats = register.analysis.catalog.threats
    spec: Counter[Stride] = Counter()
    total: Counter[Stride] = Counter()
    kinds: Counter[tuple[str, bool]] = Counter()
    ai: Counter[str] = Counter()
    privacy: Counter[str] = Counter()
    by_threat: Counter[str] = Counter()
    for (tid, kind), n in per.items():
        t = threats[tid]
        total[t.stride] += n
        kinds[(kind.value, t.baseline)] += n
        by_threat[tid] += n
        if not t.baseline:
            spec[t.stride] += n
        if t.ai_category:
            ai[t.ai_category] += n
        if t.privacy_category:
            privacy[t.privacy_category] += n
    by_stride = [(s.letter, _STRIDE_LABEL[s], spec[s], total[s] - spec[s], total[s])
                 for s in Stride]
    by_kind = [(k.replace("_", " "), kinds[(k, False)], kinds[(k, True)],
                kinds[(k, False)] + kinds[(k, True)])
               for k in sorted({k for k, _ in kinds})]
    top = sorted(((tid, n) for tid, n in by_threat.items() if not threats[tid].baseline),
                 key=lambda x: (-x[1], x[0]))[:15]
    return {
        "total": len(findings), "specific": sum(spec.values()),
        "baseline": len(findings) - sum(spec.values()),
        "by_stride": by_stride, "by_kind": by_kind,
        "ai": sorted(ai.items()), "ai_total": sum(ai.values()),
        "privacy": sorted(privacy.items()), "privacy_total": sum(privacy.values()),
        "top_threats": [(tid, threats[tid].title, n) for tid, n in top],
        "distinct_threats": len(by_threat),
    }


def _policy(register: RiskRegister) -> dict[str, Any]:
    policy = register.policy
    scales = []
    for name in SCALE_NAMES:
        scale = policy.scale(name)
        scales.append({
            "key": name, "name": scale.name, "description": _one_line(scale.description),
            "levels": [{"rank": lv.rank, "id": lv.id, "name": lv.name,
                        "description": _one_line(lv.description),
                        "colour": getattr(lv, "colour", ""),
                        "fg": _text_on(lv.colour) if isinstance(lv, RiskLevel) else ""}
                       for lv in policy.levels(name)]})
    matrices = []
    exploit = list(reversed(policy.levels("exploitability")))
    for dimension, impact in DIMENSIONS.items():
        matrix = getattr(policy.matrices, dimension)
        columns = policy.levels(impact)
        rows = []
        for e in exploit:
            cells = []
            for s in columns:
                c = policy.risk(e.id, s.id, dimension)
                cells.append({**_level(c.level), "acceptability": c.acceptability.value,
                              "control": "" if c.controlled is None else
                              ("controlled" if c.controlled else "uncontrolled")})
            rows.append({"label": f"{e.name} ({e.rank})", "cells": cells})
        matrices.append({"dimension": dimension, "impact": policy.scale(impact).name,
                         "description": _one_line(matrix.description),
                         "columns": [f"{s.name} ({s.rank})" for s in columns], "rows": rows})
    paragraphs = [_one_line(p) for p in re.split(r"\n\s*\n", policy.rationale.strip()) if
                  p.strip()]
    return {"id": policy.id, "title": policy.title, "version": policy.version,
            "owner": policy.owner, "rationale": paragraphs, "scales": scales,
            "matrices": matrices}


def _risk_summary(register: RiskRegister) -> dict[str, Any]:
    policy = register.policy
    levels = policy.levels("risk")
    pre: Counter[str] = Counter()
    post: Counter[str] = Counter()
    acc_pre: Counter[str] = Counter()
    acc_post: Counter[str] = Counter()
    cells: Counter[tuple[str, bool, str, str]] = Counter()
    uncontrolled = 0
    for a in register:  # one pass: tens of thousands of findings in a large fleet
        risk, residual = a.risk, a.residual
        pre[risk.level.id] += 1
        post[residual.level.id] += 1
        acc_pre[risk.acceptability] += 1
        acc_post[residual.acceptability] += 1
        cells[(a.dimension, False, a.exploitability.level, a.impact.level)] += 1
        cells[(a.dimension, True, a.exploitability_post.level, a.impact_post.level)] += 1
        if residual.controlled is False:
            uncontrolled += 1
    by_level = [{**_level(lv), "pre": pre[lv.id], "post": post[lv.id]}  # type: ignore[arg-type]
                for lv in reversed(levels)]
    acceptability = [{"value": v, "colour": c, "pre": acc_pre[Acceptability(v)],
                      "post": acc_post[Acceptability(v)]}
                     for v, c in _ACCEPTABILITY_COLOURS.items()]
    dims: Counter[str] = Counter()
    for (d, after, _, _), n in cells.items():
        if not after:
            dims[d] += n
    grids = []
    exploit = list(reversed(policy.levels("exploitability")))
    for dimension, impact in DIMENSIONS.items():
        columns = policy.levels(impact)
        for when, after in (("before controls", False), ("after controls", True)):
            rows = []
            for e in exploit:
                rows.append({"label": f"{e.name} ({e.rank})", "cells": [
                    {**_level(policy.risk(e.id, s.id, dimension).level),
                     "count": cells[(dimension, after, e.id, s.id)]} for s in columns]})
            grids.append({"dimension": dimension, "when": when, "total": dims[dimension],
                          "columns": [f"{s.name} ({s.rank})" for s in columns], "rows": rows})
    return {"by_level": by_level, "acceptability": acceptability, "grids": grids,
            "dimensions": [(d, dims[d]) for d in DIMENSIONS],
            "uncontrolled": uncontrolled, "total": len(register)}


def _finding_row(a: Assessment) -> dict[str, Any]:
    return {"id": a.id, "title": a.finding.title, "stride": a.finding.stride.letter,
            "dimension": a.dimension, "risk": _level(a.risk.level),
            "residual": _level(a.residual.level),
            "acceptability": a.residual.acceptability.value, "status": a.status}


def _elements(register: RiskRegister) -> dict[str, Any]:
    groups: dict[str, list[Assessment]] = {}
    unacceptable: Counter[str] = Counter()
    for a in register:  # register order: highest residual risk first
        eid = a.finding.subject.id
        groups.setdefault(eid, []).append(a)
        if a.residual.acceptability is Acceptability.unacceptable:
            unacceptable[eid] += 1
    ordered = sorted(groups.items(), key=lambda item: (
        -item[1][0].residual.rank, -unacceptable[item[0]], -len(item[1]), item[0]))
    rows = []
    for eid, items in ordered[:TOP_ELEMENTS]:
        first = items[0].finding
        statuses = Counter(a.status for a in items)
        rows.append({
            "id": eid, "name": first.element_name, "kind": first.element_kind.value.replace(
                "_", " "), "type": first.element_type, "findings": len(items),
            "unacceptable": unacceptable[eid], "worst": _level(items[0].residual.level),
            "open": statuses["open"] + statuses["in_progress"]})
    rest = ordered[TOP_ELEMENTS:]
    details = []
    for eid, items in ordered[:DETAIL_ELEMENTS]:
        first = items[0].finding
        details.append({"id": eid, "name": first.element_name,
                        "kind": first.element_kind.value.replace("_", " "),
                        "findings": [_finding_row(a) for a in items[:DETAIL_FINDINGS]],
                        "more": len(items) - min(len(items), DETAIL_FINDINGS)})
    return {"rows": rows, "count": len(ordered), "rest": len(rest),
            "rest_findings": sum(len(items) for _, items in rest), "details": details,
            "detail_count": len(details)}


def _traceability(register: RiskRegister) -> dict[str, Any]:
    catalog = register.analysis.catalog
    model = register.analysis.model
    threats: dict[str, set[str]] = {}
    findings: Counter[str] = Counter()
    # Findings of one threat share their control lists: count the combinations first.
    combos = Counter((a.finding.threat.id, a.counted_controls, a.planned_controls,
                      a.suggested_controls) for a in register)
    for (tid, counted, planned, suggested), n in combos.items():
        for cid in (*counted, *planned, *suggested):
            threats.setdefault(cid, set()).add(tid)
            findings[cid] += n
    links: dict[str, dict[str, set[str]]] = {}
    for a in register:
        if a.decision is None:
            continue
        d = a.decision.decision
        if not (d.hazard_ids or d.verification_ids or d.requirement_ids):
            continue
        for cid in (*a.counted_controls, *a.planned_controls):
            entry = links.setdefault(cid, {"hazards": set(), "verification": set(),
                                           "requirements": set()})
            entry["hazards"].update(d.hazard_ids)
            entry["verification"].update(d.verification_ids)
            entry["requirements"].update(d.requirement_ids)
    status: dict[str, str] = {}
    rank = {"planned": 0, "implemented": 1, "verified": 2}
    for ac in model.controls:
        known = status.get(ac.control)
        if known is None or rank[ac.status.value] > rank[known]:
            status[ac.control] = ac.status.value
    requirements = requirements_by_control(catalog, threats)
    order = {"verified": 0, "implemented": 1, "planned": 2, "suggested": 3}
    empty: dict[str, set[str]] = {"hazards": set(), "verification": set(),
                                  "requirements": set()}
    rows = []
    for cid in sorted(threats, key=lambda c: (order[status.get(c, "suggested")], -findings[c],
                                              c)):
        control, link = catalog.controls.get(cid), links.get(cid, empty)
        verification = [control.verification] if control and control.verification else []
        verification += sorted(link["verification"])
        rows.append({
            "id": cid, "title": control.title if control else "(not in the catalog)",
            "status": status.get(cid, "suggested"),
            "fda": control.fda_category.value.replace("_", " ") if control else "",
            "threats": _ids(sorted(threats[cid])), "findings": findings[cid],
            "requirements": _ids(sorted({*requirements.get(cid, []), *link["requirements"]})),
            "verification": "; ".join(verification), "hazards": _ids(sorted(link["hazards"]))})
    applied = [r for r in rows if r["status"] != "suggested"]
    suggested = [r for r in rows if r["status"] == "suggested"]
    return {"applied": applied, "suggested": suggested[:TOP_ROWS],
            "suggested_rest": max(0, len(suggested) - TOP_ROWS),
            "suggested_count": len(suggested)}


def _unresolved(unacceptable: list[Assessment]) -> list[Assessment]:
    """Unacceptable residual risks without a closing, justified decision (as the gate sees
    them: :func:`medthreat.lifecycle.check` reports exactly these)."""
    out = []
    for a in unacceptable:
        d = a.decision
        if d is None or not d.status.closes or not d.decision.justified:
            out.append(a)
    return out


def _decision_issues(register: RiskRegister) -> list[Any]:
    """Problems of the decisions themselves: missing justifications and orphans."""
    if register.decisions is None:
        return []
    return check(register.decisions, (a.id for a in register))


def _residual(register: RiskRegister, unacceptable: list[Assessment],
              open_risks: list[Assessment]) -> dict[str, Any]:
    unresolved = {a.id for a in open_risks}
    justified = [a for a in unacceptable if a.id not in unresolved]
    acceptability = Counter(a.residual.acceptability for a in register)
    review = acceptability[Acceptability.review]
    acceptable = acceptability[Acceptability.acceptable]
    safety_unacceptable = sum(1 for a in unacceptable if a.dimension == "safety")
    uncontrolled = sum(1 for a in register if a.residual.controlled is False)
    policy = register.policy
    n = len(register)
    statement = [
        f"Of {_plural(n, 'finding')} rated under policy {policy.id} {policy.version}, "
        f"{acceptable} have an acceptable residual risk, {review} need review and "
        f"{len(unacceptable)} remain unacceptable after the controls the design implements "
        "or has verified (planned controls are not counted)."]
    if not unacceptable:
        statement.append("No residual risk is unacceptable under the policy's acceptance "
                         "criteria.")
    else:
        statement.append(
            f"{safety_unacceptable} of the unacceptable residual risks concern patient harm; "
            f"{uncontrolled} residual risk{'s are' if uncontrolled != 1 else ' is'} "
            "uncontrolled in the sense of the FDA postmarket guidance.")
        if justified:
            statement.append(
                f"{_plural(len(justified), 'unacceptable residual risk')} "
                f"{'is' if len(justified) == 1 else 'are'} closed by a decision with a written "
                "justification; the manufacturer's benefit-risk reasoning for each is quoted "
                "in the table below.")
        if unresolved:
            statement.append(
                f"{_plural(len(unresolved), 'unacceptable residual risk')} "
                f"{'has' if len(unresolved) == 1 else 'have'} no justified decision and "
                f"{'is' if len(unresolved) == 1 else 'are'} open: the overall residual risk "
                "cannot be declared acceptable until each is reduced by controls or decided "
                "with a justification.")
        else:
            statement.append("Every unacceptable residual risk has a justified decision.")
    rows = []
    for a in unacceptable[:TOP_ROWS]:
        d = a.decision
        just = _one_line(d.decision.justification) if d and d.decision.justified else ""
        rows.append({**_finding_row(a), "element": a.finding.element_id,
                     "justification": just,
                     "decision": "open" if a.id in unresolved else
                     f"{a.status} ({d.key})" if d else "open"})
    return {"statement": statement, "rows": rows, "count": len(unacceptable),
            "rest": max(0, len(unacceptable) - TOP_ROWS), "justified": len(justified),
            "unresolved": len(unresolved)}


def _safety_transfer(register: RiskRegister) -> dict[str, Any]:
    items = [a for a in register if a.safety_transfer]
    rows = []
    for a in items[:TOP_ROWS]:
        d = a.decision.decision if a.decision else None
        rows.append({**_finding_row(a), "element": a.finding.element_id,
                     "severity": a.impact.level,
                     "hazards": ", ".join(d.hazard_ids) if d and d.hazard_ids else "",
                     "situations": ", ".join(d.hazardous_situation_ids) if d else "",
                     "harms": ", ".join(d.harm_ids) if d else ""})
    unlinked = sum(1 for a in items
                   if not (a.decision and a.decision.decision.hazard_ids))
    return {"rows": rows, "count": len(items), "rest": max(0, len(items) - TOP_ROWS),
            "unlinked": unlinked}


def _coverage(register: RiskRegister) -> dict[str, Any]:
    cov = coverage(register.analysis.model, register.analysis.catalog)
    summary = [(fw, c["covered"], c["planned"], c["missing"]) for fw, c in cov.summary().items()]
    frameworks: dict[str, list[dict[str, str]]] = {}
    for row in cov:
        by = [*row.controls, *(f"{c} (planned)" for c in row.planned),
              *(f"document: {d}" for d in row.documents)]
        missing = list(row.missing)
        if row.suggested:
            missing.append("candidate controls: " + ", ".join(row.suggested))
        frameworks.setdefault(row.framework, []).append({
            "id": row.requirement, "title": row.title, "status": row.status,
            "by": "; ".join(by), "missing": "; ".join(missing)})
    return {"summary": summary, "frameworks": list(frameworks.items()), "total": len(cov),
            "covered": sum(r[1] for r in summary), "planned": sum(r[2] for r in summary),
            "missing": sum(r[3] for r in summary)}


def _labeling(register: RiskRegister) -> dict[str, Any]:
    items = labeling_items(register)
    topics = []
    for topic, (asks, source) in TOPICS.items():
        mine = [i for i in items if i.topic == topic]
        shown = [i for i in mine if i.gap] + [i for i in mine if not i.gap]
        shown = sorted(shown[:LABELING_PER_TOPIC], key=mine.index)
        topics.append({"topic": topic, "asks": asks, "source": source, "entries": shown,
                       "rest": len(mine) - len(shown), "gaps": sum(1 for i in mine if i.gap)})
    return {"topics": topics, "count": len(items), "gaps": [i for i in items if i.gap]}


def _open_items(register: RiskRegister, open_risks: list[Assessment], issues: list[Any],
                labeling: dict[str, Any]) -> dict[str, Any]:
    # Grouped by element, most severe first (the register order), so that the list says where
    # the work is; section 10 lists the findings one by one.
    groups: dict[str, list[Assessment]] = {}
    for a in open_risks:
        groups.setdefault(a.finding.subject.id, []).append(a)
    risks = []
    for eid, items in list(groups.items())[:TOP_ROWS]:
        states = Counter("no decision" if a.decision is None else
                         f"still {a.decision.status.value.replace('_', ' ')}"
                         if not a.decision.status.closes else
                         f"{a.decision.status.value} without justification" for a in items)
        risks.append({"element": eid, "count": len(items), "worst": _level(items[0].residual.level),
                      "threats": _ids([a.finding.threat.id for a in items]),
                      "state": ", ".join(f"{n} {s}" for s, n in sorted(states.items()))})
    planned = sorted(
        {(ac.control, ", ".join(ac.targets) or "whole system", ac.evidence)
         for ac in register.analysis.model.controls if ac.status.value == "planned"})
    return {
        "risks": risks, "risks_count": len(open_risks), "risks_elements": len(groups),
        "risks_rest": max(0, len(groups) - TOP_ROWS),
        "planned": [{"control": c, "targets": t, "evidence": e} for c, t, e in planned],
        "decisions": [{"key": i.key or i.finding_id, "code": i.code.value,
                       "message": i.message} for i in issues[:TOP_ROWS]],
        "decisions_count": len(issues),
        "labeling": [{"topic": i.topic, "item": i.item, "detail": i.detail}
                     for i in labeling["gaps"]],
        "total": len(open_risks) + len(planned) + len(issues) + len(labeling["gaps"]),
    }


def _toc() -> list[dict[str, Any]]:
    """Numbered sections with their HTML anchor and the slug a Markdown viewer gives them."""
    out = []
    for number, (anchor, title) in enumerate(SECTIONS, start=1):
        slug = re.sub(r"[^a-z0-9 -]", "", f"{number}. {title}".lower()).replace(" ", "-")
        out.append({"number": number, "anchor": f"sec-{anchor}", "title": title, "slug": slug})
    return out


def _maintenance(register: RiskRegister) -> dict[str, Any]:
    """Review cadence (from the model, never from today's date: the report stays the same
    for the same inputs) and the first incident response playbooks."""
    from ..graph import critical_assets, patient_devices
    from ..lifecycle.incident import incident_playbooks

    model, catalog = register.analysis.model, register.analysis.catalog
    system = model.system
    due = None
    if system.last_review is not None:
        try:
            due = system.last_review.replace(year=system.last_review.year + 1)
        except ValueError:  # 29 February
            due = system.last_review.replace(year=system.last_review.year + 1, day=28)
    critical = {c.id for c in model.components if not c.out_of_scope} & (
        set(critical_assets(model, catalog)) | patient_devices(model, catalog))
    playbooks = incident_playbooks(model, catalog, limit=PLAYBOOKS_SHOWN)
    phases = ("detect", "contain", "eradicate", "recover", "practise")
    return {
        "last_review": system.last_review.isoformat() if system.last_review else "",
        "reviewed_by": system.reviewed_by, "due": due.isoformat() if due else "",
        "critical": len(critical), "shown": len(playbooks),
        "playbooks": [{"name": p.name, "component": p.component,
                       "reasons": ", ".join(p.reasons).replace("_", " "),
                       "phases": [(phase, list(getattr(p, phase))) for phase in phases]}
                      for p in playbooks],
    }


def _context(register: RiskRegister, views: Sequence[View]) -> dict[str, Any]:
    """Everything both templates show, computed once (views without their SVG)."""
    issues = _decision_issues(register)
    unacceptable = register.unacceptable()
    open_risks = _unresolved(unacceptable)
    labeling = _labeling(register)
    system = _system(register)
    title = f"Cybersecurity risk management report: {system['name']}" + (
        f" {system['version']}" if system["version"] else "")
    return {
        "title": title, "toc": _toc(), "system": system,
        "scope": _assumptions(register), "method": _methodology(register),
        "views": _views(views, None, False), "threats": _threats(register),
        "policy": _policy(register), "risk": _risk_summary(register),
        "elements": _elements(register), "trace": _traceability(register),
        "residual": _residual(register, unacceptable, open_risks),
        "transfer": _safety_transfer(register),
        "coverage": _coverage(register), "labeling": labeling,
        "open": _open_items(register, open_risks, issues, labeling),
        "maintenance": _maintenance(register),
        "limits": {"top_elements": TOP_ELEMENTS, "detail_elements": DETAIL_ELEMENTS,
                   "detail_findings": DETAIL_FINDINGS, "top_rows": TOP_ROWS,
                   "labeling": LABELING_PER_TOPIC},
        "acceptability_colours": _ACCEPTABILITY_COLOURS,
    }


# -- rendering -----------------------------------------------------------------------------


def _finalize(value: Any) -> Any:
    """Every text a template shows loses its control characters (Graphviz SVG is already
    clean)."""
    return printable(value) if type(value) is str else value


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("medthreat.export", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        finalize=_finalize,
    )
    env.filters["md"] = lambda value: markdown_cell(str(value))
    env.filters["plural"] = _plural
    return env


_ENV: jinja2.Environment | None = None


def _env() -> jinja2.Environment:
    global _ENV
    if _ENV is None:
        _ENV = _environment()
    return _ENV


def _markdown(context: dict[str, Any]) -> str:
    text = _env().get_template("report.md.j2").render(context)
    return re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"


def _html(context: dict[str, Any], views: Sequence[View], svgs: Mapping[str, str] | None
          ) -> str:
    context = {**context, "views": _views(views, svgs, True)}
    text = _env().get_template("report.html.j2").render(context)
    return re.sub(r"\n\s*\n", "\n", text).rstrip("\n") + "\n"


def report_markdown(register: RiskRegister, views: Sequence[View] = ()) -> str:
    """The report as Markdown; each view is referenced by its DOT file ``views/<id>.dot``.

    Deterministic: the same register and views give the same text.
    """
    return _markdown(_context(register, views))


def report_html(register: RiskRegister, views: Sequence[View] = (),
                svgs: Mapping[str, str] | None = None) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG, no external resource).

    ``svgs`` maps view ids to SVG text already rendered; without it each view is rendered with
    Graphviz where ``dot`` is installed. A view without SVG is shown as a note naming its DOT
    file ``views/<id>.dot``. Print CSS lays the page out on A4 with page breaks per section.
    """
    return _html(_context(register, views), views, svgs)


#: Environment variable naming the browser executable that prints the PDF.
CHROMIUM_ENV = "MEDTHREAT_CHROMIUM"


def pdf_renderer() -> str | None:
    """The Chromium executable that prints the PDF, or None when there is none.

    ``$MEDTHREAT_CHROMIUM`` names it when set (and must then be executable); otherwise
    ``/usr/bin/chromium``, else ``chromium``, ``chromium-browser`` or ``google-chrome`` on PATH.
    """
    chosen = os.environ.get(CHROMIUM_ENV)
    if chosen:
        return chosen if os.path.isfile(chosen) and os.access(chosen, os.X_OK) else None
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _print_pdf(html_path: Path, pdf_path: Path, timeout: float) -> str | None:
    """Print ``html_path`` to ``pdf_path`` with headless Chromium; an error text or None."""
    browser = pdf_renderer()
    if browser is None:
        return ("no PDF renderer found (install Chromium, e.g. apt-get install chromium, or "
                f"set {CHROMIUM_ENV} to its executable)")
    with tempfile.TemporaryDirectory(prefix="medthreat-chromium-") as profile:
        tmp_pdf = Path(profile) / "report.pdf"
        args = [browser, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--no-first-run",
                "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}/profile", "--no-pdf-header-footer",
                f"--print-to-pdf={tmp_pdf}", html_path.resolve().as_uri()]
        try:
            done = subprocess.run(args, capture_output=True, timeout=timeout, check=False)  # noqa: S603
        except subprocess.TimeoutExpired:
            return f"Chromium did not finish printing within {timeout:.0f} s"
        except OSError as exc:
            return f"Chromium could not be started: {exc}"
        if not tmp_pdf.is_file() or tmp_pdf.stat().st_size == 0:
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            return f"Chromium exited with {done.returncode} without a PDF: {' / '.join(tail)}"
        atomic_write(pdf_path, tmp_pdf.read_bytes())
    return None


def write_report(register: RiskRegister, out_dir: str | os.PathLike[str],
                 views: Sequence[View] = (), *, pdf: bool = True,
                 svgs: Mapping[str, str] | None = None, timeout: float = 120.0) -> list[Path]:
    """Write ``report.md``, ``report.html`` and (with ``pdf`` and Chromium) ``report.pdf``.

    Files are written atomically into ``out_dir``; the paths written are returned. The report's
    data is computed once for both formats. Without a PDF renderer, or when printing fails or
    exceeds ``timeout`` seconds, the PDF is left out (an older ``report.pdf`` there is removed,
    so it cannot contradict the new report) with a :class:`PdfUnavailableWarning` saying why;
    the function never fails for the PDF. ``svgs`` is passed to :func:`report_html`.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    md_path, html_path, pdf_path = out / "report.md", out / "report.html", out / "report.pdf"
    context = _context(register, views)
    atomic_write(md_path, _markdown(context))
    written.append(md_path)
    atomic_write(html_path, _html(context, views, svgs))
    written.append(html_path)
    if pdf:
        problem = _print_pdf(html_path, pdf_path, timeout)
        if problem is None:
            written.append(pdf_path)
        else:
            with contextlib.suppress(FileNotFoundError):
                pdf_path.unlink()  # a PDF of an earlier run would contradict the new report
            warnings.warn(f"report.pdf not written: {problem}", PdfUnavailableWarning,
                          stacklevel=2)
    return written
