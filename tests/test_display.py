"""Rich display (``_repr_html_``) of models, analyses, findings, registers and assessments."""

from __future__ import annotations

import re
from collections import Counter
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import REFERENCE_MODEL as REFERENCE
from conftest import require_tool

import medthreat as mt
from medthreat import _display
from medthreat.risk.policy import DIMENSIONS

HOSTILE = "<script>alert('x')</script> & Co"


class _Text(HTMLParser):
    """Visible text of an HTML fragment (style blocks left out) and the matrix cells."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.cells: list[tuple[str, str]] = []  # (style, text) of risk matrix cells
        self._skip = 0
        self._matrix = 0
        self._cell: list[str] | None = None
        self._style = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("style", "svg"):
            self._skip += 1
        if tag == "table" and "mt-matrix" in (a.get("class") or ""):
            self._matrix += 1
        if tag == "td" and self._matrix:
            self._cell, self._style = [], a.get("style") or ""
        if tag in ("td", "th", "li", "div", "tr", "span", "b", "code"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "svg"):
            self._skip -= 1
        if tag == "table" and self._matrix:
            self._matrix -= 1
        if tag == "td" and self._cell is not None:
            self.cells.append((self._style, "".join(self._cell).strip()))
            self._cell = None
        if tag in ("td", "th", "li", "div", "span", "b", "code"):
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)
            if self._cell is not None:
                self._cell.append(data)

    @property
    def text(self) -> str:
        return " ".join("".join(self.parts).split())


def parse(fragment: str) -> _Text:
    p = _Text()
    p.feed(fragment)
    p.close()
    return p


def visible(fragment: str) -> str:
    return parse(fragment).text


@pytest.fixture(scope="module")
def reference(reference_model_path: Path) -> tuple[mt.Model, mt.Analysis, mt.RiskRegister]:
    model = mt.load_model(reference_model_path)
    analysis = mt.analyze(model)
    return model, analysis, mt.assess(analysis)


@pytest.fixture(scope="module")
def hostile() -> tuple[mt.Model, mt.Analysis, mt.RiskRegister]:
    m = mt.Model(HOSTILE, system={"version": "<u>v1</u>", "intended_use": "Use <i>only</i> & "
                                  "\"carefully\""})
    home = m.boundary("Home <iframe>", kind="home_network")
    cloud = m.boundary("Cloud", kind="cloud")
    app = m.component("mobile_app", "App <img src=x onerror=alert(1)>", boundary=home)
    pump = m.component("insulin_pump", "Pump \"&\" <b>", boundary=home,
                       functions=["therapy_delivery"])
    api = m.component("api_gateway", "Cloud API", boundary=cloud)
    m.flow(app, pump, "ble", data=["therapy_command"])
    m.flow(app, api, "https", data=["phi"])
    analysis = mt.analyze(m)
    decisions = mt.Decisions.model_validate({"decisions": {
        analysis.findings[0].id: {"status": "accepted", "justification": "<script>no</script>",
                                  "owner": "Eve <eve@example.com>"}}})
    return m, analysis, mt.assess(analysis, decisions=decisions)


def _reprs(model: mt.Model, analysis: mt.Analysis,
           register: mt.RiskRegister) -> dict[str, str]:
    return {
        "model": model._repr_html_(),
        "analysis": analysis._repr_html_(),
        "finding": analysis.findings[0]._repr_html_(),
        "register": register._repr_html_(),
        "assessment": register.assessments[0]._repr_html_(),
    }


def test_hostile_text_is_escaped_everywhere(hostile) -> None:
    model, analysis, register = hostile
    decided = next(a for a in register if a.decision is not None)
    outputs = _reprs(model, analysis, register) | {"decided": decided._repr_html_()}
    for name, out in outputs.items():
        lowered = out.lower()
        for raw in ("<script", "<img", "<iframe", "<i>", "<u>", "<eve@"):
            assert raw not in lowered, (name, raw)
        assert not re.search(r" at 0x[0-9a-f]+", out), name  # no bare object reprs
        assert "Factor(" not in out and "Level(" not in out, name
    assert escape(HOSTILE) in outputs["model"]
    assert escape(HOSTILE) in outputs["analysis"]
    assert escape(HOSTILE) in outputs["register"]
    assert escape('Use <i>only</i> & "carefully"') in outputs["model"]
    assert "Eve &lt;eve@example.com&gt;" in outputs["decided"]
    assert "&lt;script&gt;no&lt;/script&gt;" in outputs["decided"]


def test_hostile_names_in_the_inline_diagram_are_escaped(hostile) -> None:
    require_tool("dot")
    model, _, _ = hostile
    out = model._repr_html_()
    assert "<svg" in out
    svg = out[out.index("<svg"):]
    assert "<script" not in svg.lower() and "<img" not in svg.lower()
    assert "&lt;img src=x onerror=alert(1)&gt;" in svg


def test_model_card_names_and_counts(reference) -> None:
    model, _, _ = reference
    out = model._repr_html_()
    text = visible(out)
    s = model.system
    assert s.name in text and s.version in text and s.manufacturer in text
    assert " ".join(s.intended_use.split()) in text
    for n, label in ((len(model.boundaries), "trust boundaries"),
                     (len(model.components), "components"), (len(model.actors), "actors"),
                     (len(model.flows), "data flows"), (len(model.data_assets), "data assets"),
                     (len(model.controls), "applied controls")):
        assert f"{n} {label}" in text


def test_model_card_embeds_the_diagram(reference) -> None:
    require_tool("dot")
    model, _, _ = reference
    out = model._repr_html_()
    svg = out[out.index("<svg"):]
    assert "<?xml" not in out and "<!DOCTYPE" not in out
    for c in model.components:
        assert f"<title>{c.id}</title>" in svg
    without = _display.model_html(model, max_elements=3)
    assert "<svg" not in without and "not drawn inline" in without


def test_analysis_counts_by_stride_and_truncates(reference) -> None:
    _, analysis, _ = reference
    out = analysis._repr_html_()
    text = visible(out)
    specific = [f for f in analysis.findings if not f.baseline]
    spec = Counter(f.stride.value for f in specific)
    for stride, total in analysis.by_stride().items():
        row = f"{stride.replace('_', ' ')} {spec[stride]} {total - spec[stride]} {total}"
        assert row in text, row
    assert f"{len(analysis.findings)} findings" in text
    shown = specific[:_display.LIMIT]
    for f in shown:
        assert escape(f.id) in out
    assert escape(specific[_display.LIMIT].id) not in out
    assert f"and {len(specific) - _display.LIMIT} more specific findings" in text
    few = visible(_display.analysis_html(analysis, limit=3))
    assert f"and {len(specific) - 3} more specific findings" in few


def test_finding_shows_title_stride_element_why_controls(reference) -> None:
    _, analysis, _ = reference
    f = next(f for f in analysis.findings if not f.baseline and f.applied_controls)
    out = f._repr_html_()
    text = visible(out)
    assert f.title in text and f.id in text and f.element_name in text
    assert f.stride.value.replace("_", " ") in text
    for why in f.why:
        assert escape(why) in out
    for control in f.controls:
        assert control in text
    for applied in f.applied_controls:
        assert applied.status in text


def test_register_matrices_counts_and_colours(reference) -> None:
    _, _, register = reference
    out = register._repr_html_()
    parsed = parse(out)
    text = parsed.text
    policy = register.policy
    residual = Counter(a.residual.level.id for a in register)
    for lv in policy.levels("risk"):
        assert f"{residual[lv.id]} {lv.name.lower()} residual" in text
    assert f"{len(register.unacceptable())} unacceptable" in text
    # Expected cells, in the order the matrices are drawn: per dimension with findings,
    # before then after, rows from the highest exploitability, columns by impact rank.
    expected = []
    used = {a.dimension for a in register}
    for dimension, impact in DIMENSIONS.items():
        if dimension not in used:
            continue
        for cell_of in ("risk", "residual"):
            counts = Counter((getattr(a, cell_of).exploitability.id,
                              getattr(a, cell_of).severity.id)
                             for a in register if a.dimension == dimension)
            for e in reversed(policy.levels("exploitability")):
                for s in policy.levels(impact):
                    cell = policy.risk(e.id, s.id, dimension)
                    n = counts[(e.id, s.id)]
                    colour = _display.ACCEPTABILITY_COLOURS[cell.acceptability.value][0]
                    expected.append((colour, str(n) if n else "·"))
    got = [(re.search(r"background:(#[0-9a-f]{6})", style).group(1), n)
           for style, n in parsed.cells]
    assert got == expected
    assert sum(int(n) for _, n in got if n != "·") == 2 * len(register)
    # The table lists the highest residual risks first and says how many were left out.
    assert escape(register.assessments[0].id) in out
    assert f"and {len(register) - _display.LIMIT} more assessed findings" in text


def test_assessment_shows_scores_factors_and_decision(reference) -> None:
    _, _, register = reference
    a = next(x for x in register if x.counted_controls)
    out = a._repr_html_()
    text = visible(out)
    for score in (a.exploitability, a.impact, a.exploitability_post, a.impact_post):
        assert f"{score.level.replace('_', ' ')} (rank {score.rank})" in text
        for factor in score.factors:
            assert escape(factor.reason) in out
            assert escape(factor.effect) in out
    assert a.residual.level.name in text and a.residual.acceptability.value in text
    for control in a.counted_controls:
        assert control in text
    assert "No decision recorded" in text


def test_reprs_are_deterministic(reference, hostile) -> None:
    for model, analysis, register in (reference, hostile):
        first = _reprs(model, analysis, register)
        again = _reprs(model, mt.analyze(model), mt.assess(mt.analyze(model),
                                                           decisions=register.decisions))
        assert first == again


def test_without_dot_the_card_says_so(reference, monkeypatch, tmp_path: Path) -> None:
    model, analysis, _ = reference
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no Graphviz on the PATH
    out = model._repr_html_()
    assert "<svg" not in out and "Graphviz <code>dot</code> is not installed" in out
    assert "not installed" in _display.diagram_html(model, analysis, highlight="monitor")


def test_empty_model_and_register() -> None:
    model = mt.Model("Nothing yet")
    analysis = mt.analyze(model)
    register = mt.assess(analysis)
    assert "No components, actors or flows to draw yet" in model._repr_html_()
    assert "No specific findings" in analysis._repr_html_()
    out = register._repr_html_()
    assert "No findings to place in the risk matrices" in out and "No findings." in out


def test_plain_reprs_are_one_short_line_each() -> None:
    """Outside HTML front ends (a console, a log, a notebook's text/plain copy) every object
    says what it is in one line, not thousands of lines of nested fields."""
    model = mt.load_model(REFERENCE)
    analysis = mt.analyze(model)
    register = mt.assess(analysis)
    lines = {
        repr(model): f"{len(model.components)} components",
        repr(analysis): f"{len(analysis.findings)} findings",
        repr(analysis.findings[0]): analysis.findings[0].id,
        repr(register): f"{len(register.unacceptable())} unacceptable",
        repr(register.assessments[0]): register.assessments[0].id,
    }
    for text, expected in lines.items():
        assert "\n" not in text and len(text) < 200, text
        assert expected in text, text
