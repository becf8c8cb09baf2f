"""The labeling draft: what the manufacturer tells the operator about the product's security.

The FDA premarket cybersecurity guidance (labeling recommendations) and MDR Annex I 23.4(ab)
ask the instructions for use and the customer security documentation to state, among other
things, the interfaces and ports, the security controls expected in the user's environment,
the secure default configuration, logging, backup and restore, how updates are delivered and
verified, the end of support, the SBOM, secure decommissioning and whom to contact about a
vulnerability. :func:`labeling_items` fills each topic from the model, its applied controls,
the catalog attributes of its components and the risk register, and marks a **gap** wherever
the model does not hold the information: a gap is a sentence the manufacturer still has to
write, never a guess.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..graph import attribute_of, flow_protection, update_paths
from ..model import Component, DataKind
from ._text import markdown_cell

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..model import AppliedControl, Model
    from ..risk import RiskRegister

__all__ = [
    "LABELING_COLUMNS",
    "TOPICS",
    "LabelingItem",
    "labeling_items",
    "labeling_markdown",
    "labeling_rows",
]


@dataclass(frozen=True)
class LabelingItem:
    """One statement of the labeling draft.

    ``topic`` is one of :data:`TOPICS`; ``item`` names what the statement is about, ``detail``
    says it (or, for a gap, what is missing), ``source`` where in the model, catalog or register
    the content came from, and ``gap`` is true when the manufacturer must still supply it.
    """

    topic: str
    item: str
    detail: str
    source: str
    gap: bool = False


#: Topics in labeling order, each with what it asks for and where the request comes from.
TOPICS: dict[str, tuple[str, str]] = {
    "Intended environment": (
        "Intended use, care settings and the IT the product needs to run as intended.",
        "MDR Annex I 23.4(ab); FDA premarket guidance, labeling",
    ),
    "Interfaces and ports": (
        "Every interface and every network connection: protocol, direction, peer, whether "
        "it is authenticated and encrypted, and the data it carries.",
        "FDA premarket guidance, labeling (ports and interfaces); MDR Annex I 23.4(ab)",
    ),
    "Security controls for the user's environment": (
        "What the operator must provide or configure around the product (network "
        "segmentation, firewall, anti-malware, account management, physical security).",
        "FDA premarket guidance, labeling (recommended controls); MDR Annex I 23.4(ab)",
    ),
    "Secure default configuration": (
        "How the product ships configured and how it is hardened.",
        "FDA premarket guidance, labeling (hardening, secure configuration)",
    ),
    "Logging and audit": (
        "Which security events are recorded, where, and how the operator reviews them.",
        "FDA premarket guidance, labeling (logging, forensic evidence)",
    ),
    "Backup and restore": (
        "How data and configuration are backed up and how the product is restored to a "
        "known good state.",
        "FDA premarket guidance, labeling (backup and restore)",
    ),
    "Software updates": (
        "How software, firmware and model updates are delivered, verified and installed, "
        "and by whom.",
        "FDA premarket guidance, labeling (updates); MDR Annex I 17.2",
    ),
    "End of support": (
        "When security support ends and which parts run third-party or unsupported software.",
        "FDA premarket guidance, labeling (end of support)",
    ),
    "SBOM": (
        "Whether and how the software bill of materials is made available to the operator.",
        "FDA premarket guidance (SBOM); section 524B FD&C Act",
    ),
    "Secure decommissioning": (
        "How to remove patient data, credentials and keys before disposal or return.",
        "FDA premarket guidance, labeling (decommissioning)",
    ),
    "Vulnerability and incident contact": (
        "Whom to contact about a vulnerability or a security incident, and how advisories "
        "reach the operator.",
        "FDA premarket guidance, labeling; MDR Annex I 23.4(ab); CRA Annex II",
    ),
}

#: Columns of :func:`labeling_rows`, for the register workbook's *Labeling* sheet.
LABELING_COLUMNS = ("topic", "item", "detail", "source", "gap")

#: Controls whose implementation falls (partly) to the operator of the product.
OPERATOR_CONTROLS: tuple[str, ...] = (
    "CTL-NETWORK-SEGMENTATION", "CTL-LEGACY-ISOLATION", "CTL-EGRESS-FILTERING",
    "CTL-HOSP-NETWORK-ACCESS-CONTROL", "CTL-HOSP-ENDPOINT-PROTECTION",
    "CTL-NETWORK-INTRUSION-DETECTION", "CTL-VPN-HARDENING", "CTL-CLINICAL-PROTOCOL-SECURITY",
    "CTL-REMOTE-SESSION-CONTROL", "CTL-ACCOUNT-LIFECYCLE", "CTL-PRIVILEGED-ACCESS", "CTL-MFA",
    "CTL-PHYSICAL-SECURITY", "CTL-CLINICAL-DOWNTIME-PROCEDURES", "CTL-USER-SECURITY-GUIDANCE",
    "CTL-SECURITY-TRAINING", "CTL-ASSET-INVENTORY",
)
_DEFAULTS = ("CTL-SECURE-DEFAULTS", "CTL-SECURE-CONFIGURATION", "CTL-UNIQUE-CREDENTIALS",
             "CTL-INTERFACE-HARDENING", "CTL-DEBUG-LOCK")
_LOGGING = ("CTL-AUDIT-LOGGING", "CTL-SIEM-MONITORING", "CTL-TRUSTED-TIME",
            "CTL-AI-INFERENCE-LOGGING")
_BACKUP = ("CTL-BACKUP-RESTORE", "CTL-OFFLINE-BACKUP", "CTL-BUSINESS-CONTINUITY")
_UPDATES = ("CTL-SIGNED-FIRMWARE", "CTL-SECURE-UPDATE-DELIVERY", "CTL-ANTI-ROLLBACK",
            "CTL-DEV-SAFE-UPDATE", "CTL-STAGED-ROLLOUT", "CTL-PATCH-MANAGEMENT",
            "CTL-MODEL-SIGNING")
_SIGNED_UPDATES = frozenset({"CTL-SIGNED-FIRMWARE", "CTL-SECURE-UPDATE-DELIVERY",
                             "CTL-MODEL-SIGNING"})
_SBOM = ("CTL-VULN-MGMT-SBOM", "CTL-ML-BOM")
_DECOMMISSION = ("CTL-SECURE-DECOMMISSIONING", "CTL-PRIV-RETENTION")
_CONTACT = ("CTL-COORDINATED-DISCLOSURE", "CTL-PSIRT", "CTL-SECURITY-ADVISORIES")
_OPERATOR_ZONES = frozenset({"hospital_network", "clinic_network", "home_network",
                             "mobile_device", "physical_site"})
_SENSITIVE = frozenset({DataKind.phi, DataKind.pii, DataKind.credentials,
                        DataKind.clinical_image, DataKind.model_weights,
                        DataKind.training_data})
_RADIOS = frozenset({"ble", "bluetooth_classic", "nfc", "proprietary_rf", "wifi", "cellular"})
_LIST_MAX = 12


def _names(ids: Iterable[str], limit: int = _LIST_MAX) -> str:
    items = list(ids)
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _verb(items: Sequence[str], one: str, many: str) -> str:
    return one if len(items) == 1 else many


class _Facts:
    """What several topics read, computed once per register."""

    def __init__(self, register: RiskRegister) -> None:
        analysis = register.analysis
        self.register = register
        self.model: Model = analysis.model
        self.catalog: Catalog = analysis.catalog
        self.components = [c for c in self.model.components if not c.out_of_scope]
        self.flows = [f for f in self.model.flows if not f.out_of_scope]
        self.applied: dict[str, list[AppliedControl]] = {}
        for ac in self.model.controls:
            self.applied.setdefault(ac.control, []).append(ac)
        # Findings of one threat share their control lists: count the combinations first.
        combos = Counter((a.planned_controls, a.suggested_controls) for a in register)
        suggested: Counter[str] = Counter()
        for (planned, rest), n in combos.items():
            for cid in set(planned) | set(rest):
                suggested[cid] += n
        self.suggested = suggested

    def attr(self, c: Component, name: str) -> Any:
        return attribute_of(self.catalog, c, name)

    def with_attr(self, name: str) -> list[str]:
        return sorted(c.id for c in self.components if self.attr(c, name) is True)

    def title(self, control_id: str) -> str:
        c = self.catalog.controls.get(control_id)
        return c.title if c is not None else control_id

    def applied_text(self, control_id: str) -> str:
        """'implemented on a, b (evidence)' for every application of a control."""
        parts = []
        for ac in self.applied.get(control_id, []):
            where = ", ".join(ac.targets) if ac.targets else "the whole system"
            text = f"{ac.status.value} on {_names(ac.targets) if ac.targets else where}"
            if ac.evidence:
                text += f" (evidence: {ac.evidence})"
            parts.append(text)
        return "; ".join(parts)

    def applied_any(self, ids: Sequence[str]) -> list[str]:
        return [c for c in ids if c in self.applied]

    def evidence(self, ids: Sequence[str]) -> list[str]:
        return [ac.evidence for c in ids for ac in self.applied.get(c, []) if ac.evidence]


def _control_items(f: _Facts, topic: str, ids: Sequence[str]) -> list[LabelingItem]:
    out = []
    for cid in f.applied_any(ids):
        control = f.catalog.controls.get(cid)
        detail = f"{f.title(cid)}: {f.applied_text(cid)}."
        if control is not None and control.verification:
            detail += f" Verified by {control.verification}."
        out.append(LabelingItem(topic, cid, detail, f"model controls: {cid}"))
    return out


def _environment(f: _Facts) -> list[LabelingItem]:
    topic = "Intended environment"
    system = f.model.system
    out = []
    if system.intended_use.strip():
        out.append(LabelingItem(topic, "Intended use", " ".join(system.intended_use.split()),
                                "model: system.intended_use"))
    else:
        out.append(LabelingItem(topic, "Intended use", "The model states no intended use; add "
                                "it as in the instructions for use.", "model: system.intended_use",
                                True))
    if system.care_settings:
        out.append(LabelingItem(topic, "Care settings", ", ".join(
            s.value for s in system.care_settings), "model: system.care_settings"))
    else:
        out.append(LabelingItem(topic, "Care settings", "The model names no care setting "
                                "(home, hospital, clinic, mobile).", "model: system.care_settings",
                                True))
    members: dict[str, list[str]] = {}
    for c in f.components:
        if c.boundary:
            members.setdefault(c.boundary, []).append(c.id)
    for b in sorted(f.model.boundaries, key=lambda b: b.id):
        if b.kind.value in _OPERATOR_ZONES and b.id in members:
            out.append(LabelingItem(
                topic, f"Network or site: {b.name or b.id}",
                f"{b.kind.value.replace('_', ' ')}, treated as "
                f"{b.effective_trust.value.replace('_', '-')}; hosts "
                f"{_names(sorted(members[b.id]))}.",
                f"model: boundaries.{b.id}"))
    platforms = f.with_attr("consumer_platform")
    if platforms:
        out.append(LabelingItem(
            topic, "Minimum platform requirements",
            f"{_names(platforms)} {_verb(platforms, 'runs', 'run')} on consumer platforms; "
            "state the supported operating system versions, required platform security "
            "settings (screen lock, OS updates, no rooting) and minimum hardware.",
            "catalog attribute consumer_platform", True))
    third_party = f.with_attr("runs_third_party_software")
    if third_party:
        out.append(LabelingItem(
            topic, "Minimum IT requirements",
            f"{_names(third_party)} {_verb(third_party, 'runs', 'run')} general-purpose or "
            "third-party software; state the "
            "hardware, operating system and network characteristics they need (MDR Annex I "
            "23.4(ab)).", "catalog attribute runs_third_party_software", True))
    return out


def _interfaces(f: _Facts) -> list[LabelingItem]:
    topic = "Interfaces and ports"
    out: list[LabelingItem] = []
    for c in sorted(f.components, key=lambda c: c.id):
        for i in c.interfaces:
            kind = "radio" if i.kind.value in _RADIOS else "port"
            name = f" {i.name}" if i.name else ""
            exposed = "reachable from outside the enclosure" if i.exposed else \
                "inside the enclosure"
            detail = f"{kind}{name}, {exposed}" + (f"; {i.description}" if i.description else "")
            out.append(LabelingItem(topic, f"{c.id}: {i.kind.value} interface", detail,
                                    f"model: components.{c.id}.interfaces"))
    chains = f.register.analysis.facts.chains
    for fl in sorted(f.flows, key=lambda fl: fl.id):
        proto = f.catalog.protocols.get(fl.protocol)
        auth, enc = flow_protection(fl, f.catalog)
        crossed = len(set(chains.get(fl.source, ())) ^ set(chains.get(fl.target, ())))
        direction = "both directions" if fl.bidirectional else "outbound from the source, " \
            "inbound at the target"
        detail = (f"{fl.source} → {fl.target} over {proto.name if proto else fl.protocol}"
                  f" ({proto.range.value + ' range' if proto else 'unknown range'}"
                  f"{', wireless' if proto and proto.wireless else ''}); {direction}; "
                  f"{'authenticated' if auth else 'not authenticated'}, "
                  f"{'encrypted' if enc else 'not encrypted'}"
                  + (f"; crosses {crossed} trust boundar{'y' if crossed == 1 else 'ies'}"
                     if crossed else "")
                  + (f"; carries {', '.join(fl.data)}" if fl.data else ""))
        out.append(LabelingItem(topic, f"flow {fl.id}", detail, f"model: flows.{fl.id}"))
    if f.flows:
        out.append(LabelingItem(
            topic, "Port numbers and services",
            "The model names protocols but not TCP/UDP port numbers or listening services; list "
            "the ports each component opens, their function and whether they are incoming or "
            "outgoing.", "model: flows (no port field)", True))
    if not out:
        out.append(LabelingItem(topic, "Interfaces", "The model has no interfaces and no "
                                "flows; describe every external connection.",
                                "model: components[].interfaces, flows", True))
    return out


def _operator_controls(f: _Facts) -> list[LabelingItem]:
    topic = "Security controls for the user's environment"
    out: list[LabelingItem] = []
    for text in f.model.system.assumptions:
        out.append(LabelingItem(topic, "Assumption of the threat model", " ".join(text.split()),
                                "model: system.assumptions"))
    for cid in OPERATOR_CONTROLS:
        applied = cid in f.applied
        count = f.suggested.get(cid, 0)
        if not applied and not count:
            continue
        control = f.catalog.controls.get(cid)
        parts = [f"{f.title(cid)}."]
        if control is not None:
            parts.append(" ".join(control.description.split()))
        if applied:
            parts.append(f"Applied: {f.applied_text(cid)}.")
        if count:
            parts.append(f"Addresses {count} finding{'s' if count != 1 else ''} still open to it.")
        source = f"model controls: {cid}" if applied else f"risk register: suggested for {count} " \
            "finding" + ("s" if count != 1 else "")
        out.append(LabelingItem(topic, f"Recommended: {cid}", " ".join(parts), source))
    operated = sorted(c.id for c in f.components
                      if f.attr(c, "operated_by") in ("healthcare_provider", "patient"))
    if operated:
        out.append(LabelingItem(
            topic, "Components the operator runs",
            f"{_names(operated)} {_verb(operated, 'is', 'are')} operated by the healthcare "
            "provider or the patient; findings on them are treated through these instructions.",
            "catalog attribute operated_by"))
    if not any(not i.gap and i.item != "Components the operator runs" for i in out):
        out.append(LabelingItem(
            topic, "Operator controls", "Neither the model's assumptions nor its controls name "
            "a measure the operator must take; state the network, endpoint and account "
            "controls the product expects.", "model: system.assumptions, controls", True))
    return out


def _topic_from_controls(f: _Facts, topic: str, ids: Sequence[str], attribute: str | None,
                         found: str, missing: str) -> list[LabelingItem]:
    out = _control_items(f, topic, ids)
    holders = f.with_attr(attribute) if attribute else []
    if holders:
        out.append(LabelingItem(topic, found, _names(holders) + ".",
                                f"catalog attribute {attribute}"))
    if not f.applied_any(ids):
        out.append(LabelingItem(topic, "Not stated", missing,
                                "model controls: none of " + ", ".join(ids), True))
    return out


def _updates(f: _Facts) -> list[LabelingItem]:
    topic = "Software updates"
    out = _control_items(f, topic, _UPDATES)
    updatable = f.with_attr("accepts_updates")
    servers = f.with_attr("is_update_server")
    if updatable:
        out.append(LabelingItem(topic, "Field-updatable components", _names(updatable) + ".",
                                "catalog attribute accepts_updates"))
    if servers:
        out.append(LabelingItem(topic, "Update distribution", "Updates are distributed by "
                                + _names(servers) + ".", "catalog attribute is_update_server"))
    paths = update_paths(f.model, f.catalog)
    if paths:
        signed = sum(1 for p in paths if p.signed)
        bypass = sorted({p.device for p in paths if p.bypasses_signing})
        detail = (f"{len(paths)} update chain(s) reach {len({p.device for p in paths})} "
                  f"device(s); {signed} pass a signing-key holder")
        detail += (f"; {_names(bypass)} can be reached without signing" if bypass else "") + "."
        out.append(LabelingItem(topic, "Update chains", detail, "exposure graph: update paths"))
    if updatable and not (_SIGNED_UPDATES & set(f.applied)):
        out.append(LabelingItem(
            topic, "Verification of updates", "No signed-update control is applied: state how "
            "the operator or the device verifies that an update is authentic before it is "
            "installed.", "model controls: none of " + ", ".join(sorted(_SIGNED_UPDATES)), True))
    if not updatable:
        out.append(LabelingItem(
            topic, "Update method", "No component of the model accepts updates; state how "
            "security fixes reach the product (or that they are delivered by replacement).",
            "catalog attribute accepts_updates", True))
    out.append(LabelingItem(
        topic, "Update procedure for authorised users",
        "State how the operator learns of, downloads and installs updates, who may do so, and "
        "the expected time from release to installation.", "not modelled", True))
    return out


def _end_of_support(f: _Facts) -> list[LabelingItem]:
    topic = "End of support"
    out = _control_items(f, topic, ("CTL-END-OF-SUPPORT",))
    unsupported = f.with_attr("unsupported_software")
    if unsupported:
        out.append(LabelingItem(topic, "Unsupported software in use", _names(unsupported)
                                + f" {_verb(unsupported, 'runs', 'run')} software that no "
                                "longer receives security fixes; state the compensating "
                                "controls the operator must keep.",
                                "catalog attribute unsupported_software"))
    third = f.with_attr("runs_third_party_software")
    if third:
        out.append(LabelingItem(topic, "Third-party software to track", _names(third)
                                + f" {_verb(third, 'depends', 'depend')} on third-party "
                                "software whose support ends independently of the product.",
                                "catalog attribute runs_third_party_software"))
    evidence = f.evidence(("CTL-END-OF-SUPPORT",))
    if not evidence:
        out.append(LabelingItem(
            topic, "Support end date", "The model holds no end-of-support date; state until "
            "when the product version receives security updates and what happens afterwards.",
            "model controls: CTL-END-OF-SUPPORT (with evidence)", True))
    return out


def _sbom(f: _Facts) -> list[LabelingItem]:
    topic = "SBOM"
    out = _control_items(f, topic, _SBOM)
    third = f.with_attr("runs_third_party_software")
    if third:
        out.append(LabelingItem(topic, "Components with third-party software", _names(third)
                                + ".", "catalog attribute runs_third_party_software"))
    ml = f.with_attr("is_ml_model")
    if ml and "CTL-ML-BOM" not in f.applied:
        out.append(LabelingItem(topic, "AI bill of materials", f"{_names(ml)} "
                                f"{_verb(ml, 'embeds', 'embed')} ML "
                                "models; state whether an AI BOM (model, data, framework "
                                "versions) is available.", "catalog attribute is_ml_model", True))
    if "CTL-VULN-MGMT-SBOM" not in f.applied:
        out.append(LabelingItem(topic, "SBOM availability", "No SBOM control is applied; state "
                                "whether and how the operator obtains the SBOM (format, "
                                "location, update cadence).", "model controls: CTL-VULN-MGMT-SBOM",
                                True))
    return out


def _decommissioning(f: _Facts) -> list[LabelingItem]:
    topic = "Secure decommissioning"
    out = _control_items(f, topic, _DECOMMISSION)
    assets = {d.id: d for d in f.model.data_assets}
    holders = sorted(
        c.id for c in f.components
        if any(assets[i].kind in _SENSITIVE for i in c.stores if i in assets)
        or f.attr(c, "stores_phi") is True or f.attr(c, "holds_secrets") is True
        or f.attr(c, "holds_signing_keys") is True)
    if holders:
        out.append(LabelingItem(topic, "Components to sanitise", _names(holders)
                                + f" {_verb(holders, 'keeps', 'keep')} "
                                "patient data, credentials or keys at rest.",
                                "model: components[].stores; catalog attributes stores_phi, "
                                "holds_secrets, holds_signing_keys"))
    if "CTL-SECURE-DECOMMISSIONING" not in f.applied:
        out.append(LabelingItem(topic, "Sanitisation procedure", "No secure-decommissioning "
                                "control is applied; state how the operator erases data, "
                                "credentials and keys before disposal, resale or return.",
                                "model controls: CTL-SECURE-DECOMMISSIONING", True))
    return out


def _contact(f: _Facts) -> list[LabelingItem]:
    topic = "Vulnerability and incident contact"
    manufacturer = f.model.system.manufacturer.strip()
    out = [LabelingItem(topic, "Manufacturer", manufacturer, "model: system.manufacturer")
           if manufacturer else
           LabelingItem(topic, "Manufacturer", "The model names no manufacturer.",
                        "model: system.manufacturer", True)]
    out += _control_items(f, topic, _CONTACT)
    evidence = f.evidence(("CTL-COORDINATED-DISCLOSURE", "CTL-PSIRT"))
    if evidence:
        out.append(LabelingItem(topic, "Contact", "; ".join(evidence),
                                "model controls: evidence of CTL-COORDINATED-DISCLOSURE, "
                                "CTL-PSIRT"))
    else:
        out.append(LabelingItem(topic, "Contact", "No vulnerability-reporting contact is "
                                "recorded; give the address (e.g. PSIRT e-mail or security.txt "
                                "URL) and how advisories reach operators.",
                                "model controls: CTL-COORDINATED-DISCLOSURE or CTL-PSIRT with "
                                "evidence", True))
    if "CTL-INCIDENT-RESPONSE" in f.applied:
        out += _control_items(f, topic, ("CTL-INCIDENT-RESPONSE",))
    else:
        out.append(LabelingItem(
            topic, "On a suspected incident", "State what the operator does on a suspected "
            "incident (isolate, keep logs, fall back to downtime procedures) and whom to "
            "inform.", "model controls: CTL-INCIDENT-RESPONSE", True))
    return out


def labeling_items(register: RiskRegister) -> list[LabelingItem]:
    """The labeling draft of an assessed model, topic by topic in :data:`TOPICS` order.

    Deterministic: elements are listed by id, controls in a fixed order.
    """
    f = _Facts(register)
    items: list[LabelingItem] = []
    items += _environment(f)
    items += _interfaces(f)
    items += _operator_controls(f)
    items += _topic_from_controls(
        f, "Secure default configuration", _DEFAULTS, "has_local_accounts",
        "Components with local accounts",
        "No secure-default or hardening control is applied; describe the default settings, "
        "which services are enabled, and how to harden the product.")
    items += _topic_from_controls(
        f, "Logging and audit", _LOGGING, "logs_security_events",
        "Components recording security events",
        "No logging control is applied; state which security events are logged, where, for "
        "how long, and how the operator retrieves them for forensics.")
    items += _topic_from_controls(
        f, "Backup and restore", _BACKUP, "holds_backups", "Components holding backups",
        "No backup control is applied; state what is backed up, by whom, and how the product "
        "is restored to a known good configuration.")
    items += _updates(f)
    items += _end_of_support(f)
    items += _sbom(f)
    items += _decommissioning(f)
    items += _contact(f)
    return items


def labeling_rows(register: RiskRegister) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the labeling draft for a spreadsheet (gap as ``yes``/``no``).

    Cells are plain text; the workbook writer applies its own formula-safe quoting.
    """
    rows = [[i.topic, i.item, i.detail, i.source, "yes" if i.gap else "no"]
            for i in labeling_items(register)]
    return list(LABELING_COLUMNS), rows


def labeling_markdown(register: RiskRegister, *, heading: int = 1) -> str:
    """The labeling draft as Markdown: one table per topic, gaps marked **GAP**.

    ``heading`` is the level of the title (2 nests it in a report).
    """
    items = labeling_items(register)
    h = "#" * max(1, min(heading, 4))
    name = register.analysis.model.system.name
    gaps = sum(1 for i in items if i.gap)
    lines = [f"{h} Labeling draft: {markdown_cell(name)}", "",
             f"{len(items)} statements, {gaps} gap{'s' if gaps != 1 else ''} the manufacturer "
             "still has to fill (marked **GAP**).", ""]
    by_topic: dict[str, list[LabelingItem]] = {}
    for i in items:
        by_topic.setdefault(i.topic, []).append(i)
    for topic, (asks, source) in TOPICS.items():
        lines += [f"{h}# {topic}", "", f"{asks} ({source})", "",
                  "| Item | Statement | Source |", "|---|---|---|"]
        for i in by_topic.get(topic, []):
            mark = "**GAP** " if i.gap else ""
            lines.append(f"| {markdown_cell(i.item)} | {mark}{markdown_cell(i.detail)} | "
                         f"{markdown_cell(i.source)} |")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
