"""Data-flow diagrams: DOT structure, escaping, SVG rendering and the fallback without dot."""

from __future__ import annotations

import warnings
from pathlib import Path
from xml.etree import ElementTree

import pytest
from _models import mini_catalog, mini_model
from conftest import require_tool

import medthreat as mt
from medthreat.export import write_findings
from medthreat.export.diagram import DotMissingWarning, dfd_dot, dfd_svg


@pytest.fixture(scope="module")
def analysis() -> mt.Analysis:
    return mt.analyze(mini_model(), mini_catalog())


def test_dot_has_boundaries_shapes_and_flow_styles(analysis: mt.Analysis) -> None:
    dot = dfd_dot(analysis.model, analysis)
    assert "subgraph cluster_home {" in dot and "subgraph cluster_cloud {" in dot
    assert "db [label=\"DB\\n«Database»\\n1 finding\"" in dot and "shape=cylinder" in dot
    # BLE and SQL are unencrypted: dashed red; HTTPS is solid grey
    ble = next(line for line in dot.splitlines() if line.strip().startswith("app -> pump"))
    https = next(line for line in dot.splitlines() if line.strip().startswith("app -> gateway"))
    assert "style=dashed" in ble and "#c0392b" in ble
    assert "style=dashed" not in https
    assert dfd_dot(analysis.model, analysis) == dot  # deterministic


def test_hostile_names_cannot_break_the_dot_source() -> None:
    m = mini_model()
    m.components[0].name = 'Pump"] evil [label="x\\l<b>'
    dot = dfd_dot(m, catalog=mini_catalog())
    assert 'label="Pump\\"] evil [label=\\"x\\\\l<b>' in dot
    svg = _render(dot)
    text = "".join(ElementTree.fromstring(svg).itertext())
    assert 'Pump"] evil [label="x\\l<b>' in text


def _render(dot: str) -> str:
    require_tool("dot")
    svg = dfd_svg(dot)
    assert svg is not None
    return svg


def test_svg_renders_every_element(analysis: mt.Analysis) -> None:
    svg = _render(dfd_dot(analysis.model, analysis))
    root = ElementTree.fromstring(svg)
    ns = {"svg": "http://www.w3.org/2000/svg"}
    titles = {t.text for t in root.iterfind(".//svg:g/svg:title", ns)}
    assert {"pump", "app", "gateway", "db", "patient", "cluster_home", "cluster_cloud"} <= titles
    assert {"app->pump", "app->gateway", "gateway->db"} <= titles


def test_without_dot_the_diagram_falls_back_to_source(analysis: mt.Analysis, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.warns(DotMissingWarning, match="install Graphviz"):
        written = write_findings(analysis, tmp_path / "out")
    names = {p.name for p in written}
    assert "dfd.dot" in names and "dfd.svg" not in names
    assert (tmp_path / "out" / "findings.json").is_file()


def test_write_findings_renders_svg_when_dot_exists(analysis: mt.Analysis,
                                                    tmp_path: Path) -> None:
    require_tool("dot")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DotMissingWarning)
        written = write_findings(analysis, tmp_path)
    assert (tmp_path / "dfd.svg") in written
    assert (tmp_path / "dfd.svg").read_text().lstrip().startswith("<?xml")
