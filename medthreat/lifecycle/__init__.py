"""The life of a threat model after the first analysis: risk decisions, their hash-chained
audit trail, and the change impact between model revisions."""

from .audit import AuditEntry, AuditReport, audit_path_for, record_changes, verify_log
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
from .diff import ChangeImpact, diff_models

__all__ = [
    "AuditEntry",
    "AuditReport",
    "Change",
    "ChangeImpact",
    "Decision",
    "DecisionIssue",
    "DecisionStatus",
    "Decisions",
    "DecisionsError",
    "IssueCode",
    "MatchKind",
    "ResolvedDecision",
    "audit_path_for",
    "check",
    "check_key",
    "decisions_from_data",
    "decisions_to_data",
    "diff_models",
    "load_decisions",
    "merge",
    "record_changes",
    "save_decisions",
    "verify_log",
]

