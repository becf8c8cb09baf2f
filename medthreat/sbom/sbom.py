"""CycloneDX SBOMs attached to model components, and their NTIA minimum elements.

A component of the model names its SBOM with ``sbom: FILE`` (CycloneDX 1.4 to 1.6, JSON or
XML, relative to the model file). :func:`load_sbom` reads one file with cyclonedx-python-lib
into an :class:`Sbom` of plain :class:`SbomComponent` records; :func:`ntia_check` reports the
NTIA minimum elements each component lacks and the support information FDA premarket guidance
asks for (support level and end-of-support date, read from the CycloneDX properties
:data:`SUPPORT_LEVEL` and :data:`END_OF_SUPPORT`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeElementTree
from packageurl import PackageURL

from .._yaml import MAX_FILE_BYTES
from ..errors import MedthreatError, Problem
from ..errors import shorten as _short

if TYPE_CHECKING:
    from ..model import Model

__all__ = [
    "END_OF_SUPPORT",
    "SUPPORT_LEVEL",
    "SUPPORT_LEVELS",
    "Sbom",
    "SbomComponent",
    "SbomProblem",
    "load_model_sboms",
    "load_sbom",
    "ntia_check",
]

#: CycloneDX component property naming the support level (one of :data:`SUPPORT_LEVELS`).
SUPPORT_LEVEL = "medthreat:support_level"
#: CycloneDX component property with the end-of-support date (ISO 8601, YYYY-MM-DD).
END_OF_SUPPORT = "medthreat:end_of_support"
#: Support levels a component may declare.
SUPPORT_LEVELS = ("maintained", "security_fixes_only", "unmaintained", "unsupported",
                  "abandoned", "unknown")

_CDX_NS = "http://cyclonedx.org/schema/bom/"


@dataclass(frozen=True)
class SbomComponent:
    """One component of an SBOM, as plain data."""

    bom_ref: str
    name: str
    version: str = ""
    group: str = ""
    type: str = ""
    supplier: str = ""
    purl: str = ""
    cpe: str = ""
    properties: tuple[tuple[str, str], ...] = ()

    def prop(self, name: str) -> str:
        """The first value of a CycloneDX property, ``""`` when absent."""
        return next((v for k, v in self.properties if k == name), "")

    @property
    def package_url(self) -> PackageURL | None:
        """The parsed package URL, None when absent or unparsable."""
        if not self.purl:
            return None
        try:
            return PackageURL.from_string(self.purl)
        except ValueError:
            return None

    @property
    def support_level(self) -> str:
        """Value of the :data:`SUPPORT_LEVEL` property."""
        return self.prop(SUPPORT_LEVEL)

    @property
    def end_of_support(self) -> dt.date | None:
        """The :data:`END_OF_SUPPORT` date, None when absent or not an ISO date."""
        try:
            return dt.date.fromisoformat(self.prop(END_OF_SUPPORT).strip())
        except ValueError:
            return None

    @property
    def label(self) -> str:
        """``name@version`` (with group when there is one)."""
        name = f"{self.group}/{self.name}" if self.group else self.name
        return f"{name}@{self.version}" if self.version else name


@dataclass(frozen=True)
class Sbom:
    """An SBOM read from one file: document facts and components sorted by bom-ref."""

    file: str
    spec_version: str
    serial_number: str
    timestamp: str
    authors: tuple[str, ...]
    subject: SbomComponent | None
    components: tuple[SbomComponent, ...]
    dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: The path as the model names it (``Component.sbom``), ``""`` when loaded directly.
    source: str = ""

    @property
    def label(self) -> str:
        """The path as the model names it, else the file read (used in findings and VEX)."""
        return self.source or self.file

    def __iter__(self) -> Any:
        return iter(self.components)

    def __len__(self) -> int:
        return len(self.components)

    def component(self, bom_ref: str) -> SbomComponent | None:
        """The component with this bom-ref, or None."""
        return next((c for c in self.components if c.bom_ref == bom_ref), None)


@dataclass(frozen=True, order=True)
class SbomProblem(Problem):
    """A missing NTIA element or support fact: a :class:`~medthreat.errors.Problem` with a
    code and the component's bom-ref (``""`` for the document)."""

    code: str = ""
    component: str = ""


def _read_text(path: Path, what: str) -> str:
    """The UTF-8 text of a file of at most :data:`~medthreat._yaml.MAX_FILE_BYTES` bytes."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise MedthreatError(f"{path}: {what} is {size:,} bytes; the limit is "
                                 f"{MAX_FILE_BYTES:,} bytes")
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise MedthreatError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise MedthreatError(f"{path}: {what} is not UTF-8 text (byte {exc.start})") from None


def _read_raw(path: Path) -> tuple[str, Any]:
    """('json', dict) or ('xml', Element); MedthreatError naming the file otherwise."""
    text = _read_text(path, "the SBOM")
    stripped = text.lstrip()
    if stripped.startswith("<"):
        # defusedxml: no DTDs, entities or external references in a file from elsewhere.
        try:
            root = SafeElementTree.fromstring(text)
        except ElementTree.ParseError as exc:
            raise MedthreatError(f"{path}: not well-formed XML ({exc})") from None
        except DefusedXmlException as exc:
            raise MedthreatError(f"{path}: XML with a DTD or entities is not read ({exc})"
                                 ) from None
        if not root.tag.startswith("{" + _CDX_NS) or not root.tag.endswith("}bom"):
            raise MedthreatError(f"{path}: not a CycloneDX XML SBOM (root element "
                                 f"{_short(repr(root.tag))}, expected <bom> in namespace "
                                 f"{_CDX_NS}1.x)")
        return "xml", root
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MedthreatError(f"{path}: not valid JSON or XML (line {exc.lineno}: "
                             f"{exc.msg})") from None
    except RecursionError:
        raise MedthreatError(f"{path}: JSON nested too deeply to read; expected a CycloneDX "
                             "document") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise MedthreatError(f"{path}: not valid JSON ({_short(exc)})") from None
    if not isinstance(data, dict) or data.get("bomFormat") != "CycloneDX":
        raise MedthreatError(f"{path}: not a CycloneDX JSON SBOM (\"bomFormat\": \"CycloneDX\" "
                             "is missing); SPDX and other formats are not read")
    return "json", data


def _xml_spec(root: ElementTree.Element) -> str:
    return root.tag[len(_CDX_NS) + 1:].split("}", 1)[0]


def _component(c: Any) -> SbomComponent:
    supplier = c.supplier.name if c.supplier is not None and c.supplier.name else ""
    props = tuple(sorted((p.name, p.value or "") for p in c.properties))
    return SbomComponent(
        bom_ref=str(c.bom_ref.value or ""), name=c.name or "", version=c.version or "",
        group=c.group or "", type=c.type.value if c.type is not None else "", supplier=supplier,
        purl=c.purl.to_string() if c.purl is not None else "", cpe=c.cpe or "",
        properties=props)


def _flatten(components: Any) -> list[Any]:
    out = []
    for c in components:
        out.append(c)
        out += _flatten(c.components)
    return out


def parse_bom(raw: Any, kind: str, failure: str) -> Any:
    """A CycloneDX ``Bom`` from a JSON document or an XML element (``kind``), read with
    cyclonedx-python-lib; any error of the library becomes a :class:`MedthreatError` starting
    with ``failure``."""
    from cyclonedx.model.bom import Bom

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Bom.from_json(raw) if kind == "json" else Bom.from_xml(raw)  # type: ignore[attr-defined]
    except Exception as exc:  # the library raises many kinds of errors on bad input
        raise MedthreatError(f"{failure} ({type(exc).__name__}: {_short(exc)})") from None


def load_sbom(path: str | os.PathLike[str]) -> Sbom:
    """Read a CycloneDX 1.4-1.6 SBOM (JSON or XML) with cyclonedx-python-lib.

    Nested components are flattened; components come sorted by bom-ref. The document's
    timestamp and authors are taken from the file as written (the library fills a missing
    timestamp with the current time, which would hide a missing NTIA element).
    Raises :class:`~medthreat.errors.MedthreatError` naming the file when it cannot be read.
    """
    path = Path(path)
    kind, raw = _read_raw(path)
    bom = parse_bom(raw, kind, f"{path}: not a readable CycloneDX SBOM")
    if kind == "json":
        spec = str(raw.get("specVersion", ""))
        serial = str(raw.get("serialNumber", ""))
        meta = raw.get("metadata") or {}
        timestamp = str(meta.get("timestamp", "")) if isinstance(meta, dict) else ""
    else:
        spec = _xml_spec(raw)
        serial = raw.get("serialNumber", "")
        ns = f"{{{_CDX_NS}{spec}}}"
        node = raw.find(f"{ns}metadata/{ns}timestamp")
        timestamp = (node.text or "").strip() if node is not None else ""
    if spec not in ("1.4", "1.5", "1.6"):
        raise MedthreatError(f"{path}: CycloneDX {spec or '(no specVersion)'} is not read; "
                             "write the SBOM as CycloneDX 1.4, 1.5 or 1.6")
    try:
        meta_obj = bom.metadata
        # an <author> with none of its fields comes back from the library as None
        authors = [a.name or a.email or "" for a in meta_obj.authors if a is not None]
        if meta_obj.manufacturer is not None and meta_obj.manufacturer.name:
            authors.append(meta_obj.manufacturer.name)
        if meta_obj.supplier is not None and meta_obj.supplier.name:
            authors.append(meta_obj.supplier.name)
        subject = _component(meta_obj.component) if meta_obj.component is not None else None
        components = sorted((_component(c) for c in _flatten(bom.components)),
                            key=lambda c: (c.bom_ref, c.name, c.version))
        deps = {str(d.ref.value): tuple(sorted(str(x.ref.value) for x in d.dependencies))
                for d in bom.dependencies}
    except (AttributeError, TypeError, ValueError, RecursionError) as exc:
        raise MedthreatError(f"{path}: not a readable CycloneDX SBOM ({type(exc).__name__}: "
                             f"{_short(exc)})") from None
    return Sbom(file=str(path), spec_version=spec, serial_number=serial, timestamp=timestamp,
                authors=tuple(sorted(a for a in dict.fromkeys(authors) if a)), subject=subject,
                components=tuple(components), dependencies=dict(sorted(deps.items())))


def load_model_sboms(model: Model, base: str | os.PathLike[str] | None = None,
                     ) -> dict[str, Sbom]:
    """The SBOM of every model component that names one, keyed by component id (sorted).

    Paths are relative to ``base``, by default the folder of the model file (the current
    folder for a model built in code).
    """
    if base is None:
        source = getattr(model, "_source", None)
        file = getattr(source, "file", "") if source is not None else ""
        base = Path(file).parent if file else Path()
    out: dict[str, Sbom] = {}
    for c in sorted(model.components, key=lambda c: c.id):
        if c.sbom:
            out[c.id] = dataclasses.replace(load_sbom(Path(base) / c.sbom), source=c.sbom)
    return out


def ntia_check(sbom: Sbom, today: dt.date | None = None) -> list[SbomProblem]:
    """NTIA minimum elements and support facts missing from ``sbom``, sorted.

    Document: author of the SBOM data (``metadata.authors``, manufacturer or supplier) and
    timestamp. Per component: supplier name, component name, version, a unique identifier
    (purl or CPE), a dependency relationship (the component appears in ``dependencies`` as a
    ref or as a dependency), the :data:`SUPPORT_LEVEL` and :data:`END_OF_SUPPORT` properties
    (valid values), and an end of support that has passed (``today`` defaults to the current
    date; pass it for reproducible output).
    """
    today = today or dt.date.today()
    problems: list[SbomProblem] = []

    def add(code: str, ref: str, message: str) -> None:
        path = f"components[{ref}]" if ref else "metadata"
        problems.append(SbomProblem(sbom.file, None, path, message, code, ref))

    if not sbom.authors:
        add("no_author", "", "no author of the SBOM data (metadata.authors, manufacturer or "
            "supplier)")
    if not sbom.timestamp:
        add("no_timestamp", "", "no timestamp (metadata.timestamp)")
    related = set(sbom.dependencies) | {d for deps in sbom.dependencies.values() for d in deps}
    for c in sbom.components:
        ref = c.bom_ref or c.name
        if not c.supplier:
            add("no_supplier", ref, "no supplier name")
        if not c.name:
            add("no_name", ref, "no component name")
        if not c.version:
            add("no_version", ref, "no version")
        if not c.purl and not c.cpe:
            add("no_identifier", ref, "no unique identifier (purl or cpe)")
        elif c.purl and c.package_url is None:
            add("bad_purl", ref, f"purl {c.purl!r} is not a valid package URL")
        if c.bom_ref not in related:
            add("no_dependencies", ref, "no dependency relationship (not in dependencies)")
        level = c.support_level
        if not level:
            add("no_support_level", ref, f"no support level (property {SUPPORT_LEVEL})")
        elif level not in SUPPORT_LEVELS:
            add("bad_support_level", ref, f"support level {level!r} is not one of "
                f"{', '.join(SUPPORT_LEVELS)}")
        raw_end = c.prop(END_OF_SUPPORT)
        end = c.end_of_support
        if not raw_end:
            add("no_end_of_support", ref, f"no end-of-support date (property {END_OF_SUPPORT})")
        elif end is None:
            add("bad_end_of_support", ref, f"end of support {raw_end!r} is not an ISO date "
                "YYYY-MM-DD")
        elif end < today:
            add("past_end_of_support", ref, f"{c.label} is past its end of support "
                f"({end.isoformat()})")
        if level in ("unsupported", "abandoned") and not (end is not None and end < today):
            add("unsupported", ref, f"{c.label} is declared {level}")
    return sorted(problems)
