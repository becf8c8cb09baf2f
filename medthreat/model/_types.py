"""The typed model of a system: boundaries, data assets, components, actors, flows, controls.

Pydantic v2 classes with ``extra="forbid"`` so that a misspelt key is an error, not silently
ignored. The builder methods on :class:`Model` let a notebook build a model in a few lines.
"""

from __future__ import annotations

import datetime
import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    model_serializer,
    model_validator,
)

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=200)]
AttributeValue = bool | int | float | str


class CareSetting(StrEnum):
    """Where the system is used."""

    home = "home"
    hospital = "hospital"
    clinic = "clinic"
    mobile = "mobile"


class Trust(StrEnum):
    """Trust level of a zone, ordered untrusted < semi_trusted < trusted."""

    untrusted = "untrusted"
    semi_trusted = "semi_trusted"
    trusted = "trusted"

    @property
    def rank(self) -> int:
        return _TRUST_RANK[self]


_TRUST_RANK = {Trust.untrusted: 0, Trust.semi_trusted: 1, Trust.trusted: 2}


class BoundaryKind(StrEnum):
    """What a trust boundary encloses; each kind has a default trust level."""

    internet = "internet"
    home_network = "home_network"
    mobile_device = "mobile_device"
    hospital_network = "hospital_network"
    clinic_network = "clinic_network"
    vendor_network = "vendor_network"
    third_party_cloud = "third_party_cloud"
    cloud = "cloud"
    device = "device"
    physical_site = "physical_site"


DEFAULT_TRUST: dict[BoundaryKind, Trust] = {
    BoundaryKind.internet: Trust.untrusted,
    BoundaryKind.home_network: Trust.untrusted,
    BoundaryKind.mobile_device: Trust.untrusted,
    BoundaryKind.hospital_network: Trust.semi_trusted,
    BoundaryKind.clinic_network: Trust.semi_trusted,
    BoundaryKind.vendor_network: Trust.semi_trusted,
    BoundaryKind.third_party_cloud: Trust.semi_trusted,
    BoundaryKind.cloud: Trust.trusted,
    BoundaryKind.device: Trust.trusted,
    BoundaryKind.physical_site: Trust.semi_trusted,
}


class DataKind(StrEnum):
    """What kind of information a data asset is."""

    phi = "phi"
    pii = "pii"
    therapy_command = "therapy_command"
    telemetry = "telemetry"
    configuration = "configuration"
    credentials = "credentials"
    firmware = "firmware"
    model_weights = "model_weights"
    training_data = "training_data"
    audit_log = "audit_log"
    clinical_image = "clinical_image"
    other = "other"


class Level(StrEnum):
    """A confidentiality, integrity or availability rating, ordered low < medium < high."""

    low = "low"
    medium = "medium"
    high = "high"

    @property
    def rank(self) -> int:
        return _LEVEL_RANK[self]


_LEVEL_RANK = {Level.low: 1, Level.medium: 2, Level.high: 3}


class InterfaceKind(StrEnum):
    """A physical or radio interface of a component."""

    ble = "ble"
    bluetooth_classic = "bluetooth_classic"
    nfc = "nfc"
    proprietary_rf = "proprietary_rf"
    wifi = "wifi"
    cellular = "cellular"
    ethernet = "ethernet"
    usb = "usb"
    serial = "serial"
    jtag_swd = "jtag_swd"
    can = "can"
    sd_card = "sd_card"
    video = "video"
    other = "other"


class ClinicalFunction(StrEnum):
    """What a component does for the patient; drives patient-harm severity."""

    therapy_delivery = "therapy_delivery"
    alarming = "alarming"
    diagnosis = "diagnosis"
    monitoring = "monitoring"
    imaging = "imaging"
    motion_control = "motion_control"
    decision_support = "decision_support"
    data_display = "data_display"


class ActorRole(StrEnum):
    """The role of a person interacting with the system."""

    patient = "patient"
    clinician = "clinician"
    caregiver = "caregiver"
    service_technician = "service_technician"
    it_administrator = "it_administrator"
    developer = "developer"
    data_scientist = "data_scientist"
    annotator = "annotator"
    researcher = "researcher"
    other = "other"


class AuthMethod(StrEnum):
    """How the receiving end of a flow authenticates the sender."""

    none = "none"
    password = "password"  # noqa: S105 - a method name, not a secret
    token = "token"  # noqa: S105
    api_key = "api_key"
    certificate = "certificate"
    mutual_tls = "mutual_tls"
    pairing = "pairing"
    sso = "sso"
    other = "other"


class Authorization(StrEnum):
    """How access carried by a flow is authorized."""

    none = "none"
    role_based = "role_based"
    attribute_based = "attribute_based"
    owner_only = "owner_only"


class Encryption(StrEnum):
    """Protection of a flow's content in transit."""

    none = "none"
    transport = "transport"
    end_to_end = "end_to_end"


class ControlStatus(StrEnum):
    """Implementation state of an applied control."""

    planned = "planned"
    implemented = "implemented"
    verified = "verified"


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, use_enum_values=False, populate_by_name=True
    )


class System(_Strict):
    """The system under analysis and the context its threat model assumes."""

    name: str = Field(min_length=1, description="Name of the system or product.")
    version: str = Field("", description="Product or model version.")
    manufacturer: str = ""
    description: str = ""
    intended_use: str = Field("", description="Intended use as in the labeling.")
    care_settings: list[CareSetting] = Field(default_factory=list)
    assumptions: list[str] = Field(
        default_factory=list, description="Assumptions the threat model relies on."
    )
    last_review: datetime.date | None = Field(
        None, description="When the threat model was last reviewed (ISO date YYYY-MM-DD); "
        "IEC 81001-5-1 expects at least a yearly review."
    )
    reviewed_by: str = Field("", description="Who did the last threat-model review.")

    @model_validator(mode="before")
    @classmethod
    def _review_date_is_a_date(cls, value: Any) -> Any:
        # Numbers would be read as Unix time and datetimes would lose their time: both are
        # mistakes in a review date, so name them instead.
        when = value.get("last_review") if isinstance(value, dict) else None
        if isinstance(when, bool | int | float | datetime.datetime):
            raise ValueError(f"last_review: expected an ISO date YYYY-MM-DD, e.g. 2026-11-30 "
                             f"(got {when!r})")
        return value


class TrustBoundary(_Strict):
    """A zone of uniform trust; boundaries nest through ``parent``."""

    id: Id
    name: str = ""
    kind: BoundaryKind
    trust: Trust | None = Field(None, description="Override of the kind's default trust.")
    parent: Id | None = None
    description: str = ""

    @property
    def effective_trust(self) -> Trust:
        """The explicit trust level, or the default of the boundary kind."""
        return self.trust if self.trust is not None else DEFAULT_TRUST[self.kind]


class DataAsset(_Strict):
    """Information the system stores, processes or transmits, with its C/I/A needs."""

    id: Id
    name: str = ""
    kind: DataKind
    description: str = ""
    confidentiality: Level = Level.medium
    integrity: Level = Level.medium
    availability: Level = Level.medium
    pseudonymized: bool = False
    anonymized: bool = False


class Interface(_Strict):
    """A physical or radio interface; ``exposed`` is false when the enclosure must be opened."""

    kind: InterfaceKind
    name: str = ""
    exposed: bool = True
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value

    @model_serializer(mode="wrap")
    def _compact(self, handler: Any) -> Any:
        if self.exposed and not self.name and not self.description:
            return self.kind.value
        return handler(self)


class _Scoped(_Strict):
    out_of_scope: bool = False
    out_of_scope_reason: str = Field("", description="Required when out_of_scope is true.")


class Component(_Scoped):
    """A device, application, service, data store or AI component of the system."""

    id: Id
    name: str = ""
    type: str = Field(description="A component type id from the catalog.")
    boundary: Id | None = Field(None, description="Innermost trust boundary.")
    description: str = ""
    attributes: dict[str, AttributeValue] = Field(
        default_factory=dict, description="Overrides of the component type's attributes."
    )
    stores: list[Id] = Field(default_factory=list, description="Data asset ids stored here.")
    processes: list[Id] = Field(default_factory=list, description="Data asset ids processed.")
    interfaces: list[Interface] = Field(default_factory=list)
    functions: list[ClinicalFunction] = Field(default_factory=list)
    sbom: str = Field("", description="CycloneDX SBOM file (JSON or XML) of the "
                      "component's software, relative to the model file.")


class Actor(_Strict):
    """A person who interacts with the system (an external entity)."""

    id: Id
    name: str = ""
    role: ActorRole = ActorRole.other
    boundary: Id | None = None
    description: str = ""


class Flow(_Scoped):
    """Data moving from ``source`` to ``target`` over a catalog protocol."""

    id: Id = Field("", description='Defaults to "<source>-<protocol>-<target>".')
    name: str = ""
    source: Id
    target: Id
    protocol: str = Field(description="A protocol id from the catalog.")
    data: list[Id] = Field(default_factory=list, description="Data asset ids carried.")
    authentication: AuthMethod | None = Field(None, description="Default: the protocol's.")
    authorization: Authorization | None = None
    encryption: Encryption | None = Field(None, description="Default: the protocol's.")
    bidirectional: bool = False
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _derive_id(cls, value: Any) -> Any:
        if isinstance(value, dict) and not value.get("id"):
            parts = [value.get("source"), value.get("protocol"), value.get("target")]
            if all(isinstance(p, str) and p for p in parts):
                value = {**value, "id": "-".join(parts)}  # type: ignore[arg-type]
        return value


class AppliedControl(_Strict):
    """A catalog control that the design applies to some elements."""

    control: str = Field(description="A control id from the catalog.")
    targets: list[Id] = Field(
        default_factory=list, description="Element or flow ids; empty means the whole system."
    )
    status: ControlStatus = ControlStatus.planned
    evidence: str = ""


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", text.strip()).strip("-._").lower()
    return slug or "item"


Ref = str | Component | Actor | TrustBoundary | DataAsset | Flow


def _ref(value: Ref | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.id


class Model(_Strict):
    """A system's architecture: what the STRIDE engine analyzes.

    Build one from a file with :func:`medthreat.load_model`, or in a notebook::

        m = Model("Insulin pump system")
        home = m.boundary("Patient home", kind="home_network")
        pump = m.component("insulin_pump", "Pump", boundary=home)
    """

    schema_version: int = Field(1, ge=1, le=1)
    system: System
    boundaries: list[TrustBoundary] = Field(default_factory=list)
    data_assets: list[DataAsset] = Field(default_factory=list, alias="data")
    components: list[Component] = Field(default_factory=list)
    actors: list[Actor] = Field(default_factory=list)
    flows: list[Flow] = Field(default_factory=list)
    controls: list[AppliedControl] = Field(default_factory=list)

    _source: Any = PrivateAttr(default=None)

    def __init__(self, name: str | None = None, /, **data: Any) -> None:
        if name is not None:
            system = data.setdefault("system", {})
            if isinstance(system, dict):
                system.setdefault("name", name)
        super().__init__(**data)

    def __eq__(self, other: object) -> bool:
        # Content equality: where a model was loaded from is not part of what it says.
        if not isinstance(other, Model):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"<Model {self.system.name!r} {self.system.version}: "
                f"{len(self.components)} components, {len(self.actors)} actors, "
                f"{len(self.flows)} flows, {len(self.boundaries)} trust boundaries>")

    def _repr_html_(self) -> str:
        from .._display import model_html
        return model_html(self)

    # -- lookups -----------------------------------------------------------------------------

    def element(self, element_id: str) -> Component | Actor | Flow | None:
        """The component, actor or flow with this id, or None."""
        for group in (self.components, self.actors, self.flows):
            for item in group:
                if item.id == element_id:
                    return item
        return None

    def _all_ids(self) -> set[str]:
        groups: list[list[Any]] = [
            self.boundaries, self.data_assets, self.components, self.actors, self.flows
        ]
        return {item.id for group in groups for item in group}

    def _new_id(self, wanted: str | None, name: str) -> str:
        if wanted:
            return wanted
        base = _slug(name)
        taken = self._all_ids()
        candidate, n = base, 2
        while candidate in taken:
            candidate, n = f"{base}-{n}", n + 1
        return candidate

    # -- builder -----------------------------------------------------------------------------

    def boundary(
        self,
        name: str,
        kind: BoundaryKind | str,
        *,
        parent: Ref | None = None,
        id: str | None = None,
        **fields: Any,
    ) -> TrustBoundary:
        """Add a trust boundary and return it."""
        item = TrustBoundary(
            id=self._new_id(id, name), name=name, kind=kind, parent=_ref(parent), **fields
        )
        self.boundaries.append(item)
        return item

    def data(
        self, kind: DataKind | str, name: str = "", *, id: str | None = None, **fields: Any
    ) -> DataAsset:
        """Add a data asset and return it."""
        item = DataAsset(id=self._new_id(id, name or str(kind)), name=name, kind=kind, **fields)
        self.data_assets.append(item)
        return item

    def component(
        self,
        type: str,
        name: str,
        *,
        boundary: Ref | None = None,
        id: str | None = None,
        stores: list[Ref] | None = None,
        processes: list[Ref] | None = None,
        **fields: Any,
    ) -> Component:
        """Add a component of a catalog type and return it."""
        item = Component(
            id=self._new_id(id, name),
            name=name,
            type=type,
            boundary=_ref(boundary),
            stores=[self._data_ref(d) for d in stores or []],
            processes=[self._data_ref(d) for d in processes or []],
            **fields,
        )
        self.components.append(item)
        return item

    def actor(
        self,
        role: ActorRole | str,
        name: str,
        *,
        boundary: Ref | None = None,
        id: str | None = None,
        **fields: Any,
    ) -> Actor:
        """Add an actor (a person) and return it."""
        item = Actor(
            id=self._new_id(id, name), name=name, role=role, boundary=_ref(boundary), **fields
        )
        self.actors.append(item)
        return item

    def flow(
        self,
        source: Ref,
        target: Ref,
        protocol: str,
        *,
        data: list[Ref] | None = None,
        id: str | None = None,
        **fields: Any,
    ) -> Flow:
        """Add a data flow and return it.

        ``data`` names data assets; a name that is a data kind and not yet an asset creates an
        asset of that kind, so ``data=["therapy_command"]`` works without declaring it first.
        """
        src, dst = _ref(source), _ref(target)
        item = Flow(
            id=id or "",
            source=src,
            target=dst,
            protocol=protocol,
            data=[self._data_ref(d) for d in data or []],
            **fields,
        )
        self.flows.append(item)
        return item

    def control(
        self,
        control: str,
        targets: list[Ref] | None = None,
        *,
        status: ControlStatus | str = ControlStatus.planned,
        evidence: str = "",
    ) -> AppliedControl:
        """Apply a catalog control to elements (none: the whole system) and return it."""
        item = AppliedControl(
            control=control,
            targets=[t for t in (_ref(x) for x in targets or []) if t],
            status=status,
            evidence=evidence,
        )
        self.controls.append(item)
        return item

    def _data_ref(self, value: Ref) -> str:
        ref = _ref(value) or ""
        if ref in DataKind.__members__ and all(d.id != ref for d in self.data_assets):
            self.data(ref, ref.replace("_", " "), id=ref)
        return ref
