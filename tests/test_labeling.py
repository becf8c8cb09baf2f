"""The labeling draft: gaps where the model is silent, statements where it says something."""

from __future__ import annotations

import medthreat as mt
from medthreat.export._text import markdown_cell
from medthreat.export.labeling import (
    LABELING_COLUMNS,
    TOPICS,
    LabelingItem,
    labeling_items,
    labeling_markdown,
    labeling_rows,
)
from medthreat.export.report import report_markdown

CONTACT = "psirt@example.com | https://example.com/.well-known/security.txt"


def _bare() -> mt.Model:
    """A pump, its app and a cloud service; nothing said about labeling topics."""
    m = mt.Model("Pump system")
    home = m.boundary("Home", kind="home_network")
    cloud = m.boundary("Cloud", kind="cloud")
    pump = m.component("insulin_pump", "Pump", boundary=home, functions=["therapy_delivery"],
                       interfaces=["ble", {"kind": "usb", "name": "Service port",
                                           "exposed": False}])
    app = m.component("mobile_app", "App", boundary=home)
    records = m.data("phi", "Records", id="records", confidentiality="high")
    db = m.component("sql_database", "Records DB", boundary=cloud, stores=[records])
    m.flow(app, pump, "ble", data=["therapy_command"], bidirectional=True)
    m.flow(app, db, "https", data=[records])
    return m


def _documented() -> mt.Model:
    """The same system with what the labeling needs stated in the model."""
    m = _bare()
    m.system.manufacturer = "Example Medical"
    m.system.intended_use = "Insulin delivery for adults with type 1 diabetes."
    m.system.care_settings = [mt.model.CareSetting.home]
    m.system.assumptions = ["The patient keeps the phone's operating system updated."]
    for control, evidence in (
        ("CTL-VULN-MGMT-SBOM", "SBOM in CycloneDX on the customer portal"),
        ("CTL-SECURE-DECOMMISSIONING", "IFU chapter 12: factory reset wipes keys"),
        ("CTL-BACKUP-RESTORE", "Nightly snapshots, restore tested quarterly"),
        ("CTL-AUDIT-LOGGING", "Audit trail exported to the clinic"),
        ("CTL-SECURE-DEFAULTS", "Default settings in IFU chapter 3"),
        ("CTL-SIGNED-FIRMWARE", "Firmware signed, verified by the bootloader"),
        ("CTL-COORDINATED-DISCLOSURE", CONTACT),
        ("CTL-END-OF-SUPPORT", "Security updates until 2031-12-31"),
        ("CTL-INCIDENT-RESPONSE", "PSIRT runbook"),
    ):
        m.control(control, status="implemented", evidence=evidence)
    return m


def _items(model: mt.Model) -> list[LabelingItem]:
    return labeling_items(mt.assess(mt.analyze(model)))


def _gaps(items: list[LabelingItem]) -> dict[tuple[str, str], LabelingItem]:
    return {(i.topic, i.item): i for i in items if i.gap}


def test_every_topic_is_covered_in_order() -> None:
    for model in (_bare(), _documented()):
        items = _items(model)
        topics = [i.topic for i in items]
        assert set(topics) == set(TOPICS)
        order = list(TOPICS)
        assert [order.index(t) for t in topics] == sorted(order.index(t) for t in topics)
        assert all(i.item and i.detail and i.source for i in items)


def test_gaps_are_marked_when_the_model_is_silent() -> None:
    gaps = _gaps(_items(_bare()))
    for key in (
        ("Intended environment", "Intended use"),
        ("Intended environment", "Care settings"),
        ("Interfaces and ports", "Port numbers and services"),
        ("Secure default configuration", "Not stated"),
        ("Logging and audit", "Not stated"),
        ("Backup and restore", "Not stated"),
        ("Software updates", "Verification of updates"),
        ("End of support", "Support end date"),
        ("SBOM", "SBOM availability"),
        ("Secure decommissioning", "Sanitisation procedure"),
        ("Vulnerability and incident contact", "Manufacturer"),
        ("Vulnerability and incident contact", "Contact"),
        ("Vulnerability and incident contact", "On a suspected incident"),
    ):
        assert key in gaps, key


def test_statements_are_filled_when_the_model_has_the_information() -> None:
    items = _items(_documented())
    gaps = _gaps(items)
    for key in (
        ("Intended environment", "Intended use"),
        ("Intended environment", "Care settings"),
        ("Secure default configuration", "Not stated"),
        ("Logging and audit", "Not stated"),
        ("Backup and restore", "Not stated"),
        ("Software updates", "Verification of updates"),
        ("End of support", "Support end date"),
        ("SBOM", "SBOM availability"),
        ("Secure decommissioning", "Sanitisation procedure"),
        ("Vulnerability and incident contact", "Manufacturer"),
        ("Vulnerability and incident contact", "Contact"),
        ("Vulnerability and incident contact", "On a suspected incident"),
    ):
        assert key not in gaps, key
    filled = {(i.topic, i.item): i for i in items if not i.gap}
    assert filled[("Intended environment", "Intended use")].detail == \
        "Insulin delivery for adults with type 1 diabetes."
    assert filled[("Vulnerability and incident contact", "Manufacturer")].detail == \
        "Example Medical"
    assert filled[("Vulnerability and incident contact", "Contact")].detail == CONTACT
    assert "CycloneDX" in filled[("SBOM", "CTL-VULN-MGMT-SBOM")].detail
    assert "2031-12-31" in filled[("End of support", "CTL-END-OF-SUPPORT")].detail
    assert "factory reset" in filled[("Secure decommissioning",
                                      "CTL-SECURE-DECOMMISSIONING")].detail
    assumption = filled[("Security controls for the user's environment",
                         "Assumption of the threat model")]
    assert assumption.source == "model: system.assumptions"
    # Port numbers are never in a model: that gap stays.
    assert ("Interfaces and ports", "Port numbers and services") in gaps


def test_interfaces_and_flows_are_listed() -> None:
    model = _bare()
    items = [i for i in _items(model) if i.topic == "Interfaces and ports" and not i.gap]
    by_item = {i.item: i for i in items}
    assert "radio" in by_item["pump: ble interface"].detail
    service = by_item["pump: usb interface"].detail
    assert "Service port" in service and "inside the enclosure" in service
    ble = by_item["flow app-ble-pump"].detail
    assert "app → pump" in ble and "both directions" in ble and "wireless" in ble
    assert "not encrypted" in ble and "therapy_command" in ble
    https = by_item[f"flow {model.flows[1].id}"].detail
    assert "encrypted" in https and "inbound at the target" in https
    assert "crosses 2 trust boundaries" in https
    flows = {f.id for f in model.flows}
    assert {i.item.removeprefix("flow ") for i in items if i.item.startswith("flow ")} == flows


def test_operator_controls_come_from_the_register() -> None:
    register = mt.assess(mt.analyze(_bare()))
    suggested = {c for a in register for c in (*a.planned_controls, *a.suggested_controls)}
    items = [i for i in labeling_items(register)
             if i.topic == "Security controls for the user's environment"]
    recommended = {i.item.removeprefix("Recommended: ") for i in items
                   if i.item.startswith("Recommended: ")}
    assert recommended
    assert recommended <= suggested


def test_rows_and_markdown() -> None:
    register = mt.assess(mt.analyze(_documented()))
    items = labeling_items(register)
    header, rows = labeling_rows(register)
    assert header == list(LABELING_COLUMNS)
    assert len(rows) == len(items)
    assert [r[4] for r in rows] == ["yes" if i.gap else "no" for i in items]
    text = labeling_markdown(register)
    assert text == labeling_markdown(register)
    for topic in TOPICS:
        assert f"\n## {topic}\n" in text
    for i in items:
        assert markdown_cell(i.detail) in text
    assert text.count("| **GAP** ") == sum(1 for i in items if i.gap)
    # The pipe of the contact text does not break the table.
    assert "psirt@example.com \\| https://" in text


def test_report_section_uses_the_same_items() -> None:
    register = mt.assess(mt.analyze(_documented()))
    report = report_markdown(register)
    section = report[report.index("## 13. Labeling draft"):report.index("## 14. Open items")]
    for i in labeling_items(register):
        assert markdown_cell(i.detail) in section
    gaps = [i for i in labeling_items(register) if i.gap]
    tail = report[report.index("**Labeling gaps**"):]
    assert f"**Labeling gaps** ({len(gaps)})" in tail
    for g in gaps:
        assert markdown_cell(g.detail) in tail
