"""Import models from other threat modeling tools: OTM, OWASP Threat Dragon v2, Threagile, pytm.

Every importer returns ``(Model, notes)``: the medthreat model and a list of plain-language notes
on what could not be mapped one to one (a fallback component type, an unknown protocol, a
diagram shape without a medthreat equivalent ...). Bad input raises
:class:`~medthreat.errors.ModelError` naming file, line and entry path. Files are read with
:func:`medthreat._yaml.read_file` (safe YAML or JSON only).

The mapping tables below are the documented rule (see ``docs/interop.md``): a foreign type name
is normalised (lower case, ``_``/space/``.`` to ``-``); an exact medthreat type id wins, then the
first keyword of :data:`TYPE_KEYWORDS` that occurs as a whole word sequence in the name, then the
fallback type of the element kind with a note.
"""

from __future__ import annotations

import os
import re
from typing import Any

from .._yaml import SourceMap, read_file
from ..errors import MedthreatError, ModelError
from ..model import Model, model_from_data

__all__ = [
    "FALLBACK_PROTOCOL",
    "FALLBACK_TYPES",
    "PROTOCOL_NAMES",
    "TYPE_KEYWORDS",
    "import_otm",
    "import_pytm",
    "import_threagile",
    "import_threatdragon",
    "map_component_type",
    "map_protocol",
]

#: Keyword (whole words of the normalised foreign name) -> medthreat component type, first
#: match wins. Covers common OTM/IriusRisk component types, Threagile technologies and names.
TYPE_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("load-balancer", "api_gateway"), ("reverse-proxy", "api_gateway"), ("waf", "api_gateway"),
    ("api-gateway", "api_gateway"), ("gateway", "api_gateway"),
    ("identity-provider", "identity_provider"), ("identity-store-ldap", "identity_provider"),
    ("ldap", "identity_provider"), ("active-directory", "identity_provider"),
    ("cognito", "identity_provider"), ("keycloak", "identity_provider"),
    ("idp", "identity_provider"), ("sso", "identity_provider"),
    ("vault", "key_management_service"), ("kms", "key_management_service"),
    ("hsm", "key_management_service"),
    ("build-pipeline", "ci_cd_pipeline"), ("jenkins", "ci_cd_pipeline"),
    ("ci-cd", "ci_cd_pipeline"), ("devops", "ci_cd_pipeline"),
    ("sourcecode-repository", "artifact_registry"), ("artifact-registry", "artifact_registry"),
    ("git", "artifact_registry"),
    ("siem", "siem"), ("monitoring", "siem"),
    ("message-queue", "message_queue"), ("queue", "message_queue"), ("kafka", "message_queue"),
    ("sqs", "message_queue"), ("sns", "message_queue"), ("broker", "message_queue"),
    ("nosql", "nosql_database"), ("dynamodb", "nosql_database"), ("mongodb", "nosql_database"),
    ("redis", "nosql_database"), ("cache", "nosql_database"),
    ("database", "sql_database"), ("sql", "sql_database"), ("postgresql", "sql_database"),
    ("mysql", "sql_database"), ("rds", "sql_database"), ("db", "sql_database"),
    ("backup", "backup_service"),
    ("s3", "object_storage"), ("bucket", "object_storage"), ("file-server", "object_storage"),
    ("storage", "object_storage"), ("blob", "object_storage"), ("filesystem", "object_storage"),
    ("kubernetes", "container_platform"), ("container", "container_platform"),
    ("docker", "container_platform"), ("ecs", "container_platform"),
    ("lambda", "serverless_function"), ("serverless", "serverless_function"),
    ("function", "serverless_function"),
    ("iot", "iot_hub"),
    ("mobile", "mobile_app"), ("android", "mobile_app"), ("ios", "mobile_app"),
    ("vpn", "vpn_gateway"),
    ("ehr", "ehr_system"), ("pacs", "pacs"), ("hl7", "interface_engine"),
    ("fhir", "interface_engine"),
    ("llm", "llm_service"), ("ml", "inference_service"),
    ("web-application", "web_portal"), ("web-server", "web_portal"),
    ("webserver", "web_portal"), ("cms", "web_portal"), ("portal", "web_portal"),
    ("web-ui", "web_portal"), ("web", "web_portal"),
    ("desktop", "clinician_workstation"), ("workstation", "clinician_workstation"),
    ("erp", "cloud_service"), ("web-service", "cloud_service"), ("service", "cloud_service"),
    ("api", "cloud_service"), ("server", "cloud_service"), ("application", "cloud_service"),
    ("process", "cloud_service"),
    ("store", "object_storage"),
)

#: Fallback component type per DFD element kind when no keyword matches.
FALLBACK_TYPES = {
    "process": "cloud_service",
    "data_store": "object_storage",
    "external_entity": "external_service",
}

#: Normalised foreign protocol name -> (medthreat protocol, encrypted variant or None).
PROTOCOL_NAMES: dict[str, str] = {
    "https": "https", "http": "http", "http-s": "https", "wss": "https", "ws": "http",
    "ldap": "ldap", "ldaps": "ldaps", "ssh": "ssh", "sftp": "ssh", "scp": "ssh",
    "jdbc": "sql", "odbc": "sql", "sql-access-protocol": "sql", "sql": "sql",
    "jdbc-encrypted": "sql", "odbc-encrypted": "sql", "sql-access-protocol-encrypted": "sql",
    "nosql-access-protocol": "nosql_api", "nosql-access-protocol-encrypted": "nosql_api",
    "mqtt": "mqtt", "mqtts": "mqtts", "amqp": "amqp", "amqps": "amqps",
    "grpc": "grpc", "grpc-tls": "grpc_tls", "coap": "coap",
    "smb": "smb", "smb-encrypted": "smb3_encrypted", "cifs": "smb",
    "syslog": "syslog", "dicom": "dicom", "hl7": "hl7_mllp", "fhir": "fhir_rest",
    "ble": "ble", "bluetooth": "bluetooth_classic", "nfc": "nfc", "usb": "usb",
    "in-process-library-call": "in_process", "local-file-access": "in_process",
    "in-memory": "in_process", "ipsec": "vpn_ipsec",
    "reverse-proxy-web-protocol": "http", "reverse-proxy-web-protocol-encrypted": "https",
    "binary": "tcp_proprietary", "binary-encrypted": "tcp_proprietary",
    "tcp": "tcp_proprietary", "tls": "tcp_proprietary",
}
FALLBACK_PROTOCOL = "tcp_proprietary"


def normalise(name: str) -> str:
    """Lower case with ``_``, space, ``.`` and ``/`` turned into ``-``."""
    return re.sub(r"[\s_./]+", "-", name.strip().lower()).strip("-")


def map_component_type(name: str, kind: str, known: set[str]) -> tuple[str, bool]:
    """Medthreat component type for a foreign type name; ``(type, exact_or_keyword)``.

    ``kind`` is the DFD element kind (process, data_store, external_entity) used for the
    fallback; ``known`` the catalog's type ids. The second value is False for a fallback.
    """
    norm = normalise(name)
    if norm.replace("-", "_") in known:
        return norm.replace("-", "_"), True
    padded = f"-{norm}-"
    for keyword, type_id in TYPE_KEYWORDS:
        if f"-{keyword}-" in padded and type_id in known:
            return type_id, True
    return FALLBACK_TYPES[kind], False


def map_protocol(name: str, known: set[str]) -> tuple[str, bool]:
    """Medthreat protocol for a foreign protocol name; ``(protocol, mapped)``."""
    norm = normalise(name)
    if norm.replace("-", "_") in known:
        return norm.replace("-", "_"), True
    mapped = PROTOCOL_NAMES.get(norm)
    if mapped and mapped in known:
        return mapped, True
    return FALLBACK_PROTOCOL, False


_ID_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


class Context:
    """Shared state of one import: source map, notes and the ids already taken."""

    def __init__(self, src: SourceMap, fmt: str) -> None:
        from ..catalog import default_catalog

        catalog = default_catalog()
        self.src = src
        self.fmt = fmt
        self.notes: list[str] = []
        self.taken: set[str] = set()
        self.types = set(catalog.component_types)
        self.protocols = set(catalog.protocols)

    def fail(self, path: tuple[str | int, ...], message: str) -> ModelError:
        """A ModelError at ``path`` of the input file (to raise)."""
        return ModelError([self.src.problem(path, f"{self.fmt}: {message}")])

    def note(self, message: str) -> None:
        self.notes.append(message)

    def mapping(self, value: Any, path: tuple[str | int, ...], what: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(path, f"{what} should be a mapping, found {type(value).__name__}")
        return value

    def seq(self, value: Any, path: tuple[str | int, ...], what: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(path, f"{what} should be a list, found {type(value).__name__}")
        return value

    def text(self, value: Any, path: tuple[str | int, ...], what: str) -> str:
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(path, f"{what} should be text, found {type(value).__name__}")
        return str(value)

    def new_id(self, wanted: str, fallback: str = "item") -> str:
        """A valid, unused medthreat id derived from ``wanted``."""
        base = _ID_BAD.sub("-", wanted.strip()).strip("-._") or fallback
        if not base[0].isalnum():
            base = f"x{base}"
        base = base[:180]
        candidate, n = base, 2
        while candidate in self.taken:
            candidate, n = f"{base}-{n}", n + 1
        self.taken.add(candidate)
        return candidate

    def component_type(self, name: str, kind: str, label: str) -> str:
        type_id, ok = map_component_type(name, kind, self.types)
        if not ok:
            self.note(f"{label}: type {name!r} has no medthreat equivalent; using fallback "
                      f"{type_id!r} (set the type by hand for a precise analysis)")
        return type_id

    def protocol(self, name: str, label: str) -> str:
        if not name:
            self.note(f"{label}: no protocol given; using {FALLBACK_PROTOCOL!r}")
            return FALLBACK_PROTOCOL
        proto, ok = map_protocol(name, self.protocols)
        if not ok:
            self.note(f"{label}: protocol {name!r} has no medthreat equivalent; using "
                      f"{proto!r}")
        return proto

    def build(self, data: dict[str, Any]) -> Model:
        """Validate the assembled model data (a failure here names the input file)."""
        try:
            return model_from_data(data)
        except ModelError as exc:
            raise ModelError([self.src.problem((), f"{self.fmt}: the imported model is not "
                                               f"valid: {p}") for p in exc.problems]) from None


def read(path: str | os.PathLike[str]) -> tuple[Any, SourceMap]:
    """Read a YAML or JSON file safely; any reading problem becomes a ModelError."""
    try:
        return read_file(path)
    except ModelError:
        raise
    except MedthreatError as exc:
        raise ModelError(exc.problems) from None


def one_line(text: str) -> str:
    """Collapse whitespace (Threat Dragon names contain line breaks)."""
    return " ".join(text.split())


from .otm import import_otm  # noqa: E402
from .pytm import import_pytm  # noqa: E402
from .threagile import import_threagile  # noqa: E402
from .threatdragon import import_threatdragon  # noqa: E402
