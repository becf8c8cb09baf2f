"""The entries a catalog holds: attributes, component types, protocols, threats, controls."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator


class ElementKind(StrEnum):
    """DFD element kinds that STRIDE-per-element distinguishes."""

    external_entity = "external_entity"
    process = "process"
    data_store = "data_store"
    data_flow = "data_flow"


class Stride(StrEnum):
    """The six STRIDE threat categories."""

    spoofing = "spoofing"
    tampering = "tampering"
    repudiation = "repudiation"
    information_disclosure = "information_disclosure"
    denial_of_service = "denial_of_service"
    elevation_of_privilege = "elevation_of_privilege"

    @property
    def letter(self) -> str:
        """The category's letter in S-T-R-I-D-E."""
        return _LETTERS[self]

    @property
    def order(self) -> int:
        """Position in S, T, R, I, D, E."""
        return _ORDER[self]


_LETTERS = {
    Stride.spoofing: "S",
    Stride.tampering: "T",
    Stride.repudiation: "R",
    Stride.information_disclosure: "I",
    Stride.denial_of_service: "D",
    Stride.elevation_of_privilege: "E",
}

_ORDER = {s: i for i, s in enumerate(Stride)}

#: Protection goals a STRIDE category breaks (accountability counts as integrity here).
_STRIDE_GOALS: dict[Stride, tuple[str, ...]] = {
    Stride.spoofing: ("integrity",),
    Stride.tampering: ("integrity",),
    Stride.repudiation: ("integrity",),
    Stride.information_disclosure: ("confidentiality",),
    Stride.denial_of_service: ("availability",),
    Stride.elevation_of_privilege: ("confidentiality", "integrity", "availability"),
}

#: STRIDE per element: which categories apply to which element kind.
STRIDE_PER_ELEMENT: dict[ElementKind, tuple[Stride, ...]] = {
    ElementKind.external_entity: (Stride.spoofing, Stride.repudiation),
    ElementKind.process: tuple(Stride),
    ElementKind.data_store: (
        Stride.tampering,
        Stride.repudiation,
        Stride.information_disclosure,
        Stride.denial_of_service,
    ),
    ElementKind.data_flow: (
        Stride.tampering,
        Stride.information_disclosure,
        Stride.denial_of_service,
    ),
}


class Category(StrEnum):
    """Where a component type belongs in the product's world."""

    device = "device"
    app = "app"
    hospital = "hospital"
    cloud = "cloud"
    ai = "ai"
    external = "external"


class Range(StrEnum):
    """How close an attacker must be to use a protocol, ordered proximity < ... < internet."""

    proximity = "proximity"
    local = "local"
    network = "network"
    internet = "internet"


class ControlKind(StrEnum):
    """Technical, organizational or regulatory measure."""

    technical = "technical"
    organizational = "organizational"
    regulatory = "regulatory"


class FdaCategory(StrEnum):
    """The eight security control categories of the FDA premarket cybersecurity guidance."""

    authentication = "authentication"
    authorization = "authorization"
    cryptography = "cryptography"
    code_data_execution_integrity = "code_data_execution_integrity"
    confidentiality = "confidentiality"
    event_detection_logging = "event_detection_logging"
    resiliency_recovery = "resiliency_recovery"
    firmware_software_updates = "firmware_software_updates"


#: Frameworks a reference may name (the part before the first colon).
FRAMEWORKS = frozenset(
    {
        "CWE", "CAPEC", "ATLAS", "EMB3D", "OWASP-ML", "OWASP-LLM", "OWASP-AGENTIC",
        "NIST-AI-100-2", "LINDDUN", "IEC81001-5-1", "IEC62443-4-2", "ISO14971", "NIST-800-53",
        "GDPR", "CRA", "AI-ACT", "MDR", "FDA", "HIPAA", "ENISA", "RED", "MDCG",
    }
)
_REFERENCE = re.compile(r"^([A-Z][A-Z0-9-]*)(?::[^:\s]+){1,2}$")

CatalogId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=80)]
ThreatId = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")]
ControlId = Annotated[str, StringConstraints(pattern=r"^CTL(-[A-Z0-9]+)+$")]
AttributeValue = bool | int | float | str


def check_reference(value: str) -> str:
    """Validate a ``FRAMEWORK[:EDITION]:ID`` reference string."""
    match = _REFERENCE.match(value)
    if not match:
        raise ValueError(f"reference {value!r} should look like FRAMEWORK:ID or "
                         "FRAMEWORK:EDITION:ID, e.g. CWE:1191 or OWASP-LLM:2025:LLM01")
    if match.group(1) not in FRAMEWORKS:
        raise ValueError(f"reference {value!r} names unknown framework {match.group(1)!r}; "
                         f"expected one of {', '.join(sorted(FRAMEWORKS))}")
    return value


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AttributeDef(_Entry):
    """A typed attribute that component types set and threat conditions read."""

    id: CatalogId
    type: Literal["bool", "int", "str"]
    default: AttributeValue
    description: str = Field(min_length=1)

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` has this attribute's type (a bool is not an int here)."""
        if self.type == "bool":
            return isinstance(value, bool)
        if self.type == "int":
            return isinstance(value, int) and not isinstance(value, bool)
        return isinstance(value, str)


class ComponentType(_Entry):
    """A kind of component (insulin pump, EHR, model registry) with its attribute values."""

    id: CatalogId
    name: str = Field(min_length=1)
    element: Literal["process", "data_store", "external_entity"]
    category: Category
    description: str = Field(min_length=1)
    attributes: dict[str, AttributeValue] = Field(default_factory=dict)

    @property
    def kind(self) -> ElementKind:
        """The DFD element kind of components of this type."""
        return ElementKind(self.element)


class Protocol(_Entry):
    """A protocol flows use, with its security properties by default."""

    id: CatalogId
    name: str = Field(min_length=1)
    range: Range
    wireless: bool = False
    encrypted: bool
    authenticated: bool
    description: str = Field(min_length=1)


class Threat(_Entry):
    """A threat with its STRIDE category, matching condition and reviewer-facing text."""

    id: ThreatId
    title: str = Field(min_length=1)
    stride: Stride
    applies_to: list[ElementKind] = Field(min_length=1)
    condition: Any = None
    description: str = Field(min_length=1)
    impact: str = ""
    detection: str = ""
    mitigation: str = ""
    check: str = ""
    false_positives: str = ""
    controls: list[ControlId] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    baseline: bool = False
    complexity: Literal["low", "high"] = Field(
        "low", description="Attack complexity: high when success needs conditions the "
        "attacker does not control (timing, a rare configuration, specialist equipment).")
    privileges: Literal["none", "low", "high"] = Field(
        "none", description="Privileges the attacker needs on the element beforehand.")
    user_interaction: bool = Field(
        False, description="Whether a user must act (open a file, accept a pairing) first.")
    attack_vector: Literal["internet", "adjacent", "proximity", "local", "physical"] | None = (
        Field(None, description="The least demanding access the attack itself needs, when it "
              "needs more than reaching the element (a debug port needs physical access, a "
              "pairing attack radio range)."))
    goals: list[Literal["confidentiality", "integrity", "availability"]] = Field(
        default_factory=list, description="Protection goals it breaks; default from STRIDE.")
    ai_category: str = Field("", description="AI threat class, e.g. poisoning, evasion, "
                             "privacy, abuse (NIST AI 100-2 terms), when it is an AI threat.")
    privacy_category: Literal[
        "", "linking", "identifying", "non_repudiation", "detecting", "data_disclosure",
        "unawareness", "non_compliance"] = Field(
        "", description="LINDDUN privacy threat category, when it is a privacy threat.")
    clinical_impact: str = Field("", description="What can happen to a patient, in words.")

    @property
    def protection_goals(self) -> tuple[str, ...]:
        """Goals it breaks: the declared ones, or those STRIDE implies."""
        if self.goals:
            return tuple(self.goals)
        return _STRIDE_GOALS[self.stride]

    @field_validator("references")
    @classmethod
    def _references(cls, values: list[str]) -> list[str]:
        return [check_reference(v) for v in values]

    @property
    def on_flows(self) -> bool:
        """Whether the threat applies to data flows (as opposed to elements)."""
        return ElementKind.data_flow in self.applies_to


class ControlEffect(_Entry):
    """How many levels an implemented or verified control lowers a finding it addresses."""

    exploitability: int = Field(1, ge=0, le=3)
    severity: int = Field(0, ge=0, le=3)


class Control(_Entry):
    """A security control with its FDA category and framework cross-references."""

    id: ControlId
    title: str = Field(min_length=1)
    kind: ControlKind
    fda_category: FdaCategory
    description: str = Field(min_length=1)
    references: list[str] = Field(default_factory=list)
    effect: ControlEffect = Field(default_factory=ControlEffect)
    verification: str = Field("", description="How the control is verified, e.g. penetration "
                              "test, fuzz test, code review, configuration audit, document "
                              "review.")
    threat_specific: bool = Field(
        True, description="Whether the control mitigates particular threats, so that threats "
        "list it under `controls`. False for organisational and documentation measures (a "
        "development process, a disclosure policy, a bill of materials) that support the whole "
        "security programme and serve framework requirements but lower no single finding's "
        "risk; no threat lists such a control.")

    @field_validator("references")
    @classmethod
    def _references(cls, values: list[str]) -> list[str]:
        return [check_reference(v) for v in values]


class DocumentKind(StrEnum):
    """Kinds of security documentation a requirement can be satisfied by."""

    threat_model = "threat_model"
    risk_assessment = "risk_assessment"
    risk_register = "risk_register"
    traceability = "traceability"
    architecture_views = "architecture_views"
    sbom = "sbom"
    vulnerability_assessment = "vulnerability_assessment"
    security_testing = "security_testing"
    labeling = "labeling"
    security_plan = "security_plan"
    incident_response_plan = "incident_response_plan"
    data_governance = "data_governance"


#: Model content a requirement's documents depend on (see ``Requirement.model_elements``).
ModelElement = Literal[
    "processes", "data_stores", "external_entities", "data_flows", "trust_boundaries",
    "protocols", "interfaces", "data_classification", "applied_controls", "clinical_functions",
]

RequirementId = Annotated[str, StringConstraints(
    pattern=r"^[A-Z][A-Za-z0-9-]*:[A-Za-z0-9][A-Za-z0-9.()_-]*$", max_length=80)]


class Requirement(_Entry):
    """One requirement of a framework and what satisfies it.

    A requirement is met by applied controls that cite one of ``references`` (or a sub-clause of
    one: ``IEC81001-5-1:5.4`` is met by a control citing ``IEC81001-5-1:5.4.2``), that belong to
    one of ``fda_categories`` or that are listed in ``controls``; or by a document of one of
    ``documents``. A requirement with none of these is documentation-free and cannot be tracked.
    """

    id: RequirementId
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    references: list[str] = Field(default_factory=list)
    fda_categories: list[FdaCategory] = Field(default_factory=list)
    controls: list[ControlId] = Field(default_factory=list)
    documents: list[DocumentKind] = Field(default_factory=list)
    model_elements: list[ModelElement] = Field(
        default_factory=list, description="What the model must contain for the documents to "
        "satisfy the requirement, e.g. trust_boundaries for a threat model's boundaries.")

    @field_validator("references")
    @classmethod
    def _references(cls, values: list[str]) -> list[str]:
        return [check_reference(v) for v in values]

    def matches(self, control: Control) -> bool:
        """Whether a catalog control serves this requirement."""
        if control.id in self.controls or control.fda_category in self.fda_categories:
            return True
        return any(reference_covers(q, r) for q in self.references for r in control.references)


def reference_covers(wanted: str, cited: str) -> bool:
    """Whether the reference ``cited`` is ``wanted`` or one of its sub-clauses.

    ``GDPR:Art.32`` covers ``GDPR:Art.32`` and ``GDPR:Art.32(1)``, not ``GDPR:Art.3``.
    """
    if cited == wanted:
        return True
    return cited.startswith(wanted) and cited[len(wanted)] in ".(-"


class Framework(_Entry):
    """A regulation, standard or guidance with the requirements a coverage matrix lists."""

    id: CatalogId
    name: str = Field(min_length=1)
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    requirements: list[Requirement] = Field(min_length=1)


SECTIONS: dict[str, type[_Entry]] = {
    "attributes": AttributeDef,
    "component_types": ComponentType,
    "protocols": Protocol,
    "threats": Threat,
    "controls": Control,
    "frameworks": Framework,
}
