"""`medthreat analyze` writes every document of an analysis into one folder (write_all)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import REFERENCE_MODEL

import medthreat as mt
from medthreat.export import write_all
from medthreat.export.bundle import BUNDLE_STEPS
from medthreat.export.diagram import dot_available
from medthreat.export.register import REGISTER_COLUMNS, register_json
from medthreat.export.views import architecture_views

EXPECTED = ("findings.json", "findings.csv", "register.json", "register.csv", "register.xlsx",
            "summary.md", "dfd.dot", "report.md", "report.html", "labeling.md")


@pytest.fixture(scope="module")
def register() -> mt.RiskRegister:
    return mt.assess(mt.analyze(mt.load_model(REFERENCE_MODEL)))


@pytest.fixture(scope="module")
def bundle(register: mt.RiskRegister, tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[Path, list[Path], list[tuple[str, int, int]]]:
    out = tmp_path_factory.mktemp("bundle")
    calls: list[tuple[str, int, int]] = []
    written = write_all(register, out, pdf=False,
                        progress=lambda label, i, n: calls.append((label, i, n)))
    return out, written, calls


def test_write_all_writes_every_document_and_returns_what_it_wrote(bundle) -> None:
    out, written, _ = bundle
    names = {p.relative_to(out).as_posix() for p in written}
    for name in EXPECTED:
        assert name in names, name
    assert all(p.is_file() and p.stat().st_size > 0 for p in written)
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert on_disk == names  # nothing written that the caller is not told about
    view_dots = sorted(n for n in names if n.startswith("views/") and n.endswith(".dot"))
    assert "views/dfd.dot" in view_dots and len(view_dots) >= 5


def test_progress_hears_every_step_in_order(bundle) -> None:
    _, _, calls = bundle
    assert [(i, n) for _, i, n in calls] == [(i, BUNDLE_STEPS)
                                             for i in range(1, BUNDLE_STEPS + 1)]
    assert any("workbook" in label for label, _, _ in calls)


def test_the_report_embeds_every_view_and_the_findings_carry_the_register(
        bundle, register: mt.RiskRegister) -> None:
    out, _, _ = bundle
    html = (out / "report.html").read_text(encoding="utf-8")
    md = (out / "report.md").read_text(encoding="utf-8")
    views = architecture_views(register)
    for view in views:
        assert view.title in html and view.title in md, view.id
        assert (out / "views" / f"{view.id}.dot").read_text(encoding="utf-8") == view.dot
    if dot_available():  # each view inline as SVG, drawn once for the files and the report
        assert html.count("<svg") >= len(views)
    doc = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    by_id = {f["id"]: f for f in doc["findings"]}
    assert set(by_id) == {a.id for a in register}
    for a in register:
        assert set(by_id[a.id]["register"]) == set(REGISTER_COLUMNS)
        assert by_id[a.id]["register"]["residual_risk"] == a.residual.level.id
    # the streamed register.json is the same text as the in-memory one
    assert (out / "register.json").read_text(encoding="utf-8") == register_json(register)


def test_cli_analyze_shows_progress_when_asked_and_is_quiet_otherwise(run_cli,
                                                                    tmp_path: Path) -> None:
    loud = run_cli("analyze", REFERENCE_MODEL, "--out", tmp_path / "a", "--no-pdf",
                   "--progress")
    assert loud.returncode == 0, loud.stderr
    total = 3 + BUNDLE_STEPS
    for i in range(1, total + 1):
        assert f"[{i}/{total}]" in loud.stderr
    assert "done in" in loud.stderr
    quiet = run_cli("analyze", REFERENCE_MODEL, "--out", tmp_path / "b", "--no-pdf")
    assert quiet.returncode == 0, quiet.stderr
    assert "[1/" not in quiet.stderr  # not a terminal, small model: no progress lines
    for name in ("report.md", "findings.json", "register.json", "labeling.md", "dfd.dot"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_cli_analyze_without_graphviz_warns_once_and_still_writes_the_documents(
        run_cli, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"  # a PATH with python and nothing else: no dot, no chromium
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = {**os.environ, "PATH": str(bin_dir)}
    done = run_cli("analyze", REFERENCE_MODEL, "--out", tmp_path / "out", env=env)
    assert done.returncode == 0, done.stderr
    dot_warnings = [line for line in done.stderr.splitlines()
                    if "warning" in line and "Graphviz" in line]
    assert len(dot_warnings) == 1, done.stderr
    assert (tmp_path / "out" / "views" / "dfd.dot").is_file()
    assert not list((tmp_path / "out").rglob("*.svg"))
    assert (tmp_path / "out" / "report.html").is_file()
