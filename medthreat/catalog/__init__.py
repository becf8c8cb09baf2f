"""The catalog: component types, protocols, threats and controls, loaded from YAML folders.

The shipped catalog (``catalogs/`` in the source tree, ``medthreat/catalogs`` in a wheel) is the
base; user catalog folders merge on top of it, an entry adding or replacing by id. Loading checks
everything that can be checked without a model — shapes, cross-references, conditions — so a
broken catalog fails before any analysis, with file, line and entry named.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .._yaml import SourceMap, iter_yaml_files, read_file
from ..errors import CatalogError, MedthreatError, Problem, describe_type, format_path
from ..rules import Node, RuleError, compile_condition
from ._entries import (
    FRAMEWORKS,
    SECTIONS,
    STRIDE_PER_ELEMENT,
    AttributeDef,
    Category,
    ComponentType,
    Control,
    ControlEffect,
    ControlKind,
    DocumentKind,
    ElementKind,
    FdaCategory,
    Framework,
    Protocol,
    Range,
    Requirement,
    Stride,
    Threat,
    reference_covers,
)

__all__ = [
    "FRAMEWORKS",
    "STRIDE_PER_ELEMENT",
    "AttributeDef",
    "Catalog",
    "Category",
    "ComponentType",
    "Control",
    "ControlEffect",
    "ControlKind",
    "DocumentKind",
    "ElementKind",
    "FdaCategory",
    "Framework",
    "Protocol",
    "Range",
    "Requirement",
    "Stride",
    "Threat",
    "default_catalog",
    "reference_covers",
    "shipped_catalog_dir",
]

#: Sub-folder of a catalog folder that holds risk policies, not catalog entries.
POLICY_FOLDER = "policies"

#: Catalog sections in display order.
SECTIONS_HELP = tuple(SECTIONS)


def shipped_catalog_dir() -> Path:
    """The folder of the catalog that ships with medthreat."""
    here = Path(__file__).resolve().parent.parent
    installed = here / "catalogs"
    if installed.is_dir():
        return installed
    return here.parent / "catalogs"


@dataclass(frozen=True)
class Origin:
    """Where a catalog entry was defined."""

    file: str
    line: int | None
    path: tuple[str | int, ...]


@dataclass
class Catalog:
    """All catalog entries by id, with compiled threat conditions.

    Load it with :meth:`Catalog.load`; entries are immutable.
    """

    attributes: dict[str, AttributeDef] = field(default_factory=dict)
    component_types: dict[str, ComponentType] = field(default_factory=dict)
    protocols: dict[str, Protocol] = field(default_factory=dict)
    threats: dict[str, Threat] = field(default_factory=dict)
    controls: dict[str, Control] = field(default_factory=dict)
    frameworks: dict[str, Framework] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    origins: dict[tuple[str, str], Origin] = field(default_factory=dict, repr=False)
    conditions: dict[str, Node] = field(default_factory=dict, repr=False)
    source_maps: dict[str, SourceMap] = field(default_factory=dict, repr=False)
    _index: dict[ElementKind, list[Threat]] | None = field(default=None, init=False, repr=False)

    @classmethod
    def load(
        cls, *user_dirs: str | os.PathLike[str], shipped: bool = True
    ) -> Catalog:
        """Load the shipped catalog (unless ``shipped=False``) and merge user folders on top.

        Raises :class:`~medthreat.errors.CatalogError` listing every problem found.
        """
        dirs = ([shipped_catalog_dir()] if shipped else []) + [Path(d) for d in user_dirs]
        if not dirs:
            raise CatalogError("no catalog folder given")
        catalog = cls()
        problems: list[Problem] = []
        for folder in dirs:
            problems += catalog._merge_folder(folder)
        if not problems:
            problems += catalog._check()
        if problems:
            raise CatalogError(problems)
        return catalog

    # -- loading -----------------------------------------------------------------------------

    def _merge_folder(self, folder: Path) -> list[Problem]:
        if not folder.is_dir():
            return [Problem(str(folder), None, "", "catalog folder not found")]
        problems: list[Problem] = []
        seen_here: dict[tuple[str, str], Origin] = {}
        # Risk policies live beside the catalog (catalogs/policies/) but are loaded on their own.
        files = [f for f in iter_yaml_files(folder)
                 if POLICY_FOLDER not in f.relative_to(folder).parts[:-1]]
        if not files:
            problems.append(Problem(str(folder), None, "", "no .yaml files in catalog folder"))
        for file in files:
            try:
                data, src = read_file(file)
            except MedthreatError as exc:
                problems += exc.problems
                continue
            self.source_maps[src.file] = src
            problems += self._merge_document(data, src, seen_here)
        self.sources.append(str(folder))
        return problems

    def _merge_document(
        self, data: Any, src: SourceMap, seen_here: dict[tuple[str, str], Origin]
    ) -> list[Problem]:
        if data is None:
            return []
        if not isinstance(data, dict):
            return [src.problem((), f"expected a mapping with any of the keys "
                                    f"{', '.join(SECTIONS)}")]
        problems: list[Problem] = []
        for section, raw in data.items():
            if section not in SECTIONS:
                problems.append(src.problem((section,), f"unknown catalog section {section!r}; "
                                            f"expected one of {', '.join(SECTIONS)}"))
                continue
            if not isinstance(raw, list):
                problems.append(src.problem((section,), f"{section} should be a list of entries"))
                continue
            entry_cls = SECTIONS[section]
            target: dict[str, Any] = getattr(self, section)
            for i, item in enumerate(raw):
                path = (section, i)
                try:
                    entry = entry_cls.model_validate(item)
                except ValidationError as exc:
                    from ..model._io import validation_problems

                    problems += validation_problems(exc, src, path, entry_cls)
                    continue
                key = (section, entry.id)  # type: ignore[attr-defined]
                origin = Origin(src.file, src.line(path), path)
                if key in seen_here:
                    first = seen_here[key]
                    problems.append(src.problem((*path, "id"), f"duplicate {section} id "
                                    f"{entry.id!r} (first defined in {first.file}"  # type: ignore[attr-defined]
                                    f":{first.line}); ids must be unique within a catalog folder"))
                    continue
                seen_here[key] = origin
                target[entry.id] = entry  # type: ignore[attr-defined]
                self.origins[key] = origin
        return problems

    # -- checking ----------------------------------------------------------------------------

    def _problem(self, section: str, entry_id: str, sub: tuple[str | int, ...],
                 message: str) -> Problem:
        origin = self.origins.get((section, entry_id))
        if origin is None:
            return Problem("<catalog>", None, f"{section}[{entry_id}]", message)
        path = (*origin.path, *sub)
        line = self._line(origin, sub)
        return Problem(origin.file, line, format_path(path), message)

    def _line(self, origin: Origin, sub: tuple[str | int, ...]) -> int | None:
        src = self.source_maps.get(origin.file)
        if src is None:
            return origin.line
        return src.line((*origin.path, *sub)) or origin.line

    def _check(self) -> list[Problem]:
        from ..engine._context import build_vocabulary

        problems: list[Problem] = []
        builtin = build_vocabulary(self, builtins_only=True)
        reserved = {a for spaces in builtin.values() for ns in ("element", "type", "source")
                    for a in spaces.get(ns, {})}
        for attr in self.attributes.values():
            if attr.id in reserved:
                problems.append(self._problem("attributes", attr.id, ("id",), f"attribute "
                                f"{attr.id!r} shadows a built-in attribute; choose another id"))
            if not attr.accepts(attr.default):
                problems.append(self._problem("attributes", attr.id, ("default",), f"default "
                                f"{attr.default!r} is not of type {attr.type}"))
        for ctype in self.component_types.values():
            for name, value in ctype.attributes.items():
                spec = self.attributes.get(name)
                if spec is None:
                    problems.append(self._problem("component_types", ctype.id, ("attributes",
                                    name), f"unknown attribute {name!r}; expected one defined "
                                    f"under 'attributes'{_hint(name, self.attributes)}"))
                elif not spec.accepts(value):
                    problems.append(self._problem("component_types", ctype.id, ("attributes",
                                    name), f"attribute {name!r} expects "
                                    f"{describe_type(spec.type)}, got {value!r}"))
        problems += self._check_frameworks()
        vocabulary = build_vocabulary(self)
        baseline: dict[tuple[ElementKind, Stride], str] = {}
        for threat in self.threats.values():
            problems += self._check_threat(threat, vocabulary, baseline)
        for kind, categories in STRIDE_PER_ELEMENT.items():
            for category in categories:
                if (kind, category) not in baseline:
                    problems.append(Problem(", ".join(self.sources), None, "threats",
                                            f"no baseline threat "
                                    f"for {kind.value} / {category.value}; STRIDE per element "
                                    "needs one (baseline: true, no condition) for each pair"))
        return problems

    def _check_frameworks(self) -> list[Problem]:
        problems: list[Problem] = []
        first: dict[str, str] = {}
        for framework in self.frameworks.values():
            for i, req in enumerate(framework.requirements):
                where = ("requirements", i)
                messages: list[tuple[tuple[str | int, ...], str]] = []
                if req.id in first:
                    messages.append((("id",), f"duplicate requirement id (first in framework "
                                     f"{first[req.id]!r}); requirement ids are unique across "
                                     "frameworks"))
                first.setdefault(req.id, framework.id)
                for j, control in enumerate(req.controls):
                    if control not in self.controls:
                        messages.append((("controls", j), f"unknown control {control!r}"
                                         f"{_hint(control, self.controls)}"))
                if not (req.references or req.fda_categories or req.controls or req.documents):
                    messages.append(((), "nothing can satisfy it; give references, "
                                     "fda_categories, controls or documents"))
                problems += [self._problem("frameworks", framework.id, (*where, *sub),
                                           f"requirement {req.id}: {message}")
                             for sub, message in messages]
        return problems

    def requirements(self) -> dict[str, tuple[Framework, Requirement]]:
        """Every framework requirement by id, with its framework, in catalog order."""
        return {req.id: (fw, req) for fw in self.frameworks.values() for req in fw.requirements}

    def _check_threat(self, threat: Threat, vocabulary: Any,
                      baseline: dict[tuple[ElementKind, Stride], str]) -> list[Problem]:
        problems: list[Problem] = []

        def report(sub: tuple[str | int, ...], message: str) -> None:
            problems.append(self._problem("threats", threat.id, sub,
                                          f"threat {threat.id}: {message}"))

        kinds = set(threat.applies_to)
        if ElementKind.data_flow in kinds and len(kinds) > 1:
            report(("applies_to",), "a threat applies either to data flows or to elements, "
                   "not both; split it in two")
        for kind in sorted(kinds):
            if threat.stride not in STRIDE_PER_ELEMENT[kind]:
                allowed = ", ".join(s.value for s in STRIDE_PER_ELEMENT[kind])
                report(("stride",), f"{threat.stride.value} does not apply to {kind.value} under "
                       f"STRIDE per element (allowed: {allowed})")
        for i, control in enumerate(threat.controls):
            if control not in self.controls:
                report(("controls", i), f"unknown control {control!r}"
                       f"{_hint(control, self.controls)}")
        if threat.baseline:
            if threat.condition is not None:
                report(("condition",), "a baseline threat has no condition")
            for kind in kinds:
                key = (kind, threat.stride)
                if key in baseline and baseline[key] != threat.id:
                    report(("baseline",), f"second baseline threat for {kind.value} / "
                           f"{threat.stride.value} (first: {baseline[key]})")
                baseline.setdefault(key, threat.id)
        scope = "flow" if threat.on_flows else "element"
        try:
            self.conditions[threat.id] = compile_condition(threat.condition, scope, vocabulary)
        except RuleError as exc:
            clause = format_path(("condition", *exc.path))
            report(("condition", *exc.path), f"condition clause {clause}: {exc.message}")
        return problems

    # -- lookups -----------------------------------------------------------------------------

    def get(self, entry_id: str) -> Any:
        """The entry with this id in any section (or a framework requirement), or None."""
        for section in SECTIONS:
            entry = getattr(self, section).get(entry_id)
            if entry is not None:
                return entry
        found = self.requirements().get(entry_id)
        return found[1] if found else None

    def counts(self) -> dict[str, int]:
        """Number of entries per section."""
        return {section: len(getattr(self, section)) for section in SECTIONS}

    def reads(self, namespace: str, attribute: str) -> bool:
        """Whether any threat condition reads ``namespace.attribute``."""
        return any((namespace, attribute) in node.paths for node in self.conditions.values())

    def threats_for(self, kind: ElementKind) -> list[Threat]:
        """Threats applying to an element kind, in id order (the engine's index)."""
        if self._index is None:
            index: dict[ElementKind, list[Threat]] = {k: [] for k in ElementKind}
            for threat in sorted(self.threats.values(), key=lambda t: t.id):
                for k in threat.applies_to:
                    index[k].append(threat)
            self._index = index
        return self._index[kind]


def _hint(value: str, candidates: Iterable[str]) -> str:
    from ..model._check import did_you_mean

    return did_you_mean(value, candidates)


@functools.cache
def default_catalog() -> Catalog:
    """The shipped catalog, loaded once per process."""
    return Catalog.load()
