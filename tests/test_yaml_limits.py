"""Limits of the readers of user files: hostile or broken input gets a clear, short error.

Safe loading shares aliased data, so a "billion laughs" document loads in microseconds; what
walks the data afterwards (validation, JSON, exports) would expand it. The reader counts the
expanded entries on the composed node tree and refuses documents above the limit. The last
tests pin inputs that fuzzing the readers (``tests/_fuzz_targets_core.py``) found crashing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from _models import MINI_CATALOG

import medthreat as mt
from medthreat._yaml import MAX_EXPANDED_ENTRIES, _Loader, expanded_size, parse_text
from medthreat.errors import MedthreatError, Problem
from medthreat.lifecycle.audit import BreakKind, verify_log
from medthreat.lifecycle.review import load_events
from medthreat.risk.policy import RiskPolicy

REPO = Path(__file__).resolve().parents[1]


def bomb(levels: int, width: int = 10, where: str = "x") -> str:
    """``width ** levels`` list items from a few hundred bytes."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    lines.append(f"{where}: *l{levels - 1}")
    return "\n".join(lines) + "\n"


def compose(text: str) -> yaml.Node:
    node = yaml.compose(text, Loader=_Loader)
    assert node is not None
    return node


def test_expanded_size_counts_every_alias_use() -> None:
    # root + 3 keys + 3 copies of a two-item list (1 + 2 each)
    assert expanded_size(compose("a: &x [1, 2]\nb: *x\nc: *x\n")) == 1 + 3 + 3 * 3
    assert expanded_size(compose("a: [1, 2]\nb: [1, 2]\nc: [1, 2]\n")) == 13
    # 10**9 items: counting stops just above the limit, in linear time
    start = time.perf_counter()
    assert expanded_size(compose(bomb(9)), limit=1000) == 1001
    assert time.perf_counter() - start < 1.0
    assert expanded_size(compose("a: &x [1, *x]\n")) is None


def test_alias_bomb_is_refused_with_file_and_limit() -> None:
    start = time.perf_counter()
    with pytest.raises(MedthreatError) as info:
        parse_text(bomb(9), "bomb.yaml")
    assert time.perf_counter() - start < 2.0
    text = str(info.value)
    assert text.startswith("bomb.yaml:6: ")  # l5: 10**6 items, the first list over the limit
    assert f"aliases expand to more than {MAX_EXPANDED_ENTRIES:,} entries" in text


def test_aliases_below_the_limit_still_load() -> None:
    # 10**5 items through aliases: large, but an honest document could be that large
    data, _ = parse_text(bomb(5), "big.yaml")
    assert len(data["x"]) == 10 and len(data["x"][0][0][0][0]) == 10
    data, _ = parse_text("base: &b {kind: phi}\none: *b\ntwo: {<<: *b, extra: 1}\n", "m.yaml")
    assert data["two"] == {"kind": "phi", "extra": 1}


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(MedthreatError, match=r"r\.yaml:2: an alias refers to an entry that "
                       "contains it"):
        parse_text("a: 1\nb: &x {c: [*x]}\n", "r.yaml")


def test_limit_is_far_above_every_shipped_file() -> None:
    files = [*REPO.glob("catalogs/**/*.yaml"), *REPO.glob("notebooks/models/**/*.yaml")]
    assert len(files) > 20
    largest = max(expanded_size(compose(f.read_text(encoding="utf-8"))) or 0 for f in files)
    assert 1000 < largest < MAX_EXPANDED_ENTRIES // 100


def _catalog(path: Path) -> object:
    user = path.parent / "user"
    user.mkdir()
    (user / "threats.yaml").write_bytes(path.read_bytes())
    return mt.Catalog.load(MINI_CATALOG, user, shipped=False)


READERS: dict[str, tuple[str, Callable[[Path], object]]] = {
    "model": ("components", mt.load_model),
    "catalog": ("threats", _catalog),
    "policy": ("scales", RiskPolicy.load),
    "decisions": ("decisions", mt.load_decisions),
    "events": ("events", load_events),
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_every_reader_refuses_an_alias_bomb(tmp_path: Path, reader: str) -> None:
    key, read = READERS[reader]
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb(9, where=key), encoding="utf-8")
    start = time.perf_counter()
    with pytest.raises(MedthreatError, match="an alias bomb"):
        read(path)
    assert time.perf_counter() - start < 2.0


def test_a_character_yaml_does_not_allow_is_named_with_its_line() -> None:
    with pytest.raises(MedthreatError) as info:
        parse_text("a: 1\nb: x\x7fy\n", "c.yaml")
    assert str(info.value) == ("c.yaml:2: malformed YAML: character U+007F is not allowed "
                               "(control characters are not allowed); expected printable "
                               'text, write it as an escape such as "\\u007f" in a '
                               "double-quoted string")


def test_json_with_characters_yaml_does_not_allow_keeps_its_lines() -> None:
    # JSON strings may hold C1 controls and U+2028; the line map still finds every entry.
    text = '{\n "a": "x\x85y",\n "b\u2028": [\n  1,\n  {"c": "\x9f"}\n ],\n "d": 1,\n "d": 2\n}'
    with pytest.raises(MedthreatError, match=r"^j\.json:8: d: duplicate key 'd' \(first at "
                       r"line 7\)"):
        parse_text(text, "j.json", json_format=True)
    data, src = parse_text(text.replace('"d": 2', '"e": 2'), "j.json", json_format=True)
    assert data["b\u2028"][1] == {"c": "\x9f"}
    assert src.line(("b\u2028", 1, "c")) == 5 and src.line(("e",)) == 8


# -- inputs found by fuzzing ------------------------------------------------------------------


def test_a_huge_value_is_quoted_short(tmp_path: Path) -> None:
    path = tmp_path / "decisions.yaml"
    path.write_text("schema_version: 1\ndecisions:\n  MT-DEV-001@monitor:\n    status: "
                    + "\u00e9" * 500_000 + "\n", encoding="utf-8")
    with pytest.raises(mt.errors.DecisionsError) as info:
        mt.load_decisions(path)
    text = str(info.value)
    assert text.startswith(f"{path}:4: decisions.MT-DEV-001@monitor.status: Input should be")
    assert "(500,000 characters in all)" not in text  # the value, not the message, is long
    assert len(text) < 1000 and "characters in all)" in text


def test_a_key_with_a_bracket_is_named(tmp_path: Path) -> None:
    path = tmp_path / "decisions.yaml"
    path.write_text("schema[version: 1\ndecisions: {}\n", encoding="utf-8")
    with pytest.raises(mt.errors.DecisionsError, match=r"decisions\.yaml:1: schema\[version: "
                       r"unknown key 'schema\[version'; expected one of decisions, "
                       "schema_version"):
        mt.load_decisions(path)


def test_events_with_a_list_as_risk_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.yaml"
    path.write_text("events:\n  - id: A\n  - id: B\n    risk: [1, 2]\n", encoding="utf-8")
    with pytest.raises(MedthreatError, match=r"events\.yaml:3: events\[1\]: .*risk must be "
                       r"controlled or uncontrolled \(got \[1, 2\]\)"):
        load_events(path)


def test_events_csv_with_an_overlong_cell_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text('id\nA\n"' + "x" * 200_000 + '"\n', encoding="utf-8")
    with pytest.raises(MedthreatError, match=r"events\.csv:3: malformed CSV: field larger "
                       "than field limit"):
        load_events(path)
    path.write_bytes(b"id\nA\n\xff\n")
    with pytest.raises(MedthreatError, match=r"events\.csv:3: not UTF-8 text"):
        load_events(path)


def test_events_appearing_twice_name_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.yaml"
    path.write_text("events:\n  - id: A\n  - id: B\n  - id: A\n", encoding="utf-8")
    with pytest.raises(MedthreatError, match=r"events\.yaml:4: event id 'A' appears twice "
                       r"\(first at line 2\)"):
        load_events(path)


@pytest.mark.parametrize(("old", "kind"), [
    ("1e999", BreakKind.malformed),  # reads as infinity, which canonical JSON cannot write
    ("[" * 5000 + "]" * 5000, BreakKind.bad_json),
])
def test_audit_lines_json_cannot_write_back_are_reported(tmp_path: Path, old: str,
                                                         kind: BreakKind) -> None:
    entry = {"v": 1, "seq": 1, "time": "2026-11-30T09:00:00Z", "actor": "a", "source": "api",
             "note": "", "changes": [{"key": "k", "field": "status", "old": None, "new": "open"}],
             "prev": "0" * 64, "hash": "0" * 64}
    line = json.dumps(entry, sort_keys=True, separators=(",", ":")).replace(
        '"old":null', f'"old":{old}')
    path = tmp_path / "audit.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    report = verify_log(path)
    assert not report.ok and report.kind is kind and report.line == 1


def test_an_error_stays_readable_however_long_its_parts() -> None:
    problem = Problem("/work/" + "d" * 60 + "/model.yaml", 12_345, "k" * 10**6,
                      "value 'x" + "x" * 10**6 + "' is too long; expected at most 200 characters")
    text = str(MedthreatError([problem] * 40))
    assert len(text) < 20_000 and text.count("\n") == 25  # 25 problems, then "... and 15 more"
    first = text.splitlines()[0]
    assert first.startswith("/work/" + "d" * 60 + "/model.yaml:12345: kkk")
    assert "(1,000,000 characters in all)" in first  # the path, cut in the middle
    assert first.endswith("x' is too long; expected at most 200 characters")
