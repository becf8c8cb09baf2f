"""Risk decisions (risk tracking): what a risk manager decided about each finding.

A decisions file maps finding ids (``THREAT-ID@ELEMENT-ID``) to a :class:`Decision`: a status,
a justification, an owner, a date, a ticket and links into safety risk management (hazards),
requirements and verification. Two wildcards let one decision cover many findings:
``THREAT-ID@*`` (that threat on every element) and ``*@ELEMENT-ID`` (every threat on that
element). The decision for a finding is the first of: its exact id, ``THREAT-ID@*``,
``*@ELEMENT-ID``.

The file is edited by people (and round-tripped through a spreadsheet later), so nothing typed
may be lost: loading rejects duplicate keys instead of silently keeping the last one, saving is
atomic and deterministic, and :func:`merge` never drops an entry and reports every field it
changes.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
)

from .._yaml import SourceMap, atomic_write, dump_json, read_file
from ..errors import DecisionsError, MedthreatError, Problem, describe_value, format_path
from ..model._io import validation_problems
from ..model._types import ID_PATTERN

__all__ = [
    "Change",
    "Decision",
    "DecisionIssue",
    "DecisionStatus",
    "Decisions",
    "DecisionsError",
    "IssueCode",
    "MatchKind",
    "ResolvedDecision",
    "check",
    "check_key",
    "decisions_from_data",
    "decisions_to_data",
    "load_decisions",
    "merge",
    "save_decisions",
]

WILDCARD = "*"
# The same pattern as catalog threat ids (``medthreat.catalog._entries.ThreatId``); a test keeps
# the two in step.
THREAT_ID_PATTERN = r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$"
_THREAT_ID = re.compile(THREAT_ID_PATTERN)
_ELEMENT_ID = re.compile(ID_PATTERN)
_ELEMENT_ID_MAX = 200
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_LINK_ID = re.compile(r"^\S(?:.*\S)?$")


class DecisionStatus(StrEnum):
    """Where the treatment of a finding stands (see docs/decisions.md for what each means)."""

    open = "open"
    in_progress = "in_progress"
    mitigated = "mitigated"
    accepted = "accepted"
    transferred = "transferred"
    avoided = "avoided"
    false_positive = "false_positive"

    @property
    def needs_justification(self) -> bool:
        """True for the statuses that close a finding on someone's word rather than a control."""
        return self in _JUSTIFIED

    @property
    def closes(self) -> bool:
        """True when the finding is no longer being worked on (every status but open and
        in_progress)."""
        return self not in {DecisionStatus.open, DecisionStatus.in_progress}


_JUSTIFIED = frozenset(
    {
        DecisionStatus.accepted,
        DecisionStatus.transferred,
        DecisionStatus.avoided,
        DecisionStatus.false_positive,
    }
)


# -- keys -----------------------------------------------------------------------------------


class MatchKind(StrEnum):
    """Which kind of key gave a finding its decision, in order of precedence."""

    exact = "exact"
    threat_wildcard = "threat_wildcard"  # THREAT-ID@*
    element_wildcard = "element_wildcard"  # *@ELEMENT-ID


def check_key(key: str) -> str:
    """Validate a decision key: ``THREAT-ID@ELEMENT-ID``, ``THREAT-ID@*`` or ``*@ELEMENT-ID``."""
    shape = ("a decision key is a finding id THREAT-ID@ELEMENT-ID (e.g. MT-DEV-001@monitor), "
             "THREAT-ID@* (that threat on every element) or *@ELEMENT-ID (every threat on "
             "that element)")
    if key.count("@") != 1:
        raise ValueError(f"{key!r} is not a decision key: {shape}")
    threat, _, element = key.partition("@")
    if threat == WILDCARD and element == WILDCARD:
        raise ValueError(f"{key!r} is too broad: it would decide every finding at once; name a "
                         "threat (THREAT-ID@*) or an element (*@ELEMENT-ID)")
    if threat != WILDCARD and not _THREAT_ID.match(threat):
        raise ValueError(f"{threat!r} (before '@') is not a threat id; threat ids look "
                         "like MT-DEV-001 (capitals and digits in dash-separated parts), or use "
                         "* for every threat")
    if element != WILDCARD and (
        not _ELEMENT_ID.match(element) or len(element) > _ELEMENT_ID_MAX
    ):
        raise ValueError(f"{element!r} (after '@') is not an element id; element ids "
                         "start with a letter or digit followed by letters, digits, '_', '.' "
                         "or '-' (as in the model), or use * for every element")
    return key


def _key_kind(key: str) -> MatchKind:
    if key.endswith("@" + WILDCARD):
        return MatchKind.threat_wildcard
    if key.startswith(WILDCARD + "@"):
        return MatchKind.element_wildcard
    return MatchKind.exact


def _candidate_keys(finding_id: str) -> Iterator[tuple[str, MatchKind]]:
    """The keys that could decide ``finding_id``, most specific first."""
    yield finding_id, MatchKind.exact
    threat, at, element = finding_id.partition("@")
    if at and threat and element:
        yield f"{threat}@{WILDCARD}", MatchKind.threat_wildcard
        yield f"{WILDCARD}@{element}", MatchKind.element_wildcard


# -- one decision ---------------------------------------------------------------------------


def _iso_date(value: Any) -> Any:
    # A bare date is what YAML gives for 2026-11-30; a quoted one arrives as text. Anything else
    # (numbers, which pydantic would read as Unix time; datetimes) is a mistake worth naming.
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a calendar date; expected an ISO date "
                             "YYYY-MM-DD, e.g. 2026-11-30") from None
    raise ValueError(f"expected an ISO date YYYY-MM-DD, e.g. 2026-11-30 (got {value!r})")


def _link_id(value: str) -> str:
    if not _LINK_ID.match(value):
        raise ValueError(f"{value!r} is not an id: ids are one line of text without leading "
                         "or trailing spaces, e.g. HAZ-7")
    return value


LinkId = Annotated[str, AfterValidator(_link_id)]
IsoDate = Annotated[dt.date | None, BeforeValidator(_iso_date)]


class Decision(BaseModel):
    """A risk manager's decision about one finding (or, through a wildcard key, several).

    Fields left out of a file are not "set" (see :attr:`model_fields_set`); :func:`merge`
    applies only the fields an incoming decision sets, so a partial update keeps the rest.
    """

    # Numbers are read as text: a ticket 4711 or a hazard id 7 is an id, not a quantity.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    status: DecisionStatus
    justification: str = Field("", description="Why the status is right; required for "
                               "accepted, transferred, avoided and false_positive.")
    owner: str = Field("", description="Who is accountable for the decision.")
    date: IsoDate = Field(None, description="When the decision was taken (ISO date).")
    ticket: str = Field("", description="Issue-tracker reference, e.g. SEC-123.")
    hazard_ids: list[LinkId] = Field(default_factory=list,
                                     description="Hazards in the ISO 14971 risk file.")
    requirement_ids: list[LinkId] = Field(default_factory=list,
                                          description="Security requirements addressing it.")
    verification_ids: list[LinkId] = Field(default_factory=list,
                                           description="Tests or reviews verifying it.")
    hazardous_situation_ids: list[LinkId] = Field(
        default_factory=list, description="Hazardous situations in the ISO 14971 risk file.")
    harm_ids: list[LinkId] = Field(default_factory=list,
                                   description="Harms in the ISO 14971 risk file.")
    cvss: str = Field("", description="CVSS 3.1 or 4.0 vector scoring this finding's "
                      "exploitability, e.g. CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:H.")

    @field_validator("cvss")
    @classmethod
    def _cvss_vector(cls, value: str) -> str:
        if value:
            from ..risk.cvss import parse_cvss

            parse_cvss(value)
        return value

    @property
    def justified(self) -> bool:
        """True when the justification says something (is not blank)."""
        return bool(self.justification.strip())

    def to_data(self) -> dict[str, Any]:
        """Plain data in field order, leaving out empty fields (status is always kept)."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "status":
                out[name] = value.value
            elif isinstance(value, list):
                if value:
                    out[name] = list(value)
            elif value not in ("", None):
                out[name] = value
        return out


# -- the set of decisions -------------------------------------------------------------------

DecisionKey = Annotated[str, AfterValidator(check_key)]


@dataclass(frozen=True)
class ResolvedDecision:
    """The decision that applies to one finding and the key it came from."""

    finding_id: str
    key: str
    match: MatchKind
    decision: Decision

    @property
    def status(self) -> DecisionStatus:
        return self.decision.status


class Decisions(BaseModel):
    """All decisions of one product, keyed by finding id or wildcard (see :func:`check_key`)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = 1
    decisions: dict[DecisionKey, Decision] = Field(default_factory=dict)

    _source: SourceMap | None = PrivateAttr(default=None)

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value != 1:
            raise ValueError(f"unsupported schema_version {value}; this medthreat reads "
                             "decisions files of version 1")
        return value

    @field_validator("decisions", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        # `decisions:` with every entry commented out is an empty set, not an error.
        return {} if value is None else value

    def __eq__(self, other: object) -> bool:
        # Content equality: where decisions were loaded from is not part of what they say.
        if not isinstance(other, Decisions):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    def __len__(self) -> int:
        return len(self.decisions)

    def __contains__(self, key: object) -> bool:
        return key in self.decisions

    def __getitem__(self, key: str) -> Decision:
        return self.decisions[key]

    def get(self, key: str) -> Decision | None:
        """The decision stored under ``key`` (exact or wildcard), or None."""
        return self.decisions.get(key)

    def resolve_one(self, finding_id: str) -> ResolvedDecision | None:
        """The decision for one finding: exact id, else ``THREAT@*``, else ``*@ELEMENT``."""
        for key, kind in _candidate_keys(finding_id):
            decision = self.decisions.get(key)
            if decision is not None:
                return ResolvedDecision(finding_id, key, kind, decision)
        return None

    def resolve(self, finding_ids: Iterable[str]) -> dict[str, ResolvedDecision]:
        """For each finding id that some key covers, the decision that applies to it.

        Precedence: exact id > ``THREAT-ID@*`` > ``*@ELEMENT-ID``. Findings no key covers are
        left out of the result (they are undecided). Cost: three dictionary look-ups per id.
        """
        resolved: dict[str, ResolvedDecision] = {}
        for finding_id in finding_ids:
            found = self.resolve_one(finding_id)
            if found is not None:
                resolved[finding_id] = found
        return resolved

    def orphans(self, finding_ids: Iterable[str]) -> list[str]:
        """Keys (exact or wildcard) that match none of ``finding_ids``, sorted.

        A wildcard that matches findings is not an orphan even when exact keys override it on
        every one of them: it still states the default for that threat or element.
        """
        ids = set(finding_ids)
        threats = set()
        elements = set()
        for finding_id in ids:
            threat, at, element = finding_id.partition("@")
            if at:
                threats.add(threat)
                elements.add(element)
        orphaned = []
        for key in self.decisions:
            threat, _, element = key.partition("@")
            kind = _key_kind(key)
            if kind is MatchKind.exact:
                matched = key in ids
            elif kind is MatchKind.threat_wildcard:
                matched = threat in threats
            else:
                matched = element in elements
            if not matched:
                orphaned.append(key)
        return sorted(orphaned)

    @property
    def source_file(self) -> str:
        """The file these decisions were loaded from, or ``""``."""
        return self._source.file if self._source is not None else ""

    def where(self, key: str) -> tuple[str, int | None]:
        """File and line of ``key`` when these decisions were loaded from a file."""
        if self._source is None:
            return "", None
        return self._source.file, self._source.line(("decisions", key))


# -- loading --------------------------------------------------------------------------------


def decisions_from_data(data: Any, src: SourceMap | None = None) -> Decisions:
    """Validate already-parsed data (e.g. from a spreadsheet) as a decisions document."""
    src = src or SourceMap("<decisions>")
    if data is None:
        found = Decisions()
        found._source = src
        return found
    if not isinstance(data, dict):
        raise DecisionsError([Problem(src.file, src.line(()), "", "expected a mapping with the "
                                      "keys schema_version and decisions; found "
                                      f"{describe_value(data)}")])
    # Entries are validated one by one, each against Decision, so that an error names the key
    # and lists the fields a decision may have.
    entries = data.get("decisions")
    problems: list[Problem] = []
    valid: dict[str, Decision] = {}
    if isinstance(entries, dict):
        head = {k: v for k, v in data.items() if k != "decisions"}
        for key, value in entries.items():
            path = ("decisions", str(key))
            if not isinstance(key, str):
                # YAML reads `123:` or `true:` as a number or a boolean.
                problems.append(src.problem(path, f"decision key {key!r} is {describe_value(key)}, "
                                            "not text; a key is a finding id such as "
                                            "MT-DEV-001@monitor"))
            else:
                try:
                    check_key(key)
                except ValueError as exc:
                    problems.append(src.problem(path, str(exc)))
            if not isinstance(value, dict):
                found = describe_value(value)
                problems.append(src.problem(path, "expected a mapping with at least a status, "
                                            f"e.g. {{status: open}}; found {found}"))
                continue
            try:
                valid[str(key)] = Decision.model_validate(value)
            except ValidationError as exc:
                problems.extend(validation_problems(exc, src, path, Decision))
    else:
        head = {k: v for k, v in data.items() if k != "decisions"}
        if entries is not None:
            problems.append(src.problem(("decisions",), "expected a mapping from finding id "
                                        "(or wildcard) to decision; found "
                                        f"{describe_value(entries)}"))
    try:
        decisions = Decisions.model_validate(head)
    except ValidationError as exc:
        problems.extend(validation_problems(exc, src, (), Decisions))
    if problems:
        raise DecisionsError(_sorted(problems))
    decisions = Decisions.model_construct(schema_version=decisions.schema_version,
                                          decisions=valid)
    decisions._source = src
    return decisions


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.line or 0, p.path, p.message))


def _wildcard_hint(problems: list[Problem], text: str) -> list[Problem]:
    # An unquoted *@monitor is YAML alias syntax; say so instead of leaving only the parser's
    # words.
    lines = text.splitlines()
    out = []
    for p in problems:
        if p.line and 0 < p.line <= len(lines) and "*@" in lines[p.line - 1]:
            p = Problem(p.file, p.line, p.path, p.message + " — keys starting with * must be "
                        'quoted, e.g. "*@monitor":')
        out.append(p)
    return out


def load_decisions(path: str | os.PathLike[str]) -> Decisions:
    """Load a decisions file (YAML, or JSON by suffix). An empty file is an empty set.

    Raises :class:`DecisionsError` naming file, line and key of every problem; a missing file
    is an error too (pass no decisions rather than a path that does not exist).
    """
    name = str(path)
    data: Any = None
    src: SourceMap | None = None
    try:
        data, src = read_file(path)
    except MedthreatError as exc:
        problems = exc.problems
        if problems and problems[0].message.startswith("malformed"):
            problems = _wildcard_hint(problems, _read_text(path))
        if problems and problems[0].message == "file not found":
            problems = [Problem(name, None, "", "decisions file not found; check the path, or "
                                "create the file with `schema_version: 1` and `decisions: {}`")]
        raise DecisionsError(problems) from None
    return decisions_from_data(data, src)


def _read_text(path: str | os.PathLike[str]) -> str:
    try:
        return Path(path).read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return ""


# -- saving ---------------------------------------------------------------------------------


_NO_FOLDING = 1 << 30


class _Dumper(yaml.SafeDumper):
    """Safe dumper that writes multi-line text as literal blocks, as a person would."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # U+0085 (next line) is written raw in every other style, and read back as a line break.
    style = '"' if "\x85" in value else "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def decisions_to_data(decisions: Decisions) -> dict[str, Any]:
    """Plain data: keys sorted, fields in a fixed order, empty fields left out."""
    entries = decisions.decisions
    return {
        "schema_version": decisions.schema_version,
        "decisions": {key: entries[key].to_data() for key in sorted(entries)},
    }


def save_decisions(decisions: Decisions, path: str | os.PathLike[str]) -> None:
    """Write decisions as YAML (JSON when the name ends in ``.json``), atomically.

    The output depends only on the decisions' content, so saving twice gives the same bytes and
    loading what was saved gives equal decisions.
    """
    data = decisions_to_data(decisions)
    if Path(path).suffix.lower() == ".json":
        for entry in data["decisions"].values():
            if "date" in entry:
                entry["date"] = entry["date"].isoformat()
        atomic_write(path, dump_json(data))
        return
    # No folding: one line of text stays one line in the file, so an edited word changes one
    # line of a diff rather than re-flowing a paragraph.
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     width=_NO_FOLDING, default_flow_style=False)
    atomic_write(path, text)


# -- merging --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One field of one decision changed by :func:`merge`; ``old`` is None for a new entry."""

    key: str
    field: str
    old: Any
    new: Any


def _combine(old: Decision, new: Decision) -> Decision:
    values = {name: getattr(old, name) for name in Decision.model_fields}
    for name in new.model_fields_set:
        values[name] = getattr(new, name)
    values = {k: list(v) if isinstance(v, list) else v for k, v in values.items()}
    return Decision.model_construct(_fields_set=old.model_fields_set | new.model_fields_set,
                                    **values)


def merge(base: Decisions, incoming: Decisions) -> tuple[Decisions, list[Change]]:
    """Apply ``incoming`` on top of ``base``; return the result and what changed.

    Every key of ``base`` is kept. For a key in both, each field that the incoming decision
    sets (named in its file, or passed when it was built) replaces the base value, even with an
    empty value, which clears it; fields it does not set keep the base value. Keys only in
    ``incoming`` are added. Changes are listed by key, then field order; unchanged values are
    not listed. Neither input is modified. The operation is associative:
    ``merge(merge(a, b), c) == merge(a, merge(b, c))``.
    """
    merged = dict(base.decisions)
    changes: list[Change] = []
    for key in sorted(incoming.decisions):
        new = incoming.decisions[key]
        old = merged.get(key)
        combined = _combine(old, new) if old is not None else _combine(new, new)
        merged[key] = combined
        for name in Decision.model_fields:
            if name not in new.model_fields_set:
                continue
            before = getattr(old, name) if old is not None else None
            after = getattr(combined, name)
            if old is None or before != after:
                changes.append(Change(key, name, before, after))
    result = Decisions(schema_version=base.schema_version, decisions=merged)
    return result, changes


# -- policy check ---------------------------------------------------------------------------


class IssueCode(StrEnum):
    """Kinds of policy problem :func:`check` reports (all of them errors)."""

    missing_justification = "missing_justification"
    unacceptable_unjustified = "unacceptable_unjustified"
    unacceptable_undecided = "unacceptable_undecided"
    orphan = "orphan"


@dataclass(frozen=True, order=True)
class DecisionIssue(Problem):
    """A policy problem: a :class:`~medthreat.errors.Problem` with a code, key and finding."""

    code: IssueCode = IssueCode.missing_justification
    key: str = ""
    finding_id: str = ""


def check(
    decisions: Decisions,
    finding_ids: Iterable[str] | None = None,
    *,
    unacceptable: Iterable[str] = frozenset(),
) -> list[DecisionIssue]:
    """Policy problems of ``decisions``; every one is an error (see docs/decisions.md).

    - ``missing_justification``: a decision (exact or wildcard) with status accepted,
      transferred, avoided or false_positive and a blank justification.
    - ``unacceptable_unjustified``: a finding in ``unacceptable`` whose decision closes it
      (any status but open or in_progress, mitigated included: the computed residual risk is
      still unacceptable, so the decision must say why that is wrong or tolerable) without a
      justification. This names the finding even when a wildcard key gave the decision.
    - ``unacceptable_undecided``: a finding in ``unacceptable`` with no decision, or one that
      is still open or in_progress.
    - ``orphan`` (only when ``finding_ids`` is given): a key that matches no finding.

    Issues come in that order, each group sorted by key or finding id.
    """
    issues: list[DecisionIssue] = []

    def issue(code: IssueCode, key: str, finding_id: str, message: str) -> DecisionIssue:
        file, line = decisions.where(key) if key else (decisions.source_file, None)
        path = format_path(("decisions", key)) if key else finding_id
        return DecisionIssue(file, line, path, message, code, key, finding_id)

    for key in sorted(decisions.decisions):
        decision = decisions.decisions[key]
        if decision.status.needs_justification and not decision.justified:
            issues.append(issue(IssueCode.missing_justification, key, "",
                                f"status {decision.status.value!r} needs a justification "
                                "(why the risk may stay, moved elsewhere, was designed out or "
                                "does not apply); it is blank"))
    for finding_id in sorted(set(unacceptable)):
        resolved = decisions.resolve_one(finding_id)
        if resolved is None or not resolved.status.closes:
            state = ("has no decision" if resolved is None else
                     f"is still {resolved.status.value!r} by {resolved.key!r}")
            issues.append(issue(IssueCode.unacceptable_undecided,
                                resolved.key if resolved else "", finding_id,
                                f"unacceptable residual risk {finding_id} {state}; reduce it "
                                "with controls, or record a decision with a justification"))
        elif not resolved.decision.justified:
            via = "" if resolved.match is MatchKind.exact else f" (through {resolved.key!r})"
            issues.append(issue(IssueCode.unacceptable_unjustified, resolved.key, finding_id,
                                f"unacceptable residual risk {finding_id} is "
                                f"{resolved.status.value!r}{via} without a justification; an "
                                "unacceptable risk may only be closed with a written reason"))
    if finding_ids is not None:
        for key in decisions.orphans(finding_ids):
            issues.append(issue(IssueCode.orphan, key, "",
                                "orphaned decision: it matches no finding of the analysis "
                                "(element or threat renamed or removed?); update or delete it"))
    return issues
