"""Loading, saving and JSON Schema of model files."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from .._yaml import SourceMap, atomic_write, dump_json, dump_yaml, read_file
from ..errors import MedthreatError, ModelError, Problem, format_path
from ._check import check_model
from ._types import Model

if TYPE_CHECKING:
    from ..catalog import Catalog

SCHEMA_ID = "https://medthreat.dev/schemas/model-1.json"

_TAG = re.compile(r"^[a-z][a-z-]*\[.*\]$", re.S)


def _fields_at(loc: tuple[Any, ...], root: type[BaseModel]) -> list[str]:
    """The keys allowed at the mapping that ``loc`` (ending in an unknown key) points into."""
    cls: Any = root
    for part in loc[:-1]:
        if isinstance(part, int) or cls is None:
            continue
        info = getattr(cls, "model_fields", {})
        by_alias = {(f.alias or n): f for n, f in info.items()}
        field = by_alias.get(part) or info.get(part)
        if field is None:
            return []
        cls = _model_class(field.annotation)
    if cls is None:
        return []
    return sorted((f.alias or n) for n, f in cls.model_fields.items())


def _model_class(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_class(arg)
        if found is not None:
            return found
    return None


def validation_problems(
    exc: ValidationError,
    src: SourceMap,
    prefix: tuple[str | int, ...] = (),
    root: type[BaseModel] = Model,
) -> list[Problem]:
    """Turn pydantic's errors into problems that name file, line and entry path.

    ``prefix`` is the path of the validated entry within its file, ``root`` its class.
    """
    problems = []
    for err in exc.errors(include_url=False):
        # pydantic adds the validator of a union member, e.g. "function-after[...]", to the
        # location; a user's key such as "schema[version" is kept.
        inner = tuple(p for p in err["loc"] if not (isinstance(p, str) and _TAG.match(p)))
        loc = (*prefix, *inner)
        kind = err["type"]
        given = err.get("input")
        name = loc[-1] if loc else ""
        if kind == "missing":
            message = f"required key {name!r} is missing"
            path = loc[:-1]
        elif kind == "extra_forbidden":
            allowed = _fields_at(inner, root) if inner else []
            message = f"unknown key {name!r}"
            if allowed:
                from ._check import did_you_mean

                message += f"; expected one of {', '.join(allowed)}"
                message += did_you_mean(str(name), allowed)
            path = loc
        else:
            message = err["msg"].replace("Value error, ", "")
            if not isinstance(given, dict | list) and kind not in {"value_error"}:
                message += f" (got {given!r})"
            if kind == "enum" and isinstance(given, str):
                from ._check import did_you_mean

                expected = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
                message += did_you_mean(given, expected)
            path = loc
        problems.append(Problem(src.file, src.line(path), format_path(path), message))
    return problems


def model_from_data(data: Any, src: SourceMap | None = None) -> Model:
    """Validate already-parsed data as a model (shape only, no catalog checks)."""
    src = src or SourceMap("<model>")
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        raise ModelError([Problem(src.file, src.line(()), "", f"expected a mapping with the "
                                  f"keys system, boundaries, data, components, actors, flows, "
                                  f"controls; found {found}")])
    try:
        model = Model.model_validate(data)
    except ValidationError as exc:
        raise ModelError(validation_problems(exc, src)) from None
    model._source = src
    return model


def load_model(
    path: str | os.PathLike[str], catalog: Catalog | None = None, *, check: bool = True
) -> Model:
    """Load a model from a YAML or JSON file and check it against the catalog.

    Raises :class:`~medthreat.errors.ModelError` naming file, line and entry of every problem.
    """
    try:
        data, src = read_file(path)
    except MedthreatError as exc:
        raise ModelError(exc.problems) from None
    model = model_from_data(data, src)
    if check:
        validate_model(model, catalog)
    return model


def validate_model(model: Model, catalog: Catalog | None = None) -> None:
    """Raise :class:`~medthreat.errors.ModelError` if the model does not fit the catalog."""
    from ..catalog import Catalog

    problems = check_model(model, catalog or Catalog.load())
    if problems:
        raise ModelError(problems)


def model_to_data(model: Model) -> dict[str, Any]:
    """The model as plain data in file order, leaving out values equal to their defaults."""
    data = model.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return {"schema_version": model.schema_version, **data}


def save_model(model: Model, path: str | os.PathLike[str]) -> None:
    """Write the model as YAML, or JSON when the file name ends in ``.json`` (atomically).

    Loading the file gives an equal model, and saving an equal model gives the same bytes.
    """
    data = model_to_data(model)
    if Path(path).suffix.lower() == ".json":
        atomic_write(path, dump_json(data))
    else:
        atomic_write(path, dump_yaml(data))


def model_json_schema(catalog: Catalog | None = None) -> dict[str, Any]:
    """JSON Schema of model files; with a catalog, types/protocols/controls become enums."""
    schema = Model.model_json_schema(by_alias=True)
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
              **schema}
    schema["title"] = "medthreat model"
    if catalog is not None:
        defs = schema.get("$defs", {})
        enums = {
            ("Component", "type"): sorted(catalog.component_types),
            ("Flow", "protocol"): sorted(catalog.protocols),
            ("AppliedControl", "control"): sorted(catalog.controls),
        }
        for (cls, field), values in enums.items():
            prop = defs.get(cls, {}).get("properties", {}).get(field)
            if prop is not None:
                prop["enum"] = values
    return schema
