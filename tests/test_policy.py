"""The risk policy: the shipped default, lookups, validation errors, replacement, Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from medthreat.catalog import shipped_catalog_dir
from medthreat.errors import MedthreatError
from medthreat.risk import (
    DIMENSIONS,
    Acceptability,
    PolicyError,
    RiskPolicy,
    default_policy_path,
)

DEFAULT = shipped_catalog_dir() / "policies" / "default.yaml"
DEFAULT_TEXT = DEFAULT.read_text(encoding="utf-8")
RAW: dict[str, Any] = yaml.safe_load(DEFAULT_TEXT)
INPUT_SCALES = ("exploitability", "severity", "privacy", "business")
DOCS = Path(__file__).resolve().parents[1] / "docs" / "risk-policy.md"


@pytest.fixture(scope="module")
def policy() -> RiskPolicy:
    return RiskPolicy.load()


def declared(scale: str) -> list[dict[str, Any]]:
    """The levels of a scale as the YAML declares them (read without medthreat)."""
    return list(RAW["scales"][scale]["levels"])


def write(tmp_path: Path, text: str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, marker: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th ``marker`` in ``text``."""
    pos = -1
    for _ in range(occurrence):
        pos = text.index(marker, pos + 1)
    return text[:pos].count("\n") + 1


def replace_once(text: str, old: str, new: str, occurrence: int = 1) -> str:
    pos = -1
    for _ in range(occurrence):
        pos = text.index(old, pos + 1)
    return text[:pos] + new + text[pos + len(old):]


# -- the shipped policy --------------------------------------------------------------------------


def test_shipped_policy_loads_with_its_metadata(policy: RiskPolicy) -> None:
    assert default_policy_path() == DEFAULT
    assert policy.file == str(DEFAULT)
    assert (policy.id, policy.title, policy.version, policy.owner) == (
        RAW["id"], RAW["title"], RAW["version"], RAW["owner"])
    assert policy.rationale.strip() == RAW["rationale"].strip()
    assert RiskPolicy.load() is policy  # the default is parsed once and shared


@pytest.mark.parametrize("scale", INPUT_SCALES)
def test_every_input_scale_has_five_levels_ranked_as_declared(
    policy: RiskPolicy, scale: str
) -> None:
    levels = declared(scale)
    assert sorted(lv["rank"] for lv in levels) == [1, 2, 3, 4, 5]
    for lv in levels:
        by_rank = policy.level(scale, lv["rank"])
        by_id = policy.level(scale, lv["id"])
        assert by_rank is by_id
        assert (by_rank.id, by_rank.rank, by_rank.name) == (lv["id"], lv["rank"], lv["name"])
        assert policy.rank_of(scale, lv["id"]) == lv["rank"]
        assert policy.level(scale, by_id) is by_id  # a Level is accepted and checked
    assert [lv.rank for lv in policy.levels(scale)] == [1, 2, 3, 4, 5]


def test_scales_carry_the_levels_the_guidance_names(policy: RiskPolicy) -> None:
    assert [lv.id for lv in policy.levels("severity")] == [
        "negligible", "minor", "serious", "critical", "catastrophic"]
    assert [lv.id for lv in policy.levels("exploitability")] == [
        "very_low", "low", "moderate", "high", "very_high"]
    risk = policy.levels("risk")
    assert [lv.id for lv in risk] == [lv["id"] for lv in sorted(
        declared("risk"), key=lambda lv: lv["rank"])]
    assert all(policy.risk_level(lv.id).colour.startswith("#") for lv in risk)


@pytest.mark.parametrize("scale", [*INPUT_SCALES, "risk"])
@pytest.mark.parametrize("rank", [0, -1, 6, 99])
def test_ranks_outside_a_scale_are_errors(policy: RiskPolicy, scale: str, rank: int) -> None:
    top = len(declared(scale))
    if 1 <= rank <= top:
        pytest.skip("inside this scale")
    with pytest.raises(PolicyError, match=rf"{scale} rank {rank} is out of range; the scale "
                                          rf"has ranks 1 to {top}"):
        policy.level(scale, rank)


def test_unknown_level_ids_scales_and_dimensions_are_errors(policy: RiskPolicy) -> None:
    with pytest.raises(PolicyError, match=r"unknown exploitability level 'hihg'.*did you mean "
                                          r"'high'"):
        policy.level("exploitability", "hihg")
    with pytest.raises(PolicyError, match=r"unknown severity level 'fatal'; expected one of "
                                          r"negligible, minor, serious, critical, catastrophic"):
        policy.risk("high", "fatal")
    with pytest.raises(PolicyError, match=r"unknown privacy level 'serious'"):
        policy.risk("high", "serious", dimension="privacy")  # a severity id, not a privacy one
    with pytest.raises(PolicyError, match=r"unknown scale 'severty'.*did you mean 'severity'"):
        policy.scale("severty")
    with pytest.raises(PolicyError, match=r"unknown risk dimension 'safty'.*'safety'"):
        policy.risk(1, 1, dimension="safty")
    with pytest.raises(PolicyError, match=r"level id or a rank"):
        policy.level("severity", True)  # a bool is not a rank
    assert issubclass(PolicyError, MedthreatError)


# -- the matrices ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dimension", list(DIMENSIONS))
def test_all_25_cells_match_the_yaml(policy: RiskPolicy, dimension: str) -> None:
    raw = RAW["matrices"][dimension]
    impact = DIMENSIONS[dimension]
    e_rank = {lv["id"]: lv["rank"] for lv in declared("exploitability")}
    s_rank = {lv["id"]: lv["rank"] for lv in declared(impact)}
    seen = set()
    for e_id, row in raw["risk"].items():
        assert len(row) == 5
        for i, s_id in enumerate(raw["columns"]):
            cell = policy.risk(e_id, s_id, dimension)
            assert cell is policy.risk(e_rank[e_id], s_rank[s_id], dimension)
            assert (cell.exploitability.id, cell.severity.id) == (e_id, s_id)
            assert cell.level.id == row[i]
            assert cell.acceptability.value == raw["acceptability"][e_id][i]
            if dimension == "safety":
                assert cell.controlled is (raw["control"][e_id][i] == "controlled")
            else:
                assert cell.controlled is None
            assert cell.line == line_of(DEFAULT_TEXT, f"      {e_id}:",
                                        _row_occurrence(dimension, "risk"))
            seen.add((e_id, s_id))
    assert len(seen) == 25
    assert [(c.exploitability.id, c.severity.id) for c in policy.cells(dimension)] == sorted(
        seen, key=lambda k: (e_rank[k[0]], s_rank[k[1]]))


def _row_occurrence(dimension: str, grid: str) -> int:
    """Which occurrence of a row key in the file belongs to ``dimension``'s ``grid``."""
    grids = [("safety", "risk"), ("safety", "acceptability"), ("safety", "control"),
             ("privacy", "risk"), ("privacy", "acceptability"),
             ("business", "risk"), ("business", "acceptability")]
    return grids.index((dimension, grid)) + 1


def test_risk_cell_explains_which_cell_gave_it(policy: RiskPolicy) -> None:
    cell = policy.risk("high", "critical")
    assert cell.explain() == (
        "risk very_high (rank 4): unacceptable, uncontrolled — safety matrix of policy "
        "medthreat-default 1.0, cell exploitability high (rank 4) x severity critical (rank 4)")
    privacy = policy.risk(1, 5, dimension="privacy")
    assert privacy.explain().startswith("risk medium (rank 2): review — privacy matrix")
    assert "privacy maximum (rank 5)" in privacy.explain()


@pytest.mark.parametrize("dimension", list(DIMENSIONS))
def test_default_matrices_are_monotonic_and_acceptability_follows_the_level(
    dimension: str,
) -> None:
    # What the rationale promises, checked on the raw YAML.
    raw = RAW["matrices"][dimension]
    rows = [lv["id"] for lv in sorted(declared("exploitability"), key=lambda lv: lv["rank"])]
    risk_rank = {lv["id"]: lv["rank"] for lv in declared("risk")}
    follows = {"low": "acceptable", "medium": "review", "high": "unacceptable",
               "very_high": "unacceptable"}
    for r, e_id in enumerate(rows):
        for c in range(5):
            value = risk_rank[raw["risk"][e_id][c]]
            if r:
                assert value >= risk_rank[raw["risk"][rows[r - 1]][c]]
            if c:
                assert value >= risk_rank[raw["risk"][e_id][c - 1]]
            assert raw["acceptability"][e_id][c] == follows[raw["risk"][e_id][c]]
            if dimension == "safety":
                uncontrolled = raw["acceptability"][e_id][c] == "unacceptable"
                assert raw["control"][e_id][c] == ("uncontrolled" if uncontrolled
                                                   else "controlled")


def test_default_safety_matrix_keeps_the_rationale_promises(policy: RiskPolicy) -> None:
    def unacceptable(e: int, s: int) -> bool:
        return policy.risk(e, s).acceptability is Acceptability.unacceptable

    assert [unacceptable(e, 5) for e in range(1, 6)] == [False, True, True, True, True]
    assert [unacceptable(e, 4) for e in range(1, 6)] == [False, False, True, True, True]
    assert not any(unacceptable(e, 1) for e in range(1, 6))
    assert policy.risk("very_low", "critical").level.id == "medium"
    assert policy.risk("high", "negligible").level.id == "low"


# -- validation errors ----------------------------------------------------------------------------


def load_error(tmp_path: Path, text: str) -> tuple[Path, str]:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as info:
        RiskPolicy.load(path)
    return path, str(info.value)


SAFETY_MODERATE = "      moderate:      [low,        medium, medium,    high,      very_high]"
SAFETY_VERY_LOW = "      very_low:      [low,        low,    low,       medium,    medium]"
SAFETY_LOW = "      low:           [low,        low,    medium,    medium,    high]"


def test_non_monotonic_matrix_names_the_cell_to_its_left(tmp_path: Path) -> None:
    bad = "      very_low:      [low,        low,    low,       medium,    low]"
    text = replace_once(DEFAULT_TEXT, SAFETY_VERY_LOW, bad)  # the first one is the safety row
    path, message = load_error(tmp_path, text)
    assert message == (
        f"{path}:{line_of(text, bad)}: matrices.safety.risk.very_low[4]: safety matrix is not "
        "monotonic: risk at (exploitability very_low, severity catastrophic) is 'low', lower "
        "than 'medium' at (exploitability very_low, severity critical), one severity level "
        "lower; risk must not decrease as exploitability or severity rises")


def test_non_monotonic_matrix_names_the_cell_above_a_higher_one(tmp_path: Path) -> None:
    bad = "      low:           [low,        low,    medium,    very_high, very_high]"
    text = DEFAULT_TEXT.replace(SAFETY_LOW, bad)
    path, message = load_error(tmp_path, text)
    # (low, critical) is now very_high; (moderate, critical) above it stays high: that cell is
    # the offending one.
    assert message == (
        f"{path}:{line_of(text, SAFETY_MODERATE)}: matrices.safety.risk.moderate[3]: safety "
        "matrix is not monotonic: risk at (exploitability moderate, severity critical) is "
        "'high', lower than 'very_high' at (exploitability low, severity critical), one "
        "exploitability level lower; risk must not decrease as exploitability or severity rises")


def test_non_monotonic_acceptability_is_caught_too(tmp_path: Path) -> None:
    old = "      high:          [acceptable, review,     review,       unacceptable, unacceptable]"
    new = "      high:          [acceptable, review,     acceptable,   unacceptable, unacceptable]"
    text = DEFAULT_TEXT.replace(old, new)
    assert text != DEFAULT_TEXT
    path, message = load_error(tmp_path, text)
    assert message == (
        f"{path}:{line_of(text, new)}: matrices.business.acceptability.high[2]: business matrix "
        "is not monotonic: acceptability at (exploitability high, business moderate) is "
        "'acceptable', lower than 'review' at (exploitability moderate, business moderate), one "
        "exploitability level lower; acceptability must not decrease as exploitability or "
        "business rises")


# Each case: (old text, new text, occurrence of old, marker whose line the error names,
#             occurrence of the marker in the new text, entry path, message fragment).
ERROR_CASES = [
    pytest.param(
        "      - id: low\n        rank: 2", "      - id: very_low\n        rank: 2", 1,
        "- id: very_low", 2, "scales.exploitability.levels[1].id",
        "duplicate exploitability level id 'very_low' (first at levels[0])", id="duplicate-id"),
    pytest.param(
        "      - id: minor\n        rank: 2", "      - id: minor\n        rank: 1", 1,
        "rank: 1\n        name: Minor", 1, "scales.severity.levels[1].rank",
        "duplicate rank 1 in the severity scale (first at levels[0])", id="duplicate-rank"),
    pytest.param(
        "      - id: very_high\n        rank: 5", "      - id: very_high\n        rank: 6", 1,
        "rank: 6", 1, "scales.exploitability.levels[4].rank",
        "rank 6 is out of range; the levels of the exploitability scale take the ranks 1 to 5",
        id="rank-out-of-range"),
    pytest.param(
        "      - id: maximum\n", "      - id: maximum\n        weight: 3\n", 1,
        "weight: 3", 1, "scales.privacy.levels[4].weight",
        "unknown key 'weight'; expected one of description, id, name, rank", id="unknown-key"),
    pytest.param(
        'version: "1.0"\n', 'version: "1.0"\nreviewed_by: QA\n', 1, "reviewed_by:", 1,
        "reviewed_by", "unknown key 'reviewed_by'", id="unknown-top-key"),
    pytest.param(
        'version: "1.0"', "version: 1.0", 1, "version: 1.0", 1, "version",
        'version must be text: write it in quotes, e.g. version: "1.0"', id="unquoted-version"),
    pytest.param(
        'colour: "#2e7d32"', 'colour: "green"', 1, 'colour: "green"', 1,
        "scales.risk.levels[0].colour", "colour should be a hex colour such as '#c62828'",
        id="bad-colour"),
    pytest.param(
        "[review,     unacceptable,", "[review,     unacceptble,", 1, "unacceptble", 1,
        "matrices.safety.acceptability.very_high[1]",
        "Input should be 'acceptable', 'review' or 'unacceptable' (got 'unacceptble') — did "
        "you mean 'unacceptable'", id="acceptability-value"),
    pytest.param(
        "[controlled, uncontrolled,", "[controlled, unmanaged,", 1, "unmanaged", 1,
        "matrices.safety.control.very_high[1]",
        "Input should be 'controlled' or 'uncontrolled' (got 'unmanaged')", id="control-value"),
    pytest.param(
        "[medium,     high,   very_high,", "[medium,     high,   very_hihg,", 1, "very_hihg", 1,
        "matrices.safety.risk.very_high[2]",
        "unknown risk level 'very_hihg'; expected one of low, medium, high, very_high — did you "
        "mean 'very_high'", id="unknown-risk-level"),
    pytest.param(
        SAFETY_LOW, "      low:           [low,        low,    medium,    medium]", 1,
        "      low:           [low,        low,    medium,    medium]", 1,
        "matrices.safety.risk.low",
        "row 'low' has 4 cell(s); expected 5, one per severity level (negligible, minor, "
        "serious, critical, catastrophic)", id="short-row"),
    pytest.param(
        "      moderate:      [low,        medium,  medium,      high,      high]",
        "      moderat:       [low,        medium,  medium,      high,      high]", 1,
        "moderat:", 1, "matrices.privacy.risk.moderat",
        "unknown exploitability level 'moderat'; rows are keyed by very_low, low, moderate, "
        "high, very_high — did you mean 'moderate'?", id="unknown-row"),
    pytest.param(
        "      very_low:      [low,        low,    low,      low,    medium]\n", "", 1,
        "    risk:", 3, "matrices.business.risk",
        "business risk grid has no row for exploitability level(s) very_low", id="missing-row"),
    pytest.param(
        "[negligible, minor,  serious,   critical,  catastrophic]",
        "[negligible, minor,  critical,  serious,   catastrophic]", 1, "columns:", 1,
        "matrices.safety.columns",
        "columns must list the severity levels in rank order: [negligible, minor, serious, "
        "critical, catastrophic]; found [negligible, minor, critical, serious, catastrophic]",
        id="columns-order"),
    pytest.param(
        "      very_high:     [controlled, uncontrolled,",
        "      very_high:     [controlled, controlled,", 1,
        "      very_high:     [controlled, controlled,", 1, "matrices.safety.control.very_high[1]",
        "cell (exploitability very_high, severity minor) is unacceptable but controlled",
        id="unacceptable-but-controlled"),
    pytest.param(
        "  privacy:\n    description: >\n      Harm to data subjects.",
        "  privacy:\n    control: {}\n    description: >\n      Harm to data subjects.", 1,
        "    control: {}", 1, "matrices.privacy.control",
        "unknown key 'control'; expected one of acceptability, columns, description, risk",
        id="control-outside-safety"),
    pytest.param(
        'rationale: |', 'rationale: " "\nold_rationale: |', 1, "rationale:", 1, "rationale",
        "rationale is empty", id="blank-rationale"),
]


@pytest.mark.parametrize(("old", "new", "occurrence", "marker", "marker_occurrence", "where",
                          "fragment"), ERROR_CASES)
def test_validation_errors_name_file_line_and_path(
    tmp_path: Path, old: str, new: str, occurrence: int, marker: str, marker_occurrence: int,
    where: str, fragment: str,
) -> None:
    text = replace_once(DEFAULT_TEXT, old, new, occurrence)
    path, message = load_error(tmp_path, text)
    expected = f"{path}:{line_of(text, marker, marker_occurrence)}: {where}: "
    lines = message.splitlines()
    matching = [ln for ln in lines if ln.startswith(expected)]
    assert matching, f"no problem at {expected!r} in:\n{message}"
    assert any(fragment in ln for ln in matching), message


def test_scale_without_five_levels(tmp_path: Path) -> None:
    block = DEFAULT_TEXT[DEFAULT_TEXT.index("      - id: very_high\n        rank: 5"):
                         DEFAULT_TEXT.index("  severity:\n")]
    text = DEFAULT_TEXT.replace(block, "\n", 1)
    path, message = load_error(tmp_path, text)
    assert message == (f"{path}:{line_of(text, '    levels:')}: scales.exploitability.levels: "
                       "the exploitability scale has 4 level(s); expected exactly 5, ranked 1 "
                       "to 5")


def test_missing_rationale_and_several_problems_at_once(tmp_path: Path) -> None:
    start = DEFAULT_TEXT.index("rationale: |")
    end = DEFAULT_TEXT.index("scales:\n")
    text = DEFAULT_TEXT[:start] + DEFAULT_TEXT[end:]
    text = text.replace('title: medthreat default security risk policy\n', "")
    path, message = load_error(tmp_path, text)
    root = line_of(text, "schema_version:")
    assert f"{path}:{root}: required key 'rationale' is missing" in message.splitlines()
    assert f"{path}:{root}: required key 'title' is missing" in message.splitlines()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", ": expected a mapping with the keys schema_version, id, title, version, owner, "
             "rationale, scales, matrices; found an empty file"),
        ("- a\n- b\n", ":1: expected a mapping"),
        ("id: x\nscales: [\n", ": malformed YAML"),
    ],
)
def test_files_that_are_not_policies(tmp_path: Path, text: str, fragment: str) -> None:
    path, message = load_error(tmp_path, text)
    assert message.startswith(str(path))
    assert fragment in message


def test_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="file not found"):
        RiskPolicy.load(tmp_path / "nope.yaml")


def test_data_without_a_file_is_checked_the_same_way() -> None:
    data = yaml.safe_load(DEFAULT_TEXT)
    data["matrices"]["safety"]["risk"]["moderate"][2] = "low"
    with pytest.raises(PolicyError, match=r"^<policy>: matrices.safety.risk.moderate\[2\]: "
                                          r"safety matrix is not monotonic"):
        RiskPolicy.from_data(data)
    with pytest.raises(PolicyError):
        RiskPolicy.model_validate(data)  # direct pydantic use cannot skip the checks


# -- replacement -----------------------------------------------------------------------------------


def test_a_manufacturer_policy_replaces_the_default(tmp_path: Path, policy: RiskPolicy) -> None:
    # Three risk levels with other ids, one row relaxed, other metadata.
    data = yaml.safe_load(DEFAULT_TEXT)
    data.update(id="acme-psirt", version="7", owner="ACME | Product security")
    data["scales"]["risk"]["levels"] = [
        {"id": "green", "rank": 1, "name": "Green", "colour": "#00AA00", "description": "ok"},
        {"id": "amber", "rank": 2, "name": "Amber", "colour": "#ffaa00", "description": "look"},
        {"id": "red", "rank": 3, "name": "Red", "colour": "#cc0000", "description": "fix"},
    ]
    rename = {"low": "green", "medium": "amber", "high": "red", "very_high": "red"}
    for matrix in data["matrices"].values():
        matrix["risk"] = {e: [rename[v] for v in row] for e, row in matrix["risk"].items()}
    safety = data["matrices"]["safety"]
    # Very low exploitability is accepted whatever the harm (monotonic: the whole bottom row).
    safety["risk"]["very_low"] = ["green"] * 5
    safety["acceptability"]["very_low"] = ["acceptable"] * 5
    path = write(tmp_path, yaml.safe_dump(data, sort_keys=False), "acme.yaml")

    acme = RiskPolicy.load(path)
    assert acme.file == str(path)
    cell = acme.risk("very_low", "catastrophic")
    assert (cell.level.id, cell.acceptability, cell.controlled) == (
        "green", Acceptability.acceptable, True)
    assert "policy acme-psirt 7" in cell.explain()
    assert acme.risk_level("red").colour == "#cc0000"
    assert acme.rank_of("risk", "amber") == 2
    assert acme.risk("very_high", "catastrophic").level.id == "red"
    assert "| Owner | ACME \\| Product security |" in acme.to_markdown()
    # the shipped default is untouched
    assert policy.risk("very_low", "catastrophic").level.id == "medium"
    assert RiskPolicy.load().id == "medthreat-default"


# -- Markdown -------------------------------------------------------------------------------------


def test_markdown_is_deterministic_and_holds_the_matrices(tmp_path: Path,
                                                          policy: RiskPolicy) -> None:
    text = policy.to_markdown()
    fresh = RiskPolicy.load(write(tmp_path, DEFAULT_TEXT))  # parsed again, elsewhere
    assert fresh.to_markdown() == text
    assert text.startswith(f"# {RAW['title']}\n")
    assert RAW["rationale"].strip() in text
    names = {s: {lv["id"]: lv["name"] for lv in declared(s)} for s in [*INPUT_SCALES, "risk"]}
    for dimension, impact in DIMENSIONS.items():
        raw = RAW["matrices"][dimension]
        header = " | ".join(f"{names[impact][s]} ({i})" for i, s in enumerate(raw["columns"], 1))
        assert f" → | {header} |\n" in text
        for e in declared("exploitability"):
            cells = []
            for i in range(5):
                words = [names["risk"][raw["risk"][e["id"]][i]], raw["acceptability"][e["id"]][i]]
                if dimension == "safety":
                    words.append(raw["control"][e["id"]][i])
                cells.append(" · ".join(words))
            assert f"| {e['name']} ({e['rank']}) | " + " | ".join(cells) + " |\n" in text
    nested = policy.to_markdown(heading=2)
    assert nested.startswith(f"## {RAW['title']}\n")
    assert "\n### Rationale\n" in nested


def test_docs_show_the_shipped_policy_as_rendered(policy: RiskPolicy) -> None:
    assert policy.to_markdown(heading=2) in DOCS.read_text(encoding="utf-8"), (
        "docs/risk-policy.md is out of date: paste RiskPolicy.load().to_markdown(heading=2)")
