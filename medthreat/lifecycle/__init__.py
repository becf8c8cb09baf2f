"""The life of a threat model after the first analysis: risk decisions, their hash-chained
audit trail, the change impact between model revisions, review cadence and TPLC metrics, and
incident response playbooks."""

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
from .diff import ChangeImpact, diff_models, impact_html, impact_markdown
from .incident import Playbook, incident_playbooks, playbook_markdown
from .review import ReviewStatus, TplcMetrics, review_status, tplc_metrics

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
    "Playbook",
    "ResolvedDecision",
    "ReviewStatus",
    "TplcMetrics",
    "audit_path_for",
    "check",
    "check_key",
    "decisions_from_data",
    "decisions_to_data",
    "diff_models",
    "impact_html",
    "impact_markdown",
    "incident_playbooks",
    "load_decisions",
    "merge",
    "playbook_markdown",
    "record_changes",
    "review_status",
    "save_decisions",
    "tplc_metrics",
    "verify_log",
]

