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


# -- residual-risk colours, collapse of large models, speed -------------------------------------


def test_register_colours_elements_and_flows_by_highest_residual_risk() -> None:
    from medthreat.risk import assess

    model = mini_model()
    analysis = mt.analyze(model, mini_catalog())
    register = assess(analysis)
    dot = dfd_dot(model, analysis, register=register)
    assert dfd_dot(model, register=register) == dot  # the analysis comes from the register
    worst: dict[str, tuple[int, str, str]] = {}
    for a in register:
        lv = a.residual.level
        if lv.rank > worst.get(a.finding.element_id, (0, "", ""))[0]:
            worst[a.finding.element_id] = (lv.rank, lv.colour, lv.name)
    lines = {line.strip().split(" ", 1)[0]: line for line in dot.splitlines()
             if " [label=" in line and "->" not in line}
    for element in ("pump", "app", "gateway", "db", "patient"):
        _, colour, name = worst[element]
        assert f'fillcolor="{colour}"' in lines[element], element
        assert f"worst residual {name}" in lines[element]
    ble = next(line for line in dot.splitlines() if line.strip().startswith("app -> pump"))
    assert f'color="{worst["app-ble-pump"][1]}"' in ble and "style=dashed" in ble
    assert "[ble]" in ble and "therapy command" in ble  # protocol and data asset
    for level in register.policy.levels("risk"):
        assert f"residual risk {level.name}" in dot  # the legend


def _fleet(n_wards: int, beds: int) -> mt.Model:
    m = mt.Model("Fleet", system={"version": "2"})
    cloud = m.boundary("Cloud", kind="cloud", id="cloud")
    site = m.boundary("Site", kind="hospital_network", id="site")
    hub = m.component("iot_hub", "Hub", boundary=cloud, id="hub")
    m.data("phi", "Vitals", id="vitals")
    for w in range(n_wards):
        ward = m.boundary(f"Ward {w}", kind="hospital_network", parent=site, id=f"ward{w}")
        for b in range(beds):
            mon = m.component("patient_monitor", f"Monitor {w}.{b}", boundary=ward,
                              id=f"m{w}-{b}")
            m.flow(mon, hub, "mqtts", data=["vitals"], id=f"m{w}-{b}-up")
    return m


def test_large_dfd_collapses_with_a_note_and_full_draws_everything() -> None:
    m = _fleet(15, 22)  # 331 components in 15 ward boundaries plus the cloud
    dot = dfd_dot(m)
    assert "COLLAPSED: 331 elements and 330 flows are drawn as 16 nodes" in dot
    assert "--full-diagram" in dot and "full=True" in dot
    assert "ward3 -> cloud" in dot and "22 flows" in dot and "mqtts" in dot
    assert '"m3-5" [' not in dot and '"m3-5" ->' not in dot  # no element is drawn
    full = dfd_dot(m, full=True)
    assert "COLLAPSED" not in full and all(f'"m{w}-0" [label=' in full for w in range(15))
    assert dfd_dot(m, max_nodes=1000) == full
    # when the innermost boundaries are too many, the top-level ones are drawn
    top = dfd_dot(m, max_nodes=10)
    assert "drawn as 2 nodes, one per top-level trust boundary" in top
    require_tool("dot")
    svg = ElementTree.fromstring(dfd_svg(dot) or "")
    ns = {"svg": "http://www.w3.org/2000/svg"}
    nodes = {g.findtext("svg:title", namespaces=ns) for g in svg.iterfind(".//svg:g", ns)
             if g.get("class") == "node"}
    assert nodes == {"cloud"} | {f"ward{w}" for w in range(15)}


def test_dot_of_three_thousand_components_is_fast() -> None:
    import time

    m = _fleet(100, 30)
    start = time.perf_counter()
    dot = dfd_dot(m)
    elapsed = time.perf_counter() - start
    assert "COLLAPSED: 3,001 elements" in dot
    assert elapsed < 2.0, f"{elapsed:.2f}s"
