"""Incident response playbooks from the flow graph: isolation impact, containment, recovery."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

import medthreat as mt
from medthreat.graph import critical_assets, flow_graph, patient_devices
from medthreat.lifecycle.incident import (
    Playbook,
    dependency_graph,
    incident_playbooks,
    playbook_markdown,
    recovery_order,
)


@pytest.fixture(scope="module")
def catalog() -> mt.Catalog:
    return mt.Catalog.load()


@pytest.fixture(scope="module")
def reference(catalog: mt.Catalog, reference_model_path: Path) -> mt.Model:
    return mt.load_model(reference_model_path, catalog)


@pytest.fixture(scope="module")
def playbooks(reference: mt.Model, catalog: mt.Catalog) -> dict[str, Playbook]:
    return {pb.component: pb for pb in incident_playbooks(reference, catalog)}


def _position(order: list[tuple[str, ...]]) -> dict[str, int]:
    return {m: i for i, step in enumerate(order) for m in step}


def test_one_playbook_per_critical_component(reference: mt.Model, catalog: mt.Catalog,
                                             playbooks: dict[str, Playbook]) -> None:
    expected = set(critical_assets(reference, catalog)) | patient_devices(reference, catalog)
    assert set(playbooks) == expected
    assert {"monitor", "central_station", "arrhythmia_engine"} <= set(playbooks)


def test_isolating_the_monitor_costs_the_central_station_its_alarms(
        reference: mt.Model, playbooks: dict[str, Playbook]) -> None:
    pb = playbooks["monitor"]
    alarm_feeds = {f.id for f in reference.flows
                   if f.source == "monitor" and f.target == "central_station"
                   and not f.out_of_scope and "alarms" in f.data}
    assert alarm_feeds  # the reference model has one: monitor-to-central
    lost = {x.flow for x in pb.lost_inputs if x.target == "central_station"}
    assert alarm_feeds <= lost
    assert all("alarms" in x.data for x in pb.lost_inputs if x.flow in alarm_feeds)
    affected = dict(pb.functions_affected)
    assert "alarming" in affected["central_station"]
    # Every flow the monitor takes part in is cut when it is isolated, and nothing else.
    own = {f.id for f in reference.flows if not f.out_of_scope
           and "monitor" in (f.source, f.target)}
    assert set(pb.isolate_flows) == own


def test_starved_elements_have_no_other_input(reference: mt.Model,
                                              playbooks: dict[str, Playbook]) -> None:
    graph = flow_graph(reference)
    for pb in playbooks.values():
        gone = {pb.component, *pb.starved}
        for node in pb.starved:
            assert set(graph.pred[node]) <= gone, (pb.component, node)
        # And nothing else lost all its inputs.
        for node in set(graph) - gone:
            preds = set(graph.pred[node])
            assert not preds or preds - gone, (pb.component, node)


def test_device_cut_separates_the_component_from_the_other_devices(
        reference: mt.Model, catalog: mt.Catalog, playbooks: dict[str, Playbook]) -> None:
    devices = patient_devices(reference, catalog)
    for pb in playbooks.values():
        graph = flow_graph(reference)
        cut = set(pb.device_cut)
        for f in reference.flows:
            if f.id in cut:
                graph.remove_edges_from([(f.source, f.target), (f.target, f.source)]
                                        if f.bidirectional else [(f.source, f.target)])
        assert not (nx.descendants(graph, pb.component) & (devices - {pb.component})), \
            pb.component
        assert bool(pb.device_cut) == bool(pb.devices_reached)


def test_recovery_order_respects_every_dependency(reference: mt.Model, catalog: mt.Catalog,
                                                  playbooks: dict[str, Playbook]) -> None:
    deps = dependency_graph(reference, catalog)
    order = recovery_order(deps)
    position = _position(order)
    in_scope = {c.id for c in reference.components if not c.out_of_scope}
    assert sorted(position) == sorted(in_scope)
    assert sum(len(step) for step in order) == len(in_scope)
    for a, b in deps.edges():
        assert position[a] <= position[b], (a, b)
        if position[a] == position[b]:  # restored together only when they form a cycle
            assert nx.has_path(deps, b, a)
    # Checked against the model itself: the central station logs in against the hospital
    # directory (flow central-to-idp), so the directory comes back first.
    assert any(f.source == "central_station" and f.target == "hospital_idp"
               for f in reference.flows)
    assert position["hospital_idp"] < position["central_station"]
    # The monitor and the central station send to each other: one step.
    assert position["monitor"] == position["central_station"]
    # Each playbook's order is the global order restricted to what that recovery needs, and
    # includes everything the component depends on.
    for pb in playbooks.values():
        steps = [position[step[0]] for step in pb.recovery]
        assert steps == sorted(steps) and len(set(steps)) == len(steps)
        members = {m for step in pb.recovery for m in step}
        assert nx.ancestors(deps, pb.component) | {pb.component} <= members


def _cycle_model() -> mt.Model:
    m = mt.Model("Cycle")
    net = m.boundary("Hospital", kind="hospital_network")
    cloud = m.boundary("Cloud", kind="cloud")
    idp = m.component("identity_provider", "Directory", boundary=net, id="idp")
    a = m.component("patient_monitor", "Monitor A", boundary=net, id="mon_a",
                    functions=["alarming"])
    b = m.component("patient_monitor", "Monitor B", boundary=net, id="mon_b")
    c = m.component("central_station", "Station | <b>", boundary=net, id="station",
                    functions=["alarming"])
    svc = m.component("cloud_service", "Service", boundary=cloud, id="svc")
    db = m.component("sql_database", "DB", boundary=cloud, id="db", stores=["phi"])
    m.flow(a, b, "tcp_proprietary", data=["telemetry"])
    m.flow(b, c, "tcp_proprietary", data=["telemetry"])
    m.flow(c, a, "tcp_proprietary", data=["configuration"])
    m.flow(c, idp, "ldap", data=["credentials"])
    m.flow(c, svc, "https", data=["telemetry"])
    m.flow(svc, db, "sql", data=["phi"])
    m.flow(svc, c, "https", data=["configuration"], id="svc-to-station")
    m.flow(svc, a, "https", data=["configuration"], id="svc-to-a")
    return m


def test_a_cycle_still_gets_a_valid_order(catalog: mt.Catalog) -> None:
    m = _cycle_model()
    deps = dependency_graph(m, catalog)
    order = recovery_order(deps)
    position = _position(order)
    assert order[0] == ("idp",)  # identity first
    assert {position["mon_a"], position["mon_b"]} == {position["station"]}
    for a, b in deps.edges():
        assert position[a] <= position[b]
    assert position["svc"] < position["station"]  # a server before the devices that call it
    books = {pb.component: pb for pb in incident_playbooks(m, catalog)}
    assert set(books) == {"mon_a", "mon_b", "station", "db"}
    station = books["station"]
    assert station.boundary_neighbours == ("svc",)
    # Two disjoint paths lead from the station to monitor A (its own flow, and through the
    # service), so a minimum cut needs two flows; monitor B is only reached through A.
    assert station.devices_reached == ("mon_a", "mon_b")
    assert len(station.device_cut) == 2
    assert "station-tcp_proprietary-mon_a" in station.device_cut
    # Isolating monitor B leaves the station with the service's input only: not starved.
    assert books["mon_b"].starved == ()
    assert [x.flow for x in books["mon_b"].lost_inputs] == ["mon_b-tcp_proprietary-station"]
    md = playbook_markdown(list(books.values()))
    assert "Station \\| &lt;b&gt;" in md and "<b>" not in md


def test_markdown_is_deterministic_across_hash_seeds(reference: mt.Model, catalog: mt.Catalog,
                                                     reference_model_path: Path,
                                                     repo_root: Path) -> None:
    text = playbook_markdown(incident_playbooks(reference, catalog))
    assert text == playbook_markdown(incident_playbooks(reference, catalog))
    for section in ("### Detect", "### Contain", "### Eradicate", "### Recover",
                    "### Practise"):
        assert text.count(section) == len(incident_playbooks(reference, catalog))
    script = ("import sys, medthreat as mt\n"
              "from medthreat.lifecycle.incident import incident_playbooks, playbook_markdown\n"
              "c = mt.Catalog.load()\n"
              "sys.stdout.write(playbook_markdown(incident_playbooks("
              "mt.load_model(sys.argv[1], c), c)))\n")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", script, str(reference_model_path)],
                         capture_output=True, text=True, check=True, env=env, cwd=repo_root)
    assert out.stdout == text
