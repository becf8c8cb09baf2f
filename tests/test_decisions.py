"""Risk decisions: file round trip, wildcard precedence, orphans, merge, validation, policy."""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import typing
from pathlib import Path

import pytest
from pydantic import ValidationError

import medthreat as mt
from medthreat import _yaml
from medthreat.catalog._entries import ThreatId
from medthreat.lifecycle import (
    Change,
    Decision,
    Decisions,
    DecisionsError,
    DecisionStatus,
    IssueCode,
    MatchKind,
    check,
    check_key,
    decisions_from_data,
    load_decisions,
    merge,
    save_decisions,
)
from medthreat.lifecycle.decisions import THREAT_ID_PATTERN

DATA = Path(__file__).parent / "data" / "decisions"
REFERENCE_MODEL = DATA.parents[2] / "notebooks" / "models" / "ai_patient_monitoring.yaml"
STATUSES = [s.value for s in DecisionStatus]


@pytest.fixture(scope="module")
def finding_ids() -> list[str]:
    return [f.id for f in mt.analyze(mt.load_model(REFERENCE_MODEL)).findings]


def seeded(seed: int) -> random.Random:
    """Reproducible pseudo-random test data (hypothesis is not installed in .venv)."""
    return random.Random(seed)  # noqa: S311 - test data, not secrets


def write(tmp_path: Path, text: str, name: str = "decisions.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(path: Path) -> str:
    with pytest.raises(DecisionsError) as info:
        load_decisions(path)
    return str(info.value)


def entry_errors(tmp_path: Path, entry: str, key: str = "MT-DEV-001@ecg_patch") -> str:
    """Errors of a file holding one decision whose body is ``entry`` (YAML, 4-space indent)."""
    body = "\n".join("    " + line for line in entry.splitlines())
    return errors_of(write(tmp_path, f"schema_version: 1\ndecisions:\n  {key}:\n{body}\n"))


# -- round trip ------------------------------------------------------------------------------


def test_reference_fixture_is_in_canonical_form(tmp_path: Path) -> None:
    fixture = DATA / "reference.yaml"
    decisions = load_decisions(fixture)
    assert len(decisions) == 8
    d = decisions["MT-DEV-001@ecg_patch"]
    assert d.status is DecisionStatus.mitigated
    assert d.date == dt.date(2026, 11, 30)
    assert d.justification == ("Debug port fused at end of line.\n"
                               "Verified on every production lot; see TR-0042.\n")
    assert (d.hazard_ids, d.requirement_ids, d.verification_ids) == (["HAZ-7"], ["SR-12"], ["VT-3"])
    out = tmp_path / "out.yaml"
    save_decisions(decisions, out)
    assert out.read_bytes() == fixture.read_bytes()
    assert load_decisions(out) == decisions


def test_hand_written_file_round_trips_and_normalizes(tmp_path: Path) -> None:
    decisions = load_decisions(DATA / "hand_written.yaml")
    assert decisions["MT-FLOW-008@*"].ticket == "200"  # a number typed as ticket is an id
    assert decisions["MT-DEV-001@ecg_patch"].hazard_ids == ["HAZ-7", "12"]
    assert decisions["MT-DEV-001@ecg_patch"].date == dt.date(2026, 11, 30)
    assert decisions["MT-DEV-001@ecg_patch"].justification == "Debug port fused at end of line.\n"
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    save_decisions(decisions, first)
    text = first.read_text(encoding="utf-8")
    # Sorted keys, status first, empty fields left out, dates bare.
    assert text.index("'*@ehr'") < text.index("MT-DEV-001@ecg_patch") < text.index("MT-FLOW-008@*")
    assert "requirement_ids" not in text and "owner: ''" not in text
    assert "date: 2026-11-30\n" in text
    assert re.search(r"MT-DEV-001@ecg_patch:\n    status: mitigated\n    justification:", text)
    reloaded = load_decisions(first)
    assert reloaded == decisions
    save_decisions(reloaded, second)
    assert second.read_bytes() == first.read_bytes()


TRICKY_TEXTS = [
    "", " ", "plain", "yes", "no", "null", "~", "123", "0o17", "1e3", "2026-11-30", "*@x",
    "- dash", "key: value", "# not a comment", "trailing space ", " leading space", "'quoted'",
    '"double"', "tab\there", "ünïcödé — ✓", "line one\nline two", "two\n\n\nnewlines\n\n",
    "  indented\n  block\n", "\nstarts with newline", "ends with spaces  \nnext", "%percent",
    "@at", "`backtick", "a" * 300, "{not: flow}", "[not, list]", "&anchor", "!tag",
]


def random_decision(rng: random.Random, *, full: bool = False) -> Decision:
    """A decision with a random subset of its fields set (all of them when ``full``)."""
    values: dict[str, object] = {"status": rng.choice(STATUSES)}
    pool_ids = ["HAZ-1", "HAZ-2", "SR-12", "VT-3", "7", "ünï-1"]
    optional = {
        "justification": lambda: rng.choice(TRICKY_TEXTS),
        "owner": lambda: rng.choice(["", "J. Doe", "R. Roe", "team: platform"]),
        "date": lambda: rng.choice([None, dt.date(2026, 1, 31), dt.date(1999, 12, 31)]),
        "ticket": lambda: rng.choice(["", "SEC-1", "4711", "yes"]),
        "hazard_ids": lambda: rng.sample(pool_ids, rng.randint(0, 3)),
        "requirement_ids": lambda: rng.sample(pool_ids, rng.randint(0, 2)),
        "verification_ids": lambda: rng.sample(pool_ids, rng.randint(0, 2)),
    }
    for name, make in optional.items():
        if full or rng.random() < 0.5:
            values[name] = make()
    return Decision.model_validate(values)


KEY_POOL = [
    "MT-DEV-001@ecg_patch", "MT-DEV-001@monitor", "MT-FLOW-008@*", "*@ehr", "MT-A-1@b.c",
    "*@x-1", "MT-DEV-002@*", "X-1@y",
]


def random_decisions(rng: random.Random, *, full: bool = False) -> Decisions:
    keys = rng.sample(KEY_POOL, rng.randint(0, len(KEY_POOL)))
    return Decisions(decisions={k: random_decision(rng, full=full) for k in keys})


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_random_round_trip_is_identity_and_byte_stable(tmp_path: Path, suffix: str) -> None:
    rng = seeded(20261130)
    for i in range(80):
        decisions = random_decisions(rng, full=True)
        path = tmp_path / f"d{i}{suffix}"
        save_decisions(decisions, path)
        first = path.read_bytes()
        loaded = load_decisions(path)
        assert loaded == decisions, first.decode()
        save_decisions(loaded, path)
        assert path.read_bytes() == first


def test_multi_line_text_is_written_as_a_literal_block(tmp_path: Path) -> None:
    decisions = Decisions(decisions={"MT-A-1@b": Decision(status="accepted",
                                                          justification="first\nsecond\n")})
    path = tmp_path / "d.yaml"
    save_decisions(decisions, path)
    assert "    justification: |\n      first\n      second\n" in path.read_text(encoding="utf-8")


def test_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "d.yaml"
    path.write_text("precious: what the risk manager typed\n", encoding="utf-8")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(_yaml.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_decisions(random_decisions(seeded(1), full=True), path)
    assert path.read_text(encoding="utf-8") == "precious: what the risk manager typed\n"
    assert os.listdir(tmp_path) == ["d.yaml"]  # no temporary file left behind


@pytest.mark.parametrize("text", ["", "\n", "# nothing decided yet\n", "schema_version: 1\n",
                                  "schema_version: 1\ndecisions:\n", "decisions: {}\n"])
def test_empty_file_is_an_empty_set(tmp_path: Path, text: str) -> None:
    decisions = load_decisions(write(tmp_path, text))
    assert len(decisions) == 0
    assert decisions.resolve(["MT-A-1@b"]) == {}


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    message = errors_of(tmp_path / "nope.yaml")
    assert str(tmp_path / "nope.yaml") in message
    assert "decisions file not found" in message


# -- wildcards and orphans -------------------------------------------------------------------


def test_wildcard_precedence_on_reference_findings(finding_ids: list[str]) -> None:
    assert {"MT-FLOW-008@monitor-to-central", "MT-FLOW-008@central-to-iot",
            "MT-BASE-FLOW-I@central-to-iot", "MT-DEV-001@ecg_patch"} <= set(finding_ids)
    decisions = Decisions(decisions={
        "MT-FLOW-008@monitor-to-central": Decision(status="mitigated"),
        "MT-FLOW-008@*": Decision(status="accepted", justification="segmented VLANs"),
        "*@central-to-iot": Decision(status="in_progress"),
        "*@monitor-to-central": Decision(status="false_positive", justification="n/a"),
    })
    resolved = decisions.resolve(finding_ids)
    exact = resolved["MT-FLOW-008@monitor-to-central"]  # all three kinds match: exact wins
    assert (exact.key, exact.match, exact.status) == (
        "MT-FLOW-008@monitor-to-central", MatchKind.exact, DecisionStatus.mitigated)
    threat = resolved["MT-FLOW-008@central-to-iot"]  # threat wildcard beats element wildcard
    assert (threat.key, threat.match, threat.status) == (
        "MT-FLOW-008@*", MatchKind.threat_wildcard, DecisionStatus.accepted)
    element = resolved["MT-BASE-FLOW-I@central-to-iot"]
    assert (element.key, element.match) == ("*@central-to-iot", MatchKind.element_wildcard)
    assert "MT-DEV-001@ecg_patch" not in resolved  # undecided findings are left out
    # Every MT-FLOW-008 finding and every finding on the two flows is decided, nothing else.
    expected = {f for f in finding_ids if f.startswith("MT-FLOW-008@")
                or f.endswith(("@central-to-iot", "@monitor-to-central"))}
    assert set(resolved) == expected


def brute_force(keys: list[str], finding_id: str) -> tuple[str, int] | None:
    """Reference resolver: scan every key, rank matches by specificity."""
    threat, element = finding_id.split("@")
    best = None
    for key in keys:
        k_threat, k_element = key.split("@")
        if k_threat not in ("*", threat) or k_element not in ("*", element):
            continue
        rank = 0 if "*" not in key else (1 if k_element == "*" else 2)
        if best is None or rank < best[1]:
            best = (key, rank)
    return best


def test_resolve_and_orphans_agree_with_brute_force(finding_ids: list[str]) -> None:
    rng = seeded(7)
    threats = [*sorted({f.split("@")[0] for f in finding_ids}), "MT-GONE-1"]
    elements = [*sorted({f.split("@")[1] for f in finding_ids}), "gone_element"]
    kinds = [MatchKind.exact, MatchKind.threat_wildcard, MatchKind.element_wildcard]
    for _ in range(25):
        keys = set(rng.sample(finding_ids, 20)) | {"MT-GONE-1@ecg_patch"}
        keys |= {f"{t}@*" for t in rng.sample(threats, 8)}
        keys |= {f"*@{e}" for e in rng.sample(elements, 8)}
        decisions = Decisions(decisions={k: Decision(status="open") for k in keys})
        resolved = decisions.resolve(finding_ids)
        for fid in finding_ids:
            want = brute_force(sorted(keys), fid)
            got = resolved.get(fid)
            assert (got.key, kinds.index(got.match)) == want if got else want is None, fid
        matched = {k for fid in finding_ids for k in keys
                   if brute_force([k], fid) is not None}
        assert decisions.orphans(finding_ids) == sorted(keys - matched)


def test_orphans_of_reference_fixture(finding_ids: list[str]) -> None:
    decisions = load_decisions(DATA / "reference.yaml")
    # Exact key on a removed element, threat wildcard on a removed threat, element wildcard
    # on a removed element. MT-FLOW-008@* is shadowed on one flow but still matches others.
    assert decisions.orphans(finding_ids) == [
        "*@ghost_device", "MT-DEV-001@removed_pump", "MT-NO-SUCH-THREAT@*"]
    shadowed = Decisions(decisions={"MT-DEV-001@ecg_patch": Decision(status="open"),
                                    "MT-DEV-001@*": Decision(status="open")})
    assert shadowed.orphans(["MT-DEV-001@ecg_patch"]) == []
    assert shadowed.orphans([]) == ["MT-DEV-001@*", "MT-DEV-001@ecg_patch"]


# -- merge -----------------------------------------------------------------------------------


def test_merge_applies_set_fields_keeps_the_rest_and_reports_changes() -> None:
    base = decisions_from_data({"decisions": {
        "MT-A-1@x": {"status": "open", "owner": "J. Doe", "justification": "keep me",
                     "hazard_ids": ["HAZ-1"]},
        "MT-B-2@*": {"status": "accepted", "justification": "old reason", "ticket": "SEC-1"},
        "*@y": {"status": "in_progress"},
    }})
    incoming = decisions_from_data({"decisions": {
        "MT-A-1@x": {"status": "mitigated", "hazard_ids": ["HAZ-1", "HAZ-2"]},
        "MT-B-2@*": {"status": "accepted", "justification": "", "date": "2026-11-30"},
        "MT-C-3@z": {"status": "false_positive", "justification": "not built"},
    }})
    before = base.model_dump()
    merged, changes = merge(base, incoming)
    assert base.model_dump() == before  # inputs untouched
    assert set(merged.decisions) == {"MT-A-1@x", "MT-B-2@*", "*@y", "MT-C-3@z"}
    a = merged["MT-A-1@x"]
    assert (a.status, a.owner, a.justification, a.hazard_ids) == (
        DecisionStatus.mitigated, "J. Doe", "keep me", ["HAZ-1", "HAZ-2"])
    assert merged["MT-B-2@*"].justification == ""  # explicitly emptied: cleared, and reported
    assert merged["MT-B-2@*"].ticket == "SEC-1"
    assert merged["*@y"] == base["*@y"]
    assert changes == [
        Change("MT-A-1@x", "status", DecisionStatus.open, DecisionStatus.mitigated),
        Change("MT-A-1@x", "hazard_ids", ["HAZ-1"], ["HAZ-1", "HAZ-2"]),
        Change("MT-B-2@*", "justification", "old reason", ""),
        Change("MT-B-2@*", "date", None, dt.date(2026, 11, 30)),
        Change("MT-C-3@z", "status", None, DecisionStatus.false_positive),
        Change("MT-C-3@z", "justification", None, "not built"),
    ]


def snapshot(decisions: Decisions) -> dict[str, tuple[dict, frozenset[str]]]:
    return {k: (d.model_dump(), frozenset(d.model_fields_set))
            for k, d in decisions.decisions.items()}


def test_merge_properties_on_random_inputs() -> None:
    rng = seeded(14971)
    for _ in range(200):
        a, b, c = (random_decisions(rng) for _ in range(3))
        ab, changes = merge(a, b)
        # Never drops an entry; changes describe exactly how the result differs from base.
        assert set(ab.decisions) == set(a.decisions) | set(b.decisions)
        replayed = {k: d.model_dump() for k, d in a.decisions.items()}
        for change in changes:
            entry = replayed.setdefault(change.key, {})
            if change.key in a.decisions:
                assert entry[change.field] == change.old != change.new
            entry[change.field] = change.new
        for key, entry in replayed.items():
            dumped = ab[key].model_dump()
            assert {f: dumped[f] for f in entry} == entry
            if key in a.decisions:
                assert dumped == entry
        # Associative, including which fields count as set.
        left, _ = merge(ab, c)
        right, _ = merge(a, merge(b, c)[0])
        assert snapshot(left) == snapshot(right)
        # Merging with nothing changes nothing; merging a set into itself reports nothing.
        assert merge(a, Decisions())[0] == a and merge(a, a)[1] == []


# -- validation errors -----------------------------------------------------------------------


def test_unknown_status_names_file_line_key_allowed_values_and_hint() -> None:
    path = DATA / "unknown_status.yaml"
    message = errors_of(path)
    assert message.startswith(f"{path}:5: decisions.MT-DEV-001@ecg_patch.status: ")
    for status in STATUSES:
        assert repr(status) in message
    assert "(got 'mitigate')" in message
    assert "did you mean 'mitigated'?" in message


@pytest.mark.parametrize(("key", "expected"), [
    ("MT-DEV-001", "'MT-DEV-001' is not a decision key: a decision key is a finding id "
                   "THREAT-ID@ELEMENT-ID"),
    ("MT-DEV-001@a@b", "is not a decision key"),
    ("mt-dev-001@ecg_patch", "'mt-dev-001' (before '@') is not a threat id"),
    ("MTDEV@ecg_patch", "'MTDEV' (before '@') is not a threat id"),
    ("MT-DEV-001@-patch", "'-patch' (after '@') is not an element id"),
    ("MT-DEV-001@", "'' (after '@') is not an element id"),
    ('"*@*"', "'*@*' is too broad: it would decide every finding at once"),
    ('"**@x"', "'**' (before '@') is not a threat id"),
])
def test_bad_keys(tmp_path: Path, key: str, expected: str) -> None:
    message = entry_errors(tmp_path, "status: open", key=key)
    assert ":3: decisions." in message  # the key's line
    assert expected in message


def test_key_check_is_also_applied_to_python_built_decisions() -> None:
    with pytest.raises(ValidationError, match="too broad"):
        Decisions(decisions={"*@*": Decision(status="open")})
    assert check_key("MT-DEV-001@*") == "MT-DEV-001@*"
    assert check_key("*@monitor.v2") == "*@monitor.v2"


def test_key_patterns_follow_the_model_and_the_catalog() -> None:
    assert typing.get_args(ThreatId)[1].pattern == THREAT_ID_PATTERN


@pytest.mark.parametrize(("entry", "line", "expected"), [
    ("status: open\ndate: 2026-13-01", 5,
     "'2026-13-01' is not a calendar date (month must be in 1..12); expected an ISO date"),
    ("status: open\ndate: '2026-02-30'", 5, "'2026-02-30' is not a calendar date"),
    ("status: open\ndate: 20261130", 5, "expected an ISO date YYYY-MM-DD, e.g. 2026-11-30 "
                                        "(got 20261130)"),
    ("status: open\ndate: 30.11.2026", 5, "(got '30.11.2026')"),
    ("status: open\ndate: 2026-11-30 10:00:00", 5, "(got datetime.datetime(2026, 11, 30"),
    ("status: open\njustifcation: typo", 5, "unknown key 'justifcation'; expected one of cvss, "
     "date, harm_ids, hazard_ids, hazardous_situation_ids, justification, owner, "
     "requirement_ids, status, ticket, verification_ids — did you mean 'justification'?"),
    ("status: open\ncvss: 'CVSS:3.1/AV:X'", 5, "invalid CVSS vector 'CVSS:3.1/AV:X'"),
    ("status: open\ncvss: 'AV:N/AC:L'", 5, "is not a CVSS 3.0, 3.1 or 4.0 vector"),
    ("justification: no status", 3, "decisions.MT-DEV-001@ecg_patch: required key 'status' "
                                    "is missing"),
    ("status: [open]", 4, "Input should be 'open', 'in_progress'"),
    ("status: open\nowner: [a, b]", 5, "owner: Input should be a valid string"),
    ("status: open\njustification: {a: 1}", 5, "justification: Input should be a valid string"),
    ("status: open\nticket: true", 5, "ticket: Input should be a valid string (got True)"),
    ("status: open\nhazard_ids: HAZ-1", 5, "hazard_ids: Input should be a valid list "
                                           "(got 'HAZ-1')"),
    ("status: open\nhazard_ids: [HAZ-1, ' HAZ-2']", 5,
     "hazard_ids[1]: ' HAZ-2' is not an id: ids are one line of text"),
    ("status: open\nverification_ids: [[VT-1]]", 5, "verification_ids[0]: Input should be a "
                                                    "valid string"),
])
def test_entry_errors(tmp_path: Path, entry: str, line: int, expected: str) -> None:
    message = entry_errors(tmp_path, entry)
    assert f"decisions.yaml:{line}: decisions.MT-DEV-001@ecg_patch" in message
    assert expected in message


@pytest.mark.parametrize(("text", "expected"), [
    ("- MT-A-1@x\n", "decisions.yaml:1: expected a mapping with the keys schema_version and "
                     "decisions; found a list"),
    ("decisions: [MT-A-1@x]\n", "decisions.yaml:1: decisions: expected a mapping from finding "
                                "id (or wildcard) to decision; found a list"),
    ("schema_version: 2\n", "decisions.yaml:1: schema_version: unsupported schema_version 2"),
    ("schema_version: 1\nowner: me\n", "decisions.yaml:2: owner: unknown key 'owner'; expected "
                                       "one of decisions, schema_version"),
    ("decisions:\n  MT-A-1@x:\n", "decisions.yaml:2: decisions.MT-A-1@x: expected a mapping "
                                  "with at least a status, e.g. {status: open}; found nothing"),
    ("decisions:\n  MT-A-1@x: accepted\n", "found text"),
    ("decisions:\n  123: {status: open}\n", "decisions.yaml:2: decisions.123: decision key 123 "
                                            "is a number, not text"),
    ("decisions:\n  *@monitor: {status: open}\n", "malformed YAML"),
    ("decisions:\n  MT-A-1@x: {status: open\n", "decisions.yaml:3: malformed YAML"),
])
def test_document_errors(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in errors_of(write(tmp_path, text))


def test_unquoted_wildcard_key_gets_a_hint(tmp_path: Path) -> None:
    message = errors_of(write(tmp_path, "decisions:\n  *@monitor: {status: open}\n"))
    assert message.startswith(f"{tmp_path / 'decisions.yaml'}:2: malformed YAML")
    assert 'keys starting with * must be quoted, e.g. "*@monitor":' in message


def test_duplicate_keys_are_errors_not_silently_dropped(tmp_path: Path) -> None:
    text = ("decisions:\n"
            "  MT-A-1@x:\n    status: accepted\n    justification: first thoughts\n"
            "  MT-B-2@y: {status: open, owner: a, owner: b}\n"
            "  MT-A-1@x:\n    status: open\n")
    message = errors_of(write(tmp_path, text))
    assert "decisions.yaml:5: decisions.MT-B-2@y.owner: duplicate key 'owner' (first at line 5)" \
        in message
    assert "decisions.yaml:6: decisions.MT-A-1@x: duplicate key 'MT-A-1@x' (first at line 2)" \
        in message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = ("schema_version: 1\n"
            "decisions:\n"
            "  MT-A-1@x: {status: accepted, color: red}\n"
            "  bad key: {status: open}\n"
            "  MT-C-3@z: {status: done}\n")
    with pytest.raises(DecisionsError) as info:
        load_decisions(write(tmp_path, text))
    assert [(p.line, p.path) for p in info.value.problems] == [
        (3, "decisions.MT-A-1@x.color"), (4, "decisions.bad key"),
        (5, "decisions.MT-C-3@z.status")]


# -- policy check ----------------------------------------------------------------------------


def test_accepted_without_justification_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "decisions:\n"
                           "  MT-A-1@x: {status: accepted}\n"
                           "  MT-B-2@x: {status: accepted, justification: '   '}\n"
                           "  MT-C-3@x: {status: accepted, justification: Residual risk low.}\n")
    issues = check(load_decisions(path))
    assert [(i.code, i.key, i.line) for i in issues] == [
        (IssueCode.missing_justification, "MT-A-1@x", 2),
        (IssueCode.missing_justification, "MT-B-2@x", 3),  # blank is not a justification
    ]
    assert str(issues[0]).startswith(f"{path}:2: decisions.MT-A-1@x: status 'accepted' needs a "
                                     "justification")


def test_justification_rule_by_status() -> None:
    decisions = Decisions(decisions={f"MT-S-{i}@x": Decision(status=s)
                                     for i, s in enumerate(STATUSES)})
    flagged = {decisions[i.key].status.value for i in check(decisions)}
    assert flagged == {"accepted", "transferred", "avoided", "false_positive"}


def test_unacceptable_risks(finding_ids: list[str]) -> None:
    decisions = load_decisions(DATA / "reference.yaml")
    unacceptable = {
        "MT-FLOW-008@monitor-to-central",  # accepted with justification: fine
        "MT-DEV-001@ecg_patch",  # mitigated with justification: fine
        "MT-FLOW-008@engine-to-ehr",  # only the in_progress wildcard: undecided
        "MT-DEV-003@ecg_patch",  # no decision at all
        "MT-HOSP-004@ehr",  # transferred by '*@ehr' with justification: fine
    }
    assert unacceptable <= set(finding_ids)
    issues = check(decisions, finding_ids, unacceptable=unacceptable)
    assert [(i.code, i.finding_id, i.key) for i in issues] == [
        (IssueCode.unacceptable_undecided, "MT-DEV-003@ecg_patch", ""),
        (IssueCode.unacceptable_undecided, "MT-FLOW-008@engine-to-ehr", "MT-FLOW-008@*"),
        (IssueCode.orphan, "", "*@ghost_device"),
        (IssueCode.orphan, "", "MT-DEV-001@removed_pump"),
        (IssueCode.orphan, "", "MT-NO-SUCH-THREAT@*"),
    ]
    assert "is still 'in_progress' by 'MT-FLOW-008@*'" in str(issues[1])


def test_accepted_unacceptable_risk_without_justification_names_the_finding(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "decisions:\n"
                           "  MT-DEV-001@*: {status: accepted}\n"
                           "  MT-DEV-002@pump: {status: mitigated}\n"
                           "  MT-DEV-003@pump: {status: accepted, justification: Lab use only.}\n")
    decisions = load_decisions(path)
    issues = check(decisions, unacceptable={"MT-DEV-001@pump", "MT-DEV-002@pump",
                                            "MT-DEV-003@pump"})
    assert [(i.code, i.key, i.finding_id) for i in issues] == [
        (IssueCode.missing_justification, "MT-DEV-001@*", ""),
        (IssueCode.unacceptable_unjustified, "MT-DEV-001@*", "MT-DEV-001@pump"),
        (IssueCode.unacceptable_unjustified, "MT-DEV-002@pump", "MT-DEV-002@pump"),
    ]
    assert str(issues[1]) == (
        f"{path}:2: decisions.MT-DEV-001@*: unacceptable residual risk MT-DEV-001@pump is "
        "'accepted' (through 'MT-DEV-001@*') without a justification; an unacceptable risk may "
        "only be closed with a written reason")
    # The same risk, acceptable: only the general rule applies.
    assert [i.code for i in check(decisions, unacceptable=set())] == [
        IssueCode.missing_justification]
