#!/usr/bin/env python3
"""Engine scaling benchmark: medthreat vs pytm on a synthetic hospital device fleet.

What is measured
----------------
A deterministic synthetic architecture (fixed ``random.Random`` seed) of a hospital device fleet
is generated for each size N (default 100, 1,000, 3,000 and 10,000). N counts the DFD nodes:
components plus actors. Every node owns two or three data flows, so a model has about 2.5 N
flows. The fleet is laid out as a vendor cloud (API gateway, IoT hub, update server, cloud
database), hospital sites (HL7 interface engine, EHR, the vendor's remote service gateway) and
wards of twenty nodes (central station, nurse, an on-call clinician app on the internet, ten
patient monitors and seven infusion pumps in the ward's device VLAN), with HTTPS, MQTT over TLS,
HL7 v2 over MLLP, a proprietary TCP protocol, OTA update and SQL flows carrying PHI, therapy
commands, telemetry, configuration and firmware.

The same neutral specification is turned into

* a medthreat ``Model`` through the public builder API, analyzed with
  ``medthreat.analyze(model, catalog=catalog)`` against the shipped catalog (loaded once,
  outside the timing); the timing covers validation, graph construction and rule matching;
* a pytm 1.4 ``TM`` with ``Boundary``, ``Server``, ``Process``, ``Datastore``, ``Actor`` and
  ``Dataflow`` objects, analyzed with pytm's own ``tm.check()`` (flow defaults and model checks)
  followed by ``tm.resolve()`` (evaluation of pytm's threat library against every element).

Each (tool, size) pair runs in a fresh subprocess (``--one TOOL N``) so that the peak resident
set size (``ru_maxrss``) is per tool and per size; the child prints one JSON line that this
script collects. Per size it reports model build time, analyze time (minimum over ``--repeat``
runs), the peak of Python allocations during one extra analyze run under ``tracemalloc``, the
child's peak RSS and the number of findings. Both children print a digest of the specification
they built, so the two tools provably analyze the same architecture.

Baseline and targets (from the issue)
-------------------------------------
pytm needs about 1 s for 1,000 components and 0.7 GB at 3,000 components. Targets: 10,000
components analyzed in under 2 s and under 500 MB (peak RSS of the whole child process, which
includes the interpreter, the catalog and the model); at least 10x faster than pytm at 1,000 and
3,000 components (aim for 50x); time grows linearly (time per component at 10,000 at most 1.5x
the time per component at 1,000).

Usage::

    .venv/bin/pip install 'pytm==1.4.*'
    .venv/bin/python benchmarks/engine_scale.py [--sizes 100,1000,3000,10000] [--repeat 3]
        [--pytm-max 3000] [--timeout 300] [--json results.json]

pytm runs for sizes up to ``--pytm-max`` (default 3,000) and is skipped with a message when it
is not installed. A child that exceeds ``--timeout`` seconds is killed and reported as timeout.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib.util
import json
import os
import platform
import random
import resource
import shlex
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve()
# Measure the engine of this checkout, also when the interpreter has no editable install.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
DEFAULT_SIZES = (100, 1_000, 3_000, 10_000)
DEFAULT_SEED = 81001
DEFAULT_PYTM_MAX = 3_000
DEFAULT_TIMEOUT = 300.0
PYTM_REQUIREMENT = "pytm==1.4.*"
TOOLS = ("medthreat", "pytm")

# Targets quoted in the issue.
TARGET_SIZE = 10_000
TARGET_SECONDS = 2.0
TARGET_MB = 500.0
TARGET_SPEEDUP = 10.0
AIM_SPEEDUP = 50.0
SPEEDUP_SIZES = (1_000, 3_000)
REPEAT_BUDGET_S = 30.0  # stop repeating once a child's analyze runs took this long in total
LINEARITY_LIMIT = 1.5  # per-component time at the largest size / per-component time at 1,000

WARDS_PER_SITE = 20
MIN_SIZE = 20


# ------------------------------------------------------------------------------------------------
# The synthetic architecture
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Role:
    """A kind of node in the synthetic fleet and how each tool represents it."""

    key: str
    label: str
    type_candidates: tuple[str, ...]  # catalog component type ids, first one present wins
    pytm_class: str  # Server | Process | Datastore | Lambda | Actor
    actor_role: str = ""  # medthreat actor role; non-empty for actors


ROLES: dict[str, Role] = {
    r.key: r
    for r in (
        Role("api_gateway", "Cloud API gateway", ("api_gateway",), "Server"),
        Role("iot_hub", "IoT hub", ("iot_hub",), "Server"),
        Role("fleet_manager", "Fleet update server", ("update_server",), "Server"),
        Role("cloud_db", "Cloud database", ("sql_database",), "Datastore"),
        Role("interface_engine", "HL7 interface engine", ("interface_engine",), "Process"),
        Role("ehr", "EHR", ("ehr_system",), "Datastore"),
        Role(
            "service_gateway",
            "Remote service gateway",
            ("remote_service_gateway",),
            "Server",
        ),
        Role("central_station", "Central station", ("central_station",), "Server"),
        Role("nurse", "Nurse", (), "Actor", actor_role="clinician"),
        Role("clinician_app", "On-call clinician app", ("mobile_app",), "Process"),
        Role("patient_monitor", "Patient monitor", ("patient_monitor",), "Process"),
        Role("infusion_pump", "Infusion pump", ("infusion_pump",), "Process"),
    )
}

# Logical protocol -> catalog protocol id candidates (first one present wins).
PROTOCOLS: dict[str, tuple[str, ...]] = {
    "https": ("https",),
    "mqtts": ("mqtts",),
    "hl7": ("hl7_mllp",),
    "sql": ("sql",),
    "vendor": ("tcp_proprietary",),
    "ota": ("ota_package",),
}
# What pytm gets for each logical protocol: (protocol name, TLS), matching the catalog's
# default encryption of the protocol.
PYTM_PROTOCOLS: dict[str, tuple[str, bool]] = {
    "https": ("HTTPS", True),
    "mqtts": ("MQTTS", True),
    "hl7": ("HL7-MLLP", False),
    "sql": ("SQL", False),
    "vendor": ("TCP-proprietary", False),
    "ota": ("OTA", False),
}

# Data assets: id -> (name, medthreat kind, confidentiality, integrity, availability).
DATA: dict[str, tuple[str, str, str, str, str]] = {
    "vitals": ("Vital signs and waveforms", "phi", "high", "high", "high"),
    "infusion": ("Infusion records", "phi", "high", "high", "medium"),
    "orders": ("Infusion orders (auto-programming)", "therapy_command", "medium", "high", "high"),
    "ehr-record": ("Patient record", "phi", "high", "high", "medium"),
    "telemetry": ("Device status telemetry", "telemetry", "low", "medium", "medium"),
    "config": ("Drug library and alarm limits", "configuration", "low", "high", "high"),
    "firmware": ("Firmware images", "firmware", "low", "high", "medium"),
}

# Flow templates per role: (direction, peer role, logical protocol, data ids). "out" means the
# node is the flow's source, "in" that it is the target. The first template is always used,
# then one or two more are drawn, so every node owns two or three flows.
TEMPLATES: dict[str, tuple[tuple[str, str, str, tuple[str, ...]], ...]] = {
    "api_gateway": (
        ("out", "cloud_db", "sql", ("vitals",)),
        ("out", "iot_hub", "https", ("config",)),
        ("out", "fleet_manager", "https", ("telemetry",)),
    ),
    "iot_hub": (
        ("out", "cloud_db", "sql", ("telemetry",)),
        ("out", "fleet_manager", "https", ("telemetry",)),
        ("in", "fleet_manager", "https", ("firmware", "config")),
    ),
    "fleet_manager": (
        ("out", "cloud_db", "sql", ("firmware",)),
        ("in", "cloud_db", "sql", ("telemetry",)),
    ),
    "cloud_db": (
        ("out", "api_gateway", "sql", ("vitals",)),
        ("in", "api_gateway", "sql", ("config",)),
    ),
    "interface_engine": (
        ("out", "ehr", "hl7", ("vitals", "infusion")),
        ("out", "api_gateway", "https", ("vitals",)),
        ("in", "api_gateway", "https", ("orders",)),
    ),
    "ehr": (
        ("out", "interface_engine", "hl7", ("orders",)),
        ("out", "interface_engine", "hl7", ("ehr-record",)),
    ),
    "service_gateway": (
        ("in", "fleet_manager", "https", ("firmware", "config")),
        ("out", "fleet_manager", "https", ("telemetry",)),
        ("out", "iot_hub", "mqtts", ("telemetry",)),
    ),
    "central_station": (
        ("out", "interface_engine", "hl7", ("vitals",)),
        ("out", "iot_hub", "mqtts", ("telemetry",)),
        ("in", "service_gateway", "https", ("firmware", "config")),
    ),
    "nurse": (
        ("out", "central_station", "https", ("config",)),
        ("in", "central_station", "https", ("vitals",)),
        ("out", "ehr", "https", ("ehr-record",)),
    ),
    "clinician_app": (
        ("out", "api_gateway", "https", ("vitals",)),
        ("in", "api_gateway", "https", ("vitals",)),
        ("out", "api_gateway", "https", ("config",)),
    ),
    "patient_monitor": (
        ("out", "central_station", "vendor", ("vitals",)),
        ("out", "interface_engine", "hl7", ("vitals",)),
        ("out", "iot_hub", "mqtts", ("telemetry",)),
        ("in", "service_gateway", "ota", ("firmware",)),
    ),
    "infusion_pump": (
        ("out", "interface_engine", "hl7", ("infusion",)),
        ("in", "interface_engine", "hl7", ("orders",)),
        ("out", "iot_hub", "mqtts", ("telemetry",)),
        ("in", "service_gateway", "ota", ("firmware",)),
        ("in", "service_gateway", "https", ("config",)),
    ),
}

CLOUD_ROLES = ("api_gateway", "iot_hub", "fleet_manager", "cloud_db")
SITE_ROLES = ("interface_engine", "ehr", "service_gateway")
WARD_ROLES = (
    ("central_station", 1),
    ("nurse", 1),
    ("clinician_app", 1),
    ("patient_monitor", 10),
    ("infusion_pump", 7),
)


def generate_spec(n: int, seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """Return the neutral specification of a fleet with exactly ``n`` nodes.

    The specification holds plain lists of dicts (``boundaries``, ``data``, ``nodes``, ``flows``)
    that use logical roles and protocols; the adapters map them onto each tool.
    """
    if n < MIN_SIZE:
        raise ValueError(f"size must be at least {MIN_SIZE}")
    rng = random.Random(seed)
    boundaries: list[dict[str, Any]] = [
        {"id": "internet", "name": "Internet", "kind": "internet", "parent": None},
        {"id": "cloud", "name": "Vendor cloud", "kind": "cloud", "parent": None},
    ]
    nodes: list[dict[str, Any]] = []
    # (scope, role) -> node id, for the peers that flows connect to.
    peers: dict[tuple[str, str], str] = {}

    def add(role: str, node_id: str, name: str, boundary: str, scopes: Sequence[str]) -> bool:
        if len(nodes) >= n:
            return False
        nodes.append(
            {"id": node_id, "name": name, "role": role, "boundary": boundary, "scopes": scopes}
        )
        peers.setdefault((scopes[0], role), node_id)
        peers.setdefault(("any", role), node_id)
        return True

    for role in CLOUD_ROLES:
        add(role, f"cloud-{role.replace('_', '-')}", ROLES[role].label, "cloud", ("cloud",))
    site = 0
    while len(nodes) < n:
        site += 1
        site_scope = f"s{site}"
        boundaries.append(
            {
                "id": f"site-{site}",
                "name": f"Hospital {site} network",
                "kind": "hospital_network",
                "parent": None,
            }
        )
        for role in SITE_ROLES:
            node_id = f"s{site}-{role.replace('_', '-')}"
            add(role, node_id, f"{ROLES[role].label} H{site}", f"site-{site}", (site_scope,))
        for ward in range(1, WARDS_PER_SITE + 1):
            if len(nodes) >= n:
                break
            ward_scope = f"s{site}w{ward}"
            vlan = f"s{site}w{ward}-vlan"
            boundaries.append(
                {
                    "id": vlan,
                    "name": f"Ward {ward} device VLAN, hospital {site}",
                    "kind": "hospital_network",
                    "parent": f"site-{site}",
                }
            )
            scopes = (ward_scope, site_scope, "cloud")
            for role, count in WARD_ROLES:
                for i in range(1, count + 1):
                    short = {"patient_monitor": "mon", "infusion_pump": "pump"}.get(role, role)
                    suffix = f"-{i}" if count > 1 else ""
                    node_id = f"{ward_scope}-{short.replace('_', '-')}{suffix}"
                    name = f"{ROLES[role].label} H{site}-W{ward}{suffix}"
                    boundary = "internet" if role == "clinician_app" else vlan
                    add(role, node_id, name, boundary, scopes)

    flows: list[dict[str, Any]] = []
    for node in nodes:
        templates = TEMPLATES[node["role"]]
        extra = rng.randint(1, min(2, len(templates) - 1))
        chosen = [templates[0], *rng.sample(templates[1:], extra)]
        for direction, peer_role, protocol, data in chosen:
            peer = _find_peer(peers, node["scopes"], peer_role)
            if peer is None:
                raise AssertionError(f"no {peer_role} peer for {node['id']}")
            src, dst = (node["id"], peer) if direction == "out" else (peer, node["id"])
            flows.append(
                {
                    "id": f"f{len(flows) + 1}",
                    "source": src,
                    "target": dst,
                    "protocol": protocol,
                    "data": list(data),
                }
            )
    data_assets = [
        {"id": key, "name": v[0], "kind": v[1], "c": v[2], "i": v[3], "a": v[4]}
        for key, v in DATA.items()
    ]
    for node in nodes:
        del node["scopes"]
    return {
        "name": f"Synthetic hospital fleet ({n} nodes)",
        "boundaries": boundaries,
        "data": data_assets,
        "nodes": nodes,
        "flows": flows,
    }


def _find_peer(peers: dict[tuple[str, str], str], scopes: Sequence[str], role: str) -> str | None:
    # Ward nodes look in their ward, then their site, then the cloud; site nodes in their site,
    # then the cloud. A site cut short by the size limit falls back to the first site's peer.
    for scope in (*scopes, "cloud", "any"):
        found = peers.get((scope, role))
        if found is not None:
            return found
    return None


def spec_digest(spec: dict[str, Any]) -> str:
    """Short digest of a specification, to show both tools analyzed the same architecture."""
    blob = json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


# ------------------------------------------------------------------------------------------------
# medthreat adapter
# ------------------------------------------------------------------------------------------------


def resolve_catalog_ids(catalog: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Map roles and logical protocols to catalog ids; exit with a clear message if missing."""
    type_ids = _catalog_ids(catalog, "component_types")
    protocol_ids = _catalog_ids(catalog, "protocols")
    roles: dict[str, str] = {}
    protocols: dict[str, str] = {}
    missing: list[str] = []
    for role in ROLES.values():
        if role.actor_role:
            continue
        found = next((t for t in role.type_candidates if t in type_ids), None)
        if found is None:
            missing.append(f"component type for {role.label!r}: one of {role.type_candidates}")
        else:
            roles[role.key] = found
    for key, candidates in PROTOCOLS.items():
        found = next((p for p in candidates if p in protocol_ids), None)
        if found is None:
            missing.append(f"protocol {key!r}: one of {candidates}")
        else:
            protocols[key] = found
    if missing:
        raise SystemExit(
            "engine_scale: the shipped catalog lacks ids the synthetic fleet needs:\n  "
            + "\n  ".join(missing)
            + f"\n  (catalog has component types {sorted(type_ids)} and protocols "
            f"{sorted(protocol_ids)})"
        )
    return roles, protocols


def _catalog_ids(catalog: Any, section: str) -> set[str]:
    """Ids of one catalog section, whatever container the catalog uses for it."""
    value = getattr(catalog, section, None)
    if value is None and isinstance(catalog, dict):
        value = catalog.get(section)
    if value is None:
        raise SystemExit(f"engine_scale: cannot read {section!r} from {type(catalog).__name__}")
    if isinstance(value, dict):
        return {str(k) for k in value}
    return {str(getattr(item, "id", item)) for item in value}


def build_medthreat(
    spec: dict[str, Any], mt: Any, roles: dict[str, str], protocols: dict[str, str]
) -> Any:
    """Build a medthreat Model from the neutral specification via the builder API."""
    model = mt.Model(spec["name"])
    elements: dict[str, Any] = {}
    for b in spec["boundaries"]:
        kwargs: dict[str, Any] = {"kind": b["kind"], "id": b["id"]}
        if b["parent"]:
            kwargs["parent"] = elements[b["parent"]]
        elements[b["id"]] = model.boundary(b["name"], **kwargs)
    for d in spec["data"]:
        model.data(
            d["kind"],
            d["name"],
            id=d["id"],
            confidentiality=d["c"],
            integrity=d["i"],
            availability=d["a"],
        )
    for node in spec["nodes"]:
        role = ROLES[node["role"]]
        boundary = elements[node["boundary"]]
        if role.actor_role:
            elements[node["id"]] = model.actor(
                role.actor_role, node["name"], boundary=boundary, id=node["id"]
            )
        else:
            elements[node["id"]] = model.component(
                roles[role.key], node["name"], boundary=boundary, id=node["id"]
            )
    for f in spec["flows"]:
        model.flow(
            elements[f["source"]],
            elements[f["target"]],
            protocols[f["protocol"]],
            data=f["data"],
            id=f["id"],
        )
    return model


def _load_medthreat() -> tuple[Any, Any, dict[str, str], dict[str, str]]:
    import medthreat as mt

    catalog = mt.Catalog.load()
    roles, protocols = resolve_catalog_ids(catalog)
    return mt, catalog, roles, protocols


def _count_findings(result: Any) -> int:
    findings = getattr(result, "findings", result)
    return len(findings)


# ------------------------------------------------------------------------------------------------
# pytm adapter
# ------------------------------------------------------------------------------------------------


def build_pytm(spec: dict[str, Any], pytm: Any) -> Any:
    """Build a pytm TM from the neutral specification (after resetting pytm's global state)."""
    pytm.TM.reset()
    tm = pytm.TM(spec["name"], description="Synthetic hospital device fleet (benchmark)")
    boundaries: dict[str, Any] = {}
    for b in spec["boundaries"]:
        kwargs: dict[str, Any] = {}
        if b["parent"]:
            kwargs["inBoundary"] = boundaries[b["parent"]]
        boundaries[b["id"]] = pytm.Boundary(b["name"], **kwargs)
    data: dict[str, Any] = {}
    for d in spec["data"]:
        sensitive = d["kind"] in ("phi", "therapy_command")
        data[d["id"]] = pytm.Data(
            d["name"],
            classification=(
                pytm.Classification.SENSITIVE if sensitive else pytm.Classification.RESTRICTED
            ),
            isPII=d["kind"] == "phi",
        )
    elements: dict[str, Any] = {}
    for node in spec["nodes"]:
        role = ROLES[node["role"]]
        cls = getattr(pytm, role.pytm_class)
        element = cls(node["name"], inBoundary=boundaries[node["boundary"]])
        if role.pytm_class == "Datastore":
            element.storesPII = True
        elements[node["id"]] = element
    for f in spec["flows"]:
        name, tls = PYTM_PROTOCOLS[f["protocol"]]
        flow = pytm.Dataflow(
            elements[f["source"]],
            elements[f["target"]],
            f"{f['id']} {name}",
            protocol=name,
            data=[data[d] for d in f["data"]],
            tlsVersion=pytm.TLSVersion.TLSv12 if tls else pytm.TLSVersion.NONE,
        )
        flow.controls.isEncrypted = tls
    return tm


# ------------------------------------------------------------------------------------------------
# One measurement (runs in a child process)
# ------------------------------------------------------------------------------------------------


def _rss_mb() -> float:
    """Current resident set size in MB (Linux), or 0 where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def measure(tool: str, n: int, repeat: int, seed: int, profile: bool = False) -> dict[str, Any]:
    """Build and analyze one size with one tool; return the measurements."""
    spec = generate_spec(n, seed)
    digest = spec_digest(spec)
    build: Callable[[], Any]
    steps: list[tuple[str, Callable[[Any], Any]]]
    t0 = time.perf_counter()
    if tool == "medthreat":
        mt, catalog, roles, protocols = _load_medthreat()
        version = getattr(mt, "__version__", "?")

        def build() -> Any:
            return build_medthreat(spec, mt, roles, protocols)

        steps = [("analyze", lambda m: mt.analyze(m, catalog=catalog))]
    elif tool == "pytm":
        import pytm

        version = _dist_version("pytm")

        def build() -> Any:
            return build_pytm(spec, pytm)

        def resolve(tm: Any) -> Any:
            tm.resolve()
            return tm

        steps = [("check", lambda tm: tm.check()), ("resolve", resolve)]
    else:
        raise SystemExit(f"unknown tool {tool!r}")
    setup_s = time.perf_counter() - t0
    rss_base = _rss_mb()

    builds: list[float] = []
    step_times: dict[str, list[float]] = {name: [] for name, _ in steps}
    totals: list[float] = []
    findings: set[int] = set()
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        model = build()
        builds.append(time.perf_counter() - t)
        total = 0.0
        out: Any = None
        for name, step in steps:
            t = time.perf_counter()
            out = step(model)
            elapsed = time.perf_counter() - t
            step_times[name].append(elapsed)
            total += elapsed
        totals.append(total)
        findings.add(_count_findings(out if tool == "medthreat" else model))
        del model, out
        if sum(totals) > REPEAT_BUDGET_S:  # a slow size: fewer repeats, to stay in the timeout
            break
    rss_peak = _peak_rss_mb()

    # One more run with tracemalloc on, for the peak of Python allocations of the analysis.
    gc.collect()
    model = build()
    tracemalloc.start()
    for _, step in steps:
        step(model)
    traced_peak = tracemalloc.get_traced_memory()[1] / (1024 * 1024)
    tracemalloc.stop()
    del model

    if profile:
        _profile(build, steps)

    if len(findings) != 1:
        print(f"warning: finding counts differ between runs: {sorted(findings)}", file=sys.stderr)
    return {
        "tool": tool,
        "version": version,
        "size": n,
        "nodes": len(spec["nodes"]),
        "flows": len(spec["flows"]),
        "boundaries": len(spec["boundaries"]),
        "spec_digest": digest,
        "findings": max(findings),
        "setup_s": setup_s,
        "build_s": min(builds),
        "analyze_s": min(totals),
        "analyze_all_s": totals,
        "steps_s": {name: min(times) for name, times in step_times.items()},
        "traced_peak_mb": traced_peak,
        "rss_base_mb": rss_base,
        "rss_peak_mb": rss_peak,
        "repeat": len(totals),
    }


def _profile(build: Callable[[], Any], steps: list[tuple[str, Callable[[Any], Any]]]) -> None:
    import cProfile
    import io
    import pstats

    model = build()
    profiler = cProfile.Profile()
    profiler.enable()
    for _, step in steps:
        step(model)
    profiler.disable()
    buf = io.StringIO()
    pstats.Stats(profiler, stream=buf).sort_stats("cumulative").print_stats(25)
    print(buf.getvalue(), file=sys.stderr)


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


# ------------------------------------------------------------------------------------------------
# The driver (parent process)
# ------------------------------------------------------------------------------------------------


def medthreat_status() -> str | None:
    """None when medthreat's builder API is importable, else the reason it is not."""
    try:
        import medthreat as mt
    except Exception as exc:  # any import failure means the engine is not usable yet
        return f"cannot import medthreat: {exc}"
    missing = [name for name in ("Model", "analyze", "Catalog") if not hasattr(mt, name)]
    if missing:
        return f"medthreat does not export {', '.join(missing)} yet"
    return None


def run_child(tool: str, n: int, repeat: int, seed: int, timeout: float) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return its JSON result."""
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--one",
        tool,
        str(n),
        "--repeat",
        str(repeat),
        "--seed",
        str(seed),
    ]
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False
        )
    except subprocess.TimeoutExpired:
        return {"tool": tool, "size": n, "status": "timeout", "timeout_s": timeout}
    wall = time.perf_counter() - started
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-12:]
        return {
            "tool": tool,
            "size": n,
            "status": "error",
            "returncode": proc.returncode,
            "error": "\n".join(tail),
        }
    result = json.loads(lines[-1])
    result["status"] = "ok"
    result["wall_s"] = wall
    if proc.stderr.strip():
        result["stderr"] = proc.stderr.strip()[-2000:]
    return result


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _cell(res: dict[str, Any] | None, key: str, digits: int = 3) -> str:
    if res is None:
        return "skipped"
    if res.get("status") != "ok":
        return str(res.get("status"))
    value = res.get(key)
    if isinstance(value, int):
        return f"{value:,}"
    return _fmt(value, digits)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, sep, *body])


def _ok(res: dict[str, Any] | None) -> bool:
    return res is not None and res.get("status") == "ok"


def report(
    sizes: Sequence[int],
    results: dict[tuple[str, int], dict[str, Any]],
    meta: dict[str, Any],
) -> dict[str, Any]:
    """Print the tables, the linearity check and the target verdicts; return the verdicts."""
    mt_rows = []
    for n in sizes:
        r = results.get(("medthreat", n))
        mt_rows.append(
            [
                f"{n:,}",
                _cell(r, "flows"),
                _cell(r, "findings"),
                _cell(r, "build_s"),
                _cell(r, "analyze_s"),
                _cell(r, "traced_peak_mb", 1),
                _cell(r, "rss_peak_mb", 1),
                _cell(r, "repeat"),
            ]
        )
    print(f"\nmedthreat {meta.get('medthreat_version', '')}".rstrip())
    print(
        _table(
            [
                "components",
                "flows",
                "findings",
                "build s",
                "analyze s",
                "traced MB",
                "RSS MB",
                "runs",
            ],
            mt_rows,
        )
    )

    py_rows = []
    for n in sizes:
        r = results.get(("pytm", n))
        steps = (r or {}).get("steps_s", {})
        py_rows.append(
            [
                f"{n:,}",
                _cell(r, "flows"),
                _cell(r, "findings"),
                _cell(r, "build_s"),
                _fmt(steps.get("check")) if _ok(r) else _cell(r, "x"),
                _fmt(steps.get("resolve")) if _ok(r) else _cell(r, "x"),
                _cell(r, "analyze_s"),
                _cell(r, "traced_peak_mb", 1),
                _cell(r, "rss_peak_mb", 1),
                _cell(r, "repeat"),
            ]
        )
    print(f"\npytm {meta.get('pytm_version', '')} (analyze = tm.check() + tm.resolve())".rstrip())
    print(
        _table(
            [
                "components",
                "flows",
                "findings",
                "build s",
                "check s",
                "resolve s",
                "analyze s",
                "traced MB",
                "RSS MB",
                "runs",
            ],
            py_rows,
        )
    )

    cmp_rows = []
    ratios: dict[int, float] = {}
    for n in sizes:
        m, p = results.get(("medthreat", n)), results.get(("pytm", n))
        ratio = None
        if _ok(m) and _ok(p) and m["analyze_s"] > 0:
            ratio = p["analyze_s"] / m["analyze_s"]
            ratios[n] = ratio
            if m["spec_digest"] != p["spec_digest"]:
                print(f"warning: spec digests differ at {n}", file=sys.stderr)
        cmp_rows.append(
            [
                f"{n:,}",
                _cell(m, "analyze_s"),
                _cell(p, "analyze_s"),
                "-" if ratio is None else f"{ratio:.1f}x",
                _cell(m, "rss_peak_mb", 1),
                _cell(p, "rss_peak_mb", 1),
                m["spec_digest"] if _ok(m) else (p["spec_digest"] if _ok(p) else "-"),
            ]
        )
    print("\nmedthreat vs pytm (ratio = pytm analyze s / medthreat analyze s)")
    print(
        _table(
            ["components", "medthreat s", "pytm s", "ratio", "mt RSS MB", "pytm RSS MB", "spec"],
            cmp_rows,
        )
    )

    print("\nLinearity (analyze seconds per 1,000 components)")
    linearity: dict[str, float | None] = {}
    for tool in TOOLS:
        per_k = {
            n: results[(tool, n)]["analyze_s"] / (n / 1000)
            for n in sizes
            if _ok(results.get((tool, n)))
        }
        if not per_k:
            continue
        cells = ", ".join(f"{n:,}: {v:.4f}" for n, v in per_k.items())
        factor = None
        largest = max(per_k)
        if 1000 in per_k and largest > 1000:
            factor = per_k[largest] / per_k[1000]
        linearity[tool] = factor
        tail = (
            f"; ({largest:,} time / 1,000 time) / {largest // 1000} = {factor:.2f}"
            if factor is not None
            else ""
        )
        print(f"  {tool:9s} {cells}{tail}")

    verdicts = _verdicts(results, ratios, linearity)
    print("\nTargets")
    for name, (verdict, detail) in verdicts.items():
        print(f"  {verdict:8s} {name}: {detail}")

    print(
        f"\nPython {meta['python']} ({meta['implementation']}), {meta['platform']}, "
        f"{meta['cores']} cores, seed {meta['seed']}, times are the min of up to "
        f"{meta['repeat']} runs, "
        f"1-min load average {meta['load_before']} before / {meta.get('load_after')} after"
    )
    if meta.get("commit"):
        print(f"Commit: {meta['commit']}")
    print(f"Reproduce: {meta['command']}")
    return verdicts


def _verdicts(
    results: dict[tuple[str, int], dict[str, Any]],
    ratios: dict[int, float],
    linearity: dict[str, float | None],
) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    big = results.get(("medthreat", TARGET_SIZE))
    if _ok(big):
        assert big is not None
        secs, mb = big["analyze_s"], big["rss_peak_mb"]
        out[f"{TARGET_SIZE:,} components in < {TARGET_SECONDS:g} s"] = (
            "PASS" if secs < TARGET_SECONDS else "FAIL",
            f"{secs:.3f} s",
        )
        out[f"{TARGET_SIZE:,} components in < {TARGET_MB:g} MB"] = (
            "PASS" if mb < TARGET_MB else "FAIL",
            f"peak RSS {mb:.1f} MB (traced analyze peak {big['traced_peak_mb']:.1f} MB)",
        )
    else:
        status = "not run" if big is None else big.get("status", "?")
        out[f"{TARGET_SIZE:,} components in < {TARGET_SECONDS:g} s"] = ("NOT RUN", str(status))
        out[f"{TARGET_SIZE:,} components in < {TARGET_MB:g} MB"] = ("NOT RUN", str(status))
    for n in SPEEDUP_SIZES:
        name = f">= {TARGET_SPEEDUP:g}x faster than pytm at {n:,} (aim {AIM_SPEEDUP:g}x)"
        if n in ratios:
            ratio = ratios[n]
            aim = "aim met" if ratio >= AIM_SPEEDUP else "aim not met"
            out[name] = ("PASS" if ratio >= TARGET_SPEEDUP else "FAIL", f"{ratio:.1f}x, {aim}")
        else:
            out[name] = ("NOT RUN", "needs both tools at this size")
    factor = linearity.get("medthreat")
    name = f"linear growth (per-component time ratio <= {LINEARITY_LIMIT:g})"
    if factor is None:
        out[name] = ("NOT RUN", "needs 1,000 and a larger size")
    else:
        out[name] = ("PASS" if factor <= LINEARITY_LIMIT else "FAIL", f"{factor:.2f}")
    return out


def _interpreter() -> str:
    """The interpreter as a reader would type it: relative when it lives in the checkout."""
    exe = Path(sys.executable)
    try:
        return str(exe.relative_to(ROOT))
    except ValueError:
        return exe.name


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
    ).stdout.strip()


def _git_commit() -> str | None:
    """The checkout's commit, with "+dirty" when the work tree has changes; None without git."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s.replace("_", "").replace(",", "")) for s in text.split(",") if s.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad --sizes {text!r}") from exc
    if not sizes or min(sizes) < MIN_SIZE:
        raise argparse.ArgumentTypeError(f"sizes must be at least {MIN_SIZE}")
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--sizes",
        type=_parse_sizes,
        default=list(DEFAULT_SIZES),
        help="comma-separated component counts (default 100,1000,3000,10000)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; min time is kept")
    parser.add_argument(
        "--pytm-max",
        type=int,
        default=DEFAULT_PYTM_MAX,
        help=f"largest size pytm runs at (default {DEFAULT_PYTM_MAX})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds per tool and size before the child is killed (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generator seed")
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help="comma-separated tools (medthreat,pytm)"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--one",
        nargs=2,
        metavar=("TOOL", "N"),
        help="internal: measure one tool at one size and print a JSON line",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="with --one: also print a cProfile of the analysis (top 25, cumulative) to stderr",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    if args.one:
        tool, size = args.one[0], int(args.one[1])
        print(json.dumps(measure(tool, size, args.repeat, args.seed, args.profile)))
        return 0

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        parser.error(f"unknown tools: {', '.join(unknown)}")
    meta: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cores": os.cpu_count(),
        "seed": args.seed,
        "repeat": args.repeat,
        "sizes": args.sizes,
        "pytm_max": args.pytm_max,
        "command": " ".join(
            shlex.quote(a) for a in [_interpreter(), "benchmarks/engine_scale.py", *sys.argv[1:]]
        ),
        "load_before": _loadavg(),
        "commit": _git_commit(),
    }
    if "medthreat" in tools:
        problem = medthreat_status()
        if problem:
            print(f"medthreat skipped: {problem}")
            tools.remove("medthreat")
        else:
            import medthreat

            meta["medthreat_version"] = getattr(medthreat, "__version__", "?")
            meta["medthreat_path"] = str(Path(medthreat.__file__).parent)
    if "pytm" in tools:
        if importlib.util.find_spec("pytm") is None:
            print(f"pytm not installed: pip install '{PYTM_REQUIREMENT}' (pytm columns skipped)")
            tools.remove("pytm")
        else:
            meta["pytm_version"] = _dist_version("pytm")

    results: dict[tuple[str, int], dict[str, Any]] = {}
    for n in args.sizes:
        for tool in tools:
            if tool == "pytm" and n > args.pytm_max:
                continue
            print(f"running {tool} at {n:,} components ...", flush=True)
            res = run_child(tool, n, args.repeat, args.seed, args.timeout)
            if res.get("status") == "error":
                print(f"  {tool} failed at {n:,}:\n    " + res["error"].replace("\n", "\n    "))
            elif res.get("status") == "timeout":
                print(f"  {tool} timed out after {args.timeout:g} s at {n:,}")
            results[(tool, n)] = res

    meta["load_after"] = _loadavg()
    verdicts = report(args.sizes, results, meta)
    if args.json:
        payload = {
            "meta": meta,
            "results": list(results.values()),
            "verdicts": {k: {"verdict": v, "detail": d} for k, (v, d) in verdicts.items()},
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"Results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
