"""An interactive explorer of a risk register for JupyterLab (needs ``ipywidgets``).

::

    import medthreat as mt
    from medthreat.notebook import explore

    model = mt.load_model("notebooks/models/ai_patient_monitoring.yaml")
    register = mt.assess(mt.analyze(model))
    explore(register, decisions_path="decisions.yaml")

The explorer lists the findings, highest residual risk first, filtered by STRIDE category,
residual risk level, acceptability, element, decision status and a text search. Selecting a
finding shows why it applies, its scores with the factors behind them and its controls, the
pre/post risk matrices with its cells outlined, and the data-flow diagram with its element
highlighted. The decision editor writes the decisions file through
:mod:`medthreat.lifecycle` (load, merge, check, save) and re-assesses the register, so residual
risk and acceptability follow the decision. Problems are shown in the widget, never raised.

Everything a user can do by clicking is reachable from code too (``filters``,
``set_filters``, ``visible_ids``, ``select``, ``selected``, ``edit``, ``save``), and the
widgets themselves are attributes, so notebooks and tests drive the same state.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import Any

from pydantic import ValidationError

try:
    import ipywidgets as w
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("medthreat.notebook needs ipywidgets 8: pip install "
                      "'medthreat[notebook]'") from exc

from ._display import (
    DIAGRAM_LIMIT,
    STYLE,
    assessment_html,
    diagram_html,
    risk_badge,
    risk_matrices_html,
)
from .catalog import Stride
from .engine import Analysis
from .errors import MedthreatError
from .lifecycle import (
    Decision,
    Decisions,
    DecisionStatus,
    IssueCode,
    check,
    load_decisions,
    merge,
    save_decisions,
)
from .lifecycle.audit import audit_path_for, record_changes
from .risk import Assessment, RiskRegister, assess

__all__ = ["FILTER_NAMES", "Explorer", "explore"]

#: The filters, in the order of :attr:`Explorer.filters`.
FILTER_NAMES = ("stride", "residual", "acceptability", "element", "status", "search",
                "baseline")
#: Fields of a decision the editor changes, in the order of :meth:`Explorer.edit`.
EDIT_FIELDS = ("status", "justification", "owner", "date", "ticket")
_BLOCKING = frozenset({IssueCode.missing_justification, IssueCode.unacceptable_unjustified})
_WIDGET_STYLE = """<style>
.mt-findings select,.mt-findings-head{font-family:SFMono-Regular,Menlo,Consolas,
 'DejaVu Sans Mono',monospace;font-size:12px;line-height:1.5;white-space:pre}
.mt-findings-head{padding:0 5px;color:#57606a;font-weight:600;overflow:hidden}
.mt-panel{border:1px solid #d0d7de;border-radius:6px;padding:6px 8px;background:#fbfcfd}
</style>"""


def explore(register: RiskRegister | Analysis,
            decisions_path: str | os.PathLike[str] | None = None, *, limit: int = 500,
            diagram_limit: int = DIAGRAM_LIMIT) -> Explorer:
    """Open the explorer on a risk register (an analysis is assessed with the default policy).

    ``decisions_path`` is the decisions file the editor saves to; when it exists it is loaded
    and the register re-assessed with it, and it is created on the first save otherwise.
    Without it the explorer is read-only. ``limit`` caps the rows of the findings list and
    ``diagram_limit`` the number of elements drawn in the diagram.
    """
    if isinstance(register, Analysis):
        register = assess(register)
    return Explorer(register, decisions_path, limit=limit, diagram_limit=diagram_limit)


def _words(value: str) -> str:
    return value.replace("_", " ")


def _message(kind: str, lines: Iterable[str]) -> str:
    items = [escape(line) for line in lines]
    if not items:
        return ""
    body = items[0] if len(items) == 1 else '<ul class="mt-list">' + "".join(f"<li>{i}</li>"
                                                             for i in items) + "</ul>"
    return f'{STYLE}<div class="mt-card" style="padding:0;border:0"><div class="mt-{kind}">' \
           f"{body}</div></div>"


class Explorer:
    """The explorer of one register: filter widgets, findings list, detail, editor, views.

    Build it with :func:`explore`. ``widget`` is the root box to display (the explorer also
    displays itself as the last expression of a cell).
    """

    def __init__(self, register: RiskRegister,
                 decisions_path: str | os.PathLike[str] | None = None, *, limit: int = 500,
                 diagram_limit: int = DIAGRAM_LIMIT) -> None:
        self.register = register
        self.decisions_path = Path(decisions_path) if decisions_path is not None else None
        self.limit = max(1, limit)
        self.diagram_limit = diagram_limit
        #: Problems of the last action (empty when it worked).
        self.errors: list[str] = []
        #: What the last save did.
        self.notice = ""
        self._updating = False
        self._diagrams: dict[tuple[str, str], str] = {}
        self._matching: list[str] = []
        self._build()
        self._index()
        if self.decisions_path is not None and self.decisions_path.exists():
            try:
                on_disk = load_decisions(self.decisions_path)
            except MedthreatError as exc:
                self._fail([str(p) for p in exc.problems] or [str(exc)])
            else:
                if register.decisions is None or register.decisions != on_disk:
                    self.register = assess(register.analysis, register.policy, on_disk)
                    self._index()
        self._refresh(keep=None)

    # -- building -----------------------------------------------------------------------------

    def _build(self) -> None:
        reg = self.register
        policy = reg.policy
        elements: dict[str, str] = {}
        for a in reg:
            f = a.finding
            elements[f.element_id] = (f.element_name if f.element_name == f.element_id
                                      else f"{f.element_name} ({f.element_id})")
        wide = w.Layout(width="auto", min_width="210px")
        dd = {"style": {"description_width": "100px"}, "layout": wide}
        self.stride_filter = w.Dropdown(
            options=[("all categories", "")] + [(f"{s.letter} · {_words(s.value)}", s.value)
                                                for s in Stride],
            value="", description="STRIDE", **dd)
        self.residual_filter = w.Dropdown(
            options=[("all levels", "")] + [(lv.name, lv.id)
                                            for lv in reversed(policy.levels("risk"))],
            value="", description="Residual risk", **dd)
        self.acceptability_filter = w.Dropdown(
            options=[("any", ""), ("unacceptable", "unacceptable"), ("review", "review"),
                     ("acceptable", "acceptable")],
            value="", description="Acceptability", **dd)
        self.element_filter = w.Dropdown(
            options=[("all elements", ""), *sorted(((label, eid) for eid, label in
                                                    elements.items()),
                                                   key=lambda o: (o[0].casefold(), o[1]))],
            value="", description="Element", **dd)
        self.status_filter = w.Dropdown(
            options=[("any status", "")] + [(_words(s.value), s.value) for s in DecisionStatus],
            value="", description="Decision", **dd)
        self.search_box = w.Text(value="", placeholder="id, title, element, description",
                                 description="Search", **dd)
        self.baseline_filter = w.Checkbox(value=True, description="STRIDE baseline findings",
                                          indent=False, layout=w.Layout(width="auto"))
        self.clear_button = w.Button(description="Clear filters", icon="times",
                                     layout=w.Layout(width="130px", min_width="130px"))
        self.count_label = w.HTML()
        self.table = w.Select(options=[], rows=14, layout=w.Layout(width="100%"))
        self.table.add_class("mt-findings")
        self.header = w.HTML()
        self.detail_pane = w.HTML()
        self.matrix_pane = w.HTML()
        self.diagram_pane = w.HTML()
        self.zoom_toggle = w.ToggleButtons(
            options=[("Zoom to selection", "focus"), ("Whole diagram", "whole")],
            value="focus", style={"button_width": "160px"})
        ed = {"style": {"description_width": "84px"}}

        def half() -> w.Layout:
            return w.Layout(width="50%", min_width="170px")

        self.status_input = w.Dropdown(options=[(_words(s.value), s.value)
                                                for s in DecisionStatus],
                                       value="open", description="Status", **ed,
                                       layout=half())
        self.owner_input = w.Text(description="Owner", placeholder="who decides", **ed,
                                  layout=half())
        self.date_input = w.Text(description="Date", placeholder="YYYY-MM-DD", **ed,
                                 layout=half())
        self.ticket_input = w.Text(description="Ticket", placeholder="e.g. SEC-123", **ed,
                                   layout=half())
        self.justification_input = w.Textarea(
            description="Justification", placeholder="required for accepted, transferred, "
            "avoided and false positive, and to close an unacceptable risk", **ed,
            layout=w.Layout(width="100%", height="80px"))
        self.save_button = w.Button(description="Save decision", icon="save",
                                    button_style="primary",
                                    layout=w.Layout(width="160px", min_width="160px"),
                                    disabled=self.decisions_path is None)
        self.editor_note = w.HTML()
        self.message = w.HTML()

        for control in (self.stride_filter, self.residual_filter, self.acceptability_filter,
                        self.element_filter, self.status_filter, self.search_box,
                        self.baseline_filter):
            control.observe(self._on_filter, names="value")
        self.clear_button.on_click(lambda _: self.set_filters())
        self.table.observe(self._on_select, names="value")
        self.save_button.on_click(lambda _: self._save())
        self.zoom_toggle.observe(lambda _: self._redraw(), names="value")

        filters = w.VBox([
            w.HBox([self.stride_filter, self.residual_filter, self.acceptability_filter,
                    self.status_filter]),
            w.HBox([self.element_filter, self.search_box, self.baseline_filter,
                    self.clear_button], layout=w.Layout(align_items="center")),
        ])
        editor = w.VBox([
            w.HTML("<b>Decision</b>"),
            self.editor_note,
            w.HBox([self.status_input, self.owner_input]),
            w.HBox([self.date_input, self.ticket_input]),
            self.justification_input,
            self.save_button,
            self.message,
        ])
        editor.add_class("mt-panel")
        self.table_header = w.HTML(
            '<div class="mt-findings-head">' + _esc(_row(
                "residual", "S", "status", "element", "threat", "finding id")) + "</div>")
        left = w.VBox([editor], layout=w.Layout(width="38%", min_width="340px"))
        self.tabs = w.Tab(children=[self.detail_pane, self.matrix_pane,
                                    w.VBox([self.zoom_toggle, self.diagram_pane])])
        for i, title in enumerate(("Finding", "Risk matrices", "Diagram")):
            self.tabs.set_title(i, title)
        right = w.VBox([self.tabs], layout=w.Layout(width="62%"))
        #: The root widget to display.
        self.widget = w.VBox([w.HTML(_WIDGET_STYLE + STYLE), self.header, filters,
                              self.count_label, self.table_header, self.table,
                              w.HBox([left, right], layout=w.Layout(width="100%"))])

    def _index(self) -> None:
        self._by_id: dict[str, Assessment] = {a.id: a for a in self.register}
        self._text: dict[str, str] = {
            a.id: " ".join((a.id, a.finding.title, a.finding.element_name,
                            a.finding.description)).casefold()
            for a in self.register}

    # -- state ----------------------------------------------------------------------------------

    @property
    def filters(self) -> dict[str, Any]:
        """The current filter values (``""`` means any; ``baseline`` includes baselines)."""
        return {
            "stride": self.stride_filter.value,
            "residual": self.residual_filter.value,
            "acceptability": self.acceptability_filter.value,
            "element": self.element_filter.value,
            "status": self.status_filter.value,
            "search": self.search_box.value,
            "baseline": self.baseline_filter.value,
        }

    def set_filters(self, **values: Any) -> None:
        """Set some filters (names as in :attr:`filters`) and clear the others."""
        unknown = sorted(set(values) - set(FILTER_NAMES))
        if unknown:
            raise TypeError(f"unknown filter(s) {', '.join(unknown)}; expected "
                            f"{', '.join(FILTER_NAMES)}")
        wanted = {name: "" for name in FILTER_NAMES} | {"baseline": True} | values
        self._updating = True
        try:
            for name, widget in self._filter_widgets().items():
                widget.value = wanted[name]
        finally:
            self._updating = False
        self._refresh(keep=self.table.value)

    def _filter_widgets(self) -> dict[str, w.ValueWidget]:
        return dict(zip(FILTER_NAMES, (
            self.stride_filter, self.residual_filter, self.acceptability_filter,
            self.element_filter, self.status_filter, self.search_box, self.baseline_filter),
            strict=True))

    @property
    def matching_ids(self) -> list[str]:
        """Ids of every finding the filters let through, highest residual risk first."""
        return list(self._matching)

    @property
    def visible_ids(self) -> list[str]:
        """Ids of the findings listed in the table (the first ``limit`` matching ones)."""
        return [value for _, value in self.table.options]

    @property
    def selected(self) -> Assessment | None:
        """The assessment of the selected finding, or None."""
        return self._by_id.get(self.table.value) if self.table.value else None

    @property
    def error(self) -> str:
        """The problems of the last action as one text (empty when it worked)."""
        return "\n".join(self.errors)

    def select(self, finding_id: str) -> Assessment:
        """Select a listed finding, as clicking it in the table does."""
        if finding_id not in self._by_id:
            raise KeyError(f"{finding_id!r} is not a finding of this register")
        if finding_id not in self.visible_ids:
            raise ValueError(f"{finding_id!r} is hidden by the filters {self.filters}; clear "
                             "them first (set_filters())")
        self.table.value = finding_id
        return self._by_id[finding_id]

    def edit(self, **fields: Any) -> None:
        """Type into the decision editor: ``status``, ``justification``, ``owner``, ``date``
        (ISO text or a date) and ``ticket``. Nothing is written until :meth:`save`."""
        unknown = sorted(set(fields) - set(EDIT_FIELDS))
        if unknown:
            raise TypeError(f"unknown decision field(s) {', '.join(unknown)}; the editor has "
                            f"{', '.join(EDIT_FIELDS)}")
        inputs = self._edit_widgets()
        for name, value in fields.items():
            if isinstance(value, DecisionStatus):
                value = value.value
            elif isinstance(value, dt.date):
                value = value.isoformat()
            inputs[name].value = "" if value is None else value

    def _edit_widgets(self) -> dict[str, w.ValueWidget]:
        return dict(zip(EDIT_FIELDS, (self.status_input, self.justification_input,
                                      self.owner_input, self.date_input, self.ticket_input),
                        strict=True))

    def save(self) -> bool:
        """Save the edited decision, as the Save button does; True when it was saved (or
        nothing changed), False when a problem stopped it (see :attr:`errors`)."""
        return self._save()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # -- reacting -------------------------------------------------------------------------------

    def _on_filter(self, _change: dict[str, Any]) -> None:
        if not self._updating:
            self._refresh(keep=self.table.value)

    def _on_select(self, _change: dict[str, Any]) -> None:
        if not self._updating:
            self.errors, self.notice = [], ""
            self.message.value = ""
            self._show_selected(load_editor=True)

    def _matches(self, a: Assessment, f: dict[str, Any]) -> bool:
        finding = a.finding
        return ((not f["stride"] or finding.stride.value == f["stride"])
                and (not f["residual"] or a.residual.level.id == f["residual"])
                and (not f["acceptability"]
                     or a.residual.acceptability.value == f["acceptability"])
                and (not f["element"] or finding.element_id == f["element"])
                and (not f["status"] or a.status == f["status"])
                and (f["baseline"] or not finding.baseline)
                and (not f["search"].strip()
                     or f["search"].strip().casefold() in self._text[a.id]))

    def _label(self, a: Assessment) -> str:
        f = a.finding
        return _row(a.residual.level.name, f.stride.letter, _words(a.status), f.element_name,
                    f.title, a.id)

    def _refresh(self, keep: str | None) -> None:
        """Re-filter the list; keep the selection when it is still listed."""
        f = self.filters
        self._matching = [a.id for a in self.register if self._matches(a, f)]
        shown = self._matching[:self.limit]
        self._updating = True
        try:
            self.table.options = [(self._label(self._by_id[i]), i) for i in shown]
            self.table.value = keep if keep in shown else (shown[0] if shown else None)
        finally:
            self._updating = False
        total = len(self.register)
        more = (f" — listing the first {len(shown)}; narrow the filters"
                if len(shown) < len(self._matching) else "")
        self.count_label.value = (f"<b>{len(self._matching)}</b> of {total} findings match"
                                  f"{more}. Highest residual risk first.")
        self._header()
        self._show_selected(load_editor=keep != self.table.value)

    def _header(self) -> None:
        reg = self.register
        s = reg.analysis.model.system
        unacceptable = len(reg.unacceptable())
        decided = sum(1 for a in reg if a.status != "open")
        where = (f"decisions file <code>{escape(str(self.decisions_path))}</code>"
                 if self.decisions_path is not None else
                 "read-only: pass <code>decisions_path</code> to save decisions")
        self.header.value = (
            f'<div class="mt-card" style="max-width:none"><h3>{escape(s.name)} '
            f'<span class="mt-sub">{escape(s.version)}</span></h3><div class="mt-sub">'
            f"{len(reg)} findings · <b>{unacceptable}</b> unacceptable residual risks · "
            f"{decided} decided · policy <code>{escape(reg.policy.id)}</code> "
            f"{escape(reg.policy.version)} · {where}</div></div>")

    def _show_selected(self, *, load_editor: bool) -> None:
        a = self.selected
        visible = [self._by_id[i] for i in self._matching]
        self.matrix_pane.value = (
            f'{STYLE}<div class="mt-card" style="max-width:none"><div class="mt-sub">'
            f"{len(visible)} findings shown by the filters"
            + (f"; outlined: the cells of <code>{_esc(a.id)}</code>" if a else "")
            + f"</div>{risk_matrices_html(self.register.policy, visible, mark=a)}</div>")
        if a is None:
            self.detail_pane.value = ('<div class="mt-note" style="padding:8px">No finding '
                                      "matches the filters.</div>")
            self.diagram_pane.value = self._diagram(None)
            self.editor_note.value = ""
            self.save_button.disabled = True
            return
        self.detail_pane.value = assessment_html(a, catalog=self.register.analysis.catalog)
        self.diagram_pane.value = self._diagram(a)
        self.save_button.disabled = self.decisions_path is None
        if load_editor:
            self._load_editor(a)

    def _load_editor(self, a: Assessment) -> None:
        d = a.decision
        dec = d.decision if d is not None else None
        self.status_input.value = dec.status.value if dec else "open"
        self.justification_input.value = dec.justification if dec else ""
        self.owner_input.value = dec.owner if dec else ""
        self.date_input.value = dec.date.isoformat() if dec and dec.date else ""
        self.ticket_input.value = dec.ticket if dec else ""
        if d is not None and d.match.value != "exact":
            note = (f"Decided through <code>{_esc(d.key)}</code>; saving records a decision "
                    "for this finding only.")
        elif self.decisions_path is None:
            note = "Read-only: no decisions file."
        else:
            note = f"Residual risk {risk_badge(a.residual)} {_esc(a.residual.acceptability)}"
        self.editor_note.value = f'{STYLE}<span class="mt-card" style="border:0">{note}</span>'

    def _redraw(self) -> None:
        self.diagram_pane.value = self._diagram(self.selected)

    def _diagram(self, a: Assessment | None) -> str:
        element = a.finding.element_id if a is not None else ""
        key = (element, self.zoom_toggle.value)
        if key not in self._diagrams:
            caption = ""
            if a is not None:
                f = a.finding
                kind = "flow" if f.source else "element"
                caption = (f'<div class="mt-sub">Outlined in blue: the {kind} '
                           f"{_esc(f.element_name)} (<code>{_esc(f.element_id)}</code>)."
                           "</div>")
            self._diagrams[key] = (
                f'{STYLE}<div class="mt-card" style="max-width:none">{caption}'
                + diagram_html(self.register.analysis.model, self.register.analysis,
                               highlight=element or None, focus=key[1] == "focus",
                               max_elements=self.diagram_limit)
                + "</div>")
        return self._diagrams[key]

    # -- saving ---------------------------------------------------------------------------------

    def _fail(self, problems: list[str]) -> bool:
        self.errors, self.notice = problems, ""
        self.message.value = _message("error", problems)
        return False

    def _save(self) -> bool:
        a = self.selected
        if a is None:
            return self._fail(["Select a finding first."])
        if self.decisions_path is None:
            return self._fail(["No decisions file: open the explorer with "
                               "explore(register, decisions_path=...) to save decisions."])
        values: dict[str, Any] = {
            "status": self.status_input.value,
            "justification": self.justification_input.value.strip(),
            "owner": self.owner_input.value.strip(),
            "date": self.date_input.value.strip() or None,
            "ticket": self.ticket_input.value.strip(),
        }
        try:
            decision = Decision.model_validate(values)
        except ValidationError as exc:
            return self._fail([f"{'.'.join(str(p) for p in e['loc']) or 'decision'}: "
                               f"{e['msg']}" for e in exc.errors()])
        path = self.decisions_path
        try:
            base = load_decisions(path) if path.exists() else (
                self.register.decisions or Decisions())
        except MedthreatError as exc:
            return self._fail([f"cannot read {path}: {p}" for p in exc.problems] or [str(exc)])
        merged, changes = merge(base, Decisions.model_construct(
            schema_version=1, decisions={a.id: decision}))
        unacceptable = [a.id] if a.residual.acceptability.value == "unacceptable" else []
        blocking = [i.message for i in check(merged, unacceptable=unacceptable)
                    if i.code in _BLOCKING and a.id in (i.key, i.finding_id)]
        if blocking:
            return self._fail(blocking)
        if not changes and path.exists():
            self.errors, self.notice = [], f"Nothing changed; {path} left as it was."
            self.message.value = _message("ok", [self.notice])
            return True
        try:  # the audit entry first: no saved change without its record
            record_changes(audit_path_for(path), changes, source="notebook:explorer")
            save_decisions(merged, path)
        except (OSError, MedthreatError) as exc:
            return self._fail([f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}"])
        self.register = assess(self.register.analysis, self.register.policy, merged)
        self._index()
        self._diagrams.clear()
        self.errors = []
        self.notice = f"Saved {len(changes)} change(s) to {path}."
        lines = [self.notice] + [f"{c.key} {c.field}: {_show(c.old)} → {_show(c.new)}"
                                 for c in changes if _show(c.old) != _show(c.new)]
        self._refresh(keep=a.id)
        after = self._by_id[a.id]
        lines.append(f"Residual risk now {after.residual.level.name.lower()} "
                     f"({after.residual.acceptability.value}), status {_words(after.status)}.")
        if self.table.value == a.id:
            self._load_editor(after)
        else:
            lines.append(f"{a.id} no longer matches the filters and left the list.")
        self.message.value = _message("ok", lines)
        return True


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return (text if len(text) <= width else text[:width - 1] + "…").ljust(width)


def _row(level: str, stride: str, status: str, element: str, title: str, fid: str) -> str:
    """One line of the findings list, in fixed-width columns."""
    return (f"{_cut(level, 9)} {_cut(stride, 1)} {_cut(status, 14)} {_cut(element, 28)} "
            f"{_cut(title, 58)} {fid}")


def _esc(value: object) -> str:
    return escape(str(value))


def _show(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, DecisionStatus):
        return value.value
    if isinstance(value, dt.date):
        return value.isoformat()
    return repr(value) if isinstance(value, str) else str(value)
