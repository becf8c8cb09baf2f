"""Vulnerability advisories from files, matched to SBOM components.

Readers: OSV JSON (one advisory or a list), CycloneDX VEX JSON or XML (``vulnerabilities``
with ``affects`` and ``analysis``, read with cyclonedx-python-lib), CSAF 2.0 JSON
(``product_tree`` with purl identification helpers and ``product_status``) and the CISA
Known Exploited Vulnerabilities catalog (a set of CVE ids).
:func:`load_advisories` tells the formats apart by their content.

Matching compares package URLs on type, namespace and name (case-insensitively; PyPI names
also with ``_``/``.`` read as ``-``) and versions with univers, using the version scheme of
the purl type (semver for OSV ``SEMVER`` ranges). Advisories of the same vulnerability (a CVE
id in the id or aliases joins them) are merged into one :class:`VulnerabilityMatch` per model
component and SBOM component.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packageurl import PackageURL
from univers.version_range import RANGE_CLASS_BY_SCHEMES, VersionRange
from univers.versions import SemverVersion, Version

from ..errors import MedthreatError
from .sbom import Sbom, SbomComponent, _read_raw, _read_text, _short, parse_bom

__all__ = [
    "Advisory",
    "AffectedPackage",
    "VulnerabilityMatch",
    "load_advisories",
    "load_advisory_file",
    "load_kev",
    "match_vulnerabilities",
    "package_key",
]

#: OSV ecosystems -> purl types.
OSV_ECOSYSTEMS = {
    "pypi": "pypi", "npm": "npm", "maven": "maven", "go": "golang", "crates.io": "cargo",
    "rubygems": "gem", "nuget": "nuget", "packagist": "composer", "hex": "hex", "pub": "pub",
    "debian": "deb", "ubuntu": "deb", "alpine": "apk", "conan": "conan", "swifturl": "swift",
    "github actions": "github", "oss-fuzz": "generic", "linux": "generic",
}
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$", re.IGNORECASE)


@dataclass(frozen=True)
class AffectedPackage:
    """Which versions of one package an advisory affects.

    ``events`` are OSV range events ``(kind, version)`` per range (kind introduced, fixed,
    last_affected or limit) with the range's scheme (``SEMVER`` or ``ECOSYSTEM``);
    ``versions`` are exact affected versions; ``vers`` are univers ``vers:`` range strings;
    ``fixed`` the versions that fix it.
    """

    purl_type: str
    namespace: str
    name: str
    ranges: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    versions: tuple[str, ...] = ()
    vers: tuple[str, ...] = ()
    fixed: tuple[str, ...] = ()
    any_version: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        """(type, namespace, name), normalized as :func:`package_key` does."""
        return _normalize(self.purl_type, self.namespace, self.name)

    def affects(self, version: str) -> bool:
        """Whether ``version`` is affected (False when it cannot be compared)."""
        if self.any_version:
            return True
        if version in self.versions:
            return True
        for spec in self.vers:
            try:
                vr = VersionRange.from_string(spec)
                if vr.version_class(version) in vr:
                    return True
            except Exception:  # noqa: S112 - univers raises many kinds on bad input
                continue
        for scheme, events in self.ranges:
            cls = SemverVersion if scheme == "SEMVER" else _version_class(self.purl_type)
            try:
                if _in_osv_range(_parse(cls, version), events, cls):
                    return True
            except Exception:  # noqa: S112 - an unparsable version is not a match
                continue
        return False


@dataclass(frozen=True)
class Advisory:
    """One vulnerability advisory (or VEX statement) read from a file."""

    id: str
    source: str
    format: str
    aliases: tuple[str, ...] = ()
    summary: str = ""
    affected: tuple[AffectedPackage, ...] = ()
    cvss_vector: str = ""
    cvss_score: float | None = None
    cwes: tuple[int, ...] = ()
    vex_state: str = ""
    vex_justification: str = ""
    vex_detail: str = ""
    refs: tuple[str, ...] = ()

    @property
    def vulnerability_id(self) -> str:
        """The CVE id when the advisory has one (id or alias), else its own id."""
        cves = sorted(i.upper() for i in (self.id, *self.aliases) if _CVE.match(i))
        return cves[0] if cves else self.id


@dataclass(frozen=True)
class VulnerabilityMatch:
    """A vulnerability that affects one SBOM component of one model component."""

    component_id: str
    sbom_file: str
    package: SbomComponent
    vulnerability_id: str
    aliases: tuple[str, ...] = ()
    summary: str = ""
    cvss_vector: str = ""
    cvss_score: float | None = None
    cwes: tuple[int, ...] = ()
    fixed_versions: tuple[str, ...] = ()
    kev: bool = False
    vex_state: str = ""
    vex_justification: str = ""
    vex_detail: str = ""
    sources: tuple[str, ...] = field(default=(), compare=False)

    @property
    def ids(self) -> tuple[str, ...]:
        """The vulnerability id and its aliases."""
        return (self.vulnerability_id, *self.aliases)

    @property
    def resolved_by_vex(self) -> bool:
        """Whether a VEX statement says the component is not affected, or the issue is fixed
        or a false positive."""
        return self.vex_state in ("not_affected", "resolved", "resolved_with_pedigree",
                                  "false_positive", "fixed")


# -- packages and versions ------------------------------------------------------------------


def _normalize(ptype: str, namespace: str, name: str) -> tuple[str, str, str]:
    ptype, namespace, name = ptype.lower(), (namespace or "").lower(), name.lower()
    if ptype == "pypi":
        name = re.sub(r"[-_.]+", "-", name)
    return ptype, namespace, name


def package_key(purl: str | PackageURL) -> tuple[str, str, str] | None:
    """(type, namespace, name) of a package URL, normalized for comparison; None if invalid."""
    try:
        p = purl if isinstance(purl, PackageURL) else PackageURL.from_string(purl)
    except ValueError:
        return None
    return _normalize(p.type, p.namespace or "", p.name)


def _version_class(purl_type: str) -> type[Version]:
    cls = RANGE_CLASS_BY_SCHEMES.get(purl_type) or RANGE_CLASS_BY_SCHEMES["generic"]
    return cls.version_class  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=65536)
def _parse(cls: type[Version], raw: str) -> Version:
    """A version parsed in a scheme, remembered: the same bounds recur across components."""
    return cls(raw)


def _in_osv_range(v: Version, events: tuple[tuple[str, str], ...], cls: type[Version]) -> bool:
    """OSV evaluation: walk the events in version order; introduced opens, fixed and
    last_affected close (``limit`` only bounds the range)."""
    parsed: list[tuple[int, Any, str]] = []
    for kind, raw in events:
        if kind == "introduced" and raw == "0":
            parsed.append((0, None, kind))
        else:
            parsed.append((1, _parse(cls, raw), kind))
    parsed.sort(key=lambda e: (e[0], e[1]) if e[1] is not None else (0, 0))  # type: ignore[return-value]
    affected = False
    for _, bound, kind in parsed:
        if kind == "introduced" and (bound is None or v >= bound):
            affected = True
        elif bound is not None and (v > bound if kind == "last_affected" else v >= bound):
            affected = False  # fixed, last_affected or limit
    return affected


# -- readers --------------------------------------------------------------------------------


def _cvss_from_rating(method: str, vector: str) -> str:
    if not vector:
        return ""
    if vector.startswith("CVSS:"):
        return vector
    prefix = {"CVSSv31": "CVSS:3.1/", "CVSSv3": "CVSS:3.0/", "CVSSv4": "CVSS:4.0/"}.get(method)
    return prefix + vector.lstrip("(").rstrip(")") if prefix else ""


def _score_of(vector: str) -> float | None:
    from ..risk.cvss import parse_cvss

    try:
        parsed = parse_cvss(vector)
    except ValueError:
        return None
    scores = parsed.scores()
    return float(scores[0])


def _valid_vector(vector: str) -> str:
    return vector if vector and _score_of(vector) is not None else ""


def _cwe_ids(values: Iterable[Any]) -> tuple[int, ...]:
    out = set()
    for v in values:
        m = re.search(r"(\d+)", str(v))
        if m:
            out.add(int(m.group(1)))
    return tuple(sorted(out))


def _osv(data: Mapping[str, Any], source: str) -> Advisory:
    affected = []
    fixed_all: list[str] = []
    for a in data.get("affected") or []:
        pkg = a.get("package") or {}
        purl = pkg.get("purl") or ""
        key = package_key(purl) if purl else None
        if key is None:
            ptype = OSV_ECOSYSTEMS.get(str(pkg.get("ecosystem", "")).split(":")[0].lower())
            name = str(pkg.get("name", ""))
            if not ptype or not name:
                continue
            namespace = ""
            if ptype == "maven" and ":" in name:
                namespace, name = name.split(":", 1)
            elif ptype in ("npm", "golang", "composer", "github") and "/" in name:
                namespace, name = name.rsplit("/", 1)
            key = _normalize(ptype, namespace, name)
        ranges = []
        fixed = []
        for r in a.get("ranges") or []:
            scheme = str(r.get("type", ""))
            if scheme not in ("SEMVER", "ECOSYSTEM"):
                continue
            events = []
            for e in r.get("events") or []:
                for kind in ("introduced", "fixed", "last_affected", "limit"):
                    if kind in e:
                        events.append((kind, str(e[kind])))
                        if kind == "fixed":
                            fixed.append(str(e[kind]))
            ranges.append((scheme, tuple(events)))
        fixed_all += fixed
        affected.append(AffectedPackage(key[0], key[1], key[2], ranges=tuple(ranges),
                                        versions=tuple(str(v) for v in a.get("versions") or []),
                                        fixed=tuple(dict.fromkeys(fixed))))
    vector = ""
    for sev in data.get("severity") or []:
        if str(sev.get("type", "")).startswith("CVSS_"):
            vector = _valid_vector(str(sev.get("score", "")))
            if vector:
                break
    cwes = _cwe_ids((data.get("database_specific") or {}).get("cwe_ids") or [])
    aliases = tuple(sorted({str(x) for x in data.get("aliases") or []}))
    return Advisory(id=str(data["id"]), source=source, format="osv", aliases=aliases,
                    summary=str(data.get("summary") or data.get("details") or "")[:500],
                    affected=tuple(affected), cvss_vector=vector,
                    cvss_score=_score_of(vector) if vector else None, cwes=cwes)


def _affected_from_ref(ref: str, versions: list[Any]) -> AffectedPackage | None:
    purl = ref.split("#", 1)[1] if ref.startswith("urn:cdx:") and "#" in ref else ref
    try:
        p = PackageURL.from_string(purl)
    except ValueError:
        return None
    key = _normalize(p.type, p.namespace or "", p.name)
    exact = [str(v["version"]) for v in versions
             if v.get("version") and v.get("status", "affected") == "affected"]
    ranges = [str(v["range"]) for v in versions
              if v.get("range") and v.get("status", "affected") == "affected"]
    if not exact and not ranges and p.version:
        exact = [p.version]
    return AffectedPackage(key[0], key[1], key[2], versions=tuple(exact), vers=tuple(ranges),
                           any_version=not exact and not ranges)


def _cyclonedx_vex(raw: Any, kind: str, source: str) -> list[Advisory]:
    """Vulnerabilities of a CycloneDX document (JSON dict or XML element), read with
    cyclonedx-python-lib."""
    bom = parse_bom(raw, kind, f"{source}: not a readable CycloneDX VEX document")
    out = []
    for v in sorted(bom.vulnerabilities, key=lambda v: (v.id or "", str(v.bom_ref.value))):
        vector, score = "", None
        for r in v.ratings:
            method = r.method.value if r.method is not None else ""
            vector = _valid_vector(_cvss_from_rating(method, r.vector or ""))
            if vector:
                score = float(r.score) if r.score is not None else _score_of(vector)
                break
        refs, affected = [], []
        for a in v.affects:
            if a is None:  # the library's reading of an affects target without a ref
                raise MedthreatError(f"{source}: vulnerability {_short(v.id or '(no id)')}: an "
                                     "affects target has no ref; expected the package URL or "
                                     "bom-ref of the affected component")
            ref = str(a.ref)
            refs.append(ref)
            versions = [{"version": x.version, "range": x.range,
                         "status": x.status.value if x.status is not None else "affected"}
                        for x in a.versions]
            pkg = _affected_from_ref(ref, versions)
            if pkg is not None:
                affected.append(pkg)
        analysis = v.analysis
        vid = str(v.id or "")
        aliases = {str(r.id) for r in v.references if r.id} - {vid}
        out.append(Advisory(
            id=vid, source=source, format="cyclonedx-vex", aliases=tuple(sorted(aliases)),
            summary=str(v.description or v.detail or "")[:500], affected=tuple(affected),
            cvss_vector=vector, cvss_score=score, cwes=tuple(sorted(int(c) for c in v.cwes)),
            vex_state=analysis.state.value if analysis and analysis.state else "",
            vex_justification=(analysis.justification.value
                               if analysis and analysis.justification else ""),
            vex_detail=str(analysis.detail or "") if analysis else "", refs=tuple(refs)))
    return out


def _csaf_products(tree: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """product_id -> (purl, vers range of the nearest product_version_range branch)."""
    found: dict[str, tuple[str, str]] = {}

    def product(p: Mapping[str, Any], vers: str) -> None:
        helper = p.get("product_identification_helper") or {}
        if p.get("product_id"):
            found[str(p["product_id"])] = (str(helper.get("purl", "")), vers)

    def walk(branches: Iterable[Mapping[str, Any]], vers: str) -> None:
        for b in branches:
            here = vers
            name = str(b.get("name", ""))
            if b.get("category") == "product_version_range" and name.startswith("vers:"):
                here = name
            if b.get("product"):
                product(b["product"], here)
            walk(b.get("branches") or [], here)

    walk(tree.get("branches") or [], "")
    for p in tree.get("full_product_names") or []:
        product(p, "")
    return found


def _csaf(data: Mapping[str, Any], source: str) -> list[Advisory]:
    products = _csaf_products(data.get("product_tree") or {})
    out = []
    for i, v in enumerate(data.get("vulnerabilities") or []):
        ids = [str(x["text"]) for x in v.get("ids") or [] if x.get("text")]
        tracking = ((data.get("document") or {}).get("tracking") or {}).get("id", "CSAF")
        vid = str(v.get("cve") or (ids[0] if ids else f"{tracking}-{i + 1}"))
        status = v.get("product_status") or {}
        fixed_versions = []
        for pid in [*status.get("fixed", []), *status.get("first_fixed", [])]:
            purl = products.get(str(pid), ("", ""))[0]
            try:
                version = PackageURL.from_string(purl).version if purl else None
            except ValueError:
                version = None
            if version:
                fixed_versions.append(version)
        affected = []
        for pid in [*status.get("known_affected", []), *status.get("first_affected", []),
                    *status.get("last_affected", [])]:
            purl, vers = products.get(str(pid), ("", ""))
            if not purl:
                continue
            try:
                p = PackageURL.from_string(purl)
            except ValueError:
                continue
            key = _normalize(p.type, p.namespace or "", p.name)
            affected.append(AffectedPackage(
                key[0], key[1], key[2], versions=(p.version,) if p.version and not vers else (),
                vers=(vers,) if vers else (), fixed=tuple(sorted(set(fixed_versions))),
                any_version=not p.version and not vers))
        vector, score = "", None
        for s in v.get("scores") or []:
            for k in ("cvss_v3", "cvss_v4"):
                cv = s.get(k) or {}
                vector = _valid_vector(str(cv.get("vectorString", "")))
                if vector:
                    score = cv.get("baseScore")
                    break
            if vector:
                break
        cwe = v.get("cwe") or {}
        out.append(Advisory(
            id=vid, source=source, format="csaf", aliases=tuple(sorted(set(ids) - {vid})),
            summary=str(v.get("title") or next((n.get("text", "") for n in v.get("notes") or []
                                                if n.get("category") == "description"), ""))[:500],
            affected=tuple(affected), cvss_vector=vector,
            cvss_score=float(score) if isinstance(score, int | float) else None,
            cwes=_cwe_ids([cwe.get("id", "")]) if cwe else ()))
    return out


def _read_json(path: Path) -> Any:
    text = _read_text(path, "the file")
    try:
        return json.loads(text)
    except RecursionError:
        raise MedthreatError(f"{path}: JSON nested too deeply to read") from None
    except ValueError as exc:  # malformed JSON, or an integer of more than 4,300 digits
        raise MedthreatError(f"{path}: not valid JSON ({_short(exc)})") from None


def load_kev(path: str | os.PathLike[str]) -> frozenset[str]:
    """CVE ids of a CISA Known Exploited Vulnerabilities catalog (JSON feed)."""
    path = Path(path)
    data = _read_json(path)
    vulns = data.get("vulnerabilities") if isinstance(data, dict) else None
    if not isinstance(vulns, list) or any(not isinstance(v, dict) or "cveID" not in v
                                          for v in vulns):
        raise MedthreatError(f"{path}: not a CISA KEV catalog (expected \"vulnerabilities\": "
                             "a list of entries with \"cveID\")")
    return frozenset(str(v["cveID"]).upper() for v in vulns)


def load_advisory_file(path: str | os.PathLike[str]) -> list[Advisory]:
    """Advisories of one file: OSV (object or list), CycloneDX VEX (JSON or XML) or CSAF 2.0
    JSON."""
    path = Path(path)
    source = str(path)
    try:
        with path.open("rb") as stream:
            head = stream.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip()[:1]
    except OSError:
        head = b""
    fmt = "advisory"
    try:
        if head == b"<":
            _, root = _read_raw(path)  # CycloneDX XML only
            fmt = "CycloneDX VEX XML document"
            return _cyclonedx_vex(root, "xml", source)
        data = _read_json(path)
        if isinstance(data, list):
            if all(isinstance(d, dict) and "id" in d and "affected" in d for d in data):
                fmt = "OSV advisory"
                return [_osv(d, source) for d in data]
        elif isinstance(data, dict):
            if data.get("bomFormat") == "CycloneDX":
                fmt = "CycloneDX VEX JSON document"
                return _cyclonedx_vex(data, "json", source)
            document = data.get("document")
            if isinstance(document, dict) and str(document.get("csaf_version", "")
                                                  ).startswith("2."):
                fmt = "CSAF 2.0 advisory"
                return _csaf(data, source)
            if "id" in data and ("affected" in data or "modified" in data):
                fmt = "OSV advisory"
                return [_osv(data, source)]
    except (AttributeError, KeyError, TypeError, ValueError, RecursionError) as exc:
        raise MedthreatError(f"{path}: malformed {fmt}: an entry is missing or has the wrong "
                             f"type for the format's schema ({type(exc).__name__}: "
                             f"{_short(exc)})") from None
    raise MedthreatError(f"{path}: not an advisory file medthreat reads (OSV JSON, CycloneDX "
                         "VEX JSON or XML, or CSAF 2.0 JSON)")


def load_advisories(paths: Iterable[str | os.PathLike[str]]) -> list[Advisory]:
    """Advisories of several files, in file order then file order within each."""
    return [a for p in paths for a in load_advisory_file(p)]


# -- matching -------------------------------------------------------------------------------


def match_vulnerabilities(sboms: Mapping[str, Sbom], advisories: Iterable[Advisory],
                          kev: Iterable[str] = ()) -> list[VulnerabilityMatch]:
    """Every (model component, SBOM component, vulnerability) an advisory affects.

    ``sboms`` maps model component ids to their SBOM (see
    :func:`~medthreat.sbom.load_model_sboms`). Components without a purl are not matched.
    Advisories of one vulnerability (same CVE id) are merged: aliases and fixed versions
    united, the first CVSS vector kept (non-VEX sources first), the VEX state taken from the
    VEX statements. ``kev`` is a set of CVE ids (:func:`load_kev`). Sorted by component id,
    vulnerability id, then package.
    """
    kev_ids = {k.upper() for k in kev}
    by_key: dict[tuple[str, str, str], list[tuple[Advisory, AffectedPackage]]] = {}
    ordered = sorted(advisories, key=lambda a: (a.format == "cyclonedx-vex", a.source, a.id))
    for adv in ordered:
        for pkg in adv.affected:
            by_key.setdefault(pkg.key, []).append((adv, pkg))
    merged: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for component_id, sbom in sorted(sboms.items()):
        for c in sbom.components:
            key = package_key(c.purl) if c.purl else None
            if key is None or not c.version:
                continue
            for adv, pkg in by_key.get(key, ()):
                if not pkg.affects(c.version):
                    continue
                vid = adv.vulnerability_id
                slot = merged.setdefault((component_id, vid, c.bom_ref, c.version), {
                    "component_id": component_id, "sbom_file": sbom.label, "package": c,
                    "vulnerability_id": vid, "ids": set(), "summary": "", "cvss": "",
                    "score": None, "cwes": set(), "fixed": set(), "vex": ("", "", ""),
                    "sources": set()})
                slot["ids"].update((adv.id, *adv.aliases))
                slot["summary"] = slot["summary"] or adv.summary
                if adv.cvss_vector and not slot["cvss"]:
                    slot["cvss"], slot["score"] = adv.cvss_vector, adv.cvss_score
                slot["cwes"].update(adv.cwes)
                slot["fixed"].update(pkg.fixed)
                if adv.vex_state:
                    slot["vex"] = (adv.vex_state, adv.vex_justification, adv.vex_detail)
                slot["sources"].add(adv.source)
    out = []
    for (_, vid, _, _), s in sorted(merged.items()):
        ids = {i.upper() if _CVE.match(i) else i for i in s["ids"]}
        aliases = tuple(sorted(ids - {vid}))
        out.append(VulnerabilityMatch(
            component_id=s["component_id"], sbom_file=s["sbom_file"], package=s["package"],
            vulnerability_id=vid, aliases=aliases, summary=s["summary"],
            cvss_vector=s["cvss"], cvss_score=s["score"], cwes=tuple(sorted(s["cwes"])),
            fixed_versions=tuple(sorted(s["fixed"])),
            kev=any(i.upper() in kev_ids for i in (vid, *aliases)),
            vex_state=s["vex"][0], vex_justification=s["vex"][1], vex_detail=s["vex"][2],
            sources=tuple(sorted(s["sources"]))))
    return out
