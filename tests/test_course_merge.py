"""Merging one worker's result into the course gradebook: written answers wait for a TA, and a
TA's manual score survives every regrade."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnncourse.course.autograde import _gradebook, _merge
from cnncourse.course.demo import make_course
from cnncourse.course.points import graded_cells
from cnncourse.course.release import release
from cnncourse.course.workers import GradingResult

ROOT = Path(__file__).resolve().parents[1]
A = "a2_batchnorm"
pytestmark = pytest.mark.skipif(not (ROOT / "solutions" / A).is_dir(), reason=f"no {A} in this checkout")


def _manual_ids() -> set[str]:
    import nbformat

    nb = nbformat.read(ROOT / "solutions" / A / f"{A}.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "markdown"}


def test_written_answers_wait_for_a_ta_and_manual_scores_survive_regrades(tmp_path):
    course = make_course(ROOT, tmp_path / "course")
    release(course, [A])
    manual = _manual_ids()
    assert manual, "a2 has a hand-graded written answer"
    scores = {gid: ((None, pts, True) if gid in manual else (pts, pts, False))
              for _, gid, pts in graded_cells(ROOT / "solutions" / A / f"{A}.ipynb")}
    _merge(course, A, GradingResult("ann", scores=scores, log="ok"))
    with _gradebook(course) as gb:
        grades = {g.name: g for nb in gb.find_submission(A, "ann").notebooks for g in nb.grades}
        for gid in manual:
            assert grades[gid].auto_score is None and grades[gid].needs_manual_grade
            grades[gid].manual_score = 3  # the TA grades the answer
        gb.db.commit()
    _merge(course, A, GradingResult("ann", scores=scores, log="regraded"))
    with _gradebook(course) as gb:
        grades = {g.name: g for nb in gb.find_submission(A, "ann").notebooks for g in nb.grades}
        for gid in manual:
            assert grades[gid].manual_score == 3 and not grades[gid].needs_manual_grade
        auto = [g for gid, g in grades.items() if gid not in manual]
        assert auto and all(g.auto_score == g.max_score for g in auto)
