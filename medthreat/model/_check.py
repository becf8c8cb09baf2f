"""Consistency of a model with itself and with the catalog.

Pydantic checks the shape of each entry; this module checks what only the whole model and the
catalog can tell: references that resolve, unique ids, boundaries that nest without cycles,
flows that stay in scope, attribute overrides of the right type.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .._yaml import SourceMap
from ..errors import Problem, describe_type, describe_value

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ._types import Model


def did_you_mean(value: str, candidates: Iterable[str]) -> str:
    """A ' — did you mean ...?' hint, or an empty string when nothing is close."""
    # A candidate less than a third as long as ``value`` cannot reach the 0.6 similarity cutoff
    # (at most 2 * len(c) / (len(value) + len(c))); leaving it out keeps a hostile value of
    # megabytes from costing seconds.
    near = sorted(c for c in set(candidates) if 3 * len(c) >= len(value))
    close = difflib.get_close_matches(value, near, n=3, cutoff=0.6) if near else []
    if not close:
        return ""
    return " — did you mean " + " or ".join(repr(c) for c in close) + "?"


def check_model(model: Model, catalog: Catalog) -> list[Problem]:
    """Every inconsistency of ``model`` with itself and with ``catalog``, in file order."""
    src: SourceMap = model._source or SourceMap("<model>")
    problems: list[Problem] = []

    def report(path: tuple[str | int, ...], message: str) -> None:
        problems.append(src.problem(path, message))

    groups: list[tuple[str, list[Any]]] = [
        ("boundaries", model.boundaries),
        ("data", model.data_assets),
        ("components", model.components),
        ("actors", model.actors),
        ("flows", model.flows),
    ]
    first_seen: dict[str, str] = {}
    for key, items in groups:
        for i, item in enumerate(items):
            where = f"{key}[{i}]"
            if item.id in first_seen:
                report((key, i, "id"), f"duplicate id {item.id!r} (first used at "
                       f"{first_seen[item.id]}); ids must be unique across the model")
            else:
                first_seen[item.id] = where

    for key, items in (("components", model.components), ("flows", model.flows)):
        for i, item in enumerate(items):
            if item.out_of_scope and not item.out_of_scope_reason.strip():
                report((key, i, "out_of_scope"), f"{item.id!r} is out of scope, so "
                       "out_of_scope_reason must say why (the justification goes into the "
                       "security documentation)")

    boundaries = {b.id: b for b in model.boundaries}
    data_ids = {d.id for d in model.data_assets}
    components = {c.id: c for c in model.components}
    endpoints = set(components) | {a.id for a in model.actors}

    def check_boundary_ref(path: tuple[str | int, ...], ref: str | None) -> None:
        if ref is not None and ref not in boundaries:
            report(path, f"unknown trust boundary {ref!r}; expected one of the model's "
                   f"boundaries{did_you_mean(ref, boundaries)}")

    for i, b in enumerate(model.boundaries):
        check_boundary_ref(("boundaries", i, "parent"), b.parent)
    reported_cycles: set[frozenset[str]] = set()
    for i, b in enumerate(model.boundaries):
        chain = [b.id]
        current = b.parent
        while current is not None and current in boundaries:
            if current in chain:
                cycle = [*chain[chain.index(current):], current]
                key = frozenset(cycle)
                if key not in reported_cycles:
                    reported_cycles.add(key)
                    report(("boundaries", i, "parent"), "boundary nesting forms a cycle: "
                           + " -> ".join(cycle) + "; a boundary cannot contain itself")
                break
            chain.append(current)
            current = boundaries[current].parent

    for i, c in enumerate(model.components):
        ctype = catalog.component_types.get(c.type)
        if ctype is None:
            report(("components", i, "type"), f"unknown component type {c.type!r}; expected a "
                   f"component type of the catalog{did_you_mean(c.type, catalog.component_types)}")
        check_boundary_ref(("components", i, "boundary"), c.boundary)
        for field in ("stores", "processes"):
            for j, ref in enumerate(getattr(c, field)):
                if ref not in data_ids:
                    report(("components", i, field, j), f"unknown data asset {ref!r}; expected "
                           f"an id from 'data'{did_you_mean(ref, data_ids)}")
        for name, value in c.attributes.items():
            spec = catalog.attributes.get(name)
            if spec is None:
                report(("components", i, "attributes", name), f"unknown attribute {name!r}; "
                       f"expected a catalog attribute{did_you_mean(name, catalog.attributes)}")
            elif not spec.accepts(value):
                report(("components", i, "attributes", name), f"attribute {name!r} expects "
                       f"{describe_type(spec.type)}, got {describe_value(value)} {value!r}")

    for i, a in enumerate(model.actors):
        check_boundary_ref(("actors", i, "boundary"), a.boundary)

    for i, f in enumerate(model.flows):
        for end in ("source", "target"):
            ref = getattr(f, end)
            if ref not in endpoints:
                report(("flows", i, end), f"unknown {end} {ref!r}; expected a component or "
                       f"actor id{did_you_mean(ref, endpoints)}")
            elif not f.out_of_scope and ref in components and components[ref].out_of_scope:
                report(("flows", i, end), f"flow {f.id!r} is in scope but its {end} {ref!r} "
                       "is out of scope; mark the flow out of scope too (with a reason) or "
                       "bring the component into scope")
        if f.source == f.target:
            report(("flows", i), f"flow {f.id!r} starts and ends at {f.source!r}; a flow "
                   "connects two different elements")
        if f.protocol not in catalog.protocols:
            report(("flows", i, "protocol"), f"unknown protocol {f.protocol!r}; expected a "
                   f"protocol of the catalog{did_you_mean(f.protocol, catalog.protocols)}")
        for j, ref in enumerate(f.data):
            if ref not in data_ids:
                report(("flows", i, "data", j), f"unknown data asset {ref!r}; expected an id "
                       f"from 'data'{did_you_mean(ref, data_ids)}")

    targets = endpoints | {f.id for f in model.flows}
    for i, ac in enumerate(model.controls):
        if ac.control not in catalog.controls:
            report(("controls", i, "control"), f"unknown control {ac.control!r}; expected a "
                   f"control id of the catalog{did_you_mean(ac.control, catalog.controls)}")
        for j, ref in enumerate(ac.targets):
            if ref not in targets:
                report(("controls", i, "targets", j), f"unknown target {ref!r}; expected a "
                       f"component, actor or flow id{did_you_mean(ref, targets)}")
    return problems
