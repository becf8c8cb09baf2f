"""The life of a threat model after the first analysis: risk decisions (tracking)."""

from .decisions import (
    Change,
    Decision,
    DecisionIssue,
    Decisions,
    DecisionsError,
    DecisionStatus,
    IssueCode,
    MatchKind,
    ResolvedDecision,
    check,
    check_key,
    decisions_from_data,
    decisions_to_data,
    load_decisions,
    merge,
    save_decisions,
)

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
