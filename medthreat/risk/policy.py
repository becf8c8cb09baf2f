"""The risk policy: scales, the exploitability x impact matrices and their acceptance criteria.

A policy is a YAML file. medthreat ships ``catalogs/policies/default.yaml``; a manufacturer
replaces it with its own file of the same shape. Following the FDA premarket cybersecurity
guidance, risk is rated by **exploitability**, not probability, against an impact that is
kept per dimension: patient harm (``safety``, on the ISO 14971 severity levels), ``privacy``
and ``business`` (availability and other harm to the service and the manufacturer). Each
dimension has its own 5x5 matrix that gives a risk level, an acceptability (acceptable, review,
unacceptable) and, for patient harm, the FDA postmarket notion of controlled or uncontrolled
risk.

Loading validates everything a policy promises — five levels per scale with ranks 1 to 5,
matrices that cover every cell with known levels, and risk that never decreases as
exploitability or impact rises — and reports every problem with file, line and path.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .._yaml import SourceMap, read_file
from ..errors import MedthreatError, PolicyError

__all__ = [
    "DIMENSIONS",
    "SCALE_NAMES",
    "Acceptability",
    "Control",
    "Level",
    "Matrices",
    "Matrix",
    "PolicyError",
    "RiskCell",
    "RiskLevel",
    "RiskPolicy",
    "RiskScale",
    "SafetyMatrix",
    "Scale",
    "Scales",
    "default_policy_path",
]

#: Impact dimensions and the scale that measures the impact in each.
DIMENSIONS: dict[str, str] = {"safety": "severity", "privacy": "privacy", "business": "business"}

#: Every scale of a policy; ``risk`` holds the matrices' output levels.
SCALE_NAMES: tuple[str, ...] = ("exploitability", "severity", "privacy", "business", "risk")

#: Levels on every input scale (exploitability and the three impact scales).
SCALE_SIZE = 5

#: How many risk levels a policy may define.
RISK_LEVELS_MIN, RISK_LEVELS_MAX = 2, 7

Path_ = tuple[str | int, ...]
LevelId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
PolicyId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                                            max_length=80)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Acceptability(StrEnum):
    """Whether the risk of a cell may be accepted, ordered acceptable < review < unacceptable."""

    acceptable = "acceptable"
    review = "review"
    unacceptable = "unacceptable"

    @property
    def rank(self) -> int:
        """1 for acceptable, 2 for review, 3 for unacceptable."""
        return _ACCEPTABILITY_RANK[self]


_ACCEPTABILITY_RANK = {a: i for i, a in enumerate(Acceptability, start=1)}


class Control(StrEnum):
    """FDA postmarket notion: is the residual risk of patient harm controlled (acceptable)?"""

    controlled = "controlled"
    uncontrolled = "uncontrolled"

    @property
    def rank(self) -> int:
        """1 for controlled, 2 for uncontrolled."""
        return 1 if self is Control.controlled else 2


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Level(_Strict):
    """One level of a scale: id, rank (1 = lowest) and what it means."""

    id: LevelId
    rank: int
    name: Text
    description: Text


class RiskLevel(Level):
    """A level of the risk scale, with the colour reports paint its cells in."""

    colour: str

    @field_validator("colour")
    @classmethod
    def _colour(cls, value: str) -> str:
        text = value.strip()
        if len(text) != 7 or text[0] != "#" or any(c not in _HEX for c in text[1:]):
            raise ValueError(f"colour should be a hex colour such as '#c62828', got {value!r}")
        return text.lower()


_HEX = frozenset("0123456789abcdefABCDEF")


class Scale(_Strict):
    """An ordered scale of five levels."""

    name: Text
    description: Text
    levels: list[Level]


class RiskScale(Scale):
    """The scale of risk levels the matrices produce (2 to 7 levels)."""

    levels: list[RiskLevel]  # type: ignore[assignment]


class Scales(_Strict):
    """The scales of a policy: exploitability, the three impact scales and risk."""

    exploitability: Scale
    severity: Scale
    privacy: Scale
    business: Scale
    risk: RiskScale


Grid = dict[str, list[str]]


class Matrix(_Strict):
    """A 5x5 matrix: one row per exploitability level, one column per impact level.

    ``columns`` repeats the impact level ids in rank order so the file reads as a table; each
    grid maps an exploitability level id to its row of five cells.
    """

    description: str = ""
    columns: list[str]
    risk: Grid
    acceptability: dict[str, list[Acceptability]]


class SafetyMatrix(Matrix):
    """The patient-harm matrix, which also states the FDA controlled/uncontrolled split."""

    control: dict[str, list[Control]]


class Matrices(_Strict):
    """One matrix per impact dimension, all of the same exploitability x impact shape."""

    safety: SafetyMatrix
    privacy: Matrix
    business: Matrix


class RiskCell(_Strict):
    """What the policy says about one cell: risk level, acceptability, FDA control status."""

    dimension: str
    impact_scale: str
    exploitability: Level
    severity: Level
    level: RiskLevel
    acceptability: Acceptability
    controlled: bool | None
    policy_id: str
    policy_version: str
    line: int | None = None

    @property
    def rank(self) -> int:
        """Rank of the risk level (higher is worse)."""
        return self.level.rank

    def explain(self) -> str:
        """One sentence saying which matrix cell of which policy gave this rating."""
        control = ""
        if self.controlled is not None:
            control = ", controlled" if self.controlled else ", uncontrolled"
        return (
            f"risk {self.level.id} (rank {self.level.rank}): {self.acceptability.value}{control}"
            f" — {self.dimension} matrix of policy {self.policy_id} {self.policy_version}, cell"
            f" exploitability {self.exploitability.id} (rank {self.exploitability.rank}) x"
            f" {self.impact_scale} {self.severity.id} (rank {self.severity.rank})"
        )


LevelRef = str | int | Level


class RiskPolicy(_Strict):
    """A validated risk policy. Load one with :meth:`RiskPolicy.load`."""

    schema_version: Literal[1] = 1
    id: PolicyId
    title: Text
    version: Text
    owner: Text
    rationale: str
    scales: Scales
    matrices: Matrices

    _file: str = PrivateAttr(default="<policy>")
    _levels: dict[str, dict[str, Level]] = PrivateAttr(default_factory=dict)
    _by_rank: dict[str, dict[int, Level]] = PrivateAttr(default_factory=dict)
    _cells: dict[tuple[str, str, str], RiskCell] = PrivateAttr(default_factory=dict)
    # (scale, level id or rank) -> level, and (dimension, exploitability, impact) -> cell for
    # every id and rank: the assessment looks levels up several times per finding.
    _lookup: dict[tuple[str, str | int], Level] = PrivateAttr(default_factory=dict)
    _cell_lookup: dict[tuple[str, str | int, str | int], RiskCell] = PrivateAttr(
        default_factory=dict)

    @field_validator("version", mode="before")
    @classmethod
    def _version_is_text(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(f"version must be text: write it in quotes, e.g. version: "
                             f"\"{value}\" (unquoted, YAML reads 1.10 as the number 1.1)")
        return value

    @field_validator("rationale")
    @classmethod
    def _rationale(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("rationale is empty; say why these scales, levels and cells were "
                             "chosen (the text goes into the regulatory report)")
        return value

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> RiskPolicy:
        # from_data passes the source map so that problems name file and line.
        src = (info.context or {}).get("source")
        if not isinstance(src, SourceMap):
            src = SourceMap("<policy>")
        problems = _check(self)
        if problems:
            raise PolicyError(src.problem(path, message) for path, message in problems)
        self._file = src.file
        self._index(src)
        return self

    # -- loading -----------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> RiskPolicy:
        """Load and validate a policy file; ``None`` loads the shipped default policy.

        Raises :class:`PolicyError` naming file, line and path of every problem found.
        """
        if path is None:
            return _shipped_default()
        return cls._read(path)

    @classmethod
    def _read(cls, path: str | os.PathLike[str]) -> RiskPolicy:
        try:
            data, src = read_file(path)
        except MedthreatError as exc:
            raise PolicyError(exc.problems) from None
        return cls.from_data(data, src)

    @classmethod
    def from_data(cls, data: Any, src: SourceMap | None = None) -> RiskPolicy:
        """Validate already-parsed policy data; ``src`` locates problems in its file."""
        src = src or SourceMap("<policy>")
        if not isinstance(data, dict):
            found = "an empty file" if data is None else f"a {type(data).__name__}"
            raise PolicyError([src.problem((), "expected a mapping with the keys "
                                           f"{', '.join(_TOP_KEYS)}; found {found}")])
        try:
            return cls.model_validate(data, context={"source": src})
        except ValidationError as exc:
            from ..model._io import validation_problems

            raise PolicyError(validation_problems(exc, src, (), cls)) from None

    def _index(self, src: SourceMap) -> None:
        levels: dict[str, dict[str, Level]] = {}
        by_rank: dict[str, dict[int, Level]] = {}
        for name in SCALE_NAMES:
            scale: Scale = getattr(self.scales, name)
            ordered = sorted(scale.levels, key=lambda lv: lv.rank)
            levels[name] = {lv.id: lv for lv in ordered}
            by_rank[name] = {lv.rank: lv for lv in ordered}
        self._levels, self._by_rank = levels, by_rank
        cells: dict[tuple[str, str, str], RiskCell] = {}
        for dimension, impact in DIMENSIONS.items():
            matrix: Matrix = getattr(self.matrices, dimension)
            control = getattr(matrix, "control", None)
            for e_id, row in matrix.risk.items():
                for i, r_id in enumerate(row):
                    s_id = matrix.columns[i]
                    controlled = None
                    if control is not None:
                        controlled = control[e_id][i] is Control.controlled
                    cells[(dimension, e_id, s_id)] = RiskCell(
                        dimension=dimension,
                        impact_scale=impact,
                        exploitability=levels["exploitability"][e_id],
                        severity=levels[impact][s_id],
                        level=levels["risk"][r_id],  # type: ignore[arg-type]
                        acceptability=matrix.acceptability[e_id][i],
                        controlled=controlled,
                        policy_id=self.id,
                        policy_version=self.version,
                        line=src.line(("matrices", dimension, "risk", e_id, i)),
                    )
        self._cells = cells
        self._lookup = {(name, key): lv for name, by_id in levels.items()
                        for lv in by_id.values() for key in (lv.id, lv.rank)}
        self._cell_lookup = {}
        for (dimension, e_id, s_id), cell in cells.items():
            e = levels["exploitability"][e_id]
            i = levels[DIMENSIONS[dimension]][s_id]
            for e_key in (e.id, e.rank):
                for i_key in (i.id, i.rank):
                    self._cell_lookup[(dimension, e_key, i_key)] = cell

    # -- lookups -----------------------------------------------------------------------------

    @property
    def file(self) -> str:
        """The file the policy was loaded from (``<policy>`` when built from data)."""
        return self._file

    def scale(self, name: str) -> Scale:
        """The scale called ``name``: one of :data:`SCALE_NAMES`."""
        if name not in SCALE_NAMES:
            raise PolicyError(f"unknown scale {name!r}; expected one of "
                              f"{', '.join(SCALE_NAMES)}{_hint(name, SCALE_NAMES)}")
        scale: Scale = getattr(self.scales, name)
        return scale

    def levels(self, scale_name: str) -> list[Level]:
        """The levels of a scale, lowest rank first."""
        self.scale(scale_name)
        return list(self._levels[scale_name].values())

    def level(self, scale_name: str, id_or_rank: LevelRef) -> Level:
        """The level of ``scale_name`` with this id or rank (a :class:`Level` is checked too).

        Raises :class:`PolicyError` for an unknown id or a rank outside the scale.
        """
        if type(id_or_rank) is str or type(id_or_rank) is int:  # not bool, not Level
            found = self.__pydantic_private__["_lookup"].get((scale_name, id_or_rank))
            if found is not None:
                return found
        self.scale(scale_name)
        levels = self._levels[scale_name]
        if isinstance(id_or_rank, Level):
            id_or_rank = id_or_rank.id
        if isinstance(id_or_rank, bool) or not isinstance(id_or_rank, int | str):
            raise PolicyError(f"a {scale_name} level is a level id or a rank (int), "
                              f"got {id_or_rank!r}")
        if isinstance(id_or_rank, int):
            found = self._by_rank[scale_name].get(id_or_rank)
            if found is None:
                raise PolicyError(f"{scale_name} rank {id_or_rank} is out of range; the scale "
                                  f"has ranks 1 to {len(levels)}")
            return found
        found = levels.get(id_or_rank)
        if found is None:
            raise PolicyError(f"unknown {scale_name} level {id_or_rank!r}; expected one of "
                              f"{', '.join(levels)}{_hint(id_or_rank, levels)}")
        return found

    def rank_of(self, scale_name: str, id_or_rank: LevelRef) -> int:
        """Rank of a level (1 = lowest), for comparing levels of the same scale."""
        return self.level(scale_name, id_or_rank).rank

    def risk_level(self, id_or_rank: str | int) -> RiskLevel:
        """A level of the risk scale, with its colour."""
        found = self.level("risk", id_or_rank)
        assert isinstance(found, RiskLevel)
        return found

    def impact_scale(self, dimension: str) -> Scale:
        """The scale measuring impact in ``dimension`` (``safety`` -> ``severity``)."""
        return self.scale(self._impact_name(dimension))

    def risk(
        self, exploitability: LevelRef, severity: LevelRef, dimension: str = "safety"
    ) -> RiskCell:
        """Look up the matrix cell of ``dimension`` for an exploitability and an impact level.

        ``severity`` is a level of the dimension's impact scale: patient-harm severity for
        ``safety``, the privacy or business impact scale otherwise. Levels are ids or ranks.
        """
        if (type(exploitability) is str or type(exploitability) is int) and \
                (type(severity) is str or type(severity) is int):
            cell = self.__pydantic_private__["_cell_lookup"].get(
                (dimension, exploitability, severity))
            if cell is not None:
                return cell
        impact = self._impact_name(dimension)
        e = self.level("exploitability", exploitability)
        s = self.level(impact, severity)
        return self._cells[(dimension, e.id, s.id)]

    def cells(self, dimension: str = "safety") -> list[RiskCell]:
        """All 25 cells of a dimension's matrix, by exploitability then impact rank."""
        impact = self._impact_name(dimension)
        return [self._cells[(dimension, e.id, s.id)]
                for e in self._levels["exploitability"].values()
                for s in self._levels[impact].values()]

    def _impact_name(self, dimension: str) -> str:
        impact = DIMENSIONS.get(dimension)
        if impact is None:
            raise PolicyError(f"unknown risk dimension {dimension!r}; expected one of "
                              f"{', '.join(DIMENSIONS)}{_hint(dimension, DIMENSIONS)}")
        return impact

    # -- rendering ---------------------------------------------------------------------------

    def to_markdown(self, heading: int = 1) -> str:
        """The policy as Markdown: metadata, rationale, scales and each matrix as a table.

        ``heading`` is the level of the title heading (2 nests the text under a report's
        section). The output depends on the policy only, so it can be diffed and archived.
        """
        from ..export._text import markdown_cell as cell

        h = "#" * max(1, min(heading, 4))
        lines = [
            f"{h} {cell(self.title)}", "",
            "| | |", "|---|---|",
            f"| Policy id | `{self.id}` |",
            f"| Version | {cell(self.version)} |",
            f"| Owner | {cell(self.owner)} |", "",
            f"{h}# Rationale", "",
            self.rationale.strip(), "",
            f"{h}# Scales", "",
        ]
        for name in SCALE_NAMES:
            scale = self.scale(name)
            risk = name == "risk"
            lines += [f"{h}## {cell(scale.name)} (`{name}`)", "", " ".join(
                scale.description.split()), ""]
            lines += ["| Rank | Id | Name |" + (" Colour |" if risk else "") + " Meaning |",
                      "|---:|---|---|" + ("---|" if risk else "") + "---|"]
            for lv in self.levels(name):
                colour = f" `{lv.colour}` |" if isinstance(lv, RiskLevel) else ""
                lines.append(f"| {lv.rank} | `{lv.id}` | {cell(lv.name)} |{colour} "
                             f"{cell(' '.join(lv.description.split()))} |")
            lines.append("")
        lines += [f"{h}# Matrices", "",
                  "Each cell reads: risk level · acceptability" + " · FDA control status "
                  "(patient safety only). Rows run from the highest exploitability down.", ""]
        exploit = self.levels("exploitability")
        for dimension, impact in DIMENSIONS.items():
            matrix: Matrix = getattr(self.matrices, dimension)
            impact_scale = self.scale(impact)
            columns = self.levels(impact)
            lines += [f"{h}## {dimension.capitalize()}: exploitability x "
                      f"{cell(impact_scale.name.lower())}", ""]
            if matrix.description.strip():
                lines += [" ".join(matrix.description.split()), ""]
            lines.append("| Exploitability ↓ · " + cell(impact_scale.name) + " → | " + " | ".join(
                f"{cell(s.name)} ({s.rank})" for s in columns) + " |")
            lines.append("|---|" + "---|" * len(columns))
            for e in reversed(exploit):
                row = []
                for s in columns:
                    c = self._cells[(dimension, e.id, s.id)]
                    text = f"{cell(c.level.name)} · {c.acceptability.value}"
                    if c.controlled is not None:
                        text += " · " + ("controlled" if c.controlled else "uncontrolled")
                    row.append(text)
                lines.append(f"| {cell(e.name)} ({e.rank}) | " + " | ".join(row) + " |")
            lines.append("")
        return "\n".join(lines).rstrip("\n") + "\n"


_TOP_KEYS = tuple(f.alias or n for n, f in RiskPolicy.model_fields.items())


def default_policy_path() -> Path:
    """Where the shipped default policy lives (next to the shipped catalog)."""
    from ..catalog import POLICY_FOLDER, shipped_catalog_dir

    return shipped_catalog_dir() / POLICY_FOLDER / "default.yaml"


@functools.cache
def _shipped_default() -> RiskPolicy:
    # Policies are immutable, so every caller can share one parsed default.
    return RiskPolicy._read(default_policy_path())


def _hint(value: str, candidates: Iterable[str]) -> str:
    from ..model._check import did_you_mean

    return did_you_mean(value, candidates)


# -- consistency checks ------------------------------------------------------------------------


def _check(policy: RiskPolicy) -> list[tuple[Path_, str]]:
    """Every inconsistency pydantic's shape checks cannot see, with the path it sits at.

    Scales are checked first; matrices only when their scales are sound, and monotonicity only
    when every grid has the right shape, so each problem reported is a real one.
    """
    problems: list[tuple[Path_, str]] = []
    for name in SCALE_NAMES:
        problems += _check_scale(name, getattr(policy.scales, name))
    if problems:
        return problems
    ids = {name: [lv.id for lv in sorted(getattr(policy.scales, name).levels,
                                         key=lambda lv: lv.rank)] for name in SCALE_NAMES}
    for dimension, impact in DIMENSIONS.items():
        matrix: Matrix = getattr(policy.matrices, dimension)
        shape = _check_shape(dimension, impact, matrix, ids)
        problems += shape
        if not shape:
            problems += _check_order(dimension, impact, matrix, ids)
    return problems


def _check_scale(name: str, scale: Scale) -> list[tuple[Path_, str]]:
    base: Path_ = ("scales", name, "levels")
    out: list[tuple[Path_, str]] = []
    count = len(scale.levels)
    if name == "risk":
        if not RISK_LEVELS_MIN <= count <= RISK_LEVELS_MAX:
            out.append((base, f"the risk scale has {count} level(s); expected "
                              f"{RISK_LEVELS_MIN} to {RISK_LEVELS_MAX}"))
    elif count != SCALE_SIZE:
        out.append((base, f"the {name} scale has {count} level(s); expected exactly "
                          f"{SCALE_SIZE}, ranked 1 to {SCALE_SIZE}"))
    top = max(count, 1) if name == "risk" else SCALE_SIZE
    first_id: dict[str, int] = {}
    first_rank: dict[int, int] = {}
    for i, lv in enumerate(scale.levels):
        if lv.id in first_id:
            out.append(((*base, i, "id"), f"duplicate {name} level id {lv.id!r} (first at "
                                          f"levels[{first_id[lv.id]}])"))
        else:
            first_id[lv.id] = i
        if not 1 <= lv.rank <= top:
            out.append(((*base, i, "rank"), f"rank {lv.rank} is out of range; the levels of "
                                            f"the {name} scale take the ranks 1 to {top}, "
                                            "each once"))
        elif lv.rank in first_rank:
            out.append(((*base, i, "rank"), f"duplicate rank {lv.rank} in the {name} scale "
                                            f"(first at levels[{first_rank[lv.rank]}]); each "
                                            "rank is used once"))
        else:
            first_rank[lv.rank] = i
    return out


def _grids(dimension: str, matrix: Matrix, ids: dict[str, list[str]]
           ) -> list[tuple[str, dict[str, list[Any]], list[str]]]:
    """(name, grid, allowed values in rank order) for each grid of a matrix."""
    grids: list[tuple[str, dict[str, list[Any]], list[str]]] = [
        ("risk", matrix.risk, ids["risk"]),
        ("acceptability", matrix.acceptability, [a.value for a in Acceptability]),
    ]
    if isinstance(matrix, SafetyMatrix):
        grids.append(("control", matrix.control, [c.value for c in Control]))
    return grids


def _check_shape(dimension: str, impact: str, matrix: Matrix,
                 ids: dict[str, list[str]]) -> list[tuple[Path_, str]]:
    base: Path_ = ("matrices", dimension)
    out: list[tuple[Path_, str]] = []
    columns = ids[impact]
    rows = ids["exploitability"]
    if list(matrix.columns) != columns:
        out.append(((*base, "columns"), f"columns must list the {impact} levels in rank order: "
                                        f"[{', '.join(columns)}]; found "
                                        f"[{', '.join(map(str, matrix.columns))}]"))
    for name, grid, allowed in _grids(dimension, matrix, ids):
        missing = [r for r in rows if r not in grid]
        if missing:
            out.append(((*base, name), f"{dimension} {name} grid has no row for exploitability "
                                       f"level(s) {', '.join(missing)}; it needs one row per "
                                       f"exploitability level ({', '.join(rows)})"))
        for key, row in grid.items():
            if key not in rows:
                out.append(((*base, name, key), f"unknown exploitability level {key!r}; rows "
                                                f"are keyed by {', '.join(rows)}"
                                                f"{_hint(key, rows)}"))
                continue
            if len(row) != len(columns):
                out.append(((*base, name, key), f"row {key!r} has {len(row)} cell(s); expected "
                                                f"{len(columns)}, one per {impact} level "
                                                f"({', '.join(columns)})"))
            if name == "risk":
                for i, value in enumerate(row):
                    if value not in allowed:
                        out.append(((*base, name, key, i), f"unknown risk level {value!r}; "
                                    f"expected one of {', '.join(allowed)}"
                                    f"{_hint(str(value), allowed)}"))
    return out


def _check_order(dimension: str, impact: str, matrix: Matrix,
                 ids: dict[str, list[str]]) -> list[tuple[Path_, str]]:
    """Monotonicity: no cell may rate lower than the cell one exploitability level below it or
    one impact level left of it; by induction, than any cell to its lower left.

    In the safety matrix, acceptability and control must also agree in the FDA sense: an
    unacceptable cell is uncontrolled, an acceptable one controlled.
    """
    base: Path_ = ("matrices", dimension)
    out: list[tuple[Path_, str]] = []
    rows, columns = ids["exploitability"], ids[impact]
    for name, grid, allowed in _grids(dimension, matrix, ids):
        rank: Callable[[Any], int] = allowed.index
        for r, e_id in enumerate(rows):
            for c, s_id in enumerate(columns):
                value = grid[e_id][c]
                neighbours = []
                if r > 0:
                    neighbours.append((rows[r - 1], c, "one exploitability level lower"))
                if c > 0:
                    neighbours.append((e_id, c - 1, f"one {impact} level lower"))
                for n_row, n_col, where in neighbours:
                    other = grid[n_row][n_col]
                    if rank(value) < rank(other):
                        out.append(((*base, name, e_id, c),
                                    f"{dimension} matrix is not monotonic: {name} at "
                                    f"(exploitability {e_id}, {impact} {s_id}) is "
                                    f"{_text(value)!r}, lower than {_text(other)!r} at "
                                    f"(exploitability {n_row}, {impact} {columns[n_col]}), "
                                    f"{where}; {name} must not decrease as exploitability or "
                                    f"{impact} rises"))
                        break
    if isinstance(matrix, SafetyMatrix):
        for e_id in rows:
            for c, s_id in enumerate(columns):
                accept, control = matrix.acceptability[e_id][c], matrix.control[e_id][c]
                wrong = ((accept is Acceptability.unacceptable and control is Control.controlled)
                         or (accept is Acceptability.acceptable
                             and control is Control.uncontrolled))
                if wrong:
                    out.append(((*base, "control", e_id, c),
                                f"cell (exploitability {e_id}, {impact} {s_id}) is "
                                f"{accept.value} but {control.value}; in the FDA postmarket "
                                "sense an unacceptable residual risk of patient harm is "
                                "uncontrolled and an acceptable one is controlled"))
    return out


def _text(value: Any) -> str:
    return value.value if isinstance(value, StrEnum) else str(value)
