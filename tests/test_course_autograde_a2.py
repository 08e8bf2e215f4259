"""Assignment a2_batchnorm through the real grading pipeline (scaffolding: ``tests/_pipeline.py``).

One session-scoped course holds every a2 submission (the solution, the untouched release and the
fixtures of ``tests/fixtures/a2_batchnorm/``) and is autograded ONCE; each test asks one question of
that run. Points are read from the solution notebook's metadata, never hard-coded. The written
answer (D3) is a manually graded markdown cell: the autograder gives it 0 and it is left out of
"full marks".
"""

from __future__ import annotations

import pytest
from _pipeline import Pipeline, ids

P = Pipeline("a2_batchnorm", cell_timeout=60, workers=2)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("a2_autograde")]


@pytest.fixture(scope="session")
def graded(tmp_path_factory, worker_id):
    return P.shared(tmp_path_factory, worker_id)


def test_there_is_a_manual_cell_and_enough_fixtures():
    """Does the notebook have its hand-graded question, and are there at least 12 buggy fixtures?"""
    assert P.manual == {"q_bn_learning_rates"}
    P.check_fixture_headers()


def test_solution_gets_every_autograded_point(graded):
    """Does the instructor's solution get every autograded point (the written answer waits for a human)?"""
    P.check_solution(graded[1])


def test_untouched_release_gets_zero_everywhere(graded):
    """Does the release as handed out get 0 on every graded cell, without a grading error?"""
    P.check_untouched(graded[1])


@pytest.mark.parametrize("variant", P.with_meta("expect-lose"), ids=ids)
def test_bug_loses_points_in_the_expected_test_with_a_pointed_message(graded, variant):
    """Does each buggy submission lose the test that targets its bug, with a message naming the case
    and the likely cause, while every other autograded test keeps its points?"""
    P.check_bug(graded[1], variant)


@pytest.mark.parametrize("variant", P.with_meta("expect-flag"), ids=ids)
def test_shortcuts_are_flagged_for_a_human(graded, variant):
    """Does the tamper scan list the submissions that reach for torch/scipy/sklearn shortcuts?"""
    _, res, printed = graded
    P.check_flag(res, printed, variant)


@pytest.mark.parametrize("variant", P.with_meta("expect-full"), ids=ids)
def test_flagged_but_correct_keeps_its_points(graded, variant):
    """Does a correct submission that only the tamper scan catches keep its autograded points (the
    human reviewing the flag decides)?"""
    P.check_full(graded[1], variant.name)
