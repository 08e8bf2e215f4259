"""Assignment a2_batchnorm through the real grading pipeline (model: test_course_autograde.py).

One session-scoped course holds every a2 submission (the solution, the untouched release and the
fixtures of ``tests/fixtures/a2_batchnorm/``) and is autograded ONCE; each test asks one question of
that run. Points are read from the solution notebook's metadata, never hard-coded. The written
answer (D3) is a manually graded markdown cell: the autograder gives it 0 and it is left out of
"full marks".
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
A = "a2_batchnorm"
SOLUTION = ROOT / "solutions" / A / f"{A}.ipynb"
VARIANTS = load_variants(ROOT / "tests" / "fixtures" / A)
LOSERS = [v for v in VARIANTS if v.meta.get("expect-lose")]
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("a2_autograde")]


def _manual_ids() -> set[str]:
    """Grade ids of the manually graded (markdown) cells of the solution notebook."""
    nb = nbformat.read(SOLUTION, as_version=4)
    return {gid for i, gid, _ in graded_cells(nb) if nb.cells[i].cell_type == "markdown"}


MANUAL = _manual_ids()
AUTO_POINTS = sum(p for _, gid, p in graded_cells(SOLUTION) if gid not in MANUAL)


def _grade_all(course: Path) -> tuple[dict, str]:
    """Release, write every submission, autograde once; return (results by student, printed)."""
    make_course(ROOT, course)
    release(course, [A])
    rel = nbformat.read(course / "assignments" / A / f"{A}.ipynb", as_version=4)
    sol = nbformat.read(course / "solutions" / A / f"{A}.ipynb", as_version=4)
    for v in [parse_variant("solution", ""), parse_variant("untouched", "# op: untouched")] + VARIANTS:
        write_submission(course, A, v.name, apply_variant(rel, sol, v))
    printed = io.StringIO()
    results = autograde(course, [A], cell_timeout=60, workers=2, out=printed)
    return {r.student: r for r in results[A]}, printed.getvalue()


@pytest.fixture(scope="session")
def graded(tmp_path_factory, worker_id):
    """Results by student of ONE autograde run over every a2 submission per pytest run (shared
    between xdist workers under a file lock, as in test_course_autograde.py, in case the
    ``xdist_group`` grouping does not hold)."""
    if worker_id == "master":
        return _grade_all(tmp_path_factory.mktemp("course_a2"))
    shared = tmp_path_factory.getbasetemp().parent / "a2_autograde"
    shared.mkdir(exist_ok=True)
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / "results.pickle"
        if not done.exists():
            done.write_bytes(pickle.dumps(_grade_all(shared / "course")))
        return pickle.loads(done.read_bytes())


def test_there_is_a_manual_cell_and_enough_fixtures():
    """Does the notebook have its hand-graded question, and are there at least 12 buggy fixtures?"""
    assert MANUAL == {"q_bn_learning_rates"}
    assert len([v for v in VARIANTS if v.name.startswith("b")]) >= 12


def test_solution_gets_every_autograded_point(graded):
    """Does the instructor's solution get every autograded point (the written answer waits for a human)?"""
    res, _ = graded
    sol = res["solution"]
    assert not sol.error, sol.error
    assert len(sol.tests) == len(graded_cells(SOLUTION))
    lost = [(t.grade_id, t.score, t.message) for t in sol.tests if t.grade_id not in MANUAL and t.score < t.max_score]
    assert not lost, lost
    assert sol.score == AUTO_POINTS
    assert all(t.score == 0 for t in sol.tests if t.grade_id in MANUAL)
    assert not sol.flags, sol.flags


def test_untouched_release_gets_zero_everywhere(graded):
    """Does the release as handed out get 0 on every graded cell, without a grading error?"""
    res, _ = graded
    blank = res["untouched"]
    assert not blank.error, blank.error
    assert len(blank.tests) == len(graded_cells(SOLUTION))
    assert all(t.score == 0 for t in blank.tests), [(t.grade_id, t.score) for t in blank.tests]
    auto = [t for t in blank.tests if t.grade_id not in MANUAL]
    assert all("NotImplementedError" in t.message for t in auto), [(t.grade_id, t.message) for t in auto]


@pytest.mark.parametrize("variant", LOSERS, ids=lambda v: v.name)
def test_bug_loses_points_in_the_expected_test_with_a_pointed_message(graded, variant):
    """Does each buggy submission lose the test that targets its bug, with a message naming the case
    and the likely cause, while every other autograded test keeps its points?"""
    res, _ = graded
    r = res[variant.name]
    assert not r.error, r.error
    for gid, rx in variant.expectations("expect-lose"):
        t = r.test(gid)
        assert t.score == 0, f"{variant.name}: {gid} kept its points"
        assert re.search(rx, t.message, re.S), f"{variant.name}: {gid} message {t.message!r} !~ {rx!r}"
    allowed = {gid for gid, _ in variant.expectations("expect-lose")} | MANUAL
    for value in variant.meta.get("expect-also-lose", []):
        allowed |= {g.strip() for g in value.split(",")}
    unexpected = {t.grade_id: t.message for t in r.tests if t.score < t.max_score and t.grade_id not in allowed}
    assert not unexpected, f"{variant.name}: unrelated tests lost points: {unexpected}"


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.meta.get("expect-flag")], ids=lambda v: v.name)
def test_shortcuts_are_flagged_for_a_human(graded, variant):
    """Does the tamper scan list the submissions that reach for torch/scipy/sklearn shortcuts?"""
    res, printed = graded
    r = res[variant.name]
    (rx,) = variant.meta["expect-flag"]
    assert any(re.search(rx, f) for f in r.flags), r.flags
    assert variant.name in printed.split("flagged for a human by the tamper scan:")[1]


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.meta.get("expect-full")], ids=lambda v: v.name)
def test_flagged_but_correct_keeps_its_points(graded, variant):
    """Does a correct submission that only the tamper scan catches keep its autograded points (the
    human reviewing the flag decides)?"""
    res, _ = graded
    r = res[variant.name]
    assert not r.error, r.error
    assert r.score == AUTO_POINTS, [(t.grade_id, t.message) for t in r.tests if t.score < t.max_score]
