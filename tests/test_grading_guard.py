"""Tests of cnncourse.grading.guard: forbidden calls from student code, never from the library."""

from __future__ import annotations

import functools
import sys
import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import as_strided as _aliased_as_strided  # a student's import-time alias

from cnncourse.grading import ForbiddenCallError, forbid
from cnncourse.grading.guard import resolve_name

X = torch.zeros(1, 1, 4, 4)
W = torch.ones(1, 1, 2, 2)


def test_direct_call_is_refused_with_a_clear_message():
    """Does a direct F.conv2d call inside the guard raise, naming the function?"""
    with pytest.raises(ForbiddenCallError, match=r"`torch.nn.functional.conv2d` is not allowed"):
        with forbid("torch.nn.functional.conv2d"):
            F.conv2d(X, W)


def test_alias_made_before_the_guard_is_refused():
    """Is an alias bound at import time (from ... import as_strided) caught too?"""
    def student(x):
        return _aliased_as_strided(x, shape=(2, 2), strides=(8, 8))

    with pytest.raises(ForbiddenCallError, match="as_strided"):
        with forbid("numpy.lib.stride_tricks.as_strided"):
            student(np.arange(4.0))


@pytest.mark.parametrize("trick", ["dict", "partial", "torch_alias", "getattr", "module"])
def test_indirect_calls_of_a_builtin_are_refused(trick):
    """Are builtins reached through containers, partials, other names or nn.Conv2d refused?"""
    ops = {"conv": F.conv2d}
    calls = {
        "dict": lambda: ops["conv"](X, W),
        "partial": lambda: functools.partial(F.conv2d, weight=W)(X),
        "torch_alias": lambda: torch.conv2d(X, W),
        "getattr": lambda: getattr(F, "con" + "v2d")(X, W),
        "module": lambda: torch.nn.Conv2d(1, 1, 2)(X),
    }
    with pytest.raises(ForbiddenCallError):
        with forbid("torch.nn.functional.conv2d"):
            calls[trick]()


def test_sliding_window_view_dispatcher_is_refused():
    """Is numpy's sliding_window_view (an array-function dispatcher object) caught?"""
    from numpy.lib.stride_tricks import sliding_window_view as swv

    with pytest.raises(ForbiddenCallError, match="sliding_window_view"):
        with forbid("stride_tricks"):
            swv(np.arange(5.0), 2)


def test_library_internal_calls_are_allowed():
    """Does a reference that uses a forbidden function internally still work inside the guard?"""
    from cnncourse.layers import zero_pad2d  # uses np.full internally

    x = np.arange(12.0).reshape(1, 1, 3, 4)
    with forbid("numpy.full"):
        out = zero_pad2d(x, 1)
    with pytest.raises(ForbiddenCallError, match="numpy.full"):
        with forbid("numpy.full"):
            np.full((2, 2), 0.0)  # the same function called by student code is refused
    expected = np.zeros((1, 1, 5, 6))
    expected[:, :, 1:4, 1:5] = x
    np.testing.assert_array_equal(out, expected)


def test_reference_called_by_name_is_refused_for_students():
    """Is a cnncourse reference named in the guard refused when student code calls it?"""
    import cnncourse.layers as layers

    x = np.zeros((1, 1, 3, 3))
    with pytest.raises(ForbiddenCallError, match="cnncourse.layers.zero_pad2d"):
        with forbid("cnncourse.layers.zero_pad2d"):
            layers.zero_pad2d(x, 1)
    assert layers.zero_pad2d(x, 1).shape == (1, 1, 5, 5)  # restored afterwards


def test_everything_is_restored_after_an_exception():
    """After a block that raised, are attributes and the profile hook back to their originals?"""
    original = F.conv2d
    before = sys.getprofile()
    with pytest.raises(KeyError):
        with forbid("torch.nn.functional.conv2d", "numpy.lib.stride_tricks.as_strided"):
            assert F.conv2d is not original  # patched inside
            raise KeyError("student bug")
    assert F.conv2d is original
    assert np.lib.stride_tricks.as_strided.__name__ == "as_strided"
    assert sys.getprofile() is before
    assert F.conv2d(X, W).shape == (1, 1, 3, 3)


def test_swallowed_refusal_is_reported_on_exit():
    """If the student catches ForbiddenCallError and carries on, does the guard still fail?"""
    def sneaky():
        try:
            return F.conv2d(X, W)
        except Exception:
            return torch.zeros(1, 1, 3, 3)

    with pytest.raises(ForbiddenCallError, match="caught the error"):
        with forbid("conv"):
            sneaky()


def test_refusal_in_a_thread_is_reported():
    """Is a forbidden call made from a thread the student starts caught?"""
    def work():
        try:
            torch.conv2d(X, W)
        except ForbiddenCallError:
            pass

    with pytest.raises(ForbiddenCallError):
        with forbid("torch.conv2d"):
            t = threading.Thread(target=work)
            t.start()
            t.join()


def test_nested_guards_restore_only_their_own_names():
    """Does an inner guard leave the outer one active when it exits?"""
    with pytest.raises(ForbiddenCallError, match="conv2d"):
        with forbid("torch.nn.functional.conv2d"):
            with pytest.raises(ForbiddenCallError, match="numpy.full"):
                with forbid("numpy.full"):
                    np.full(2, 1.0)
            np.full(2, 1.0)  # allowed again
            F.conv2d(X, W)


def test_allowed_code_runs_normally_inside_the_guard():
    """Is non-forbidden numpy/torch usable inside the guard, with correct results?"""
    with forbid("conv", "stride_tricks"):
        out = np.einsum("ij,jk->ik", np.eye(2), np.ones((2, 2)))
        t = torch.relu(torch.tensor([-1.0, 2.0]))
    np.testing.assert_array_equal(out, np.ones((2, 2)))
    assert t.tolist() == [0.0, 2.0]


def test_name_resolution_errors():
    """Does a typo raise ValueError while a missing package is skipped?"""
    with pytest.raises(ValueError, match="numpy.not_a_function"):
        with forbid("numpy.not_a_function"):
            pass
    assert resolve_name("surely_not_installed_pkg.f") is None
    with forbid("surely_not_installed_pkg.f"):
        pass
