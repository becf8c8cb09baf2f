"""Safe YAML/JSON reading that remembers the line of every entry, and atomic writing."""

from __future__ import annotations

import contextlib
import json
import os
import re
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
# Entries a document may hold once its aliases are expanded. Safe loading shares aliased data,
# so a "billion laughs" document loads cheaply, but anything that walks the data (validation,
# JSON, exports) expands it. The largest shipped catalog file or model has under 3,000
# entries; a document whose aliases expand beyond this limit is refused as an alias bomb.
MAX_EXPANDED_ENTRIES = 1_000_000

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


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def expanded_size(root: yaml.Node, limit: int = MAX_EXPANDED_ENTRIES) -> int | None:
    """Entries (keys, values, items) of a node tree once every alias is expanded.

    Each node's size is computed once (memoised by node id), so an alias bomb costs linear
    time; counting stops just above ``limit``. ``None`` when an alias refers to a node that
    contains it: a recursive structure whose expansion never ends.
    """
    size, _ = _expansion(root, limit)
    return size


def _expansion(root: yaml.Node, limit: int) -> tuple[int | None, yaml.Node | None]:
    """Expanded size of ``root`` and the innermost node that is recursive or over ``limit``."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    culprit: yaml.Node | None = None
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        current, children_done = stack.pop()
        key = id(current)
        if children_done:
            open_nodes.discard(key)
            total = 1 + sum(sizes[id(child)] for child in _children(current))
            if total > limit and culprit is None:
                culprit = current
            sizes[key] = min(total, limit + 1)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            return None, current
        open_nodes.add(key)
        stack.append((current, True))
        stack.extend((child, False) for child in _children(current) if id(child) not in sizes)
    return sizes[id(root)], culprit


def _alias_problem(node: yaml.Node, file: str) -> Problem | None:
    """A problem when the document's aliases make it recursive or expand it too far."""
    size, culprit = _expansion(node, MAX_EXPANDED_ENTRIES)
    line = (culprit or node).start_mark.line + 1
    if size is None:
        return Problem(file, line, "", "an alias refers to an entry that contains it (a "
                       "recursive structure); expected plain data, write the entry out")
    if size > MAX_EXPANDED_ENTRIES:
        return Problem(file, line, "", f"aliases expand to more than {MAX_EXPANDED_ENTRIES:,} "
                       "entries (an alias bomb?); expected a document of ordinary size, write "
                       "the entries out or use fewer aliases")
    return None


def _structure_problems(node: yaml.Node, file: str) -> list[Problem]:
    """What safe loading hides or crashes on, found on the composed node tree.

    - keys repeated within one mapping (PyYAML keeps the last silently: what the user wrote
      first would be lost);
    - impossible dates such as 2026-13-01 (PyYAML raises a bare ValueError for them);
    - nesting deeper than MAX_DEPTH;
    - aliases that expand to more than MAX_EXPANDED_ENTRIES entries, or that refer to an
      entry containing them.

    Aliased nodes are visited once, so an alias bomb costs linear time here.
    """
    constructor = yaml.SafeLoader("")
    problems: list[Problem] = []
    seen: set[int] = set()
    aliased = False
    stack: list[tuple[yaml.Node, tuple[str | int, ...]]] = [(node, ())]
    while stack:
        current, path = stack.pop()
        if len(path) > MAX_DEPTH:
            problems.append(Problem(file, current.start_mark.line + 1, "",
                                    f"nesting deeper than {MAX_DEPTH} levels"))
            break
        if id(current) in seen:
            aliased = True
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
    if aliased and not any("nesting deeper" in p.message for p in problems):
        alias_problem = _alias_problem(node, file)
        if alias_problem is not None:
            problems.append(alias_problem)
    return sorted(problems, key=lambda p: (p.line or 0, p.path, p.message))


def _check_structure(node: yaml.Node, file: str) -> None:
    problems = _structure_problems(node, file)
    if problems:
        raise MedthreatError(problems)


# Characters JSON strings may hold but YAML text may not (or counts as line breaks). Escaped
# as \uXXXX they mean the same in a JSON string, so the YAML composer can read JSON holding them.
_YAML_UNSAFE = re.compile("[^\t\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe"
                          "\uff00-\ufffd\U00010000-\U0010ffff]")


def _escape_char(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


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
            node = yaml.compose(_YAML_UNSAFE.sub(_escape_char, text), Loader=_Loader)
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
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        line = text[: exc.position].count("\n") + 1
        raise MedthreatError([Problem(file, line, "", f"malformed YAML: character "
                                      f"U+{exc.character:04X} is not allowed ({exc.reason}); "
                                      "expected printable text, write it as an escape such as "
                                      f'"\\u{exc.character:04x}" in a double-quoted string')]
                             ) from None
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


class _Dumper(yaml.SafeDumper):
    """Safe dumper that double-quotes text holding U+0085 (next line).

    PyYAML writes that character raw in plain, single-quoted and block scalars, where a YAML
    reader takes it for a line break, so the text would not load back as it was saved.
    """


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = '"' if "\x85" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(data: Any) -> str:
    """YAML text in a stable form: insertion order kept, Unicode kept, block style.

    Loading the text with :func:`parse_text` gives ``data`` back.
    """
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100,
                     default_flow_style=False)


def dump_json(data: Any) -> str:
    """JSON text in a stable form: sorted keys, two-space indent, trailing newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _new_file_mode() -> int:
    """Permissions a newly created file gets under the process umask (read once)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


_NEW_FILE_MODE = _new_file_mode()


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename in it) to disk where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, mode: int | None = None
                  ) -> Iterator[BinaryIO]:
    """A binary file handle whose content replaces ``path`` only when the block completes.

    The data goes to a temporary file ``.<name>.<random>.tmp`` beside ``path``, is flushed to
    disk and renamed over ``path`` (and the rename flushed too); an exception mid-write leaves
    the previous file intact and removes the temporary one. A process killed mid-write also
    leaves the previous file intact, but its temporary file stays behind: it is never read and
    can be deleted. The new file keeps the permissions of the file it replaces (or gets the
    usual ones under the umask, or ``mode`` when given), not the private mode of a temporary
    file.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
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
    fsync_dir(target.parent)


def atomic_write(path: str | os.PathLike[str], text: str | bytes) -> None:
    """Write ``text`` (UTF-8) or bytes to ``path`` through :func:`atomic_output`."""
    with atomic_output(path) as handle:
        handle.write(text.encode("utf-8") if isinstance(text, str) else text)


def atomic_copy(source: str | os.PathLike[str], path: str | os.PathLike[str]) -> bytes:
    """Copy ``source`` to ``path`` through :func:`atomic_output` and return the bytes copied.

    ``path`` is afterwards either what it was or a complete copy, never a partial one; it gets
    the permissions of ``source`` (a backup of a private file stays private).
    """
    src = Path(source)
    data = src.read_bytes()
    with atomic_output(path, mode=stat.S_IMODE(src.stat().st_mode)) as handle:
        handle.write(data)
    return data


def iter_yaml_files(folder: Path) -> Iterator[Path]:
    """YAML files below ``folder`` in a stable (sorted) order."""
    yield from sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in {".yaml", ".yml"} and p.is_file()
    )
