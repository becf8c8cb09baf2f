"""Hostile or damaged input files for the register, SBOM and advisory readers: each is refused
with the product's own error naming the file, quickly, instead of a crash or a stall."""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
import zlib
from pathlib import Path

import openpyxl
import pytest

import medthreat as mt
from medthreat._yaml import MAX_FILE_BYTES
from medthreat.errors import DecisionsError, MedthreatError
from medthreat.export.excel import (
    MAX_COMPRESSION_RATIO,
    MAX_UNPACKED_BYTES,
    REGISTER,
    import_register,
    write_register,
)
from medthreat.lifecycle import Decisions
from medthreat.sbom.advisories import load_advisory_file, load_kev
from medthreat.sbom.sbom import load_sbom

DATA = Path(__file__).resolve().parent / "data"
SBOMS = DATA / "sbom"


@pytest.fixture(scope="module")
def register_xlsx(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    analysis = mt.analyze(mt.load_model(DATA / "models" / "insulin_pump.yaml"))
    folder = tmp_path_factory.mktemp("register")
    return write_register(mt.assess(analysis), folder / "register.xlsx").read_bytes()


def _register_part(raw: bytes) -> str:
    wb = openpyxl.load_workbook(io.BytesIO(raw), read_only=True)
    try:
        return f"xl/worksheets/sheet{wb.sheetnames.index(REGISTER) + 1}.xml"
    finally:
        wb.close()


def _rezip(raw: bytes, name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, data if info.filename == name else src.read(info))
    return out.getvalue()


def _import(tmp_path: Path, data: bytes) -> tuple[str, float]:
    path = tmp_path / "register.xlsx"
    path.write_bytes(data)
    start = time.perf_counter()
    with pytest.raises(DecisionsError) as caught:
        import_register(path, Decisions())
    elapsed = time.perf_counter() - start
    assert str(path) in str(caught.value)
    return str(caught.value), elapsed


def test_register_zip_bomb_is_refused_before_it_is_unpacked(register_xlsx: bytes,
                                                             tmp_path: Path) -> None:
    part = _register_part(register_xlsx)
    sheet = zipfile.ZipFile(io.BytesIO(register_xlsx)).read(part)
    head, _, tail = sheet.partition(b"<sheetData>")
    bomb = _rezip(register_xlsx, part, head + b"<sheetData>" + b" " * (64 << 20) + tail)
    assert len(bomb) < 2 * len(register_xlsx)  # 64 MB of sheet in a file this small
    message, elapsed = _import(tmp_path, bomb)
    assert part in message and f"more than {MAX_COMPRESSION_RATIO} times" in message
    assert elapsed < 1.0  # refused from the zip directory, not after parsing 64 MB


def test_register_declared_size_over_the_limit_is_refused(register_xlsx: bytes,
                                                          tmp_path: Path) -> None:
    # a zip64 part whose header declares a terabyte, its data the real (small) sheet
    part = _register_part(register_xlsx)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(register_xlsx)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename != part:
                dst.writestr(info, data, zipfile.ZIP_DEFLATED)
                continue
            z = zlib.compressobj(6, zlib.DEFLATED, -15)
            deflated = z.compress(data) + z.flush()
            lie = zipfile.ZipInfo(part, date_time=info.date_time)
            lie.compress_type, lie.CRC = zipfile.ZIP_DEFLATED, zlib.crc32(data)
            lie.file_size, lie.compress_size = 2**40, len(deflated)
            lie.header_offset = out.tell()
            out.write(lie.FileHeader())
            out.write(deflated)
            dst.filelist.append(lie)
            dst.NameToInfo[part] = lie
            dst.start_dir = out.tell()
    message, _ = _import(tmp_path, out.getvalue())
    assert f"the limit is {MAX_UNPACKED_BYTES:,} bytes" in message


def test_register_with_a_damaged_sheet_names_the_sheet(register_xlsx: bytes,
                                                       tmp_path: Path) -> None:
    part = _register_part(register_xlsx)
    sheet = zipfile.ZipFile(io.BytesIO(register_xlsx)).read(part)
    message, _ = _import(tmp_path, _rezip(register_xlsx, part, sheet[: len(sheet) // 2]))
    assert f"{REGISTER}: the sheet cannot be read" in message and "ParseError" in message


def test_register_with_an_entity_bomb_is_refused(register_xlsx: bytes, tmp_path: Path) -> None:
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10 if i else "lol"}">' for i in range(10))
    sheet = (f'<?xml version="1.0"?><!DOCTYPE worksheet [{laughs}'
             '<!ENTITY xxe SYSTEM "file:///etc/passwd">]><worksheet xmlns="http://schemas.'
             'openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" '
             't="inlineStr"><is><t>&l9;&xxe;</t></is></c></row></sheetData></worksheet>')
    message, elapsed = _import(tmp_path, _rezip(register_xlsx, _register_part(register_xlsx),
                                                sheet.encode()))
    assert "root:" not in message and elapsed < 5.0


def test_register_that_is_not_a_zip_is_refused(tmp_path: Path) -> None:
    message, _ = _import(tmp_path, b"PK\x03\x04" + b"\x00" * 64)
    assert "not an Excel workbook" in message


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_sbom_author_without_fields_is_read(tmp_path: Path) -> None:
    xml = (SBOMS / "pump.cdx.xml").read_text(encoding="utf-8").replace(
        "<author><name>Pump Firmware Team</name></author>", "<author><x>1</x></author>")
    sbom = load_sbom(_write(tmp_path, "pump.cdx.xml", xml))
    assert sbom.authors == () and len(sbom.components) > 0


def test_vex_target_without_ref_is_refused(tmp_path: Path) -> None:
    xml = (SBOMS / "supplier.vex.xml").read_text(encoding="utf-8")
    start, end = xml.index("<target>"), xml.index("</target>") + len("</target>")
    path = _write(tmp_path, "vex.xml", xml[:start] + "<target></target>" + xml[end:])
    with pytest.raises(MedthreatError, match=r"vulnerability CVE-2099-1005: an affects target "
                                             r"has no ref"):
        load_advisory_file(path)


def test_vex_xml_after_blank_lines_is_read_as_xml(tmp_path: Path) -> None:
    xml = (SBOMS / "supplier.vex.xml").read_text(encoding="utf-8")
    body = xml[xml.index("<bom"):]
    advisories = load_advisory_file(_write(tmp_path, "vex.xml", "\n\n  " + body))
    assert {a.format for a in advisories} == {"cyclonedx-vex"}


@pytest.mark.parametrize("reader", [load_sbom, load_advisory_file, load_kev])
@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000,
                                  '{"bomFormat": "CycloneDX", "version": ' + "9" * 5_000 + "}"])
def test_json_too_deep_or_too_long_a_number(reader: object, text: str, tmp_path: Path) -> None:
    path = _write(tmp_path, "input.json", text)
    with pytest.raises(MedthreatError, match=re.escape(str(path))):
        reader(path)  # type: ignore[operator]


@pytest.mark.parametrize("reader", [load_sbom, load_advisory_file, load_kev])
def test_file_over_the_size_limit_is_refused(reader: object, tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk space used
    with pytest.raises(MedthreatError, match=f"the limit is {MAX_FILE_BYTES:,} bytes"):
        reader(path)  # type: ignore[operator]


def test_malformed_advisory_names_its_format(tmp_path: Path) -> None:
    doc = json.loads((SBOMS / "csaf_openssl.json").read_text(encoding="utf-8"))
    doc["vulnerabilities"] = [{"product_status": {"known_affected": 5}}]
    with pytest.raises(MedthreatError, match=r"malformed CSAF 2\.0 advisory"):
        load_advisory_file(_write(tmp_path, "csaf.json", json.dumps(doc)))
