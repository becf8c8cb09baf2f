"""The stored notebooks are clean documents: narrated, executed, and free of volatile output.

nbval (``pytest --nbval notebooks/``) re-runs them and compares outputs; this module checks,
without a kernel, what nbval cannot: that what is stored is worth comparing (every code cell
ran without errors or warnings, nothing in an output depends on the machine or the moment)
and that only the explorer cell is excluded from the comparison.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from conftest import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"
EXPECTED = (
    "01_quickstart.ipynb",
    "02_ai_patient_monitoring.ipynb",
    "03_ai_surgical_robot.ipynb",
    "04_networked_imaging_ai_triage.ipynb",
    "05_risk_manager_roundtrip.ipynb",
    "06_submission_package.ipynb",
    "07_lifecycle.ipynb",
    "08_medthreat_itself.ipynb",
)
#: Output text that would make a stored output machine- or run-dependent.
VOLATILE = {
    "object address": re.compile(r" at 0x[0-9a-f]{6,}"),
    "absolute path": re.compile(r"(?<![\w.])/(?:tmp|home|root|work|Users)/"),
    "timing": re.compile(r"\b\d+\.\d+ ?s\b|done in \d|\belapsed\b|\bWall time\b"),
    "warning": re.compile(r"\w+Warning\b"),
}


def _load(name: str) -> dict[str, Any]:
    return json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))


def _text(value: str | list[str]) -> str:
    return value if isinstance(value, str) else "".join(value)


def _output_texts(cell: dict[str, Any]) -> list[str]:
    texts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            texts.append(_text(out["text"]))
        for mime, value in out.get("data", {}).items():
            if mime.startswith("text/") or mime == "image/svg+xml":
                texts.append(_text(value))
    return texts


def test_every_notebook_is_present_and_listed_in_the_readme() -> None:
    present = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert present == sorted(EXPECTED)
    readme = (NOTEBOOKS / "README.md").read_text(encoding="utf-8")
    for name in EXPECTED:
        assert f"`{name}`" in readme, name


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_is_narrated_and_fully_executed(name: str) -> None:
    nb = _load(name)
    cells = nb["cells"]
    assert cells[0]["cell_type"] == "markdown" and _text(cells[0]["source"]).startswith("# ")
    code = [c for c in cells if c["cell_type"] == "code"]
    markdown = [c for c in cells if c["cell_type"] == "markdown"]
    assert len(markdown) >= len(code) // 2, "too little narration"
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), "not executed top to bottom in one run"
    for cell in code:
        for out in cell["outputs"]:
            assert out["output_type"] != "error", _text(cell["source"])
            assert out.get("name") != "stderr", _text(cell["source"])
        assert "execution" not in cell.get("metadata", {}), "timestamps stored"
    # Everything after the setup cell shows something (a table, a card, a diagram, a count).
    silent = [_text(c["source"]) for c in code[1:] if not c["outputs"]]
    assert not silent, silent


@pytest.mark.parametrize("name", EXPECTED)
def test_outputs_hold_nothing_volatile(name: str) -> None:
    for cell in _load(name)["cells"]:
        if cell["cell_type"] != "code" or "NBVAL_IGNORE_OUTPUT" in _text(cell["source"]):
            continue
        for text in _output_texts(cell):
            for what, pattern in VOLATILE.items():
                match = pattern.search(text)
                assert match is None, f"{what} in output of {name}: {match.group(0)!r}"
        for out in cell["outputs"]:
            plain = _text(out.get("data", {}).get("text/plain", ""))
            assert not plain.startswith("<"), f"bare object repr in {name}: {plain[:80]}"


def test_only_the_explorer_cell_escapes_comparison() -> None:
    ignored = []
    for name in EXPECTED:
        for cell in _load(name)["cells"]:
            source = _text(cell["source"])
            if cell["cell_type"] == "code" and "NBVAL_" in source:
                ignored.append((name, source))
    assert len(ignored) == 1
    name, source = ignored[0]
    assert name == "01_quickstart.ipynb" and "explore(register)" in source
