"""Exposure graph: attack vectors, attack paths, blast radius and update path.

Every expected value below was worked out by hand from the model drawn in the comment above
its fixture; the catalog attributes that matter are named next to each element.
"""

from __future__ import annotations

import warnings

import pytest
from _models import mini_catalog

import medthreat as mt
from medthreat.graph import (
    ATTACK_PATH_COLUMNS,
    BLAST_RADIUS_COLUMNS,
    EXPOSURE_COLUMNS,
    UPDATE_PATH_COLUMNS,
    AttackVector,
    PathLimitWarning,
    attack_paths,
    attack_paths_frame,
    blast_radius,
    blast_radius_frame,
    critical_assets,
    entry_points,
    exposure,
    exposure_frame,
    flow_protection,
    graph_facts,
    patient_devices,
    update_paths,
    update_paths_frame,
)

V = AttackVector


@pytest.fixture(scope="module")
def shipped() -> mt.Catalog:
    return mt.Catalog.load()


@pytest.fixture(scope="module")
def mini() -> mt.Catalog:
    return mini_catalog()


# -- vectors ------------------------------------------------------------------------------------

def home_model() -> mt.Model:
    """Shipped catalog. Cloud (id vendor, kind cloud), home network, two device enclosures.

        portal ──https+token──► backend ──sql──► db           (all in vendor: crossed 0)
        kms ──https+cert──► backend                           (nothing flows into kms)
        backend ──mqtts+mTLS──► hub ──ble──► pump             (vendor → home: 2; home → pump_dev: 1)
        cgm                                                   (isolated, in cgm_dev)

    portal: web_portal, internet_facing; physical_access none.
    hub: home_hub in the untrusted home network; physical_access personal; no user interface.
    pump: insulin_pump in a device enclosure inside home (trusted innermost zone); exposed BLE,
      USB inside the enclosure; user interface; physical_access personal.
    cgm: exposed USB port only; physical_access personal; no user interface.
    """
    m = mt.Model("Home therapy")
    vendor = m.boundary("Vendor cloud", kind="cloud", id="vendor")
    home = m.boundary("Home", kind="home_network", id="home")
    pump_dev = m.boundary("Pump", kind="device", parent=home, id="pump_dev")
    cgm_dev = m.boundary("CGM", kind="device", parent=home, id="cgm_dev")
    portal = m.component("web_portal", "Portal", id="portal", boundary=vendor)
    backend = m.component("cloud_service", "Backend", id="backend", boundary=vendor)
    records = m.data("phi", "Records", id="records")
    db = m.component("sql_database", "DB", id="db", boundary=vendor, stores=[records])
    kms = m.component("key_management_service", "KMS", id="kms", boundary=vendor)
    hub = m.component("home_hub", "Hub", id="hub", boundary=home)
    pump = m.component("insulin_pump", "Pump", id="pump", boundary=pump_dev,
                       interfaces=["ble", {"kind": "usb", "exposed": False}],
                       functions=["therapy_delivery"])
    m.component("cgm", "CGM", id="cgm", boundary=cgm_dev, interfaces=["usb"])
    m.flow(portal, backend, "https", id="portal-backend", authentication="token")
    m.flow(backend, db, "sql", id="backend-db", data=[records])
    m.flow(kms, backend, "https", id="kms-backend", authentication="certificate")
    m.flow(backend, hub, "mqtts", id="backend-hub", authentication="mutual_tls")
    m.flow(hub, pump, "ble", id="hub-pump", data=["therapy_command"])
    return m


def test_entry_points_with_reasons(shipped: mt.Catalog) -> None:
    seeds = entry_points(home_model(), shipped)
    assert seeds == {
        "portal": ((V.internet, "internet_facing"),),
        "hub": ((V.adjacent, "in untrusted zone 'home' (home_network)"),
                (V.proximity, "end of radio flow 'hub-pump' (ble)"),
                (V.physical, "physical_access personal")),
        "pump": ((V.proximity, "exposed ble radio interface"),
                 (V.proximity, "end of radio flow 'hub-pump' (ble)"),
                 (V.local, "user interface, physical_access personal"),
                 (V.physical, "usb interface inside the enclosure"),
                 (V.physical, "physical_access personal")),
        "cgm": ((V.physical, "exposed usb port"), (V.physical, "physical_access personal")),
    }


def test_vector_per_element(shipped: mt.Catalog) -> None:
    ex = exposure(home_model(), shipped)
    assert {e: (x.vector, x.direct) for e, x in ex.items()} == {
        "portal": (V.internet, V.internet),
        "backend": (V.internet, None),
        "db": (V.internet, None),
        "kms": (None, None),          # nothing flows into it, no exposure of its own
        "hub": (V.internet, V.adjacent),
        "pump": (V.internet, V.proximity),
        "cgm": (V.physical, V.physical),
    }
    assert ex["pump"].reachable_by == (V.internet, V.adjacent, V.proximity, V.local, V.physical)
    assert ex["hub"].reachable_by == (V.internet, V.adjacent, V.proximity, V.physical)
    assert ex["cgm"].reachable_by == (V.physical,)
    assert ex["kms"].reachable_by == ()


def test_best_path_boundaries_and_protection(shipped: mt.Catalog) -> None:
    ex = exposure(home_model(), shipped)
    # (entry, path, flows, boundaries crossed, authenticated, encrypted)
    got = {e: (x.entry, x.path, x.flows, x.boundaries_crossed, x.authenticated, x.encrypted)
           for e, x in ex.items()}
    assert got["portal"] == ("portal", ("portal",), (), 0, False, False)  # entry: nothing between
    assert got["backend"] == ("portal", ("portal", "backend"), ("portal-backend",), 0, True, True)
    # sql authenticates by default but does not encrypt
    assert got["db"] == ("portal", ("portal", "backend", "db"),
                         ("portal-backend", "backend-db"), 0, True, False)
    # vendor -> home: left vendor, entered home = 2
    assert got["hub"] == ("portal", ("portal", "backend", "hub"),
                          ("portal-backend", "backend-hub"), 2, True, True)
    # home -> pump_dev (inside home): entered pump_dev = 1; BLE is neither
    assert got["pump"] == ("portal", ("portal", "backend", "hub", "pump"),
                           ("portal-backend", "backend-hub", "hub-pump"), 3, False, False)
    assert got["kms"] == (None, (), (), 0, False, False)
    assert ex["pump"].hops == 3 and ex["portal"].hops == 0
    assert ex["pump"].entry_reason == "internet_facing"


def test_without_internet_the_home_network_and_radio_remain(shipped: mt.Catalog) -> None:
    m = home_model()
    m.flows = [f for f in m.flows if f.id != "backend-hub"]
    ex = exposure(m, shipped)
    assert (ex["hub"].vector, ex["hub"].path) == (V.adjacent, ("hub",))
    assert ex["hub"].entry_reason == "in untrusted zone 'home' (home_network)"
    # adjacent through the hub beats the pump's own proximity radio
    assert (ex["pump"].vector, ex["pump"].entry, ex["pump"].boundaries_crossed) == (
        V.adjacent, "hub", 1)
    m.flows = [f for f in m.flows if f.id != "hub-pump"]
    ex = exposure(m, shipped)
    assert (ex["pump"].vector, ex["pump"].path) == (V.proximity, ("pump",))
    assert ex["pump"].entry_reason == "exposed ble radio interface"
    assert ex["hub"].vector is V.adjacent


def test_attacker_on_a_zone_by_id_or_kind(shipped: mt.Catalog) -> None:
    for zone in ("vendor", "cloud"):
        ex = exposure(home_model(), shipped, attacker_on=[zone])
        assert ex["kms"].vector is V.adjacent
        assert ex["kms"].entry_reason == "attacker assumed on 'vendor' (cloud)"
        assert ex["backend"].vector is V.internet  # still the least demanding


def test_fewest_boundaries_then_fewest_hops_then_entry_id(mini: mt.Catalog) -> None:
    # e1 -> m1 -> m2 -> t inside x (0 crossed, 3 hops) beats e2 -> t (1 crossed, 1 hop),
    # e2 sitting outside every boundary. Both are internet entry points.
    m = mt.Model("Tie-breaks")
    x = m.boundary("X", kind="cloud", id="x")
    e1 = m.component("gateway", "E1", id="e1", boundary=x)
    e2 = m.component("gateway", "E2", id="e2")
    m1 = m.component("app", "M1", id="m1", boundary=x)
    m2 = m.component("app", "M2", id="m2", boundary=x)
    t = m.component("db", "T", id="t", boundary=x)
    m.flow(e1, m1, "https", id="e1-m1")
    m.flow(m1, m2, "https", id="m1-m2")
    m.flow(m2, t, "sql", id="m2-t")
    m.flow(e2, t, "sql", id="e2-t")
    ex = exposure(m, mini)
    assert (ex["t"].entry, ex["t"].boundaries_crossed, ex["t"].hops) == ("e1", 0, 3)
    assert ex["e2"].entry_reason == "outside every trust boundary; internet_facing"
    # equal boundaries: fewer hops wins; equal everything: smaller entry id
    m.flow(e1, m2, "https", id="e1-m2")
    assert exposure(m, mini)["t"].path == ("e1", "m2", "t")
    e0 = m.component("gateway", "E0", id="e0", boundary=x)
    m.flow(e0, m2, "https", id="e0-m2")
    assert exposure(m, mini)["t"].path == ("e0", "m2", "t")


def test_flow_protection_overrides_protocol_defaults(mini: mt.Catalog) -> None:
    m = mt.Model("Flags")
    a = m.component("app", "A", id="a")
    b = m.component("app", "B", id="b")
    plain = m.flow(a, b, "https", id="plain")
    off = m.flow(a, b, "https", id="off", authentication="none", encryption="none")
    on = m.flow(a, b, "ble", id="on", authentication="pairing", encryption="end_to_end")
    assert flow_protection(plain, mini) == (True, True)
    assert flow_protection(off, mini) == (False, False)
    assert flow_protection(on, mini) == (True, True)


def test_parallel_flows_count_as_their_weakest(mini: mt.Catalog) -> None:
    m = mt.Model("Parallel")
    gw = m.component("gateway", "GW", id="gw", boundary=m.boundary("C", kind="cloud", id="c"))
    db = m.component("db", "DB", id="db", boundary="c")
    m.flow(gw, db, "https", id="strong")
    ex = exposure(m, mini)
    assert (ex["db"].authenticated, ex["db"].encrypted) == (True, True)
    m.flow(gw, db, "sql", id="weak")  # authenticated, not encrypted
    ex = exposure(m, mini)
    assert ex["db"].flows == ("strong", "weak")
    assert (ex["db"].authenticated, ex["db"].encrypted, ex["db"].hops) == (True, False, 1)


def test_internet_vector_matches_the_engine_predicate(shipped: mt.Catalog,
                                                      reference_model_path) -> None:
    for m in (home_model(), mt.load_model(reference_model_path)):
        ex = exposure(m, shipped)
        facts = graph_facts(m, shipped)
        assert {e for e, x in ex.items() if V.internet in x.reachable_by} == \
            facts.internet_reachable
        for x in ex.values():
            assert x.vector == (x.reachable_by[0] if x.reachable_by else None)


# -- attack paths -------------------------------------------------------------------------------

def paths_model() -> mt.Model:
    """Mini catalog. gw (internet_facing) in cloud; pump (therapy_delivery) in a ward network.

        gw ─https─► a ─ble─► pump          a -> pump: left cloud, entered ward = 2
        gw ─https─► b ─sql─► c ─https─► pump
                             c ─https─► a

    Entry points: gw (internet); a and pump (ends of the BLE flow: proximity).
    """
    m = mt.Model("Paths")
    cloud = m.boundary("Cloud", kind="cloud", id="cloud")
    ward = m.boundary("Ward", kind="hospital_network", id="ward")
    gw = m.component("gateway", "GW", id="gw", boundary=cloud)
    a = m.component("app", "A", id="a", boundary=cloud)
    b = m.component("app", "B", id="b", boundary=cloud)
    c = m.component("app", "C", id="c", boundary=cloud)
    pump = m.component("pump", "Pump", id="pump", boundary=ward, functions=["therapy_delivery"])
    m.flow(gw, a, "https", id="gw-a")
    m.flow(a, pump, "ble", id="a-pump")
    m.flow(gw, b, "https", id="gw-b")
    m.flow(b, c, "sql", id="b-c")
    m.flow(c, pump, "https", id="c-pump")
    m.flow(c, a, "https", id="c-a")
    return m


def _summary(paths) -> list[tuple]:
    return [(p.target, p.entry, p.vector, p.rank, p.path, p.flows, p.boundaries_crossed,
             p.authenticated, p.encrypted) for p in paths]


def test_top_k_paths_exact(mini: mt.Catalog) -> None:
    assert _summary(attack_paths(paths_model(), mini, k=3)) == [
        ("pump", "gw", V.internet, 1, ("gw", "a", "pump"), ("gw-a", "a-pump"), 2, False, False),
        ("pump", "gw", V.internet, 2, ("gw", "b", "c", "pump"), ("gw-b", "b-c", "c-pump"), 2,
         True, False),
        ("pump", "gw", V.internet, 3, ("gw", "b", "c", "a", "pump"),
         ("gw-b", "b-c", "c-a", "a-pump"), 2, False, False),
        ("pump", "a", V.proximity, 1, ("a", "pump"), ("a-pump",), 2, False, False),
    ]
    assert [p.path for p in attack_paths(paths_model(), mini, k=1, vectors=["internet"])] == [
        ("gw", "a", "pump")]
    only = attack_paths(paths_model(), mini, k=2, entries=["a"])
    assert [(p.entry, p.path) for p in only] == [("a", ("a", "pump"))]
    assert attack_paths(paths_model(), mini, targets=["gw"]) == []


def test_named_targets_need_not_be_critical_and_ids_are_checked(mini: mt.Catalog) -> None:
    paths = attack_paths(paths_model(), mini, targets=["c"])
    assert [(p.target, p.target_reasons, p.path) for p in paths] == [("c", (), ("gw", "b", "c"))]
    with pytest.raises(ValueError, match="targets: no in-scope component or actor with id 'nope'"):
        attack_paths(paths_model(), mini, targets=["nope"])
    with pytest.raises(ValueError, match=r"entries: .* 'x', 'y'"):
        attack_paths(paths_model(), mini, entries=["y", "x"])
    with pytest.raises(ValueError, match="unknown attack vector 'radio'; expected one of"):
        attack_paths(paths_model(), mini, vectors=["radio"])


def test_path_records_why_target_and_entry(mini: mt.Catalog) -> None:
    first = attack_paths(paths_model(), mini, k=1)[0]
    assert first.target_reasons == ("therapy_delivery",)
    assert first.entry_reason == "internet_facing"
    assert first.hops == 2


def test_pair_cap_keeps_each_targets_easiest_entry_and_warns(mini: mt.Catalog) -> None:
    with pytest.warns(PathLimitWarning, match="1 of 2 entry-target pairs"):
        capped = attack_paths(paths_model(), mini, k=3, max_pairs=1)
    assert {p.entry for p in capped} == {"gw"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(attack_paths(paths_model(), mini, k=3, max_pairs=None)) == 4
    with pytest.raises(ValueError, match="k must be at least 1"):
        attack_paths(paths_model(), mini, k=0)


def test_critical_assets(shipped: mt.Catalog) -> None:
    m = home_model()
    m.data("model_weights", "Dosing model", id="weights")
    m.component("model_registry", "Registry", id="registry", boundary="vendor",
                stores=["weights"])
    m.component("code_signing_service", "Signer", id="signer", boundary="vendor")
    m.component("training_data_lake", "Lake", id="lake", boundary="vendor")
    assert critical_assets(m, shipped) == {
        "db": ("phi_store",),
        "pump": ("therapy_delivery", "alarming"),   # insulin_pump also raises_alarms
        "registry": ("model_weights",),
        "signer": ("signing_keys",),
        "lake": ("phi_store", "training_data"),
    }


# -- blast radius -------------------------------------------------------------------------------

def fleet_model() -> mt.Model:
    """Shipped catalog. An update server feeding two homes; a service laptop; an idle CGM.

        ota ─► hub1 ◄─► pump1          (bidirectional: a cycle)
        ota ─► hub2 ─► pump2
        ota ─► laptop                  (service_laptop: category device, max_patients 0)
        cgm                            (patient_facing, nothing flows to or from it)
    """
    m = mt.Model("Fleet")
    ota = m.component("update_server", "OTA", id="ota")
    hubs = [m.component("home_hub", f"Hub {i}", id=f"hub{i}") for i in (1, 2)]
    pumps = [m.component("insulin_pump", f"Pump {i}", id=f"pump{i}") for i in (1, 2)]
    laptop = m.component("service_laptop", "Laptop", id="laptop")
    m.component("cgm", "CGM", id="cgm")
    for hub, pump in zip(hubs, pumps, strict=True):
        m.flow(ota, hub, "ota_package", data=["firmware"])
        m.flow(hub, pump, "ble", data=["therapy_command"], bidirectional=hub.id == "hub1")
    m.flow(ota, laptop, "https", data=["firmware"])
    return m


def test_blast_radius_counts(shipped: mt.Catalog) -> None:
    m = fleet_model()
    assert patient_devices(m, shipped) == {"hub1", "hub2", "pump1", "pump2", "cgm"}
    assert blast_radius(m, shipped) == {
        "ota": 4, "hub1": 1, "hub2": 1, "pump1": 1, "pump2": 0, "laptop": 0, "cgm": 0,
    }


# -- update path --------------------------------------------------------------------------------

def update_model() -> mt.Model:
    """Shipped catalog. Build, sign, publish, download, install.

        ci ─https+mTLS─► signer ─https+mTLS─► ota ─ota_package─► hub ─ble─► pump
        (corp)           (enclave in corp)    (cloud)            (home)     (home)
        hub ─mqtts─► ota  telemetry only: not an update flow

    Crossings: corp → enclave 1, enclave → cloud 3, cloud → home 2, home → home 0.
    """
    m = mt.Model("Update chain")
    corp = m.boundary("Corp", kind="vendor_network", id="corp")
    enclave = m.boundary("Enclave", kind="vendor_network", parent=corp, trust="trusted",
                         id="enclave")
    cloud = m.boundary("Cloud", kind="cloud", id="cloud")
    home = m.boundary("Home", kind="home_network", id="home")
    ci = m.component("ci_cd_pipeline", "CI", id="ci", boundary=corp)
    signer = m.component("code_signing_service", "Signer", id="signer", boundary=enclave)
    ota = m.component("update_server", "OTA", id="ota", boundary=cloud)
    hub = m.component("home_hub", "Hub", id="hub", boundary=home)
    pump = m.component("insulin_pump", "Pump", id="pump", boundary=home)
    m.flow(ci, signer, "https", id="ci-signer", data=["firmware"], authentication="mutual_tls")
    m.flow(signer, ota, "https", id="signer-ota", data=["firmware"],
           authentication="mutual_tls")
    m.flow(ota, hub, "ota_package", id="ota-hub")                   # protocol alone counts
    m.flow(hub, pump, "ble", id="hub-pump", data=["model_weights"])  # model weights count
    m.flow(hub, ota, "mqtts", id="hub-ota", data=["telemetry"])
    return m


def _chains(paths) -> list[tuple]:
    return [(u.device, u.origin, u.path, u.flows, u.boundaries_crossed, u.authenticated,
             u.encrypted, u.built, u.signed, u.via_update_server, u.bypasses_signing)
            for u in paths]


def test_update_path_from_build_through_signing(shipped: mt.Catalog) -> None:
    assert _chains(update_paths(update_model(), shipped)) == [
        ("hub", "ci", ("ci", "signer", "ota", "hub"), ("ci-signer", "signer-ota", "ota-hub"),
         6, False, False, True, True, True, False),
        ("pump", "ci", ("ci", "signer", "ota", "hub", "pump"),
         ("ci-signer", "signer-ota", "ota-hub", "hub-pump"), 6, False, False, True, True, True,
         False),
    ]


def test_update_path_that_skips_signing(shipped: mt.Catalog) -> None:
    m = update_model()
    m.flow("ci", "ota", "https", id="ci-ota", data=["firmware"], authentication="token")
    chains = update_paths(m, shipped)
    assert [(u.device, u.path, u.signed, u.bypasses_signing) for u in chains] == [
        ("hub", ("ci", "ota", "hub"), False, True),
        ("pump", ("ci", "ota", "hub", "pump"), False, True),
    ]


def test_without_build_stage_the_signer_is_the_origin(shipped: mt.Catalog) -> None:
    m = update_model()
    m.components = [c for c in m.components if c.id != "ci"]
    m.flows = [f for f in m.flows if f.source != "ci"]
    assert [(u.device, u.origin, u.built, u.signed, u.bypasses_signing)
            for u in update_paths(m, shipped)] == [
        ("hub", "signer", False, True, False), ("pump", "signer", False, True, False)]


# -- DataFrames ---------------------------------------------------------------------------------

def test_frames_columns_and_order(shipped: mt.Catalog, mini: mt.Catalog) -> None:
    pytest.importorskip("pandas")
    ex = exposure_frame(home_model(), shipped)
    assert tuple(ex.columns) == EXPOSURE_COLUMNS
    assert list(ex["element"]) == ["backend", "db", "hub", "portal", "pump", "cgm", "kms"]
    pump = ex.set_index("element").loc["pump"]
    assert pump["path"] == "portal -> backend -> hub -> pump"
    assert pump["reachable_by"] == "internet, adjacent, proximity, local, physical"
    assert pump["kind"] == "component" and pump["type"] == "insulin_pump"
    assert ex.set_index("element").loc["kms", "vector"] is None

    ap = attack_paths_frame(paths_model(), mini, k=3, max_pairs=None)
    assert tuple(ap.columns) == ATTACK_PATH_COLUMNS
    assert list(zip(ap["entry"], ap["rank"], strict=True)) == [
        ("gw", 1), ("gw", 2), ("gw", 3), ("a", 1)]
    assert ap.attrs == {"pairs_enumerated": 2, "pairs_total": 2}

    br = blast_radius_frame(fleet_model(), shipped)
    assert tuple(br.columns) == BLAST_RADIUS_COLUMNS
    assert list(br["element"]) == ["ota", "hub1", "hub2", "pump1", "cgm", "laptop", "pump2"]

    up = update_paths_frame(update_model(), shipped)
    assert tuple(up.columns) == UPDATE_PATH_COLUMNS
    assert list(up["device"]) == ["hub", "pump"]
    assert up.iloc[0]["flows"] == "ci-signer, signer-ota, ota-hub"


def test_frames_are_deterministic(shipped: mt.Catalog, reference_model_path) -> None:
    pytest.importorskip("pandas")
    m = mt.load_model(reference_model_path)
    for frame in (exposure_frame, attack_paths_frame, blast_radius_frame, update_paths_frame):
        assert frame(m, shipped).equals(frame(mt.load_model(reference_model_path), shipped))


# -- reference model ----------------------------------------------------------------------------

def test_reference_model(shipped: mt.Catalog, reference_model_path) -> None:
    m = mt.load_model(reference_model_path)
    ex = exposure(m, shipped)
    # the ECG patch is reached by radio only; the bedside monitor is reachable, has its own
    # BLE receiver, and is reached from the internet through the remote service gateway
    assert (ex["ecg_patch"].vector, ex["ecg_patch"].direct) == (V.proximity, V.proximity)
    assert ex["monitor"].direct is V.proximity
    assert ex["monitor"].vector is V.internet and ex["monitor"].path[-2:] == ("rsg", "monitor")
    for gateway in ("api_gateway", "iot_hub", "ota_server", "remote_broker"):
        assert (ex[gateway].vector, ex[gateway].hops) == (V.internet, 0)
    assert ex["package_repo"].entry_reason.startswith("in internet boundary 'internet'")
    assert ex["physician"].vector is V.adjacent
    assert ex["service_laptop"].vector is V.local
    assert ex["kms"].vector is None  # only sends keys; nothing flows into it

    critical = critical_assets(m, shipped)
    assert {"monitor", "central_station", "code_signing", "telemetry_db", "model_registry",
            "training_lake"} <= critical.keys()
    assert critical["code_signing"] == ("signing_keys",)

    paths = attack_paths(m, shipped, k=3)
    pairs = {(p.entry, p.target): p for p in paths if p.rank == 1}
    assert pairs["ecg_patch", "monitor"].path == ("ecg_patch", "monitor")
    assert pairs["ecg_patch", "monitor"].vector is V.proximity
    assert pairs["package_repo", "code_signing"].path == ("package_repo", "ci_cd",
                                                           "code_signing")
    assert all(1 <= p.rank <= 3 and p.path[0] == p.entry and p.path[-1] == p.target
               for p in paths)

    radius = blast_radius(m, shipped)
    assert radius["ota_server"] == 2 and radius["patient"] == 3   # monitor, central, patch
    assert radius["telemetry_db"] == 0

    chains = update_paths(m, shipped)
    assert _chains(chains)[0][:3] == ("monitor", "ci_cd",
                                      ("ci_cd", "code_signing", "ota_server", "rsg", "monitor"))
    assert [(u.signed, u.via_update_server, u.bypasses_signing) for u in chains] == [
        (True, True, False)]
