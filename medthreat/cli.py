"""The ``medthreat`` command. Thin: it parses arguments and calls the library.

Exit codes: 0 success, 1 the risk gate failed (``medthreat gate``), residual risk rose
(``medthreat diff``) or an audit chain is broken (``medthreat audit verify``), 2 bad input (the
message names file, line and entry).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from ._yaml import atomic_copy, atomic_write, dump_yaml
from .catalog import SECTIONS_HELP, Catalog
from .errors import MedthreatError

EXIT_OK, EXIT_GATE, EXIT_INPUT = 0, 1, 2


def _emit(text: str, out: Path | None) -> int:
    """Write ``text`` to ``out`` (atomically) or to standard output."""
    if out:
        atomic_write(out, text)
        print(f"wrote {out}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _iso_day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date YYYY-MM-DD") from None


def _catalog(args: argparse.Namespace) -> Catalog:
    return Catalog.load(*args.catalog)


def _cmd_validate(args: argparse.Namespace) -> int:
    from .model import load_model

    catalog = _catalog(args)
    model = load_model(args.model, catalog)
    print(f"{args.model}: valid — {len(model.components)} components, {len(model.actors)} "
          f"actors, {len(model.flows)} flows, {len(model.data_assets)} data assets, "
          f"{len(model.boundaries)} trust boundaries, {len(model.controls)} applied controls")
    return EXIT_OK


def _assessed(args: argparse.Namespace, progress: Any = None,
              total: int = 3) -> tuple[Any, Any, Any]:
    """Load model, policy and decisions named on the command line; analyze and assess.

    ``progress`` (a :data:`medthreat.export.bundle.Progress`) hears of steps 1 to 3 of
    ``total``."""
    from .engine import analyze
    from .lifecycle import Decisions, load_decisions
    from .model import load_model
    from .risk import RiskPolicy, assess

    def step(label: str, index: int) -> None:
        if progress is not None:
            progress(label, index, total)

    catalog = _catalog(args)
    step(f"load and validate {args.model}", 1)
    model = load_model(args.model, catalog)
    policy = RiskPolicy.load(args.policy)
    decisions = load_decisions(args.decisions) if args.decisions else Decisions()
    step(f"analyze ({len(model.components)} components, {len(model.flows)} flows)", 2)
    result = analyze(model, catalog, check=False)
    step(f"assess risk ({len(result.findings)} findings)", 3)
    if getattr(args, "advisories", None) or getattr(args, "kev", None):
        from .sbom import with_vulnerabilities

        # SBOMs named by the components, matched to the advisory files: vulnerability
        # findings rated with the advisories' CVSS (docs/sbom.md).
        result, register = with_vulnerabilities(result, args.advisories, kev=args.kev,
                                                policy=policy, decisions=decisions)
        return result, register, decisions
    return result, assess(result, policy, decisions), decisions


#: Steps of ``analyze`` before the export bundle: load, analyze, assess.
_PRE_STEPS = 3
#: Models with at least this many elements show progress even when stderr is not a terminal.
_PROGRESS_ELEMENTS = 1000


def _show_progress(args: argparse.Namespace) -> bool:
    if args.progress is not None:
        return bool(args.progress)
    if sys.stderr.isatty():
        return True
    try:  # a cheap look at the model's size, without parsing it twice on small files
        return args.model.stat().st_size > 400 * _PROGRESS_ELEMENTS
    except OSError:
        return False


def _cmd_analyze(args: argparse.Namespace) -> int:
    from .export.bundle import BUNDLE_STEPS, StepPrinter, write_all

    printer = StepPrinter() if _show_progress(args) else None
    result, register, _ = _assessed(args, printer, _PRE_STEPS + BUNDLE_STEPS)

    def bundle_progress(label: str, index: int, total: int) -> None:
        if printer is not None:
            printer(label, _PRE_STEPS + index, _PRE_STEPS + total)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = write_all(register, args.out, full_diagram=args.full_diagram,
                            pdf=args.pdf, progress=bundle_progress)
    if printer is not None:
        printer.finish()
    for warning in caught:
        print(f"medthreat analyze: warning: {warning.message}", file=sys.stderr)
    specific = sum(1 for f in result.findings if not f.baseline)
    print(f"{result.model.system.name}: {len(result.findings)} findings ({specific} specific, "
          f"{len(result.findings) - specific} baseline)")
    print("  by STRIDE: " + ", ".join(f"{k} {v}" for k, v in result.by_stride().items()))
    print(f"  residual risk unacceptable: {len(register.unacceptable())} "
          f"(policy {register.policy.id} {register.policy.version})")
    for path in written:
        print(f"  wrote {path}")
    return EXIT_OK


def _cmd_gate(args: argparse.Namespace) -> int:
    from .lifecycle.review import review_status
    from .sbom import gate_issues

    result, register, decisions = _assessed(args)
    review = review_status(result.model, max_age_days=args.review_max_age)
    review_fails = args.strict_review and review.expired
    if review.warning:
        label = "FAILED" if review_fails else "warning"
        print(f"medthreat gate: {label}: {review.message}", file=sys.stderr)
    unacceptable = [a.id for a in register.unacceptable()]
    # The decision check, plus: known exploited vulnerabilities must be fixed.
    issues = gate_issues(register, decisions)
    if issues:
        print(f"medthreat gate: FAILED — {len(issues)} problem(s); {len(unacceptable)} "
              f"unacceptable residual risk(s) under policy {register.policy.id}:")
        for issue in issues:
            print(f"  [{issue.code}] {issue}")
        return EXIT_GATE
    if review_fails:
        print("medthreat gate: FAILED — threat-model review "
              f"{review.state.value.replace('_', ' ')} (--strict-review)")
        return EXIT_GATE
    print(f"medthreat gate: passed — {len(result.findings)} findings, {len(unacceptable)} "
          "unacceptable residual risk(s), each with a justified decision")
    return EXIT_OK


def _cmd_playbook(args: argparse.Namespace) -> int:
    from .lifecycle.incident import incident_playbooks, playbook_markdown
    from .model import load_model

    catalog = _catalog(args)
    model = load_model(args.model, catalog)
    return _emit(playbook_markdown(incident_playbooks(model, catalog)), args.out)


def _cmd_metrics(args: argparse.Namespace) -> int:
    from ._yaml import dump_json
    from .lifecycle import load_decisions
    from .lifecycle.review import load_events, tplc_metrics

    if args.decisions is None and args.events is None:
        raise MedthreatError("give --decisions FILE, --events FILE or both")
    decisions = load_decisions(args.decisions) if args.decisions else None
    events = load_events(args.events) if args.events else None
    metrics = tplc_metrics(decisions, events=events, today=args.today,
                           uncontrolled_target_days=args.uncontrolled_days,
                           controlled_target_days=args.controlled_days)
    text = dump_json(metrics.to_data()) if args.json else metrics.markdown()
    return _emit(text, args.out)


def _cmd_sbom_check(args: argparse.Namespace) -> int:
    from .model import load_model
    from .sbom import sbom_check_lines

    model = load_model(args.model, _catalog(args))
    lines, problems = sbom_check_lines(model, today=args.today)
    for line in lines:
        print(line)
    if problems:
        print(f"medthreat sbom check: FAILED — {problems} problem(s)")
        return EXIT_GATE
    print("medthreat sbom check: passed — every SBOM has the NTIA minimum elements and "
          "support information")
    return EXIT_OK


def _cmd_vex(args: argparse.Namespace) -> int:
    from .sbom import write_vex

    if not args.advisories:
        raise MedthreatError("medthreat vex: give the advisory files with --advisories FILE...")
    result, register, _ = _assessed(args)
    write_vex(register, args.out, timestamp=args.timestamp)
    count = len(getattr(result, "by_finding", {}))
    print(f"wrote {args.out} (CycloneDX VEX, {count} vulnerability finding(s))")
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from .export.otm import write_otm
    from .export.threatdragon import write_threatdragon

    result, register, _ = _assessed(args)
    writer = {"otm": write_otm, "threatdragon": write_threatdragon}[args.format]
    writer(result, args.out, register)
    print(f"wrote {args.out} ({args.format}, {len(result.findings)} findings)")
    return EXIT_OK


def _cmd_import(args: argparse.Namespace) -> int:
    from .interop import import_otm, import_pytm, import_threagile, import_threatdragon
    from .model import save_model, validate_model

    reader = {"otm": import_otm, "threatdragon": import_threatdragon,
              "threagile": import_threagile,
              "pytm": lambda path: import_pytm(path, catalog=_catalog(args))}[args.format]
    model, notes = reader(args.input)
    validate_model(model, _catalog(args))
    save_model(model, args.out)
    for note in notes:
        print(f"medthreat import: note: {note}", file=sys.stderr)
    print(f"wrote {args.out}: {len(model.components)} components, {len(model.actors)} actors, "
          f"{len(model.flows)} flows ({len(notes)} note(s) on what was not mapped)")
    return EXIT_OK


def _cmd_compare_pytm(args: argparse.Namespace) -> int:
    from .engine import analyze
    from .interop.pytm import compare_with_pytm, comparison_csv, comparison_markdown, run_pytm
    from .model import load_model

    catalog = _catalog(args)
    analysis = analyze(load_model(args.model, catalog), catalog)
    run = run_pytm(analysis.model, catalog)
    frame = compare_with_pytm(analysis, pytm_run=run)
    for note in run.notes:
        print(f"medthreat compare-pytm: note: {note}", file=sys.stderr)
    if args.out is not None and args.out.suffix.lower() not in (".md", ".csv"):
        raise MedthreatError(f"{args.out}: --out should end in .md or .csv")
    csv_out = args.out is not None and args.out.suffix.lower() == ".csv"
    return _emit(comparison_csv(frame) if csv_out else comparison_markdown(frame), args.out)


def _cmd_register_import(args: argparse.Namespace) -> int:
    from .engine import analyze
    from .export.excel import import_register
    from .lifecycle import Decisions, load_decisions, save_decisions
    from .lifecycle.audit import audit_path_for, record_changes
    from .model import load_model

    target: Path = args.decisions
    base = load_decisions(target) if target.exists() else Decisions()
    finding_ids = None
    if args.model is not None:
        catalog = _catalog(args)
        finding_ids = [f.id for f in analyze(load_model(args.model, catalog), catalog).findings]
    merged, changes, notes = import_register(args.register, base, finding_ids=finding_ids)
    for note in notes:
        print(f"medthreat register import: note: {note}", file=sys.stderr)
    if not changes:
        print(f"{args.register}: no decision changed; {target} left as it was")
        return EXIT_OK
    if target.exists():  # keep what the file said before, whatever happens next
        backup = target.with_name(target.name + ".bak")
        atomic_copy(target, backup)
        print(f"kept the previous decisions in {backup}")
    log = audit_path_for(target)  # the record first: no saved change without it
    record_changes(log, changes, actor=args.actor, source="cli:register-import",
                   note=args.register.name)
    save_decisions(merged, target)
    print(f"{len(changes)} change(s) from {args.register} merged into {target}:")
    for change in changes:
        print(f"  {change.key} {change.field}: {change.old!r} -> {change.new!r}")
    print(f"recorded in the audit log {log}")
    return EXIT_OK


def _audit_log_path(args: argparse.Namespace) -> Path:
    from .lifecycle.audit import audit_path_for

    if args.log is not None and args.decisions is not None:
        raise MedthreatError("give the audit log (LOG) or the decisions file (--decisions), "
                             "not both")
    if args.log is not None:
        return Path(args.log)
    if args.decisions is not None:
        return audit_path_for(args.decisions)
    raise MedthreatError("name the audit log (LOG) or the decisions file (--decisions FILE) "
                         "whose log FILE.audit.jsonl to read")


def _cmd_audit_verify(args: argparse.Namespace) -> int:
    from .lifecycle.audit import verify_log

    report = verify_log(_audit_log_path(args), anchor=args.anchor)
    sys.stdout.write(report.to_text())
    return EXIT_OK if report.ok else EXIT_GATE


def _cmd_audit_log(args: argparse.Namespace) -> int:
    from .lifecycle.audit import format_history, history

    path = _audit_log_path(args)
    if not path.exists():
        raise MedthreatError(f"{path}: no audit log here (no change has been recorded yet)")
    entries = history(path, args.key)  # a broken chain raises MedthreatError (exit 2)
    sys.stdout.write(format_history(entries, args.key) or
                     f"{path}: no entries{' for ' + args.key if args.key else ''}\n")
    return EXIT_OK


def _cmd_diff(args: argparse.Namespace) -> int:
    from .lifecycle import Decisions, load_decisions
    from .lifecycle.diff import diff_models, impact_html, impact_markdown, write_impact_workbook
    from .model import load_model
    from .risk import RiskPolicy

    out: Path | None = args.out
    suffix = out.suffix.lower() if out is not None else ".md"
    if suffix not in (".md", ".markdown", ".html", ".htm", ".xlsx"):
        raise MedthreatError(f"--out {out}: expected a .md, .html or .xlsx file")
    catalog = _catalog(args)
    old = load_model(args.old, catalog)
    new = load_model(args.new, catalog)
    policy = RiskPolicy.load(args.policy)
    decisions = load_decisions(args.decisions) if args.decisions else Decisions()

    def label(model: Any, path: Path) -> str:
        return " ".join(filter(None, [model.system.name, model.system.version, f"({path.name})"]))

    impact = diff_models(old, new, catalog=catalog, policy=policy, decisions=decisions,
                         old_label=label(old, args.old), new_label=label(new, args.new))
    if suffix == ".xlsx":
        assert out is not None
        write_impact_workbook(impact, out)
        print(f"wrote {out}")
    elif suffix in (".html", ".htm"):
        _emit(impact_html(impact), out)
    else:
        _emit(impact_markdown(impact), out)
    verdict = (f"residual risk rose — {impact.new_unacceptable} new unacceptable residual "
               "risk(s)" if impact.exit_code else "no residual risk rose")
    print(f"medthreat diff: {verdict}; {len(impact.model_changes)} model change(s), "
          f"{len(impact.new_findings)} new / {len(impact.gone_findings)} gone / "
          f"{len(impact.changed_findings)} re-rated finding(s), "
          f"{len(impact.orphaned_decisions)} orphaned decision(s)", file=sys.stderr)
    return EXIT_GATE if impact.exit_code else EXIT_OK


def _cmd_coverage(args: argparse.Namespace) -> int:
    from .coverage import coverage
    from .model import load_model

    catalog = _catalog(args)
    result = coverage(load_model(args.model, catalog), catalog)
    sys.stdout.write(result.to_text())
    if args.out:
        suffix = args.out.suffix.lower()
        if suffix not in (".md", ".json"):
            raise MedthreatError(f"{args.out}: --out should end in .md or .json")
        atomic_write(args.out, result.to_json() if suffix == ".json" else result.to_markdown())
        print(f"wrote {args.out}")
    return EXIT_OK


def _cmd_catalog_doc(args: argparse.Namespace) -> int:
    from .catalog.doc import catalog_markdown

    return _emit(catalog_markdown(_catalog(args)), args.out)


def _cmd_catalog_list(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    sections = [args.section] if args.section else list(SECTIONS_HELP)
    for section in sections:
        entries = getattr(catalog, section)
        print(f"{section} ({len(entries)})")
        for entry_id in sorted(entries):
            entry = entries[entry_id]
            label = getattr(entry, "title", None) or getattr(entry, "name", None) or \
                getattr(entry, "description", "")
            print(f"  {entry_id:<32} {label}")
    return EXIT_OK


def _cmd_catalog_show(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    entry = catalog.get(args.id)
    if entry is None:
        from .model import did_you_mean

        ids = [i for section in SECTIONS_HELP for i in getattr(catalog, section)]
        raise MedthreatError(f"no catalog entry with id {args.id!r}{did_you_mean(args.id, ids)}")
    sys.stdout.write(dump_yaml(entry.model_dump(mode="json", exclude_defaults=True)))
    return EXIT_OK


def _cmd_catalog_check(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    counts = ", ".join(f"{n} {section.replace('_', ' ')}" for section, n in
                       catalog.counts().items())
    print(f"catalog OK ({'; '.join(catalog.sources)}): {counts}")
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace) -> int:
    if args.findings:
        from .export.findings import findings_schema

        schema = findings_schema()
    else:
        from .model import model_json_schema

        schema = model_json_schema(_catalog(args))
    return _emit(json.dumps(schema, indent=2, sort_keys=True) + "\n", args.out)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``medthreat`` command."""
    parser = argparse.ArgumentParser(
        prog="medthreat",
        description="Threat modeling and security risk documentation for medical devices.",
        epilog="Exit codes: 0 ok, 1 risk gate failed / residual risk rose (diff) / audit chain "
        "broken, 2 bad input.",
    )
    parser.add_argument("--version", action="version", version=f"medthreat {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_catalog(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--catalog", action="append", default=[], metavar="DIR",
                       help="a user catalog folder merged over the shipped one (repeatable)")
        return p

    p = with_catalog(sub.add_parser("validate", help="check a model file against the catalog"))
    p.add_argument("model", type=Path, help="model file (.yaml, .yml or .json)")
    p.set_defaults(func=_cmd_validate)

    def with_risk(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("model", type=Path, help="model file (.yaml, .yml or .json)")
        p.add_argument("--policy", type=Path, metavar="FILE",
                       help="risk policy replacing the shipped default")
        p.add_argument("--decisions", type=Path, metavar="FILE",
                       help="risk decisions file (status, justification, owner, ...)")
        p.add_argument("--advisories", type=Path, nargs="+", action="extend", default=[],
                       metavar="FILE", help="vulnerability advisories (OSV, CSAF 2.0 or "
                       "CycloneDX VEX) matched to the components' SBOMs")
        p.add_argument("--kev", type=Path, metavar="FILE",
                       help="CISA Known Exploited Vulnerabilities catalog (JSON); listed "
                       "vulnerabilities fail the gate until fixed")
        return with_catalog(p)

    p = with_risk(sub.add_parser("analyze", help="find and rate threats, write the results"))
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="output folder: findings, register (xlsx/json/csv), report "
                   "(md/html/pdf), labeling draft, summary, architecture views")
    p.add_argument("--full-diagram", action="store_true",
                   help="draw every element even in very large models (default: collapse to "
                   "one node per trust boundary above 150 elements)")
    p.add_argument("--no-pdf", dest="pdf", action="store_false",
                   help="skip report.pdf (rendered with Chromium when it is installed)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="print each step with its time to stderr (default: on a terminal or "
                   "for large models)")
    p.set_defaults(func=_cmd_analyze)

    p = with_risk(sub.add_parser("gate", help="exit 1 on unacceptable residual risk without "
                                 "a justified decision, orphaned or unjustified decisions"))
    p.add_argument("--strict-review", action="store_true",
                   help="also fail when the threat-model review (system.last_review) is "
                   "overdue or was never recorded; default: print a warning")
    p.add_argument("--review-max-age", type=int, default=365, metavar="DAYS",
                   help="longest time between threat-model reviews (default: 365)")
    p.set_defaults(func=_cmd_gate)

    p = with_risk(sub.add_parser("vex", help="write a CycloneDX VEX document of the "
                                 "vulnerability findings and their decisions"))
    p.add_argument("--out", type=Path, required=True, metavar="FILE")
    p.add_argument("--timestamp", default="", metavar="ISO-8601",
                   help="metadata timestamp to write (default: none, for reproducible output)")
    p.set_defaults(func=_cmd_vex)

    p = with_catalog(sub.add_parser("playbook", help="incident response playbook skeletons "
                                    "for the model's critical components (Markdown)"))
    p.add_argument("model", type=Path, help="model file (.yaml, .yml or .json)")
    p.add_argument("--out", type=Path, metavar="FILE.md", help="write here instead of stdout")
    p.set_defaults(func=_cmd_playbook)

    p = sub.add_parser("metrics", help="TPLC remediation metrics from decisions and "
                       "identified/fixed/deployed dates")
    p.add_argument("--decisions", type=Path, metavar="FILE", help="risk decisions file")
    p.add_argument("--events", type=Path, metavar="FILE",
                   help="events file (.yaml/.json or .csv): id, identified, fixed, deployed, "
                   "risk (controlled/uncontrolled)")
    p.add_argument("--today", type=_iso_day, metavar="YYYY-MM-DD",
                   help="the day to measure open items against (default: today)")
    p.add_argument("--uncontrolled-days", type=int, default=30, metavar="DAYS",
                   help="target days to remediate an uncontrolled risk (default: 30)")
    p.add_argument("--controlled-days", type=int, default=60, metavar="DAYS",
                   help="target days to remediate a controlled risk (default: 60)")
    p.add_argument("--json", action="store_true", help="JSON instead of Markdown")
    p.add_argument("--out", type=Path, metavar="FILE", help="write here instead of stdout")
    p.set_defaults(func=_cmd_metrics)

    sbom = sub.add_parser("sbom", help="the SBOMs of the model's components")
    sbom_sub = sbom.add_subparsers(dest="sbom_command", required=True, metavar="ACTION")
    p = with_catalog(sbom_sub.add_parser("check", help="NTIA minimum elements, support level "
                                         "and end of support of every SBOM component"))
    p.add_argument("model", type=Path, help="model file (.yaml, .yml or .json)")
    p.add_argument("--today", type=_iso_day, metavar="YYYY-MM-DD",
                   help="date to compare end of support with (default: today)")
    p.set_defaults(func=_cmd_sbom_check)

    p = with_risk(sub.add_parser("export", help="write the model and its rated findings in "
                                 "another tool's format"))
    p.add_argument("--format", required=True, choices=["otm", "threatdragon"])
    p.add_argument("--out", type=Path, required=True, metavar="FILE")
    p.set_defaults(func=_cmd_export)

    p = with_catalog(sub.add_parser("import", help="turn another tool's model into a "
                                    "medthreat model file"))
    p.add_argument("format", choices=["otm", "threatdragon", "threagile", "pytm"])
    p.add_argument("input", type=Path, help="OTM (.json/.yaml), Threat Dragon v2 (.json), "
                   "Threagile (.yaml) file, or pytm's JSON dump (`python tm.py --json FILE`)")
    p.add_argument("--out", type=Path, required=True, metavar="MODEL",
                   help="medthreat model file to write (.yaml or .json)")
    p.set_defaults(func=_cmd_import)

    p = with_catalog(sub.add_parser("compare-pytm", help="run pytm's threat engine on the "
                                    "model and compare its findings with medthreat's, per "
                                    "element (needs medthreat[pytm])"))
    p.add_argument("model", type=Path, help="model file (.yaml, .yml or .json)")
    p.add_argument("--out", type=Path, metavar="FILE", help="write Markdown (.md) or CSV (.csv)")
    p.set_defaults(func=_cmd_compare_pytm)

    reg = sub.add_parser("register", help="the Excel risk register")
    reg_sub = reg.add_subparsers(dest="register_command", required=True, metavar="ACTION")
    p = with_catalog(reg_sub.add_parser("import", help="merge the decisions a risk manager "
                                        "edited in the register into the decisions file"))
    p.add_argument("register", type=Path, help="edited register.xlsx")
    p.add_argument("--decisions", type=Path, required=True, metavar="FILE",
                   help="decisions file to update (created if missing; a backup is kept)")
    p.add_argument("--model", type=Path, metavar="MODEL",
                   help="the model, to report rows whose finding no longer exists")
    p.add_argument("--actor", metavar="NAME", help="who made the changes, for the audit log "
                   "(default: $MEDTHREAT_ACTOR, else the OS user)")
    p.set_defaults(func=_cmd_register_import)

    aud = sub.add_parser("audit", help="the tamper-evident audit trail of decision changes")
    aud_sub = aud.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    p = aud_sub.add_parser("verify", help="check the hash chain of an audit log; print the "
                           "entry count and head hash (exit 1 if broken)")
    p.add_argument("log", nargs="?", type=Path, help="audit log (.audit.jsonl)")
    p.add_argument("--decisions", type=Path, metavar="FILE",
                   help="check the log of this decisions file (FILE.audit.jsonl)")
    p.add_argument("--anchor", metavar="HASH",
                   help="a head hash recorded earlier (git, release record) that must still "
                   "be in the chain")
    p.set_defaults(func=_cmd_audit_verify)
    p = aud_sub.add_parser("log", help="show who changed which decision, when (verified first)")
    p.add_argument("log", nargs="?", type=Path, help="audit log (.audit.jsonl)")
    p.add_argument("--decisions", type=Path, metavar="FILE",
                   help="show the log of this decisions file (FILE.audit.jsonl)")
    p.add_argument("--key", metavar="KEY", help="only changes to this decision key, e.g. "
                   "MT-DEV-001@monitor")
    p.set_defaults(func=_cmd_audit_log)

    p = with_catalog(sub.add_parser("diff", help="change impact between two model revisions; "
                                    "exit 1 when residual risk rose"))
    p.add_argument("old", type=Path, help="the previous revision of the model")
    p.add_argument("new", type=Path, help="the new revision of the model")
    p.add_argument("--policy", type=Path, metavar="FILE",
                   help="risk policy replacing the shipped default (used for both revisions)")
    p.add_argument("--decisions", type=Path, metavar="FILE",
                   help="risk decisions file applied to both revisions")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="write the impact to FILE.md, FILE.html or FILE.xlsx instead of "
                   "printing Markdown")
    p.set_defaults(func=_cmd_diff)

    p = with_catalog(sub.add_parser("coverage", help="regulatory coverage: which framework "
                                    "requirements the model's controls and documents satisfy"))
    p.add_argument("model", type=Path, help="model file (.yaml, .yml or .json)")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="also write the matrix as Markdown (.md) or JSON (.json)")
    p.set_defaults(func=_cmd_coverage)

    cat = sub.add_parser("catalog", help="list, show, check or document catalog entries")
    cat_sub = cat.add_subparsers(dest="catalog_command", required=True, metavar="ACTION")
    p = with_catalog(cat_sub.add_parser("list", help="list entries"))
    p.add_argument("--section", choices=list(SECTIONS_HELP), help="only this section")
    p.set_defaults(func=_cmd_catalog_list)
    p = with_catalog(cat_sub.add_parser("show", help="show one entry as YAML"))
    p.add_argument("id", help="entry id, e.g. insulin_pump or CTL-SECURE-BOOT")
    p.set_defaults(func=_cmd_catalog_show)
    p = with_catalog(cat_sub.add_parser("check", help="load and check the catalog"))
    p.set_defaults(func=_cmd_catalog_check)
    p = with_catalog(cat_sub.add_parser("doc", help="Markdown overview: STRIDE x element-kind "
                                        "coverage and counts (docs/catalog.md)"))
    p.add_argument("--out", type=Path, metavar="FILE", help="write here instead of stdout")
    p.set_defaults(func=_cmd_catalog_doc)

    p = with_catalog(sub.add_parser("schema", help="JSON Schema of model files (or of "
                                    "findings.json)"))
    p.add_argument("--findings", action="store_true",
                   help="the schema of findings.json instead of the model's")
    p.add_argument("--out", type=Path, metavar="FILE", help="write here instead of stdout")
    p.set_defaults(func=_cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except MedthreatError as exc:
        print(f"medthreat {args.command}: error:\n{exc.render()}", file=sys.stderr)
        return EXIT_INPUT
    except OSError as exc:
        print(f"medthreat {args.command}: error: {exc.filename or ''}: {exc.strerror}",
              file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
