"""check_forward / check_backward: one-call layer checks used by hidden test cells."""

from __future__ import annotations

import numpy as np
import pytest

from cnncourse.grading import cases, check_backward, check_forward, describe_case
from cnncourse.grading.cases import Case
from cnncourse.layers import avg_pool2d_backward, avg_pool2d_forward


def _windows(x, kernel_size, stride):
    (kh, kw), (sh, sw) = kernel_size, stride
    h_out, w_out = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    for i in range(h_out):
        for j in range(w_out):
            yield i, j, (slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw))


def student_avg_forward(x, kernel_size, stride, divide=True):
    """A student's naive average pooling (loops over output positions)."""
    (kh, kw), (sh, sw) = kernel_size, stride
    out = np.zeros(x.shape[:2] + ((x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1), x.dtype)
    for i, j, (r, c) in _windows(x, kernel_size, stride):
        out[:, :, i, j] = x[:, :, r, c].sum(axis=(2, 3)) / (kh * kw if divide else 1)
    return out, (x.shape, kernel_size, stride)


def student_avg_backward(dout, cache, accumulate=True):
    shape, (kh, kw), stride = cache
    dx = np.zeros(shape, dout.dtype)
    for i, j, (r, c) in _windows(np.empty(shape), (kh, kw), stride):
        share = dout[:, :, i, j][:, :, None, None] / (kh * kw)
        if accumulate:
            dx[:, :, r, c] += share
        else:
            dx[:, :, r, c] = share
    return dx


def test_correct_student_passes_forward_and_backward():
    """Does a correct naive implementation pass both checks on overlapping windows and ties?"""
    check_forward(student_avg_forward, avg_pool2d_forward, cases.pool_cases(seed=3, n=5),
                  forbidden=("pool", "references"))
    check_backward(student_avg_forward, student_avg_backward, avg_pool2d_forward, avg_pool2d_backward,
                   cases.pool_cases(seed=4, n=5), forbidden=("pool", "references"))


def test_forward_failure_names_the_case_and_gives_the_hint():
    """Does a wrong forward fail with the case description and the cell's hint?"""
    def no_division(x, kernel_size, stride):
        return student_avg_forward(x, kernel_size, stride, divide=False)

    with pytest.raises(AssertionError, match=r"out \(overlapping windows \(stride < kernel\): "
                                             r"x \(2, 2, 6, 6\), kernel_size=\(3, 3\), stride=\(2, 2\)\).*MEAN"):
        check_forward(no_division, avg_pool2d_forward, cases.pool_cases(seed=0, n=2),
                      hints={"values": "each output is the MEAN of its window"})


def test_backward_failure_with_assignment_instead_of_accumulation():
    """Does `=` instead of `+=` in a backward pass fail on overlapping windows?"""
    def assigns(dout, cache):
        return student_avg_backward(dout, cache, accumulate=False)

    with pytest.raises(AssertionError, match=r"^`dx \(overlapping windows"):
        check_backward(student_avg_forward, assigns, avg_pool2d_forward, avg_pool2d_backward,
                       cases.pool_cases(seed=0, n=2))


def _ref_forward(x, b):
    return x * 2 + (0 if b is None else b), (x, b)


def _ref_backward(dout, cache):
    return 2 * dout, (None if cache[1] is None else dout.sum(axis=0))


def test_gradient_of_an_absent_parameter_must_be_none():
    """Where the reference gradient is None (no bias), must the student's be None too?"""
    no_bias = [Case("no bias", dout=np.ones((2, 3)), x=np.ones((2, 3)), b=None)]
    check_backward(_ref_forward, _ref_backward, _ref_forward, _ref_backward, no_bias, grad=1, name="db")

    def zeros_db(dout, cache):
        return 2 * dout, np.zeros(3)

    with pytest.raises(AssertionError, match=r"`db \(no bias: x \(2, 3\)\)` should be None here, got ndarray"):
        check_backward(_ref_forward, zeros_db, _ref_forward, _ref_backward, no_bias, grad=1, name="db")


def test_wrong_return_structure_is_explained():
    """Does a backward returning too few items, or a forward without a cache, fail clearly?"""
    with_bias = [Case("bias", dout=np.ones((2, 3)), x=np.ones((2, 3)), b=np.zeros(3))]

    def only_dx(dout, cache):
        return 2 * dout

    with pytest.raises(AssertionError, match=r"only_dx must return a tuple with at least 2 items, got ndarray"):
        check_backward(_ref_forward, only_dx, _ref_forward, _ref_backward, with_bias, grad=1, name="db")

    def no_cache(x, b):
        return x * 2 + b

    with pytest.raises(AssertionError, match=r"no_cache must return a tuple with at least 2 items"):
        check_backward(no_cache, _ref_backward, _ref_forward, _ref_backward, with_bias, grad=0)


def test_describe_case_lists_arrays_by_shape_and_skips_the_bias():
    """Is a case described by its label, array shapes and parameter values (bias left out)?"""
    case = Case("label", x=np.zeros((1, 2, 3, 4)), w=np.zeros((5, 2, 3, 3)), b=np.zeros(5), stride=(2, 1))
    assert describe_case(case) == "label: x (1, 2, 3, 4), w (5, 2, 3, 3), stride=(2, 1)"
