"""Safe YAML/JSON reading that remembers the line of every entry, and atomic writing."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from .errors import MedthreatError, Problem, format_path

Path_ = tuple[str | int, ...]

# Large enough for any real model; small enough that a hostile file cannot stall the reader.
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_DEPTH = 100

# libyaml's parser when PyYAML was built with it (several times faster); same safe constructor.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SourceMap:
    """Maps entry paths of one loaded document to the 1-based line where they start."""

    def __init__(self, file: str, lines: dict[Path_, int] | None = None) -> None:
        self.file = file
        self.lines: dict[Path_, int] = lines or {}

    def line(self, path: Path_) -> int | None:
        """Line of ``path`` or of its nearest enclosing entry that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    def problem(self, path: Path_, message: str) -> Problem:
        """A problem located at ``path`` of this document."""
        return Problem(self.file, self.line(path), format_path(path), message)


def _line_map(node: yaml.Node) -> dict[Path_, int]:
    """Walk a composed YAML node tree, recording where each path starts.

    Aliased nodes are visited once, so an alias bomb costs linear time here.
    """
    lines: dict[Path_, int] = {}
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, Path_, int]] = [(node, (), 0)]
    while stack:
        current, path, depth = stack.pop()
        lines.setdefault(path, current.start_mark.line + 1)
        if id(current) in seen or depth > MAX_DEPTH:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode):
                    child = (*path, key.value)
                    lines.setdefault(child, key.start_mark.line + 1)
                    stack.append((value, child, depth + 1))
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                stack.append((item, (*path, index), depth + 1))
    return lines


def _structure_problems(node: yaml.Node, file: str) -> list[Problem]:
    """What safe loading hides or crashes on, found on the composed node tree.

    - keys repeated within one mapping (PyYAML keeps the last silently: what the user wrote
      first would be lost);
    - impossible dates such as 2026-13-01 (PyYAML raises a bare ValueError for them);
    - nesting deeper than MAX_DEPTH.

    Aliased nodes are visited once, so an alias bomb costs linear time here.
    """
    constructor = yaml.SafeLoader("")
    problems: list[Problem] = []
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, tuple[str | int, ...]]] = [(node, ())]
    while stack:
        current, path = stack.pop()
        if len(path) > MAX_DEPTH:
            problems.append(Problem(file, current.start_mark.line + 1, "",
                                    f"nesting deeper than {MAX_DEPTH} levels"))
            break
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in current.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else str(key.start_mark)
                line = key.start_mark.line + 1
                if key.tag == "tag:yaml.org,2002:merge":
                    pass
                elif name in first:
                    problems.append(Problem(file, line, format_path((*path, name)),
                                            f"duplicate key {name!r} (first at line "
                                            f"{first[name]}); only one entry per key is "
                                            "allowed, merge the two by hand"))
                else:
                    first[name] = line
                stack.append((value, (*path, name)))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((item, (*path, i)) for i, item in enumerate(current.value))
        elif isinstance(current, yaml.ScalarNode) and current.tag.endswith(":timestamp"):
            try:
                constructor.construct_yaml_timestamp(current)
            except ValueError as exc:
                problems.append(Problem(file, current.start_mark.line + 1, format_path(path),
                                        f"{current.value!r} is not a calendar date ({exc}); "
                                        "expected an ISO date YYYY-MM-DD, e.g. 2026-11-30"))
    constructor.dispose()
    return sorted(problems, key=lambda p: (p.line or 0, p.path, p.message))


def _check_structure(node: yaml.Node, file: str) -> None:
    problems = _structure_problems(node, file)
    if problems:
        raise MedthreatError(problems)


def parse_text(text: str, file: str, *, json_format: bool = False) -> tuple[Any, SourceMap]:
    """Parse YAML (or JSON) text safely; return the data and its source map.

    Raises :class:`MedthreatError` naming the file and line on a syntax error.
    """
    if json_format:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MedthreatError(
                [Problem(file, exc.lineno, "", f"malformed JSON: {exc.msg} (column {exc.colno})")]
            ) from None
        except RecursionError:
            raise MedthreatError([Problem(file, None, "", "malformed JSON: nesting too deep")]
                                 ) from None
        try:  # JSON is (nearly) YAML: reuse the YAML composer for line numbers where it can.
            node = yaml.compose(text, Loader=_Loader)
        except (yaml.YAMLError, RecursionError):
            node = None
        if node is not None:
            _check_structure(node, file)
        lines = _line_map(node) if node is not None else {}
        return data, SourceMap(file, lines)
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, SourceMap(file)
            _check_structure(node, file)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise MedthreatError([Problem(file, line, "", f"malformed YAML: {what}")]) from None
    except yaml.YAMLError as exc:
        raise MedthreatError([Problem(file, None, "", f"malformed YAML: {exc}")]) from None
    except RecursionError:
        raise MedthreatError([Problem(file, None, "", "malformed YAML: nesting too deep")]
                             ) from None
    except (ValueError, TypeError) as exc:  # e.g. a date such as 2026-13-01
        raise MedthreatError([Problem(file, None, "", f"malformed YAML value: {exc}")]
                             ) from None
    return data, SourceMap(file, _line_map(node))


def read_file(path: str | os.PathLike[str]) -> tuple[Any, SourceMap]:
    """Read and parse a YAML or JSON file (chosen by suffix), with clear errors."""
    p = Path(path)
    name = str(path)
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise MedthreatError(
                [Problem(name, None, "", f"file is {size} bytes; the limit is {MAX_FILE_BYTES}")]
            )
        raw = p.read_bytes()
    except FileNotFoundError:
        raise MedthreatError([Problem(name, None, "", "file not found")]) from None
    except IsADirectoryError:
        raise MedthreatError([Problem(name, None, "", "is a directory, expected a file")]) from None
    except OSError as exc:
        raise MedthreatError([Problem(name, None, "", f"cannot read: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise MedthreatError([Problem(name, line, "", "not UTF-8 text")]) from None
    return parse_text(text, name, json_format=p.suffix.lower() == ".json")


def dump_yaml(data: Any) -> str:
    """YAML text in a stable form: insertion order kept, Unicode kept, block style."""
    return yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False
    )


def dump_json(data: Any) -> str:
    """JSON text in a stable form: sorted keys, two-space indent, trailing newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _new_file_mode() -> int:
    """Permissions a newly created file gets under the process umask (read once)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


_NEW_FILE_MODE = _new_file_mode()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file handle whose content replaces ``path`` only when the block completes.

    The data goes to a temporary file beside ``path``, is flushed to disk and renamed over
    ``path``; an exception or a crash mid-write leaves the previous file intact and removes the
    temporary one. The new file keeps the permissions of the file it replaces (or gets the
    usual ones under the umask), not the private mode of a temporary file.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except OSError:
        mode = _NEW_FILE_MODE
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write(path: str | os.PathLike[str], text: str | bytes) -> None:
    """Write ``text`` (UTF-8) or bytes to ``path`` through :func:`atomic_output`."""
    with atomic_output(path) as handle:
        handle.write(text.encode("utf-8") if isinstance(text, str) else text)


def iter_yaml_files(folder: Path) -> Iterator[Path]:
    """YAML files below ``folder`` in a stable (sorted) order."""
    yield from sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in {".yaml", ".yml"} and p.is_file()
    )
