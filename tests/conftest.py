"""Shared fixtures. Keep this small: fixtures used by one test module belong in that module."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_MODEL = REPO_ROOT / "notebooks" / "models" / "ai_patient_monitoring.yaml"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_tool(name: str) -> str:
    """Return the path of the system tool `name`, or stop the test if it is missing.

    Locally a missing tool skips the test with the reason; under CI=true it fails it, because
    .ci/run is responsible for installing every tool the suite needs (add it there).
    """
    path = shutil.which(name)
    if path is None:
        reason = f"system tool {name!r} not found on PATH"
        if in_ci():
            pytest.fail(f"{reason}; CI=true, so .ci/run must install it", pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture(name="require_tool")
def _require_tool_fixture() -> Callable[[str], str]:
    """The `require_tool` helper as a fixture: `dot = require_tool("dot")`."""
    return require_tool


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def reference_model_path() -> Path:
    return REFERENCE_MODEL


RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_cli(repo_root: Path) -> RunCli:
    """Run `python -m medthreat.cli ARGS...` from the repo root and return the CompletedProcess.

    Output is captured as text; the exit code is not checked. Keyword arguments go to
    subprocess.run (e.g. `cwd=tmp_path`, `input=...`, `env=...`).
    """

    def run(*args: str | os.PathLike[str], **kwargs) -> subprocess.CompletedProcess[str]:
        kwargs.setdefault("cwd", repo_root)
        kwargs.setdefault("timeout", 300)
        return subprocess.run(
            [sys.executable, "-m", "medthreat.cli", *map(str, args)],
            capture_output=True,
            text=True,
            check=False,
            **kwargs,
        )

    return run
