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


# ---------------------------------------------------------------------------- no_alias
def _pad_lazily(x, padding):
    """A careless zero padding: nothing to pad, so it hands back the input itself."""
    if padding == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))


def test_no_alias_fails_when_the_result_is_the_input_or_a_view():
    """Does `no_alias=True` refuse a result that is the input (or a view of it), naming the input,
    while a new array, and the same call without `no_alias`, pass?"""
    x = np.ones((1, 1, 2, 2))
    with pytest.raises(AssertionError, match=r"`_pad_lazily`: the array it returned shares memory with its input `x`"):
        call_student(_pad_lazily, x, 0, no_alias=True)
    with pytest.raises(AssertionError, match=r"shares memory with its input `x`"):
        call_student(lambda x: x[:, :, ::1], x=x, no_alias=True)
    assert call_student(_pad_lazily, x, 0) is x                      # not asked: not checked
    assert call_student(_pad_lazily, x, 1, no_alias=True).shape == (1, 1, 4, 4)
    with pytest.raises(AssertionError, match=r"shares memory with its input `t`"):
        call_student(lambda t: t.view(-1), torch.ones(3), no_alias=True)


def test_no_alias_items_select_which_results_must_be_new():
    """With `no_alias=(0,)`, may the cache of `(out, cache)` keep the input while `out` may not?"""
    def forward_keeping_x(x):
        return x * 2, (x, 3)

    def forward_returning_x(x):
        return x, (x, 3)

    x = np.arange(4.0)
    out, cache = call_student(forward_keeping_x, x, no_alias=(0,))
    assert cache[0] is x
    with pytest.raises(AssertionError, match=r"the returned `result\[1\]\[0\]` shares memory with its input `x`"):
        call_student(forward_keeping_x, x, no_alias=True)
    with pytest.raises(AssertionError, match=r"the returned `result\[0\]` shares memory"):
        call_student(forward_returning_x, x, no_alias=(0,))


class _LoopbackChannel:
    """The student's side of the wire (remote/server.py) run in this process, through real files."""

    def __init__(self, folder):
        import types

        from cnncourse.grading.remote import Channel, server_source

        self.server = types.ModuleType("_test_rpc")
        exec(compile(server_source(), "<rpc>", "exec"), vars(self.server))
        server, count = self.server, [0]

        class Loopback(Channel):
            def exchange(self, doc, arrays, timeout):
                from cnncourse.grading.remote.wire import dumps, loads

                count[0] += 1
                req, resp = folder / f"req{count[0]}.npz", folder / f"resp{count[0]}.npz"
                req.write_bytes(dumps(doc, arrays))
                server.serve(str(req), str(resp))
                return loads(resp.read_bytes())

        self.channel = Loopback()

    def remote(self, fn):
        from cnncourse.grading.remote import RemoteObject

        node = self.server._make_ref(fn)
        return RemoteObject(self.channel, node["id"], node["kind"], node["callable"])


def test_no_alias_through_the_student_kernel(tmp_path):
    """For a function in the student's kernel (a proxy), does `no_alias` use the kernel's report
    (`CallResult.aliases`), name the input of a keyword or a positional argument, and honour
    `no_alias=(0,)` for a cache holding the input?"""
    loop = _LoopbackChannel(tmp_path)
    pad = loop.remote(_pad_lazily)
    x = np.ones((1, 1, 2, 2))
    with pytest.raises(AssertionError, match=r"the array it returned shares memory with its input `x`"):
        call_student(pad, x=x, padding=0, no_alias=True)
    with pytest.raises(AssertionError, match=r"shares memory with its input `argument 1`"):
        call_student(pad, x, 0, no_alias=True)
    np.testing.assert_array_equal(call_student(pad, x=x, padding=0), x)   # not asked: passes
    assert call_student(pad, x=x, padding=1, no_alias=True).shape == (1, 1, 4, 4)
    keep = loop.remote(lambda x: (x * 2, (x, 3)))
    out, cache = call_student(keep, x=x, no_alias=(0,))
    np.testing.assert_array_equal(out, 2 * x)
    with pytest.raises(AssertionError, match=r"the returned `result\[1\]\[0\]` shares memory with its input `x`"):
        call_student(keep, x=x, no_alias=True)
