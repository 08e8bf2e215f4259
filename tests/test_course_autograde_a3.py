"""Assignment a3_architectures through the real grading pipeline: one autograde run, then questions.

The solution, the untouched release and every fixture of ``tests/fixtures/a3_architectures/`` are
graded in ONE ``autograde(..., workers=2)`` call (scaffolding: ``tests/_pipeline.py``). Only the
solution trains its digits CNN for real (and b22 for one short epoch); the other fixtures replace the
training cell by an untrained network (their ``expect-also-lose`` lists the graded accuracy test).
Points are read from the notebook, never hard-coded.
"""

from __future__ import annotations

import pytest
from _pipeline import Pipeline, ids

# cell_timeout: the solution's training cell takes ~15 s on 2 free cores, minutes on a loaded machine
P = Pipeline("a3_architectures", cell_timeout=600, memory_mb=4096, workers=2)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("a3_autograde")]


@pytest.fixture(scope="session")
def graded(tmp_path_factory, worker_id):
    return P.shared(tmp_path_factory, worker_id)


def test_there_are_enough_realistic_fixtures():
    """Are there at least 12 buggy submissions, each with a title and a test it must lose?"""
    P.check_fixture_headers()


def test_solution_gets_full_marks_including_the_trained_network(graded):
    """Does the instructor's solution, trained inside the grading kernel, get every point (the
    accuracy on the grader's held-out digits included), without a tamper flag?"""
    course, res, _ = graded
    P.check_solution(res)
    (seconds,) = P.printed_by(course, "solution", r"trained in ([0-9.]+) s; test accuracy")
    assert float(seconds) < 180, f"training took {seconds} s in the grading kernel, over the 3-minute budget"


def test_untouched_release_gets_zero_everywhere(graded):
    """Does the release as handed out get 0 on every graded cell, each message saying what is
    missing (NotImplementedError, or the undefined trained network), without a grading error?"""
    P.check_untouched(graded[1], r"NotImplementedError|digits_model")


@pytest.mark.parametrize("variant", P.variants, ids=ids)
def test_bug_loses_exactly_the_points_it_should_with_a_pointed_message(graded, variant):
    """Does each buggy submission lose the test that targets its bug (0 points, a message naming
    the problem), while every test outside its expect-lose / expect-also-lose lines keeps its points?"""
    P.check_bug(graded[1], variant)


@pytest.mark.parametrize("variant", P.with_meta("expect-flag"), ids=ids)
def test_shortcuts_are_flagged_for_a_human(graded, variant):
    """Does the tamper scan name the forbidden shortcut in the submissions that use it?"""
    _, res, printed = graded
    P.check_flag(res, printed, variant)
