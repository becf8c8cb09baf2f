#!/usr/bin/env python3
"""Export scaling benchmark: every export of a large synthetic model, step by step.

What is measured
----------------
For each size N (default 1,000 and 3,000 components) the synthetic hospital device fleet of
``engine_scale.py`` (same generator, same seed) is built and analyzed, and every export step is
timed on its own, in a fresh subprocess per size so the peak resident set size
(``ru_maxrss``) belongs to that size alone:

``analyze``, ``assess``, ``findings.json`` (streamed, with every register field),
``findings.csv``, ``register.json``, ``register.csv``, ``register.xlsx`` (the Excel workbook),
``report`` (``medthreat.export.report.write_report``, without PDF) and ``diagrams``
(``medthreat.export.views.architecture_views`` + ``write_views``) where those modules exist.

A second subprocess per size runs the whole bundle as a user does: build, analyze, assess and
``medthreat.export.bundle.write_all(register, out_dir)`` (when it exists; PDF included when
Chromium is installed). Its wall time and peak RSS are what the targets are judged on.

Targets: the full export of 3,000 components in under 60 s and under 1 GB peak RSS.

Baseline (from the issue): pytm's report takes about 30 s and 1 GB at 10 components and
crashes at 200. ``--pytm-report 10,200`` measures ``TM.report`` of pytm 1.4 on a chain of that
many elements (servers, processes, data stores and actors across two boundaries, HTTPS flows
between neighbours) with a template using pytm's report helpers (dataflows, data, findings with
threat id, description, target, severity, mitigations and references), each in its own
subprocess with a timeout.

Usage::

    .venv/bin/python benchmarks/export_scale.py [--sizes 1000,3000] [--timeout 900]
        [--pytm-report 10,200] [--no-bundle] [--json results.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve()
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(SCRIPT.parent) not in sys.path:
    sys.path.insert(0, str(SCRIPT.parent))

from engine_scale import (  # noqa: E402 - the generator lives beside this script
    DEFAULT_SEED,
    build_medthreat,
    generate_spec,
    resolve_catalog_ids,
    spec_digest,
)

DEFAULT_SIZES = (1_000, 3_000)
DEFAULT_TIMEOUT = 900.0
TARGET_SIZE = 3_000
TARGET_S = 60.0
TARGET_MB = 1024.0
PYTM_TEMPLATE = """## System
{tm.description}

## Dataflows
|Name|From|To|Data|Protocol|
|---|---|---|---|---|
{dataflows:repeat:|{{item.name}}|{{item.source.name}}|{{item.sink.name}}|{{item.data}}|\
{{item.protocol}}|
}

## Threats
{findings:repeat:
### {{item:call:getThreatId}}: {{item:call:getFindingDescription}}
Target: {{item:call:getFindingTarget}}; severity {{item:call:getFindingSeverity}}
Mitigations: {{item:call:getFindingMitigations}}
References: {{item:call:getFindingReferences}}
}
"""


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _has(module: str, *names: str) -> bool:
    """Whether ``module`` exists and defines every one of ``names``."""
    try:
        if importlib.util.find_spec(module) is None:
            return False
        mod = importlib.import_module(module)
    except ImportError:
        return False
    return all(hasattr(mod, n) for n in names)


def _size_of(paths: Sequence[Path]) -> float:
    return sum(p.stat().st_size for p in paths if p.is_file()) / 1e6


def measure_steps(n: int, seed: int) -> dict[str, Any]:
    """Child: build, analyze, assess, then time every export step separately."""
    import medthreat as mt
    from medthreat.export.findings import findings_csv
    from medthreat.export.register import register_csv, register_json

    steps: dict[str, dict[str, float]] = {}
    out = Path(tempfile.mkdtemp(prefix="medthreat-export-"))

    def step(name: str, run: Callable[[], Any]) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        result = run()
        steps[name] = {"s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
                       "rss_mb": _peak_rss_mb()}
        if isinstance(result, list | tuple) and result and isinstance(result[0], Path):
            steps[name]["mb"] = _size_of(result)
        elif isinstance(result, Path):
            steps[name]["mb"] = _size_of([result])
        return result

    try:
        catalog = mt.Catalog.load()
        roles, protocols = resolve_catalog_ids(catalog)
        spec = generate_spec(n, seed)
        model = step("build", lambda: build_medthreat(spec, mt, roles, protocols))
        analysis = step("analyze", lambda: mt.analyze(model, catalog=catalog))
        register = step("assess", lambda: mt.assess(analysis))

        def text(name: str, make: Callable[[], str]) -> Path:
            path = out / name
            path.write_text(make(), encoding="utf-8")
            return path

        if _has("medthreat.export.findings", "write_findings_json"):
            from medthreat.export.findings import write_findings_json

            step("findings.json", lambda: write_findings_json(analysis, out / "findings.json",
                                                              register))
        else:
            from medthreat.export.findings import findings_json

            step("findings.json", lambda: text("findings.json",
                                               lambda: findings_json(analysis)))
        step("findings.csv", lambda: text("findings.csv", lambda: findings_csv(analysis)))
        step("register.json", lambda: text("register.json", lambda: register_json(register)))
        step("register.csv", lambda: text("register.csv", lambda: register_csv(register)))
        from medthreat.export.excel import write_register

        step("register.xlsx", lambda: write_register(register, out / "register.xlsx"))
        views: list[Any] = []
        if _has("medthreat.export.views", "architecture_views", "write_views"):
            from medthreat.export.views import architecture_views, write_views

            def diagrams() -> list[Path]:
                views.extend(architecture_views(register))
                return write_views(views, out / "views")

            step("diagrams", diagrams)
        if _has("medthreat.export.report", "write_report"):
            from medthreat.export.report import write_report

            step("report", lambda: write_report(register, out, views, pdf=False))
        return {"mode": "steps", "size": n, "nodes": len(spec["nodes"]),
                "flows": len(spec["flows"]), "spec_digest": spec_digest(spec),
                "findings": len(analysis.findings), "steps": steps,
                "rss_peak_mb": _peak_rss_mb()}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def measure_bundle(n: int, seed: int) -> dict[str, Any]:
    """Child: the whole export as a user runs it: build, analyze, assess, write_all."""
    import medthreat as mt

    if not _has("medthreat.export.bundle", "write_all"):
        return {"mode": "bundle", "size": n, "error": "medthreat.export.bundle.write_all "
                "does not exist"}
    from medthreat.export.bundle import write_all

    out = Path(tempfile.mkdtemp(prefix="medthreat-bundle-"))
    timings: list[tuple[str, float]] = []
    state = {"label": "", "start": 0.0}

    def progress(label: str, index: int, total: int) -> None:
        now = time.perf_counter()
        if state["label"]:
            timings.append((str(state["label"]), now - float(state["start"])))
        state["label"], state["start"] = label, now

    try:
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        catalog = mt.Catalog.load()
        roles, protocols = resolve_catalog_ids(catalog)
        model = build_medthreat(generate_spec(n, seed), mt, roles, protocols)
        analysis = mt.analyze(model, catalog=catalog)
        register = mt.assess(analysis)
        t_assessed = time.perf_counter()
        paths = write_all(register, out, progress=progress)
        end = time.perf_counter()
        if state["label"]:
            timings.append((str(state["label"]), end - float(state["start"])))
        return {"mode": "bundle", "size": n, "findings": len(analysis.findings),
                "analyze_assess_s": t_assessed - t0, "write_all_s": end - t_assessed,
                "total_s": end - t0, "total_cpu_s": time.process_time() - cpu0,
                "files": len(paths), "mb": _size_of(paths), "bundle_steps": timings,
                "rss_peak_mb": _peak_rss_mb()}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def measure_pytm_report(n: int) -> dict[str, Any]:
    """Child: pytm 1.4's ``TM.report`` on a chain of ``n`` elements."""
    import pytm
    from pytm import TM, Actor, Boundary, Dataflow, Datastore, Process, Server

    TM.reset()
    tm = TM(f"chain of {n}")
    tm.description = "Synthetic chain of elements for the report benchmark."
    inside, outside = Boundary("Hospital"), Boundary("Internet")
    kinds = (Server, Process, Datastore, Actor)
    elements = []
    for i in range(n):
        element = kinds[i % len(kinds)](f"element {i}")
        element.inBoundary = inside if i % 3 else outside
        elements.append(element)
    for i in range(n - 1):
        flow = Dataflow(elements[i], elements[i + 1], f"flow {i}")
        flow.protocol = "HTTPS"
    t = time.perf_counter()
    tm.check()
    tm.resolve()
    resolve_s = time.perf_counter() - t
    with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False) as fh:
        fh.write(PYTM_TEMPLATE)
    result: dict[str, Any] = {"mode": "pytm", "size": n, "findings": len(tm.findings),
                              "resolve_s": resolve_s, "version": getattr(pytm, "__version__",
                                                                         "1.4")}
    t = time.perf_counter()
    try:
        text = tm.report(fh.name)
        result.update(report_s=time.perf_counter() - t, chars=len(text))
    except BaseException as exc:  # the crash is the measurement
        result.update(report_s=time.perf_counter() - t,
                      error=f"{type(exc).__name__}: {str(exc)[:160]}")
    finally:
        os.unlink(fh.name)
    result["rss_peak_mb"] = _peak_rss_mb()
    return result


def run_child(args: list[str], timeout: float) -> dict[str, Any]:
    """Run this script as a child and return its JSON line (or what went wrong)."""
    cmd = [sys.executable, str(SCRIPT), *args]
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              check=False, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s", "wall_s": time.perf_counter() - t}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {tail[:200]}",
                "wall_s": time.perf_counter() - t}
    result: dict[str, Any] = json.loads(lines[-1])
    result["wall_s"] = time.perf_counter() - t
    return result


def _fmt(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "-" if value is None else str(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def report(results: dict[str, Any]) -> str:
    """The Markdown tables and verdicts of one run."""
    out: list[str] = []
    steps = [r for r in results["steps"] if "steps" in r]
    names = list(dict.fromkeys(name for r in steps for name in r["steps"]))
    if steps:
        out.append("Per step (wall s / CPU s; peak RSS of the child after the step):\n")
        headers = ["step", *(f"{r['size']:,} components ({r['findings']:,} findings)"
                             for r in steps)]
        rows = []
        for name in names:
            cells = [name]
            for r in steps:
                s = r["steps"].get(name)
                cells.append("-" if s is None else
                             f"{s['s']:.2f} / {s['cpu_s']:.2f}" +
                             (f" ({s['mb']:.1f} MB)" if "mb" in s else ""))
            rows.append(cells)
        rows.append(["peak RSS MB", *(_fmt(r["rss_peak_mb"], 0) for r in steps)])
        out.append(_table(headers, rows))
    for r in results["steps"]:
        if "error" in r:
            out.append(f"\nsteps at {r.get('size')}: {r['error']}")
    bundles = results["bundle"]
    if bundles:
        out.append("\nWhole export (build + analyze + assess + write_all):\n")
        rows = [[_fmt(r.get("size")), _fmt(r.get("findings")), _fmt(r.get("analyze_assess_s")),
                 _fmt(r.get("write_all_s")), _fmt(r.get("total_s")), _fmt(r.get("total_cpu_s")),
                 _fmt(r.get("rss_peak_mb"), 0), _fmt(r.get("mb"), 1),
                 r.get("error", "")] for r in bundles]
        out.append(_table(["components", "findings", "analyze+assess s", "write_all s",
                           "total s", "total CPU s", "peak RSS MB", "output MB", "error"], rows))
        for r in bundles:
            if r.get("bundle_steps"):
                out.append(f"\nwrite_all steps at {r['size']:,}: " + ", ".join(
                    f"{label} {s:.1f} s" for label, s in r["bundle_steps"]))
    pytm_rows = results["pytm"]
    if pytm_rows:
        out.append("\npytm 1.4 `TM.report` (chain of N elements):\n")
        out.append(_table(["elements", "pytm findings", "resolve s", "report s", "peak RSS MB",
                           "result"],
                          [[_fmt(r.get("size")), _fmt(r.get("findings")),
                            _fmt(r.get("resolve_s")), _fmt(r.get("report_s")),
                            _fmt(r.get("rss_peak_mb"), 0), r.get("error", "ok")]
                           for r in pytm_rows]))
    out.append("\n" + "\n".join(verdicts(results)))
    return "\n".join(out) + "\n"


def verdicts(results: dict[str, Any]) -> list[str]:
    """PASS / FAIL / NOT RUN for the targets, and the ratio to pytm's report."""
    lines = []
    bundle = next((r for r in results["bundle"] if r.get("size") == TARGET_SIZE), None)
    if bundle is None or "total_s" not in bundle:
        step = next((r for r in results["steps"] if r.get("size") == TARGET_SIZE
                     and "steps" in r), None)
        if step is None:
            lines.append(f"full export of {TARGET_SIZE:,} components: NOT RUN")
        else:
            total = sum(s["s"] for s in step["steps"].values())
            ok = total < TARGET_S and step["rss_peak_mb"] < TARGET_MB
            lines.append(f"full export of {TARGET_SIZE:,} components (sum of steps): "
                         f"{'PASS' if ok else 'FAIL'}: {total:.1f} s, "
                         f"{step['rss_peak_mb']:.0f} MB peak RSS")
    else:
        ok_t, ok_m = bundle["total_s"] < TARGET_S, bundle["rss_peak_mb"] < TARGET_MB
        lines.append(f"full export of {TARGET_SIZE:,} components < {TARGET_S:.0f} s: "
                     f"{'PASS' if ok_t else 'FAIL'} ({bundle['total_s']:.1f} s)")
        lines.append(f"full export of {TARGET_SIZE:,} components < {TARGET_MB:.0f} MB: "
                     f"{'PASS' if ok_m else 'FAIL'} ({bundle['rss_peak_mb']:.0f} MB)")
    pytm10 = next((r for r in results["pytm"] if r.get("size") == 10 and "error" not in r),
                  None)
    if pytm10 is not None and bundle is not None and "total_s" in bundle:
        per_pytm = pytm10["report_s"] / 10
        per_medthreat = bundle["total_s"] / TARGET_SIZE
        lines.append(f"pytm's report of 10 elements: {pytm10['report_s']:.1f} s, "
                     f"{pytm10['rss_peak_mb']:.0f} MB; medthreat's whole export of "
                     f"{TARGET_SIZE:,} components: {bundle['total_s']:.1f} s, "
                     f"{bundle['rss_peak_mb']:.0f} MB: {per_pytm / per_medthreat:,.0f}x less "
                     "time per element")
    for r in results["pytm"]:
        if "error" in r:
            lines.append(f"pytm report at {r.get('size')} elements: failed: {r['error']}")
    return lines


def _sizes(text: str) -> list[int]:
    return [int(p.replace("_", "")) for p in text.split(",") if p.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds per child; a slower child is reported as a timeout")
    parser.add_argument("--no-bundle", action="store_true", help="skip write_all")
    parser.add_argument("--no-steps", action="store_true", help="skip the per-step children")
    parser.add_argument("--pytm-report", default="10,200",
                        help="element counts for pytm's report ('' to skip)")
    parser.add_argument("--pytm-timeout", type=float, default=300.0)
    parser.add_argument("--json", type=Path, help="also write all measurements as JSON")
    parser.add_argument("--one", choices=("steps", "bundle", "pytm"), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.one:
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
        run = {"steps": lambda: measure_steps(args.size, args.seed),
               "bundle": lambda: measure_bundle(args.size, args.seed),
               "pytm": lambda: measure_pytm_report(args.size)}[args.one]
        print(json.dumps(run()))
        return 0

    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "loadavg": os.getloadavg()},
        "seed": args.seed, "steps": [], "bundle": [], "pytm": []}
    for n in _sizes(args.sizes):
        if not args.no_steps:
            print(f"export_scale: steps at {n:,} components ...", file=sys.stderr, flush=True)
            res = run_child(["--one", "steps", "--size", str(n), "--seed", str(args.seed)],
                            args.timeout)
            results["steps"].append({"size": n, **res})
        if not args.no_bundle:
            print(f"export_scale: write_all at {n:,} components ...", file=sys.stderr,
                  flush=True)
            res = run_child(["--one", "bundle", "--size", str(n), "--seed", str(args.seed)],
                            args.timeout)
            results["bundle"].append({"size": n, **res})
    if args.pytm_report:
        if importlib.util.find_spec("pytm") is None:
            print("pytm not installed: pip install 'pytm==1.4.*'", file=sys.stderr)
        else:
            for n in _sizes(args.pytm_report):
                print(f"export_scale: pytm report at {n} elements ...", file=sys.stderr,
                      flush=True)
                res = run_child(["--one", "pytm", "--size", str(n)], args.pytm_timeout)
                results["pytm"].append({"size": n, **res})
    results["machine"]["loadavg_end"] = os.getloadavg()
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n",
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
