"""Tests of cnncourse.grading.sandbox: time limits, in-place checks, honest results."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnncourse.grading import ForbiddenCallError, StudentTimeout, call_student, time_limit
from cnncourse.grading.sandbox import check_plain_result


def _spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_infinite_loop_times_out():
    """Does a function that never returns raise StudentTimeout near the limit?"""
    def forever(x):
        while True:
            x = x + 1

    start = time.monotonic()
    with pytest.raises(StudentTimeout, match=r"`forever` did not finish within 0.2 s"):
        call_student(forever, 0, timeout=0.2)
    assert time.monotonic() - start < 3


def test_timeout_cannot_be_swallowed():
    """Does the timer fire again when the student catches the first StudentTimeout?"""
    def stubborn():
        try:
            _spin(10)
        except BaseException:
            pass
        _spin(10)  # the re-fire interrupts this one
        return 1

    start = time.monotonic()
    with pytest.raises(StudentTimeout):
        with time_limit(0.1):
            stubborn()
    assert time.monotonic() - start < 3


def test_caught_timeout_still_fails_the_call():
    """Does a function that catches the timeout and returns early still fail?"""
    def catch_and_return():
        try:
            _spin(10)
        except BaseException:
            return 0

    with pytest.raises(StudentTimeout):
        call_student(catch_and_return, timeout=0.1)


def test_except_exception_does_not_catch_the_timeout():
    """Is StudentTimeout outside `except Exception` (a BaseException)?"""
    assert not issubclass(StudentTimeout, Exception)


def test_fast_function_passes_and_outer_timer_is_restored():
    """Does a quick call return its value and leave an enclosing limit running?"""
    with pytest.raises(StudentTimeout):
        with time_limit(0.5, "outer"):
            assert call_student(lambda x: x * 2, np.ones(2), timeout=5).tolist() == [2.0, 2.0]
            _spin(5)


def test_in_place_modification_is_detected():
    """Is an input mutated by the student reported with its name and the first index?"""
    def relu_in_place(x):
        x[x < 0] = 0
        return x

    x = np.array([[1.0, -2.0], [-3.0, 4.0]])
    with pytest.raises(AssertionError, match=r"modified its input `x` in place \(2 element\(s\) "
                                             r"changed, first at index \(0, 1\)\)"):
        call_student(relu_in_place, x)


def test_in_place_modification_of_a_tensor_and_a_nested_input():
    """Are tensors and arrays inside a tuple argument checked as well?"""
    def bump(t):
        t.add_(1)
        return t.clone()

    with pytest.raises(AssertionError, match="`t`"):
        call_student(bump, torch.zeros(3))

    def backward(dout, cache):
        cache[0][0] = 5.0
        return dout.copy()

    with pytest.raises(AssertionError, match=r"`cache\[0\]`"):
        call_student(backward, np.ones(2), (np.zeros(2), 3))


def test_allow_inplace_for_running_statistics():
    """May a named argument (a running mean) change when the exercise allows it?"""
    def bn(x, running_mean):
        running_mean += 1.0
        return x.copy()

    out = call_student(bn, np.ones(2), running_mean=np.zeros(2), allow_inplace=("running_mean",))
    np.testing.assert_array_equal(out, np.ones(2))


class _AlwaysEqual:
    def __eq__(self, other):
        return True


class _FakeArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, dtype=bool)


class _FakeFloat(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


@pytest.mark.parametrize("make, pattern", [
    (lambda: _AlwaysEqual(), r"_AlwaysEqual object that overrides __eq__"),
    (lambda: np.zeros(3).view(_FakeArray), r"ndarray subclass \(_FakeArray\)"),
    (lambda: _FakeFloat(1.0), r"_FakeFloat object that overrides __eq__"),
    (lambda: np.array([_AlwaysEqual()], dtype=object), r"dtype object"),
    (lambda: (np.zeros(2), {"cache": _AlwaysEqual()}), r"\[1\]\['cache'\]"),
])
def test_objects_that_only_claim_equality_are_rejected(make, pattern):
    """Are always-equal objects, subclasses and object arrays refused, even nested?"""
    with pytest.raises(AssertionError, match=pattern):
        call_student(make)


def test_plain_results_are_accepted():
    """Do plain arrays, numbers, tensors and (out, cache) tuples pass the honesty check?"""
    for value in (np.zeros(2), 1.5, 3, np.float32(2), torch.ones(2), (np.ones(2), (1, None)),
                  {"a": [np.int64(1)]}):
        check_plain_result(value)


def test_forbidden_and_timeout_combine():
    """Does call_student apply its `forbidden` list?"""
    def cheat(x, w):
        return F.conv2d(x, w)

    with pytest.raises(ForbiddenCallError, match="conv2d"):
        call_student(cheat, torch.zeros(1, 1, 3, 3), torch.zeros(1, 1, 2, 2), forbidden=("conv",))


def test_student_exception_propagates_unchanged():
    """Is a bug in the student's code reported as its own exception?"""
    def buggy(x):
        return x[10]

    with pytest.raises(IndexError):
        call_student(buggy, np.zeros(3))
