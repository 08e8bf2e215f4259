"""Where and why a submission could not be graded: the cell a kernel died in, the memory guard's
stop, and a run stopped by the per-student wall clock (cnncourse.course.autograde and
cnncourse.course.preprocessors).

The log-reading tests use log lines in the exact formats the pipeline writes them (checked end to
end by tests/test_course_autograde.py for os._exit and memory); the wall-clock test grades a tiny
two-student assignment through the real nbgrader commands.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import nbformat
import pytest

from cnncourse.course.autograde import _reason_from_log, autograde
from cnncourse.course.kernel import OUT_OF_MEMORY_MARK
from cnncourse.course.preprocessors import DIED_MARK, RUNNING_MARK, describe_cell
from cnncourse.course.release import release
from cnncourse.course.submissions import write_submission

ROOT = Path(__file__).resolve().parents[1]


def _cell(source: str, grade_id: str | None = None, **flags) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    if grade_id:
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "schema_version": 3, "grade": False,
                                     "solution": False, "locked": False, **flags}
    return cell


def _notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        _cell("import time"),
        _cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION", "f_impl", solution=True),
        _cell("\n# check f\nassert f() == 1, 'f() should be 1'", "test_f", grade=True, locked=True, points=2),
        _cell("print('a cell the student added')"),
    ]
    return nb


def test_describe_cell_names_grade_id_position_and_first_line():
    nb = _notebook()
    assert describe_cell(nb, 1) == "cell 2/4 (grade id f_impl): `def f():`"
    assert describe_cell(nb, 2) == "cell 3/4 (grade id test_f): `# check f`"
    assert describe_cell(nb, 3) == "cell 4/4 (no grade id, after test_f): `print('a cell the student added')`"
    assert describe_cell(nb, 0) == "cell 1/4 (no grade id, before any graded cell): `import time`"
    nb.cells[0].source = "x = '" + "y" * 200 + "'"
    assert describe_cell(nb, 0).endswith("yyy...`") and len(describe_cell(nb, 0)) < 140


def _log(*lines: str) -> str:
    return "\n".join(["[AutogradeApp | INFO] Sanitizing /c/submitted/s/a1/a1.ipynb", *lines, ""])


_RUN_2 = f"[AutogradeApp | INFO] {RUNNING_MARK} cell 2/4 (grade id f_impl): `def f():`"
_RUN_3 = f"[AutogradeApp | INFO] {RUNNING_MARK} cell 3/4 (grade id test_f): `# check f`"
_DEAD = ["[AutogradeApp | ERROR] Kernel died while waiting for execute reply.",
         f"[AutogradeApp | ERROR] {DIED_MARK} cell 3/4 (grade id test_f): `# check f`",
         "    nbclient.exceptions.DeadKernelError: Kernel died"]


def test_reason_for_a_dead_kernel_names_the_cell_it_died_in():
    reason = _reason_from_log(_log(_RUN_2, _RUN_3, *_DEAD))
    assert reason == "the kernel died in cell 3/4 (grade id test_f): `# check f` (e.g. os._exit, a segfault, or a crash in native code)"


def test_reason_for_the_memory_guard_stop_says_memory_and_where():
    stop = (f"{OUT_OF_MEMORY_MARK}: after a MemoryError, the notebook's objects still hold 3001 MiB of the 3072 MiB "
            "per-kernel limit (less than 128 MiB free), so no later cell could run reliably; the kernel stops here")
    reason = _reason_from_log(_log(_RUN_2, stop, _RUN_3, *_DEAD))
    assert reason.startswith("the kernel ran out of memory in cell 3/4 (grade id test_f)")
    assert "still hold 3001 MiB of the 3072 MiB per-kernel limit (less than 128 MiB free))" in reason
    assert "no later cell" not in reason


def test_reason_for_a_native_out_of_memory_abort():
    reason = _reason_from_log(_log(_RUN_2, "OpenBLAS error: Memory allocation still failed after 10 retries, giving up.",
                                   *_DEAD))
    assert reason.startswith("the kernel died in cell 3/4 (grade id test_f): `# check f` after using up its memory limit")


def test_reason_for_a_kill_by_the_wall_clock_names_the_last_cell_started():
    assert _reason_from_log(_log(_RUN_2, _RUN_3, "[killed after 25 s]")) == (
        "grading took longer than the per-student limit and was stopped while running "
        "cell 3/4 (grade id test_f): `# check f`")
    assert _reason_from_log(_log("[killed after 25 s]")).endswith("stopped before any cell ran")


@pytest.mark.slow
def test_a_notebook_past_the_per_student_wall_clock_is_stopped_and_the_others_are_graded(tmp_path):
    """A notebook whose cells each stay under the cell timeout but that runs past the per-student
    limit: killed, 0 on every cell, the cell it was in named; the other student gets full marks,
    and both are in grades.csv."""
    course = tmp_path / "course"
    (course / "solutions" / "tiny").mkdir(parents=True)
    shutil.copy2(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    nbformat.write(_notebook(), course / "solutions" / "tiny" / "tiny.ipynb")
    release(course, ["tiny"])
    solved = _notebook()
    solved.cells[1].source = "def f():\n    return 1"
    write_submission(course, "tiny", "prompt", solved)
    slow = _notebook()
    slow.cells[1].source = "def f():\n    return 1\ntime.sleep(600)  # under the cell timeout, past the per-student limit"
    write_submission(course, "tiny", "sleeper", slow)

    results = {r.student: r for r in autograde(course, ["tiny"], cell_timeout=900, student_timeout=75,
                                               feedback=False, out=None)["tiny"]}

    assert not results["prompt"].error and results["prompt"].score == 2
    err = results["sleeper"].error
    assert err == ("grading took longer than the per-student limit and was stopped while running "
                   "cell 2/4 (grade id f_impl): `def f():`"), err
    assert [(t.grade_id, t.score) for t in results["sleeper"].tests] == [("test_f", 0)]
    with open(course / "grades.csv", newline="") as fh:
        assert {row["student_id"]: float(row["score"]) for row in csv.DictReader(fh)} == {"prompt": 2, "sleeper": 0}


def test_a_feedback_failure_keeps_the_scores_and_says_so(tmp_path):
    """Autograde and feedback run in one process per student (cnncourse.course._grade_one): when only
    the feedback step fails (here: a broken feedback configuration), are the scores still merged,
    with no grading error, no feedback pages and the reason in the student's log?"""
    from cnncourse.course.autograde import _ensure_assignment_in_gradebook, _template_gradebook, grading_key
    from cnncourse.course.workers import GradingJob, grade_submission, read_tree

    course = tmp_path / "course"
    (course / "solutions" / "tiny").mkdir(parents=True)
    config = (ROOT / "nbgrader_config.py").read_text()
    config += '\nc.GenerateFeedback.preprocessors = ["cnncourse.no_such_module.Preprocessor"]\n'
    (course / "nbgrader_config.py").write_text(config)
    nbformat.write(_notebook(), course / "solutions" / "tiny" / "tiny.ipynb")
    release(course, ["tiny"])
    solved = _notebook()
    solved.cells[1].source = "def f():\n    return 1"
    write_submission(course, "tiny", "prompt", solved)
    _ensure_assignment_in_gradebook(course, "tiny")
    job = GradingJob("tiny", "prompt", {"nbgrader_config.py": config.encode(),
                                        **read_tree(course / "solutions" / "tiny", prefix="solutions/tiny/")},
                     _template_gradebook(course, "tiny"), read_tree(course / "submitted" / "prompt" / "tiny"),
                     grading_key(course, "tiny", "prompt"), cell_timeout=60, sandbox="auto", student_timeout=300)
    result = grade_submission(job)
    assert result.error == "", result.log[-2000:]
    assert result.scores == {"test_f": (2.0, 2.0, False)}, result.scores
    assert not any(name.endswith(".html") for name in result.feedback), sorted(result.feedback)
    assert "the scores stand; the feedback could not be written" in result.log
    assert "no_such_module" in result.log
