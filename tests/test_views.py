"""FDA architecture views: content, residual-risk colours, collapse of large models, rendering
to SVG and PNG with the real Graphviz, and the fallback without it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import warnings
from pathlib import Path
from xml.etree import ElementTree

import pytest
from conftest import REFERENCE_MODEL, require_tool

import medthreat as mt
from medthreat.export.diagram import DotMissingWarning, render
from medthreat.export.views import View, architecture_views, write_views
from medthreat.graph import blast_radius, patient_devices, update_paths
from medthreat.model import ClinicalFunction
from medthreat.risk import RiskRegister, assess

SVG = "{http://www.w3.org/2000/svg}"
FIXED = ["dfd", "global", "multi_patient", "updatability"]


def fleet_model(wards: int = 16, beds: int = 20) -> mt.Model:
    """A ward fleet of 300+ components: one node per ward boundary when collapsed."""
    m = mt.Model("Generated ward fleet", system={"version": "1"})
    internet = m.boundary("Internet", kind="internet", id="internet")
    cloud = m.boundary("Vendor cloud", kind="cloud", id="cloud")
    hospital = m.boundary("Hospital", kind="hospital_network", id="hospital")
    ota = m.component("update_server", "OTA server", boundary=cloud, id="ota")
    signer = m.component("code_signing_service", "Signer", boundary=cloud, id="signer")
    hub = m.component("iot_hub", "IoT hub", boundary=cloud, id="hub")
    app = m.component("mobile_app", "Clinician app", boundary=internet, id="app")
    rsg = m.component("remote_service_gateway", "Gateway", boundary=hospital, id="rsg")
    m.data("firmware", "Firmware", id="fw")
    m.data("phi", "Vitals", id="vitals")
    m.flow(signer, ota, "https", data=["fw"], id="sign-ota")
    m.flow(ota, rsg, "ota_package", data=["fw"], id="ota-rsg")
    m.flow(hub, app, "https", data=["vitals"], id="hub-app")
    for w in range(1, wards + 1):
        ward = m.boundary(f"Ward {w}", kind="hospital_network", parent=hospital, id=f"ward{w}")
        central = m.component("central_station", f"Central {w}", boundary=ward,
                              id=f"w{w}-central", functions=["monitoring"])
        m.flow(central, hub, "mqtts", data=["vitals"], id=f"w{w}-up")
        for b in range(1, beds + 1):
            mon = m.component("patient_monitor", f"Monitor {w}-{b}", boundary=ward,
                              id=f"w{w}-m{b}", functions=["monitoring"])
            m.flow(mon, central, "tcp_proprietary", data=["vitals"], id=f"w{w}-m{b}-c")
            m.flow(rsg, mon, "ota_package", data=["fw"], id=f"w{w}-m{b}-fw")
    return m


@pytest.fixture(scope="module")
def register() -> RiskRegister:
    return assess(mt.analyze(mt.load_model(REFERENCE_MODEL)))


@pytest.fixture(scope="module")
def views(register: RiskRegister) -> dict[str, View]:
    return {v.id: v for v in architecture_views(register)}


@pytest.fixture(scope="module")
def svgs(views: dict[str, View]) -> dict[str, ElementTree.Element]:
    require_tool("dot")
    out = {}
    for view_id, view in views.items():
        data = render(view.dot, "svg")
        assert data is not None
        out[view_id] = ElementTree.fromstring(data)
    return out


@pytest.fixture(scope="module")
def fleet() -> RiskRegister:
    return assess(mt.analyze(fleet_model()))


def titles(root: ElementTree.Element, cls: str | None = None) -> set[str]:
    """The <title> of every SVG group (of one class: node, edge, cluster)."""
    found = set()
    for g in root.iter(f"{SVG}g"):
        if cls is not None and g.get("class") != cls:
            continue
        title = g.find(f"{SVG}title")
        if title is not None and title.text:
            found.add(title.text)
    return found


def fill_of(root: ElementTree.Element, node_id: str) -> str:
    """Fill colour of the shape of the SVG node titled ``node_id``."""
    for g in root.iter(f"{SVG}g"):
        title = g.find(f"{SVG}title")
        if g.get("class") == "node" and title is not None and title.text == node_id:
            for shape in g:
                fill = shape.get("fill")
                if shape.tag in (f"{SVG}polygon", f"{SVG}path", f"{SVG}ellipse") and fill and (
                        fill != "none"):
                    return fill.lower()
    raise AssertionError(f"no filled node {node_id!r} in the SVG")


def text_of(root: ElementTree.Element) -> str:
    return " ".join(t for t in root.itertext() if t.strip())


# -- which views, in which order ---------------------------------------------------------------


def test_views_in_stable_order_with_one_use_case_per_clinical_function(
        register: RiskRegister, views: dict[str, View]) -> None:
    model = register.analysis.model
    present = {f for c in model.components if not c.out_of_scope for f in c.functions}
    expected = FIXED + [f"use_case_{f.value}" for f in ClinicalFunction if f in present]
    assert list(views) == expected
    assert len(present) >= 3  # the reference model performs several clinical functions
    for view in views.values():
        assert view.title and len(view.description) > 200
        assert not view.collapsed and view.description.count("collapsed") == 0
        assert view.dot.startswith(f"digraph {view.id} {{")


def test_dot_is_deterministic_across_runs_and_hash_seeds(register: RiskRegister,
                                                         views: dict[str, View]) -> None:
    again = architecture_views(register)
    assert [v.dot for v in again] == [v.dot for v in views.values()]
    script = ("import hashlib, medthreat as mt\n"
              "from medthreat.risk import assess\n"
              "from medthreat.export.views import architecture_views\n"
              f"r = assess(mt.analyze(mt.load_model({str(REFERENCE_MODEL)!r})))\n"
              "print(hashlib.sha256(''.join(v.dot for v in architecture_views(r)).encode())"
              ".hexdigest())\n")
    digest = hashlib.sha256("".join(v.dot for v in views.values()).encode()).hexdigest()
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, check=True, timeout=300)
    assert done.stdout.strip() == digest


# -- what each view shows ----------------------------------------------------------------------


def test_every_view_renders_to_svg_with_its_elements(register: RiskRegister,
                                                     svgs: dict[str, ElementTree.Element]
                                                     ) -> None:
    model = register.analysis.model
    everything = {c.id for c in model.components} | {a.id for a in model.actors}
    dfd = svgs["dfd"]
    assert everything <= titles(dfd, "node")
    assert {f"cluster_{b.id}" for b in model.boundaries} <= titles(dfd, "cluster")
    in_scope = [f for f in model.flows]
    assert {f"{f.source}->{f.target}" for f in in_scope} <= titles(dfd, "edge")
    assert everything <= titles(svgs["global"], "node")
    text = text_of(svgs["global"])
    assert "jtag_swd (internal)" in text and "update server" in text
    assert "remote service" in text and "holds signing keys" in text
    for view_id, root in svgs.items():
        assert f"{model.system.name} {model.system.version}" in text_of(root), view_id


def test_flow_labels_carry_protocol_and_data_assets(register: RiskRegister,
                                                    svgs: dict[str, ElementTree.Element]
                                                    ) -> None:
    model = register.analysis.model
    flow = next(f for f in model.flows if f.id == "monitor-to-central")
    names = {d.id: d.name for d in model.data_assets}
    for g in svgs["dfd"].iter(f"{SVG}g"):
        title = g.find(f"{SVG}title")
        edge = title.text if title is not None else ""
        if g.get("class") == "edge" and edge == "monitor->central_station":
            text = text_of(g)
            if f"[{flow.protocol}]" in text:
                break
    else:
        raise AssertionError("no monitor->central_station edge with its protocol")
    assert names["vitals"][:20] in text and names["alarms"][:20] in text


def test_residual_colours_follow_the_register(register: RiskRegister,
                                              svgs: dict[str, ElementTree.Element]) -> None:
    worst: dict[str, tuple[int, str]] = {}
    for a in register:
        level = a.residual.level
        known = worst.get(a.finding.element_id)
        if known is None or level.rank > known[0]:
            worst[a.finding.element_id] = (level.rank, level.colour)
    model = register.analysis.model
    in_scope = [c.id for c in model.components if not c.out_of_scope]
    in_scope += [a.id for a in model.actors]
    checked = 0
    for element_id in in_scope:
        expected = worst.get(element_id, (0, "#ffffff"))[1]
        assert fill_of(svgs["dfd"], element_id) == expected.lower(), element_id
        checked += 1
    assert checked == len(in_scope)
    # an element with an unacceptable residual risk gets the colour of its level
    unacceptable = register.unacceptable()
    assert unacceptable
    top = max(unacceptable, key=lambda a: a.residual.level.rank)
    element = top.finding.element_id
    if element in in_scope:
        assert fill_of(svgs["dfd"], element) == worst[element][1]
    # the legend names every risk level of the policy
    text = text_of(svgs["dfd"])
    assert all(f"residual risk {lv.name}" in text for lv in register.policy.levels("risk"))


def test_multi_patient_view_holds_the_blast_radius(register: RiskRegister,
                                                   views: dict[str, View],
                                                   svgs: dict[str, ElementTree.Element]
                                                   ) -> None:
    model, catalog = register.analysis.model, register.analysis.catalog
    radius = blast_radius(model, catalog)
    multi = {e for e, n in radius.items() if n >= 2}
    assert multi
    root = svgs["multi_patient"]
    assert multi | patient_devices(model, catalog) <= titles(root, "node")
    text = text_of(root)
    for element in multi:
        assert f"reaches {radius[element]} patient devices" in text
    # the flows into patient devices are emphasised (thick purple)
    dot = views["multi_patient"].dot
    into_monitor = next(line for line in dot.splitlines()
                        if line.strip().startswith("ecg_patch -> monitor"))
    assert "penwidth=3" in into_monitor


def test_updatability_view_holds_every_hop_of_the_update_paths(
        register: RiskRegister, svgs: dict[str, ElementTree.Element]) -> None:
    model, catalog = register.analysis.model, register.analysis.catalog
    paths = update_paths(model, catalog)
    assert paths
    root = svgs["updatability"]
    nodes, edges = titles(root, "node"), titles(root, "edge")
    for p in paths:
        assert set(p.path) <= nodes
        assert {f"{u}->{v}" for u, v in zip(p.path, p.path[1:], strict=False)} <= edges
    text = text_of(root)
    assert "CTL-SIGNED-FIRMWARE (implemented)" in text
    assert "CTL-CODE-SIGNING-KEYS (implemented)" in text
    assert "no update path modeled" in text  # devices nothing updates are called out


def test_use_case_views_hold_performers_and_their_upstream(
        register: RiskRegister, svgs: dict[str, ElementTree.Element]) -> None:
    model = register.analysis.model
    for function in {f for c in model.components for f in c.functions}:
        root = svgs[f"use_case_{function.value}"]
        performers = {c.id for c in model.components
                      if function in c.functions and not c.out_of_scope}
        nodes = titles(root, "node")
        assert performers <= nodes, function
        text = text_of(root)
        assert f"performs {function.value.replace('_', ' ')}" in text
        assert "Data assets involved" in text and "Controls applied" in text
    # model weights reach the alarming function: the registry and the pipeline that trains them
    assert {"model_registry", "training_pipeline", "ci_cd"} <= titles(
        svgs["use_case_alarming"], "node")


def test_png_rendering(views: dict[str, View]) -> None:
    require_tool("dot")
    png = render(views["updatability"].dot, "png")
    assert png is not None and png.startswith(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match="svg"):
        render(views["dfd"].dot, "pdf")


# -- large models ------------------------------------------------------------------------------


def test_large_model_collapses_to_one_node_per_boundary(fleet: RiskRegister) -> None:
    require_tool("dot")
    model = fleet.analysis.model
    assert len(model.components) > 300
    views = architecture_views(fleet)
    assert [v.id for v in views] == [*FIXED, "use_case_monitoring"]
    assert all(v.collapsed for v in views)
    assert all("collapsed" in v.description for v in views)
    occupied = {c.boundary for c in model.components} | {a.boundary for a in model.actors}
    root = ElementTree.fromstring(render(views[0].dot, "svg") or b"")
    nodes = titles(root, "node")
    assert nodes == occupied  # one node per innermost boundary holding elements
    text = text_of(root)
    assert "COLLAPSED" in text and f"{len(model.components):,} elements" in text
    assert "full=True" in text and "--full-diagram" in text
    assert "worst residual" in text and "Ward 7" in text
    # aggregated flows between boundaries, labelled with counts and protocols
    edges = titles(root, "edge")
    assert "ward3->cloud" in edges and "hospital->ward3" in edges
    assert "20 flows" in text and "ota_package" in text


def test_full_draws_every_element(fleet: RiskRegister) -> None:
    require_tool("dot")
    model = fleet.analysis.model
    full = architecture_views(fleet, full=True)[0]
    assert not full.collapsed
    root = ElementTree.fromstring(render(full.dot, "svg") or b"")
    assert {c.id for c in model.components} <= titles(root, "node")
    assert "COLLAPSED" not in text_of(root)
    small = architecture_views(fleet, max_nodes=1000)
    assert not any(v.collapsed for v in small)


# -- writing files -----------------------------------------------------------------------------


def test_write_views_writes_dot_svg_and_png(views: dict[str, View], tmp_path: Path) -> None:
    require_tool("dot")
    some = [views["updatability"], views["global"]]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DotMissingWarning)
        written = write_views(some, tmp_path)
    folder = tmp_path / "views"
    assert sorted(p.name for p in written) == sorted(
        f"{v.id}.{ext}" for v in some for ext in ("dot", "svg", "png"))
    assert (folder / "global.dot").read_text(encoding="utf-8") == views["global"].dot
    assert (folder / "global.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    ElementTree.fromstring((folder / "updatability.svg").read_bytes())


def test_without_dot_one_warning_and_only_dot_sources(views: dict[str, View], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert render(views["dfd"].dot, "svg") is None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = write_views(views.values(), tmp_path / "out")
    missing = [w for w in caught if issubclass(w.category, DotMissingWarning)]
    assert len(missing) == 1
    assert sorted(p.name for p in written) == sorted(f"{v}.dot" for v in views)
    assert all(p.suffix == ".dot" for p in (tmp_path / "out" / "views").iterdir())


def test_user_text_is_escaped_in_labels_and_legends(tmp_path: Path) -> None:
    require_tool("dot")
    m = mt.Model('Pump "system" <b>', system={"version": "1"})
    home = m.boundary('Home "net" \\l', kind="home_network", id="home")
    pump = m.component("insulin_pump", 'Pump"] evil [label="x', boundary=home, id="pump",
                       functions=["therapy_delivery"])
    app = m.component("mobile_app", "<i>App</i> & co", boundary=home, id="app")
    m.data("therapy_command", '<b>dose</b> & "rate" \\n', id="dose")
    m.flow(app, pump, "ble", data=["dose"], id="app-pump")
    register = assess(mt.analyze(m))
    for view in architecture_views(register):
        root = ElementTree.fromstring(render(view.dot, "svg") or b"")
        text = text_of(root)
        assert 'Pump"] evil [label="x' in text, view.id
        if view.id in ("dfd", "use_case_therapy_delivery"):
            assert '<b>dose</b> & "rate" \\n' in text, view.id
        if view.id != "updatability":
            assert "<i>App</i> & co" in text, view.id
