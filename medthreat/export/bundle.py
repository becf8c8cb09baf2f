"""Everything an analysis documents, written into one folder: :func:`write_all`.

The folder holds what each reader uses: findings (JSON with its schema, CSV) for tools, the
Excel risk register for risk managers, the report (Markdown, HTML, PDF where Chromium is
installed) and the labeling draft for reviewers, and the architecture views (DOT, SVG, PNG) for
everyone. Long exports report each step to a ``progress`` callback; :class:`StepPrinter` is the
one the command line uses.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .._runtime import gc_paused
from .._yaml import atomic_write

if TYPE_CHECKING:
    from ..risk import RiskRegister
    from .views import View

__all__ = ["BUNDLE_STEPS", "Progress", "StepPrinter", "write_all"]

#: Number of steps :func:`write_all` reports to its ``progress`` callback.
BUNDLE_STEPS = 7

#: Called at the start of every step with its label, its number (from 1) and the step count.
Progress = Callable[[str, int, int], None]


class StepPrinter:
    """A :data:`Progress` that prints ``[3/7] register workbook (xlsx)`` lines and, when the
    next step starts, how long the previous one took. Call :meth:`finish` at the end."""

    def __init__(self, stream: TextIO | None = None, prefix: str = "medthreat") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.prefix = prefix
        self._label = ""
        self._started = 0.0
        self._first = 0.0

    def _close_step(self) -> None:
        if self._label:
            elapsed = time.perf_counter() - self._started
            print(f"{self.prefix}:       {self._label}: {elapsed:.1f} s", file=self.stream,
                  flush=True)
            self._label = ""

    def __call__(self, label: str, index: int, total: int) -> None:
        self._close_step()
        now = time.perf_counter()
        if not self._first:
            self._first = now
        self._label, self._started = label, now
        print(f"{self.prefix}: [{index}/{total}] {label} ...", file=self.stream, flush=True)

    def finish(self) -> None:
        """Report the last step's time and the total."""
        self._close_step()
        if self._first:
            total = time.perf_counter() - self._first
            print(f"{self.prefix}: done in {total:.1f} s", file=self.stream, flush=True)


def write_all(
    register: RiskRegister,
    out_dir: str | os.PathLike[str],
    *,
    full_diagram: bool = False,
    pdf: bool = True,
    progress: Progress | None = None,
) -> list[Path]:
    """Write every document of an assessed analysis into ``out_dir`` and return the paths.

    Files: ``findings.json`` (every register field per finding; schema in
    ``medthreat/schemas/findings.schema.json``), ``findings.csv``, ``register.xlsx``,
    ``register.json``, ``register.csv``, ``summary.md``, ``report.md``, ``report.html``
    (self-contained, views inline), ``report.pdf`` (when Chromium is installed and ``pdf``),
    ``labeling.md``, ``dfd.dot``/``dfd.svg`` and ``views/<view>.dot|.svg|.png`` (SVG and PNG
    need Graphviz; without it one :class:`~medthreat.export.diagram.DotMissingWarning` says so).

    A model too large to draw legibly gets collapsed diagrams (one node per trust boundary,
    said on the picture) unless ``full_diagram``. ``progress`` is called at the start of every
    step (see :class:`StepPrinter`).
    """
    from .excel import write_register
    from .findings import findings_csv, write_findings_json
    from .labeling import labeling_markdown
    from .markdown import summary_markdown
    from .register import register_csv, risk_markdown, write_register_json
    from .report import write_report
    from .views import architecture_views, write_views

    out = Path(out_dir)
    analysis = register.analysis
    written: list[Path] = []
    views: list[View] = []
    svgs: dict[str, str] = {}  # view id -> SVG text, drawn once for the files and the report

    def text(name: str, content: str) -> None:
        atomic_write(out / name, content)
        written.append(out / name)

    def findings() -> None:
        # streamed record by record: a large analysis never holds the whole text in memory
        written.append(write_findings_json(analysis, out / "findings.json", register))
        text("findings.csv", findings_csv(analysis))

    def register_files() -> None:
        written.append(write_register_json(register, out / "register.json"))
        text("register.csv", register_csv(register))

    def workbook() -> None:
        written.append(write_register(register, out / "register.xlsx"))

    def summary() -> None:
        text("summary.md", summary_markdown(analysis) + "\n" + risk_markdown(register))

    def diagrams() -> None:
        views.extend(architecture_views(register, full=full_diagram))
        dfd = next(v for v in views if v.id == "dfd")
        text("dfd.dot", dfd.dot)
        written.extend(write_views(views, out))  # views/<id>.*; warns once without Graphviz
        for view in views:
            svg = out / "views" / f"{view.id}.svg"
            if svg in written:
                svgs[view.id] = svg.read_text(encoding="utf-8")
        if "dfd" in svgs:
            text("dfd.svg", svgs["dfd"])

    def report() -> None:
        written.extend(write_report(register, out, views, pdf=pdf, svgs=svgs))

    def labeling() -> None:
        text("labeling.md", labeling_markdown(register))

    steps: Sequence[tuple[str, Callable[[], None]]] = (
        ("findings (JSON, CSV)", findings),
        ("risk register (JSON, CSV)", register_files),
        (f"risk register workbook ({len(register)} rows)", workbook),
        ("summary", summary),
        ("architecture views", diagrams),
        ("report (Markdown, HTML" + (", PDF)" if pdf else ")"), report),
        ("labeling draft", labeling),
    )
    out.mkdir(parents=True, exist_ok=True)
    with gc_paused():
        for index, (label, step) in enumerate(steps, start=1):
            if progress is not None:
                progress(label, index, len(steps))
            step()
    return written
