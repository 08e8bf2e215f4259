"""The grading pipeline end to end, through the real nbgrader commands.

One session-scoped course directory holds ALL submissions (the solution, the untouched release,
the buggy and the tampered fixtures of ``tests/fixtures/a1_conv/``) and is autograded once; each
test then asks one question of that run. Fixture files use the patch format of
:mod:`cnncourse.course.submissions`; their ``expect-*`` header lines say what the grader must find.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sqlite3
from pathlib import Path

import nbformat
import pytest
from _pipeline import ROOT, Pipeline, ids

from cnncourse.course.report import format_table
from cnncourse.course.submissions import apply_variant, parse_variant, write_submission

A = "a1_conv"


def _digests(course: Path) -> dict[str, str]:
    """sha256 of the course's own files (configuration, sources): a student must change none."""
    files = [course / "nbgrader_config.py"] + sorted((course / "solutions").rglob("*.ipynb"))
    return {str(p.relative_to(course)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _snapshot(course: Path) -> None:
    (course / "snapshot.json").write_text(json.dumps(_digests(course)))


def _extra_submissions(course: Path, rel, sol) -> None:
    """Careless but correct: an empty extra notebook beside the submission; the notebook saved under
    the browser's "(1)" name. An attack: a `cnncourse` package beside a blank notebook, to replace
    the grading toolkit."""
    solved = apply_variant(rel, sol, parse_variant("solution", ""))
    write_submission(course, A, "extra_untitled", solved)
    (course / "submitted" / "extra_untitled" / A / "Untitled.ipynb").write_text("")
    write_submission(course, A, "renamed_copy", solved, filename=f"{A} (1).ipynb")
    write_submission(course, A, "planted_package", rel)
    planted = course / "submitted" / "planted_package" / A / "cnncourse" / "grading"
    planted.mkdir(parents=True)
    (planted.parent / "__init__.py").write_text("")
    (planted / "__init__.py").write_text("def assert_array_close(*a, **k): pass\ndef check_forward(*a, **k): pass\n"
                                         "def check_backward(*a, **k): pass\ndef call_student(f, *a, **k): return None\n")


P = Pipeline(A, before=_snapshot, extra=_extra_submissions, cell_timeout=30, memory_mb=3072)
VARIANTS = P.variants
BUGS = [v for v in VARIANTS if v.name.startswith("b")]
FAULTS = [v for v in VARIANTS if v.name.startswith("f")]
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("a1_autograde")]


@pytest.fixture(scope="session")
def graded(tmp_path_factory, worker_id):
    """(course_dir, results by student, printed report) of ONE autograde run per pytest run."""
    return P.shared(tmp_path_factory, worker_id)


def test_solution_gets_full_marks(graded):
    """Does the instructor's solution, submitted as a student would, get every point?"""
    P.check_solution(graded[1])


def test_untouched_release_gets_zero_everywhere(graded):
    """Does the release as handed out get 0 on every graded cell, each test saying what is missing,
    without a grading error?"""
    P.check_untouched(graded[1], r"NotImplementedError|not defined")


@pytest.mark.parametrize("variant", BUGS + [v for v in FAULTS if v.meta.get("expect-lose")], ids=ids)
def test_bug_loses_points_in_the_expected_test_with_a_pointed_message(graded, variant):
    """Does each buggy submission lose the points of the test that targets its bug, with a
    feedback message that names the problem, while every other test keeps its points? (Tests that
    legitimately depend on the broken function, e.g. the student's own gradient check, are listed
    in the fixture's ``expect-also-lose`` line.)"""
    P.check_bug(graded[1], variant)


@pytest.mark.parametrize("variant", [v for v in FAULTS if v.meta.get("expect-error")], ids=ids)
def test_broken_submission_gets_zero_and_a_clear_reason(graded, variant):
    """Does a crashing or unreadable submission get 0 on every cell and a reason in the report?"""
    _, res, printed = graded
    r = res[variant.name]
    (rx,) = variant.meta["expect-error"]
    assert re.search(rx, r.error), r.error
    assert r.tests and all(t.score == 0 for t in r.tests)
    assert f"ERROR (graded 0): {r.error}" in printed


def test_restored_and_duplicated_cells_are_graded_from_the_gradebook(graded):
    """Are deleted/edited test cells restored (so bugs still cost points) and duplicates ignored?"""
    course, res, _ = graded
    dup = res["f05_duplicated_cells"]
    assert dup.score == dup.max_score and not dup.error, (dup.error, [(t.grade_id, t.message) for t in dup.tests])
    graded_nb = nbformat.read(course / "autograded" / "f04_deleted_and_edited_test_cells" / A / f"{A}.ipynb",
                              as_version=4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in graded_nb.cells]
    assert "test_avg_pool_forward" in ids  # re-inserted
    edited = graded_nb.cells[ids.index("test_conv_output_size")]
    assert "check_int" in edited.source and "nothing to see here" not in edited.source


@pytest.mark.parametrize("variant", [v for v in FAULTS if v.meta.get("expect-flag")], ids=ids)
def test_tampering_is_flagged_for_a_human(graded, variant):
    """Does the tamper scan list the submissions that patch libraries/helpers or call references?"""
    _, res, printed = graded
    P.check_flag(res, printed, variant)


def test_gradebook_csv_and_feedback_are_consistent(graded):
    """Does every student have exactly one row per graded cell in the gradebook, matching
    grades.csv and the printed table, and feedback HTML when the notebook could be graded?"""
    course, res, printed = graded
    con = sqlite3.connect(course / "gradebook.db")
    rows = con.execute("select student.id, count(grade.id) from grade "
                       "join submitted_notebook on grade.notebook_id = submitted_notebook.id "
                       "join submitted_assignment on submitted_notebook.assignment_id = submitted_assignment.id "
                       "join student on submitted_assignment.student_id = student.id group by student.id").fetchall()
    con.close()
    assert dict(rows) == {name: len(P.cells) for name in res}
    with open(course / "grades.csv", newline="") as fh:
        csv_scores = {row["student_id"]: float(row["score"]) for row in csv.DictReader(fh)}
    assert csv_scores == {name: r.score for name, r in res.items()}
    assert format_table(list(res.values())) in printed
    for name, r in res.items():
        assert (r.feedback is not None) == (not r.error), name


@pytest.mark.parametrize("student", ["extra_untitled", "renamed_copy"]
                         + [v.name for v in FAULTS if v.meta.get("expect-full")])
def test_careless_but_correct_and_contained_attacks_keep_full_marks(graded, student):
    """Does a correct notebook keep every point despite an extra notebook, a renamed file, a stderr
    line saying "Error", or tampering that only reaches the student's own kernel?"""
    P.check_full(graded[1], student)


@pytest.mark.parametrize("student", ["planted_package"] + [v.name for v in FAULTS if v.meta.get("expect-zero")])
def test_attacks_on_the_grader_earn_nothing(graded, student):
    """Does a blank notebook stay at 0 when it ships a fake `cnncourse` or hooks IPython (input
    transformers, exception handlers), since the hidden tests run in the grader, not in its kernel?"""
    _, res, _ = graded
    r = res[student]
    assert not r.error, r.error
    assert r.tests and all(t.score == 0 for t in r.tests), [(t.grade_id, t.score) for t in r.tests]


def test_the_sandbox_keeps_the_course_untouched(graded):
    """After a submission that searched for and overwrote course files: are the configuration, the
    solutions and the gradebook intact, and did the sandbox show it none of them?"""
    course, res, _ = graded
    assert _digests(course) == json.loads((course / "snapshot.json").read_text())
    con = sqlite3.connect(course / "gradebook.db")
    assert con.execute("select count(*) from student").fetchone()[0] == len(res)
    con.close()
    from cnncourse.course.bwrap import bwrap_available
    if bwrap_available():
        pytest.skip(f"no sandbox here ({bwrap_available()}): the student's code could see the course")
    log = (course / "autograded" / "f15_reads_and_writes_the_course" / f"{A}.autograde.log").read_text()
    assert "sandbox: bwrap" in log


def test_grading_seeds_are_secret_recorded_and_reused(graded):
    """Is each student's grading key recorded in the gradebook (so a regrade draws the same cases),
    different between students, and never the public seed?"""
    course, res, _ = graded
    from cnncourse.course.autograde import grading_key
    con = sqlite3.connect(course / "gradebook.db")
    keys = dict(con.execute("select student, key from cnncourse_grading_key where assignment=?", (A,)).fetchall())
    con.close()
    assert set(keys) == set(res) and len(set(keys.values())) == len(keys)
    assert grading_key(course, A, "solution") == keys["solution"]


def test_feedback_never_shows_a_hidden_test(graded):
    """Does no line of any hidden test (its code, its seeds) appear in any student's feedback HTML,
    while each test's name and the grader's message do?"""
    import html

    course, res, _ = graded
    sol = nbformat.read(ROOT / "solutions" / A / f"{A}.ipynb", as_version=4)
    secret, public = set(), set()
    for cell in sol.cells:
        before, marker, rest = cell.source.partition("### BEGIN HIDDEN TESTS")
        region, _, after = rest.partition("### END HIDDEN TESTS")
        secret |= {ln.strip() for ln in region.splitlines() if len(ln.strip()) > 12}
        public |= {ln.strip() for ln in (before + after).splitlines()}
    secret -= public  # a line that also stands in a visible cell (`if b is not None:`) is no leak
    assert secret
    pages = sorted((course / "feedback").rglob("*.html"))
    assert pages
    for page in pages:
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
        leaked = [ln for ln in secret if ln in text]
        assert not leaked, f"{page}: {leaked[:3]}"
    carol = (course / "feedback" / "b01_output_size_off_by_one" / A / f"{A}.html").read_text(encoding="utf-8")
    assert "hidden test `test_conv_output_size`" in carol and "off by one" in html.unescape(carol)
