"""The notebook explorer, driven through its widgets the way a user drives it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html import escape
from pathlib import Path

import pytest
from conftest import in_ci, require_tool

try:
    import ipywidgets  # noqa: F401
except ImportError:  # the notebook extra; `make test` installs it, so CI must have it
    if in_ci():
        raise
    pytest.skip("ipywidgets (the notebook extra) is not installed", allow_module_level=True)

import medthreat as mt
from medthreat.export.diagram import dfd_dot, dfd_svg
from medthreat.lifecycle import save_decisions
from medthreat.notebook import Explorer, explore

SVG = "{http://www.w3.org/2000/svg}"
WILDCARD = "MT-FLOW-008@*"


@pytest.fixture(scope="module")
def analysis(reference_model_path: Path) -> mt.Analysis:
    return mt.analyze(mt.load_model(reference_model_path))


@pytest.fixture(scope="module")
def kept_id(analysis: mt.Analysis) -> str:
    """A finding that already has a decision in the file before the explorer opens."""
    return mt.assess(analysis).assessments[1].id


@pytest.fixture(scope="module")
def decisions(kept_id: str) -> mt.Decisions:
    return mt.Decisions.model_validate({"decisions": {
        kept_id: {"status": "in_progress", "owner": "A. Analyst", "ticket": "SEC-1",
                  "hazard_ids": ["HAZ-7"]},
        WILDCARD: {"status": "transferred", "justification": "Hospital network operations "
                   "(SRA-2)."},
    }})


@pytest.fixture(scope="module")
def register(analysis: mt.Analysis, decisions: mt.Decisions) -> mt.RiskRegister:
    return mt.assess(analysis, decisions=decisions)


@pytest.fixture
def decisions_file(tmp_path: Path, decisions: mt.Decisions) -> Path:
    path = tmp_path / "decisions.yaml"
    save_decisions(decisions, path)
    return path


@pytest.fixture
def explorer(register: mt.RiskRegister, decisions_file: Path) -> Explorer:
    return explore(register, decisions_path=decisions_file)


def _expected(register: mt.RiskRegister, *, stride: str = "", residual: str = "",
              element: str = "", status: str = "", search: str = "",
              baseline: bool = True) -> list[str]:
    """What the filters should let through, worked out from the register itself."""
    out = []
    for a in register:
        f = a.finding
        text = " ".join((f.id, f.title, f.element_name, f.description)).lower()
        if ((not stride or f.stride.value == stride)
                and (not residual or a.residual.level.id == residual)
                and (not element or f.element_id == element)
                and (not status or a.status == status)
                and (not search or search.lower() in text)
                and (baseline or not f.baseline)):
            out.append(a.id)
    return out


def test_opens_on_every_finding_highest_residual_first(explorer: Explorer,
                                                       register: mt.RiskRegister) -> None:
    assert explorer.visible_ids == [a.id for a in register]
    ranks = [register.get(i).residual.rank for i in explorer.visible_ids]
    assert ranks == sorted(ranks, reverse=True)
    assert explorer.selected is not None and explorer.selected.id == register.assessments[0].id
    assert f"<b>{len(register)}</b> of {len(register)} findings" in explorer.count_label.value
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_filters_narrow_to_exactly_the_matching_findings(explorer: Explorer,
                                                         register: mt.RiskRegister) -> None:
    explorer.stride_filter.value = "tampering"
    assert explorer.visible_ids == _expected(register, stride="tampering")
    explorer.residual_filter.value = "very_high"
    want = _expected(register, stride="tampering", residual="very_high")
    assert want and explorer.visible_ids == want
    element = register.get(want[-1]).finding.element_id
    explorer.element_filter.value = element
    want = _expected(register, stride="tampering", residual="very_high", element=element)
    assert want and explorer.visible_ids == want
    assert explorer.filters["element"] == element

    explorer.clear_button.click()
    assert explorer.visible_ids == [a.id for a in register]
    explorer.status_filter.value = "transferred"
    want = _expected(register, status="transferred")
    assert want and all(i.startswith("MT-FLOW-008@") for i in want)
    assert explorer.visible_ids == want

    explorer.clear_button.click()
    explorer.search_box.value = "Model"
    explorer.baseline_filter.value = False
    want = _expected(register, search="model", baseline=False)
    assert want and explorer.visible_ids == want
    assert all(not register.get(i).finding.baseline for i in explorer.visible_ids)
    explorer.search_box.value = "no such text anywhere"
    assert explorer.visible_ids == [] and explorer.selected is None
    assert "No finding matches" in explorer.detail_pane.value
    assert explorer.save_button.disabled


def test_selecting_shows_why_factors_and_controls(explorer: Explorer,
                                                  register: mt.RiskRegister) -> None:
    a = next(x for x in register if x.counted_controls and not x.finding.baseline)
    explorer.table.value = a.id
    assert explorer.selected is not None and explorer.selected.id == a.id
    detail = explorer.detail_pane.value
    assert escape(a.finding.title) in detail
    for why in a.finding.why:
        assert escape(why) in detail
    for score in (a.exploitability, a.impact, a.exploitability_post, a.impact_post):
        for factor in score.factors:
            assert escape(factor.reason) in detail
    for control in a.finding.controls:
        assert escape(control) in detail
    assert a.residual.level.name in detail
    # The matrices outline the selected finding's cells and count what the filters show.
    assert "mt-mark" in explorer.matrix_pane.value
    assert f"{len(register)} findings shown" in explorer.matrix_pane.value
    # The editor shows the decision that applies, here through the wildcard.
    flow = next(x for x in register if x.id.startswith("MT-FLOW-008@"))
    explorer.table.value = flow.id
    assert explorer.status_input.value == "transferred"
    assert explorer.justification_input.value.startswith("Hospital network")
    assert escape(WILDCARD) in explorer.editor_note.value


def test_save_writes_the_edit_and_keeps_other_decisions(explorer: Explorer,
                                                        decisions_file: Path,
                                                        kept_id: str) -> None:
    target = next(i for i in explorer.visible_ids
                  if i != kept_id and not i.startswith("MT-FLOW-008@")
                  and explorer._by_id[i].residual.acceptability.value == "unacceptable")
    explorer.table.value = target
    explorer.status_input.value = "accepted"
    explorer.justification_input.value = "Benefit outweighs the risk; reviewed in RM-14."
    explorer.owner_input.value = "J. Doe"
    explorer.date_input.value = "2026-11-30"
    explorer.ticket_input.value = "SEC-42"
    explorer.save_button.click()
    assert explorer.errors == []
    saved = mt.load_decisions(decisions_file)
    d = saved[target]
    assert (d.status.value, d.justification, d.owner, d.date.isoformat(), d.ticket) == (
        "accepted", "Benefit outweighs the risk; reviewed in RM-14.", "J. Doe", "2026-11-30",
        "SEC-42")
    kept = saved[kept_id]
    assert (kept.status.value, kept.owner, kept.ticket, kept.hazard_ids) == (
        "in_progress", "A. Analyst", "SEC-1", ["HAZ-7"])
    assert saved[WILDCARD].status.value == "transferred"
    # The save is on the decisions file's hash-chained audit log, as coming from the explorer.
    from medthreat.lifecycle import audit_path_for, verify_log
    from medthreat.lifecycle.audit import history

    log = audit_path_for(decisions_file)
    assert verify_log(log).ok
    last = history(log)[-1]
    assert last.source == "notebook:explorer"
    assert (target, "status", "accepted") in {(c["key"], c["field"], c["new"])
                                              for c in last.to_data()["changes"]}
    # The register was re-assessed with the saved decision.
    assert explorer.selected.id == target and explorer.selected.status == "accepted"
    explorer.status_filter.value = "accepted"
    assert explorer.visible_ids == [target]
    assert "Saved" in explorer.message.value

    # Editing a decided finding changes only what the editor sets; other fields stay.
    explorer.clear_button.click()
    explorer.select(kept_id)
    assert explorer.owner_input.value == "A. Analyst"
    explorer.edit(owner="B. Manager")
    assert explorer.save() is True
    again = mt.load_decisions(decisions_file)[kept_id]
    assert (again.owner, again.status.value, again.hazard_ids) == (
        "B. Manager", "in_progress", ["HAZ-7"])
    assert mt.load_decisions(decisions_file)[target] == d


@pytest.mark.parametrize("edit, needle", [
    ({"status": "accepted", "justification": "  "}, "needs a justification"),
    ({"status": "mitigated", "justification": ""}, "only be closed with a written reason"),
    ({"status": "in_progress", "date": "2026-13-01"}, "not a calendar date"),
])
def test_invalid_edit_shows_an_error_and_writes_nothing(explorer: Explorer,
                                                        decisions_file: Path,
                                                        edit: dict[str, str],
                                                        needle: str) -> None:
    target = next(a.id for a in explorer.register
                  if a.decision is None and a.residual.acceptability.value == "unacceptable")
    before = decisions_file.read_bytes()
    explorer.select(target)
    for name, value in edit.items():
        explorer._edit_widgets()[name].value = value
    explorer.save_button.click()
    assert needle in explorer.error
    assert "mt-error" in explorer.message.value and escape(needle) in explorer.message.value
    assert decisions_file.read_bytes() == before
    assert explorer.register.get(target).decision is None


def test_new_file_and_read_only(register: mt.RiskRegister, tmp_path: Path) -> None:
    read_only = explore(register)
    assert read_only.save_button.disabled
    assert read_only.save() is False and "No decisions file" in read_only.error

    path = tmp_path / "new" / "decisions.yaml"
    path.parent.mkdir()
    fresh = explore(register, decisions_path=path)
    fresh.edit(status="accepted")
    assert fresh.save() is False and not path.exists()
    first = fresh.selected.id
    fresh.edit(justification="Documented in RM-1.")
    assert fresh.save() is True
    saved = mt.load_decisions(path)
    # The register's decisions are the base when the file does not exist yet.
    assert saved[first].status.value == "accepted"
    assert set(saved.decisions) == {first, *register.decisions.decisions}


def test_set_filters_and_select(explorer: Explorer, register: mt.RiskRegister) -> None:
    explorer.set_filters(stride="spoofing", baseline=False)
    assert explorer.visible_ids == _expected(register, stride="spoofing", baseline=False)
    hidden = next(a.id for a in register if a.finding.stride.value != "spoofing")
    with pytest.raises(ValueError, match="hidden by the filters"):
        explorer.select(hidden)
    with pytest.raises(KeyError):
        explorer.select("MT-NOPE-001@nothing")
    with pytest.raises(TypeError):
        explorer.set_filters(colour="red")
    with pytest.raises(TypeError):
        explorer.edit(cvss="x")


def _node(svg_html: str, title: str, cls: str) -> ET.Element:
    svg = svg_html[svg_html.index("<svg"):svg_html.rindex("</svg>") + len("</svg>")]
    root = ET.fromstring(svg)
    for g in root.iter(f"{SVG}g"):
        t = g.find(f"{SVG}title")
        if g.get("class") == cls and t is not None and t.text == title:
            return g
    raise AssertionError(f"no {cls} titled {title!r} in the diagram")


def _strokes(g: ET.Element) -> list[tuple[str | None, str | None]]:
    return [(e.get("stroke"), e.get("stroke-width")) for e in g.iter()
            if e.tag in (f"{SVG}polygon", f"{SVG}path", f"{SVG}ellipse")]


def test_diagram_highlights_the_selected_element(explorer: Explorer,
                                                 register: mt.RiskRegister) -> None:
    require_tool("dot")
    analysis = register.analysis
    plain = "<div>" + dfd_svg(dfd_dot(analysis.model, analysis)) + "</div>"
    component = next(a for a in register if a.finding.element_kind.value == "process")
    explorer.select(component.id)
    pane = explorer.diagram_pane.value
    eid = component.finding.element_id
    assert f"<title>{eid}</title>" in pane and escape(component.finding.element_name) in pane
    assert _strokes(_node(pane, eid, "node")) != _strokes(_node(plain, eid, "node"))
    other = next(c.id for c in analysis.model.components if c.id != eid)
    assert _strokes(_node(pane, other, "node")) == _strokes(_node(plain, other, "node"))

    pairs = [(f.source, f.target) for f in analysis.model.flows]
    flow = next(a for a in register if a.finding.source
                and pairs.count((a.finding.source, a.finding.target)) == 1)
    explorer.select(flow.id)
    title = f"{flow.finding.source}->{flow.finding.target}"
    pane = explorer.diagram_pane.value
    assert _strokes(_node(pane, title, "edge")) != _strokes(_node(plain, title, "edge"))


def test_panes_are_deterministic_and_work_without_dot(register: mt.RiskRegister,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    one, two = explore(register), explore(register)
    for x in (one, two):
        x.set_filters(baseline=False)
    chosen = one.visible_ids[3]
    for x in (one, two):
        x.select(chosen)
    for name in ("header", "detail_pane", "matrix_pane", "diagram_pane", "count_label"):
        assert getattr(one, name).value == getattr(two, name).value, name
    assert one.table.options == two.table.options

    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no Graphviz on the PATH
    blind = explore(register)
    assert "<svg" not in blind.diagram_pane.value
    assert "not installed" in blind.diagram_pane.value


def test_an_analysis_is_assessed_and_an_empty_register_is_calm() -> None:
    empty = explore(mt.analyze(mt.Model("Nothing yet")))
    assert empty.visible_ids == [] and empty.selected is None
    assert empty.save() is False and "Select a finding first" in empty.error
    assert "No finding matches" in empty.detail_pane.value


def test_hostile_names_are_escaped_in_the_explorer() -> None:
    m = mt.Model("<script>alert(1)</script>")
    home = m.boundary("Home", kind="home_network")
    app = m.component("mobile_app", "<img src=x onerror=alert(2)>", boundary=home, id="app")
    pump = m.component("insulin_pump", "Pump", boundary=home, functions=["therapy_delivery"])
    m.flow(app, pump, "ble", data=["therapy_command"])
    x = explore(mt.analyze(m))
    x.set_filters(element="app")
    assert x.visible_ids and x.selected.finding.element_id == "app"
    for pane in (x.header, x.detail_pane, x.matrix_pane, x.diagram_pane, x.editor_note,
                 x.table_header):
        assert "<script" not in pane.value.lower() and "<img" not in pane.value.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in x.header.value
    assert "&lt;img src=x onerror=alert(2)&gt;" in x.detail_pane.value


def test_saving_a_finding_out_of_the_filtered_list(explorer: Explorer,
                                                    decisions_file: Path) -> None:
    explorer.status_filter.value = "open"
    target = explorer.visible_ids[0]
    explorer.select(target)
    explorer.edit(status="accepted", justification="Reviewed in RM-3.")
    assert explorer.save() is True
    assert target not in explorer.visible_ids
    assert f"{target} no longer matches the filters" in explorer.message.value
    # The editor now shows the finding that took its place, not the saved one.
    assert explorer.selected is not None and explorer.selected.id == explorer.visible_ids[0]
    assert explorer.status_input.value == explorer.selected.status
    assert mt.load_decisions(decisions_file)[target].status.value == "accepted"


def test_a_broken_decisions_file_is_reported_not_raised(register: mt.RiskRegister,
                                                         tmp_path: Path) -> None:
    path = tmp_path / "decisions.yaml"
    path.write_text("schema_version: 1\ndecisions:\n  MT-DEV-001@monitor:\n    status: mitigate\n",
                    encoding="utf-8")
    before = path.read_bytes()
    x = explore(register, decisions_path=path)
    assert "mitigated" in x.error and "mt-error" in x.message.value
    x.edit(status="in_progress")
    assert x.save() is False and "cannot read" in x.error
    assert path.read_bytes() == before


def test_zoom_crops_around_the_selection_and_whole_shows_all(explorer: Explorer,
                                                             register: mt.RiskRegister) -> None:
    require_tool("dot")
    analysis = register.analysis
    a = next(x for x in register if x.finding.element_kind.value == "process")
    explorer.select(a.id)
    plain = dfd_svg(dfd_dot(analysis.model, analysis, highlight=a.finding.element_id))
    full = ET.fromstring(plain[plain.index("<svg"):]).get("viewBox")

    def view_box(pane: str) -> list[float]:
        svg = pane[pane.index("<svg"):pane.rindex("</svg>") + len("</svg>")]
        return [float(v) for v in ET.fromstring(svg).get("viewBox").split()]

    zoomed = view_box(explorer.diagram_pane.value)
    whole = [float(v) for v in full.split()]
    assert zoomed[2] < whole[2] and zoomed[3] <= whole[3]
    explorer.zoom_toggle.value = "whole"
    assert view_box(explorer.diagram_pane.value) == whole
