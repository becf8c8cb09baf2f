"""Small models shared by the tests (built from the hand-checked mini catalog)."""

from __future__ import annotations

from pathlib import Path

import medthreat as mt

DATA = Path(__file__).parent / "data"
MINI_CATALOG = DATA / "mini_catalog"


def mini_catalog() -> mt.Catalog:
    return mt.Catalog.load(MINI_CATALOG, shipped=False)


def mini_model() -> mt.Model:
    """Pump at home, app, cloud gateway and database; the engine tests expect its findings."""
    m = mt.Model("Mini pump", system={"version": "1.0", "care_settings": ["home"]})
    home = m.boundary("Home", kind="home_network")
    cloud = m.boundary("Cloud", kind="cloud")
    pump = m.component("pump", "Pump", boundary=home, functions=["therapy_delivery"],
                       interfaces=["ble", {"kind": "jtag_swd", "exposed": False}])
    app = m.component("app", "App", boundary=home)
    gw = m.component("gateway", "Gateway", boundary=cloud)
    records = m.data("phi", "Records", id="records", confidentiality="high")
    db = m.component("db", "DB", boundary=cloud, stores=[records])
    m.actor("patient", "Patient", boundary=home)
    m.flow(app, pump, "ble", data=["therapy_command"])
    m.flow(app, gw, "https", data=[records])
    m.flow(gw, db, "sql", data=[records])
    m.control("CTL-DEBUG-LOCK", [pump], status="implemented", evidence="TR-1")
    m.control("CTL-TLS", [], status="planned")
    return m
