"""Assignment a5_faces through the real grading pipeline: one autograde run, then questions.

The solution, the untouched release and every fixture of ``tests/fixtures/a5_faces/`` are graded in
ONE ``autograde(..., workers=2)`` call (scaffolding: ``tests/_pipeline.py``). Only the solution trains
its network; the fixtures replace the training cell by an untrained model (their
``expect-also-lose`` lists the graded AUC test), so the run stays within minutes. Points are read
from the notebook, never hard-coded.
"""

from __future__ import annotations

import pytest
from _pipeline import Pipeline, ids

# cell_timeout: the solution's training cell takes ~15 s on 2 free cores, minutes on a loaded machine;
# the sandbox binds the course library read-only (datasets)
P = Pipeline("a5_faces", cell_timeout=600, memory_mb=4096, workers=2)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("a5_autograde")]


@pytest.fixture(scope="session")
def graded(tmp_path_factory, worker_id):
    return P.shared(tmp_path_factory, worker_id)


def test_there_are_enough_realistic_fixtures():
    """Are there at least 12 buggy submissions, each with a title and a test it must lose (the
    shortcut fixtures too)?"""
    P.check_fixture_headers()
    assert all(v.title and v.expectations("expect-lose") for v in P.variants)


def test_solution_gets_full_marks_including_the_trained_network(graded):
    """Does the instructor's solution, trained inside the grading kernel, get every point (the AUC
    on the grader's unseen identities included), without a tamper flag?"""
    course, res, _ = graded
    P.check_solution(res)
    (auc,) = P.printed_by(course, "solution", r"AUC on \d+ images of \d+ identities the network never saw: ([0-9.]+)")
    assert float(auc) >= 0.95  # the threshold the notebook states


def test_untouched_release_gets_zero_everywhere(graded):
    """Does the release as handed out get 0 on every graded cell, each test saying what is missing,
    without a grading error?"""
    P.check_untouched(graded[1])


@pytest.mark.parametrize("variant", P.variants, ids=ids)
def test_bug_loses_exactly_the_points_it_should_with_a_pointed_message(graded, variant):
    """Does each buggy submission lose the test that targets its bug (0 points, a message naming
    the problem), while every test outside its expect-lose / expect-also-lose lines keeps its points?"""
    P.check_bug(graded[1], variant)


@pytest.mark.parametrize("variant", P.with_meta("expect-flag"), ids=ids)
def test_shortcuts_are_flagged_for_a_human(graded, variant):
    """Does the tamper scan name the forbidden shortcut (torch's loss, cdist, scikit-learn's ROC,
    the library's network) in the submissions that use it?"""
    _, res, printed = graded
    P.check_flag(res, printed, variant)
