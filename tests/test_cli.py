"""The medthreat command: outputs, exit codes and one-paragraph error messages."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from conftest import in_ci

import medthreat as mt
from medthreat.catalog import Stride

MODEL = Path(__file__).parent / "data" / "models" / "insulin_pump.yaml"


def test_validate_ok(run_cli) -> None:
    done = run_cli("validate", MODEL)
    assert done.returncode == 0, done.stderr
    assert "valid — 3 components, 1 actors, 2 flows" in done.stdout


def test_analyze_reference_model_covers_every_stride_category(
    run_cli, tmp_path: Path, reference_model_path: Path
) -> None:
    done = run_cli("analyze", reference_model_path, "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "findings.json").read_text())
    findings = doc["findings"]
    assert {f["stride"] for f in findings} == {s.value for s in Stride}
    # every category also arises from specific (non-baseline) catalog threats
    assert {f["stride"] for f in findings if not f["baseline"]} == {s.value for s in Stride}
    for f in findings:
        assert f["id"] == f"{f['threat_id']}@{f['element_id']}"
        assert f["title"] and f["stride"] and f["element_id"]
        assert f["why"], f["id"]
        if not f["baseline"]:
            assert f["references"], f["id"]
    with (tmp_path / "findings.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == [f["id"] for f in findings]
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("# Threat model summary: ")
    assert "| E Elevation of privilege |" in summary
    for name in ("findings.json", "findings.csv", "summary.md", "report.html"):
        assert f"wrote {tmp_path / name}" in done.stdout
    if in_ci() or shutil.which("chromium"):  # the PDF report, rendered by Chromium
        assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF-")


def test_analyze_output_is_byte_identical_across_runs(run_cli, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli("analyze", MODEL, "--out", a, "--no-pdf").returncode == 0
    assert run_cli("analyze", MODEL, "--out", b, "--no-pdf").returncode == 0
    names = ["findings.json", "findings.csv", "summary.md", "register.json", "register.csv",
             "register.xlsx", "report.md", "report.html", "labeling.md", "dfd.dot"]
    names += [f"views/{p.name}" for p in sorted((a / "views").glob("*.dot"))]
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("type: insulin_pump", "type: insulin_pmup",
         ":17: components[1].type: unknown component type 'insulin_pmup'; expected a component "
         "type of the catalog — did you mean 'insulin_pump'"),
        ("protocol: ble,", "protocol: bel,", ":25: flows[0].protocol: unknown protocol 'bel'"),
        ("source: app, target: api", "source: app, target: apii",
         ":26: flows[1].target: unknown target 'apii'; expected a component or actor id — did "
         "you mean 'api'?"),
        ("  - {id: api,", "  - {id: app,", ":21: components[2].id: duplicate id 'app'"),
        ("kind: cloud}", "kind: cloud, parent: cloud}",
         ":9: boundaries[1].parent: boundary nesting forms a cycle: cloud -> cloud"),
        ("boundary: cloud}", "boundary: cloud, out_of_scope: true, out_of_scope_reason: "
         "separate submission}", ":26: flows[1].target: flow 'app-https-api' is in scope but "
         "its target 'api' is out of scope"),
        ("  name: Insulin pump system\n", "  name: Insulin pump system\n   bad: indent\n",
         ":5: malformed YAML"),
    ],
)
def test_bad_input_exits_2_with_a_located_message(
    run_cli, tmp_path: Path, old: str, new: str, expected: str
) -> None:
    text = MODEL.read_text()
    assert old in text, old
    path = tmp_path / "model.yaml"
    path.write_text(text.replace(old, new, 1))
    for command in (["validate", path], ["analyze", path, "--out", tmp_path / "out"]):
        done = run_cli(*command)
        assert done.returncode == 2
        assert f"{path}{expected}" in done.stderr
        assert "Traceback" not in done.stderr
        assert done.stdout == ""
    assert not (tmp_path / "out").exists()


def test_missing_model_file_exits_2(run_cli, tmp_path: Path) -> None:
    done = run_cli("validate", tmp_path / "missing.yaml")
    assert done.returncode == 2
    assert "missing.yaml: file not found" in done.stderr
    assert "Traceback" not in done.stderr


def test_usage_errors_exit_2(run_cli) -> None:
    assert run_cli().returncode == 2
    assert run_cli("analyze", MODEL).returncode == 2  # --out is required
    assert run_cli("frobnicate").returncode == 2


def test_catalog_list_show_check(run_cli) -> None:
    listed = run_cli("catalog", "list", "--section", "protocols")
    assert listed.returncode == 0
    assert "ble " in listed.stdout and "https " in listed.stdout
    shown = run_cli("catalog", "show", "insulin_pump")
    assert shown.returncode == 0
    assert "id: insulin_pump" in shown.stdout and "element: process" in shown.stdout
    missing = run_cli("catalog", "show", "insulin_pmp")
    assert missing.returncode == 2
    assert "no catalog entry with id 'insulin_pmp' — did you mean 'insulin_pump'" \
        in missing.stderr
    checked = run_cli("catalog", "check")
    assert checked.returncode == 0
    assert checked.stdout.startswith("catalog OK")


def test_catalog_check_with_broken_user_catalog_exits_2(run_cli, tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(
        "threats:\n  - id: U-ONE\n    title: t\n    stride: tampering\n"
        "    applies_to: [process]\n    description: d\n    controls: [CTL-NOPE]\n")
    done = run_cli("catalog", "check", "--catalog", tmp_path)
    assert done.returncode == 2
    assert f"{tmp_path / 'mine.yaml'}:7: threats[0].controls[0]: threat U-ONE: unknown control " \
        "'CTL-NOPE'" in done.stderr


def test_schema_command_writes_valid_json_schema(run_cli, tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    out = tmp_path / "model.schema.json"
    done = run_cli("schema", "--out", out)
    assert done.returncode == 0, done.stderr
    schema = json.loads(out.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "insulin_pump" in schema["$defs"]["Component"]["properties"]["type"]["enum"]
    printed = run_cli("schema")
    assert json.loads(printed.stdout) == schema


def test_analyze_writes_the_rated_register_with_a_replacement_policy(
    run_cli, tmp_path: Path
) -> None:
    from medthreat.risk import default_policy_path

    policy = tmp_path / "policy.yaml"
    text = default_policy_path().read_text()
    assert "id: medthreat-default" in text
    policy.write_text(text.replace("id: medthreat-default", "id: acme-policy", 1))
    out = tmp_path / "out"
    done = run_cli("analyze", MODEL, "--out", out, "--policy", policy, "--no-pdf")
    assert done.returncode == 0, done.stderr
    register = json.loads((out / "register.json").read_text())
    assert register["policy"]["id"] == "acme-policy"
    rows = register["register"]
    assert {r["id"] for r in rows} == {
        f["id"] for f in json.loads((out / "findings.json").read_text())["findings"]}
    assert "## Risk (policy acme-policy" in (out / "summary.md").read_text()
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("rationale:", "rationales:", 1))
    failed = run_cli("analyze", MODEL, "--out", out, "--policy", broken)
    assert failed.returncode == 2 and str(broken) in failed.stderr


def test_export_and_import_commands(run_cli, tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    interop = Path(__file__).parent / "data" / "interop"
    for fmt, schema_name in (("otm", "otm-0.2.0.schema.json"),
                             ("threatdragon", "threat-dragon-v2.schema.json")):
        out = tmp_path / f"model.{fmt}.json"
        done = run_cli("export", MODEL, "--format", fmt, "--out", out)
        assert done.returncode == 0, done.stderr
        schema = json.loads((interop / schema_name).read_text())
        jsonschema.validate(json.loads(out.read_text()), schema)
    model = tmp_path / "from-threagile.yaml"
    done = run_cli("import", "threagile", interop / "threagile-example.yaml", "--out", model)
    assert done.returncode == 0, done.stderr
    assert "note:" in done.stderr
    assert run_cli("validate", model).returncode == 0
    back = tmp_path / "back.yaml"
    done = run_cli("import", "otm", tmp_path / "model.otm.json", "--out", back)
    assert done.returncode == 0, done.stderr
    assert run_cli("analyze", back, "--out", tmp_path / "out", "--no-pdf").returncode == 0
    bad = tmp_path / "bad.json"
    bad.write_text("{\"version\": 2}")
    failed = run_cli("import", "threatdragon", bad, "--out", tmp_path / "x.yaml")
    assert failed.returncode == 2 and str(bad) in failed.stderr


def test_register_round_trip_through_the_command_line(run_cli, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    out = tmp_path / "out"
    assert run_cli("analyze", MODEL, "--out", out, "--no-pdf").returncode == 0
    workbook = load_workbook(out / "register.xlsx")
    sheet = workbook["Risk Register"]
    header = [c.value for c in sheet[1]]
    row = 2
    finding = sheet.cell(row, header.index("finding_id") + 1).value
    sheet.cell(row, header.index("status") + 1).value = "mitigated"
    sheet.cell(row, header.index("justification") + 1).value = "Fixed in 2.4 (TR-9)"
    edited = tmp_path / "edited.xlsx"
    workbook.save(edited)
    decisions = tmp_path / "decisions.yaml"
    decisions.write_text("schema_version: 1\ndecisions:\n  MT-DEV-001@pump:\n"
                         "    status: accepted\n    justification: kept by hand\n")
    done = run_cli("register", "import", edited, "--decisions", decisions, "--model", MODEL,
                   "--actor", "Risk manager A")
    assert done.returncode == 0, done.stderr
    assert f"{finding} status" in done.stdout and "mitigated" in done.stdout
    # every merged change is on the hash-chained audit log, with who and from where
    log = tmp_path / "decisions.yaml.audit.jsonl"
    entry = json.loads(log.read_text(encoding="utf-8").splitlines()[-1])
    assert entry["actor"] == "Risk manager A" and entry["source"] == "cli:register-import"
    assert {(c["key"], c["field"], c["new"]) for c in entry["changes"]} >= \
        {(finding, "status", "mitigated")}
    verified = run_cli("audit", "verify", "--decisions", decisions)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert run_cli("audit", "log", log, "--key", finding).returncode == 0
    log.write_text(log.read_text(encoding="utf-8").replace("mitigated", "accepted"),
                   encoding="utf-8")
    assert run_cli("audit", "verify", log).returncode == 1  # tampering is detected
    text = decisions.read_text()
    assert "kept by hand" in text and "Fixed in 2.4 (TR-9)" in text  # nothing lost
    assert (tmp_path / "decisions.yaml.bak").read_text().count("kept by hand") == 1
    again = tmp_path / "again"
    assert run_cli("analyze", MODEL, "--out", again, "--decisions", decisions,
                   "--no-pdf").returncode == 0
    rows = {r["id"]: r for r in json.loads((again / "register.json").read_text())["register"]}
    assert rows[finding]["status"] == "mitigated"
    bad = load_workbook(edited)
    bad["Risk Register"].cell(row, header.index("status") + 1).value = "acepted"
    bad.save(edited)
    failed = run_cli("register", "import", edited, "--decisions", decisions)
    assert failed.returncode == 2
    assert "Risk Register!" in failed.stderr and "did you mean 'accepted'" in failed.stderr


def test_import_pytm_json_dump_writes_a_model_that_validates(run_cli, tmp_path: Path,
                                                             repo_root: Path) -> None:
    dump = repo_root / "tests" / "data" / "pytm" / "infusion_pump.json"
    out = tmp_path / "model.yaml"
    done = run_cli("import", "pytm", dump, "--out", out)
    assert done.returncode == 0, done.stderr
    model = mt.load_model(out)
    assert (len(model.components), len(model.actors), len(model.flows)) == (6, 1, 6)
    assert run_cli("validate", out).returncode == 0


def test_compare_pytm_writes_one_row_per_element_and_a_total(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "cmp.csv"
    done = run_cli("compare-pytm", MODEL, "--out", out)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
    model = mt.load_model(MODEL)
    assert len(rows) == len(model.components) + len(model.actors) + len(model.flows) + 1
    assert next(iter(rows[-1].values())) == "TOTAL"
    assert run_cli("compare-pytm", MODEL, "--out", tmp_path / "cmp.txt").returncode == 2


def test_schema_findings_prints_the_schema_findings_json_validates_against(
        run_cli, tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    done = run_cli("schema", "--findings")
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert run_cli("analyze", MODEL, "--out", tmp_path, "--no-pdf").returncode == 0
    doc = json.loads((tmp_path / "findings.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(doc)
    assert schema != json.loads(run_cli("schema").stdout)  # the model's schema is another one


def test_diff_exits_1_when_residual_risk_rises_and_0_when_it_falls(
        run_cli, tmp_path: Path, reference_model_path: Path) -> None:
    model = mt.load_model(reference_model_path)
    counted = [c for c in model.controls if c.status.value in ("implemented", "verified")]
    assert counted  # the reference model applies controls that lower residual risk
    bare = model.model_copy(update={"controls": []}, deep=True)
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    mt.save_model(model, old)
    mt.save_model(bare, new)
    rose = run_cli("diff", old, new)  # every control dropped: residual risk rises
    assert rose.returncode == 1, rose.stderr
    assert "residual risk rose" in rose.stderr and rose.stdout.startswith("#")
    for c in counted:
        assert c.control in rose.stdout
    fell = run_cli("diff", new, old, "--out", tmp_path / "impact.xlsx")
    assert fell.returncode == 0, fell.stderr
    assert (tmp_path / "impact.xlsx").stat().st_size > 0
    assert run_cli("diff", old, old, "--out", tmp_path / "impact.pdf").returncode == 2


def test_sbom_advisories_flow_into_analyze_gate_and_vex(run_cli, tmp_path: Path,
                                                        repo_root: Path) -> None:
    data = repo_root / "tests" / "data" / "sbom"
    for name in ("pump.cdx.json", "osv_requests.json", "csaf_openssl.json", "kev.json"):
        (tmp_path / name).write_bytes((data / name).read_bytes())
    model = mt.load_model(MODEL)
    model.components[0] = model.components[0].model_copy(update={"sbom": "pump.cdx.json"})
    path = tmp_path / "model.yaml"
    mt.save_model(model, path)
    kev = json.loads((data / "kev.json").read_text(encoding="utf-8"))
    kev_ids = {v["cveID"] for v in kev["vulnerabilities"]}
    advisories = ["--advisories", "osv_requests.json", "csaf_openssl.json", "--kev", "kev.json"]
    checked = run_cli("sbom", "check", path, "--today", "2026-11-30", cwd=tmp_path)
    assert checked.returncode == 1 and "past_end_of_support" in checked.stdout  # openssl 3.0.7
    done = run_cli("analyze", path, "--out", "out", "--no-pdf", *advisories, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "out" / "findings.json").read_text(encoding="utf-8"))
    vulns = {f["id"] for f in doc["findings"] if f["id"].startswith("VULN-")}
    assert vulns and all(v.endswith(f"@{model.components[0].id}") for v in vulns)
    gate = run_cli("gate", path, *advisories, cwd=tmp_path)
    assert gate.returncode == 1
    assert any(f"VULN-{cve}@" in gate.stdout and "[kev_not_fixed]" in gate.stdout
               for cve in kev_ids)
    vex = run_cli("vex", path, *advisories, "--out", "vex.json", cwd=tmp_path)
    assert vex.returncode == 0, vex.stderr
    vex_doc = json.loads((tmp_path / "vex.json").read_text(encoding="utf-8"))
    assert vex_doc["bomFormat"] == "CycloneDX"
    assert {v["id"] for v in vex_doc["vulnerabilities"]} == {v.split("@")[0][len("VULN-"):]
                                                           for v in vulns}


def test_gate_warns_on_an_overdue_review_and_fails_on_it_only_when_strict(
        run_cli, tmp_path: Path) -> None:
    model = mt.load_model(MODEL)
    path = tmp_path / "model.yaml"
    old = model.model_copy(update={"system": model.system.model_copy(
        update={"last_review": dt.date(2020, 1, 1)})})
    mt.save_model(old, path)
    accept_all = tmp_path / "decisions.yaml"  # every element's risks accepted: only the review
    elements = sorted({f.element_id for f in mt.analyze(old).findings})  # can fail the gate
    accept_all.write_text("schema_version: 1\ndecisions:\n" + "".join(
        f"  '*@{e}':\n    status: accepted\n    justification: benefit outweighs the "
        "residual risk (RM-1)\n    owner: RM\n" for e in elements), encoding="utf-8")
    lenient = run_cli("gate", path, "--decisions", accept_all)
    assert "warning" in lenient.stderr and "overdue" in lenient.stderr
    strict = run_cli("gate", path, "--decisions", accept_all, "--strict-review")
    assert strict.returncode == 1
    assert lenient.returncode == 0, lenient.stdout + lenient.stderr


def test_playbook_and_metrics_commands(run_cli, tmp_path: Path,
                                       reference_model_path: Path) -> None:
    done = run_cli("playbook", reference_model_path, "--out", tmp_path / "playbooks.md")
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "playbooks.md").read_text(encoding="utf-8")
    model = mt.load_model(reference_model_path)
    monitor = next(c for c in model.components if c.type == "patient_monitor")
    assert monitor.name in text
    events = tmp_path / "events.csv"
    events.write_text("id,identified,fixed,deployed,risk\n"
                      "A,2026-01-01,2026-01-11,2026-01-21,uncontrolled\n"
                      "B,2026-02-01,2026-03-03,,controlled\n", encoding="utf-8")
    metrics = run_cli("metrics", "--events", events, "--today", "2026-06-01", "--json")
    assert metrics.returncode == 0, metrics.stderr
    assert json.loads(metrics.stdout)
    assert run_cli("metrics", "--events", events, "--today", "June").returncode == 2
    assert run_cli("metrics").returncode == 2
