"""pytm interop: import a pytm threat model, and run pytm's own engine on a medthreat model.

* :func:`import_pytm` reads a live pytm ``TM`` (built in a notebook or script) or the JSON file
  that ``python tm.py --json out.json`` writes, and returns ``(Model, notes)`` like the other
  importers. Reading the JSON never runs Python and does not need pytm installed.
* :func:`model_to_pytm` builds pytm objects from a medthreat model; :func:`run_pytm` runs pytm's
  ``tm.check()`` and ``tm.resolve()`` on them and returns pytm's findings per element;
  :func:`compare_with_pytm` puts them next to medthreat's findings in a pandas DataFrame.

pytm keeps its model in class-level state shared by every ``TM`` of the process. ``run_pytm``
starts from a fresh state and puts the caller's state (and the ``random`` module's state, which
``TM()`` reseeds) back afterwards, so two runs give identical results. pytm is optional: it is
imported only by the functions that need it (``pip install 'medthreat[pytm]'``).
"""

from __future__ import annotations

import os
import random
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from .._yaml import SourceMap
from ..errors import MedthreatError, Problem
from ..model import ActorRole, BoundaryKind, DataKind, Model
from . import TYPE_KEYWORDS, Context, map_protocol, normalise, one_line, read

if TYPE_CHECKING:
    import pandas

    from ..catalog import Catalog
    from ..engine import Analysis

__all__ = [
    "PYTM_STRIDE",
    "PytmFinding",
    "PytmRun",
    "compare_with_pytm",
    "comparison_csv",
    "comparison_markdown",
    "import_pytm",
    "model_to_pytm",
    "run_pytm",
]

INSTALL_HINT = "pip install 'medthreat[pytm]'"

# ------------------------------------------------------------------------------------------------
# Mapping tables (documented in docs/interop.md, section "pytm")
# ------------------------------------------------------------------------------------------------

#: Boundary name words -> boundary kind, first match wins; no match: the parent's kind, else
#: physical_site (noted).
BOUNDARY_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("internet", "internet"), ("public", "internet"), ("wan", "internet"),
    ("third-party", "third_party_cloud"), ("saas", "third_party_cloud"),
    ("cloud", "cloud"), ("aws", "cloud"), ("azure", "cloud"), ("gcp", "cloud"),
    ("vpc", "cloud"), ("home", "home_network"), ("mobile", "mobile_device"),
    ("phone", "mobile_device"), ("smartphone", "mobile_device"), ("tablet", "mobile_device"),
    ("hospital", "hospital_network"), ("ward", "hospital_network"), ("icu", "hospital_network"),
    ("clinic", "clinic_network"), ("practice", "clinic_network"),
    ("vendor", "vendor_network"), ("manufacturer", "vendor_network"),
    ("corporate", "vendor_network"), ("enterprise", "vendor_network"),
    ("device", "device"), ("site", "physical_site"), ("building", "physical_site"),
)

#: Actor name words -> actor role, first match wins; ``isAdmin`` -> it_administrator; else other.
ROLE_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("patient", "patient"), ("caregiver", "caregiver"), ("family", "caregiver"),
    ("parent", "caregiver"), ("data-scientist", "data_scientist"),
    ("annotator", "annotator"), ("labeler", "annotator"), ("researcher", "researcher"),
    ("nurse", "clinician"), ("clinician", "clinician"), ("physician", "clinician"),
    ("doctor", "clinician"), ("surgeon", "clinician"), ("staff", "clinician"),
    ("clinical", "clinician"), ("technician", "service_technician"),
    ("service", "service_technician"), ("admin", "it_administrator"),
    ("administrator", "it_administrator"), ("it", "it_administrator"),
    ("developer", "developer"), ("engineer", "developer"), ("devops", "developer"),
)

#: pytm element class -> DFD element kind of the medthreat component type it becomes.
CLASS_KINDS: dict[str, str] = {
    "Process": "process", "SetOfProcesses": "process", "Server": "process",
    "Lambda": "process", "LLM": "process", "Agent": "process", "Asset": "process",
    "Element": "process", "Datastore": "data_store", "ExternalEntity": "external_entity",
}

#: pytm classes whose type comes from the class unless a catalog type name matches.
CLASS_TYPES: dict[str, str] = {
    "Lambda": "serverless_function", "LLM": "llm_service", "Agent": "ai_agent",
}

#: Name words for medical and app components (after catalog type names, before the shared
#: keyword table); only types of the element kind the pytm class implies are chosen.
NAME_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("monitor", "patient_monitor"), ("pump", "infusion_pump"), ("patch", "wearable_sensor"),
    ("wearable", "wearable_sensor"), ("sensor", "wearable_sensor"),
    ("implant", "implantable_device"), ("pacemaker", "implantable_device"),
    ("programmer", "device_programmer"), ("laptop", "service_laptop"), ("app", "mobile_app"),
    ("directory", "identity_provider"), ("inference", "inference_service"),
    ("archive", "object_storage"), ("package", "package_repository"),
    ("packages", "package_repository"), ("supplier", "model_supplier"),
)

#: Extra attributes a pytm script may set to choose the medthreat value explicitly (pytm
#: accepts and ignores them; its JSON dump leaves them out).
HINTS = ("medthreat_type", "medthreat_role", "medthreat_kind")

#: pytm DatastoreType -> component type.
DATASTORE_TYPES: dict[str, str] = {
    "SQL": "sql_database", "AWS_S3": "object_storage", "FILE_SYSTEM": "object_storage",
}

#: Normalised pytm protocol strings -> medthreat protocol (tried before the shared table).
PYTM_PROTOCOLS: dict[str, str] = {
    "hl7": "hl7_mllp", "hl7v2": "hl7_mllp", "hl7-v2": "hl7_mllp", "mllp": "hl7_mllp",
    "hl7-fhir": "fhir_rest", "fhir-rest": "fhir_rest", "dicom-tls": "dicom_tls",
    "dicomweb": "dicomweb", "wifi": "wifi", "wi-fi": "wifi", "802-11": "wifi",
    "ethernet": "ethernet", "lan": "ethernet", "ip": "ethernet", "serial": "serial",
    "rs232": "serial", "rs-232": "serial", "rs485": "serial", "uart": "serial",
    "can": "can", "can-bus": "can", "jtag": "jtag_swd", "swd": "jtag_swd",
    "cellular": "cellular", "lte": "cellular", "4g": "cellular", "5g": "cellular",
    "gsm": "cellular", "bluetooth-le": "ble", "bluetooth-low-energy": "ble",
    "ble-lesc": "ble_lesc", "mics": "proprietary_rf", "rf": "proprietary_rf",
    "ota": "ota_package", "s3": "object_storage_api", "object-storage": "object_storage_api",
    "vpn": "vpn_ipsec", "local-ui": "local_ui", "ui": "local_ui", "gui": "local_ui",
    "touchscreen": "local_ui", "keypad": "local_ui", "ipc": "in_process",
    "in-process": "in_process", "function-call": "in_process", "postgresql": "sql",
    "mysql": "sql", "tds": "sql", "mongodb": "nosql_api", "nosql": "nosql_api",
    "soap": "http", "rest": "http", "udp": "tcp_proprietary",
}

#: Protocols with a TLS variant in the catalog: used when pytm marks the flow encrypted.
TLS_VARIANTS: dict[str, str] = {
    "mqtt": "mqtts", "amqp": "amqps", "ldap": "ldaps", "coap": "coap_dtls",
    "dicom": "dicom_tls", "hl7_mllp": "hl7_mllp_tls", "grpc": "grpc_tls",
    "smb": "smb3_encrypted",
}

#: Well-known destination ports -> protocol, used when a flow names no protocol.
PORT_PROTOCOLS: dict[int, str] = {
    443: "https", 80: "http", 8080: "http", 1883: "mqtt", 8883: "mqtts", 2575: "hl7_mllp",
    104: "dicom", 11112: "dicom", 2762: "dicom_tls", 22: "ssh", 5432: "sql", 3306: "sql",
    1433: "sql", 1521: "sql", 389: "ldap", 636: "ldaps", 5672: "amqp", 5671: "amqps",
    5683: "coap", 5684: "coap_dtls", 514: "syslog", 445: "smb", 27017: "nosql_api",
}

#: pytm authenticationScheme words -> authentication method.
AUTH_SCHEMES: tuple[tuple[str, str], ...] = (
    ("mtls", "mutual_tls"), ("mutual", "mutual_tls"), ("client-certificate", "certificate"),
    ("certificate", "certificate"), ("x509", "certificate"), ("api-key", "api_key"),
    ("apikey", "api_key"), ("saml", "sso"), ("oidc", "sso"), ("openid", "sso"),
    ("sso", "sso"), ("kerberos", "sso"), ("oauth", "token"), ("oauth2", "token"),
    ("jwt", "token"), ("bearer", "token"), ("token", "token"), ("basic", "password"),
    ("password", "password"), ("pin", "password"), ("pairing", "pairing"), ("other", "other"),
)

#: pytm Classification -> confidentiality.
CONFIDENTIALITY: dict[str, str] = {
    "PUBLIC": "low", "RESTRICTED": "medium", "SENSITIVE": "high", "SECRET": "high",
    "TOP_SECRET": "high",
}

#: pytm element controls -> catalog control applied to the element (status implemented).
CONTROL_MAP: dict[str, str] = {
    "sanitizesInput": "CTL-INPUT-VALIDATION", "validatesInput": "CTL-INPUT-VALIDATION",
    "checksInputBounds": "CTL-INPUT-VALIDATION", "usesParameterizedInput": "CTL-INPUT-VALIDATION",
    "validatesContentType": "CTL-INPUT-VALIDATION", "validatesHeaders": "CTL-INPUT-VALIDATION",
    "implementsServerSideValidation": "CTL-INPUT-VALIDATION",
    "implementsStrictHTTPValidation": "CTL-INPUT-VALIDATION", "disablesDTD": "CTL-INPUT-VALIDATION",
    "hasAccessControl": "CTL-RBAC", "authorizesSource": "CTL-RBAC", "implementsPOLP": "CTL-RBAC",
    "isHardened": "CTL-SECURE-CONFIGURATION", "isEncryptedAtRest": "CTL-ENCRYPTION-AT-REST",
    "usesMFA": "CTL-MFA", "usesCodeSigning": "CTL-SIGNED-FIRMWARE",
    "handlesResourceConsumption": "CTL-RATE-LIMIT", "isResilient": "CTL-HIGH-AVAILABILITY",
    "usesStrongSessionIdentifiers": "CTL-SECURE-SESSION", "encryptsCookies": "CTL-SECURE-SESSION",
    "encryptsSessionData": "CTL-SECURE-SESSION", "implementsCSRFToken": "CTL-SECURE-SESSION",
    "verifySessionIdentifiers": "CTL-SECURE-SESSION",
    "definesConnectionTimeout": "CTL-SECURE-SESSION",
    "usesSecureFunctions": "CTL-EXPLOIT-MITIGATION",
    "tracksExecutionFlow": "CTL-EXPLOIT-MITIGATION",
    "encodesOutput": "CTL-EXPLOIT-MITIGATION", "encodesHeaders": "CTL-EXPLOIT-MITIGATION",
    "implementsNonce": "CTL-REPLAY-PROTECTION", "authenticatesSource": "CTL-API-AUTH",
    "implementsAuthenticationScheme": "CTL-API-AUTH", "isEncrypted": "CTL-TRANSPORT-ENCRYPTION",
}

#: pytm element attributes -> catalog attribute set to true.
ATTRIBUTE_MAP: dict[str, str] = {
    "implementsAPI": "web_application", "allowsClientSideScripting": "web_application",
    "storesPII": "stores_phi", "hasRAG": "uses_retrieval",
    "hasAgentCapabilities": "invokes_tools", "usesExternalTools": "invokes_tools",
}

#: Data kind from data name words (after credentials and PII), first match wins.
DATA_KIND_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("credential", "credentials"), ("password", "credentials"), ("token", "credentials"),
    ("key", "credentials"), ("secret", "credentials"), ("certificate", "credentials"),
    ("command", "therapy_command"), ("dose", "therapy_command"), ("bolus", "therapy_command"),
    ("order", "therapy_command"), ("therapy", "therapy_command"), ("firmware", "firmware"),
    ("software", "firmware"), ("update", "firmware"), ("weights", "model_weights"),
    ("model", "model_weights"), ("training", "training_data"), ("dataset", "training_data"),
    ("config", "configuration"), ("configuration", "configuration"), ("settings", "configuration"),
    ("setting", "configuration"), ("limits", "configuration"), ("library", "configuration"),
    ("log", "audit_log"), ("logs", "audit_log"), ("audit", "audit_log"),
    ("image", "clinical_image"), ("images", "clinical_image"), ("dicom", "clinical_image"),
    ("telemetry", "telemetry"), ("status", "telemetry"), ("alarm", "telemetry"),
    ("alarms", "telemetry"), ("metrics", "telemetry"),
)
#: Words that make personal data health data (isPII -> phi instead of pii).
HEALTH_WORDS = ("patient", "health", "medical", "clinical", "vital", "vitals", "ecg", "record",
                "records", "phi", "glucose", "infusion", "diagnosis", "ehr", "waveform",
                "waveforms", "therapy", "treatment", "lab")

#: pytm 1.4 threat id -> STRIDE letters, medthreat's reading of pytm's threat library (pytm
#: itself does not classify its threats by STRIDE). Unknown ids count as "?".
PYTM_STRIDE: dict[str, str] = {
    "INP01": "TE", "INP02": "TE", "INP03": "TE", "CR01": "S", "INP04": "T", "CR02": "I",
    "INP05": "TE", "INP06": "T", "SC01": "I", "LB01": "T", "AA01": "S", "DS01": "I",
    "DE01": "I", "DE02": "T", "API01": "E", "AC01": "E", "INP07": "TE", "AC02": "T",
    "DO01": "D", "HA01": "I", "AC03": "TE", "DO02": "D", "DS02": "I", "INP08": "TE",
    "INP09": "T", "INP10": "T", "INP11": "I", "INP12": "TE", "AC04": "T", "DO03": "D",
    "AC05": "ST", "INP13": "TE", "INP14": "T", "DE03": "I", "CR03": "S", "API02": "TE",
    "HA02": "I", "DS03": "I", "AC06": "E", "HA03": "I", "SC02": "T", "AC07": "E",
    "INP15": "T", "HA04": "I", "SC03": "T", "INP16": "TE", "AA02": "S", "CR04": "S",
    "DO04": "D", "DS04": "T", "SC04": "T", "CR05": "I", "AC08": "T", "DS05": "I",
    "SC05": "T", "INP17": "T", "AA03": "S", "AC09": "E", "INP18": "I", "CR06": "TI",
    "AC10": "I", "CR07": "T", "AA04": "ST", "CR08": "T", "INP19": "D", "INP20": "T",
    "AC11": "S", "INP21": "T", "INP22": "D", "INP23": "TE", "DO05": "D", "AC12": "E",
    "AC13": "E", "AC14": "E", "INP24": "T", "INP25": "T", "INP26": "TE", "INP27": "T",
    "INP28": "T", "INP29": "T", "INP30": "T", "INP31": "TE", "INP32": "T", "INP33": "TE",
    "INP34": "D", "INP35": "T", "DE04": "R", "AC15": "T", "INP36": "T", "INP37": "T",
    "INP38": "T", "AC16": "S", "INP39": "T", "INP40": "T", "AC17": "S", "AC18": "S",
    "INP41": "T", "AC19": "S", "AC20": "S", "AC21": "S", "DS06": "I", "DR01": "I",
    "AC22": "S", "AC23": "I", "AC24": "S", "LLM01": "T", "LLM02": "T", "LLM03": "I",
    "LLM04": "T", "LLM05": "E", "LLM06": "E", "LLM07": "E", "LLM08": "I", "LLM09": "E",
}

_BOUNDARY_KINDS = {k.value for k in BoundaryKind}
_DATA_KINDS = {k.value for k in DataKind}
_ROLES = {r.value for r in ActorRole}

# Element fields that carry no design information, or are mapped explicitly.
_BOOKKEEPING = frozenset({
    "name", "description", "inBoundary", "inScope", "findings", "overrides", "assumptions",
    "inputs", "outputs", "data", "controls", "severity", "uuid", "is_drawn", "levels",
    "__class__", "port", "protocol", "OS", "type", "isSQL",
})
# Non-false defaults of pytm 1.4 fields (a value equal to these is not reported as dropped).
_DEFAULTS: dict[str, Any] = {
    "codeType": "Unmanaged", "maxClassification": "UNKNOWN", "minTLSVersion": "NONE",
    "onAWS": None, "isThirdParty": True, "hasSystemPrompt": True,
    "processesUntrustedInput": True, "port": -1,
}
_FLOW_FIELDS_USED = frozenset({
    "name", "description", "source", "sink", "protocol", "dstPort", "srcPort", "tlsVersion",
    "data", "note", "inScope", "usesVPN", "usesSessionTokens", "controls", "isResponse",
    "response", "responseTo", "order", "findings", "overrides", "assumptions", "severity",
    "levels", "uuid", "is_drawn", "inBoundary",
})


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _words(text: str) -> str:
    return f"-{_slug(text)}-"


def _has(padded: str, word: str) -> bool:
    """Whether ``word`` (or its plural) occurs as whole words in a ``_words`` string."""
    return f"-{word}-" in padded or f"-{word}s-" in padded


def _first(table: tuple[tuple[str, str], ...], text: str) -> str | None:
    padded = _words(text)
    return next((value for word, value in table if _has(padded, word)), None)


def _head_match(table: tuple[tuple[str, str], ...], text: str,
                accept: Any = lambda value: True) -> str | None:
    """The value of the keyword that ends nearest the end of ``text`` (its head noun in an
    English compound such as "Pump cloud API"); ties go to the longer keyword, then to table
    order."""
    padded = _words(text)
    best: tuple[int, int, int] | None = None
    found = None
    for order, (word, value) in enumerate(table):
        if not accept(value):
            continue
        for form in (word, f"{word}s"):
            at = padded.rfind(f"-{form}-")
            if at >= 0:
                key = (-(at + len(form)), -len(form), order)
                if best is None or key < best:
                    best, found = key, value
    return found


def _enum_name(value: Any) -> str:
    """``Classification.SENSITIVE`` (JSON) or the enum member (live) -> ``SENSITIVE``."""
    if isinstance(value, Enum):
        return value.name
    return str(value).rsplit(".", 1)[-1] if value is not None else ""


def _is_default(name: str, value: Any) -> bool:
    if name in _DEFAULTS:
        default = _DEFAULTS[name]
        return default is None or _enum_name(value) == str(default) or value == default
    if isinstance(value, Enum):
        return value.name in ("UNKNOWN", "NONE")
    if isinstance(value, str) and "." in value and value.rsplit(".", 1)[-1] in ("UNKNOWN",
                                                                               "NONE"):
        return True
    return value in (None, False, "", -1, 0) or (isinstance(value, list | set | dict)
                                                 and not value)


# ------------------------------------------------------------------------------------------------
# A neutral snapshot of a pytm model, from a live TM or from its JSON dump
# ------------------------------------------------------------------------------------------------


@dataclass
class _Snap:
    """What the importer reads, with references as list indexes."""

    name: str
    description: str
    boundaries: list[dict[str, Any]] = field(default_factory=list)
    data: list[dict[str, Any]] = field(default_factory=list)
    elements: list[dict[str, Any]] = field(default_factory=list)
    flows: list[dict[str, Any]] = field(default_factory=list)
    assumptions: list[dict[str, Any]] = field(default_factory=list)
    findings: int = 0
    excluded: list[str] = field(default_factory=list)
    custom_threats: str = ""
    from_json: bool = False


def _pytm() -> Any:
    """The pytm module, or a clear error naming the extra to install."""
    try:
        import pytm
    except ImportError:
        raise MedthreatError([Problem("", None, "", "pytm is not installed; install it with "
                                      f"{INSTALL_HINT}")]) from None
    return pytm


def _known_class(obj: Any) -> str:
    """The first pytm class name in the MRO of a live element (user subclasses allowed)."""
    for klass in type(obj).__mro__:
        if klass.__name__ in CLASS_KINDS or klass.__name__ == "Actor":
            return klass.__name__
    return "Asset"


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return value


def _fields_of(obj: Any) -> dict[str, Any]:
    """All declared and extra fields of a live pytm (pydantic) object, as plain values."""
    names = list(getattr(type(obj), "model_fields", {}))
    extra = getattr(obj, "__pydantic_extra__", None) or {}
    out = {}
    for name in [*names, *sorted(extra)]:
        try:
            value = getattr(obj, name)
        except AttributeError:
            continue
        if hasattr(value, "name") and not isinstance(value, Enum | str):
            value = getattr(value, "name", value)  # a referenced element: its name
        out[name] = _plain(value)
    return out


def _controls_of(obj: Any) -> dict[str, Any]:
    controls = getattr(obj, "controls", None)
    if controls is None:
        return {}
    dump = getattr(controls, "model_dump", None)
    return dict(dump()) if callable(dump) else dict(vars(controls))


def _snapshot_live(tm: Any) -> _Snap:
    """Read a live TM: pytm keeps its elements in class-level lists."""
    pytm = _pytm()
    cls = type(tm)
    snap = _Snap(name=str(getattr(tm, "name", "") or ""),
                 description=str(getattr(tm, "description", "") or ""))
    boundaries = [b for b in cls._boundaries if isinstance(b, pytm.Boundary)]
    b_index = {id(b): i for i, b in enumerate(boundaries)}
    data = list(cls._data)
    d_index = {id(d): i for i, d in enumerate(data)}
    elements = [e for e in cls._elements
                if not isinstance(e, pytm.Boundary | pytm.Dataflow)]
    e_index = {id(e): i for i, e in enumerate(elements)}

    def where(obj: Any) -> int | None:
        parent = getattr(obj, "inBoundary", None)
        return b_index.get(id(parent)) if parent is not None else None

    for b in boundaries:
        extra = getattr(b, "__pydantic_extra__", None) or {}
        snap.boundaries.append({"name": b.name, "description": b.description or "",
                                "parent": where(b), "hint": extra.get("medthreat_kind")})
    for d in data:
        item = _fields_of(d)
        item.pop("carriedBy", None)
        item.pop("processedBy", None)
        snap.data.append(item)
    for e in elements:
        fields = _fields_of(e)
        snap.elements.append({
            "class": _known_class(e), "raw_class": type(e).__name__, "name": e.name,
            "description": e.description or "", "boundary": where(e),
            "inScope": bool(getattr(e, "inScope", True)), "controls": _controls_of(e),
            "fields": fields, "data": [d_index[id(d)] for d in getattr(e, "data", ())
                                       if id(d) in d_index],
            "overrides": len(getattr(e, "overrides", ()) or ()),
            "assumptions": len(getattr(e, "assumptions", ()) or ()),
        })
    flows = list(cls._flows)
    f_index = {id(f): i for i, f in enumerate(flows)}
    for f in flows:
        fields = _fields_of(f)
        snap.flows.append({
            **fields, "source": e_index.get(id(f.source)), "sink": e_index.get(id(f.sink)),
            "source_name": getattr(f.source, "name", "?"),
            "sink_name": getattr(f.sink, "name", "?"),
            "responseTo": f_index.get(id(f.responseTo)) if f.responseTo is not None else None,
            "controls": _controls_of(f),
            "data": [d_index[id(d)] for d in f.data if id(d) in d_index],
            "overrides": len(f.overrides or ()),
        })
    for a in getattr(tm, "assumptions", ()) or ():
        snap.assumptions.append({"name": a.name, "description": a.description or "",
                                 "exclude": sorted(a.exclude)})
    snap.findings = len(getattr(tm, "findings", ()) or ())
    snap.excluded = sorted(str(x) for x in cls._threatsExcluded)
    threats_file = str(getattr(tm, "threatsFile", "") or "")
    if threats_file and not threats_file.replace("\\", "/").endswith("threatlib/threats.json"):
        snap.custom_threats = threats_file
    return snap


def _snapshot_json(ctx: Context, root: dict[str, Any]) -> _Snap:
    """Read pytm's JSON dump (``--json``): references are element, boundary and data names."""
    for key in ("name", "elements", "flows"):
        if key not in root:
            raise ctx.fail((), f"not a pytm JSON dump: the key {key!r} is missing")
    snap = _Snap(name=ctx.text(root.get("name"), ("name",), "name"),
                 description=ctx.text(root.get("description"), ("description",), "text"),
                 from_json=True)

    def index_by_name(key: str) -> tuple[list[dict[str, Any]], dict[str, int]]:
        items: list[dict[str, Any]] = []
        names: dict[str, int] = {}
        dupes: list[str] = []
        for i, raw in enumerate(ctx.seq(root.get(key), (key,), key)):
            item = ctx.mapping(raw, (key, i), f"an entry of {key}")
            name = ctx.text(item.get("name"), (key, i, "name"), "name")
            if not name:
                raise ctx.fail((key, i), "an entry needs a 'name'")
            if name in names:
                dupes.append(name)
            else:
                names[name] = i
            items.append(item)
        if dupes:
            ctx.note(f"{key}: the names {', '.join(sorted(set(dupes)))} are used more than "
                     "once; pytm's JSON refers by name, so references go to the first one")
        return items, names

    boundaries, b_names = index_by_name("boundaries")
    data, d_names = index_by_name("data")
    elements, e_names = index_by_name("elements")
    flows, f_names = index_by_name("flows")

    def ref(value: Any, table: dict[str, int], at: tuple[str | int, ...],
            what: str) -> int | None:
        if value is None:
            return None
        name = ctx.text(value, at, what)
        if name not in table:
            raise ctx.fail(at, f"unknown {what} {name!r}")
        return table[name]

    def data_refs(values: Any, at: tuple[str | int, ...]) -> list[int]:
        out = []
        for j, name in enumerate(ctx.seq(values, at, "data list")):
            idx = ref(name, d_names, (*at, j), "data")
            if idx is not None:
                out.append(idx)
        return out

    for i, b in enumerate(boundaries):
        snap.boundaries.append({
            "name": b["name"], "description": ctx.text(b.get("description"),
                                                       ("boundaries", i, "description"), "t"),
            "parent": ref(b.get("inBoundary"), b_names, ("boundaries", i, "inBoundary"),
                          "boundary")})
    for d in data:
        snap.data.append({k: v for k, v in d.items() if k not in ("carriedBy", "processedBy")})
    for i, e in enumerate(elements):
        at: tuple[str | int, ...] = ("elements", i)
        raw_class = ctx.text(e.get("__class__"), (*at, "__class__"), "class") or "Asset"
        known = raw_class if raw_class in CLASS_KINDS or raw_class == "Actor" else "Asset"
        if known != raw_class:
            ctx.note(f"element {e['name']!r}: pytm class {raw_class!r} is unknown; read as a "
                     "generic asset (process)")
        fields = {k: v for k, v in e.items() if k != "__class__"}
        snap.elements.append({
            "class": known, "raw_class": raw_class, "name": e["name"],
            "description": ctx.text(e.get("description"), (*at, "description"), "text"),
            "boundary": ref(e.get("inBoundary"), b_names, (*at, "inBoundary"), "boundary"),
            "inScope": e.get("inScope", True) is not False,
            "controls": ctx.mapping(e.get("controls"), (*at, "controls"), "controls"),
            "fields": fields, "data": data_refs(e.get("data"), (*at, "data")),
            "overrides": len(ctx.seq(e.get("overrides"), (*at, "overrides"), "overrides")),
            "assumptions": len(ctx.seq(e.get("assumptions"), (*at, "assumptions"), "list")),
        })
    for i, f in enumerate(flows):
        at = ("flows", i)
        ends: dict[str, Any] = {}
        for key in ("source", "sink"):
            name = ctx.text(f.get(key), (*at, key), key)
            if name in e_names:
                ends[key] = e_names[name]
            elif name in b_names:
                ends[key] = None
            else:
                raise ctx.fail((*at, key), f"unknown {key} element {name!r}")
            ends[f"{key}_name"] = name
        snap.flows.append({
            **f, **ends,
            "responseTo": (f_names.get(str(f["responseTo"]))
                           if f.get("responseTo") is not None else None),
            "controls": ctx.mapping(f.get("controls"), (*at, "controls"), "controls"),
            "data": data_refs(f.get("data"), (*at, "data")),
            "overrides": len(ctx.seq(f.get("overrides"), (*at, "overrides"), "overrides")),
        })
    for i, raw in enumerate(ctx.seq(root.get("assumptions"), ("assumptions",), "assumptions")):
        a = raw if isinstance(raw, dict) else {"name": str(raw)}
        snap.assumptions.append({
            "name": ctx.text(a.get("name"), ("assumptions", i, "name"), "name"),
            "description": ctx.text(a.get("description"), ("assumptions", i, "description"),
                                    "text"),
            "exclude": sorted(str(x) for x in ctx.seq(a.get("exclude"),
                                                      ("assumptions", i, "exclude"), "list"))})
    snap.findings = len(ctx.seq(root.get("findings"), ("findings",), "findings"))
    snap.excluded = sorted(str(x) for x in ctx.seq(root.get("threatsExcluded"),
                                                   ("threatsExcluded",), "list"))
    threats_file = str(root.get("threatsFile") or "")
    if threats_file and not threats_file.replace("\\", "/").endswith("threatlib/threats.json"):
        snap.custom_threats = threats_file
    return snap


# ------------------------------------------------------------------------------------------------
# Import
# ------------------------------------------------------------------------------------------------


def import_pytm(source: Any, *, catalog: Catalog | None = None) -> tuple[Model, list[str]]:
    """Import a pytm model and return ``(model, notes)``.

    ``source`` is a live pytm ``TM`` (its elements are read from pytm's class-level state, as
    built since the last ``TM.reset()``) or the path of the JSON file ``python tm.py --json
    FILE`` writes. The JSON is parsed as data (no code runs, pytm need not be installed).
    ``catalog`` (default: the shipped catalog) supplies the component types and protocols the
    mapping chooses from. ``notes`` list everything that was guessed or left out.
    """
    from ..catalog import default_catalog

    cat = catalog or default_catalog()
    if isinstance(source, str | os.PathLike):
        data, src = read(source)
        ctx = Context(src, "pytm")
        snap = _snapshot_json(ctx, ctx.mapping(data, (), "the document"))
    else:
        pytm = _pytm()
        if not isinstance(source, pytm.TM):
            raise TypeError(f"import_pytm expects a pytm TM or a file path, not "
                            f"{type(source).__name__}")
        ctx = Context(SourceMap("<pytm TM>"), "pytm")
        snap = _snapshot_live(source)
    ctx.types = set(cat.component_types)
    ctx.protocols = set(cat.protocols)
    return _Importer(ctx, cat, snap).run(), ctx.notes


class _Importer:
    """Turns a snapshot into model data; one instance per import."""

    def __init__(self, ctx: Context, catalog: Catalog, snap: _Snap) -> None:
        self.ctx = ctx
        self.catalog = catalog
        self.snap = snap
        self.kind_of_type = {t.id: t.element for t in catalog.component_types.values()}
        self.no_protocol: list[str] = []

    # -- helpers ---------------------------------------------------------------------------

    def new_id(self, name: str, fallback: str) -> str:
        return self.ctx.new_id(_slug(name) or fallback, fallback)

    def type_by_name(self, name: str, kind: str) -> str | None:
        """Catalog type whose id or name occurs in ``name`` (longest phrase wins)."""
        padded = _words(name)
        best: tuple[int, str] | None = None
        for t in self.catalog.component_types.values():
            if t.element != kind:
                continue
            plain = re.sub(r"\(.*?\)", " ", t.name)
            phrases = {t.id.replace("_", "-"), normalise(plain)}
            phrases |= {normalise(p) for p in plain.split("/") if len(p.split()) >= 2}
            for phrase in phrases:
                if phrase and f"-{phrase}-" in padded:
                    score = (-phrase.count("-") - 1, t.id)
                    if best is None or score < best:
                        best = score
        return best[1] if best else None

    def component_type(self, element: dict[str, Any]) -> str:
        cls, name, fields = element["class"], element["name"], element["fields"]
        kind = CLASS_KINDS[cls]
        label = f"element {name!r} ({element['raw_class']})"
        hint = fields.get("medthreat_type")
        if hint in self.kind_of_type:
            return str(hint)
        if hint is not None:
            self.ctx.note(f"{label}: medthreat_type {hint!r} is not a catalog component type; "
                          "choosing by name")
        found = self.type_by_name(name, kind)
        if found:
            return found
        if cls in CLASS_TYPES and CLASS_TYPES[cls] in self.kind_of_type:
            return CLASS_TYPES[cls]
        if cls == "Datastore":
            ds_type = _enum_name(fields.get("type"))
            if DATASTORE_TYPES.get(ds_type) in self.kind_of_type:
                return DATASTORE_TYPES[ds_type]
        found = _head_match((*NAME_KEYWORDS, *TYPE_KEYWORDS), name,
                            lambda type_id: self.kind_of_type.get(type_id) == kind)
        if found:
            return found
        if cls == "Datastore":
            guess = "sql_database" if fields.get("isSQL", True) is not False else "nosql_database"
            self.ctx.note(f"{label}: no catalog type matches the name; using {guess!r} "
                          "(from isSQL; set the type by hand for a precise analysis)")
            return guess
        fallback = {"process": "cloud_service", "external_entity": "external_service"}[kind]
        self.ctx.note(f"{label}: no catalog type matches the name; using fallback "
                      f"{fallback!r} (set the type by hand for a precise analysis)")
        return fallback

    def dropped(self, label: str, fields: dict[str, Any], used: frozenset[str]) -> None:
        names = sorted(k for k, v in fields.items() if k not in used and k not in _BOOKKEEPING
                       and k not in HINTS and not _is_default(k, v))
        if names:
            self.ctx.note(f"{label}: pytm attributes without a medthreat equivalent were not "
                          f"imported: {', '.join(names)}")

    # -- the import --------------------------------------------------------------------------

    def run(self) -> Model:
        snap, ctx = self.snap, self.ctx
        system: dict[str, Any] = {"name": one_line(snap.name) or "Imported pytm model",
                                  "description": snap.description}
        assumptions = [one_line(f"{a['name']}: {a['description']}" if a["description"]
                                else a["name"]) for a in snap.assumptions if a["name"]]
        if assumptions:
            system["assumptions"] = assumptions
        excluded = sorted({x for a in snap.assumptions for x in a["exclude"]} |
                          set(snap.excluded))
        boundaries = self.boundaries()
        data_ids, data_assets = self.data_assets()
        components, actors, element_ids, controls = self.elements(boundaries, data_ids)
        flows = self.flows(element_ids, data_ids, components)
        if snap.findings:
            ctx.note(f"{snap.findings} pytm finding(s) were not imported: medthreat derives "
                     "threats from its catalog (compare both with compare_with_pytm)")
        if excluded:
            ctx.note("pytm threat exclusions were not imported (" + ", ".join(excluded) +
                     "): record accepted risks as medthreat decisions instead")
        overrides = sum(e["overrides"] for e in snap.elements) + sum(
            f["overrides"] for f in snap.flows)
        per_element = sum(e["assumptions"] for e in snap.elements)
        if overrides or per_element:
            ctx.note(f"{overrides} finding override(s) and {per_element} element "
                     "assumption(s) were not imported (they refer to pytm threat ids)")
        if snap.custom_threats:
            ctx.note(f"custom pytm threat file {snap.custom_threats!r} was not imported")
        return ctx.build({
            "system": system, "boundaries": [b for b, _ in boundaries], "data": data_assets,
            "components": components, "actors": actors, "flows": flows, "controls": controls,
        })

    def boundaries(self) -> list[tuple[dict[str, Any], str]]:
        out: list[tuple[dict[str, Any], str]] = []
        guessed_default = []
        for b in self.snap.boundaries:
            item: dict[str, Any] = {"id": self.new_id(b["name"], "boundary"),
                                    "name": one_line(b["name"]), "description": b["description"]}
            out.append((item, b["name"]))
        # kinds after ids, so that a nested boundary can take its parent's kind
        resolved: dict[int, str] = {}

        def kind_of(i: int, seen: frozenset[int] = frozenset()) -> str | None:
            if i in resolved:
                return resolved[i]
            b = self.snap.boundaries[i]
            hint = b.get("hint")
            kind = hint if hint in _BOUNDARY_KINDS else _first(BOUNDARY_KEYWORDS, b["name"])
            parent = b["parent"]
            if kind is None and parent is not None and parent not in seen:
                kind = kind_of(parent, seen | {i})
            if kind is not None:
                resolved[i] = kind
            return kind

        for i, (item, name) in enumerate(out):
            kind = kind_of(i)
            if kind is None:
                kind = "physical_site"
                guessed_default.append(name)
            item["kind"] = kind
            parent = self.snap.boundaries[i]["parent"]
            if parent is not None and parent != i:
                item["parent"] = out[parent][0]["id"]
        if guessed_default:
            self.ctx.note("boundaries whose name says nothing about the zone became "
                          "'physical_site' (semi-trusted): " + ", ".join(guessed_default) +
                          "; set kind or trust by hand")
        return out

    def data_assets(self) -> tuple[list[str], list[dict[str, Any]]]:
        ids: list[str] = []
        out: list[dict[str, Any]] = []
        guessed: list[str] = []
        for d in self.snap.data:
            name = str(d.get("name", ""))
            if d.get("medthreat_kind") in _DATA_KINDS:
                kind = str(d["medthreat_kind"])
            elif d.get("isCredentials") or _enum_name(d.get("credentialsLife")) not in (
                    "", "NONE"):
                kind = "credentials"
            elif d.get("isPII"):
                padded = _words(name)
                kind = "phi" if any(_has(padded, w) for w in HEALTH_WORDS) else "pii"
            else:
                kind = _first(DATA_KIND_KEYWORDS, name) or "other"
                guessed.append(f"{name}={kind}")
            item: dict[str, Any] = {"id": self.new_id(name, "data"), "name": one_line(name),
                                    "kind": kind}
            description = str(d.get("description") or "")
            if d.get("format"):
                description = f"{description} Format: {d['format']}.".strip()
            if description:
                item["description"] = description
            classification = _enum_name(d.get("classification"))
            if classification in CONFIDENTIALITY:
                item["confidentiality"] = CONFIDENTIALITY[classification]
            elif kind in ("credentials", "phi", "pii"):
                item["confidentiality"] = "high"
            ids.append(item["id"])
            out.append(item)
            self.dropped(f"data {name!r}", d, frozenset({
                "isPII", "isCredentials", "credentialsLife", "classification", "format",
                "isStored", "isDestEncryptedAtRest", "isSourceEncryptedAtRest"}))
        if guessed:
            self.ctx.note("data kinds guessed from names (check them): " + ", ".join(guessed))
        return ids, out

    def elements(self, boundaries: list[tuple[dict[str, Any], str]], data_ids: list[str],
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str | None],
                            list[dict[str, Any]]]:
        components: list[dict[str, Any]] = []
        actors: list[dict[str, Any]] = []
        ids: list[str | None] = []
        applied: dict[str, list[tuple[str, str]]] = {}
        other_roles: list[str] = []
        for e in self.snap.elements:
            name, fields = e["name"], e["fields"]
            new = self.new_id(name, "element")
            ids.append(new)
            boundary = boundaries[e["boundary"]][0]["id"] if e["boundary"] is not None else None
            label = f"element {name!r}"
            if e["class"] == "Actor":
                hint = fields.get("medthreat_role")
                role = hint if hint in _ROLES else _first(ROLE_KEYWORDS, name)
                if role is None:
                    role = "it_administrator" if fields.get("isAdmin") else "other"
                    if role == "other":
                        other_roles.append(name)
                actors.append({"id": new, "name": one_line(name), "role": role,
                               "boundary": boundary, "description": e["description"]})
                self.dropped(label, fields, frozenset({"isAdmin"}))
                continue
            item: dict[str, Any] = {"id": new, "name": one_line(name), "boundary": boundary,
                                    "type": self.component_type(e),
                                    "description": e["description"]}
            attributes: dict[str, Any] = {}
            for attr, target in ATTRIBUTE_MAP.items():
                if fields.get(attr) is True and target in self.catalog.attributes:
                    attributes[target] = True
            if str(fields.get("OS") or "").strip():
                attributes["runs_third_party_software"] = True
                item["description"] = (f"{item['description']} OS: {fields['OS']}.").strip()
            port = fields.get("port")
            if isinstance(port, int) and port > 0:
                item["description"] = (f"{item['description']} Listens on port {port}."
                                       ).strip()
            if attributes:
                item["attributes"] = attributes
            if not e["inScope"]:
                item["out_of_scope"] = True
                item["out_of_scope_reason"] = "out of scope in the pytm model"
            item["processes"] = [data_ids[i] for i in e["data"]]
            components.append(item)
            for control, value in sorted(e["controls"].items()):
                target_ctl = CONTROL_MAP.get(control)
                if value is True and target_ctl and target_ctl in self.catalog.controls:
                    applied.setdefault(target_ctl, []).append((new, control))
            self.dropped(label, fields, frozenset(ATTRIBUTE_MAP))
            unmapped = sorted(c for c, v in e["controls"].items()
                              if c not in CONTROL_MAP and not _is_default(c, v))
            if unmapped:
                self.ctx.note(f"{label}: pytm controls without a catalog control were not "
                              f"imported: {', '.join(unmapped)}")
        if other_roles:
            self.ctx.note("actors whose name says nothing about their role got role "
                          "'other': " + ", ".join(other_roles))
        controls = []
        for control in sorted(applied):
            pairs = applied[control]
            targets = sorted({t for t, _ in pairs}, key=ids.index)
            flags = sorted({c for _, c in pairs})
            controls.append({"control": control, "targets": targets, "status": "implemented",
                             "evidence": "declared in the pytm model (controls." +
                             ", controls.".join(flags) + ")"})
        return components, actors, ids, controls

    def protocol(self, flow: dict[str, Any], label: str, kinds: tuple[str, str],
                 encrypted: bool) -> tuple[str, bool]:
        """(medthreat protocol, whether pytm's name itself says TLS)."""
        name = str(flow.get("protocol") or "").strip()
        port = flow.get("dstPort")
        norm = normalise(name)
        if not name:
            if isinstance(port, int) and port in PORT_PROTOCOLS \
                    and PORT_PROTOCOLS[port] in self.ctx.protocols:
                self.ctx.note(f"{label}: no protocol; {PORT_PROTOCOLS[port]!r} guessed from "
                              f"destination port {port}")
                return PORT_PROTOCOLS[port], False
            if "actor" in kinds:
                return "local_ui", False
            self.no_protocol.append(label)
            return "tcp_proprietary", False
        if norm in ("tls", "ssl", "dtls"):
            return "tcp_proprietary", True
        mapped = PYTM_PROTOCOLS.get(norm)
        if mapped is None or mapped not in self.ctx.protocols:
            mapped, ok = map_protocol(name, self.ctx.protocols)
            if not ok:
                self.ctx.note(f"{label}: protocol {name!r} has no medthreat equivalent; using "
                              f"{mapped!r}")
        if encrypted and mapped in TLS_VARIANTS and TLS_VARIANTS[mapped] in self.ctx.protocols:
            mapped = TLS_VARIANTS[mapped]
        return mapped, False

    def flows(self, element_ids: list[str | None], data_ids: list[str],
              components: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        by_id = {c["id"]: c for c in components}
        actor_ids = {element_ids[i] for i, e in enumerate(self.snap.elements)
                     if e["class"] == "Actor"}
        element_data = {element_ids[i]: e["data"] for i, e in enumerate(self.snap.elements)}
        for f in self.snap.flows:
            name = str(f.get("name") or "")
            label = f"flow {name!r}"
            if f.get("source") is None or f.get("sink") is None:
                self.ctx.note(f"{label} starts or ends at {f.get('source_name')!r} / "
                              f"{f.get('sink_name')!r}, which is not a component or actor; "
                              "left out")
                continue
            src, dst = element_ids[f["source"]], element_ids[f["sink"]]
            assert src is not None and dst is not None
            controls = f.get("controls") or {}
            tls = _enum_name(f.get("tlsVersion"))
            uses_tls = tls.startswith("TLS")
            if tls.startswith("SSL"):
                self.ctx.note(f"{label}: {tls} is broken; the flow is not counted as encrypted")
            encrypted = bool(controls.get("isEncrypted")) or uses_tls or bool(f.get("usesVPN"))
            kinds = ("actor" if src in actor_ids else "element",
                     "actor" if dst in actor_ids else "element")
            protocol, tls_name = self.protocol(f, label, kinds, encrypted)
            item: dict[str, Any] = {"id": self.new_id(name or f"{src}-{dst}", "flow"),
                                    "name": one_line(name), "source": src, "target": dst,
                                    "protocol": protocol}
            spec = self.catalog.protocols[protocol]
            if (encrypted or tls_name) and not spec.encrypted:
                item["encryption"] = "transport"
            scheme = str(controls.get("authenticationScheme") or "").strip()
            if controls.get("authenticatesSource") or controls.get(
                    "implementsAuthenticationScheme") or scheme:
                method = _first(AUTH_SCHEMES, scheme) if scheme else None
                if method is None and scheme:
                    method = "other"
                    self.ctx.note(f"{label}: authentication scheme {scheme!r} is not "
                                  "known; using 'other'")
                if method is None and not spec.authenticated:
                    method = "other"
                if method is not None:
                    item["authentication"] = method
            elif f.get("usesSessionTokens"):
                item["authentication"] = "token"
            sink = self.snap.elements[f["sink"]]
            if controls.get("authorizesSource") or sink["controls"].get("authorizesSource"):
                item["authorization"] = "role_based"
            words = [str(f.get("description") or "").strip(), str(f.get("note") or "").strip()]
            port = f.get("dstPort")
            if isinstance(port, int) and port > 0:
                words.append(f"Destination port {port}.")
            if tls_name or uses_tls:
                words.append(f"pytm: {tls or 'TLS'}.")
            if f.get("usesVPN"):
                words.append("Carried over a VPN.")
            if f.get("responseTo") is not None:
                words.append(f"Response to {self.snap.flows[f['responseTo']].get('name')!r}.")
            item["description"] = " ".join(w for w in words if w)
            carried = sorted({*f["data"], *element_data.get(src, ())})
            item["data"] = [data_ids[i] for i in carried]
            if f.get("inScope") is False:
                item["out_of_scope"] = True
                item["out_of_scope_reason"] = "out of scope in the pytm model"
            out.append(item)
            stored = any(self.snap.data[i].get("isStored") for i in carried)
            for end, key in ((src, "processes"), (dst, "processes")):
                comp = by_id.get(end)
                if comp is not None:
                    comp[key] = sorted({*comp[key], *item["data"]})
            target = by_id.get(dst)
            if target is not None and item["data"] and (
                    stored or self.kind_of_type.get(target["type"]) == "data_store"):
                target["stores"] = sorted({*target.get("stores", []), *(
                    data_ids[i] for i in carried
                    if self.snap.data[i].get("isStored")
                    or self.kind_of_type.get(target["type"]) == "data_store")})
            self.dropped(label, {k: v for k, v in f.items()
                                 if k not in ("source_name", "sink_name")},
                         _FLOW_FIELDS_USED)
            used = {"isEncrypted", "authenticatesSource", "implementsAuthenticationScheme",
                    "authenticationScheme", "authorizesSource"}
            if item.get("authentication") == "mutual_tls":
                used.add("authenticatesDestination")
            unmapped = sorted(c for c, v in controls.items()
                              if c not in used and not _is_default(c, v))
            if unmapped:
                self.ctx.note(f"{label}: pytm flow controls not imported: "
                              f"{', '.join(unmapped)}")
        if self.no_protocol:
            hint = (" (pytm 1.4's check(), which runs before --json, replaces each flow's "
                    "protocol with its sink's default 'protocol': set it on the sink element, "
                    "or import the TM object before tm.process())" if self.snap.from_json else "")
            self.ctx.note(f"{len(self.no_protocol)} flow(s) without a protocol got "
                          f"'tcp_proprietary'{hint}: " + ", ".join(self.no_protocol))
        return out


# ------------------------------------------------------------------------------------------------
# medthreat -> pytm, and pytm's own engine
# ------------------------------------------------------------------------------------------------

#: Catalog control applied to an element -> pytm controls it sets (implemented or verified).
PYTM_CONTROLS: dict[str, tuple[str, ...]] = {
    "CTL-INPUT-VALIDATION": ("sanitizesInput", "validatesInput", "checksInputBounds",
                             "usesParameterizedInput", "implementsServerSideValidation"),
    "CTL-RBAC": ("hasAccessControl", "authorizesSource", "implementsPOLP"),
    "CTL-SECURE-CONFIGURATION": ("isHardened",), "CTL-ENCRYPTION-AT-REST": ("isEncryptedAtRest",),
    "CTL-MFA": ("usesMFA",), "CTL-SIGNED-FIRMWARE": ("usesCodeSigning",),
    "CTL-RATE-LIMIT": ("handlesResourceConsumption",), "CTL-HIGH-AVAILABILITY": ("isResilient",),
    "CTL-SECURE-SESSION": ("usesStrongSessionIdentifiers", "encryptsCookies",
                           "encryptsSessionData", "implementsCSRFToken",
                           "verifySessionIdentifiers", "definesConnectionTimeout"),
    "CTL-EXPLOIT-MITIGATION": ("usesSecureFunctions", "encodesOutput"),
    "CTL-REPLAY-PROTECTION": ("implementsNonce",),
    "CTL-API-AUTH": ("authenticatesSource", "implementsAuthenticationScheme"),
    "CTL-MUTUAL-TLS": ("authenticatesSource", "authenticatesDestination"),
}
_CLASSIFICATION_OF = {"low": "PUBLIC", "medium": "RESTRICTED", "high": "SENSITIVE"}


def _pytm_protocol(protocol: str) -> str:
    """medthreat protocol id -> the string a pytm model uses (HTTPS, MQTTS, HL7-MLLP ...)."""
    return protocol.upper().replace("_", "-")


@dataclass
class _Built:
    tm: Any
    objects: dict[str, Any]  # medthreat element or flow id -> pytm object
    classes: dict[str, str]
    flow_values: dict[str, dict[str, Any]]


def _build_pytm(model: Model, catalog: Catalog) -> _Built:
    """pytm objects for a medthreat model, after resetting pytm's global state."""
    from ..model import validate_model

    pytm = _pytm()
    validate_model(model, catalog)
    pytm.TM.reset()
    tm = pytm.TM(model.system.name, description=model.system.description or model.system.name,
                 assumptions=list(model.system.assumptions))
    taken: Counter[str] = Counter()

    def unique(name: str, ident: str) -> str:
        # pytm's JSON refers by name: keep names unique
        taken[name] += 1
        return name if taken[name] == 1 else f"{name} ({ident})"

    boundaries: dict[str, Any] = {}
    pending = list(model.boundaries)
    while pending:  # parents first, whatever the file order
        rest = []
        for b in pending:
            if b.parent is None or b.parent in boundaries:
                kwargs: dict[str, Any] = {"description": b.description,
                                          "medthreat_kind": b.kind.value}
                if b.parent is not None:
                    kwargs["inBoundary"] = boundaries[b.parent]
                boundaries[b.id] = pytm.Boundary(unique(b.name or b.id, b.id), **kwargs)
            else:
                rest.append(b)
        if len(rest) == len(pending):
            raise MedthreatError([Problem("", None, "boundaries", "boundary parents form a "
                                          "cycle or name unknown boundaries")])
        pending = rest
    stored = {d for c in model.components for d in c.stores}
    data: dict[str, Any] = {}
    for d in model.data_assets:
        data[d.id] = pytm.Data(
            unique(d.name or d.id, d.id), description=d.description,
            classification=pytm.Classification[_CLASSIFICATION_OF[d.confidentiality.value]],
            isPII=d.kind.value in ("phi", "pii"), isCredentials=d.kind.value == "credentials",
            isStored=d.id in stored, medthreat_kind=d.kind.value)
    applied: dict[str, set[str]] = {}
    for ac in model.controls:
        if ac.status.value not in ("implemented", "verified"):
            continue
        flags = PYTM_CONTROLS.get(ac.control, ())
        for target in ac.targets or [c.id for c in model.components]:
            applied.setdefault(target, set()).update(flags)
    objects: dict[str, Any] = {}
    classes: dict[str, str] = {}
    attrs_of = {}
    for c in model.components:
        ctype = catalog.component_types[c.type]
        attrs = {**ctype.attributes, **c.attributes}
        attrs_of[c.id] = attrs
        if ctype.element == "data_store":
            klass = "Datastore"
        elif ctype.element == "external_entity":
            klass = "ExternalEntity"
        elif c.type == "serverless_function":
            klass = "Lambda"
        elif attrs.get("is_llm") and hasattr(pytm, "LLM"):
            klass = "LLM"
        elif c.type == "ai_agent" and hasattr(pytm, "Agent"):
            klass = "Agent"
        elif attrs.get("web_application"):
            klass = "Server"
        else:
            klass = "Process"
        kwargs = {"description": c.description, "inScope": not c.out_of_scope,
                  "medthreat_type": c.type}
        if c.boundary is not None:
            kwargs["inBoundary"] = boundaries[c.boundary]
        element = getattr(pytm, klass)(unique(c.name or c.id, c.id), **kwargs)
        kinds = {data_kind for d in model.data_assets if d.id in c.stores
                 for data_kind in [d.kind.value]}
        if klass == "Datastore":
            element.storesPII = bool(kinds & {"phi", "pii"}) or bool(attrs.get("stores_phi"))
            element.isSQL = c.type == "sql_database"
        if klass in ("Process", "Lambda", "Server") and attrs.get("web_application"):
            element.implementsAPI = klass != "Server"
        if klass == "LLM":
            element.hasRAG = bool(attrs.get("uses_retrieval"))
            element.hasAgentCapabilities = bool(attrs.get("invokes_tools"))
            element.isThirdParty = attrs.get("operated_by") == "third_party"
            element.isSelfHosted = not element.isThirdParty
            element.processesPersonalData = bool(kinds & {"phi", "pii"}) or bool(
                attrs.get("stores_phi"))
        for flag in sorted(applied.get(c.id, ())):
            setattr(element.controls, flag, True)
        objects[c.id], classes[c.id] = element, klass
    for a in model.actors:
        kwargs = {"description": a.description, "medthreat_role": a.role.value}
        if a.boundary is not None:
            kwargs["inBoundary"] = boundaries[a.boundary]
        actor = pytm.Actor(unique(a.name or a.id, a.id), **kwargs)
        actor.isAdmin = a.role.value == "it_administrator"
        objects[a.id], classes[a.id] = actor, "Actor"
    flow_values: dict[str, dict[str, Any]] = {}
    for f in model.flows:
        spec = catalog.protocols[f.protocol]
        encryption = f.encryption.value if f.encryption is not None else (
            "transport" if spec.encrypted else "none")
        auth = f.authentication.value if f.authentication is not None else (
            "other" if spec.authenticated else "none")
        values: dict[str, Any] = {"protocol": _pytm_protocol(f.protocol), "dstPort": -1}
        kwargs = {"protocol": values["protocol"], "description": f.description,
                  "data": [data[d] for d in f.data], "inScope": not f.out_of_scope,
                  "tlsVersion": (pytm.TLSVersion.TLSv12 if encryption != "none"
                                 else pytm.TLSVersion.NONE)}
        flow = pytm.Dataflow(objects[f.source], objects[f.target],
                             unique(f.name or f.id, f.id), **kwargs)
        controls = {"isEncrypted": encryption != "none", "authenticatesSource": auth != "none",
                    "authenticationScheme": (f.authentication.value.replace("_", "-")
                                             if f.authentication is not None
                                             and auth != "none" else ""),
                    "authorizesSource": f.authorization is not None
                    and f.authorization.value != "none",
                    "authenticatesDestination": auth == "mutual_tls"}
        for key, value in controls.items():
            setattr(flow.controls, key, value)
        values["controls"] = controls
        objects[f.id], classes[f.id] = flow, "Dataflow"
        flow_values[f.id] = values
    return _Built(tm, objects, classes, flow_values)


def model_to_pytm(model: Model, catalog: Catalog | None = None) -> Any:
    """Build a pytm ``TM`` from a medthreat model and return it (pytm's state is reset first).

    Components become ``Datastore``, ``ExternalEntity``, ``Lambda``, ``LLM``, ``Agent``,
    ``Server`` (web applications) or ``Process`` by their catalog type; actors become
    ``Actor``; flows ``Dataflow`` with the protocol as an upper-case name and the effective
    encryption and authentication as pytm controls; implemented or verified catalog controls
    set the matching pytm element controls. Every element, boundary and data object carries
    the medthreat type, role or kind as a ``medthreat_type`` / ``medthreat_role`` /
    ``medthreat_kind`` attribute (pytm ignores them; :func:`import_pytm` honours them), so
    importing the result gives the same types back. Like any pytm script, this replaces the
    pytm model currently held in pytm's class-level state.
    """
    from ..catalog import default_catalog

    return _build_pytm(model, catalog or default_catalog()).tm


@dataclass(frozen=True)
class PytmFinding:
    """One pytm finding, attached to the medthreat element or flow it was raised on."""

    element_id: str
    element_name: str
    threat_id: str
    title: str
    severity: str
    stride: str


@dataclass(frozen=True)
class PytmRun:
    """pytm's findings on a medthreat model: per element, with what pytm changed on the way."""

    findings: tuple[PytmFinding, ...]
    classes: dict[str, str]
    notes: tuple[str, ...]
    version: str

    def by_element(self) -> dict[str, list[PytmFinding]]:
        """Element or flow id -> its pytm findings (every element, empty lists included)."""
        out: dict[str, list[PytmFinding]] = {key: [] for key in self.classes}
        for f in self.findings:
            out[f.element_id].append(f)
        return out


@contextmanager
def _isolated_pytm(pytm: Any) -> Iterator[None]:
    """Run with a fresh pytm state; put back the caller's pytm and ``random`` state."""
    saved_state = pytm.TM._state
    saved_random = random.getstate()
    try:
        yield
    finally:
        pytm.TM._state = saved_state
        random.setstate(saved_random)


def run_pytm(model: Model, catalog: Catalog | None = None, *,
             keep_flow_values: bool = True) -> PytmRun:
    """Run pytm's own engine (``tm.check()`` then ``tm.resolve()``) on a medthreat model.

    The model is converted as :func:`model_to_pytm` does. pytm 1.4's ``check()`` replaces each
    flow's protocol, destination port and encryption flag with its sink's defaults; with
    ``keep_flow_values`` (default) the converted flow values are put back before ``resolve()``
    so that pytm judges the flows as modelled, and the notes say how many flows ``check()``
    changed. pytm's and ``random``'s global state are restored afterwards.
    """
    from ..catalog import default_catalog

    pytm = _pytm()
    cat = catalog or default_catalog()
    notes: list[str] = []
    with _isolated_pytm(pytm):
        built = _build_pytm(model, cat)
        built.tm.check()
        changed = 0
        for fid, values in built.flow_values.items():
            flow = built.objects[fid]
            now = {"protocol": flow.protocol, "dstPort": flow.dstPort,
                   "controls": {k: getattr(flow.controls, k) for k in values["controls"]}}
            if now != values:
                changed += 1
                if keep_flow_values:
                    flow.protocol = values["protocol"]
                    flow.dstPort = values["dstPort"]
                    for key, value in values["controls"].items():
                        setattr(flow.controls, key, value)
        if changed:
            notes.append(f"pytm's check() changed the protocol, port or controls of {changed} "
                         "flow(s) to their sink's defaults" +
                         ("; the modelled values were put back before resolve()"
                          if keep_flow_values else ""))
        built.tm.resolve()
        owner = {id(obj): key for key, obj in built.objects.items()}
        names = {key: obj.name for key, obj in built.objects.items()}
        order = {key: i for i, key in enumerate(built.objects)}
        findings = []
        for f in built.tm.findings:
            key = owner.get(id(f.element))
            if key is None:
                continue
            findings.append(PytmFinding(key, names[key], f.threat_id, f.description,
                                        f.severity, PYTM_STRIDE.get(f.threat_id, "?")))
        findings.sort(key=lambda x: (order[x.element_id], x.threat_id))
        unknown = sorted({f.threat_id for f in findings if f.stride == "?"})
        if unknown:
            notes.append("pytm threats without a STRIDE reading (shown as '?'): " +
                         ", ".join(unknown))
    return PytmRun(tuple(findings), dict(built.classes), tuple(notes), _version())


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pytm")
    except PackageNotFoundError:
        return "?"


def _letters(values: Any) -> str:
    found = set("".join(values))
    return "".join(letter for letter in "STRIDE?" if letter in found)


COMPARE_COLUMNS = (
    "name", "kind", "pytm_class", "pytm_findings", "medthreat_findings", "medthreat_specific",
    "pytm_stride", "medthreat_stride", "medthreat_specific_stride", "pytm_threats",
)


def compare_with_pytm(analysis: Analysis, *, pytm_run: PytmRun | None = None,
                      ) -> pandas.DataFrame:
    """pytm's and medthreat's findings side by side, one row per element and flow.

    Index: element or flow id, in model order (components, actors, flows), then a last row
    ``TOTAL``. Columns: ``name``, ``kind`` (process, data_store, external_entity, actor,
    data_flow), ``pytm_class``, ``pytm_findings``, ``medthreat_findings``,
    ``medthreat_specific`` (catalog threats other than the STRIDE-per-element baselines), the
    STRIDE letters each covers (``pytm_stride`` by :data:`PYTM_STRIDE`, ``medthreat_stride``,
    ``medthreat_specific_stride``) and ``pytm_threats`` (pytm threat ids). The totals row sums
    the counts and joins the letters. Runs :func:`run_pytm` unless ``pytm_run`` is given.
    """
    import pandas as pd

    run = pytm_run or run_pytm(analysis.model, analysis.catalog)
    pytm_of = run.by_element()
    model = analysis.model
    findings: dict[str, list[Any]] = {}
    for finding in analysis.findings:
        findings.setdefault(finding.element_id, []).append(finding)
    kinds = {t.id: t.element for t in analysis.catalog.component_types.values()}
    rows: list[dict[str, Any]] = []
    elements: list[tuple[str, str, str]] = [
        *((c.id, c.name, kinds.get(c.type, "process")) for c in model.components),
        *((a.id, a.name, "actor") for a in model.actors),
        *((f.id, f.name, "data_flow") for f in model.flows),
    ]
    for element_id, name, kind in elements:
        ours = findings.get(element_id, [])
        specific = [f for f in ours if not f.baseline]
        theirs = pytm_of.get(element_id, [])
        rows.append({
            "element": element_id, "name": name, "kind": kind,
            "pytm_class": run.classes.get(element_id, ""),
            "pytm_findings": len(theirs), "medthreat_findings": len(ours),
            "medthreat_specific": len(specific),
            "pytm_stride": _letters(f.stride for f in theirs),
            "medthreat_stride": _letters(f.stride.letter for f in ours),
            "medthreat_specific_stride": _letters(f.stride.letter for f in specific),
            "pytm_threats": " ".join(sorted({f.threat_id for f in theirs})),
        })
    rows.append({
        "element": "TOTAL", "name": "", "kind": "total", "pytm_class": "",
        **{col: sum(r[col] for r in rows) for col in
           ("pytm_findings", "medthreat_findings", "medthreat_specific")},
        **{col: _letters(r[col] for r in rows) for col in
           ("pytm_stride", "medthreat_stride", "medthreat_specific_stride")},
        "pytm_threats": " ".join(sorted({t for r in rows for t in r["pytm_threats"].split()})),
    })
    frame = pd.DataFrame.from_records(rows, columns=["element", *COMPARE_COLUMNS])
    frame = frame.set_index("element")
    frame.attrs["pytm_version"] = run.version
    frame.attrs["notes"] = list(run.notes)
    return frame


def comparison_csv(frame: pandas.DataFrame) -> str:
    """The :func:`compare_with_pytm` table as CSV text (spreadsheet-safe cells, stable)."""
    from ..export._text import csv_text

    columns = ["element", *COMPARE_COLUMNS]
    records = [{"element": index, **row} for index, row in zip(
        frame.index, frame.to_dict(orient="records"), strict=True)]
    return csv_text(records, columns)


def comparison_markdown(frame: pandas.DataFrame) -> str:
    """The :func:`compare_with_pytm` table as a Markdown table (cells escaped)."""
    from ..export._text import markdown_cell

    columns = ["element", *COMPARE_COLUMNS]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for index, row in zip(frame.index, frame.to_dict(orient="records"), strict=True):
        cells = [markdown_cell(str(index)), *(markdown_cell(str(row[c])) for c in
                                              COMPARE_COLUMNS)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
