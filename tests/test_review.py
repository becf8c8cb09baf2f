"""Review cadence (system.last_review) and TPLC remediation metrics."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import medthreat as mt
from medthreat.errors import MedthreatError
from medthreat.lifecycle import Decisions
from medthreat.lifecycle.review import (
    LifecycleEvent,
    ReviewState,
    RiskControl,
    load_events,
    review_status,
    tplc_metrics,
)
from medthreat.model._io import save_model

D = dt.date


def _model(last: D | None = None, by: str = "") -> mt.Model:
    m = mt.Model("Review test")
    m.system.last_review = last
    m.system.reviewed_by = by
    return m


# -- review cadence --------------------------------------------------------------------------


def test_never_reviewed() -> None:
    status = review_status(_model(), today=D(2026, 11, 30))
    assert status.state is ReviewState.never_reviewed
    assert status.last_review is None and status.due is None and status.age_days is None
    assert status.warning
    assert "system.last_review" in status.message


def test_ok_due_soon_overdue_around_the_due_date() -> None:
    m = _model(D(2026, 1, 10), by="Security board")
    # Due one year (365 days) later: 2027-01-10.
    ok = review_status(m, today=D(2026, 6, 1))
    assert (ok.state, ok.age_days, ok.due) == (ReviewState.ok, 142, D(2027, 1, 10))
    assert not ok.warning and "Security board" in ok.message
    # 31 days before the due date is still ok; 30 days before is due soon.
    assert review_status(m, today=D(2026, 12, 10)).state is ReviewState.ok
    soon = review_status(m, today=D(2026, 12, 11))
    assert soon.state is ReviewState.due_soon and soon.days_left == 30 and soon.warning
    on_due = review_status(m, today=D(2027, 1, 10))
    assert on_due.state is ReviewState.due_soon and on_due.days_left == 0
    late = review_status(m, today=D(2027, 1, 11))
    assert late.state is ReviewState.overdue and late.days_left == -1
    assert "overdue by 1 day" in late.message


def test_custom_cadence_and_future_dates() -> None:
    m = _model(D(2026, 1, 1))
    assert review_status(m, today=D(2026, 7, 1), max_age_days=180).state is ReviewState.overdue
    future = review_status(m, today=D(2025, 12, 1))
    assert future.state is ReviewState.ok and future.warning
    assert "after today" in future.message
    with pytest.raises(ValueError, match="max_age_days"):
        review_status(m, max_age_days=0)


def test_status_to_data_is_plain() -> None:
    data = review_status(_model(D(2026, 1, 10)), today=D(2026, 2, 9)).to_data()
    assert data["last_review"] == "2026-01-10" and data["age_days"] == 30
    assert data["state"] == "ok" and data["due"] == "2027-01-10"


# -- the model field -------------------------------------------------------------------------

MODEL_TEXT = """\
schema_version: 1
system:
  name: Mini pump
  last_review: {date}
  reviewed_by: Security board
"""


def test_last_review_loads_from_yaml_and_round_trips(tmp_path: Path) -> None:
    catalog = mt.Catalog.load()
    path = tmp_path / "m.yaml"
    path.write_text(MODEL_TEXT.format(date="2026-02-01"), encoding="utf-8")
    model = mt.load_model(path, catalog)
    assert model.system.last_review == D(2026, 2, 1)
    assert model.system.reviewed_by == "Security board"
    for name in ("again.yaml", "again.json"):
        save_model(model, tmp_path / name)
        back = mt.load_model(tmp_path / name, catalog)
        assert back == model and back.system.last_review == D(2026, 2, 1)


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-13-01", "is not a calendar date"),
    ("1767225600", "expected an ISO date"),
    ("2026-02-01 10:00:00", "expected an ISO date"),
])
def test_bad_review_dates_are_reported(tmp_path: Path, value: str, expected: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(MODEL_TEXT.format(date=value), encoding="utf-8")
    with pytest.raises(MedthreatError) as info:
        mt.load_model(path, mt.Catalog.load())
    assert expected in str(info.value)


# -- TPLC metrics ----------------------------------------------------------------------------

# Seven items on 2026-06-30, worked out by hand:
#   a: identified 01-01, fixed 01-11 (10 d), deployed 01-31 (20 d)
#   b: identified 02-01, fixed 03-03 (30 d), deployed 03-13 (10 d)
#   c: identified 03-01, fixed 05-10 (70 d > 60 d controlled target), not deployed
#   d: identified 05-01, open (in progress), uncontrolled: 60 d open > 30 d target
#   e: identified 06-15, open, controlled: 15 d, within target
#   f: identified 04-10, decision mitigated on 04-20 (10 d), not deployed
#   g: accepted, no dates
# Fix times 10, 10, 30, 70: median 20, mean 30, max 70. Deploy times 20, 10: median 15.
EVENTS = [
    {"id": "MT-T-001@a", "identified": "2026-01-01", "fixed": "2026-01-11",
     "deployed": "2026-01-31"},
    {"id": "MT-T-001@b", "identified": D(2026, 2, 1), "fixed": D(2026, 3, 3),
     "deployed": D(2026, 3, 13)},
    {"id": "MT-T-001@c", "identified": "2026-03-01", "fixed": "2026-05-10"},
    {"id": "MT-T-001@d", "identified": "2026-05-01", "risk": "uncontrolled"},
    {"id": "MT-T-001@e", "identified": "2026-06-15"},
    {"id": "MT-T-001@f", "identified": "2026-04-10"},
]
DECISIONS = {
    "MT-T-001@d": {"status": "in_progress"},
    "MT-T-001@f": {"status": "mitigated", "date": "2026-04-20"},
    "MT-T-001@g": {"status": "accepted", "justification": "Residual risk acceptable."},
}


def test_metrics_by_hand() -> None:
    decisions = Decisions.model_validate({"decisions": DECISIONS})
    m = tplc_metrics(decisions, events=EVENTS, today=D(2026, 6, 30))
    assert m.total == 7
    assert m.remediated == ("MT-T-001@a", "MT-T-001@b", "MT-T-001@c", "MT-T-001@f")
    assert m.remediated_share == pytest.approx(4 / 7)
    assert m.closed_without_fix == ("MT-T-001@g",)
    assert m.open == ("MT-T-001@d", "MT-T-001@e")
    assert (m.time_to_fix.count, m.time_to_fix.median, m.time_to_fix.mean,
            m.time_to_fix.max) == (4, 20.0, 30.0, 70)
    assert (m.time_to_deploy.count, m.time_to_deploy.median, m.time_to_deploy.max) == (2, 15.0,
                                                                                        20)
    assert m.fixed_not_deployed == ("MT-T-001@c", "MT-T-001@f")
    assert m.late_fixes == ("MT-T-001@c",)
    assert [(o.id, o.risk, o.age_days, o.target_days) for o in m.overdue] == [
        ("MT-T-001@d", RiskControl.uncontrolled, 60, 30)]
    assert m.no_identified_date == ("MT-T-001@g",)
    md = m.markdown()
    assert "| Remediated | 4 (57%) |" in md and "median 20 d, mean 30 d, max 70 d (n=4)" in md
    assert m.to_data()["remediated_share"] == pytest.approx(4 / 7)


def test_metrics_targets_findings_and_wildcards() -> None:
    decisions = Decisions.model_validate({"decisions": {
        "MT-T-001@*": {"status": "mitigated"}}})
    events = [LifecycleEvent("MT-T-001@x", identified=D(2026, 1, 1)),
              LifecycleEvent("MT-T-002@x", identified=D(2026, 1, 1))]
    m = tplc_metrics(decisions, findings=["MT-T-001@x", "MT-T-002@x"], events=events,
                     today=D(2026, 2, 10), uncontrolled=["MT-T-002@x"],
                     uncontrolled_target_days=45)
    # The wildcard remediates MT-T-001@x (no fix date known); MT-T-002@x has been open 40 days,
    # within the 45-day target.
    assert m.remediated == ("MT-T-001@x",) and m.open == ("MT-T-002@x",)
    assert m.time_to_fix.count == 0 and m.time_to_fix.text() == "no data"
    assert m.overdue == ()
    later = tplc_metrics(decisions, findings=["MT-T-002@x"], events=events,
                         today=D(2026, 2, 20), uncontrolled=["MT-T-002@x"],
                         uncontrolled_target_days=45)
    assert [(o.id, o.age_days) for o in later.overdue] == [("MT-T-002@x", 50)]
    empty = tplc_metrics(None, today=D(2026, 1, 1))
    assert empty.total == 0 and empty.remediated_share is None


def test_inconsistent_events_are_refused() -> None:
    with pytest.raises(ValueError, match="before identified"):
        LifecycleEvent("x", identified=D(2026, 2, 1), fixed=D(2026, 1, 1))
    with pytest.raises(ValueError, match="without a fixed date"):
        LifecycleEvent("x", deployed=D(2026, 2, 1))
    with pytest.raises(ValueError, match="appears twice"):
        tplc_metrics(None, events=[{"id": "x"}, {"id": "x"}])
    with pytest.raises(ValueError, match="unknown field"):
        tplc_metrics(None, events=[{"id": "x", "fixd": "2026-01-01"}])


def test_events_files_yaml_and_csv(tmp_path: Path) -> None:
    yaml_file = tmp_path / "events.yaml"
    yaml_file.write_text("events:\n  - id: CVE-2026-0001\n    identified: 2026-01-01\n"
                         "    fixed: 2026-01-21\n    deployed: 2026-02-01\n"
                         "  - id: CVE-2026-0002\n    identified: 2026-03-01\n"
                         "    risk: uncontrolled\n", encoding="utf-8")
    csv_file = tmp_path / "events.csv"
    csv_file.write_text("id,identified,fixed,deployed,risk\n"
                        "CVE-2026-0001,2026-01-01,2026-01-21,2026-02-01,\n"
                        "CVE-2026-0002,2026-03-01,,,uncontrolled\n", encoding="utf-8")
    from_yaml = load_events(yaml_file)
    assert from_yaml == load_events(csv_file)
    assert from_yaml[0] == LifecycleEvent("CVE-2026-0001", D(2026, 1, 1), D(2026, 1, 21),
                                          D(2026, 2, 1))
    assert from_yaml[1].risk is RiskControl.uncontrolled
    m = tplc_metrics(None, events=from_yaml, today=D(2026, 4, 10))
    assert m.time_to_fix.median == 20.0 and m.time_to_deploy.max == 11
    assert [o.id for o in m.overdue] == ["CVE-2026-0002"]  # 40 days open, uncontrolled


def test_bad_events_files_name_the_entry(tmp_path: Path) -> None:
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("events:\n  - id: A\n    identified: 2026-02-30\n", encoding="utf-8")
    with pytest.raises(MedthreatError, match="not a calendar date"):
        load_events(bad_yaml)
    bad_yaml.write_text("- id: A\n  identified: 2026-02-01\n  fixed: 2026-01-01\n",
                        encoding="utf-8")
    with pytest.raises(MedthreatError, match=r"bad\.yaml:1.*before identified"):
        load_events(bad_yaml)
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("id,identified\nA,2026-1-5\nA,2026-01-05\nA,2026-01-06\n",
                       encoding="utf-8")
    with pytest.raises(MedthreatError) as info:
        load_events(bad_csv)
    text = str(info.value)
    assert "bad.csv:2" in text and "expected an ISO date" in text and "appears twice" in text
