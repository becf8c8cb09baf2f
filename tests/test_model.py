"""The model: builder, lossless YAML/JSON round trip, and every validation error path."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from _models import mini_catalog, mini_model

import medthreat as mt
from medthreat.model import load_model, model_json_schema, save_model

GOOD = """\
system:
  name: Mini pump
  care_settings: [home]
boundaries:
  - {id: home, name: Home, kind: home_network}
  - {id: cloud, name: Cloud, kind: cloud}
data:
  - {id: records, kind: phi, confidentiality: high}
components:
  - id: pump
    type: pump
    boundary: home
  - id: app
    type: app
    boundary: home
  - id: gw
    type: gateway
    boundary: cloud
actors:
  - {id: patient, role: patient, boundary: home}
flows:
  - {source: app, target: pump, protocol: ble}
  - {id: upload, source: app, target: gw, protocol: https, data: [records]}
controls:
  - {control: CTL-TLS, targets: [upload], status: implemented}
"""


@pytest.fixture(scope="module")
def catalog() -> mt.Catalog:
    return mini_catalog()


def write(tmp_path: Path, text: str, name: str = "model.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(path: Path, catalog: mt.Catalog) -> str:
    with pytest.raises(mt.ModelError) as info:
        load_model(path, catalog)
    return str(info.value)


# -- builder and round trip ------------------------------------------------------------------


def test_builder_reads_like_the_docs(catalog: mt.Catalog) -> None:
    m = mt.Model("Insulin pump system")
    home = m.boundary("Patient home", kind="home_network")
    app = m.component("app", "Patient app", boundary=home)
    pump = m.component("pump", "Pump", boundary=home)
    flow = m.flow(app, pump, "ble", data=["therapy_command"])
    assert (home.id, app.id, pump.id, flow.id) == ("patient-home", "patient-app", "pump",
                                                   "patient-app-ble-pump")
    # the data kind named in the flow became a data asset of that kind
    assert [(d.id, d.kind.value) for d in m.data_assets] == [("therapy_command",
                                                               "therapy_command")]
    # names that collide get distinct, stable ids
    assert m.component("app", "Patient app").id == "patient-app-2"
    mt.model.validate_model(m, catalog)


def test_yaml_and_json_round_trip_is_lossless(tmp_path: Path, catalog: mt.Catalog) -> None:
    m = mini_model()
    m.system.assumptions = ["Home Wi-Fi is untrusted", "Ünïcödé survives: µg/h"]
    m.components[0].attributes = {"has_debug_port": False, "max_sessions": 3}
    m.components[1].out_of_scope = False
    m.flows[1].bidirectional = True
    m.flows[1].authentication = "mutual_tls"
    for suffix in ("yaml", "json"):
        path = tmp_path / f"m.{suffix}"
        save_model(m, path)
        loaded = load_model(path, catalog)
        assert loaded == m
        assert loaded.model_dump() == m.model_dump()
        # saving the loaded model again gives the same bytes
        again = tmp_path / f"again.{suffix}"
        save_model(loaded, again)
        assert again.read_bytes() == path.read_bytes()


def test_saved_yaml_is_compact_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    save_model(mini_model(), path)
    text = path.read_text()
    assert text.startswith("schema_version: 1\nsystem:\n  name: Mini pump\n")
    assert "- ble\n" in text  # short interface form
    assert "exposed: false" in text
    assert "authentication" not in text  # defaults are left out


def test_reference_model_round_trips(tmp_path: Path, reference_model_path: Path) -> None:
    model = load_model(reference_model_path)
    path = tmp_path / "ref.yaml"
    save_model(model, path)
    assert load_model(path) == model


def test_json_schema_describes_model_files(catalog: mt.Catalog) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = model_json_schema(catalog)
    jsonschema.Draft202012Validator.check_schema(schema)
    component = schema["$defs"]["Component"]["properties"]["type"]
    assert component["enum"] == sorted(catalog.component_types)
    validator = jsonschema.Draft202012Validator(schema)
    import yaml

    assert not list(validator.iter_errors(yaml.safe_load(GOOD)))
    bad = yaml.safe_load(GOOD)
    bad["components"][0]["type"] = "pumpp"
    assert list(validator.iter_errors(bad))


# -- validation errors: file, line, path, expectation -----------------------------------------


def test_good_model_loads(tmp_path: Path, catalog: mt.Catalog) -> None:
    m = load_model(write(tmp_path, GOOD), catalog)
    assert [f.id for f in m.flows] == ["app-ble-pump", "upload"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("    type: pump\n", "    type: pmup\n",
         ":11: components[0].type: unknown component type 'pmup'; expected a component type "
         "of the catalog — did you mean 'pump'?"),
        ("protocol: ble}", "protocol: bel}",
         ":22: flows[0].protocol: unknown protocol 'bel'; expected a protocol of the catalog "
         "— did you mean 'ble'?"),
        ("    boundary: cloud\n", "    boundary: clod\n",
         ":18: components[2].boundary: unknown trust boundary 'clod'; expected one of the "
         "model's boundaries — did you mean 'cloud'?"),
        ("{source: app, target: pump", "{source: ap, target: pump",
         ":22: flows[0].source: unknown source 'ap'; expected a component or actor id — did "
         "you mean 'app'?"),
        ("data: [records]", "data: [record]",
         ":23: flows[1].data[0]: unknown data asset 'record'; expected an id from 'data' — "
         "did you mean 'records'?"),
        ("targets: [upload]", "targets: [uplaod]",
         ":25: controls[0].targets[0]: unknown target 'uplaod'; expected a component, actor "
         "or flow id — did you mean 'upload'?"),
        ("control: CTL-TLS", "control: CTL-TSL",
         ":25: controls[0].control: unknown control 'CTL-TSL'; expected a control id of the "
         "catalog — did you mean 'CTL-TLS'"),
        ("  - id: app\n", "  - id: pump\n",
         ":13: components[1].id: duplicate id 'pump' (first used at components[0]); ids must "
         "be unique across the model"),
        ("  - id: gw\n", "  - id: home\n",
         ":16: components[2].id: duplicate id 'home' (first used at boundaries[0])"),
        ("kind: cloud}", "kind: cloud, parent: hom}",
         ":6: boundaries[1].parent: unknown trust boundary 'hom'; expected one of the model's "
         "boundaries — did you mean 'home'?"),
        ("  care_settings: [home]\n", "  care_settings: [hom]\n",
         ":3: system.care_settings[0]: Input should be 'home', 'hospital', 'clinic' or "
         "'mobile' (got 'hom') — did you mean 'home'?"),
        ("  - id: pump\n    type: pump\n", "  - id: pump\n    typ: pump\n",
         ":11: components[0].typ: unknown key 'typ'; expected one of attributes, boundary, "),
        ("  - id: pump\n    type: pump\n", "  - id: pump\n",
         ":10: components[0]: required key 'type' is missing"),
        ("    type: pump\n", "    type: pump\n    attributes: {has_debug_prt: false}\n",
         ":12: components[0].attributes.has_debug_prt: unknown attribute 'has_debug_prt'; "
         "expected a catalog attribute — did you mean 'has_debug_port'?"),
        ("    type: pump\n", "    type: pump\n    attributes: {max_sessions: lots}\n",
         ":12: components[0].attributes.max_sessions: attribute 'max_sessions' expects a number, "
         "got text 'lots'"),
        ("    type: gateway\n", "    type: gateway\n    out_of_scope: true\n",
         ":18: components[2].out_of_scope: 'gw' is out of scope, so "
         "out_of_scope_reason must say why"),
        ("    type: gateway\n",
         "    type: gateway\n    out_of_scope: true\n    out_of_scope_reason: vendor's\n",
         ":25: flows[1].target: flow 'upload' is in scope but its target 'gw' is out of scope"),
        ("{id: upload, source: app, target: gw", "{id: upload, source: gw, target: gw",
         ":23: flows[1]: flow 'upload' starts and ends at 'gw'"),
        ("  - {id: home, name: Home, kind: home_network}",
         "  - {id: home, name: Home, kind: home_netwrok}",
         ":5: boundaries[0].kind: Input should be 'internet', "),
        ("  - {id: cloud, name: Cloud", "  - {id: 'bad id!', name: Cloud",
         ":6: boundaries[1].id: String should match pattern"),
    ],
)
def test_validation_errors_name_file_line_path_and_expectation(
    tmp_path: Path, catalog: mt.Catalog, old: str, new: str, expected: str
) -> None:
    assert old in GOOD, old
    path = write(tmp_path, GOOD.replace(old, new, 1))
    message = errors_of(path, catalog)
    assert f"{path}{expected}" in message if expected.startswith(":") else expected in message
    assert str(path) in message
    assert "Traceback" not in message


def test_boundary_cycle_names_the_cycle(tmp_path: Path, catalog: mt.Catalog) -> None:
    text = GOOD.replace("kind: home_network}", "kind: home_network, parent: cloud}").replace(
        "kind: cloud}", "kind: cloud, parent: home}")
    message = errors_of(write(tmp_path, text), catalog)
    assert ":5: boundaries[0].parent: boundary nesting forms a cycle: home -> cloud -> home" \
        in message


def test_several_problems_are_all_reported(tmp_path: Path, catalog: mt.Catalog) -> None:
    text = GOOD.replace("type: pump", "type: pmup").replace("protocol: ble", "protocol: bel")
    message = errors_of(write(tmp_path, text), catalog)
    assert "unknown component type 'pmup'" in message and "unknown protocol 'bel'" in message
    assert len(message.splitlines()) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("system:\n  name: x\n components: []\n", ":3: malformed YAML"),
        ("system: {name: x\n", ":2: malformed YAML"),
        ("system:\n\tname: x\n", ":2: malformed YAML"),
        ("", "expected a mapping with the keys system, boundaries, data, components"),
        ("- a\n- b\n", ":1: expected a mapping with the keys system"),
        ("boundaries: []\n", "required key 'system' is missing"),
        ("system: {name: x}\nbogus: 1\n", ":2: bogus: unknown key 'bogus'; expected one of "
         "actors, boundaries, components, controls, data, flows, schema_version, system"),
        ("system: {name: x}\ncomponents: {pump: {}}\n", ":2: components: Input should be a "
         "valid list"),
    ],
)
def test_malformed_files(tmp_path: Path, catalog: mt.Catalog, text: str, expected: str) -> None:
    message = errors_of(write(tmp_path, text), catalog)
    assert expected in message


def test_malformed_json_names_line(tmp_path: Path, catalog: mt.Catalog) -> None:
    path = write(tmp_path, '{\n  "system": {"name": "x"},\n  "flows": [,]\n}\n', "m.json")
    assert f"{path}:3: malformed JSON" in errors_of(path, catalog)


def test_json_model_errors_have_lines(tmp_path: Path, catalog: mt.Catalog) -> None:
    doc = {"system": {"name": "x"}, "components": [{"id": "a", "type": "pmup"}]}
    path = write(tmp_path, json.dumps(doc, indent=2), "m.json")
    assert f"{path}:8: components[0].type: unknown component type 'pmup'" in errors_of(
        path, catalog)


def test_missing_file_and_non_utf8(tmp_path: Path, catalog: mt.Catalog) -> None:
    assert "nope.yaml: file not found" in errors_of(tmp_path / "nope.yaml", catalog)
    path = tmp_path / "latin1.yaml"
    path.write_bytes(textwrap.dedent("system:\n  name: caf\xe9\n").encode("latin-1"))
    assert ":2: not UTF-8 text" in errors_of(path, catalog)


def test_yaml_tags_that_would_run_code_are_refused(tmp_path: Path, catalog: mt.Catalog) -> None:
    path = write(tmp_path, "system: !!python/object/apply:os.system ['echo pwned']\n")
    assert "malformed YAML" in errors_of(path, catalog)


def test_repeated_keys_are_refused_not_silently_dropped(tmp_path: Path,
                                                        catalog: mt.Catalog) -> None:
    text = GOOD.replace("  - id: app\n    type: app\n",
                        "  - id: app\n    type: app\n    type: db\n")
    assert ":15: components[1].type: duplicate key 'type' (first at line 14)" in errors_of(
        write(tmp_path, text), catalog)
    doc = '{"system": {"name": "x", "name": "y"}}'
    assert ":1: system.name: duplicate key 'name'" in errors_of(write(tmp_path, doc, "m.json"),
                                                             catalog)


def test_impossible_dates_are_reported_not_raised(tmp_path: Path, catalog: mt.Catalog) -> None:
    text = GOOD.replace("  name: Mini pump\n", "  name: Mini pump\n  version: 2026-13-01\n")
    assert ":3: system.version: '2026-13-01' is not a calendar date" in errors_of(
        write(tmp_path, text), catalog)


def test_atomic_write_keeps_permissions_and_leaves_the_old_file_on_failure(
        tmp_path: Path) -> None:
    import stat as stat_mod

    from medthreat._yaml import atomic_output, atomic_write

    target = tmp_path / "out.txt"
    atomic_write(target, "one")
    umask = os.umask(0)
    os.umask(umask)
    assert stat_mod.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # not a private temp mode
    target.chmod(0o640)
    atomic_write(target, "two")
    assert target.read_text() == "two"
    assert stat_mod.S_IMODE(target.stat().st_mode) == 0o640
    with pytest.raises(RuntimeError), atomic_output(target) as handle:
        handle.write(b"half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no temporary file left
