"""Fuzz targets for the readers of other tools' files: OTM, Threat Dragon, Threagile, pytm's
JSON dump, CycloneDX SBOMs (JSON and XML), advisories (OSV, CSAF, CycloneDX VEX), the CISA KEV
catalog and the edited Excel risk register.

Every seed is a file committed to the repository (the register seed is a workbook the product
exports for ``tests/data/models/insulin_pump.yaml``), loaded once at import time. The XML and
workbook strategies below mutate those seeds element by element or cell by cell, and add the
classic hostile files of their format: entity bombs, external entities, deep nesting, huge text
and zip bombs.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import io
import json
import re
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import openpyxl
import yaml
from _fuzz import FuzzTarget, byte_mutated, document_inputs, hostile_scalars
from hypothesis import strategies as st

from medthreat.catalog import default_catalog
from medthreat.errors import MedthreatError
from medthreat.export.excel import META, REGISTER, import_register, write_register
from medthreat.interop import import_otm, import_pytm, import_threagile, import_threatdragon
from medthreat.lifecycle import Decisions
from medthreat.model import Model, validate_model
from medthreat.sbom.advisories import load_advisory_file, load_kev
from medthreat.sbom.sbom import load_sbom

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _yaml(path: Path) -> Any:
    """A YAML seed as JSON-compatible data (dates as text), as the mutators expect."""
    return json.loads(json.dumps(yaml.safe_load(path.read_text(encoding="utf-8")), default=str))


OTM_SEED = _yaml(DATA / "interop" / "medical-otm.yaml")
THREATDRAGON_SEED = _json(DATA / "interop" / "threatdragon-example.json")
THREAGILE_SEED = _yaml(DATA / "interop" / "threagile-example.yaml")
PYTM_SEED = _json(DATA / "pytm" / "infusion_pump.json")
SBOM_JSON_SEED = _json(DATA / "sbom" / "pump.cdx.json")
SBOM_XML_SEED = (DATA / "sbom" / "pump.cdx.xml").read_bytes()
OSV_SEED = _json(DATA / "sbom" / "osv_requests.json")
CSAF_SEED = _json(DATA / "sbom" / "csaf_openssl.json")
VEX_JSON_SEED = _json(DATA / "sbom" / "supplier.vex.json")
VEX_XML_SEED = (DATA / "sbom" / "supplier.vex.xml").read_bytes()
KEV_SEED = _json(DATA / "sbom" / "kev.json")


# ---------------------------------------------------------------------------------------------
# XML: element and attribute mutations of a real document, plus the classic XML attacks

def _text_of(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


@st.composite
def xml_mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """The seed document with 1-4 element or attribute mutations, serialised again."""
    root = ElementTree.fromstring(seed)
    for _ in range(draw(st.integers(1, 4))):
        nodes = list(root.iter())
        node = draw(st.sampled_from(nodes))
        parents = {child: parent for parent in root.iter() for child in parent}
        action = draw(st.sampled_from(["text", "text", "attr", "delete", "duplicate", "rename",
                                       "child", "clear"]))
        if action == "text":
            node.text = _text_of(draw(hostile_scalars))
        elif action == "attr":
            names = [*node.attrib, "bom-ref", "type", "version", "serialNumber", "ref"]
            node.set(draw(st.sampled_from(names)), _text_of(draw(hostile_scalars)))
        elif action == "delete" and node in parents:
            parents[node].remove(node)
        elif action == "duplicate" and node in parents:
            for _ in range(draw(st.sampled_from([1, 2, 50]))):
                parents[node].append(copy.deepcopy(node))
        elif action == "rename":
            ns = node.tag.split("}", 1)[0] + "}" if node.tag.startswith("{") else ""
            node.tag = ns + draw(st.sampled_from(["component", "bom", "x", "vulnerability",
                                                  "version", "ref", "purl", "name"]))
        elif action == "child":
            ns = node.tag.split("}", 1)[0] + "}" if node.tag.startswith("{") else ""
            child = ElementTree.SubElement(node, ns + draw(st.sampled_from(
                ["component", "name", "version", "purl", "property", "ref", "x"])))
            child.text = _text_of(draw(hostile_scalars))
        elif action == "clear":
            node.clear()
    return ElementTree.tostring(root, encoding="utf-8")


def _xml_bombs(seed: bytes) -> list[bytes]:
    body = b"<bom" + seed.partition(b"<bom")[2]
    laughs = b"".join(
        b'<!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1)) * 10 if i else b"lol")
        for i in range(10))
    with_entity = body.replace(b"<name>", b"<name>&lol9;", 1)
    deep = 100_000
    return [
        b"", b"<", b"<bom/>", b"\xef\xbb\xbf" + seed, seed.replace(b"UTF-8", b"UTF-16"),
        seed.replace(b"UTF-8", b"latin-1") + "\u00e9".encode("latin-1"),
        b'<?xml version="1.0"?>\n<!DOCTYPE bom [\n' + laughs + b"]>\n" + with_entity,
        b'<?xml version="1.0"?>\n<!DOCTYPE bom [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        + body.replace(b"<name>", b"<name>&xxe;", 1),
        b'<?xml version="1.0"?>\n<!DOCTYPE bom SYSTEM "http://example.invalid/bom.dtd">\n' + body,
        b'<?xml version="1.0"?>\n<!DOCTYPE bom [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>\n'
        + body,
        b'<?xml version="1.0"?>\n<!DOCTYPE bom [<!ENTITY big "' + b"A" * 100_000 + b'">]>\n'
        + body.replace(b"<name>", b"<name>" + b"&big;" * 100, 1),
        body.replace(b"<name>", b"<name>" + b"A" * 5_000_000, 1),
        body.replace(b"<components>", b"<components>" + b"<component>" * deep
                     + b"</component>" * deep, 1),
        b"<x>" * deep + b"</x>" * deep,
        body.replace(b"<components>", b"<components>" + b'<component type="library" bom-ref="'
                     + b"r" * 1_000_000 + b'"><name>x</name></component>', 1),
        body.replace(b"<components>", b"<components>" + b"".join(
            b'<component type="library" bom-ref="c%d"><name>c%d</name></component>' % (i, i)
            for i in range(1_000)), 1),
        b"<!-- " + b"-" * 10 + b" -->" + body,
        b'<?xml-stylesheet href="file:///etc/passwd"?>' + body,
    ]


def xml_inputs(seed: bytes) -> st.SearchStrategy[bytes]:
    """The mix for an XML reader: element mutations, byte mutations and hostile files."""
    return st.one_of(xml_mutated(seed), xml_mutated(seed), byte_mutated(seed),
                     st.sampled_from(_xml_bombs(seed)))


# ---------------------------------------------------------------------------------------------
# The Excel risk register

def _register_seed() -> bytes:
    """A register workbook exported by the product for a small committed model."""
    import medthreat as mt

    analysis = mt.analyze(mt.load_model(DATA / "models" / "insulin_pump.yaml"))
    with tempfile.TemporaryDirectory() as folder:
        return write_register(mt.assess(analysis), Path(folder) / "register.xlsx").read_bytes()


REGISTER_SEED = _register_seed()


def _grids(raw: bytes) -> dict[str, list[list[Any]]]:
    wb = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    try:
        return {name: [list(row) for row in wb[name].iter_rows(values_only=True)]
                for name in (REGISTER, META)}
    finally:
        wb.close()


REGISTER_GRIDS = _grids(REGISTER_SEED)

cell_values: st.SearchStrategy[Any] = st.one_of(
    hostile_scalars,
    st.sampled_from(["open", "accepted", "mitigated", "transferred", "false_positive",
                     "Accepted ", "acepted", "2026-01-31", "31/01/2026", "H-1; H-2", "H 1",
                     "=1+1", "=HYPERLINK(\"x\")", "#N/A", "#DIV/0!", "@SUM(A1)", "finding:*",
                     "x" * 40_000]),
    st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(9999, 12, 31)),
    st.dates(min_value=dt.date(1900, 3, 1)),
    st.times(),
    st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=10_000)),
)


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _cell(value: Any) -> Any:
    """A value openpyxl can store: other types as text, illegal XML characters removed."""
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        value = str(value)
    if isinstance(value, list | dict):
        value = json.dumps(value, default=str)
    if isinstance(value, str):
        return _NOT_XML.sub("", value)[:32_767]
    return value


@st.composite
def register_cells_mutated(draw: st.DrawFn) -> bytes:
    """The register and hidden medthreat sheets rebuilt with openpyxl after 1-6 mutations:
    hostile values of every type in random cells, rows or columns removed, added or shuffled,
    sheets renamed, removed or hidden sheets made visible."""
    grids = {name: [list(row) for row in rows] for name, rows in REGISTER_GRIDS.items()}
    names = {REGISTER: REGISTER, META: META}
    for _ in range(draw(st.integers(1, 6))):
        sheet = draw(st.sampled_from([REGISTER, META]))
        grid = grids[sheet]
        action = draw(st.sampled_from(["cell", "cell", "cell", "header", "delete-row",
                                       "delete-column", "add-row", "duplicate-row", "rename",
                                       "remove", "empty", "wide"]))
        rows = max(len(grid), 1)
        if action in ("cell", "header") and grid:
            r = 0 if action == "header" else draw(st.integers(0, len(grid) - 1))
            width = max(len(grid[r]), 1)
            c = draw(st.integers(0, width))
            while len(grid[r]) <= c:
                grid[r].append(None)
            grid[r][c] = draw(cell_values)
        elif action == "delete-row" and grid:
            del grid[draw(st.integers(0, rows - 1))]
        elif action == "delete-column" and grid:
            c = draw(st.integers(0, max(len(grid[0]) - 1, 0)))
            for row in grid:
                del row[c:c + 1]
        elif action == "add-row":
            grid.insert(draw(st.integers(1, rows)), draw(st.lists(cell_values, max_size=45)))
        elif action == "duplicate-row" and len(grid) > 1:
            grid.append(list(grid[draw(st.integers(1, len(grid) - 1))]))
        elif action == "rename":
            names[sheet] = draw(st.sampled_from(["Risk register", "Risk Register ", "Sheet1",
                                                 "medthreat", "Risk Register", "x"]))
        elif action == "remove":
            names[sheet] = ""
        elif action == "empty":
            grid.clear()
        elif action == "wide" and grid:
            grid[draw(st.integers(0, rows - 1))].extend([None] * 2_000 + ["x"])
    hidden = draw(st.booleans())  # every draw before the workbook exists: an unfinished
    wb = openpyxl.Workbook(write_only=True)  # write-only sheet complains when collected
    used: set[str] = set()
    for sheet in (REGISTER, META):
        title = names[sheet]
        if not title or title in used:
            continue
        used.add(title)
        ws = wb.create_sheet(title)
        if sheet == META and hidden and len(used) > 1:  # a workbook needs a visible sheet
            ws.sheet_state = "hidden"
        for row in grids[sheet]:
            ws.append([_cell(v) for v in row])
    if not used:
        wb.create_sheet("Summary")
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _rezip(raw: bytes, replace: dict[str, bytes], *, level: int = 6) -> bytes:
    """The workbook ``raw`` with some members replaced (a value of b"" removes the member)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as dst:
        for info in src.infolist():
            data = replace.get(info.filename, src.read(info.filename))
            if data:
                dst.writestr(info.filename, data)
    return out.getvalue()


_MEMBERS = zipfile.ZipFile(io.BytesIO(REGISTER_SEED)).namelist()


@st.composite
def register_member_mutated(draw: st.DrawFn) -> bytes:
    """One part of the workbook (sheet XML, shared strings, workbook.xml ...) byte-mutated or
    removed, the zip itself well formed."""
    name = draw(st.sampled_from(_MEMBERS))
    if draw(st.integers(0, 9)) == 0:
        return _rezip(REGISTER_SEED, {name: b""})
    with zipfile.ZipFile(io.BytesIO(REGISTER_SEED)) as z:
        data = z.read(name)
    return _rezip(REGISTER_SEED, {name: draw(byte_mutated(data)) or b" "})


def _sheet_member(sheet: str) -> str:
    """The zip member holding ``sheet`` of the seed workbook."""
    wb = openpyxl.load_workbook(io.BytesIO(REGISTER_SEED), read_only=True)
    try:
        index = wb.sheetnames.index(sheet) + 1
    finally:
        wb.close()
    return f"xl/worksheets/sheet{index}.xml"


REGISTER_MEMBER = _sheet_member(REGISTER)


def _deflate_repeated(chunk: bytes, times: int) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    return b"".join([*(z.compress(chunk) for _ in range(times)), z.flush()])


def _bomb_member(head: bytes, filler: bytes, times: int, tail: bytes) -> tuple[bytes, int, int]:
    """(raw deflate data, uncompressed size, crc) of head + filler*times + tail.

    The filler is compressed once and its deflate blocks repeated (a full flush makes them
    independent), so a member of hundreds of MB costs a fraction of a second to build.
    """
    def blocks(data: bytes) -> bytes:
        z = zlib.compressobj(9, zlib.DEFLATED, -15)
        return z.compress(data) + z.flush(zlib.Z_FULL_FLUSH)

    final = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = blocks(head) + blocks(filler) * times + final.compress(tail) + final.flush()
    crc, size = zlib.crc32(head), len(head) + len(filler) * times + len(tail)
    for _ in range(times):
        crc = zlib.crc32(filler, crc)
    return deflated, size, zlib.crc32(tail, crc)


def _with_raw_member(raw: bytes, name: str, deflated: bytes, size: int, crc: int,
                     declared: int | None = None) -> bytes:
    """The workbook with member ``name`` replaced by already deflated data; ``declared``
    overrides the uncompressed size written in the headers (a lying zip)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename != name:
                dst.writestr(info, src.read(info.filename), zipfile.ZIP_DEFLATED)
                continue
            new = zipfile.ZipInfo(name, date_time=info.date_time)
            new.compress_type = zipfile.ZIP_DEFLATED
            new.file_size = declared if declared is not None else size
            new.compress_size = len(deflated)
            new.CRC = crc
            new.header_offset = out.tell()
            out.write(new.FileHeader())
            out.write(deflated)
            dst.filelist.append(new)
            dst.NameToInfo[name] = new
            dst.start_dir = out.tell()
    return out.getvalue()


_ENTITY_SHEET = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE worksheet [\n'
    + b"".join(b'<!ENTITY l%d "%s">\n' % (i, (b"&l%d;" % (i - 1)) * 10 if i else b"lol")
               for i in range(10))
    + b'<!ENTITY xxe SYSTEM "file:///etc/passwd">\n]>\n'
    + b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    + b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>finding_id</t></is></c>'
    + b'<c r="B1" t="inlineStr"><is><t>&l9;&xxe;</t></is></c></row></sheetData></worksheet>')


@functools.cache
def register_bombs() -> tuple[bytes, ...]:
    """Zip bombs and XML entity bombs inside the register workbook (built once, cached)."""
    sheet_head = (b'<?xml version="1.0" encoding="UTF-8"?>\n<worksheet xmlns="http://schemas.'
                  b'openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
    sheet_tail = b"</sheetData></worksheet>"
    # ~300 MB of whitespace inside the register sheet: a few hundred kB on disk
    padding, size, crc = _bomb_member(sheet_head, b" " * (1 << 20), 300, sheet_tail)
    # ~100 MB of empty rows: parses as XML, row after row
    rows, rsize, rcrc = _bomb_member(sheet_head, b"<row/>" * 100_000, 170, sheet_tail)
    strings = _deflate_repeated(b"<si><t>x</t></si>", 1)  # tiny stand-in for a lying member
    with zipfile.ZipFile(io.BytesIO(REGISTER_SEED)) as z:
        real = z.read(REGISTER_MEMBER)
    real_deflated = _deflate_repeated(real, 1)
    return (
        _with_raw_member(REGISTER_SEED, REGISTER_MEMBER, padding, size, crc),
        _with_raw_member(REGISTER_SEED, REGISTER_MEMBER, rows, rsize, rcrc),
        # declared sizes that lie: small header, large data (and the reverse)
        _with_raw_member(REGISTER_SEED, REGISTER_MEMBER, padding, size, crc, declared=1000),
        _with_raw_member(REGISTER_SEED, REGISTER_MEMBER, real_deflated, len(real),
                         zlib.crc32(real), declared=2**40),
        _with_raw_member(REGISTER_SEED, "xl/sharedStrings.xml", strings, 17,
                         zlib.crc32(b"<si><t>x</t></si>"), declared=500 * 2**20),
        _rezip(REGISTER_SEED, {REGISTER_MEMBER: _ENTITY_SHEET}),
        _rezip(REGISTER_SEED, {"xl/sharedStrings.xml": _ENTITY_SHEET}),
        _rezip(REGISTER_SEED, {"xl/workbook.xml": _ENTITY_SHEET}),
        _rezip(REGISTER_SEED, {"[Content_Types].xml": _ENTITY_SHEET}),
        b"PK\x03\x04" + b"\x00" * 100, b"", b"not a zip", REGISTER_SEED[:22],
        b"PK\x05\x06" + b"\x00" * 18,
    )


@st.composite
def _bomb(draw: st.DrawFn) -> bytes:
    return draw(st.sampled_from(register_bombs()))


def register_inputs() -> st.SearchStrategy[bytes]:
    """The mix for the register workbook reader."""
    return st.one_of(
        register_cells_mutated(), register_cells_mutated(), register_cells_mutated(),
        register_member_mutated(), byte_mutated(REGISTER_SEED), _bomb(),
        st.just(REGISTER_SEED),
    )


def _read_register(path: Path) -> object:
    return import_register(path, Decisions())


# ---------------------------------------------------------------------------------------------
# Targets

def _importing(reader: Callable[[Path], tuple[Model, list[str]]]) -> Callable[[Path], object]:
    """``medthreat import FORMAT FILE``: the importer, then the model checked against the
    shipped catalog (pytm's importer gets the catalog as the command passes it)."""
    def read(path: Path) -> object:
        catalog = default_catalog()
        model, notes = reader(path)
        validate_model(model, catalog)
        return model, notes
    return read


def _pytm_file(path: Path) -> tuple[Model, list[str]]:
    return import_pytm(path, catalog=default_catalog())


TARGETS: list[FuzzTarget] = [
    FuzzTarget("otm", ".json", document_inputs(OTM_SEED, "json", key="project"),
               _importing(import_otm)),
    FuzzTarget("otm-yaml", ".yaml", document_inputs(OTM_SEED, "yaml", key="project"),
               _importing(import_otm)),
    FuzzTarget("threatdragon", ".json", document_inputs(THREATDRAGON_SEED, "json", key="detail"),
               _importing(import_threatdragon)),
    FuzzTarget("threagile", ".yaml",
               document_inputs(THREAGILE_SEED, "yaml", key="technical_assets"),
               _importing(import_threagile)),
    FuzzTarget("pytm-json", ".json", document_inputs(PYTM_SEED, "json", key="elements"),
               _importing(_pytm_file)),
    FuzzTarget("sbom-json", ".json", document_inputs(SBOM_JSON_SEED, "json", key="components"),
               load_sbom),
    FuzzTarget("sbom-xml", ".xml", xml_inputs(SBOM_XML_SEED), load_sbom),
    FuzzTarget("advisories-osv", ".json", document_inputs(OSV_SEED, "json", key="affected"),
               load_advisory_file),
    FuzzTarget("advisories-csaf", ".json", document_inputs(CSAF_SEED, "json", key="document"),
               load_advisory_file),
    FuzzTarget("advisories-vex", ".json",
               st.one_of(document_inputs(VEX_JSON_SEED, "json", key="vulnerabilities"),
                         xml_inputs(VEX_XML_SEED)),
               load_advisory_file),
    FuzzTarget("kev", ".json", document_inputs(KEV_SEED, "json", key="vulnerabilities"),
               load_kev),
    FuzzTarget("register-xlsx", ".xlsx", register_inputs(), _read_register),
]

__all__ = ["REGISTER_SEED", "TARGETS", "register_bombs", "register_inputs", "xml_inputs"]

# The readers must reject, never crash: the only errors allowed are the product's own.
assert all(t.expected == (MedthreatError,) or all(issubclass(e, MedthreatError)
                                                  for e in t.expected) for t in TARGETS)
