"""Assignment a3_architectures through the real grading pipeline: one autograde run, then questions.

The solution, the untouched release and every fixture of ``tests/fixtures/a3_architectures/``
(patch format of :mod:`cnncourse.course.submissions`) are graded in ONE ``autograde(...,
workers=2)`` call. Only the solution trains its digits CNN for real (and b22 for one short epoch);
the other fixtures replace the training cell by an untrained network (their ``expect-also-lose``
lists the graded accuracy test). Points are read from the notebook, never hard-coded.
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
from cnncourse.grading.registry import flagged_names

ROOT = Path(__file__).resolve().parents[1]
A = "a3_architectures"
VARIANTS = load_variants(ROOT / "tests" / "fixtures" / A)
SOLUTION_NB = ROOT / "solutions" / A / f"{A}.ipynb"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("a3_autograde")]

# The tamper scan flags the names of EVERY assignment's shortcut families, so what a3 asks for
# (nn.Conv2d, MaxPool2d, BatchNorm2d, F.cross_entropy, torch.autograd.grad for Grad-CAM: a1's, a2's
# and a6's families) is flagged although a3 allows it: those flags are for a human; the ones that
# matter here name a3's own references and shortcuts.
_A3_NAMES = flagged_names(A)


def _own_flags(flags: list[str]) -> list[str]:
    """The tamper flags that name one of a3's references or shortcut families."""
    return [f for f in flags if any(f"`{name}`" in f for name in _A3_NAMES)]


def _grade_all(course: Path) -> tuple[dict, str]:
    """Release, write every submission, autograde once; return (results by student, printed)."""
    make_course(ROOT, course)
    release(course, [A])
    rel = nbformat.read(course / "assignments" / A / f"{A}.ipynb", as_version=4)
    sol = nbformat.read(course / "solutions" / A / f"{A}.ipynb", as_version=4)
    for v in [parse_variant("solution", ""), parse_variant("untouched", "# op: untouched")] + VARIANTS:
        write_submission(course, A, v.name, apply_variant(rel, sol, v))
    printed = io.StringIO()
    # cell_timeout: the solution's training cell takes ~15 s on 2 free cores, minutes on a loaded machine
    results = autograde(course, [A], cell_timeout=600, memory_mb=4096, workers=2, out=printed)
    return {r.student: r for r in results[A]}, printed.getvalue()


@pytest.fixture(scope="session")
def graded(tmp_path_factory, worker_id):
    """(results by student, printed report) of ONE autograde run per pytest run (shared between
    xdist workers through a file lock, as in test_course_autograde_a5.py)."""
    if worker_id == "master":
        return _grade_all(tmp_path_factory.mktemp("course_a3"))
    shared = tmp_path_factory.getbasetemp().parent / "a3_autograde"
    shared.mkdir(exist_ok=True)
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / "results.pickle"
        if not done.exists():
            done.write_bytes(pickle.dumps(_grade_all(shared / "course")))
        return pickle.loads(done.read_bytes())


def test_there_are_enough_realistic_fixtures():
    """Are there at least 12 buggy submissions, each with a title and a test it must lose?"""
    bugs = [v for v in VARIANTS if v.name.startswith("b")]
    assert len(bugs) >= 12
    assert all(v.title and v.expectations("expect-lose") for v in bugs)


def test_solution_gets_full_marks_including_the_trained_network(graded):
    """Does the instructor's solution, trained inside the grading kernel, get every point (the
    accuracy on the grader's held-out digits included), without an a3 tamper flag?"""
    res, _ = graded
    sol = res["solution"]
    total = sum(p for _, _, p in graded_cells(SOLUTION_NB))
    assert not sol.error, sol.error
    assert len(sol.tests) == len(graded_cells(SOLUTION_NB))
    assert sol.max_score == total == 100
    assert sol.score == total, [(t.grade_id, t.score, t.message) for t in sol.tests if t.score < t.max_score]
    assert _own_flags(sol.flags) == []


def test_untouched_release_gets_zero_everywhere(graded):
    """Does the release as handed out get 0 on every graded cell, each message saying what is
    missing (NotImplementedError, or the undefined trained network), without a grading error?"""
    res, _ = graded
    blank = res["untouched"]
    assert not blank.error, blank.error
    assert len(blank.tests) == len(graded_cells(SOLUTION_NB))
    assert all(t.score == 0 for t in blank.tests), [(t.grade_id, t.score) for t in blank.tests]
    assert all(re.search(r"NotImplementedError|digits_model", t.message) for t in blank.tests), \
        [(t.grade_id, t.message) for t in blank.tests]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_bug_loses_exactly_the_points_it_should_with_a_pointed_message(graded, variant):
    """Does each buggy submission lose the test that targets its bug (0 points, a message naming
    the problem), while every test outside its expect-lose / expect-also-lose lines keeps its points?"""
    res, _ = graded
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


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.meta.get("expect-flag")], ids=lambda v: v.name)
def test_shortcuts_are_flagged_for_a_human(graded, variant):
    """Does the tamper scan name the forbidden shortcut in the submissions that use it?"""
    res, _ = graded
    (rx,) = variant.meta["expect-flag"]
    assert any(re.search(rx, f) for f in res[variant.name].flags), res[variant.name].flags
