"""What autograding found: per-student, per-test results, read back from nbgrader's outputs.

Scores come from the gradebook (the source of truth that ``grades.csv`` is exported from);
failure messages come from the error outputs of the autograded notebooks; tampering findings
come from :func:`cnncourse.grading.tamper_scan` on the submitted notebooks.
"""

from __future__ import annotations

import textwrap

from dataclasses import dataclass, field
from pathlib import Path

import nbformat

__all__ = ["TestResult", "StudentResult", "cell_messages", "format_table", "format_details"]


@dataclass(frozen=True)
class TestResult:
    """One graded cell of one submission."""

    __test__ = False  # not a pytest test class, despite the name

    grade_id: str
    score: float
    max_score: float
    message: str = ""  # first lines of the error the test cell raised ("" when it passed)


@dataclass
class StudentResult:
    """One submission: scores per test, an error that stopped grading, and tampering flags."""

    student: str
    assignment: str
    tests: list[TestResult] = field(default_factory=list)
    error: str = ""                                   # set when nbgrader could not grade it
    flags: list[str] = field(default_factory=list)    # tamper-scan findings, for a human
    feedback: Path | None = None

    @property
    def score(self) -> float:
        return float(sum(t.score for t in self.tests))

    @property
    def max_score(self) -> float:
        return float(sum(t.max_score for t in self.tests))

    def test(self, grade_id: str) -> TestResult:
        for t in self.tests:
            if t.grade_id == grade_id:
                return t
        raise KeyError(f"no graded cell {grade_id!r} for student {self.student!r}")


def _cut(text: str, limit: int) -> str:
    """``text`` shortened to at most ``limit`` characters at a word boundary, marked with an ellipsis."""
    if len(text) <= limit:
        return text
    head = text[: limit - 2]
    return (head.rsplit(" ", 1)[0] if " " in head else head) + " …"


def _error_text(output) -> str:
    return _cut(f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip(), 1200)


def cell_messages(autograded_notebook: str | Path) -> dict[str, str]:
    """``grade_id -> error message`` for the graded cells of an autograded notebook that failed."""
    nb = nbformat.read(autograded_notebook, as_version=4)
    found: dict[str, str] = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        errors = [_error_text(o) for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        errors += [o.get("text", "").strip()[-600:] for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stderr"]
        if errors:
            found[meta["grade_id"]] = errors[0]
    return found


def _short(grade_id: str) -> str:
    return grade_id.removeprefix("test_")


def _fmt(x: float) -> str:
    return f"{x:g}"


def format_table(results: list[StudentResult], *, max_width: int = 140) -> str:
    """A fixed-width table: one row per student, one column per graded cell, total and status.

    When the full test names would make it wider than ``max_width`` the columns are numbered
    (``T1``, ``T2`` ...) and a legend ``T1 = test name / points`` follows the table.
    """
    if not results:
        return "(no submissions)"
    ids = [t.grade_id for t in max(results, key=lambda r: len(r.tests)).tests]
    maxes = {t.grade_id: t.max_score for r in results for t in r.tests}
    labels = [f"{_short(g)}/{_fmt(maxes.get(g, 0))}" for g in ids]
    width = max(len(r.student) for r in results) + sum(len(x) + 2 for x in labels) + 24
    legend = ""
    if width > max_width:
        legend = "\n" + "\n".join(f"T{i + 1} = {lab}" for i, lab in enumerate(labels))
        labels = [f"T{i + 1}" for i in range(len(ids))]
    head = ["student"] + labels + ["total", "status"]
    rows = []
    for r in results:
        scores = {t.grade_id: t.score for t in r.tests}
        status = "ERROR" if r.error else ("FLAGGED" if r.flags else "ok")
        rows.append([r.student] + [_fmt(scores[g]) if g in scores else "-" for g in ids]
                    + [f"{_fmt(r.score)}/{_fmt(r.max_score)}", status])
    widths = [max(len(str(row[i])) for row in [head] + rows) for i in range(len(head))]
    line = lambda row: "  ".join(str(v).rjust(w) if 0 < i < len(row) - 1 else str(v).ljust(w)
                                 for i, (v, w) in enumerate(zip(row, widths)))
    return "\n".join([line(head), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]) + legend


def format_details(results: list[StudentResult]) -> str:
    """Per student: why grading stopped, each failed test's message, and tampering flags."""
    out = []
    for r in results:
        lines = []
        if r.error:
            lines.append(f"  ERROR (graded 0): {r.error}")
        groups: dict[str, list[TestResult]] = {}  # first line of the message -> tests, in order
        for t in r.tests:
            if t.score < t.max_score and t.message:
                groups.setdefault(t.message.splitlines()[0], []).append(t)
        for first, tests in groups.items():
            t = tests[0]
            also = f" (same error in {', '.join(_short(o.grade_id) for o in tests[1:])})" if tests[1:] else ""
            head = f"  {_short(t.grade_id)} ({_fmt(t.score)}/{_fmt(t.max_score)}){also}: "
            lines.append(textwrap.fill(first, width=110, initial_indent=head, subsequent_indent=" " * 6,
                                       break_long_words=False, break_on_hyphens=False))
        for flag in r.flags:
            lines.append(f"  FLAG (check by hand): {flag}")
        if r.feedback is not None:
            lines.append(f"  feedback: {r.feedback}")
        if lines:
            out.append(f"{r.student} [{r.assignment}]\n" + "\n".join(lines))
    return "\n\n".join(out)
