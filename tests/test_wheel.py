"""The built wheel is what users install: it must carry the catalogs and work outside the repo.

Builds a wheel from this checkout, installs it into a fresh virtualenv (no system site-packages,
dependencies resolved by pip), and uses it from a directory outside the repository.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CATALOG_SUFFIXES = (".yaml", ".yml")

# Runs inside the installed venv with `python -I` (no cwd, no PYTHONPATH on sys.path), so only
# the installed package can be imported. An audit hook records which YAML files the shipped
# catalog load really opens, whatever API the loader uses to find them.
PROBE = r"""
import json, os, sys, sysconfig

opened = []

def _hook(event, args):
    if event == "open" and args and not isinstance(args[0], int) and args[0] is not None:
        path = os.path.abspath(os.fsdecode(args[0]))
        if path.endswith((".yaml", ".yml")):
            opened.append(path)

sys.addaudithook(_hook)

import medthreat

catalog = medthreat.Catalog.load()
print(json.dumps({
    "package_file": medthreat.__file__,
    "purelib": sysconfig.get_paths()["purelib"],
    "opened": sorted(set(opened)),
    "counts": {
        name: len(getattr(catalog, name))
        for name in ("component_types", "threats", "controls")
    },
}))
"""


def _clean_env(venv: Path | None = None) -> dict[str, str]:
    """The caller's environment without anything that would leak the repo or its venv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV"}
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
    return env


def _run(
    cmd: list[str | os.PathLike[str]], timeout: float, **kwargs
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(c) for c in cmd],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )
    assert proc.returncode == 0, (
        f"command failed ({proc.returncode}): {' '.join(str(c)[:120] for c in cmd)}\n"
        f"--- stdout ---\n{proc.stdout[-5000:]}\n--- stderr ---\n{proc.stderr[-5000:]}"
    )
    return proc


def _is_within(path: Path, parent: Path) -> bool:
    return path.resolve().is_relative_to(parent.resolve())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> Path:
    """Build the wheel with the running interpreter (PEP 517 build, isolated build env)."""
    out = tmp_path_factory.mktemp("dist")
    if importlib.util.find_spec("build") is not None:
        cmd = [sys.executable, "-m", "build", "--wheel", "--outdir", out, repo_root]
    else:  # `build` is in the dev extra; plain pip builds the same wheel
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", out, repo_root]
    _run(cmd, timeout=600, cwd=repo_root, env=_clean_env())
    wheels = sorted(out.glob("medthreat-*.whl"))
    assert len(wheels) == 1, f"expected one medthreat wheel in {out}, got {wheels}"
    return wheels[0]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, wheel: Path, repo_root: Path):
    """A fresh venv with the wheel installed, and a working directory outside the repo."""
    base = tmp_path_factory.mktemp("installed")
    venv = base / "venv"
    workdir = base / "work"
    workdir.mkdir()
    assert not _is_within(base, repo_root), "temporary directory must lie outside the repo"

    _run([sys.executable, "-m", "venv", venv], timeout=300, env=_clean_env())
    _run(
        [venv / "bin" / "python", "-m", "pip", "install", "--no-input", wheel],
        timeout=600,
        cwd=workdir,
        env=_clean_env(venv),
    )
    return venv, workdir


def test_wheel_ships_catalogs_and_entry_point(wheel: Path, repo_root: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(
            (zf.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt")), ""
        )

    shipped = {
        n for n in names if n.startswith("medthreat/catalogs/") and n.endswith(CATALOG_SUFFIXES)
    }
    assert shipped, f"{wheel.name} carries no medthreat/catalogs/*.yaml"

    source = repo_root / "catalogs"
    expected = {
        "medthreat/catalogs/" + p.relative_to(source).as_posix()
        for p in source.rglob("*")
        if p.is_file() and p.suffix in CATALOG_SUFFIXES
    }
    missing = sorted(expected - shipped)
    assert not missing, f"catalog files missing from the wheel: {missing}"

    assert "medthreat/__init__.py" in names
    for data_file in ("medthreat/schemas/findings.schema.json",
                      "medthreat/export/templates/report.md.j2",
                      "medthreat/export/templates/report.html.j2"):
        assert data_file in names, data_file
    stray = sorted(n for n in names if n.split("/", 1)[0] in {"catalogs", "tests", "notebooks"})
    assert not stray, f"top-level repo folders leaked into the wheel: {stray[:10]}"
    assert "medthreat = medthreat.cli:main" in entry_points, entry_points


def test_installed_wheel_loads_shipped_catalog(installed, repo_root: Path) -> None:
    venv, workdir = installed
    proc = _run(
        [venv / "bin" / "python", "-I", "-c", PROBE],
        timeout=300,
        cwd=workdir,
        env=_clean_env(venv),
    )
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    purelib = Path(report["purelib"])
    package_dir = Path(report["package_file"]).parent

    assert _is_within(purelib, venv), f"site-packages {purelib} is not the test venv's"
    assert _is_within(package_dir, purelib), f"medthreat imported from {package_dir}"
    assert not _is_within(package_dir, repo_root)

    counts = report["counts"]
    for kind, n in counts.items():
        assert n > 0, f"shipped catalog has no {kind}: {counts}"

    opened = [Path(p) for p in report["opened"]]
    assert opened, "Catalog.load() opened no YAML file"
    outside = [str(p) for p in opened if not _is_within(p, package_dir / "catalogs")]
    assert not outside, f"Catalog.load() read catalogs outside the installed package: {outside}"


def test_installed_cli_catalog_check(installed) -> None:
    venv, workdir = installed
    proc = subprocess.run(
        [str(venv / "bin" / "medthreat"), "catalog", "check"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=workdir,
        env=_clean_env(venv),
        check=False,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"


def test_installed_cli_analyze_writes_every_document(installed, repo_root: Path) -> None:
    """The report templates, the findings schema and openpyxl come with a plain install."""
    venv, workdir = installed
    model = workdir / "model.yaml"
    model.write_text((repo_root / "notebooks" / "models" / "ai_patient_monitoring.yaml")
                     .read_text(encoding="utf-8"), encoding="utf-8")
    out = workdir / "out"
    proc = subprocess.run(
        [str(venv / "bin" / "medthreat"), "analyze", str(model), "--out", str(out), "--no-pdf"],
        capture_output=True, text=True, timeout=300, cwd=workdir, env=_clean_env(venv),
        check=False,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    for name in ("findings.json", "register.xlsx", "report.md", "report.html", "labeling.md"):
        assert (out / name).stat().st_size > 0, name
    assert "## 6. Risk method and acceptance criteria" in (out / "report.md").read_text(
        encoding="utf-8")
