"""The regulatory report: sections, numbers, determinism, escaping, browser rendering and PDF."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import warnings
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from conftest import REFERENCE_MODEL, REPO_ROOT, require_tool

import medthreat as mt
from medthreat.coverage import coverage
from medthreat.export import views as views_module
from medthreat.export.diagram import dfd_dot
from medthreat.export.labeling import labeling_items
from medthreat.export.report import (
    CHROMIUM_ENV,
    SECTIONS,
    TOP_ELEMENTS,
    PdfUnavailableWarning,
    report_html,
    report_markdown,
    write_report,
)
from medthreat.export.views import View
from medthreat.lifecycle import Decision, Decisions, DecisionStatus, load_decisions

DECISIONS = REPO_ROOT / "tests" / "data" / "decisions" / "reference.yaml"
SCREENSHOTS = REPO_ROOT / "reports" / "screenshots"
HOSTILE = {
    "system": "<script>alert(1)</script>",
    "component": "| pipe |",
    "description": "[link](javascript:x)",
    "assumption": "=cmd",
    "justification": "<img src=x onerror=alert(2)> | [x](javascript:y)",
}


def _views(register: mt.RiskRegister) -> list[View]:
    """The architecture views when the views module provides them, else the data-flow view."""
    build = getattr(views_module, "architecture_views", None)
    if build is not None:
        return list(build(register))
    analysis = register.analysis
    return [View("dfd", "Data-flow diagram", "Every component, actor and flow of the model "
                 "inside its trust boundaries.", dfd_dot(analysis.model, analysis))]


@pytest.fixture(scope="module")
def register() -> mt.RiskRegister:
    model = mt.load_model(REFERENCE_MODEL)
    return mt.assess(mt.analyze(model), decisions=load_decisions(DECISIONS))


@pytest.fixture(scope="module")
def views(register: mt.RiskRegister) -> list[View]:
    return _views(register)


@pytest.fixture(scope="module")
def markdown(register: mt.RiskRegister, views: list[View]) -> str:
    return report_markdown(register, views)


@pytest.fixture(scope="module")
def html(register: mt.RiskRegister, views: list[View]) -> str:
    return report_html(register, views)


@pytest.fixture(scope="module")
def written(register: mt.RiskRegister, views: list[View],
            tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("report")
    return out, write_report(register, out, views, pdf=False)  # PDF: see test_pdf


class _Tables(HTMLParser):
    """Every table of an HTML page as rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.tables:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _html_table(html: str, first_header: str) -> list[list[str]]:
    parser = _Tables()
    parser.feed(html)
    found = [t for t in parser.tables if t and t[0] and t[0][0] == first_header]
    assert found, f"no table headed {first_header!r}"
    return found[0]


def _md_row(markdown: str, first_cell: str) -> list[str]:
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no Markdown row starting with {first_cell!r}")


# -- structure and numbers ------------------------------------------------------------------


def test_all_sections_present_in_order(markdown: str, html: str) -> None:
    md_positions, html_positions = [], []
    for number, (anchor, title) in enumerate(SECTIONS, start=1):
        heading = f"\n## {number}. {title}\n"
        assert heading in markdown
        md_positions.append(markdown.index(heading))
        marker = f'id="sec-{anchor}"'
        assert marker in html
        assert f'<span class="num">{number}</span>{title}</h2>' in html
        html_positions.append(html.index(marker))
    assert md_positions == sorted(md_positions)
    assert html_positions == sorted(html_positions)
    assert len(SECTIONS) == 15


def test_numbers_equal_the_register(register: mt.RiskRegister, markdown: str,
                                    html: str) -> None:
    policy = register.policy
    pre = Counter(a.risk.level.id for a in register)
    post = Counter(a.residual.level.id for a in register)
    levels_table = _html_table(html, "Risk level")
    for lv in policy.levels("risk"):
        assert _md_row(markdown, lv.name) == [lv.name, str(pre[lv.id]), str(post[lv.id])]
        assert [lv.name, str(pre[lv.id]), str(post[lv.id])] in levels_table
    assert ["Total", str(len(register)), str(len(register))] in levels_table
    findings = register.analysis.findings
    for stride in mt.catalog.Stride:
        specific = sum(1 for f in findings if f.stride is stride and not f.baseline)
        total = sum(1 for f in findings if f.stride is stride)
        label = stride.value.replace("_", " ").capitalize()
        assert _md_row(markdown, f"{stride.letter} {label}")[1:] == [
            str(specific), str(total - specific), str(total)]
    unacceptable = len(register.unacceptable())
    assert f"{unacceptable} remain unacceptable" in markdown
    assert f"{unacceptable} remain unacceptable" in html
    transfer = sum(1 for a in register if a.safety_transfer)
    assert f"{transfer} findings can contribute to patient harm" in markdown
    cov = coverage(register.analysis.model, register.analysis.catalog)
    covered = sum(1 for r in cov if r.status == "covered")
    assert f"{len(cov)} requirements: {covered} covered" in markdown
    model = register.analysis.model
    assert _md_row(markdown, "Components") == ["Components", str(len(model.components))]
    assert _md_row(markdown, "Data flows") == ["Data flows", str(len(model.flows))]
    assert _md_row(markdown, "Trust boundaries") == ["Trust boundaries",
                                                     str(len(model.boundaries))]
    assert _md_row(markdown, "Data assets") == ["Data assets", str(len(model.data_assets))]
    # Every safety matrix after controls sums to the number of safety findings.
    safety = sum(1 for a in register if a.dimension == "safety")
    assert f"**Safety matrix after controls** ({safety} findings" in markdown
    items = labeling_items(register)
    gaps = sum(1 for i in items if i.gap)
    assert f"({gaps} of {len(items)} statements)" in markdown


def test_residual_statement_quotes_justified_decisions(register: mt.RiskRegister,
                                                       markdown: str) -> None:
    justified = [a for a in register.unacceptable()
                 if a.decision and a.decision.status.closes and a.decision.decision.justified]
    open_ = [a for a in register.unacceptable() if a not in justified]
    if justified:
        assert "benefit-risk" in markdown
    if open_:
        assert re.search(rf"{len(open_)} unacceptable residual risks? ha(s|ve) no justified "
                         "decision", markdown)
        assert "cannot be declared acceptable" in markdown


def test_safety_transfer_shows_hazard_ids(register: mt.RiskRegister, markdown: str) -> None:
    linked = [a for a in register if a.safety_transfer and a.decision
              and a.decision.decision.hazard_ids]
    for a in linked[:5]:
        assert ", ".join(a.decision.decision.hazard_ids) in markdown  # type: ignore[union-attr]


def test_without_graphviz_output_names_the_dot_file(register: mt.RiskRegister,
                                                    views: list[View]) -> None:
    page = report_html(register, views, svgs={})
    for v in views:
        assert f"views/{v.id}.dot" in page
    assert "<svg" not in page


def test_inlined_svg_is_sanitised_and_scalable(register: mt.RiskRegister,
                                               views: list[View]) -> None:
    hostile_svg = ('<?xml version="1.0"?><!DOCTYPE svg><!-- generated -->'
                   '<svg width="300pt" height="120pt" viewBox="0 0 300 120">'
                   '<script>alert(3)</script><a xlink:href="javascript:alert(4)">'
                   '<text>node</text></a></svg>')
    page = report_html(register, views[:1], svgs={views[0].id: hostile_svg})
    start = page.index('<figure class="view"')
    figure = page[start:page.index("</figure>", start)]
    assert "<script" not in figure and "javascript:" not in figure
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page and "<!--" not in page
    assert 'style="width:100%; max-width:300pt"' in figure and 'height="120pt"' not in figure
    assert "<text>node</text>" in figure


def test_long_lists_are_summarised() -> None:
    m = mt.Model("Ward fleet", system={"version": "1"})
    ward = m.boundary("Ward", kind="hospital_network")
    central = m.component("central_station", "Central", boundary=ward)
    for i in range(TOP_ELEMENTS + 10):
        monitor = m.component("patient_monitor", f"Monitor {i}", boundary=ward,
                              id=f"monitor-{i:03d}", functions=["monitoring"])
        m.flow(monitor, central, "tcp_proprietary", data=["telemetry"])
    register = mt.assess(mt.analyze(m))
    text = report_markdown(register)
    elements = {a.finding.element_id for a in register}
    rest = re.search(r"\| \*(\d+) more elements\* \| \| \| (\d+) \|", text)
    assert rest is not None
    assert int(rest.group(1)) == len(elements) - TOP_ELEMENTS
    shown = re.findall(r"^\| (\S+)(?: \([^)]*\))? \| (?:process|data store|external entity|"
                       r"data flow) \| \S+ \| (\d+) \|", text, flags=re.MULTILINE)
    assert len(shown) == TOP_ELEMENTS
    assert sum(int(n) for _, n in shown) + int(rest.group(2)) == len(register)


# -- determinism ----------------------------------------------------------------------------


def test_deterministic_in_process(register: mt.RiskRegister, views: list[View],
                                  markdown: str, html: str) -> None:
    assert report_markdown(register, views) == markdown
    assert report_html(register, views) == html


_DIGEST = """
import hashlib, sys
import medthreat as mt
from medthreat.export.diagram import dfd_dot
from medthreat.export.report import report_html, report_markdown
from medthreat.export.views import View
from medthreat.lifecycle import load_decisions
register = mt.assess(mt.analyze(mt.load_model(sys.argv[1])), decisions=load_decisions(sys.argv[2]))
a = register.analysis
views = [View("dfd", "Data-flow diagram", "x", dfd_dot(a.model, a))]
text = report_markdown(register, views) + report_html(register, views, svgs={})
print(hashlib.sha256(text.encode()).hexdigest())
"""


def test_deterministic_across_hash_seeds(register: mt.RiskRegister) -> None:
    # This process runs with a random hash seed; the child with hashing made fixed (seed 0).
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run([sys.executable, "-c", _DIGEST, str(REFERENCE_MODEL), str(DECISIONS)],
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300,
                          check=True)
    a = register.analysis
    views = [View("dfd", "Data-flow diagram", "x", dfd_dot(a.model, a))]
    here = report_markdown(register, views) + report_html(register, views, svgs={})
    assert done.stdout.strip() == hashlib.sha256(here.encode()).hexdigest()


# -- escaping -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> mt.RiskRegister:
    data = yaml.safe_load(REFERENCE_MODEL.read_text(encoding="utf-8"))
    data["system"]["name"] = HOSTILE["system"]
    data["system"]["description"] = HOSTILE["description"]
    data["system"]["assumptions"].append(HOSTILE["assumption"])
    data["components"][0]["name"] = HOSTILE["component"]
    path = tmp_path_factory.mktemp("hostile") / "model.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    analysis = mt.analyze(mt.load_model(path))
    worst = mt.assess(analysis).unacceptable()[0].id
    decisions = Decisions(decisions={worst: Decision(
        status=DecisionStatus.accepted, justification=HOSTILE["justification"])})
    return mt.assess(analysis, decisions=decisions)


@pytest.fixture(scope="module")
def hostile_html(hostile: mt.RiskRegister) -> str:
    return report_html(hostile, _views(hostile))


def test_hostile_names_are_escaped_in_html(hostile_html: str) -> None:
    page = hostile_html
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert 'href="javascript' not in page
    assert "[link](javascript:x)" in page  # shown as text, never a link
    assert "=cmd" in page
    assert "| pipe |" in page


def test_hostile_names_are_escaped_in_markdown(hostile: mt.RiskRegister) -> None:
    text = report_markdown(hostile, _views(hostile))
    assert "<script>" not in text and "<img" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert not re.search(r"(?<!\\)\]\(javascript:", text)
    assert "\\[link\\](javascript:x)" in text
    assert "\\| pipe \\|" in text
    assert "| pipe |" not in text.replace("\\| pipe \\|", "")
    assert "=cmd" in text
    # No table row gained a column from the pipes in the names.
    for block in re.split(r"\n\n", text):
        rows = [line for line in block.splitlines() if line.startswith("|")]
        widths = {len(re.findall(r"(?<!\\)\|", row)) for row in rows}
        assert len(widths) <= 1, block[:200]


# -- files, PDF and the browser -------------------------------------------------------------


def test_write_report_files(written: tuple[Path, list[Path]], markdown: str, html: str) -> None:
    out, paths = written
    assert paths[:2] == [out / "report.md", out / "report.html"]
    assert (out / "report.md").read_text(encoding="utf-8") == markdown
    assert (out / "report.html").read_text(encoding="utf-8") == html
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_pdf(tmp_path: Path) -> None:
    require_tool("chromium")
    m = mt.Model("Small pump", system={"version": "1.0", "manufacturer": "Example"})
    home = m.boundary("Home", kind="home_network")
    pump = m.component("insulin_pump", "Pump", boundary=home, functions=["therapy_delivery"])
    app = m.component("mobile_app", "App", boundary=home)
    m.flow(app, pump, "ble", data=["therapy_command"])
    analysis = mt.analyze(m)
    register = mt.assess(analysis)
    views = [View("dfd", "Data-flow diagram", "The system.", dfd_dot(m, analysis))]
    with warnings.catch_warnings():
        warnings.simplefilter("error", PdfUnavailableWarning)  # Chromium is there: must work
        paths = write_report(register, tmp_path, views)
    assert [p.name for p in paths] == ["report.md", "report.html", "report.pdf"]
    data = (tmp_path / "report.pdf").read_bytes()
    assert data.startswith(b"%PDF")
    assert len(data) > 10_000
    # Fourteen sections, each starting on a new A4 page, after the cover and contents.
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", data))
    assert pages >= 15
    assert b"/MediaBox [0 0 594.9" in data or b"/MediaBox [0 0 595" in data


def test_missing_renderer_skips_pdf_with_a_warning(register: mt.RiskRegister, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CHROMIUM_ENV, str(tmp_path / "no-such-browser"))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "report.pdf").write_bytes(b"%PDF- of an earlier run")
    with pytest.warns(PdfUnavailableWarning, match="no PDF renderer"):
        paths = write_report(register, tmp_path / "out")
    assert [p.name for p in paths] == ["report.md", "report.html"]
    assert not (tmp_path / "out" / "report.pdf").exists()
    assert write_report(register, tmp_path / "nopdf", pdf=False)[-1].name == "report.html"


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    """One headless Chromium for the browser tests of this module."""
    executable = require_tool("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, headless=True,
                                     args=["--no-sandbox", "--disable-background-networking",
                                           "--disable-gpu"])
        try:
            yield launched
        finally:
            launched.close()


def test_browser_renders_the_report(written: tuple[Path, list[Path]], views: list[View],
                                    browser) -> None:  # type: ignore[no-untyped-def]
    require_tool("dot")  # the figures are inline SVG drawn by Graphviz
    out, _ = written
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    try:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
        page.goto((out / "report.html").as_uri())
        page.wait_for_load_state("load")
        assert errors == []
        figures = page.locator("figure.view")
        assert figures.count() == len(views)
        for i in range(figures.count()):
            figure = figures.nth(i)
            assert figure.locator("figcaption").inner_text().startswith(f"Figure {i + 1}:")
            box = figure.locator("svg").first.bounding_box()
            assert box is not None and box["width"] > 0 and box["height"] > 0
        targets = page.eval_on_selector_all(
            "a[href^='#']", "links => links.map(a => a.getAttribute('href').slice(1))")
        assert len(targets) >= len(SECTIONS)
        missing = page.evaluate(
            "ids => ids.filter(id => !document.getElementById(id))", targets)
        assert missing == []
        # Only inline resources: nothing was fetched besides the page itself.
        resources = page.evaluate(
            "performance.getEntriesByType('resource').map(r => r.name)")
        assert resources == []
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "report.png"))
    finally:
        page.close()
    assert (SCREENSHOTS / "report.png").stat().st_size > 10_000


def test_browser_runs_no_hostile_script(hostile_html: str, tmp_path: Path,
                                        browser) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "report.html"
    path.write_text(hostile_html, encoding="utf-8")
    dialogs: list[str] = []
    page = browser.new_page()
    try:
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        assert page.locator("script").count() == 0
        assert page.locator("img").count() == 0
        assert "<script>alert(1)</script>" in page.locator("h1").inner_text()
    finally:
        page.close()
    assert dialogs == []
