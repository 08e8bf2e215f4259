"""Tests of cnncourse.grading.compare: each check fails on the wrong thing with a TA hint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnncourse.grading import assert_array_close, assert_arrays_close, check_int, check_scalar


def test_correct_answer_passes(rng):
    """Does an equal (or float-noise-close) answer pass?"""
    x = rng.standard_normal((2, 3, 4, 4))
    assert_array_close(x + 1e-12, x)
    assert_array_close(x.astype(np.float32), x.astype(np.float32) * (1 + 1e-6))


@pytest.mark.parametrize("got, exp, pattern", [
    ((2, 3, 5, 5), (2, 3, 6, 6), r"shape \(2, 3, 5, 5\), expected \(2, 3, 6, 6\): check the "
                                 r"padding term of the output size"),
    ((2, 3, 8, 8), (2, 3, 6, 6), r"off by \+2 = 2\*\+1: check the padding term 2\*P"),
    ((2, 3, 11, 11), (2, 3, 4, 4), r"too large: is the stride S applied"),
    ((2, 3, 6, 5), (2, 3, 6, 6), r"width \(axis 3\).*only one spatial axis"),
    ((2, 6, 6, 3), (2, 3, 6, 6), r"axes are transposed"),
    ((2, 4, 6, 6), (2, 3, 6, 6), r"wrong number of channels"),
    ((1, 3, 6, 6), (2, 3, 6, 6), r"batch axis N must be kept"),
    ((2, 3, 6), (2, 3, 6, 1), r"axis of size 1"),
    ((2, 3, 6, 6), (3,), r"extra axis.*sum over it"),
])
def test_shape_mismatch_messages(got, exp, pattern):
    """Does a wrong shape fail before values, with a hint pointing at the likely bug?"""
    with pytest.raises(AssertionError, match=pattern):
        assert_array_close(np.zeros(got), np.zeros(exp))


def test_hints_override_the_automatic_one():
    """Does `hints` replace the automatic advice for that failure kind?"""
    with pytest.raises(AssertionError, match=r"expected \(2, 3, 6, 6\): use padding=1 here$"):
        assert_array_close(np.zeros((2, 3, 5, 5)), np.zeros((2, 3, 6, 6)),
                           hints={"shape": "use padding=1 here"})


@pytest.mark.parametrize("value, pattern", [
    (None, r"`out` is None: did you forget a `return`"),
    ([[0.0]], r"is a list of length 1, expected a numpy.ndarray"),
    ((np.zeros((1, 1)), ()), r"tuple of length 2.*\(out, cache\)"),
    (torch.zeros(1, 1), r"is a torch.Tensor, expected a numpy.ndarray"),
    (np.array([["a"]]), r"dtype <U1, expected a numeric array"),
])
def test_wrong_types_are_explained(value, pattern):
    """Are None, lists, tuples, tensors and string arrays refused with a reason?"""
    with pytest.raises(AssertionError, match=pattern):
        assert_array_close(value, np.zeros((1, 1)), name="out")


def test_always_equal_objects_are_rejected():
    """Can an object whose __eq__ is always True, or an ndarray subclass, pass? (It must not.)"""
    class Liar:
        shape = (2,)
        dtype = np.dtype(float)

        def __eq__(self, other):
            return True

    class LiarArray(np.ndarray):
        def __eq__(self, other):
            return np.ones(self.shape, bool)

    with pytest.raises(AssertionError, match="expected a numpy.ndarray"):
        assert_array_close(Liar(), np.zeros(2))
    with pytest.raises(AssertionError, match="ndarray subclass"):
        assert_array_close(np.ones(2).view(LiarArray), np.zeros(2))


def test_dtype_kind_and_exact_dtype():
    """Is an integer result for a float answer refused, and exact_dtype enforced when asked?"""
    with pytest.raises(AssertionError, match=r"dtype int64, expected float64: an integer"):
        assert_array_close(np.zeros(3, dtype=np.int64), np.zeros(3))
    assert_array_close(np.zeros(3, np.float32), np.zeros(3))  # same kind is fine by default
    with pytest.raises(AssertionError, match="expected exactly float64"):
        assert_array_close(np.zeros(3, np.float32), np.zeros(3), exact_dtype=True)


def test_non_finite_values_are_reported_first():
    """Are NaN/inf reported with their index before any value comparison?"""
    got = np.zeros((2, 2))
    got[1, 0] = np.nan
    with pytest.raises(AssertionError, match=r"1 non-finite value\(s\) \(1 NaN\).*index \(1, 0\)"):
        assert_array_close(got, np.zeros((2, 2)))
    both = np.array([np.nan, 1.0])
    assert_array_close(both.copy(), both)  # NaN where the reference has NaN is fine


def test_value_mismatch_message_has_errors_and_first_index():
    """Does a value failure state count, max abs/rel error and the first wrong index?"""
    exp = np.arange(1.0, 7.0).reshape(2, 3)
    got = exp.copy()
    got[1, 2] += 0.5
    with pytest.raises(AssertionError, match=r"differ in 1 of 6 elements \(max abs error 0.5, max "
                                             r"rel error 0.0833.*first at index \(1, 2\): got 6.5,"
                                             r" expected 6"):
        assert_array_close(got, exp)


@pytest.mark.parametrize("transform, pattern", [
    (lambda e: np.zeros_like(e), "all zeros"),
    (lambda e: -e, "wrong sign"),
    (lambda e: e / 9.0, r"0.1111 times the expected one"),
])
def test_value_patterns_get_hints(transform, pattern, rng):
    """Are all-zero, negated and uniformly scaled answers recognised?"""
    exp = rng.standard_normal((2, 3, 4, 4)) + 3.0
    with pytest.raises(AssertionError, match=pattern):
        assert_array_close(transform(exp), exp)


def test_border_only_errors_point_at_padding(rng):
    """When only border values are wrong, does the hint mention padding?"""
    exp = rng.standard_normal((1, 1, 5, 5))
    got = exp.copy()
    got[..., 0, :] += 1.0
    with pytest.raises(AssertionError, match="only border values are wrong"):
        assert_array_close(got, exp)


def test_tolerance_follows_dtype():
    """Is float32 compared with float32 tolerance and float64 strictly?"""
    exp = np.ones(4)
    assert_array_close((exp * (1 + 5e-6)).astype(np.float32), exp.astype(np.float32))
    with pytest.raises(AssertionError):
        assert_array_close(exp * (1 + 5e-6), exp)
    assert_array_close(exp * (1 + 5e-6), exp, rtol=1e-5)


def test_torch_tensors_on_each_device(device):
    """Are tensors compared on their device, and a wrong-type answer refused?"""
    exp = torch.arange(6.0, device=device).reshape(2, 3)
    assert_array_close(exp.clone(), exp)
    with pytest.raises(AssertionError, match="expected a torch.Tensor"):
        assert_array_close(exp.cpu().numpy(), exp)
    with pytest.raises(AssertionError, match="differ in 1 of 6"):
        assert_array_close(exp + torch.tensor([[0, 0, 0], [0, 1.0, 0]], device=device), exp)


@pytest.mark.cuda
def test_device_mismatch_is_explained():
    """Is a CPU result for a CUDA reference refused with the device=x.device hint?"""
    exp = torch.zeros(2, device="cuda")
    with pytest.raises(AssertionError, match=r"on device cpu, expected cuda.*device=x.device"):
        assert_array_close(torch.zeros(2), exp)


def test_tuple_answers():
    """Does assert_arrays_close check length, None for a missing bias, then each array by name?"""
    exp = (np.ones(2), np.zeros(3), None)
    assert_arrays_close((np.ones(2), np.zeros(3), None), exp, names=("dx", "dw", "db"))
    with pytest.raises(AssertionError, match="expected a tuple of 3 values.*got 2"):
        assert_arrays_close((np.ones(2), np.zeros(3)), exp)
    with pytest.raises(AssertionError, match=r"`dw` shape \(4,\), expected \(3,\)"):
        assert_arrays_close((np.ones(2), np.zeros(4), None), exp, names=("dx", "dw", "db"))
    with pytest.raises(AssertionError, match="`db` should be None"):
        assert_arrays_close((np.ones(2), np.zeros(3), np.zeros(1)), exp, names=("dx", "dw", "db"))


def test_scalar_and_int_checks():
    """Do check_scalar/check_int accept right numbers and explain wrong ones?"""
    check_scalar(np.float64(0.1 + 0.2), 0.3, name="loss")
    check_int(np.int64(5), 5, name="H_out")
    with pytest.raises(AssertionError, match=r"`loss` is 0.5, expected 0.3"):
        check_scalar(0.5, 0.3, name="loss")
    with pytest.raises(AssertionError, match=r"`H_out` is the float 5.0.*integer division"):
        check_int(5.0, 5, name="H_out")
    with pytest.raises(AssertionError, match=r"`H_out` is 6, expected 5: off by one"):
        check_int(6, 5, name="H_out")
    with pytest.raises(AssertionError, match="is a bool"):
        check_int(True, 1)
    with pytest.raises(AssertionError, match="expected a plain number"):
        check_scalar(np.zeros(2), 0.0)
    assert_array_close(2.0, 2.0)  # a scalar expected value goes through check_scalar


def test_relative_error_leaves_out_zero_expected_values():
    """Is the reported max relative error free of the division by ~0 where the expected value is 0?"""
    expected = np.array([0.0, 2.0, 0.0])
    with pytest.raises(AssertionError, match=r"max abs error 0\.5, max rel error 0\.25;"):
        assert_array_close(np.array([0.3, 2.5, 0.0]), expected)
    with pytest.raises(AssertionError, match=r"max rel error n/a \(expected values are 0 there\)"):
        assert_array_close(np.array([0.3, 2.0, 0.0]), expected)
