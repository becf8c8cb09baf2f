"""Exports of an analysis, one module per format."""

from .findings import findings_csv, findings_json, write_findings
from .markdown import summary_markdown

__all__ = ["findings_csv", "findings_json", "summary_markdown", "write_findings"]
