"""Every reader of user files, fed hostile and malformed inputs.

A deterministic sample runs here (``MEDTHREAT_FUZZ_EXAMPLES`` per reader, default 40, plus the
fixed list of classic hostile files); ``benchmarks/fuzz_readers.py`` runs 10,000 per reader.
A reader may accept an input or reject it with the product's own error naming where the problem
is; any other exception, an empty or flooding message, or more than 5 s on one input fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _fuzz import FuzzTarget, check_one, run_fuzz, special_inputs
from _fuzz_targets_core import TARGETS as CORE
from _fuzz_targets_formats import TARGETS as FORMATS

TARGETS: list[FuzzTarget] = [*CORE, *FORMATS]
EXAMPLES = int(os.environ.get("MEDTHREAT_FUZZ_EXAMPLES", "40"))

_FORMAT = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}


def test_every_reader_has_a_target() -> None:
    names = {t.name for t in TARGETS}
    assert len(names) == len(TARGETS), "target names must be unique"
    for reader in ("model-yaml", "model-json", "catalog", "policy", "decisions", "otm",
                   "threatdragon", "threagile", "pytm-json", "sbom-json", "sbom-xml", "kev",
                   "register-xlsx"):
        assert reader in names
    assert any(n.startswith("advisories") for n in names)


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_classic_hostile_files(target: FuzzTarget, tmp_path: Path) -> None:
    """Empty files, BOMs, deep nesting, huge strings, alias bombs, code tags, bad UTF-8."""
    crashes = []
    for data in special_inputs(_FORMAT.get(target.suffix, "other")):
        outcome, detail = check_one(target, data, tmp_path)
        if outcome == "crash":
            crashes.append(f"{detail}: {data[:80]!r}")
    assert not crashes, "\n".join(crashes)


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_generated_inputs(target: FuzzTarget, tmp_path: Path) -> None:
    stats = run_fuzz(target, tmp_path, examples=EXAMPLES, seed=0)
    assert not stats.crashes, "\n".join(stats.crashes)
    assert stats.inputs >= EXAMPLES * 0.9
    # The generator reaches both sides of the reader: inputs it accepts and ones it rejects
    # (``verify_log`` reports a damaged log in its result instead of raising).
    assert stats.accepted > 0
    assert stats.rejected > 0 or target.name == "audit-log"
