"""Tamper-evident audit trail of risk decisions.

Every time decisions change (a register import, a save from the notebook explorer, an API
call), :func:`record_changes` appends one line to an append-only JSON Lines log kept beside the
decisions file (``decisions.yaml.audit.jsonl``). One line is one *batch*: who changed what, when,
from where, and the list of changed fields with their old and new values.

Each entry carries ``prev``, the hash of the entry before it (64 zeros for the first), and
``hash``, the SHA-256 of its own canonical JSON without ``hash``. Changing, deleting, inserting
or reordering any entry therefore breaks the chain, and :func:`verify_log` names the first entry
where it breaks. Removing entries from the *end* leaves a shorter valid chain: only a copy of the
head hash kept elsewhere (git, the release record) reveals that; pass it as ``anchor``.

Appends never rewrite a byte already written: the file is opened in append mode under an
exclusive lock, the new line is written in one call and flushed to disk with ``fsync`` before
:func:`record_changes` returns. A line left incomplete by a crash is detected and appending is
refused until it is dealt with (:func:`discard_torn_line`); see docs/audit.md.
"""

from __future__ import annotations

import datetime as dt
import enum
import getpass
import hashlib
import json
import math
import os
import re
import stat
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .._yaml import fsync_dir as _fsync_dir
from ..errors import MedthreatError, Problem
from .decisions import Change, Decision, Decisions

__all__ = [
    "AUDIT_SUFFIX",
    "GENESIS",
    "AuditEntry",
    "AuditReport",
    "BreakKind",
    "audit_path_for",
    "canonical_bytes",
    "canonical_json",
    "changes_between",
    "default_actor",
    "discard_torn_line",
    "format_history",
    "history",
    "record_changes",
    "verify_log",
]

AUDIT_SUFFIX = ".audit.jsonl"
GENESIS = "0" * 64
FORMAT_VERSION = 1
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ENTRY_KEYS = frozenset({"v", "seq", "time", "actor", "source", "note", "changes", "prev",
                         "hash"})
_CHANGE_KEYS = frozenset({"key", "field", "old", "new"})
_TAIL_BLOCK = 64 * 1024


class ChangeLike(Protocol):
    """Anything with the attributes of :class:`medthreat.lifecycle.Change`."""

    @property
    def key(self) -> str: ...
    @property
    def field(self) -> str: ...
    @property
    def old(self) -> Any: ...
    @property
    def new(self) -> Any: ...


# -- paths, actor, canonical form -----------------------------------------------------------


def audit_path_for(decisions_path: str | os.PathLike[str]) -> Path:
    """The audit log of a decisions file: its name plus ``.audit.jsonl``, in the same folder."""
    path = Path(decisions_path)
    return path.with_name(path.name + AUDIT_SUFFIX)


def default_actor() -> str:
    """Who is making changes: ``$MEDTHREAT_ACTOR``, else the OS user name, else ``unknown``."""
    actor = os.environ.get("MEDTHREAT_ACTOR", "").strip()
    if actor:
        return actor
    try:
        actor = getpass.getuser().strip()
    except (OSError, KeyError, ImportError):
        actor = ""
    if actor:
        return actor
    getuid = getattr(os, "getuid", None)
    return f"unknown (uid {getuid()})" if getuid is not None else "unknown"


def _jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: dates as ISO text, enums as their value, sets sorted."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((_jsonable(v) for v in value), key=canonical_json)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    dump = getattr(value, "model_dump", None)  # pydantic models
    if callable(dump):
        return _jsonable(dump(mode="json"))
    raise TypeError(f"cannot record a {type(value).__name__} in the audit log: expected text, "
                    "numbers, booleans, dates, lists or mappings")


def canonical_json(data: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces, ASCII only (other characters escaped)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)


def canonical_bytes(data: Any) -> bytes:
    """The bytes that are hashed: :func:`canonical_json` encoded as UTF-8 (it is ASCII)."""
    return canonical_json(data).encode("utf-8")


def _entry_hash(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes({k: v for k, v in data.items() if k != "hash"}))\
        .hexdigest()


def _utc_text(moment: dt.datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("the audit clock must return a timezone-aware datetime (e.g. "
                         "datetime.now(timezone.utc)); got a naive one")
    text = moment.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def changes_between(before: Decisions, after: Decisions) -> list[Change]:
    """Every field that differs between two sets of decisions, for saves that replace a file.

    Unlike :func:`~.decisions.merge`, which reports what an update set, this compares whole
    contents: a key only in ``after`` lists its non-empty fields with ``old`` None, a key only
    in ``before`` (deleted) lists its fields with ``new`` None. Keys sorted, fields in
    :class:`~.decisions.Decision` order; values as :meth:`~.decisions.Decision.to_data` gives
    them (empty fields count as None).
    """
    out: list[Change] = []
    for key in sorted(set(before.decisions) | set(after.decisions)):
        old = before.decisions[key].to_data() if key in before.decisions else {}
        new = after.decisions[key].to_data() if key in after.decisions else {}
        for name in Decision.model_fields:
            if old.get(name) != new.get(name):
                out.append(Change(key, name, old.get(name), new.get(name)))
    return out


# -- entries --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log: one batch of decision changes and its place in the chain.

    ``changes`` is a tuple of mappings with the keys ``key``, ``field``, ``old`` and ``new``
    (plain JSON data: dates as ISO text, statuses as text, ``old`` None for a new decision).
    """

    seq: int
    time: str
    actor: str
    source: str
    note: str
    changes: tuple[Mapping[str, Any], ...]
    prev: str
    hash: str

    def to_data(self) -> dict[str, Any]:
        """The entry as the JSON object written on its line."""
        return {"v": FORMAT_VERSION, "seq": self.seq, "time": self.time, "actor": self.actor,
                "source": self.source, "note": self.note,
                "changes": [dict(c) for c in self.changes], "prev": self.prev,
                "hash": self.hash}

    def to_line(self) -> bytes:
        """The entry's line in the log, newline included."""
        return canonical_bytes(self.to_data()) + b"\n"

    def keys(self) -> list[str]:
        """The decision keys this entry changed, sorted, each once."""
        return sorted({str(c["key"]) for c in self.changes})

    def changes_for(self, key: str) -> list[Mapping[str, Any]]:
        """The changes of this entry to decision ``key``."""
        return [c for c in self.changes if c["key"] == key]

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> AuditEntry:
        """Build an entry from a parsed line (no checks; :func:`verify_log` does those)."""
        return cls(seq=data["seq"], time=data["time"], actor=data["actor"],
                   source=data["source"], note=data["note"],
                   changes=tuple(dict(c) for c in data["changes"]), prev=data["prev"],
                   hash=data["hash"])


def _new_entry(seq: int, prev: str, *, time: str, actor: str, source: str, note: str,
               changes: list[dict[str, Any]]) -> AuditEntry:
    data = {"v": FORMAT_VERSION, "seq": seq, "time": time, "actor": actor, "source": source,
            "note": note, "changes": changes, "prev": prev}
    return AuditEntry(seq=seq, time=time, actor=actor, source=source, note=note,
                      changes=tuple(changes), prev=prev, hash=_entry_hash(data))


# -- checking one line ----------------------------------------------------------------------


class BreakKind(enum.StrEnum):
    """What :func:`verify_log` found wrong at the first broken entry."""

    torn_line = "torn_line"  # the last line has no newline: a write was cut off
    bad_json = "bad_json"  # the line is not UTF-8 JSON
    malformed = "malformed"  # JSON, but not an audit entry
    hash_mismatch = "hash_mismatch"  # the content no longer matches its hash: it was changed
    not_canonical = "not_canonical"  # same content, different bytes: the line was rewritten
    sequence = "sequence"  # numbers not consecutive: entries deleted, inserted or reordered
    prev_mismatch = "prev_mismatch"  # the link to the entry before is broken
    anchor_missing = "anchor_missing"  # the anchored head hash is not in the log


class _LineError(Exception):
    def __init__(self, kind: BreakKind, message: str, seq: int | None = None) -> None:
        super().__init__(message)
        self.kind, self.message, self.seq = kind, message, seq


def _parse_line(raw: bytes) -> AuditEntry:
    """Parse and self-check one line (without its newline); raise :class:`_LineError`."""
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _LineError(BreakKind.bad_json, f"not valid JSON ({exc})") from None
    except RecursionError:
        raise _LineError(BreakKind.bad_json, "not valid JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise _LineError(BreakKind.malformed, "not a JSON object")
    seq = data.get("seq") if type(data.get("seq")) is int else None
    if set(data) != _ENTRY_KEYS:
        missing = sorted(_ENTRY_KEYS - set(data))
        extra = sorted(set(data) - _ENTRY_KEYS)
        raise _LineError(BreakKind.malformed, f"not an audit entry (missing keys {missing}, "
                         f"unexpected keys {extra})", seq)
    problems = []
    if data["v"] != FORMAT_VERSION or type(data["v"]) is not int:
        problems.append(f"unknown format version {data['v']!r}")
    if seq is None or seq < 1:
        problems.append("seq is not a positive whole number")
    for name in ("time", "actor", "source", "note"):
        if not isinstance(data[name], str):
            problems.append(f"{name} is not text")
    for name in ("prev", "hash"):
        if not (isinstance(data[name], str) and _HEX64.match(data[name])):
            problems.append(f"{name} is not a SHA-256 hex digest")
    changes = data["changes"]
    if not (isinstance(changes, list) and changes and all(
            isinstance(c, dict) and set(c) == _CHANGE_KEYS and isinstance(c["key"], str)
            and isinstance(c["field"], str) for c in changes)):
        problems.append("changes is not a non-empty list of {key, field, old, new}")
    if problems:
        raise _LineError(BreakKind.malformed, "; ".join(problems), seq)
    try:
        content_hash = _entry_hash(data)
    except (ValueError, RecursionError) as exc:  # e.g. 1e999 reads as infinity
        raise _LineError(BreakKind.malformed, f"the entry cannot be hashed: it holds a value "
                         f"JSON cannot represent exactly ({exc})", seq) from None
    if content_hash != data["hash"]:
        raise _LineError(BreakKind.hash_mismatch, "the entry's content does not match its "
                         "hash: it was changed after it was written (or its hash was edited)",
                         seq)
    entry = AuditEntry.from_data(data)
    if entry.to_line() != raw + b"\n":
        raise _LineError(BreakKind.not_canonical, "the line is not in canonical form: it was "
                         "rewritten (same content, different bytes)", seq)
    return entry


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


# -- verifying the whole log ----------------------------------------------------------------


@dataclass(frozen=True)
class AuditReport:
    """The result of :func:`verify_log`.

    ``entries`` counts the entries that verify (all of them when ``ok``; those before the break
    otherwise) and ``head`` is the hash of the last of them (:data:`GENESIS` for none). When the
    chain is broken, ``line`` (1-based), ``seq`` (the sequence number found there, if readable),
    ``kind`` and ``problem`` describe the first broken entry.
    """

    path: str
    ok: bool
    entries: int
    head: str
    line: int | None = None
    seq: int | None = None
    kind: BreakKind | None = None
    problem: str = ""
    anchor: str | None = None
    anchor_seq: int | None = None

    def to_text(self) -> str:
        """A short human-readable verdict, ending in a newline."""
        if self.ok:
            lines = [f"{self.path}: OK: {self.entries} entries, hash chain intact",
                     f"head hash: {self.head}"]
            if self.anchor is not None:
                lines.append(f"anchor {self.anchor} found at entry {self.anchor_seq}")
            return "\n".join(lines) + "\n"
        where = f"line {self.line}" if self.line is not None else "end of log"
        if self.seq is not None:
            where += f" (entry seq {self.seq})"
        kind = self.kind.value if self.kind is not None else "broken"
        return (f"{self.path}: BROKEN at {where}: {kind}: {self.problem}\n"
                f"the {self.entries} entries before it verify; last good hash: {self.head}\n")


def _lines(data: bytes) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, bytes without newline, complete?) for each line; only ``\\n`` ends one."""
    start = 0
    number = 0
    while start < len(data):
        number += 1
        end = data.find(b"\n", start)
        if end < 0:
            yield number, data[start:], False
            return
        yield number, data[start:end], True
        start = end + 1


def _verify_bytes(path: str, data: bytes, anchor: str | None) -> tuple[AuditReport,
                                                                        list[AuditEntry]]:
    entries: list[AuditEntry] = []
    prev = GENESIS

    def broken(line: int | None, kind: BreakKind, problem: str, seq: int | None = None
               ) -> tuple[AuditReport, list[AuditEntry]]:
        return AuditReport(path, False, len(entries), prev, line, seq, kind, problem,
                           anchor), entries

    for number, raw, complete in _lines(data):
        if not complete:
            return broken(number, BreakKind.torn_line, "the last line is incomplete (no "
                          "newline): a write was cut off; see docs/audit.md to recover")
        try:
            entry = _parse_line(raw)
        except _LineError as exc:
            return broken(number, exc.kind, exc.message, exc.seq)
        expected = len(entries) + 1
        if entry.seq != expected:
            return broken(number, BreakKind.sequence, f"expected entry {expected}, found "
                          f"{entry.seq}: entries were deleted, inserted or reordered",
                          entry.seq)
        if entry.prev != prev:
            return broken(number, BreakKind.prev_mismatch, "prev does not match the hash of "
                          "the entry before: an entry was deleted, inserted or reordered",
                          entry.seq)
        entries.append(entry)
        prev = entry.hash
    anchor_seq = None
    if anchor is not None:
        anchor = anchor.strip().lower()
        anchor_seq = next((e.seq for e in entries if e.hash == anchor), None)
        if anchor_seq is None:
            return broken(None, BreakKind.anchor_missing, f"the anchored hash {anchor} is not "
                          "in the log: entries were removed from its end, or the log was "
                          "rewritten and re-chained")
    return AuditReport(path, True, len(entries), prev, anchor=anchor,
                       anchor_seq=anchor_seq), entries


def verify_log(log_path: str | os.PathLike[str], *, anchor: str | None = None) -> AuditReport:
    """Check the whole hash chain of an audit log; report ok or the first broken entry.

    Every line must be complete, parse as an audit entry in canonical form, carry consecutive
    sequence numbers from 1, a ``prev`` equal to the entry before's ``hash`` (64 zeros for the
    first) and a ``hash`` matching its content. ``anchor``, a head hash recorded earlier (in git
    or a release record), must appear in the chain: that detects entries removed from the end.
    An empty file is a valid log with no entries. Raises OSError when the file cannot be read.
    """
    data = Path(log_path).read_bytes()
    return _verify_bytes(os.fspath(log_path), data, anchor)[0]


def history(log_path: str | os.PathLike[str], key: str | None = None, *,
            verify: bool = True) -> list[AuditEntry]:
    """The entries of the log, oldest first; with ``key``, only those that changed that key.

    With ``verify`` (the default) a broken chain raises :class:`MedthreatError` naming the first
    broken entry, so nothing unverified is shown as history; with ``verify=False`` the entries
    before the first broken line are returned. A missing log has no history (empty list).
    """
    path = Path(log_path)
    if not path.exists():
        return []
    report, entries = _verify_bytes(os.fspath(path), path.read_bytes(), None)
    if verify and not report.ok:
        kind = report.kind.value if report.kind is not None else "broken"
        raise MedthreatError([Problem(report.path, report.line, "", f"the audit chain is "
                                      f"broken here ({kind}): {report.problem}; nothing is "
                                      "shown from a broken log (see 'medthreat audit verify' "
                                      "and docs/audit.md)")])
    if key is not None:
        entries = [e for e in entries if e.changes_for(key)]
    return entries


def _safe(text: str) -> str:
    """Escape characters that could mislead a terminal (controls, bidi overrides, separators)."""
    return "".join(ch if unicodedata.category(ch)[0] != "C" and
                   unicodedata.category(ch) not in ("Zl", "Zp")
                   else (f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
                   for ch in text)


def _show(value: Any) -> str:
    """A value as one line of JSON, readable (non-ASCII letters kept), cut at 200 chars."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = _safe(text[:400])  # escaping only lengthens the text: 400 characters are enough
    return text if len(text) <= 200 else text[:197] + "..."


def _word(text: str) -> str:
    """Plain text when it is one printable word, else quoted like :func:`_show`."""
    return text if text and text.isprintable() and " " not in text and len(text) <= 200 \
        else _show(text)


def format_history(entries: Iterable[AuditEntry], key: str | None = None) -> str:
    """Entries as text for a terminal: one header line per entry, one line per change.

    With ``key``, only that decision's changes are listed. Values are shown as JSON (so text
    that looks like a formula or spans lines stays inert and on one line), cut at 200
    characters.
    """
    out: list[str] = []
    for entry in entries:
        note = f" ({_show(entry.note)})" if entry.note else ""
        out.append(f"#{entry.seq} {_word(entry.time)} by {_word(entry.actor)} via "
                   f"{_word(entry.source)}{note}")
        changes = entry.changes if key is None else entry.changes_for(key)
        for change in changes:
            out.append(f"  {_word(change['key'])} {_word(change['field'])}: "
                       f"{_show(change['old'])} -> {_show(change['new'])}")
    return "\n".join(out) + ("\n" if out else "")


# -- appending ------------------------------------------------------------------------------


@contextmanager
def _locked(fd: int) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: lock the first byte (blocks until it is free)
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined]
        try:
            yield
        finally:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
        return
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _read_tail(fd: int, size: int) -> bytes:
    """The last complete line (with its newline) plus anything after it."""
    block = _TAIL_BLOCK
    while True:
        start = max(0, size - block)
        tail = os.pread(fd, size - start, start) if hasattr(os, "pread") else _seek_read(
            fd, start, size - start)
        body = tail[:-1] if tail.endswith(b"\n") else tail
        cut = body.rfind(b"\n")
        if cut >= 0:
            return tail[cut + 1:]
        if start == 0:
            return tail
        block *= 4


def _seek_read(fd: int, offset: int, length: int) -> bytes:
    os.lseek(fd, offset, os.SEEK_SET)
    chunks = []
    while length > 0:
        chunk = os.read(fd, length)
        if not chunk:
            break
        chunks.append(chunk)
        length -= len(chunk)
    return b"".join(chunks)


def _count_lines(fd: int, size: int) -> int:
    """The 1-based number of the last line (complete or not)."""
    count = 0
    offset = 0
    while offset < size:
        chunk = _seek_read(fd, offset, min(1 << 20, size - offset))
        if not chunk:
            break
        count += chunk.count(b"\n")
        offset += len(chunk)
    return count if _seek_read(fd, size - 1, 1) == b"\n" else count + 1


def _head(fd: int, path: str) -> tuple[int, str]:
    """(last sequence number, last hash) of the log open at ``fd``; refuses a broken tail."""
    size = os.fstat(fd).st_size
    if size == 0:
        return 0, GENESIS
    tail = _read_tail(fd, size)
    if not tail.endswith(b"\n"):
        line = _count_lines(fd, size)
        raise MedthreatError([Problem(path, line, "", "the last line is incomplete (no "
                                      "newline at the end): an earlier write was cut off. "
                                      "Nothing was appended. Check the log with 'medthreat "
                                      "audit verify' and recover as docs/audit.md describes "
                                      "(medthreat.lifecycle.audit.discard_torn_line)")])
    try:
        entry = _parse_line(tail[:-1])
    except _LineError as exc:
        line = _count_lines(fd, size)
        raise MedthreatError([Problem(path, line, "", f"the last entry is broken "
                                      f"({exc.kind.value}: {exc.message}); nothing was "
                                      "appended. Run 'medthreat audit verify'")]) from None
    return entry.seq, entry.hash


def _new_log_mode(path: Path) -> int:
    """A new log is readable by whoever may read its decisions file, and by no one else.

    The log holds every old and new value of the decisions file, so a decisions file kept
    private (e.g. mode 0600) gets an equally private log; otherwise 0644 under the umask.
    """
    if path.name.endswith(AUDIT_SUFFIX):
        decisions = path.with_name(path.name[: -len(AUDIT_SUFFIX)])
        with suppress(OSError):
            return stat.S_IMODE(decisions.stat().st_mode) & 0o666
    return 0o644


def record_changes(
    log_path: str | os.PathLike[str],
    changes: Iterable[ChangeLike],
    *,
    actor: str | None = None,
    source: str = "api",
    note: str = "",
    clock: Callable[[], dt.datetime] | None = None,
) -> list[AuditEntry]:
    """Append one entry recording ``changes`` (e.g. from :func:`~.decisions.merge`) to the log.

    Returns the entries written: one for a non-empty batch, none when there is no change. The
    log is created if missing. The append holds an exclusive lock while it reads the last hash
    and writes, so concurrent writers form one chain; the line is written with one call in
    append mode and flushed with ``fsync`` (and the folder too when the file was created).
    Earlier lines are never rewritten. If the log's last line is incomplete (a crash cut off a
    write) or broken, nothing is written and :class:`MedthreatError` names that line.

    ``actor`` defaults to :func:`default_actor`; ``source`` says through what the change came
    (``cli:register-import``, ``notebook:explorer``, ``api``); ``note`` is free text such as
    the register file name; ``clock`` returns the (timezone-aware) time, for tests.
    """
    batch = [{"key": str(c.key), "field": str(c.field), "old": _jsonable(c.old),
              "new": _jsonable(c.new)} for c in changes]
    if not batch:
        return []
    who = (actor or "").strip() or default_actor()
    time = _utc_text((clock or _now)())
    path = Path(log_path)
    created = False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND
                     | getattr(os, "O_BINARY", 0), _new_log_mode(path))
        created = True
        os.close(fd)
    except FileExistsError:
        pass
    fd = os.open(path, os.O_RDWR | os.O_APPEND | getattr(os, "O_BINARY", 0))
    try:
        with _locked(fd):
            last_seq, last_hash = _head(fd, os.fspath(path))
            entry = _new_entry(last_seq + 1, last_hash, time=time, actor=who,
                               source=str(source), note=str(note), changes=batch)
            line = memoryview(entry.to_line())
            while line:
                written = os.write(fd, line)
                line = line[written:]
            os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        _fsync_dir(path.parent if str(path.parent) else Path("."))
    return [entry]


def discard_torn_line(log_path: str | os.PathLike[str]) -> bytes:
    """Recover from a crash mid-write: cut an incomplete last line off the log.

    Only bytes after the last newline are removed (a complete line is never touched); they are
    appended to ``<log>.torn`` first, so nothing is lost, and returned. Returns ``b""`` when the
    log ends with a newline (nothing to do). Holds the same lock as :func:`record_changes`.
    """
    path = Path(log_path)
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        with _locked(fd):
            size = os.fstat(fd).st_size
            if size == 0:
                return b""
            data = _seek_read(fd, 0, size)
            cut = data.rfind(b"\n") + 1
            torn = data[cut:]
            if not torn:
                return b""
            with open(path.with_name(path.name + ".torn"), "ab") as keep:
                keep.write(torn + b"\n")
                keep.flush()
                os.fsync(keep.fileno())
            os.ftruncate(fd, cut)
            os.fsync(fd)
            return torn
    finally:
        os.close(fd)

