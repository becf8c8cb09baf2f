"""The tamper-evident audit trail of risk decisions (medthreat.lifecycle.audit).

Logs are real files written by record_changes and read back by verify_log; tampering is done on
the bytes, crashes and concurrency with real subprocesses.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from medthreat.errors import MedthreatError
from medthreat.lifecycle import Change, Decision, Decisions, DecisionStatus, merge
from medthreat.lifecycle.audit import (
    GENESIS,
    AuditEntry,
    AuditReport,
    BreakKind,
    audit_path_for,
    changes_between,
    default_actor,
    discard_torn_line,
    format_history,
    history,
    record_changes,
    verify_log,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def ticking_clock(start: dt.datetime | None = None) -> Callable[[], dt.datetime]:
    """A deterministic clock: one minute later on every call."""
    moment = [start or dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)]

    def now() -> dt.datetime:
        moment[0] += dt.timedelta(minutes=1)
        return moment[0]

    return now


BATCHES: list[tuple[str, str, list[Change]]] = [
    ("alice", "cli:register-import", [
        Change("MT-DEV-001@monitor", "status", None, DecisionStatus.mitigated),
        Change("MT-DEV-001@monitor", "date", None, dt.date(2026, 11, 2)),
    ]),
    ("bob", "notebook:explorer", [
        Change("MT-DEV-001@monitor", "status", DecisionStatus.mitigated,
               DecisionStatus.accepted),
    ]),
    ("carol", "api", [
        Change("MT-FLOW-003@*", "hazard_ids", [], ["HAZ-7", "HAZ-9"]),
    ]),
    ("alice", "cli:register-import", [
        Change("*@ehr", "status", None, DecisionStatus.transferred),
        Change("*@ehr", "justification", None, "Operated by the hospital (SRA-2)."),
        Change("MT-FLOW-003@*", "owner", "", "J. Doe"),
    ]),
]


def write_log(path: Path) -> list[AuditEntry]:
    clock = ticking_clock()
    written: list[AuditEntry] = []
    for actor, source, changes in BATCHES:
        written += record_changes(path, changes, actor=actor, source=source,
                                  note="register.xlsx", clock=clock)
    return written


@pytest.fixture(scope="module")
def good_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[AuditEntry]]:
    path = tmp_path_factory.mktemp("audit") / "decisions.yaml.audit.jsonl"
    entries = write_log(path)
    return path.read_bytes(), entries


def line_of(data: bytes, offset: int) -> int:
    """The 1-based line holding byte ``offset`` (a newline belongs to the line it ends)."""
    return data.count(b"\n", 0, offset) + 1


def split_lines(data: bytes) -> list[bytes]:
    assert data.endswith(b"\n")
    return [line + b"\n" for line in data[:-1].split(b"\n")]


# -- a good log -----------------------------------------------------------------------------


def test_a_written_log_verifies(tmp_path: Path,
                                good_log: tuple[bytes, list[AuditEntry]]) -> None:
    data, entries = good_log
    path = tmp_path / "log.jsonl"
    path.write_bytes(data)
    report = verify_log(path)
    assert report.ok, report.to_text()
    assert report.entries == len(BATCHES) == len(entries) == data.count(b"\n")
    assert report.head == entries[-1].hash
    text = report.to_text()
    assert "OK" in text and entries[-1].hash in text and f"{len(BATCHES)} entries" in text
    assert [e.seq for e in entries] == list(range(1, len(BATCHES) + 1))
    assert [e.actor for e in entries] == [actor for actor, _, _ in BATCHES]
    assert entries[0].time == "2026-11-30T09:01:00.000000Z"


def test_the_chain_is_sha256_over_canonical_json(good_log: tuple[bytes, list[AuditEntry]]
                                                 ) -> None:
    # Recomputed here with hashlib and json alone, as an outside auditor would.
    data, _ = good_log
    prev = GENESIS
    for line in split_lines(data):
        entry = json.loads(line)
        body = {k: v for k, v in entry.items() if k != "hash"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")
        assert entry["prev"] == prev
        assert entry["hash"] == hashlib.sha256(canonical).hexdigest()
        assert line == json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n"
        prev = entry["hash"]
    assert data.isascii()


def test_same_inputs_give_identical_bytes(tmp_path: Path,
                                          good_log: tuple[bytes, list[AuditEntry]]) -> None:
    write_log(tmp_path / "again.jsonl")
    assert (tmp_path / "again.jsonl").read_bytes() == good_log[0]


def test_values_are_recorded_as_json_data(good_log: tuple[bytes, list[AuditEntry]]) -> None:
    first = good_log[1][0]
    assert first.changes == (
        {"key": "MT-DEV-001@monitor", "field": "status", "old": None, "new": "mitigated"},
        {"key": "MT-DEV-001@monitor", "field": "date", "old": None, "new": "2026-11-02"},
    )
    assert first.source == "cli:register-import" and first.note == "register.xlsx"


def test_no_change_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    assert record_changes(path, []) == []
    assert not path.exists()


def test_empty_log_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"")
    report = verify_log(path)
    assert report.ok and report.entries == 0 and report.head == GENESIS


def test_missing_log_cannot_be_verified(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        verify_log(tmp_path / "nope.jsonl")
    assert history(tmp_path / "nope.jsonl") == []


# -- tampering ------------------------------------------------------------------------------


def test_every_flipped_bit_is_found_on_its_own_line(
        tmp_path: Path, good_log: tuple[bytes, list[AuditEntry]]) -> None:
    data, _ = good_log
    path = tmp_path / "log.jsonl"
    kinds = set()
    for offset, report in damage_each_byte(path, data, range(len(data)),
                                           lambda b, offset: b ^ (1 << (offset % 8))):
        assert not report.ok, f"flip at byte {offset} went unnoticed"
        assert report.line == line_of(data, offset), (offset, report.to_text())
        assert report.entries == report.line - 1
        kinds.add(report.kind)
    assert {BreakKind.bad_json, BreakKind.hash_mismatch, BreakKind.torn_line} <= kinds
    assert path.read_bytes() == data and verify_log(path).ok


def damage_each_byte(path: Path, data: bytes, offsets: Iterable[int],
                     damage: Callable[[int, int], int]) -> Iterator[tuple[int, AuditReport]]:
    """Change one byte of the log file in place, verify the file, put the byte back; repeat."""
    path.write_bytes(data)
    with open(path, "r+b", buffering=0) as handle:
        for offset in offsets:
            handle.seek(offset)
            handle.write(bytes([damage(data[offset], offset)]))
            yield offset, verify_log(path)
            handle.seek(offset)
            handle.write(data[offset:offset + 1])


def test_every_byte_replaced_by_a_digit_or_letter_is_found(
        tmp_path: Path, good_log: tuple[bytes, list[AuditEntry]]) -> None:
    # A different kind of edit: replace the byte by a plausible character rather than a flip.
    data, _ = good_log
    path = tmp_path / "log.jsonl"
    for offset, report in damage_each_byte(path, data, range(len(data)),
                                           lambda b, _: ord("7") if b != ord("7") else ord("a")):
        assert not report.ok and report.line == line_of(data, offset), offset


def test_an_edited_prev_is_reported_on_that_entry(
        tmp_path: Path, good_log: tuple[bytes, list[AuditEntry]]) -> None:
    data, entries = good_log
    path = tmp_path / "log.jsonl"
    link = b'"prev":"' + entries[2].prev.encode()
    assert data.count(link) == 1
    path.write_bytes(data.replace(link, b'"prev":"' + GENESIS.encode()))
    report = verify_log(path)
    assert not report.ok and report.line == 3 and report.seq == 3
    assert report.kind is BreakKind.hash_mismatch


def test_deleting_a_line_is_found(tmp_path: Path,
                                  good_log: tuple[bytes, list[AuditEntry]]) -> None:
    data, entries = good_log
    lines = split_lines(data)
    path = tmp_path / "log.jsonl"
    for index in range(len(lines) - 1):
        path.write_bytes(b"".join(lines[:index] + lines[index + 1:]))
        report = verify_log(path)
        assert not report.ok and report.line == index + 1, index
        assert report.kind is BreakKind.sequence
        assert report.entries == index
    # Cutting entries off the end leaves a valid, shorter chain: only an anchored head hash
    # reveals it (docs/audit.md).
    path.write_bytes(b"".join(lines[:-1]))
    assert verify_log(path).ok
    report = verify_log(path, anchor=entries[-1].hash)
    assert not report.ok and report.kind is BreakKind.anchor_missing
    assert entries[-1].hash in report.to_text()
    assert verify_log(path, anchor=entries[1].hash).anchor_seq == 2


def test_swapping_neighbours_is_found(tmp_path: Path,
                                      good_log: tuple[bytes, list[AuditEntry]]) -> None:
    lines = split_lines(good_log[0])
    path = tmp_path / "log.jsonl"
    for index in range(len(lines) - 1):
        swapped = list(lines)
        swapped[index], swapped[index + 1] = swapped[index + 1], swapped[index]
        path.write_bytes(b"".join(swapped))
        report = verify_log(path)
        assert not report.ok and report.line == index + 1 and report.seq == index + 2


def test_duplicating_a_line_is_found(tmp_path: Path,
                                     good_log: tuple[bytes, list[AuditEntry]]) -> None:
    lines = split_lines(good_log[0])
    path = tmp_path / "log.jsonl"
    for index in range(len(lines)):
        path.write_bytes(b"".join(lines[:index + 1] + lines[index:]))
        report = verify_log(path)
        assert not report.ok and report.line == index + 2
        assert report.kind is BreakKind.sequence


def test_a_forged_entry_with_a_fresh_hash_breaks_the_next_link(
        tmp_path: Path, good_log: tuple[bytes, list[AuditEntry]]) -> None:
    # The forger recomputes the hash of the entry they changed; the next entry's prev betrays it.
    data, _ = good_log
    lines = split_lines(data)
    entry = json.loads(lines[1])
    entry["actor"] = "mallory"
    body = {k: v for k, v in entry.items() if k != "hash"}
    entry["hash"] = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"))
                                   .encode()).hexdigest()
    lines[1] = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"".join(lines))
    report = verify_log(path)
    assert not report.ok and report.line == 3 and report.kind is BreakKind.prev_mismatch


def test_a_rechained_log_only_fails_against_an_anchor(
        tmp_path: Path, good_log: tuple[bytes, list[AuditEntry]]) -> None:
    # Someone who rewrites the whole file can build a valid chain: the limit docs/audit.md
    # names. The head hash kept in git catches it.
    _, entries = good_log
    forged = tmp_path / "forged.jsonl"
    clock = ticking_clock()
    for actor, source, changes in BATCHES:
        record_changes(forged, changes, actor="mallory" if actor == "bob" else actor,
                       source=source, note="register.xlsx", clock=clock)
    assert verify_log(forged).ok
    report = verify_log(forged, anchor=entries[-1].hash)
    assert not report.ok and report.kind is BreakKind.anchor_missing


def test_a_reformatted_line_is_found(tmp_path: Path,
                                     good_log: tuple[bytes, list[AuditEntry]]) -> None:
    lines = split_lines(good_log[0])
    lines[2] = json.dumps(json.loads(lines[2]), indent=None).encode() + b"\n"  # with spaces
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"".join(lines))
    report = verify_log(path)
    assert not report.ok and report.line == 3 and report.kind is BreakKind.not_canonical


# -- torn writes and crashes ----------------------------------------------------------------


def test_a_torn_last_line_is_reported_and_blocks_appending(
        tmp_path: Path, good_log: tuple[bytes, list[AuditEntry]]) -> None:
    data, entries = good_log
    path = tmp_path / "log.jsonl"
    lines = split_lines(data)
    torn = b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2]
    path.write_bytes(torn)
    report = verify_log(path)
    assert not report.ok and report.kind is BreakKind.torn_line
    assert report.line == len(lines) and report.entries == len(lines) - 1
    assert report.head == entries[-2].hash
    with pytest.raises(MedthreatError) as caught:
        record_changes(path, [Change("MT-DEV-001@monitor", "owner", "", "x")], actor="t")
    assert f"log.jsonl:{len(lines)}" in str(caught.value)
    assert "incomplete" in str(caught.value)
    assert path.read_bytes() == torn  # nothing appended, nothing rewritten
    with pytest.raises(MedthreatError):
        history(path)
    assert len(history(path, verify=False)) == len(lines) - 1


def test_a_broken_last_entry_blocks_appending(
        tmp_path: Path, good_log: tuple[bytes, list[AuditEntry]]) -> None:
    data = bytearray(good_log[0])
    data[-20] ^= 0x01  # inside the last line's hash
    path = tmp_path / "log.jsonl"
    path.write_bytes(bytes(data))
    with pytest.raises(MedthreatError, match="last entry is broken"):
        record_changes(path, [Change("MT-DEV-001@monitor", "owner", "", "x")], actor="t")
    assert path.read_bytes() == bytes(data)


CRASH_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    path, half = sys.argv[1], sys.argv[2].encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.write(fd, half)
    os.fsync(fd)
    os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_recovering_after_a_crash_mid_write(tmp_path: Path,
                                            good_log: tuple[bytes, list[AuditEntry]]) -> None:
    data, entries = good_log
    path = tmp_path / "decisions.yaml.audit.jsonl"
    path.write_bytes(data)
    next_line = split_lines(data)[1]
    half = next_line[: len(next_line) // 2].decode()
    done = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, str(path), half], check=False)
    assert done.returncode == -signal.SIGKILL
    # Earlier entries are intact and verify; the torn line is named.
    report = verify_log(path)
    assert report.kind is BreakKind.torn_line and report.line == len(entries) + 1
    assert report.entries == len(entries) and report.head == entries[-1].hash
    assert path.read_bytes()[: len(data)] == data
    with pytest.raises(MedthreatError):
        record_changes(path, [Change("MT-DEV-001@monitor", "owner", "", "x")], actor="t")
    # Recovery: the torn bytes move aside, the chain goes on from the last complete entry.
    assert discard_torn_line(path) == half.encode()
    assert (tmp_path / "decisions.yaml.audit.jsonl.torn").read_bytes() == half.encode() + b"\n"
    assert path.read_bytes() == data
    assert discard_torn_line(path) == b""
    added = record_changes(path, [Change("MT-DEV-001@monitor", "owner", "", "x")], actor="t")
    assert added[0].seq == len(entries) + 1 and added[0].prev == entries[-1].hash
    assert verify_log(path).ok and verify_log(path).entries == len(entries) + 1


WRITER_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from medthreat.lifecycle import Change
    from medthreat.lifecycle.audit import record_changes
    path, name, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    (folder / ("ready-" + name)).write_text("ready")
    while not (folder / "go").exists():  # spin, so that both writers start together
        pass
    for i in range(50):
        record_changes(path, [Change(f"MT-DEV-{i + 1:03d}@{name}", "owner", "", name)],
                       actor=name, source="api", note=str(i))
""")


def run_two_writers(folder: Path) -> list[AuditEntry]:
    folder.mkdir()
    path = folder / "log.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(path), name,
                                 str(folder)], env=env) for name in ("w1", "w2")]
    try:
        deadline = time.monotonic() + 30
        while not all((folder / f"ready-{w}").exists() for w in ("w1", "w2")):
            assert time.monotonic() < deadline, "writers did not start"
            time.sleep(0.01)
        (folder / "go").write_text("go")
        assert [w.wait(timeout=60) for w in writers] == [0, 0]
    finally:
        for w in writers:
            if w.poll() is None:
                w.kill()
    report = verify_log(path)
    assert report.ok, report.to_text()
    assert report.entries == 100
    entries = history(path)
    for name in ("w1", "w2"):
        assert [e.note for e in entries if e.actor == name] == [str(i) for i in range(50)]
    return entries


def test_concurrent_appends_form_one_chain(tmp_path: Path) -> None:
    # Whether the two writers' appends interleave is up to the scheduler; a few rounds make it
    # very likely that at least one round tests true contention (each round must verify).
    for attempt in range(3):
        entries = run_two_writers(tmp_path / f"round{attempt}")
        switches = sum(a.actor != b.actor for a, b in itertools.pairwise(entries))
        print(f"round {attempt}: {switches} switches between writers")
        if switches > 1:
            break


# -- values, actors, clocks -----------------------------------------------------------------


def test_awkward_values_round_trip(tmp_path: Path) -> None:
    huge = "x" * 1_000_000
    values = [
        "=HYPERLINK(\"http://evil\",\"click\")",
        "+1-2@SUM(A1)",
        "Müller, 日本語, emoji 🩺, line\nbreak, tab\there, \u2028sep, \u202eRTL, \x1b[31m",
        huge,
        {"nested": [1, 2.5, True, None, {"deep": "ß"}]},
        10**40,
    ]
    path = tmp_path / "log.jsonl"
    changes = [Change(f"MT-DEV-{i:03d}@monitor", "justification", v, v)
               for i, v in enumerate(values, 1)]
    record_changes(path, changes, actor="Ünïcode 👩‍⚕️", note="=cmd|' /C calc'!A0",
                   clock=ticking_clock())
    assert verify_log(path).ok
    assert path.read_bytes().isascii() and path.read_bytes().count(b"\n") == 1
    (entry,) = history(path)
    assert [c["new"] for c in entry.changes] == values
    assert entry.actor == "Ünïcode 👩‍⚕️" and entry.note == "=cmd|' /C calc'!A0"
    shown = format_history([entry])
    assert "\x1b" not in shown and "\u202e" not in shown and "\u2028" not in shown
    assert "\\u202e" in shown and "Müller" in shown
    assert '"=HYPERLINK' in shown  # quoted: a formula-like value is displayed as inert text
    assert max(len(line) for line in shown.splitlines()) < 500
    assert len(shown.splitlines()) == 1 + len(values)


def test_values_that_are_not_data_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="object"):
        record_changes(tmp_path / "l.jsonl", [Change("MT-DEV-001@m", "owner", None, object())],
                       actor="t")
    assert not (tmp_path / "l.jsonl").exists()


def test_actor_comes_from_argument_then_environment_then_os(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import getpass

    change = [Change("MT-DEV-001@monitor", "owner", "", "x")]
    path = tmp_path / "log.jsonl"
    monkeypatch.setenv("MEDTHREAT_ACTOR", "QA reviewer")
    assert record_changes(path, change)[0].actor == "QA reviewer"
    assert record_changes(path, change, actor="explicit")[0].actor == "explicit"
    monkeypatch.delenv("MEDTHREAT_ACTOR")
    try:
        expected = getpass.getuser()
    except (OSError, KeyError):
        expected = None
    actor = record_changes(path, change)[0].actor
    assert actor == default_actor() and actor
    if expected:
        assert actor == expected


def test_time_is_utc_iso8601(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    change = [Change("MT-DEV-001@monitor", "owner", "", "x")]
    cet = dt.timezone(dt.timedelta(hours=2))
    entry = record_changes(path, change, actor="t",
                           clock=lambda: dt.datetime(2026, 11, 30, 12, 30, 5, tzinfo=cet))[0]
    assert entry.time == "2026-11-30T10:30:05.000000Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        record_changes(path, change, actor="t", clock=lambda: dt.datetime(2026, 1, 1))
    before = dt.datetime.now(dt.UTC)
    live = dt.datetime.fromisoformat(record_changes(path, change, actor="t")[0].time)
    assert before <= live <= dt.datetime.now(dt.UTC)


# -- history and use with merge -------------------------------------------------------------


def test_history_of_one_key(tmp_path: Path,
                            good_log: tuple[bytes, list[AuditEntry]]) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(good_log[0])
    assert [e.seq for e in history(path)] == [1, 2, 3, 4]
    assert [e.seq for e in history(path, "MT-FLOW-003@*")] == [3, 4]
    assert history(path, "MT-NONE-001@x") == []
    text = format_history(history(path, "MT-FLOW-003@*"), "MT-FLOW-003@*")
    assert "*@ehr" not in text and "owner" in text and '"J. Doe"' in text


def test_recording_what_merge_changed(tmp_path: Path) -> None:
    decisions = tmp_path / "decisions.yaml"
    log = audit_path_for(decisions)
    assert log == tmp_path / "decisions.yaml.audit.jsonl"
    base = Decisions(decisions={"MT-DEV-001@monitor": Decision(status=DecisionStatus.open)})
    incoming = Decisions(decisions={
        "MT-DEV-001@monitor": Decision(status="accepted", justification="Low exposure.",
                                       date=dt.date(2026, 11, 30)),
        "*@ehr": Decision(status="transferred", justification="SRA-2"),
    })
    _, changes = merge(base, incoming)
    (entry,) = record_changes(log, changes, actor="risk manager",
                              source="cli:register-import", note="register.xlsx")
    assert len(entry.changes) == len(changes) == 5
    assert {(c["key"], c["field"], c["old"], c["new"]) for c in entry.changes} >= {
        ("MT-DEV-001@monitor", "status", "open", "accepted"),
        ("MT-DEV-001@monitor", "date", None, "2026-11-30"),
        ("*@ehr", "status", None, "transferred"),
    }
    assert entry.keys() == ["*@ehr", "MT-DEV-001@monitor"]
    assert verify_log(log).ok


def test_changes_between_whole_contents(tmp_path: Path) -> None:
    before = Decisions(decisions={
        "MT-DEV-001@monitor": Decision(status="open", owner="A"),
        "*@ehr": Decision(status="transferred", justification="SRA-2"),
    })
    after = Decisions(decisions={
        "MT-DEV-001@monitor": Decision(status="mitigated", hazard_ids=["HAZ-1"]),
        "MT-FLOW-003@*": Decision(status="open"),
    })
    changes = changes_between(before, after)
    assert [(c.key, c.field, c.old, c.new) for c in changes] == [
        ("*@ehr", "status", "transferred", None),
        ("*@ehr", "justification", "SRA-2", None),
        ("MT-DEV-001@monitor", "status", "open", "mitigated"),
        ("MT-DEV-001@monitor", "owner", "A", None),
        ("MT-DEV-001@monitor", "hazard_ids", None, ["HAZ-1"]),
        ("MT-FLOW-003@*", "status", None, "open"),
    ]
    assert changes_between(after, after) == []
    log = tmp_path / "log.jsonl"
    record_changes(log, changes, actor="t", source="notebook:explorer")
    assert verify_log(log).ok


def test_a_new_log_is_as_private_as_its_decisions_file(tmp_path: Path) -> None:
    """The log holds every old and new decision value: it never is more readable than them."""
    import stat

    for mode in (0o600, 0o640):
        decisions = tmp_path / f"d{mode:o}.yaml"
        decisions.write_text("decisions: {}\n")
        decisions.chmod(mode)
        log = audit_path_for(decisions)
        record_changes(log, [Change("MT-X-001@a", "status", None, "accepted")], actor="t")
        assert stat.S_IMODE(os.stat(log).st_mode) == mode
