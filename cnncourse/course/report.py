"""What autograding found: per-student, per-test results, read back from nbgrader's outputs.

Scores come from the gradebook (the source of truth that ``grades.csv`` is exported from);
failure messages come from the error outputs of the autograded notebooks; tampering findings
come from :func:`cnncourse.grading.tamper_scan` on the submitted notebooks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nbformat

__all__ = ["TestResult", "StudentResult", "cell_messages", "format_table", "format_details"]


@dataclass(frozen=True)
class TestResult:
    """One graded cell of one submission."""

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


def _error_text(output) -> str:
    text = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()
    return text if len(text) <= 600 else text[:597] + "..."


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


def format_table(results: list[StudentResult]) -> str:
    """A fixed-width table: one row per student, one column per graded cell, total and status."""
    if not results:
        return "(no submissions)"
    ids = [t.grade_id for t in max(results, key=lambda r: len(r.tests)).tests]
    maxes = {t.grade_id: t.max_score for r in results for t in r.tests}
    head = ["student"] + [f"{_short(g)}/{_fmt(maxes.get(g, 0))}" for g in ids] + ["total", "status"]
    rows = []
    for r in results:
        scores = {t.grade_id: t.score for t in r.tests}
        status = "ERROR" if r.error else ("FLAGGED" if r.flags else "ok")
        rows.append([r.student] + [_fmt(scores[g]) if g in scores else "-" for g in ids]
                    + [f"{_fmt(r.score)}/{_fmt(r.max_score)}", status])
    widths = [max(len(str(row[i])) for row in [head] + rows) for i in range(len(head))]
    line = lambda row: "  ".join(str(v).rjust(w) if 0 < i < len(row) - 1 else str(v).ljust(w)
                                 for i, (v, w) in enumerate(zip(row, widths)))
    return "\n".join([line(head), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def format_details(results: list[StudentResult]) -> str:
    """Per student: why grading stopped, each failed test's message, and tampering flags."""
    out = []
    for r in results:
        lines = []
        if r.error:
            lines.append(f"  ERROR (graded 0): {r.error}")
        for t in r.tests:
            if t.score < t.max_score and t.message:
                lines.append(f"  {_short(t.grade_id)} ({_fmt(t.score)}/{_fmt(t.max_score)}): "
                             + t.message.splitlines()[0][:300])
        for flag in r.flags:
            lines.append(f"  FLAG (check by hand): {flag}")
        if r.feedback is not None:
            lines.append(f"  feedback: {r.feedback}")
        if lines:
            out.append(f"{r.student} [{r.assignment}]\n" + "\n".join(lines))
    return "\n\n".join(out)
