"""Fuzz targets for medthreat's YAML/JSON readers of user files (see ``tests/_fuzz.py``).

Every target starts from real committed files: the reference model, the mini catalog, the
shipped risk policy, a notebook decisions file, the events examples of
``docs/review-and-incident.md`` and an audit log written by ``record_changes``. Seeds are
loaded once at import time and turned into plain JSON-like data, so that the structural
mutations hit the structure a real file has.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from _fuzz import FuzzTarget, byte_mutated, document_inputs, mutated, specials
from hypothesis import strategies as st

import medthreat as mt
from medthreat.lifecycle import Decisions, merge
from medthreat.lifecycle.audit import (
    _entry_hash,
    audit_path_for,
    canonical_bytes,
    record_changes,
    verify_log,
)
from medthreat.lifecycle.review import load_events
from medthreat.risk.policy import RiskPolicy

REPO = Path(__file__).resolve().parents[1]
MODEL_FILE = REPO / "notebooks" / "models" / "ai_patient_monitoring.yaml"
MINI_CATALOG = REPO / "tests" / "data" / "mini_catalog"
POLICY_FILE = REPO / "catalogs" / "policies" / "default.yaml"
DECISIONS_FILE = REPO / "notebooks" / "models" / "decisions" / "ai_surgical_robot.yaml"
MORE_DECISIONS_FILE = (REPO / "notebooks" / "models" / "decisions"
                       / "networked_imaging_ai_triage.yaml")
EVENTS_DOC = REPO / "docs" / "review-and-incident.md"


def _plain(data: Any) -> Any:
    """YAML data as plain JSON data (dates become ISO text), as the mutators need."""
    return json.loads(json.dumps(data, default=lambda v: v.isoformat()))


def _load_yaml(path: Path) -> Any:
    return _plain(yaml.safe_load(path.read_text(encoding="utf-8")))


def _fenced(path: Path, language: str, after: str) -> str:
    """The first ```language block after the heading ``after`` in a Markdown file."""
    text = path.read_text(encoding="utf-8")
    match = re.search(rf"```{language}\n(.*?)```", text[text.index(after):], re.S)
    assert match is not None, f"no {language} block after {after!r} in {path}"
    return match.group(1)


# ---------------------------------------------------------------------------------------------
# Readers (each called with the fuzzed file)

_CATALOG: mt.Catalog | None = None


def _shipped_catalog() -> mt.Catalog:
    global _CATALOG
    if _CATALOG is None:
        _CATALOG = mt.Catalog.load()
    return _CATALOG


def read_model(path: Path) -> object:
    """Load and check a model file against the shipped catalog."""
    return mt.load_model(path, _shipped_catalog())


def read_catalog(path: Path) -> object:
    """Load a user catalog folder holding the fuzzed file on top of a base catalog folder.

    The mini catalog plays the part of the shipped one (``Catalog.load(user_dir)`` merges a
    user folder on the shipped folder through the same code); loading the whole shipped catalog
    for every input would make a run of thousands of inputs take many minutes.
    """
    folder = path.parent / "catalog"
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "threats").mkdir(parents=True)
    shutil.copyfile(path, folder / "threats" / "user.yaml")
    return mt.Catalog.load(MINI_CATALOG, folder, shipped=False)


def read_audit_log(path: Path) -> object:
    """Verify an audit log; a report of a broken chain is a fine outcome."""
    return verify_log(path)


# ---------------------------------------------------------------------------------------------
# Seeds

MODEL_SEED = _load_yaml(MODEL_FILE)
CATALOG_SEED = _load_yaml(MINI_CATALOG / "catalog.yaml")
POLICY_SEED = _load_yaml(POLICY_FILE)
DECISIONS_SEED = _load_yaml(DECISIONS_FILE)
EVENTS_SEED = _plain(yaml.safe_load(_fenced(EVENTS_DOC, "yaml", "## TPLC metrics")))
EVENTS_CSV = _fenced(EVENTS_DOC, "csv", "## TPLC metrics").encode("utf-8")


def _audit_log_seed() -> bytes:
    """A log of two batches written by ``record_changes`` beside a temporary decisions file."""
    clock_at = [dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)]

    def clock() -> dt.datetime:
        clock_at[0] += dt.timedelta(minutes=1)
        return clock_at[0]

    with tempfile.TemporaryDirectory() as tmp:
        decisions_path = Path(tmp) / "decisions.yaml"
        shutil.copyfile(DECISIONS_FILE, decisions_path)
        log = audit_path_for(decisions_path)
        first = mt.load_decisions(decisions_path)
        _, changes = merge(Decisions(), first)
        record_changes(log, changes, actor="alice", source="cli:register-import",
                       note="register.xlsx", clock=clock)
        _, changes = merge(first, mt.load_decisions(MORE_DECISIONS_FILE))
        record_changes(log, changes, actor="bob", source="api", note="", clock=clock)
        data = log.read_bytes()
    assert verify_log_bytes_ok(data)
    return data


def verify_log_bytes_ok(data: bytes) -> bool:
    """Whether ``data`` verifies as an audit log (used to check the seed)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.jsonl"
        path.write_bytes(data)
        return verify_log(path).ok


AUDIT_LOG_SEED = _audit_log_seed()
AUDIT_ENTRIES = [json.loads(line) for line in AUDIT_LOG_SEED.splitlines()]


# ---------------------------------------------------------------------------------------------
# Input strategies that the generic ones do not cover


def _events_csv(rows: Any) -> bytes:
    """Mutated event rows written back as CSV (the header from the first row's keys)."""
    if not isinstance(rows, list) or not rows:
        return b""
    header: list[str] = []
    for row in rows:
        if isinstance(row, dict):
            header += [str(k) for k in row if str(k) not in header]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        if isinstance(row, dict):
            writer.writerow(["" if row.get(h) is None else str(row.get(h)) for h in header])
        else:
            writer.writerow([str(row)])
    return out.getvalue().encode("utf-8", "surrogatepass")


def _csv_inputs() -> st.SearchStrategy[bytes]:
    rows = EVENTS_SEED["events"]
    return st.one_of(
        mutated(rows, "json").map(lambda b: _events_csv(json.loads(b))),
        byte_mutated(EVENTS_CSV),
        byte_mutated(EVENTS_CSV),
        st.sampled_from([
            b"", b"\n", b"id\n", b"id,id\nA,B\n", b"id,identified\nA,2026-1-5,extra\n",
            b'id,identified\n"A\n', b"\x00,\x00\n\x00,\x00\n", b"\xff\xfe not utf-8\n",
            b"id,risk\nA,maybe\n", b"\xef\xbb\xbfid,fixed\nA,2026-01-01\n",
            b"id\n" + b"A" * 200_000 + b"\n", b'id\n"' + b"x" * 2_000_000 + b'"\n',
            b"id\n" + b"".join(b"E%d\n" % i for i in range(20_000)),
        ]),
    )


def _log_from_list(data: bytes, rehash: bool) -> bytes:
    """A mutated JSON list of entries written back one canonical line per entry.

    With ``rehash`` every object gets a fresh hash, so that the checks behind the hash (the
    sequence, the links, the canonical form, the entry fields) see the mutation.
    """
    try:
        entries = json.loads(data)
    except ValueError:
        return data
    if not isinstance(entries, list):
        entries = [entries]
    lines = []
    for entry in entries:
        if rehash and isinstance(entry, dict):
            entry = {**entry}
            entry.pop("hash", None)
            with contextlib.suppress(TypeError, ValueError):
                entry["hash"] = _entry_hash(entry)
        try:
            lines.append(canonical_bytes(entry) + b"\n")
        except (TypeError, ValueError):
            lines.append(json.dumps(entry).encode("utf-8", "surrogatepass") + b"\n")
    return b"".join(lines)


def _poisoned_logs() -> list[bytes]:
    """The seed with its first line's ``old: null`` replaced by values JSON reads but cannot
    write back the same way: a number out of range, deep nesting, a lone surrogate."""
    first, _, rest = AUDIT_LOG_SEED.partition(b"\n")
    assert b'"old":null' in first
    values = [b"1e999", b"-1e999", b"1" * 5000, b"[" * 900 + b"]" * 900,
              b"[" * 5000 + b"]" * 5000, b'"\\ud800"', b"1.0000000000000000001", b"-0"]
    return [first.replace(b'"old":null', b'"old":' + value, 1) + b"\n" + rest
            for value in values]


def _audit_inputs() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.builds(_log_from_list, mutated(AUDIT_ENTRIES, "json"), st.booleans()),
        st.builds(_log_from_list, mutated(AUDIT_ENTRIES, "json"), st.just(True)),
        byte_mutated(AUDIT_LOG_SEED),
        specials("json").map(lambda b: b + b"\n"),
        st.sampled_from(_poisoned_logs()),
        st.sampled_from([
            AUDIT_LOG_SEED, AUDIT_LOG_SEED[:-1], AUDIT_LOG_SEED + AUDIT_LOG_SEED,
            AUDIT_LOG_SEED.replace(b"\n", b"\r\n"), b"\n" * 10_000,
            b'{"seq": 1}\n' * 50_000, ("[" * 100_000).encode() + b"\n",
            b'{"v":1,"seq":1e999}\n', b'{"v":NaN}\n', b'"\\ud800"\n',
        ]),
    )


# ---------------------------------------------------------------------------------------------
# The targets

TARGETS: list[FuzzTarget] = [
    FuzzTarget("model-yaml", ".yaml", document_inputs(MODEL_SEED, "yaml", key="components"),
               read_model),
    FuzzTarget("model-json", ".json", document_inputs(MODEL_SEED, "json", key="components"),
               read_model),
    FuzzTarget("catalog", ".yaml", document_inputs(CATALOG_SEED, "yaml", key="threats"),
               read_catalog),
    FuzzTarget("policy", ".yaml", document_inputs(POLICY_SEED, "yaml", key="scales"),
               RiskPolicy.load),
    FuzzTarget("decisions", ".yaml", document_inputs(DECISIONS_SEED, "yaml", key="decisions"),
               mt.load_decisions),
    FuzzTarget("events-yaml", ".yaml", document_inputs(EVENTS_SEED, "yaml", key="events"),
               load_events),
    FuzzTarget("events-csv", ".csv", _csv_inputs(), load_events),
    FuzzTarget("audit-log", ".jsonl", _audit_inputs(), read_audit_log),
]

__all__ = ["TARGETS"]
