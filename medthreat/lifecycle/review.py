"""Review cadence of the threat model: when it was last reviewed and when the next review is due.

A threat model is kept for the whole life of the product and has to be looked at again at least
once a year (IEC 81001-5-1 expects the threat model to be reviewed periodically; a year is the
usual upper bound) and whenever the design changes. The model records the last review in
``system.last_review`` (an ISO date) and, optionally, who did it in ``system.reviewed_by``;
:func:`review_status` turns that into a state a gate or a report can print.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from .._yaml import read_file
from ..errors import MedthreatError, Problem, describe_value
from ..export._text import markdown_cell
from ..model import Model
from .decisions import Decision, Decisions, DecisionStatus

__all__ = [
    "CONTROLLED_TARGET_DAYS",
    "DUE_SOON_DAYS",
    "MAX_AGE_DAYS",
    "REMEDIATED_STATUSES",
    "UNCONTROLLED_TARGET_DAYS",
    "DayStats",
    "LifecycleEvent",
    "OpenItem",
    "ReviewState",
    "ReviewStatus",
    "RiskControl",
    "TplcMetrics",
    "event_from_data",
    "load_events",
    "review_status",
    "tplc_metrics",
]

#: Default longest time between two threat-model reviews, in days (one year).
MAX_AGE_DAYS = 365
#: A review is "due soon" when the due date is at most this many days away.
DUE_SOON_DAYS = 30
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ReviewState(StrEnum):
    """Where the review cadence stands."""

    ok = "ok"
    due_soon = "due_soon"
    overdue = "overdue"
    never_reviewed = "never_reviewed"


@dataclass(frozen=True)
class ReviewStatus:
    """The review cadence of one model on one day."""

    state: ReviewState
    today: dt.date
    max_age_days: int
    last_review: dt.date | None = None
    reviewed_by: str = ""
    age_days: int | None = None
    due: dt.date | None = None
    message: str = ""

    @property
    def warning(self) -> bool:
        """True when the gate should warn: the state is not ok, or the date lies in the future
        (a typing mistake in ``system.last_review``)."""
        return self.state is not ReviewState.ok or (self.age_days is not None
                                                     and self.age_days < 0)

    @property
    def expired(self) -> bool:
        """True when the review is overdue or was never recorded: what ``--strict-review``
        fails on (a review due soon is still valid)."""
        return self.state in (ReviewState.overdue, ReviewState.never_reviewed)

    @property
    def days_left(self) -> int | None:
        """Days until the review is due (negative when overdue), or None if never reviewed."""
        return None if self.due is None else (self.due - self.today).days

    def to_data(self) -> dict[str, object]:
        """Plain data (dates as ISO text) for JSON output."""
        return {
            "state": self.state.value,
            "today": self.today.isoformat(),
            "max_age_days": self.max_age_days,
            "last_review": self.last_review.isoformat() if self.last_review else None,
            "reviewed_by": self.reviewed_by,
            "age_days": self.age_days,
            "due": self.due.isoformat() if self.due else None,
            "message": self.message,
        }


def review_status(model: Model, *, today: dt.date | None = None,
                  max_age_days: int = MAX_AGE_DAYS,
                  due_soon_days: int = DUE_SOON_DAYS) -> ReviewStatus:
    """The review state of ``model`` on ``today`` (default: the local date).

    ``never_reviewed`` when ``system.last_review`` is not set; otherwise the next review is due
    ``max_age_days`` after the last one: ``overdue`` from the day after the due date,
    ``due_soon`` when the due date is at most ``due_soon_days`` away, else ``ok``. A last
    review dated after ``today`` keeps its state but says so in the message (and
    :attr:`ReviewStatus.warning` is true).
    """
    if max_age_days < 1:
        raise ValueError(f"max_age_days must be at least 1 (got {max_age_days})")
    if due_soon_days < 0:
        raise ValueError(f"due_soon_days must not be negative (got {due_soon_days})")
    today = today if today is not None else dt.date.today()
    system = model.system
    last = system.last_review
    by = system.reviewed_by
    if last is None:
        return ReviewStatus(
            ReviewState.never_reviewed, today, max_age_days, reviewed_by=by,
            message=(f"threat model of {system.name!r} has no recorded review: set "
                     "system.last_review (YYYY-MM-DD) after reviewing it; a review is "
                     f"expected at least every {max_age_days} days"))
    age = (today - last).days
    due = last + dt.timedelta(days=max_age_days)
    left = (due - today).days
    who = f" by {by}" if by else ""
    if left < 0:
        state = ReviewState.overdue
        text = (f"threat model review overdue by {-left} day(s): last reviewed "
                f"{last.isoformat()}{who}, {age} days ago; due {due.isoformat()}")
    elif left <= due_soon_days:
        state = ReviewState.due_soon
        text = (f"threat model review due in {left} day(s) on {due.isoformat()} (last "
                f"reviewed {last.isoformat()}{who})")
    else:
        state = ReviewState.ok
        text = (f"threat model reviewed {last.isoformat()}{who}, {age} day(s) ago; next "
                f"review due {due.isoformat()}")
    if age < 0:
        text += (f"; the review date {last.isoformat()} is after today ({today.isoformat()}), "
                 "check system.last_review")
    return ReviewStatus(state, today, max_age_days, last, by, age, due, text)


# -- TPLC metrics ----------------------------------------------------------------------------
#
# How fast vulnerabilities and unacceptable findings are remediated over the total product life
# cycle: the share remediated, the days from identification to a fix and from the fix to field
# deployment, and the items still open past their target.

#: Decision statuses that count as remediated: a control was put in place, or the design change
#: removed the risk.
REMEDIATED_STATUSES = frozenset({DecisionStatus.mitigated, DecisionStatus.avoided})
#: Default days to remediate an uncontrolled risk (see docs/review-and-incident.md).
UNCONTROLLED_TARGET_DAYS = 30
#: Default days to remediate a controlled risk.
CONTROLLED_TARGET_DAYS = 60

_EVENT_FIELDS = ("id", "identified", "fixed", "deployed", "risk")


class RiskControl(StrEnum):
    """Whether the residual risk of an item is controlled (acceptable) or uncontrolled."""

    controlled = "controlled"
    uncontrolled = "uncontrolled"


@dataclass(frozen=True)
class LifecycleEvent:
    """The dates of one finding or vulnerability: identified, fixed, deployed to the field."""

    id: str
    identified: dt.date | None = None
    fixed: dt.date | None = None
    deployed: dt.date | None = None
    risk: RiskControl | None = None

    def __post_init__(self) -> None:
        if not self.id or self.id != self.id.strip():
            raise ValueError(f"event id {self.id!r} must be non-empty text without leading or "
                             "trailing spaces")
        for name in ("identified", "fixed", "deployed"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, dt.date)
                                      or isinstance(value, dt.datetime)):
                raise ValueError(f"{self.id}: {name} must be a date, got {value!r}")
        if self.identified and self.fixed and self.fixed < self.identified:
            raise ValueError(f"{self.id}: fixed {self.fixed} is before identified "
                             f"{self.identified}")
        if self.deployed and not self.fixed:
            raise ValueError(f"{self.id}: deployed {self.deployed} without a fixed date")
        if self.deployed and self.fixed and self.deployed < self.fixed:
            raise ValueError(f"{self.id}: deployed {self.deployed} is before fixed {self.fixed}")


def _event_date(value: object, where: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{where}: expected an ISO date YYYY-MM-DD, e.g. 2026-11-30 (got "
                     f"{value!r})")


def event_from_data(data: Mapping[str, object], where: str = "event") -> LifecycleEvent:
    """One event from a mapping with ``id`` and optional ``identified``, ``fixed``,
    ``deployed`` (ISO dates or dates) and ``risk`` (controlled / uncontrolled)."""
    unknown = sorted(str(k) for k in data if k not in _EVENT_FIELDS)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}; expected "
                         f"{', '.join(_EVENT_FIELDS)}")
    raw_id = data.get("id")
    if not isinstance(raw_id, str | int) or isinstance(raw_id, bool) or str(raw_id) == "":
        raise ValueError(f"{where}: id is required (a finding id such as MT-DEV-001@monitor "
                         "or a vulnerability id such as CVE-2026-12345)")
    risk = data.get("risk") or None
    if risk is not None and (not isinstance(risk, str) or risk not in RiskControl.__members__):
        raise ValueError(f"{where}: risk must be controlled or uncontrolled (got {risk!r})")
    return LifecycleEvent(
        str(raw_id),
        _event_date(data.get("identified"), f"{where}.identified"),
        _event_date(data.get("fixed"), f"{where}.fixed"),
        _event_date(data.get("deployed"), f"{where}.deployed"),
        RiskControl(risk) if risk is not None else None,
    )


def load_events(path: str | os.PathLike[str]) -> list[LifecycleEvent]:
    """Read an events file: YAML/JSON (a list, or a mapping with ``events:``) or CSV with a
    header row ``id,identified,fixed,deployed,risk`` (columns may be left out or empty).

    Raises :class:`~medthreat.errors.MedthreatError` naming the file and entry of every problem.
    """
    name = str(path)
    problems: list[Problem] = []
    events: list[LifecycleEvent] = []
    event_lines: list[int | None] = []
    if Path(path).suffix.lower() == ".csv":
        try:
            raw = Path(path).read_bytes()
            text = raw.decode("utf-8-sig")
        except FileNotFoundError:
            raise MedthreatError([Problem(name, None, "", "events file not found")]) from None
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise MedthreatError([Problem(name, line, "", "not UTF-8 text; expected a CSV "
                                          "file saved as UTF-8")]) from None
        except OSError as exc:
            raise MedthreatError([Problem(name, None, "", f"cannot read: {exc}")]) from None
        reader = csv.DictReader(io.StringIO(text))
        rows = iter(reader)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                break
            except csv.Error as exc:  # e.g. a cell longer than csv.field_size_limit()
                problems.append(Problem(name, reader.line_num + 1, "", f"malformed CSV: "
                                        f"{exc}; expected a header row {','.join(_EVENT_FIELDS)} "
                                        "and one row of cells per event"))
                break
            line = reader.line_num
            if None in row:
                problems.append(Problem(name, line, "", "more cells than header columns"))
                continue
            cells = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            if not any(cells.values()):
                continue
            try:
                events.append(event_from_data({k: v for k, v in cells.items() if v},
                                              f"row {line}"))
                event_lines.append(line)
            except ValueError as exc:
                problems.append(Problem(name, line, "", str(exc)))
    else:
        data, src = read_file(path)
        items = data.get("events") if isinstance(data, dict) else data
        if data is None or items is None:
            items = []
        if not isinstance(items, list):
            where = ("events",) if isinstance(data, dict) else ()
            raise MedthreatError([src.problem(where, "expected a list of events, or a mapping "
                                              "with an `events:` list; found "
                                              f"{describe_value(items)}")])
        for i, item in enumerate(items):
            key = ("events", i) if isinstance(data, dict) else (i,)
            if not isinstance(item, dict):
                problems.append(src.problem(key, "expected a mapping with id and dates"))
                continue
            try:
                events.append(event_from_data(item, f"events[{i}]"))
                event_lines.append(src.line(key))
            except ValueError as exc:
                problems.append(src.problem(key, str(exc)))
    seen: dict[str, int | None] = {}
    for event, line in zip(events, event_lines, strict=True):
        if event.id in seen:
            first = seen[event.id]
            problems.append(Problem(name, line, "", f"event id {event.id!r} appears twice"
                                    + (f" (first at line {first})" if first else "")
                                    + "; expected one entry per finding or vulnerability"))
        seen.setdefault(event.id, line)
    if problems:
        raise MedthreatError(problems)
    return events


@dataclass(frozen=True)
class DayStats:
    """Count, median, mean and maximum of a list of durations in days."""

    count: int
    median: float | None
    mean: float | None
    max: int | None

    @classmethod
    def of(cls, days: Iterable[int]) -> DayStats:
        """Statistics of ``days`` (all None when empty)."""
        values = sorted(days)
        if not values:
            return cls(0, None, None, None)
        return cls(len(values), float(statistics.median(values)),
                   round(statistics.fmean(values), 1), values[-1])

    def text(self) -> str:
        """``median 12 d, mean 14.5 d, max 30 d (n=4)`` or ``no data``."""
        if not self.count:
            return "no data"
        return (f"median {_num(self.median)} d, mean {_num(self.mean)} d, max {self.max} d "
                f"(n={self.count})")


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


@dataclass(frozen=True)
class OpenItem:
    """An item not yet remediated, with how long it has been open."""

    id: str
    risk: RiskControl
    identified: dt.date
    age_days: int
    target_days: int


@dataclass(frozen=True)
class TplcMetrics:
    """Remediation metrics over the items (findings or vulnerabilities) of one product."""

    today: dt.date
    total: int
    remediated: tuple[str, ...]
    closed_without_fix: tuple[str, ...]
    open: tuple[str, ...]
    time_to_fix: DayStats
    time_to_deploy: DayStats
    fixed_not_deployed: tuple[str, ...]
    overdue: tuple[OpenItem, ...]
    late_fixes: tuple[str, ...]
    no_identified_date: tuple[str, ...]
    uncontrolled_target_days: int
    controlled_target_days: int

    @property
    def remediated_share(self) -> float | None:
        """Remediated items / all items (None when there are none)."""
        return len(self.remediated) / self.total if self.total else None

    def to_data(self) -> dict[str, object]:
        """Plain data for JSON output (dates as ISO text, lists sorted)."""
        def stats(s: DayStats) -> dict[str, object]:
            return {"count": s.count, "median": s.median, "mean": s.mean, "max": s.max}

        return {
            "today": self.today.isoformat(),
            "total": self.total,
            "remediated": list(self.remediated),
            "remediated_share": self.remediated_share,
            "closed_without_fix": list(self.closed_without_fix),
            "open": list(self.open),
            "time_to_fix_days": stats(self.time_to_fix),
            "time_to_deploy_days": stats(self.time_to_deploy),
            "fixed_not_deployed": list(self.fixed_not_deployed),
            "overdue": [{"id": o.id, "risk": o.risk.value,
                         "identified": o.identified.isoformat(), "age_days": o.age_days,
                         "target_days": o.target_days} for o in self.overdue],
            "late_fixes": list(self.late_fixes),
            "no_identified_date": list(self.no_identified_date),
            "targets": {"uncontrolled": self.uncontrolled_target_days,
                        "controlled": self.controlled_target_days},
        }

    def markdown(self) -> str:
        """A short Markdown summary (deterministic)."""
        share = self.remediated_share
        lines = [
            "| Metric | Value |",
            "| --- | --- |",
            f"| Items | {self.total} |",
            f"| Remediated | {len(self.remediated)}"
            + (f" ({share:.0%})" if share is not None else "") + " |",
            f"| Closed without a fix (accepted, transferred, false positive) | "
            f"{len(self.closed_without_fix)} |",
            f"| Open | {len(self.open)} |",
            f"| Identification to fix | {self.time_to_fix.text()} |",
            f"| Fix to field deployment | {self.time_to_deploy.text()} |",
            f"| Fixed, not yet deployed | {len(self.fixed_not_deployed)} |",
            f"| Open past target (uncontrolled {self.uncontrolled_target_days} d, controlled "
            f"{self.controlled_target_days} d) | {len(self.overdue)} |",
            f"| Fixed later than target | {len(self.late_fixes)} |",
            "",
        ]
        if self.overdue:
            lines += ["Open past target:", ""]
            lines += [f"- {markdown_cell(o.id)} ({o.risk.value}): identified "
                      f"{o.identified.isoformat()}, open {o.age_days} d (target "
                      f"{o.target_days} d)" for o in self.overdue]
            lines.append("")
        return "\n".join(lines)


def _item_ids(findings: Iterable[object]) -> list[str]:
    ids = []
    for item in findings:
        ident = item if isinstance(item, str) else getattr(item, "id", None)
        if not isinstance(ident, str):
            raise TypeError(f"findings must be ids or objects with an id (got {item!r})")
        ids.append(ident)
    return ids


def tplc_metrics(decisions: Decisions | Mapping[str, Decision] | None, *,
                 findings: Iterable[object] | None = None, today: dt.date | None = None,
                 events: Iterable[LifecycleEvent | Mapping[str, object]] | None = None,
                 uncontrolled: Iterable[object] | None = None,
                 uncontrolled_target_days: int = UNCONTROLLED_TARGET_DAYS,
                 controlled_target_days: int = CONTROLLED_TARGET_DAYS) -> TplcMetrics:
    """Remediation metrics over the total product life cycle.

    The items measured are ``findings`` (finding or vulnerability ids, or objects with an
    ``id`` such as the assessments of ``register.unacceptable()``) when given, else every
    exact decision key and every event id. For each item:

    - its status is the decision that applies to it (wildcards resolved as in
      :meth:`Decisions.resolve_one`); items without a decision are open;
    - it is *remediated* when its decision is mitigated or avoided, or its event has a fixed
      date; *closed without a fix* when accepted, transferred or false_positive; else open;
    - identification, fix and deployment dates come from its event; a remediated item
      without an event fixed date uses its decision's date as the fix date;
    - it is *uncontrolled* when its event says ``risk: uncontrolled`` or its id is in
      ``uncontrolled``; otherwise controlled (an event's ``risk`` wins).

    Open items identified more than their target days before ``today`` are listed in
    ``overdue``; remediated items whose fix took longer than the target in ``late_fixes``.
    """
    if uncontrolled_target_days < 0 or controlled_target_days < 0:
        raise ValueError("target days must not be negative")
    today = today if today is not None else dt.date.today()
    if decisions is None:
        decisions = Decisions()
    elif not isinstance(decisions, Decisions):
        decisions = Decisions(decisions=dict(decisions))
    by_id: dict[str, LifecycleEvent] = {}
    for i, raw in enumerate(events or ()):
        event = raw if isinstance(raw, LifecycleEvent) else event_from_data(raw, f"events[{i}]")
        if event.id in by_id:
            raise ValueError(f"event id {event.id!r} appears twice")
        by_id[event.id] = event
    if findings is not None:
        items = sorted(set(_item_ids(findings)))
    else:
        exact = (k for k in decisions.decisions if "*" not in k)
        items = sorted({*exact, *by_id})
    hot = set(_item_ids(uncontrolled or ()))

    remediated, closed, open_, not_deployed, late, undated = [], [], [], [], [], []
    fix_days: list[int] = []
    deploy_days: list[int] = []
    overdue: list[OpenItem] = []
    for ident in items:
        event = by_id.get(ident, LifecycleEvent(ident))
        resolved = decisions.resolve_one(ident)
        status = resolved.status if resolved is not None else None
        risk = event.risk or (RiskControl.uncontrolled if ident in hot
                              else RiskControl.controlled)
        target = (uncontrolled_target_days if risk is RiskControl.uncontrolled
                  else controlled_target_days)
        fixed = event.fixed
        if fixed is None and status in REMEDIATED_STATUSES and resolved is not None:
            fixed = resolved.decision.date
        if event.identified is None:
            undated.append(ident)
        if event.fixed is not None or status in REMEDIATED_STATUSES:
            remediated.append(ident)
            if event.identified is not None and fixed is not None:
                days = (fixed - event.identified).days
                if days >= 0:
                    fix_days.append(days)
                    if days > target:
                        late.append(ident)
            if event.deployed is not None and fixed is not None:
                deploy_days.append((event.deployed - fixed).days)
            elif event.deployed is None:
                not_deployed.append(ident)
        elif status is not None and status.closes:
            closed.append(ident)
        else:
            open_.append(ident)
            if event.identified is not None:
                age = (today - event.identified).days
                if age > target:
                    overdue.append(OpenItem(ident, risk, event.identified, age, target))
    overdue.sort(key=lambda o: (-o.age_days, o.id))
    return TplcMetrics(
        today, len(items), tuple(remediated), tuple(closed), tuple(open_),
        DayStats.of(fix_days), DayStats.of(deploy_days), tuple(not_deployed), tuple(overdue),
        tuple(late), tuple(undated), uncontrolled_target_days, controlled_target_days)
