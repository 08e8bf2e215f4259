"""Assignment a6_segmentation through the real grading pipeline: one autograde run, then questions.

The solution, the untouched release and every fixture of ``tests/fixtures/a6_segmentation/`` are
graded in ONE ``autograde(..., workers=2)`` call (scaffolding: ``tests/_pipeline.py``). Only the
solution trains its FCN (and runs the CE vs CE + Dice comparison); the fixtures replace both cells by
an untrained network (their ``expect-also-lose`` lists the graded mean-IoU test), so the run stays
within minutes. The written answer (E2) is a manually graded markdown cell: the autograder gives it 0
and it is left out of "full marks". Points are read from the notebook, never hard-coded.
"""

from __future__ import annotations

import pytest
from _pipeline import Pipeline, ids

# cell_timeout: the solution's training cell takes about a minute on a free core, more when loaded
P = Pipeline("a6_segmentation", cell_timeout=600, memory_mb=4096, workers=2)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("a6_autograde")]


@pytest.fixture(scope="session")
def graded(tmp_path_factory, worker_id):
    return P.shared(tmp_path_factory, worker_id)


def test_there_is_a_manual_cell_and_enough_fixtures():
    """Does the notebook have its hand-graded question, and are there at least 12 buggy fixtures,
    each with a title and a test it must lose?"""
    assert P.manual == {"q_ce_vs_dice"}
    P.check_fixture_headers()


def test_solution_gets_every_autograded_point_including_the_trained_fcn(graded):
    """Does the instructor's solution, trained inside the grading kernel, get every autograded point
    (the mean IoU on the grader's images included), without a tamper flag?"""
    _, res, _ = graded
    P.check_solution(res)


def test_solution_trains_within_budget_to_the_required_mean_iou(graded):
    """In the grading kernel (one thread, sandboxed): did the solution's FCN train in under 3 minutes,
    and what mean IoU did the grader measure on its own new images (>= 0.8)?"""
    course, _, _ = graded
    (seconds,) = P.printed_by(course, "solution", r"trained in ([0-9.]+) s")
    (miou,) = P.printed_by(course, "solution", r"mean IoU on \d+ new images: ([0-9.]+)")
    print(f"a6 solution in the grading kernel: trained in {seconds} s, grader's mean IoU {miou}")
    assert float(seconds) < 180, f"training took {seconds} s, the assignment promises under 3 minutes"
    assert float(miou) >= 0.8


def test_untouched_release_gets_zero_everywhere(graded):
    """Does the release as handed out get 0 on every graded cell, each autograded test saying what
    is missing, without a grading error?"""
    P.check_untouched(graded[1], "NotImplementedError|not defined")


@pytest.mark.parametrize("variant", P.variants, ids=ids)
def test_bug_loses_exactly_the_points_it_should_with_a_pointed_message(graded, variant):
    """Does each buggy submission lose the test that targets its bug (0 points, a message naming the
    case and the likely cause), while every test outside its expect-lose / expect-also-lose lines
    keeps its points?"""
    P.check_bug(graded[1], variant)


@pytest.mark.parametrize("variant", P.with_meta("expect-flag"), ids=ids)
def test_shortcuts_are_flagged_for_a_human(graded, variant):
    """Does the tamper scan name the forbidden shortcut (torch's cross-entropy, the library's FCN) in
    the submissions that use it?"""
    _, res, printed = graded
    P.check_flag(res, printed, variant)
