"""Exports of an analysis, one module per format."""

from .bundle import StepPrinter, write_all
from .findings import findings_csv, findings_json, write_findings
from .markdown import summary_markdown
from .register import register_csv, register_json, risk_markdown

__all__ = [
    "StepPrinter",
    "findings_csv",
    "findings_json",
    "register_csv",
    "register_json",
    "risk_markdown",
    "summary_markdown",
    "write_all",
    "write_findings",
]
