"""No input file can make medthreat run code.

Models, catalogs, decisions, policies and imported OTM / Threat Dragon / pytm documents are
data: YAML is read with the safe loader only, JSON keys such as ``__reduce__`` mean nothing,
templates come from the package and model text is never rendered as a template. A source scan
keeps the dangerous calls out of the package; behavioural tests feed hostile files through the
library and the real command line and check that a marker file is never created.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import in_ci

import medthreat as mt
from medthreat.errors import MedthreatError
from medthreat.lifecycle import load_decisions

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "medthreat"
DATA = Path(__file__).parent / "data"
MODEL = DATA / "models" / "insulin_pump.yaml"

# -- source scan ---------------------------------------------------------------------------------

_CODE_BUILTINS = {"eval", "exec", "compile", "__import__", "execfile", "input"}
_SERIALIZERS = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle",
                "joblib", "jsonpickle"}
_UNSAFE_YAML = {"load", "load_all", "unsafe_load", "unsafe_load_all", "full_load",
                "full_load_all", "Loader", "CLoader", "UnsafeLoader", "CUnsafeLoader",
                "FullLoader", "CFullLoader", "Constructor", "UnsafeConstructor",
                "FullConstructor", "YAMLObject", "add_constructor", "add_multi_constructor",
                "Dumper", "CDumper"}
_SAFE_YAML = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader", "safe_load",
              "safe_load_all", "SafeDumper", "CSafeDumper", "safe_dump", "safe_dump_all"}
_SHELL = {"os.system", "os.popen", "os.popen2", "os.popen3", "os.popen4",
          "subprocess.getoutput", "subprocess.getstatusoutput", "commands.getoutput",
          "pty.spawn"}
_STDLIB_XML_PARSERS = {
    "xml.etree.ElementTree.parse", "xml.etree.ElementTree.fromstring",
    "xml.etree.ElementTree.fromstringlist", "xml.etree.ElementTree.XML",
    "xml.etree.ElementTree.XMLParser", "xml.etree.ElementTree.iterparse",
    "xml.etree.ElementTree.XMLPullParser", "xml.etree.cElementTree.parse",
    "xml.etree.cElementTree.fromstring", "xml.dom.minidom.parse",
    "xml.dom.minidom.parseString", "xml.dom.pulldom.parse", "xml.dom.pulldom.parseString",
    "xml.sax.parse", "xml.sax.parseString", "xml.sax.make_parser",
    "xml.dom.expatbuilder.parseString", "lxml.etree.parse", "lxml.etree.fromstring",
    "lxml.etree.XML",
}


class _Scanner(ast.NodeVisitor):
    """Finds calls and imports through which data could become code."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}  # local name -> dotted module path
        self.found: list[tuple[int, str]] = []

    def _report(self, node: ast.AST, what: str) -> None:
        self.found.append((getattr(node, "lineno", 0), what))

    def qualified(self, node: ast.AST) -> str:
        """Dotted name of an expression with imported names resolved ("" when not a name)."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.qualified(node.value)
            return f"{base}.{node.attr}" if base else ""
        return ""

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] in _SERIALIZERS:
                self._report(node, f"import {alias.name}")
            self.aliases[alias.asname or alias.name.split(".")[0]] = (
                alias.name if alias.asname else alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level == 0 and module.split(".")[0] in _SERIALIZERS:
            self._report(node, f"from {module} import ...")
        for alias in node.names:
            if node.level == 0:
                self.aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
                if module == "yaml" and alias.name in _UNSAFE_YAML:
                    self._report(node, f"from yaml import {alias.name}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = self.qualified(node)
        if name.startswith("yaml.") and set(name.split(".")[1:]) & _UNSAFE_YAML:
            self._report(node, name)
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for base in node.bases:
            if self.qualified(base) in {"yaml.YAMLObject", "yaml.Loader", "yaml.UnsafeLoader",
                                        "yaml.FullLoader", "yaml.Constructor"}:
                self._report(node, f"class {node.name} derives from {self.qualified(base)}")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = self.qualified(node.func)
        literal_args = all(isinstance(a, ast.Constant) for a in node.args)
        if isinstance(node.func, ast.Name) and node.func.id in _CODE_BUILTINS \
                and node.func.id not in self.aliases:
            self._report(node, f"{node.func.id}()")
        elif name in {"importlib.import_module", "importlib.__import__"} and not literal_args:
            self._report(node, f"{name}() with a computed module name")
        elif name in _SHELL or name.startswith(("os.exec", "os.spawn")):
            self._report(node, f"{name}()")
        elif name in _STDLIB_XML_PARSERS:
            self._report(node, f"{name}() (parse XML with defusedxml)")
        elif name in {"jinja2.Template", "jinja2.environment.Template",
                      "jinja2.nativetypes.NativeEnvironment"}:
            self._report(node, f"{name}() built from a string")
        elif name in {"jinja2.Environment", "jinja2.environment.Environment"}:
            loader = next((k.value for k in node.keywords if k.arg == "loader"), None)
            if loader is None or not self.qualified(getattr(loader, "func", loader)).endswith(
                    "PackageLoader"):
                self._report(node, f"{name}() without a PackageLoader")
        elif isinstance(node.func, ast.Attribute) and node.func.attr == "from_string" \
                and not name.endswith("PackageURL.from_string") \
                and not name.endswith("VersionRange.from_string"):
            self._report(node, f".from_string() (a template built from data?) {name}")
        elif name == "getattr" and len(node.args) > 1 and \
                self.qualified(node.args[0]) == "yaml" and \
                isinstance(node.args[1], ast.Constant) and node.args[1].value in _UNSAFE_YAML:
            self._report(node, f"getattr(yaml, {node.args[1].value!r})")
        for keyword in node.keywords:
            if keyword.arg == "shell" and not (isinstance(keyword.value, ast.Constant)
                                               and keyword.value.value is False):
                self._report(node, f"{name or 'call'}(shell=...)")
        self.generic_visit(node)


def _scan(source: str, filename: str = "<test>") -> list[tuple[int, str]]:
    scanner = _Scanner()
    scanner.visit(ast.parse(source, filename))
    return scanner.found


def test_the_package_has_no_way_to_run_code_from_data() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        found += [f"{rel}:{line}: {what}"
                  for line, what in _scan(path.read_text(encoding="utf-8"), rel)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("source", [
    "eval(text)",
    "exec(text)",
    "compile(text, 'f', 'exec')",
    "__import__(name)",
    "import importlib\nimportlib.import_module(name)",
    "from importlib import import_module\nimport_module(name)",
    "import pickle",
    "import marshal as m",
    "from shelve import open",
    "import dill",
    "import yaml\nyaml.load(text)",
    "import yaml\nyaml.load(text, Loader=yaml.SafeLoader)",  # yaml.load itself is refused
    "import yaml\nyaml.unsafe_load(text)",
    "import yaml\nyaml.full_load(text)",
    "import yaml\nyaml.compose(text, Loader=yaml.Loader)",
    "import yaml\nyaml.compose(text, Loader=yaml.UnsafeLoader)",
    "from yaml import FullLoader",
    "import yaml\nL = getattr(yaml, 'CLoader', None)",
    "import yaml\nclass Tagged(yaml.YAMLObject): pass",
    "import yaml\nyaml.SafeLoader.add_constructor('!x', f)",
    "import subprocess\nsubprocess.run(cmd, shell=True)",
    "import subprocess as sp\nsp.Popen(cmd, shell=flag)",
    "import os\nos.system(cmd)",
    "import os\nos.popen(cmd)",
    "import os\nos.execv(path, args)",
    "import jinja2\njinja2.Template(text).render()",
    "from jinja2 import Environment\nEnvironment().from_string(text)",
    "import jinja2\njinja2.Environment(loader=jinja2.FileSystemLoader(folder))",
    "import xml.etree.ElementTree as ET\nET.fromstring(text)",
    "from xml.etree import ElementTree\nElementTree.parse(path)",
    "from xml.dom import minidom\nminidom.parseString(text)",
    "import xml.sax\nxml.sax.parseString(text, handler)",
])
def test_the_scan_finds_each_way(source: str) -> None:
    assert _scan(source), f"not found: {source!r}"


@pytest.mark.parametrize("source", [
    "import re\nre.compile('x')",
    "import yaml\nyaml.compose(text, Loader=yaml.SafeLoader)",
    "import yaml\nL = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)",
    "import yaml\nyaml.safe_dump(data)",
    "import importlib\nimportlib.import_module('pytm')",
    "import subprocess\nsubprocess.run(['dot', '-Tsvg'], check=False)",
    "import jinja2\njinja2.Environment(loader=jinja2.PackageLoader('medthreat.export', 't'))",
    "from defusedxml import ElementTree as SafeElementTree\nSafeElementTree.fromstring(text)",
    "from xml.etree import ElementTree\nexcept_type = ElementTree.ParseError",
])
def test_the_scan_allows_the_safe_forms(source: str) -> None:
    assert not _scan(source)


# -- hostile files -------------------------------------------------------------------------------

_TAGS = [
    "!!python/object/apply:os.system [{cmd}]",
    "!!python/object/new:subprocess.Popen [[sh, -c, {cmd}]]",
    "!!python/name:os.system",
    "!!python/module:os",
    "!!python/object:argparse.Namespace {{x: 1}}",
    "!<tag:yaml.org,2002:python/object/apply:os.system> [{cmd}]",
]


@pytest.fixture
def marker(tmp_path: Path):
    """A file that must never exist, and the shell command that would create it."""
    path = tmp_path / "code-ran"
    yield path, json.dumps(f"touch {path}")
    assert not path.exists(), "data ran as code"


def _tagged(tag: str, cmd: str) -> str:
    return tag.format(cmd=cmd)


@pytest.mark.parametrize("tag", _TAGS)
def test_tags_in_a_model_are_refused(tmp_path: Path, marker, run_cli, tag: str) -> None:
    _, cmd = marker
    text = MODEL.read_text(encoding="utf-8")
    hostile = tmp_path / "model.yaml"
    hostile.write_text(text.replace("  version: \"1.0\"",
                                    f"  version: {_tagged(tag, cmd)}", 1), encoding="utf-8")
    assert _tagged(tag, cmd) in hostile.read_text(encoding="utf-8")
    with pytest.raises(MedthreatError, match=r"tag|constructor|python"):
        mt.load_model(hostile)
    done = run_cli("validate", hostile)
    assert done.returncode == 2 and str(hostile) in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("tag", _TAGS[:3])
def test_tags_in_a_catalog_are_refused(tmp_path: Path, marker, run_cli, tag: str) -> None:
    _, cmd = marker
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "extra.yaml").write_text(
        "component_types:\n  - id: hostile\n    name: " + _tagged(tag, cmd) + "\n"
        "    element: process\n    category: device\n", encoding="utf-8")
    with pytest.raises(MedthreatError):
        mt.Catalog.load(folder)
    done = run_cli("validate", MODEL, "--catalog", folder)
    assert done.returncode == 2 and "extra.yaml" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("tag", _TAGS[:3])
def test_tags_in_a_decisions_file_are_refused(tmp_path: Path, marker, run_cli,
                                             tag: str) -> None:
    _, cmd = marker
    decisions = tmp_path / "decisions.yaml"
    decisions.write_text("schema_version: 1\ndecisions:\n  MT-DEV-001@pump:\n"
                         f"    status: accepted\n    justification: {_tagged(tag, cmd)}\n",
                         encoding="utf-8")
    with pytest.raises(MedthreatError):
        load_decisions(decisions)
    done = run_cli("analyze", MODEL, "--decisions", decisions, "--out", tmp_path / "out",
                   "--no-pdf")
    assert done.returncode == 2 and "decisions.yaml" in done.stderr
    assert "Traceback" not in done.stderr


def test_tags_in_a_policy_are_refused(tmp_path: Path, marker, run_cli) -> None:
    _, cmd = marker
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"name: {_tagged(_TAGS[0], cmd)}\n", encoding="utf-8")
    done = run_cli("analyze", MODEL, "--policy", policy, "--out", tmp_path / "out", "--no-pdf")
    assert done.returncode == 2 and "policy.yaml" in done.stderr
    assert "Traceback" not in done.stderr


_PAYLOADS = ["{{ ''.__class__.__mro__[1].__subclasses__() }}",
             "{% for c in ''.__class__.__mro__ %}{{ c }}{% endfor %}",
             "__import__('os').system('touch {marker}')"]


def _payload(index: int, marker_path: Path) -> str:
    return _PAYLOADS[index % len(_PAYLOADS)].replace("{marker}", str(marker_path))


def _poison(value: object, marker_path: Path, *, rename: bool = True) -> object:
    """The document with ``__class__``/``__reduce__`` keys in every object and (``rename``)
    every name and description replaced by a payload."""
    if isinstance(value, list):
        return [_poison(v, marker_path, rename=rename) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _poison(v, marker_path, rename=rename) for k, v in value.items()}
    out["__class__"] = "os.system"
    out["__reduce__"] = ["os.system", [f"touch {marker_path}"]]
    out["__init__"] = {"__globals__": "x"}
    for key in ("name", "description") if rename else ():
        if isinstance(out.get(key), str):
            out[key] = _payload(len(str(value)), marker_path)
    return out


@pytest.mark.parametrize("fmt", ["otm", "threatdragon"])
def test_dunder_keys_in_imported_json_are_plain_data(tmp_path: Path, marker, run_cli,
                                                    fmt: str) -> None:
    path, _ = marker
    exported = tmp_path / f"model.{fmt}.json"
    if fmt == "otm":
        assert run_cli("export", MODEL, "--format", fmt, "--out", exported).returncode == 0
    else:
        shutil.copy(DATA / "interop" / "threatdragon-example.json", exported)
    hostile = tmp_path / f"hostile.{fmt}.json"
    hostile.write_text(json.dumps(_poison(json.loads(exported.read_text()), path)),
                       encoding="utf-8")
    model = tmp_path / "imported.yaml"
    done = run_cli("import", fmt, hostile, "--out", model)
    assert done.returncode in (0, 2), done.stderr
    assert "Traceback" not in done.stderr
    if done.returncode == 0:  # imported: the payloads are kept as text, nothing evaluated
        text = model.read_text(encoding="utf-8")
        assert "__class__.__mro__" in text or "__import__" in text
        assert "<class " not in text
        out = tmp_path / "out"
        analyzed = run_cli("analyze", model, "--out", out, "--no-pdf")
        assert analyzed.returncode == 0, analyzed.stderr
        _assert_payloads_literal(out)


def _assert_payloads_literal(out: Path) -> None:
    for name in ("report.md", "report.html", "summary.md", "findings.json", "labeling.md"):
        text = (out / name).read_text(encoding="utf-8")
        assert "<class 'str'>" not in text and "&lt;class &#39;str&#39;&gt;" not in text
        assert "&lt;class 'object'&gt;" not in text and "<class 'object'>" not in text


def test_template_syntax_in_model_text_is_printed_not_run(tmp_path: Path, marker,
                                                          run_cli) -> None:
    path, _ = marker
    model = mt.load_model(MODEL)
    model.system.description = _PAYLOADS[0]
    model.system.intended_use = _PAYLOADS[1]
    model.system.name = "Pump {{ 7 * 7 }} " + _payload(2, path)
    model.components[0].description = _PAYLOADS[0]
    saved = tmp_path / "model.yaml"
    mt.save_model(model, saved)
    out = tmp_path / "out"
    done = run_cli("analyze", saved, "--out", out, "--no-pdf")
    assert done.returncode == 0, done.stderr
    _assert_payloads_literal(out)
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Pump 49" not in report
    assert "7 * 7" in report  # the name is printed as written (escaped or not), never computed
    from medthreat.export.report import report_markdown

    text = report_markdown(mt.assess(mt.analyze(model)))
    assert "7 * 7" in text and "Pump 49" not in text


def test_a_pytm_json_dump_is_read_as_data(tmp_path: Path, marker, run_cli) -> None:
    path, _ = marker
    dump = json.loads((DATA / "pytm" / "infusion_pump.json").read_text(encoding="utf-8"))
    hostile = tmp_path / "tm.json"
    # pytm itself writes "__class__" (the element type); here it names os.system everywhere
    hostile.write_text(json.dumps(_poison(dump, path, rename=False)), encoding="utf-8")
    done = run_cli("import", "pytm", hostile, "--out", tmp_path / "model.yaml")
    assert done.returncode == 0, done.stderr
    assert "__reduce__" in done.stderr  # reported as a key that was not imported
    assert "os.system" not in (tmp_path / "model.yaml").read_text(encoding="utf-8")


# -- the linter enforces the same ----------------------------------------------------------------


def test_ruff_selects_the_bandit_rules() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    lint = config["tool"]["ruff"]["lint"]
    selected = lint.get("select", []) + lint.get("extend-select", [])
    assert "S" in selected or "ALL" in selected
    ignored = set(lint.get("ignore", [])) | set(lint.get("extend-ignore", []))
    # only assert (S101) may be ignored package-wide; the code-execution rules stay on
    assert not ignored & {"S", "S1", "S3", "S6", "S102", "S301", "S307", "S506", "S602",
                          "S605", "S701", "S314", "S318"}
    per_file = lint.get("per-file-ignores", {})
    for pattern, rules in per_file.items():
        if pattern.startswith("medthreat"):
            assert not {r for r in rules if r.startswith("S")}, pattern


def test_ruff_check_of_the_package_passes() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        found = shutil.which("ruff")
        if found is None:
            if in_ci():
                pytest.fail("ruff is not installed; CI=true, so the dev extra must install it",
                            pytrace=False)
            pytest.skip("ruff is not installed (pip install -e '.[dev]')")
        ruff = Path(found)
    done = subprocess.run([str(ruff), "check", "medthreat"], cwd=REPO, capture_output=True,
                          text=True, check=False, timeout=300,
                          env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
