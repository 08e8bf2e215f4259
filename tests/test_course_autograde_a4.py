"""Assignment a4_detection through the real grading pipeline: one autograde run, then questions.

The solution, the untouched release and every fixture of ``tests/fixtures/a4_detection/`` (patch
format of :mod:`cnncourse.course.submissions`) are graded in ONE ``autograde(..., workers=2)`` call.
Only the solution trains its detector; the fixtures replace the training cell by an untrained
model (their ``expect-also-lose`` lists the graded mAP test), so the run stays within minutes.
"""

from __future__ import annotations

import fcntl
import io
import pickle
import re
from pathlib import Path

import nbformat
import pytest

from cnncourse.course.autograde import autograde
from cnncourse.course.demo import make_course
from cnncourse.course.points import graded_cells
from cnncourse.course.release import release
from cnncourse.course.submissions import apply_variant, load_variants, parse_variant, write_submission

ROOT = Path(__file__).resolve().parents[1]
A = "a4_detection"
FIXTURES = ROOT / "tests" / "fixtures" / A
VARIANTS = load_variants(FIXTURES)
SOLUTION_NB = ROOT / "solutions" / A / f"{A}.ipynb"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("a4_autograde")]

# The tamper scan flags names of EVERY assignment's shortcut families (cnncourse.grading.tamper's
# DEFAULT_REFERENCES), so a4's own detector (torch.nn.Conv2d, BatchNorm2d: a1's and a2's families) is
# flagged although a4 allows it. Those flags are for a human; the ones that matter here are a4's.
_OTHER_ASSIGNMENTS_LAYERS = re.compile(r"`torch\.nn\.(Conv2d|MaxPool2d|BatchNorm2d)`")


def _grade_all(course: Path) -> tuple[dict, str]:
    """Release, write every submission, autograde once; return (results by student, printed)."""
    make_course(ROOT, course)
    release(course, [A])
    rel = nbformat.read(course / "assignments" / A / f"{A}.ipynb", as_version=4)
    sol = nbformat.read(course / "solutions" / A / f"{A}.ipynb", as_version=4)
    for v in [parse_variant("solution", ""), parse_variant("untouched", "# op: untouched")] + VARIANTS:
        write_submission(course, A, v.name, apply_variant(rel, sol, v))
    printed = io.StringIO()
    # cell_timeout: the solution's training cell takes ~20 s of CPU on one core, minutes on a loaded machine.
    # the sandbox binds the course library read-only (datasets), so the default sandbox is used
    results = autograde(course, [A], cell_timeout=600, memory_mb=4096, workers=2, out=printed)
    return {r.student: r for r in results[A]}, printed.getvalue()


@pytest.fixture(scope="session")
def graded(tmp_path_factory, worker_id):
    """(course_dir, results by student, printed report) of ONE autograde run per pytest run
    (shared between xdist workers through a file lock, as in test_course_autograde.py)."""
    if worker_id == "master":
        course = tmp_path_factory.mktemp("course_a4")
        return (course, *_grade_all(course))
    shared = tmp_path_factory.getbasetemp().parent / "a4_autograde"
    shared.mkdir(exist_ok=True)
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / "results.pickle"
        if not done.exists():
            results = _grade_all(shared / "course")
            done.write_bytes(pickle.dumps(results))
        results = pickle.loads(done.read_bytes())
    return (shared / "course", *results)


def test_solution_gets_full_marks_including_the_trained_detector(graded):
    """Does the instructor's solution, trained inside the grading kernel, get every point (the mAP@0.5
    on the grader's held-out shapes images included), without an a4 tamper flag?"""
    _, res, printed = graded
    sol = res["solution"]
    total = sum(p for _, _, p in graded_cells(SOLUTION_NB))
    assert not sol.error, sol.error
    assert sol.max_score == total == 100
    assert sol.score == total, [(t.grade_id, t.score, t.message) for t in sol.tests if t.score < t.max_score]
    assert [f for f in sol.flags if not _OTHER_ASSIGNMENTS_LAYERS.search(f)] == []


def test_untouched_release_gets_zero_everywhere(graded):
    """Does the release as handed out get 0 on every graded cell, without a grading error?"""
    _, res, _ = graded
    blank = res["untouched"]
    assert not blank.error, blank.error
    assert len(blank.tests) == len(graded_cells(SOLUTION_NB))
    assert all(t.score == 0 for t in blank.tests), [(t.grade_id, t.score) for t in blank.tests]
    assert any("NotImplementedError" in t.message for t in blank.tests)


def test_there_are_enough_realistic_fixtures():
    """Are there at least 12 buggy submissions, each with a title and a test it must lose?"""
    assert len(VARIANTS) >= 12
    assert all(v.title and v.expectations("expect-lose") for v in VARIANTS)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_bug_loses_exactly_the_points_it_should_with_a_pointed_message(graded, variant):
    """Does each buggy submission lose the test that targets its bug (0 points, a message naming
    the problem), while every test outside its expect-lose / expect-also-lose lines keeps its points?"""
    _, res, _ = graded
    r = res[variant.name]
    assert not r.error, r.error
    for gid, rx in variant.expectations("expect-lose"):
        t = r.test(gid)
        assert t.score == 0, f"{variant.name}: {gid} kept its points"
        assert re.search(rx, t.message, re.S), f"{variant.name}: {gid} message {t.message!r} !~ {rx!r}"
    allowed = {gid for gid, _ in variant.expectations("expect-lose")}
    for value in variant.meta.get("expect-also-lose", []):
        allowed |= {g.strip() for g in value.split(",")}
    unexpected = {t.grade_id: t.message for t in r.tests if t.score < t.max_score and t.grade_id not in allowed}
    assert not unexpected, f"{variant.name}: unrelated tests lost points: {unexpected}"

