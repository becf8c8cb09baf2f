"""Findings exports: stable JSON, spreadsheet-safe CSV, escaped Markdown."""

from __future__ import annotations

import csv
import io
import json

from _models import mini_catalog, mini_model

import medthreat as mt
from medthreat.catalog import Stride
from medthreat.export import findings_csv, findings_json, summary_markdown


def hostile_analysis() -> mt.Analysis:
    m = mini_model()
    m.system.name = "<script>alert(1)</script> | [click](http://x)"
    m.components[0].name = "=HYPERLINK(\"http://x\",\"pump\")"
    m.components[1].name = "+cmd|' /C calc'!A0"
    m.components[2].name = "@SUM(1)"
    m.components[3].name = "-2+3"
    m.actors[0].name = "\tpatient"
    return mt.analyze(m, mini_catalog())


def test_json_is_stable_and_complete() -> None:
    analysis = mt.analyze(mini_model(), mini_catalog())
    text = findings_json(analysis)
    assert text == findings_json(mt.analyze(mini_model(), mini_catalog()))
    doc = json.loads(text)
    assert doc["format"] == "medthreat-findings/2"
    assert doc["summary"]["findings"] == len(doc["findings"]) == len(analysis.findings)
    assert doc["summary"]["by_stride"] == analysis.by_stride()
    assert set(doc["summary"]["by_stride"]) == {s.value for s in Stride}
    first = doc["findings"][0]
    assert set(first) >= {"id", "threat_id", "title", "stride", "element_id", "why",
                          "references", "controls", "applied_controls", "baseline"}


def test_csv_cells_never_start_a_formula() -> None:
    rows = list(csv.DictReader(io.StringIO(findings_csv(hostile_analysis()))))
    names = {r["element_name"] for r in rows}
    assert "'=HYPERLINK(\"http://x\",\"pump\")" in names
    assert "'+cmd|' /C calc'!A0" in names
    assert "'@SUM(1)" in names
    assert "'-2+3" in names
    assert "'\tpatient" in names
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value


def test_markdown_escapes_html_links_and_table_breaks() -> None:
    text = summary_markdown(hostile_analysis())
    title = text.splitlines()[0]
    assert "<script>" not in text
    assert title == ("# Threat model summary: &lt;script&gt;alert(1)&lt;/script&gt; \\| "
                     "\\[click\\](http://x) 1.0")
    # every table row keeps its column count
    for line in text.splitlines():
        if line.startswith("| `"):
            assert line.count(" | ") == 4, line
