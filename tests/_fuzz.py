"""Fuzzing harness shared by ``tests/test_fuzz.py`` (a small deterministic sample) and
``benchmarks/fuzz_readers.py`` (10,000 inputs per reader).

A :class:`FuzzTarget` is one reader of user files: hypothesis generates the bytes of a file, the
harness writes them to disk and calls the reader. The reader may accept the file or reject it
with one of the product's own errors (``expected``); anything else, a reader that takes longer
than the time limit, or an error message that is not one readable paragraph is a crash.

The generic strategies below build inputs from a valid seed document: the seed itself, the seed
with one value replaced by a hostile value of the wrong type at any path, a key removed or added,
the serialised text cut short or with bytes flipped, plus YAML alias bombs, deep nesting, huge
strings, odd Unicode and bytes that are not UTF-8.
"""

from __future__ import annotations

import json
import resource
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medthreat.errors import MedthreatError

# ---------------------------------------------------------------------------------------------
# Targets and outcomes

TIME_LIMIT_S = 5.0          # one input, one reader
MAX_MESSAGE_CHARS = 20_000  # an error users can read (MedthreatError caps at 25 problems)


@dataclass(frozen=True)
class FuzzTarget:
    """One reader of user files under fuzzing."""

    name: str                                  # e.g. "model-yaml"
    suffix: str                                # file suffix the reader dispatches on
    inputs: st.SearchStrategy[bytes]           # whole file contents
    read: Callable[[Path], object]             # calls the product reader on the file
    expected: tuple[type[BaseException], ...] = (MedthreatError,)


@dataclass
class FuzzStats:
    """What one fuzzing run of one target saw."""

    target: str
    inputs: int = 0
    accepted: int = 0
    rejected: int = 0                       # the product's own error
    crashes: list[str] = field(default_factory=list)
    crash_kinds: Counter[str] = field(default_factory=Counter)
    slowest_s: float = 0.0
    seconds: float = 0.0
    # The largest rise of the process's peak memory during one input, and that input's start:
    # a reader that needs much memory for one file shows here, whatever ran before it.
    largest_rise_mb: float = 0.0
    largest_rise_input: bytes = b""


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def check_one(target: FuzzTarget, data: bytes, folder: Path) -> tuple[str, str]:
    """Run the reader on ``data``; return (outcome, detail) with outcome accepted|rejected|crash."""
    path = folder / f"input{target.suffix}"
    path.write_bytes(data)
    start = time.perf_counter()
    try:
        target.read(path)
        outcome, detail = "accepted", ""
    except target.expected as exc:
        text = str(exc)
        if not text.strip():
            outcome, detail = "crash", f"{type(exc).__name__} with an empty message"
        elif len(text) > MAX_MESSAGE_CHARS:
            outcome, detail = "crash", f"{type(exc).__name__} message of {len(text)} characters"
        else:
            outcome, detail = "rejected", ""
    except Exception as exc:  # the point of fuzzing: any other exception is a crash
        frames = traceback.extract_tb(exc.__traceback__)
        where = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames)
                      if "medthreat" in f.filename), frames[-1].name if frames else "?")
        outcome, detail = "crash", f"{type(exc).__name__} at {where}: {str(exc)[:200]}"
    elapsed = time.perf_counter() - start
    if outcome != "crash" and elapsed > TIME_LIMIT_S:
        outcome, detail = "crash", f"took {elapsed:.1f} s (limit {TIME_LIMIT_S} s)"
    return outcome, detail + ("" if outcome != "crash" else f" [{elapsed:.2f} s]")


def run_fuzz(target: FuzzTarget, folder: Path, *, examples: int, seed: int | None = 0,
             progress: Callable[[FuzzStats], None] | None = None,
             keep: Callable[[bytes], None] | None = None) -> FuzzStats:
    """Feed ``examples`` generated inputs to one reader; collect outcomes instead of stopping.

    ``keep`` (optional) receives every generated input, e.g. to seed a coverage-guided fuzzer.
    """
    stats = FuzzStats(target.name)
    folder.mkdir(parents=True, exist_ok=True)
    begin = time.perf_counter()

    @settings(max_examples=examples, database=None, deadline=None, derandomize=seed is not None,
              suppress_health_check=list(HealthCheck), phases=("generate",))
    @given(target.inputs)
    def feed(data: bytes) -> None:
        if keep is not None:
            keep(data)
        start = time.perf_counter()
        peak_before = _peak_rss_mb()
        outcome, detail = check_one(target, data, folder)
        stats.slowest_s = max(stats.slowest_s, time.perf_counter() - start)
        rise = _peak_rss_mb() - peak_before
        if rise > stats.largest_rise_mb:
            stats.largest_rise_mb, stats.largest_rise_input = rise, data[:120]
        stats.inputs += 1
        if outcome == "accepted":
            stats.accepted += 1
        elif outcome == "rejected":
            stats.rejected += 1
        else:
            kind = detail.split(":")[0] if " at " in detail else detail.split(" [")[0]
            stats.crash_kinds[kind] += 1
            if len(stats.crashes) < 20:
                stats.crashes.append(f"{detail}\n    input: {data[:300]!r}")
        if progress is not None and stats.inputs % 500 == 0:
            progress(stats)

    feed()
    stats.seconds = time.perf_counter() - begin
    return stats


# ---------------------------------------------------------------------------------------------
# Generic strategies

ODD_TEXT = [
    "",
    " ",
    "\u202e\u0645\u0631\u062d\u0628\u0627",        # right-to-left override + Arabic
    "e\u0301\u0301\u0301\u0301",                    # stacked combining marks
    "\U0001f489\U0001f9ec\U0001f468\u200d\u2695\ufe0f",  # emoji with a zero-width joiner
    "\ufeffbom",
    "nul\x00byte",
    "\uffff\ufffe",                                # noncharacters
    "line\r\nbreak\u2028sep",
    "=cmd|' /C calc'!A0",
    "<script>alert(1)</script>",
    "{{ 7*7 }}",
    "../../etc/passwd",
    "C:\\Windows\\system32",
    "yes", "no", "on", "off", "null", "~", "0x1F", "1e309", "-.inf", ".nan",
    "2026-13-45", "12:30:00",
]

hostile_scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 10**400 // 10**300, 0, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(ODD_TEXT),
    st.builds(lambda n, c: c * n, st.sampled_from([1_000, 100_000, 500_000]),
              st.sampled_from(["A", "\u00e9", "\U0001f489", "\n"])),
)

hostile_values: st.SearchStrategy[Any] = st.recursive(
    hostile_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=12), children, max_size=4)),
    max_leaves=8,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``doc`` (mapping keys and list indexes), the root included."""
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            out.extend(_paths(value, (*prefix, index)))
    return out


def _copy(doc: Any) -> Any:
    return json.loads(json.dumps(doc))


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    doc = _copy(doc)
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return doc


def _delete(doc: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return doc
    doc = _copy(doc)
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]
    return doc


def _add_key(doc: Any, path: tuple[Any, ...], key: str, value: Any) -> Any:
    doc = _copy(doc)
    target = doc
    for part in path:
        target = target[part]
    if isinstance(target, dict):
        target[key] = value
    elif isinstance(target, list):
        target.append(value)
    return doc


_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(doc: Any, fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps(doc, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")
    return yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False).encode(
        "utf-8", "surrogatepass")


@st.composite
def mutated(draw: st.DrawFn, seed: Any, fmt: str) -> bytes:
    """The seed document with 1-3 structural mutations at random paths, serialised."""
    doc = seed
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add"]))
        if action == "replace":
            doc = _replace(doc, path, draw(hostile_values))
        elif action == "delete":
            doc = _delete(doc, path)
        else:
            doc = _add_key(doc, path, draw(st.text(max_size=10)), draw(hostile_values))
    try:
        return _dump(doc, fmt)
    except (ValueError, TypeError, yaml.YAMLError):  # e.g. NaN keys; fall back to the seed
        return _dump(seed, fmt)


@st.composite
def byte_mutated(draw: st.DrawFn, raw: bytes) -> bytes:
    """The serialised seed cut short, with bytes flipped, inserted or removed."""
    data = bytearray(raw)
    action = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "splice"]))
    if not data:
        return bytes(draw(st.binary(max_size=64)))
    pos = draw(st.integers(0, len(data) - 1))
    if action == "truncate":
        del data[pos:]
    elif action == "flip":
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] ^= 1 << draw(st.integers(0, 7))
    elif action == "insert":
        data[pos:pos] = draw(st.sampled_from(
            [b"&a ", b"*a", b"!!python/object/apply:os.system ['true']", b"\x00", b"\xff\xfe",
             b"{", b"[", b"]", b"}", b"\t", b": ", b"- ", b"<<: *a\n", b"? ", b"'", b'"',
             b"%YAML 9\n", b"\xed\xa0\x80", b"---\n", b"...\n"]))
    elif action == "delete":
        del data[pos:pos + draw(st.integers(1, 40))]
    else:
        other = draw(st.integers(0, len(data) - 1))
        data[pos:pos] = data[other:other + draw(st.integers(1, 200))]
    return bytes(data)


def alias_bomb(levels: int = 9, width: int = 10, *, where: str = "") -> bytes:
    """A billion-laughs YAML document: ``width ** levels`` entries from a few hundred bytes."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    if where:
        lines.append(f"{where}: *l{levels - 1}")
    return ("\n".join(lines) + "\n").encode()


def deep_nesting(depth: int, fmt: str = "yaml") -> bytes:
    """A document nested ``depth`` levels deep, in flow style or JSON."""
    if fmt == "json":
        return ("[" * depth + "]" * depth).encode()
    return ("a: " + "[" * depth + "]" * depth + "\n").encode()


def special_inputs(fmt: str, key: str = "x") -> list[bytes]:
    """Classic hostile files for a YAML (``fmt="yaml"``), JSON (``"json"``) or other reader."""
    yaml_only = [
        alias_bomb(where=key), alias_bomb(levels=6, width=30, where=key),
        b"!!python/object/apply:os.system ['touch /tmp/medthreat-pwned']\n",
        b"x: !!python/name:os.system\n",
        b"x: !!binary AAAA\n", b"x: !!set {a, b}\n", b"x: !!omap [a: 1]\n",
        b"%YAML 1.1\n---\na: 1\n---\nb: 2\n",
        b"a: 1\na: 2\n", b"? [a, b]\n: c\n", b"<<: [1, 2]\n",
        b"x: 2026-13-45\n", b"x: 2026-02-30T25:61:00Z\n",
        b"\t- tab\n", b"x: \"\\ud800\"\n",
    ]
    common = [
        b"", b"\n", b"\xef\xbb\xbf", b"\xff\xfe\x00", b"null", b"[]", b"{}", b"0", b'"text"',
        deep_nesting(50, fmt), deep_nesting(5_000, fmt), deep_nesting(200_000, fmt),
        b"x" * 3_000_000, ("\u202e" * 10_000).encode(), b"\x00" * 1000,
        b"\x80\x81\x82 not utf-8",
    ]
    json_only = [b'{"a": 1, "a": 2}', b"[1e999]", b'{"a": NaN}', b'"\\ud800"',
                 ('{"x": "' + "A" * 2_000_000 + '"}').encode()]
    return common + {"yaml": yaml_only, "json": json_only}.get(fmt, [])


def specials(fmt: str, key: str = "x") -> st.SearchStrategy[bytes]:
    """:func:`special_inputs` as a strategy."""
    return st.sampled_from(special_inputs(fmt, key))


def document_inputs(seed: Any, fmt: str, *, key: str = "x") -> st.SearchStrategy[bytes]:
    """The mix used for every structured reader: structural, byte-level and classic inputs."""
    raw = _dump(seed, fmt)
    return st.one_of(
        mutated(seed, fmt),
        mutated(seed, fmt),
        byte_mutated(raw),
        specials(fmt, key),
    )


def feed_sample(target: FuzzTarget, tmp_path: Path, examples: int) -> FuzzStats:
    """Run a deterministic sample for the test suite."""
    return run_fuzz(target, tmp_path / target.name, examples=examples, seed=0)


__all__ = [
    "FuzzStats", "FuzzTarget", "alias_bomb", "byte_mutated", "check_one", "deep_nesting",
    "document_inputs", "feed_sample", "hostile_scalars", "hostile_values", "mutated",
    "run_fuzz", "special_inputs", "specials",
]

