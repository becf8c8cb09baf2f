"""No medthreat output attacks its reader: a model full of hostile text goes through every writer.

The reference model gets formulas, HTML, Markdown, DOT, path and template syntax, terminal
escape sequences and a right-to-left override in every free text field a user controls
(system, boundaries, data, components, interfaces, actors, flows, control evidence, the
decisions file and a user catalog). Every file the command line writes is then checked in its
own format: no formula cells, no live script or links, no control characters in documents for
people, tables that keep their columns, diagrams with exactly the model's nodes, data formats
that give the text back exactly, file names that stay inside the output folder.
"""

from __future__ import annotations

import copy
import csv
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import jinja2
import openpyxl
import pytest
import yaml
from conftest import REFERENCE_MODEL, in_ci, require_tool

import medthreat as mt
from medthreat.export._text import csv_text, markdown_cell
from medthreat.export.diagram import dfd_dot
from medthreat.export.report import _env as report_env
from medthreat.export.views import architecture_views

REFERENCE_DIR = REFERENCE_MODEL.parent

#: Formula-like text: each must reach a spreadsheet as a text cell with exactly this text.
FORMULAS = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1",
            "=cmd|' /C calc'!A0"]
HTML = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
        '"><svg onload=alert(1)>', "javascript:alert(1)"]
MARKDOWN = ["[click](javascript:alert(1))", "![x](http://evil/x.png)", "| pipe | table |",
            "`tick` ``` fence", "<!-- open comment"]
DOT = ['"] ; evil [label="', "<<b>html label</b>>", "\\l\\n\\\\", "}", "->"]
PATHS = ["../../etc/passwd", "..\\..\\win", "/abs/path", "con", "a/b"]
TEMPLATES = ["{{ config }}", "{% for x in y %}", "{{ 7*7 }}"]
#: Terminal escape sequences and a bell (NUL cannot be written in YAML).
CONTROL = "\x1b[31mred\x1b]8;;http://evil\x07link\x1b]8;;\x07\x1b[0m"
OTHER = ["\u202eRTL override", "long " + "x" * 3000, CONTROL]
PAYLOADS = FORMULAS + HTML + MARKDOWN + DOT + PATHS + TEMPLATES + OTHER
#: One string with every payload, for the long description fields.
EVERYTHING = "\n".join(PAYLOADS)


class _Payloads:
    """Hands out the payloads in turn, so every payload lands in several kinds of field."""

    def __init__(self) -> None:
        self.i = 0

    def __call__(self) -> str:
        value = PAYLOADS[self.i % len(PAYLOADS)]
        self.i += 1
        return value


def hostile_model_data(seed: int = 0) -> dict[str, Any]:
    """The reference model with hostile text in every free-text field (and odd but valid ids)."""
    data = yaml.safe_load(REFERENCE_MODEL.read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    nxt = _Payloads()
    nxt.i = seed
    system = data["system"]
    system["name"] = "=HYPERLINK(\"http://x\",\"y\") <script>alert(1)</script> {{ 7*7 }} | x |"
    system["version"] = "+1+1"
    system["manufacturer"] = "<img src=x onerror=alert(1)>"
    system["description"] = EVERYTHING
    system["intended_use"] = EVERYTHING
    system["assumptions"] = list(PAYLOADS)
    system["reviewed_by"] = "@SUM(A1)"
    for section in ("boundaries", "data", "components", "actors", "flows"):
        for item in data[section]:
            item["name"] = nxt()
            item["description"] = nxt()
            if item.get("out_of_scope"):
                item["out_of_scope_reason"] = nxt()
            for i, interface in enumerate(item.get("interfaces", [])):
                if isinstance(interface, str):
                    interface = {"kind": interface}
                interface["name"] = nxt()
                interface["description"] = nxt()
                item["interfaces"][i] = interface
    for control in data["controls"]:
        control["evidence"] = nxt()
    # Odd but valid ids: a reserved Windows device name and dots.
    _rename(data, "ecg_patch", "con")
    _rename(data, "nurse", "a..b")
    # One component with an SBOM, so VEX has vulnerability findings to decide.
    for component in data["components"]:
        if component["id"] == "monitor":
            component["sbom"] = "sbom/monitor_firmware.cdx.json"
    return data


def _rename(data: dict[str, Any], old: str, new: str) -> None:
    """Rename element ``old`` to ``new`` everywhere the model refers to it."""
    for section in ("components", "actors"):
        for item in data[section]:
            if item["id"] == old:
                item["id"] = new
    for flow in data["flows"]:
        for end in ("source", "target"):
            if flow[end] == old:
                flow[end] = new
    for control in data["controls"]:
        control["targets"] = [new if t == old else t for t in control["targets"]]


def write_model(data: dict[str, Any], folder: Path, name: str = "model.yaml") -> Path:
    """Write the model (and the SBOM it names) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sbom").mkdir(exist_ok=True)
    shutil.copy(REFERENCE_DIR / "sbom" / "monitor_firmware.cdx.json", folder / "sbom")
    path = folder / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000),
                    encoding="utf-8")
    return path


def _link_id_ok(text: str) -> bool:
    return bool(text) and text == text.strip() and "\n" not in text and "\r" not in text


def hostile_decisions(data: dict[str, Any]) -> dict[str, Any]:
    """Decisions on every element (``*@id``) with hostile justifications, owners and tickets."""
    statuses = ["accepted", "transferred", "mitigated", "in_progress", "false_positive", "avoided"]
    nxt = _Payloads()
    decisions: dict[str, Any] = {}
    elements = [*data["components"], *data["actors"], *data["flows"]]
    for i, element in enumerate(elements):
        links = [p for p in (nxt(), nxt()) if _link_id_ok(p)]
        decisions[f"*@{element['id']}"] = {
            "status": statuses[i % len(statuses)], "justification": nxt(), "owner": nxt(),
            "date": "2026-11-30", "ticket": nxt(), "hazard_ids": links, "harm_ids": links}
    return {"schema_version": 1, "decisions": decisions}


def hostile_catalog(folder: Path) -> Path:
    """A user catalog whose threat, control and framework texts are hostile."""
    folder.mkdir(parents=True, exist_ok=True)
    catalog = {
        "threats": [{
            "id": "ACME-X-001", "title": "<script>alert(1)</script> | a | b |",
            "stride": "tampering", "applies_to": ["process"],
            "condition": {"element.category": "device"},
            "description": '=HYPERLINK("http://x","y") [click](javascript:alert(1))',
            "impact": "<img src=x onerror=alert(1)>", "mitigation": "{{ 7*7 }}",
            "controls": ["CTL-ACME-001"]}],
        "controls": [{
            "id": "CTL-ACME-001", "effect": {"exploitability": 1, "severity": 0},
            "title": '"] ; evil [label=" <b>x</b> | c |', "kind": "technical",
            "fda_category": "authorization", "description": "@SUM(A1)"}],
        "frameworks": [{
            "id": "acme", "name": "<script>alert(1)</script> | d | e |",
            "title": "=cmd|' /C calc'!A0", "description": "[click](javascript:alert(1))",
            "requirements": [{"id": "ACME:1", "title": "<img src=x onerror=alert(1)> | f |",
                              "description": "{{ 7*7 }}", "fda_categories": ["authorization"],
                              "controls": ["CTL-ACME-001"]}]}],
    }
    (folder / "acme.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False), encoding="utf-8")
    return folder


def hostile_revision(data: dict[str, Any]) -> dict[str, Any]:
    """The next revision: other hostile names, one flow fewer, one hostile component more."""
    new = hostile_model_data(seed=5)
    new["flows"] = new["flows"][1:]
    new["components"].append({"id": "added", "name": '"><svg onload=alert(1)> | new |',
                              "type": "cloud_service", "boundary": "vendor_cloud",
                              "description": EVERYTHING})
    for control in new["controls"]:
        if control["status"] == "planned":
            control["status"] = "implemented"
    return new


def _cli(*args: str | Path, cwd: Path, ok: tuple[int, ...] = (0,)) -> None:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run([sys.executable, "-m", "medthreat.cli", *map(str, args)],
                          capture_output=True, text=True, check=False, cwd=cwd, env=env,
                          timeout=600)
    assert proc.returncode in ok, (args, proc.returncode, proc.stderr[-3000:])


@dataclass
class Run:
    """Everything the hostile model produced, and what it was made from."""

    root: Path
    out: Path
    model: dict[str, Any]
    decisions: dict[str, Any]
    files: list[Path]
    pdf: bool
    seconds: float


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    started = time.monotonic()
    root = tmp_path_factory.mktemp("hostile")
    data = hostile_model_data()
    model = write_model(data, root / "model")
    new = write_model(hostile_revision(data), root / "model", "model_v2.yaml")
    decisions = hostile_decisions(data)
    decisions_file = root / "model" / "decisions.yaml"
    decisions_file.write_text(yaml.safe_dump(decisions, allow_unicode=True, sort_keys=False),
                              encoding="utf-8")
    catalog = hostile_catalog(root / "catalog")
    advisories = REFERENCE_DIR / "sbom" / "advisories.osv.json"
    out = root / "out"
    pdf = shutil.which("chromium") is not None or in_ci()
    risk = ["--catalog", catalog, "--decisions", decisions_file, "--advisories", advisories]
    jobs: list[tuple[tuple[str | Path, ...], tuple[int, ...]]] = [
        (("analyze", model, "--out", out / "analyze", *risk,
          *(() if pdf else ("--no-pdf",))), (0,)),
        *((("diff", model, new, "--catalog", catalog, "--decisions", decisions_file,
            "--out", out / f"diff.{ext}"), (0, 1)) for ext in ("md", "html", "xlsx")),
        (("playbook", model, "--catalog", catalog, "--out", out / "playbook.md"), (0,)),
        (("vex", model, *risk, "--timestamp", "2026-11-30T00:00:00Z",
          "--out", out / "vex.cdx.json"), (0,)),
        *((("export", model, *risk, "--format", fmt, "--out", out / f"{fmt}.json"), (0,))
          for fmt in ("otm", "threatdragon")),
        *((("coverage", model, "--catalog", catalog, "--out", out / f"coverage.{ext}"), (0,))
          for ext in ("md", "json")),
        (("metrics", "--decisions", decisions_file, "--today", "2026-11-30",
          "--out", out / "metrics.md"), (0,)),
        (("metrics", "--decisions", decisions_file, "--today", "2026-11-30", "--json",
          "--out", out / "metrics.json"), (0,)),
        (("catalog", "doc", "--catalog", catalog, "--out", out / "catalog.md"), (0,)),
    ]
    if importlib.util.find_spec("pytm") is not None:
        jobs += [(("compare-pytm", model, "--catalog", catalog, "--out", out / f"pytm.{ext}"),
                  (0,)) for ext in ("md", "csv")]
    out.mkdir()
    with ThreadPoolExecutor(max_workers=2) as pool:
        for result in pool.map(lambda job: _cli(*job[0], cwd=root, ok=job[1]), jobs):
            assert result is None
    files = sorted(p for p in out.rglob("*") if p.is_file())
    return Run(root, out, data, decisions, files, pdf, time.monotonic() - started)


# -- what was written -------------------------------------------------------------------------

VIEWS = ("dfd", "global", "multi_patient", "updatability", "use_case_alarming",
         "use_case_data_display", "use_case_decision_support", "use_case_monitoring")
EXPECTED = {
    "xlsx": ["analyze/register.xlsx", "diff.xlsx"],
    "csv": ["analyze/findings.csv", "analyze/register.csv", "pytm.csv"],
    "html": ["analyze/report.html", "diff.html"],
    "svg": ["analyze/dfd.svg", *(f"analyze/views/{v}.svg" for v in VIEWS)],
    "md": ["analyze/labeling.md", "analyze/report.md", "analyze/summary.md", "catalog.md",
           "coverage.md", "diff.md", "metrics.md", "playbook.md", "pytm.md"],
    "dot": ["analyze/dfd.dot", *(f"analyze/views/{v}.dot" for v in VIEWS)],
    "json": ["analyze/findings.json", "analyze/register.json", "coverage.json", "metrics.json",
             "otm.json", "threatdragon.json", "vex.cdx.json"],
    "png": [f"analyze/views/{v}.png" for v in VIEWS],
    "pdf": ["analyze/report.pdf"],
}


def _files(kind: str) -> list[Any]:
    return list(EXPECTED[kind])


def _optional(run: Run, name: str) -> bool:
    return (name.startswith("pytm.") and importlib.util.find_spec("pytm") is None) or (
        name.endswith(".pdf") and not run.pdf)


def _path(run: Run, name: str) -> Path:
    if _optional(run, name):
        pytest.skip(f"{name} needs an optional tool that is not installed")
    return run.out / name


def test_every_file_written_is_checked_and_stays_inside_the_output_folder(run: Run) -> None:
    written = {p.relative_to(run.out).as_posix() for p in run.files}
    expected = {n for names in EXPECTED.values() for n in names if not _optional(run, n)}
    assert written == expected
    root = run.out.resolve()
    for path in run.files:
        assert path.resolve().is_relative_to(root)
        for part in path.relative_to(run.out).parts:
            assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", part), part
            assert ".." not in part


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Payloads that show up unchanged in text formats (leading tab or CR may become a space).
VISIBLE = [p for p in PAYLOADS if not p[0].isspace() and p not in (CONTROL, OTHER[0])]
#: What no document for people may hold: C0/C1 control characters other than tab, LF and CR,
#: and the bidirectional embeddings, overrides and isolates that reorder the text around them.
CONTROL_CHARACTERS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize("name", _files("xlsx"))
def test_spreadsheet_cells_are_text_never_formulas_or_links(run: Run, name: str) -> None:
    path = _path(run, name)
    with zipfile.ZipFile(path) as z:
        for member in z.namelist():
            xml = z.read(member).decode("utf-8")
            assert not re.search(r"<(\w+:)?f[ >/]", xml), member  # no formula element
            assert not re.search(r"<(\w+:)?hyperlink[ >/]", xml), member
            assert "relationships/hyperlink" not in xml, member
            assert 'TargetMode="External"' not in xml, member
    workbook = openpyxl.load_workbook(path)
    values: list[str] = []
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.hyperlink is None, cell.coordinate
                if isinstance(cell.value, str):
                    values.append(cell.value)
                    if cell.value.startswith(FORMULA_START):
                        assert cell.data_type == "s" and cell.quotePrefix, (
                            sheet.title, cell.coordinate, cell.value[:40])
    for formula in FORMULAS:  # exactly the text the model holds, as a text cell
        assert formula in values, formula


def _excel_rows(text: str) -> list[list[str]]:
    """Split CSV the way Excel does: a bare CR or LF outside quotes ends the record."""
    rows: list[list[str]] = []
    row: list[str] = []
    field: list[str] = []
    quoted = False
    i = 0
    while i < len(text):
        c = text[i]
        if quoted:
            if c == '"' and text[i + 1:i + 2] == '"':
                field.append('"')
                i += 1
            elif c == '"':
                quoted = False
            else:
                field.append(c)
        elif c == '"' and not field:
            quoted = True
        elif c == ",":
            row.append("".join(field))
            field = []
        elif c in "\r\n":
            row.append("".join(field))
            rows.append(row)
            row, field = [], []
            if c == "\r" and text[i + 1:i + 2] == "\n":
                i += 1
        else:
            field.append(c)
        i += 1
    if field or row:
        row.append("".join(field))
        rows.append(row)
    return rows


@pytest.mark.parametrize("name", _files("csv"))
def test_csv_cells_are_defused_and_rows_survive_every_reader(run: Run, name: str) -> None:
    text = _path(run, name).read_bytes().decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert _excel_rows(text) == rows  # no CR or LF outside quotes inside a record
    assert len({len(r) for r in rows}) == 1
    cells = [c for r in rows for c in r]
    assert not [c for c in cells if c.startswith(FORMULA_START)]
    # The documented defusing: one leading apostrophe, which gives the text back.
    shown = [p for p in FORMULAS if any(p in c for c in cells)]
    assert shown, "the hostile text reaches this file"
    for formula in shown:
        assert "'" + formula in cells, formula

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_ACTIVE_TAGS = {"script", "iframe", "object", "embed", "img", "image", "foreignobject", "form",
                "input", "base", "link", "animate", "set", "use", "audio", "video", "frame"}


class _Markup(HTMLParser):
    """Elements, text and table shapes of an HTML document, read by the standard library."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.tables: list[list[int]] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append(0)
        elif tag in ("td", "th") and self.tables and self.tables[-1]:
            self.tables[-1][-1] += 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _markup_is_inert(elements: Iterable[tuple[str, dict[str, str]]]) -> None:
    """No active elements, no event handlers, no links except fragments within the page."""
    for tag, attrs in elements:
        tag = tag.rsplit("}", 1)[-1].lower()
        assert tag not in _ACTIVE_TAGS, tag
        if tag == "meta" and "http-equiv" in attrs:
            assert attrs["http-equiv"].lower() == "content-security-policy"
        for key, value in attrs.items():
            local = key.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()
            assert not local.startswith("on"), (tag, key)
            if local in ("href", "src", "action", "formaction", "background"):
                assert value.startswith("#"), (tag, key, value[:80])
            assert "javascript:" not in value.lower() or local in ("title", "alt"), (tag, key)


def _normal(text: str) -> str:
    return " ".join(text.split())


def _element_names(run: Run) -> list[str]:
    names = [e["name"] for s in ("components", "actors") for e in run.model[s]]
    return [n for n in names if n in VISIBLE and not n.startswith("long ")]


@pytest.mark.parametrize("name", _files("html") + _files("svg"))
def test_html_and_svg_show_hostile_text_only_as_text(run: Run, name: str) -> None:
    raw = _path(run, name).read_text(encoding="utf-8")
    assert "<script" not in raw.lower() and "<img" not in raw.lower()
    assert not CONTROL_CHARACTERS.search(raw)
    if name.endswith(".svg"):
        root = ElementTree.fromstring(raw)  # well-formed XML
        _markup_is_inert((e.tag, dict(e.attrib)) for e in root.iter())
        text = _normal("".join(root.itertext()))
    else:
        markup = _Markup(raw)
        _markup_is_inert(markup.elements)
        text = _normal("".join(markup.text))
        # A page that went wrong anyway could run no script and fetch nothing.
        policies = [a["content"] for t, a in markup.elements
                    if t == "meta" and a.get("http-equiv", "").lower() == "content-security-policy"]
        assert policies == [CSP]
    if name == "analyze/report.html":
        for payload in VISIBLE:
            assert _normal(payload) in text, payload
    if name in ("analyze/report.html", "diff.html", "analyze/dfd.svg"):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw
        assert "{{ 7*7 }}" in text
    if name.endswith("dfd.svg"):
        for element_name in _element_names(run):
            assert _normal(element_name) in text, element_name


def _cells(line: str) -> int:
    """Cells of a Markdown table row: every pipe splits unless backslash-escaped."""
    body = line.strip()
    parts, field, i, closed = [], "", 0, False
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            field, i, closed = field + body[i:i + 2], i + 2, False
            continue
        if body[i] == "|":
            parts.append(field)
            field, closed = "", True
        else:
            field, closed = field + body[i], False
        i += 1
    if not closed:
        parts.append(field)
    return len(parts) - body.startswith("|")


def _tables(text: str) -> list[list[str]]:
    tables: list[list[str]] = []
    block: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append(line)
        elif block:
            tables.append(block)
            block = []
    return tables


@pytest.mark.parametrize("name", _files("md"))
def test_markdown_keeps_hostile_text_inert_and_tables_intact(run: Run, name: str) -> None:
    text = _path(run, name).read_text(encoding="utf-8")
    assert not CONTROL_CHARACTERS.search(text)  # nothing a terminal would obey
    # No raw HTML at all: every < from the model is written as &lt;.
    assert not re.search(r"<[A-Za-z!/?]", text), re.search(r".{0,40}<[A-Za-z!/?].{0,40}", text)
    assert not re.search(r"(?<!\\)\]\(javascript:|!\[x(?<!\\)\]", text)
    for table in _tables(text):
        width = _cells(table[0])
        assert re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", table[1].replace(" ", "")), table[1]
        for row in table:
            assert _cells(row) == width, row[:200]
    mistune = pytest.importorskip("mistune")
    html = mistune.create_markdown(plugins=["table", "strikethrough", "url"])(text)
    markup = _Markup(html)
    for tag, attrs in markup.elements:
        assert tag not in _ACTIVE_TAGS, tag
        assert not [k for k in attrs if k.lower().startswith("on")]
        href = attrs.get("href")
        if href is None or href.startswith("#") or not re.match(r"[a-z][a-z0-9+.-]*:|//", href):
            continue  # a fragment or a relative link the product writes itself
        # Bare http(s) addresses may be auto-linked; they show their address, nothing else.
        assert href.startswith(("http://", "https://")), href
    for rows in markup.tables:
        assert len(set(rows)) == 1, rows


def _graph(dot_text: str) -> tuple[int, int, int, list[dict[str, Any]]]:
    """Clusters, nodes and edges Graphviz reads from DOT text, and every object read."""
    dot = require_tool("dot")
    proc = subprocess.run([dot, "-Tjson"], input=dot_text.encode("utf-8"),
                          capture_output=True, check=True, timeout=120)
    graph = json.loads(proc.stdout)
    objects = graph.get("objects", [])
    clusters = [o for o in objects if "nodes" in o or "subgraphs" in o
                or str(o.get("name", "")).startswith("cluster")]
    edges = graph.get("edges", [])
    return len(clusters), len(objects) - len(clusters), len(edges), [graph, *objects, *edges]


@pytest.fixture(scope="module")
def clean_graphs() -> dict[str, tuple[int, int, int]]:
    """Cluster, node and edge counts of every view of the reference model as shipped."""
    register = mt.assess(mt.analyze(mt.load_model(REFERENCE_MODEL)))
    return {v.id: _graph(v.dot)[:3] for v in architecture_views(register)}


@pytest.mark.parametrize("name", _files("dot"))
def test_dot_has_exactly_the_model_graph_and_literal_labels(
        run: Run, name: str, clean_graphs: dict[str, tuple[int, int, int]]) -> None:
    text = _path(run, name).read_text(encoding="utf-8")
    assert not CONTROL_CHARACTERS.search(text)
    clusters, nodes, edges, objects = _graph(text)
    assert (clusters, nodes, edges) == clean_graphs[Path(name).stem]
    for item in objects:
        assert not {"URL", "href", "image", "shapefile"} & set(item), item.get("name")
    if Path(name).stem == "dfd":
        model = run.model
        assert (clusters, nodes, edges) == (
            len(model["boundaries"]), len(model["components"]) + len(model["actors"]),
            len(model["flows"]))
        svg = subprocess.run([require_tool("dot"), "-Tsvg"], input=text.encode("utf-8"),
                             capture_output=True, check=True, timeout=120).stdout
        shown = _normal("".join(ElementTree.fromstring(svg).itertext()))
        for element_name in _element_names(run):
            assert _normal(element_name) in shown, element_name


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


@pytest.mark.parametrize("name", _files("json"))
def test_json_is_valid_and_hostile_text_round_trips_exactly(run: Run, name: str) -> None:
    data = json.loads(_path(run, name).read_text(encoding="utf-8"))
    strings = set(_strings(data))
    if name in ("analyze/findings.json", "analyze/register.json", "otm.json",
                "threatdragon.json"):
        assert set(PAYLOADS) <= strings
    if name == "analyze/findings.json":
        names = {e["id"]: e["name"] for s in ("components", "actors", "flows")
                 for e in run.model[s]}
        for finding in data["findings"]:
            if finding["element_id"] in names:
                assert finding["element_name"] == names[finding["element_id"]]
    if name == "vex.cdx.json":
        justifications = {d["justification"] for d in run.decisions["decisions"].values()}
        assert any(j in s for j in justifications for s in strings)


@pytest.mark.parametrize("name", EXPECTED["pdf"] + EXPECTED["png"])
def test_pdf_and_images_are_written(run: Run, name: str) -> None:
    data = _path(run, name).read_bytes()
    assert data.startswith(b"%PDF" if name.endswith(".pdf") else b"\x89PNG")
    assert len(data) > 10_000


def test_templates_are_never_evaluated_from_model_text(run: Run) -> None:
    env = report_env()
    assert env.autoescape("report.html.j2") is True
    assert isinstance(env.undefined, type) and issubclass(env.undefined, jinja2.StrictUndefined)
    checked = 0
    for path in run.files:
        if path.suffix in (".png", ".pdf", ".xlsx"):
            continue
        text = path.read_text(encoding="utf-8")
        if "HYPERLINK(" in text:  # the file shows model text
            checked += 1
            assert "{{ 7*7 }}" in text, path
    assert checked >= 30


_BAD_IDS = ["../x", "a/b", "a\\b", "/abs", "<script>", "=1", "a b", '"]', "a\n", "", ".hidden",
            "-x", "\u202eid", "x" * 201]
# An empty flow id is allowed: the flow then gets <source>-<protocol>-<target>.
_ID_CASES = [(section, bad) for section in ("components", "actors", "flows", "boundaries", "data")
             for bad in _BAD_IDS if bad or section != "flows"]


@pytest.mark.parametrize(("section", "bad"), _ID_CASES)
def test_hostile_ids_are_rejected(tmp_path: Path, section: str, bad: str) -> None:
    data = yaml.safe_load(REFERENCE_MODEL.read_text(encoding="utf-8"))
    data[section][0]["id"] = bad
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(mt.ModelError):
        mt.load_model(path)


def test_notebook_displays_show_hostile_text_only_as_text(run: Run) -> None:
    catalog = mt.Catalog.load(run.root / "catalog")
    model = mt.load_model(run.root / "model" / "model.yaml", catalog)
    analysis = mt.analyze(model, catalog)
    register = mt.assess(analysis, decisions=mt.load_decisions(
        run.root / "model" / "decisions.yaml"))
    pages = [model._repr_html_(), analysis._repr_html_(), register._repr_html_()]
    pages += [f._repr_html_() for f in analysis.findings[:60]]
    pages += [a._repr_html_() for a in list(register)[:60]]
    shown = ""
    for page in pages:
        assert "<script" not in page.lower() and "<img" not in page.lower()
        markup = _Markup(page)
        _markup_is_inert(markup.elements)
        shown += _normal("".join(markup.text)) + " "
    assert "<script>alert(1)</script>" in shown and "{{ 7*7 }}" in shown


def test_a_csv_row_with_a_carriage_return_is_quoted() -> None:
    text = csv_text([{"a": "x\r=1", "b": "\r=2"}, {"a": "plain", "b": "-1"}], ["a", "b"])
    assert _excel_rows(text) == [["a", "b"], ["x\r=1", "'\r=2"], ["plain", "'-1"]]
    assert text.endswith("plain,'-1\n")  # rows without a CR keep minimal quoting


def test_control_characters_become_visible_in_markdown_and_dot() -> None:
    assert markdown_cell("a\x1b[2Jb\x07") == "a\ufffd\\[2Jb\ufffd"
    m = mt.Model("Esc \x1b[31m", system={"version": "1.0"})
    home = m.boundary("Home \x00", kind="home_network")
    pump = m.component("insulin_pump", "Pump \x1b[2J", boundary=home)
    app = m.component("mobile_app", "App \x08", boundary=home)
    m.flow(app, pump, "ble", data=["therapy_command"])
    dot = dfd_dot(m, mt.analyze(m))
    assert not CONTROL_CHARACTERS.search(dot)
    assert _graph(dot)[1:3] == (2, 1)
