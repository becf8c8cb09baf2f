"""Every file medthreat writes replaces the previous one whole, or not at all.

Writers go through ``medthreat._yaml.atomic_output``: a temporary file ``.<name>.<random>.tmp``
beside the target, flushed and renamed over it. These tests kill real writer processes
mid-write, raise exceptions mid-write, check the decisions backup of ``register import`` and the
permissions of replaced files, and scan the source so that a new writer cannot bypass the
helpers.
"""

from __future__ import annotations

import ast
import hashlib
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import medthreat as mt
from medthreat._yaml import atomic_copy, atomic_output, atomic_write
from medthreat.export.register import write_chunks
from medthreat.lifecycle import Decisions, save_decisions

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "medthreat"
BENCHMARKS = REPO / "benchmarks"
MODEL = Path(__file__).parent / "data" / "models" / "insulin_pump.yaml"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _temps(folder: Path, name: str | None = None) -> list[Path]:
    """Temporary files of atomic_output in ``folder`` (for one target ``name`` if given)."""
    prefix = f".{name}." if name else "."
    return sorted(p for p in folder.iterdir() if p.name.startswith(prefix)
                  and p.name.endswith(".tmp"))


# -- killed mid-write ------------------------------------------------------------------------

# A writer process: builds a small and a large register once, then on "prev" writes the small
# variant (completely) and on "go" forks a process that writes the large one through the
# product's real writer; the test SIGKILLs that process while it writes.
_SERVER = r"""
import os, sys
kind, target, bench = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, bench)
import engine_scale as es
import medthreat as mt
from medthreat.export.excel import write_register
from medthreat.export.findings import write_findings_json
from medthreat.lifecycle import Decisions, save_decisions
from medthreat.lifecycle.decisions import Decision

catalog = mt.Catalog.load()
roles, protocols = es.resolve_catalog_ids(catalog)

def register(n):
    model = es.build_medthreat(es.generate_spec(n), mt, roles, protocols)
    return mt.assess(mt.analyze(model, catalog=catalog))

def decisions(reg, count, width):
    return Decisions(decisions={
        f.id: Decision(status="accepted", owner="Risk board",
                       justification=f"Reviewed {f.id}: " + "residual risk acceptable. " * width)
        for f in reg.analysis.findings[:count]})

small, big = register(20), register(150)
if kind == "decisions":
    small, big = decisions(small, 20, 2), decisions(big, 300, 20)

def write(data):
    if kind == "xlsx":
        write_register(data, target)
    elif kind == "json":
        write_findings_json(data.analysis, target, data)
    else:
        save_decisions(data, target)

print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "prev":
        write(small)
        print("ok", flush=True)
        continue
    pid = os.fork()
    if pid == 0:
        try:
            write(big)
        finally:
            os._exit(0)
    print(pid, flush=True)
    _, status = os.waitpid(pid, 0)
    print("exit", status, flush=True)
"""


class _Server:
    def __init__(self, kind: str, target: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, kind, str(target), str(BENCHMARKS)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1, cwd=REPO)
        assert self._read() == "ready"

    def _read(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"writer process ended (exit {self.proc.poll()})"
        return line.strip()

    def send(self, command: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        return self._read()

    def finished(self) -> str:
        return self._read()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _stamp(path: Path) -> tuple[int, int, int]:
    info = path.stat()
    return info.st_ino, info.st_size, info.st_mtime_ns


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


_POSIX = pytest.mark.skipif(not hasattr(os, "fork") or not hasattr(signal, "SIGKILL"),
                            reason="needs POSIX fork and SIGKILL")


@_POSIX
@pytest.mark.parametrize(("kind", "name", "kills", "max_delay"), [
    ("xlsx", "register.xlsx", 7, 0.4),
    ("json", "findings.json", 7, 0.4),
    ("decisions", "decisions.yaml", 6, 0.002),
])
def test_a_writer_killed_mid_write_leaves_the_previous_file(
        tmp_path: Path, kind: str, name: str, kills: int, max_delay: float) -> None:
    target = tmp_path / name
    rng = random.Random(f"{kind}-kills")  # noqa: S311 - deterministic kill points
    server = _Server(kind, target)
    try:
        assert server.send("prev") == "ok"
        previous = _sha(target)
        pid = int(server.send("go"))
        assert server.finished() == "exit 0"  # one complete write: the new content
        new = _sha(target)
        assert new != previous
        mid_write = late = 0
        for _ in range(kills):
            assert server.send("prev") == "ok"
            assert _sha(target) == previous
            untouched = _stamp(target)
            pid = int(server.send("go"))
            deadline = time.monotonic() + 120
            # the write has started once a temp file appears (or, for a writer that is not
            # atomic, once the target itself changes)
            while not _temps(tmp_path, name) and _alive(pid) and _stamp(target) == untouched:
                assert time.monotonic() < deadline, "the writer never started writing"
            time.sleep(rng.uniform(0, max_delay))
            with_temp = _alive(pid)
            if with_temp:
                os.kill(pid, signal.SIGKILL)
            status = server.finished()
            leftovers = _temps(tmp_path, name)
            now = _sha(target)
            assert now in (previous, new), f"{name} is neither the old nor the new file"
            if leftovers:  # killed before the rename: the old file, byte for byte
                assert status == f"exit {signal.SIGKILL}"
                assert now == previous
                mid_write += 1
            else:
                late += 1
            assert [p.name for p in tmp_path.iterdir()
                    if not p.name.startswith(".")] == [name]  # no partial file under any name
            for leftover in leftovers:  # never read by medthreat; deleting them is the cleanup
                leftover.unlink()
        print(f"{kind}: {kills} kills, {mid_write} mid-write, {late} after the rename")
        # a large file takes long to write, so most kills land mid-write; a decisions file is
        # written in milliseconds (mostly fsync), so some kills may land just after the rename
        assert mid_write >= ((kills + 1) // 2 if max_delay > 0.1 else 1)
    finally:
        server.close()


def _fleet_model(tmp_path: Path, name: str) -> Path:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import engine_scale as es
    finally:
        sys.path.remove(str(BENCHMARKS))
    catalog = mt.Catalog.load()
    roles, protocols = es.resolve_catalog_ids(catalog)
    model = es.build_medthreat(es.generate_spec(20), mt, roles, protocols)
    model.system.name = name
    path = tmp_path / f"{name.replace(' ', '_')}.yaml"
    mt.save_model(model, path)
    return path


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): _sha(p) for p in sorted(folder.rglob("*"))
            if p.is_file()}


@_POSIX
def test_analyze_killed_over_an_existing_output_folder_keeps_every_file_whole(
        tmp_path: Path) -> None:
    old_model = _fleet_model(tmp_path, "Fleet one")
    new_model = _fleet_model(tmp_path, "Fleet two")
    pristine, reference = tmp_path / "pristine", tmp_path / "reference"

    def analyze(model: Path, out: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "medthreat.cli", "analyze", str(model), "--out", str(out),
             "--no-pdf"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    for done in [analyze(old_model, pristine), analyze(new_model, reference)]:
        assert done.wait(timeout=300) == 0, done.stderr.read() if done.stderr else ""
    before, after = _tree(pristine), _tree(reference)
    assert set(before) == set(after) and len(before) > 10
    changed = {name for name in before if before[name] != after[name]}
    assert "register.xlsx" in changed and "findings.json" in changed
    rng = random.Random("analyze-kills")  # noqa: S311 - deterministic kill points
    mid_write = 0
    kills = 4
    for attempt in range(kills):
        out = tmp_path / f"out{attempt}"
        shutil.copytree(pristine, out)
        proc = analyze(new_model, out)
        # kill as the n-th temporary file appears: somewhere in the run, with a write in flight
        nth, seen = rng.randint(1, len(before) - 2), set()
        deadline = time.monotonic() + 300
        while len(seen) < nth and proc.poll() is None:
            assert time.monotonic() < deadline
            seen.update(p.name for p in _temps(out) + _temps(out / "views"))
        proc.kill()
        proc.wait(timeout=60)
        leftovers = _temps(out) + _temps(out / "views")
        mid_write += bool(leftovers)
        # ".<name>.<random>.tmp" stands for <name> in the same folder
        pending = {(p.parent / p.name[1:].rsplit(".", 2)[0]).relative_to(out).as_posix()
                   for p in leftovers}
        for name, digest in _tree(out).items():
            if Path(name).name.startswith("."):
                continue
            assert digest in (before.get(name), after[name]), f"{name} was left partial"
            if name in pending:
                assert digest == before[name]
        assert set(before) <= set(_tree(out))  # no previous file lost
        for leftover in leftovers:
            leftover.unlink()
    print(f"analyze: {kills} kills, {mid_write} with a write in flight")
    assert mid_write >= 1


_APPENDER = r"""
import sys
from medthreat.lifecycle import Change
from medthreat.lifecycle.audit import record_changes
path, start = sys.argv[1], int(sys.argv[2])
print("ready", flush=True)
for i in range(start, start + 10_000):
    record_changes(path, [Change(f"MT-DEV-{i % 999 + 1:03d}@pump", "justification", "",
                                 f"entry {i} " + "x" * 200_000)], actor="t", note=str(i))
"""


@_POSIX
def test_the_audit_log_survives_appenders_killed_mid_append(tmp_path: Path) -> None:
    """The exception to atomic replacement: the audit log is appended in place. A kill leaves
    complete entries untouched and at most a torn last line, which is detected, blocks further
    appends, and is recovered without losing a byte."""
    from medthreat.lifecycle.audit import BreakKind, discard_torn_line, verify_log

    log = tmp_path / "decisions.yaml.audit.jsonl"
    rng = random.Random("audit-kills")  # noqa: S311 - deterministic kill points
    kept, torn_kills = b"", 0
    for _kill in range(4):
        proc = subprocess.Popen([sys.executable, "-c", _APPENDER, str(log), str(len(kept))],
                                cwd=REPO, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.1, 0.8))
        proc.kill()
        assert proc.wait(timeout=60) == -signal.SIGKILL
        data = log.read_bytes()
        assert data.startswith(kept)  # complete entries are never rewritten
        report = verify_log(log)
        if not report.ok:
            assert report.kind is BreakKind.torn_line, report.to_text()
            torn = data[data.rfind(b"\n") + 1:]
            assert discard_torn_line(log) == torn
            assert log.read_bytes() == data[: len(data) - len(torn)]
            torn_kills += 1
        assert verify_log(log).ok
        kept = log.read_bytes()
    print(f"audit log: 4 kills, {torn_kills} left a torn line, {verify_log(log).entries} "
          "entries kept")
    assert verify_log(log).entries >= 1


# -- exceptions mid-write ----------------------------------------------------------------------


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_an_exception_mid_write_keeps_the_previous_file_and_no_temp(
        tmp_path: Path, error: type[BaseException]) -> None:
    target = tmp_path / "register.json"
    target.write_bytes(b'{"previous": true}\n')

    def chunks() -> Iterator[str]:
        for index in range(500):
            yield f"{index:>1000}\n"
        raise error("stopped half way")

    with pytest.raises(error):
        write_chunks(target, chunks())
    assert target.read_bytes() == b'{"previous": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["register.json"]

    with pytest.raises(error), atomic_output(target) as handle:
        handle.write(b"half")
        raise error("stopped half way")
    assert target.read_bytes() == b'{"previous": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["register.json"]


# -- register import keeps a backup --------------------------------------------------------------


def _edited_register(tmp_path: Path, run_cli, status: str, justification: str) -> Path:
    from openpyxl import load_workbook

    out = tmp_path / "out"
    if not (out / "register.xlsx").exists():
        done = run_cli("analyze", MODEL, "--out", out, "--no-pdf")
        assert done.returncode == 0, done.stderr
    workbook = load_workbook(out / "register.xlsx")
    sheet = workbook["Risk Register"]
    header = [c.value for c in sheet[1]]
    sheet.cell(2, header.index("status") + 1).value = status
    sheet.cell(2, header.index("justification") + 1).value = justification
    edited = tmp_path / f"edited-{len(list(tmp_path.glob('edited-*')))}.xlsx"
    workbook.save(edited)
    return edited


def test_register_import_backs_up_exactly_what_it_replaces(run_cli, tmp_path: Path) -> None:
    decisions = tmp_path / "decisions.yaml"
    backup = tmp_path / "decisions.yaml.bak"
    log = tmp_path / "decisions.yaml.audit.jsonl"
    original = (b"# kept by hand\nschema_version: 1\ndecisions:\n  MT-DEV-001@pump:\n"
                b"    status: accepted\n    justification: kept by hand\n")
    decisions.write_bytes(original)
    os.chmod(decisions, 0o600)

    first = _edited_register(tmp_path, run_cli, "mitigated", "Fixed in 2.4 (TR-9)")
    done = run_cli("register", "import", first, "--decisions", decisions, "--actor", "A")
    assert done.returncode == 0, done.stderr
    assert backup.read_bytes() == original  # exactly what was replaced, comments and all
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600  # a private file's backup stays private
    assert stat.S_IMODE(decisions.stat().st_mode) == 0o600
    after_first = decisions.read_bytes()
    assert b"TR-9" in after_first

    second = _edited_register(tmp_path, run_cli, "accepted", "Accepted by the board (RB-3)")
    done = run_cli("register", "import", second, "--decisions", decisions, "--actor", "B")
    assert done.returncode == 0, done.stderr
    assert backup.read_bytes() == after_first  # the backup now holds the first import's result
    after_second = decisions.read_bytes()
    assert b"RB-3" in after_second

    log_before = log.read_bytes()
    bad = _edited_register(tmp_path, run_cli, "acepted", "typo")
    failed = run_cli("register", "import", bad, "--decisions", decisions, "--actor", "C")
    assert failed.returncode == 2 and "did you mean 'accepted'" in failed.stderr
    assert decisions.read_bytes() == after_second  # a failed import changes nothing
    assert backup.read_bytes() == after_first
    assert log.read_bytes() == log_before
    assert not _temps(tmp_path)


# -- permissions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664])
def test_replacing_a_file_keeps_its_permissions(tmp_path: Path, mode: int) -> None:
    text_file, decisions = tmp_path / "summary.md", tmp_path / "decisions.yaml"
    for path in (text_file, decisions):
        path.write_text("old\n", encoding="utf-8")
        os.chmod(path, mode)
    atomic_write(text_file, "new\n")
    save_decisions(Decisions(), decisions)
    for path in (text_file, decisions):
        assert stat.S_IMODE(path.stat().st_mode) == mode
    assert text_file.read_text(encoding="utf-8") == "new\n"
    copy = tmp_path / "copy.bak"
    assert atomic_copy(text_file, copy) == b"new\n"
    assert stat.S_IMODE(copy.stat().st_mode) == mode


def test_a_new_file_gets_the_umask_permissions_not_the_temp_files(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    atomic_write(tmp_path / "new.md", "x")
    assert stat.S_IMODE((tmp_path / "new.md").stat().st_mode) == 0o666 & ~umask


# -- no writer bypasses the helpers --------------------------------------------------------------

# (file, function, reason): places that write without atomic_output, each on purpose.
ALLOWED = {
    ("medthreat/_yaml.py", "atomic_output",
     "the helper itself: temp file, fsync, rename"),
    ("medthreat/lifecycle/audit.py", "record_changes",
     "the audit log is append-only JSON Lines: one write per line, fsync, locked; a torn last "
     "line is detected and refused, never silently extended"),
    ("medthreat/lifecycle/audit.py", "discard_torn_line",
     "recovery: appends the torn bytes to <log>.torn (fsync) before truncating them"),
    ("medthreat/export/excel.py", "_stream",
     "writes one member of the zip archive that _write_workbook streams into atomic_output"),
}

_WRITE_METHODS = {"write_text", "write_bytes"}
_SAVE_METHODS = {"save", "to_csv", "to_excel", "to_json", "to_parquet", "dump"}
_WRITE_FLAGS = {"O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC"}
_FILE_CALLS = {"shutil.copy", "shutil.copy2", "shutil.copyfile", "shutil.move",
               "shutil.copytree", "os.rename", "os.replace", "os.renames", "os.truncate",
               "os.ftruncate", "tempfile.mkstemp", "tempfile.NamedTemporaryFile",
               "tempfile.TemporaryFile", "tempfile.SpooledTemporaryFile"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _mode(call: ast.Call, position: int) -> str | None:
    """The literal mode argument of an open() call; "?" when it is not a literal."""
    arg = call.args[position] if len(call.args) > position else next(
        (k.value for k in call.keywords if k.arg == "mode"), None)
    if arg is None:
        return None
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    return "?"


class _Scanner(ast.NodeVisitor):
    """Collects (function, what) for every call that writes a file outside atomic_output."""

    def __init__(self) -> None:
        self.function = "<module>"
        self.safe: list[set[str]] = [set()]  # names bound to atomic or in-memory handles
        self.found: list[tuple[str, str, int]] = []

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        outer = self.function
        self.function = node.name if outer == "<module>" else outer
        self.safe.append(set(self.safe[-1]))
        self.generic_visit(node)
        self.safe.pop()
        self.function = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def _bind_safe(self, target: ast.AST | None, value: ast.AST) -> None:
        if isinstance(target, ast.Name) and isinstance(value, ast.Call):
            callee = _dotted(value.func)
            atomic = callee.endswith(("atomic_output", "BytesIO", "StringIO"))
            # a zip archive written into an atomic handle is itself safe to write into
            zipped = callee.endswith("ZipFile") and bool(value.args) and \
                _dotted(value.args[0]) in self.safe[-1]
            if atomic or zipped:
                self.safe[-1].add(target.id)

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            self._bind_safe(item.optional_vars, item.context_expr)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._bind_safe(target, node.value)
        self.generic_visit(node)

    def _report(self, node: ast.AST, what: str) -> None:
        self.found.append((self.function, what, getattr(node, "lineno", 0)))

    def visit_Call(self, node: ast.Call) -> None:
        callee = _dotted(node.func)
        attr = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        first = _dotted(node.args[0]) if node.args else ""
        if callee in {"open", "io.open", "builtins.open", "os.fdopen"}:
            mode = _mode(node, 1)
            if mode is not None and (mode == "?" or set(mode) & set("wax+")):
                self._report(node, f"{callee}(..., {mode!r})")
        elif attr == "open" and callee != "os.open":  # Path.open / ZipFile.open
            receiver = _dotted(node.func.value)  # type: ignore[union-attr]
            mode = _mode(node, 0)
            if mode is not None and (mode == "?" or set(mode) & set("wax+")) \
                    and receiver not in self.safe[-1]:
                self._report(node, f"{callee}(..., {mode!r})")
        elif callee == "os.open":
            flags = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
            if flags & _WRITE_FLAGS:
                self._report(node, "os.open for writing")
        elif callee in {"os.write", "os.fdopen"}:
            self._report(node, callee)
        elif attr in _WRITE_METHODS:
            self._report(node, f".{attr}()")
        elif callee in _FILE_CALLS:
            self._report(node, callee)
        elif callee in {"json.dump", "yaml.dump", "yaml.safe_dump", "pickle.dump"}:
            if len(node.args) > 1 and _dotted(node.args[1]) not in self.safe[-1]:
                self._report(node, callee)
        elif attr in _SAVE_METHODS and (node.args or node.keywords):
            # with no destination, to_json()/to_csv() return text instead of writing
            if first not in self.safe[-1]:
                self._report(node, f".{attr}({first or '...'})")
        elif callee.endswith("ZipFile") and len(node.args) > 1:
            if _mode(node, 1) not in (None, "r") and first not in self.safe[-1]:
                self._report(node, f"ZipFile({first}, 'w')")
        elif attr in {"render", "pipe"} and any(k.arg in {"filename", "outfile", "directory"}
                                                 for k in node.keywords):
            self._report(node, f"graphviz .{attr}() writing a file itself")
        self.generic_visit(node)


def _writes_outside_helpers() -> list[tuple[str, str, str, int]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        scanner = _Scanner()
        scanner.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        rel = path.relative_to(REPO).as_posix()
        found += [(rel, function, what, line) for function, what, line in scanner.found]
    return found


def test_every_file_writer_goes_through_the_atomic_helpers() -> None:
    found = _writes_outside_helpers()
    allowed = {(file, function) for file, function, _ in ALLOWED}
    offending = [f"{file}:{line} {function}: {what}" for file, function, what, line in found
                 if (file, function) not in allowed]
    assert not offending, ("write through medthreat._yaml.atomic_output/atomic_write/"
                           "atomic_copy instead:\n" + "\n".join(offending))
    # every allowance is still needed (a stale one would hide a future writer there)
    used = {(file, function) for file, function, _, _ in found}
    assert {(file, function) for file, function, _ in ALLOWED} <= used


def test_the_scanner_catches_plain_writers() -> None:
    source = '''
import json, shutil, os
from pathlib import Path
def a(p): open(p, "w").write("x")
def b(p): Path(p).write_text("x")
def c(p, wb): wb.save(p)
def d(p, data):
    with open(p, "a") as f:
        json.dump(data, f)
def e(p): shutil.copy2(p, p + ".bak")
def f(p): os.replace(p, p + ".old")
def g(p, df): df.to_csv(p)
def h(p): Path(p).open("wb")
def ok(p, wb):
    with atomic_output(p) as handle:
        wb.save(handle)
    with open(p) as f:
        return f.read()
'''
    scanner = _Scanner()
    scanner.visit(ast.parse(source))
    assert sorted({function for function, _, _ in scanner.found}) == list("abcdefgh")
