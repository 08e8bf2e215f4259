"""Assignment a6_segmentation through the real grading pipeline: one autograde run, then questions.

The solution, the untouched release and every fixture of ``tests/fixtures/a6_segmentation/`` (patch
format of :mod:`cnncourse.course.submissions`) are graded in ONE ``autograde(..., workers=2)`` call.
Only the solution trains its FCN (and runs the CE vs CE + Dice comparison); the fixtures replace both
cells by an untrained network (their ``expect-also-lose`` lists the graded mean-IoU test), so the run
stays within minutes. The written answer (E2) is a manually graded markdown cell: the autograder gives
it 0 and it is left out of "full marks". Points are read from the notebook, never hard-coded.
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
A = "a6_segmentation"
SOLUTION = ROOT / "solutions" / A / f"{A}.ipynb"
VARIANTS = load_variants(ROOT / "tests" / "fixtures" / A)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("a6_autograde")]

# The tamper scan flags names of EVERY assignment's shortcut families (cnncourse.grading.tamper's
# DEFAULT_REFERENCES), so the FCN's own layers (torch.nn.Conv2d, BatchNorm2d, max pooling: a1/a2's
# families) and the training step's backward() are flagged although a6 allows them. Those flags are
# for a human; the ones that matter here are the others.
_ALLOWED_LAYERS = re.compile(r"`torch\.nn\.(Conv2d|BatchNorm2d|MaxPool2d)`|max_pool2d|backward")


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
    # cell_timeout: the solution's training cell takes about a minute on a free core, more when loaded
    results = autograde(course, [A], cell_timeout=600, memory_mb=4096, workers=2, out=printed)
    return {r.student: r for r in results[A]}, printed.getvalue()


@pytest.fixture(scope="session")
def graded(tmp_path_factory, worker_id):
    """(results by student, printed report) of ONE autograde run per pytest run (shared between
    xdist workers through a file lock, as in test_course_autograde.py)."""
    if worker_id == "master":
        return _grade_all(tmp_path_factory.mktemp("course_a6"))
    shared = tmp_path_factory.getbasetemp().parent / "a6_autograde"
    shared.mkdir(exist_ok=True)
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / "results.pickle"
        if not done.exists():
            done.write_bytes(pickle.dumps(_grade_all(shared / "course")))
        return pickle.loads(done.read_bytes())


def test_there_is_a_manual_cell_and_enough_fixtures():
    """Does the notebook have its hand-graded question, and are there at least 12 buggy fixtures,
    each with a title and a test it must lose?"""
    assert MANUAL == {"q_ce_vs_dice"}
    assert len([v for v in VARIANTS if v.name.startswith("b")]) >= 12
    assert all(v.title and v.expectations("expect-lose") for v in VARIANTS)


def test_solution_gets_every_autograded_point_including_the_trained_fcn(graded):
    """Does the instructor's solution, trained inside the grading kernel, get every autograded point
    (the mean IoU on the grader's images included), without an a6 tamper flag?"""
    res, _ = graded
    sol = res["solution"]
    assert not sol.error, sol.error
    assert len(sol.tests) == len(graded_cells(SOLUTION))
    lost = [(t.grade_id, t.score, t.message) for t in sol.tests if t.grade_id not in MANUAL and t.score < t.max_score]
    assert not lost, lost
    assert sol.score == AUTO_POINTS
    assert all(t.score == 0 for t in sol.tests if t.grade_id in MANUAL)
    assert [f for f in sol.flags if not _ALLOWED_LAYERS.search(f)] == []


def test_untouched_release_gets_zero_everywhere(graded):
    """Does the release as handed out get 0 on every graded cell, without a grading error?"""
    res, _ = graded
    blank = res["untouched"]
    assert not blank.error, blank.error
    assert len(blank.tests) == len(graded_cells(SOLUTION))
    assert all(t.score == 0 for t in blank.tests), [(t.grade_id, t.score) for t in blank.tests]
    auto = [t for t in blank.tests if t.grade_id not in MANUAL]
    assert all(re.search("NotImplementedError|not defined", t.message) for t in auto), [(t.grade_id, t.message) for t in auto]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_bug_loses_exactly_the_points_it_should_with_a_pointed_message(graded, variant):
    """Does each buggy submission lose the test that targets its bug (0 points, a message naming the
    case and the likely cause), while every test outside its expect-lose / expect-also-lose lines
    keeps its points?"""
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
    """Does the tamper scan name the forbidden shortcut (torch's cross-entropy, the library's FCN) in
    the submissions that use it?"""
    res, _ = graded
    (rx,) = variant.meta["expect-flag"]
    assert any(re.search(rx, f) for f in res[variant.name].flags), res[variant.name].flags
