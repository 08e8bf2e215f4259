"""Tests of cnncourse.signal: 1D/2D/3D correlate/convolve and convolution as a Toeplitz matrix."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnncourse.signal import conv_as_toeplitz, convolve, convolve1d, correlate, correlate1d

SIGNAL = np.array([5, 9, 2, 6, 7, 9, 8], dtype=np.float64)  # lecture 02 slide (seed 001)
X5 = np.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]],
              dtype=np.float64)
W3 = np.array([[0, 1, 2], [2, 2, 0], [0, 1, 2]], dtype=np.float64)


def _slow_correlate(x, w, stride, padding, dilation):
    """Loop reference: out[o] = sum_k x_pad[o*s + k*d] * w[k], for any number of axes."""
    nd = x.ndim
    xp = np.pad(x, [(padding, padding)] * nd)
    span = [dilation * (k - 1) + 1 for k in w.shape]
    out_shape = [(n - e) // stride + 1 for n, e in zip(xp.shape, span)]
    out = np.zeros(out_shape)
    for o in itertools.product(*map(range, out_shape)):
        acc = 0.0
        for k in itertools.product(*map(range, w.shape)):
            acc += xp[tuple(oi * stride + ki * dilation for oi, ki in zip(o, k))] * w[k]
        out[o] = acc
    return out


def _torch_conv(x, w, stride, padding, dilation):
    fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[x.ndim]
    t = fn(torch.from_numpy(x)[None, None], torch.from_numpy(w)[None, None], stride=stride,
           padding=padding, dilation=dilation)
    return t[0, 0].numpy()


def test_slide_1d_example():
    """Does correlating the slide's signal with -1 0 1 (= convolving with 1 0 -1) give -3 -3 5 3 1?"""
    expected = [-3, -3, 5, 3, 1]
    np.testing.assert_array_equal(correlate1d(SIGNAL, np.array([-1.0, 0, 1])), expected)
    np.testing.assert_array_equal(convolve1d(SIGNAL, np.array([1.0, 0, -1])), expected)
    # and NOT when the filter is not flipped: correlation with 1 0 -1 negates the result
    np.testing.assert_array_equal(correlate1d(SIGNAL, np.array([1.0, 0, -1])), [3, 3, -5, -3, -1])


def test_slide_2d_example_and_padding_stride():
    """Does the 5x5 example give the slide's 12 12 17 / 10 17 19 / 9 6 14, and 6 17 3 / ... at P=1, S=2?"""
    np.testing.assert_array_equal(correlate(X5, W3), [[12, 12, 17], [10, 17, 19], [9, 6, 14]])
    np.testing.assert_array_equal(correlate(X5, W3, stride=2, padding=1),
                                  [[6, 17, 3], [8, 17, 13], [6, 4, 4]])


@pytest.mark.parametrize("n,k", [(7, 3), (5, 5), (6, 1), (9, 4)])
def test_convolve1d_matches_numpy_valid_and_full(rng, n, k):
    """Is convolve1d numpy.convolve ('valid' with no padding, 'full' with padding k-1)?"""
    x, w = rng.normal(size=n), rng.normal(size=k)
    np.testing.assert_allclose(convolve1d(x, w), np.convolve(x, w, "valid"), atol=1e-12)
    np.testing.assert_allclose(convolve1d(x, w, padding=k - 1), np.convolve(x, w, "full"), atol=1e-12)
    np.testing.assert_allclose(correlate1d(x, w), np.correlate(x, w, "valid"), atol=1e-12)


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), (3, 2, 2), (2, 0, 3)])
def test_correlate_matches_torch_and_loop(rng, nd, stride, padding, dilation):
    """Does correlate equal torch's conv{1,2,3}d and a loop reference, with stride not dividing too?"""
    shape = {1: (11,), 2: (9, 8), 3: (7, 8, 6)}[nd]
    kshape = {1: (3,), 2: (3, 2), 3: (2, 3, 2)}[nd]
    x, w = rng.normal(size=shape), rng.normal(size=kshape)
    got = correlate(x, w, stride=stride, padding=padding, dilation=dilation)
    np.testing.assert_allclose(got, _torch_conv(x, w, stride, padding, dilation), atol=1e-10)
    np.testing.assert_allclose(got, _slow_correlate(x, w, stride, padding, dilation), atol=1e-10)


def test_convolve_flips_every_axis(rng):
    """Is 2D convolve correlation with the filter flipped on both axes (scipy's convolve2d 'valid')?"""
    from scipy.signal import convolve2d

    x, w = rng.normal(size=(6, 7)), rng.normal(size=(3, 2))
    np.testing.assert_allclose(convolve(x, w), convolve2d(x, w, mode="valid"), atol=1e-12)
    assert not np.allclose(convolve(x, w), correlate(x, w))


def test_per_axis_parameters(rng):
    """Are tuple strides/paddings applied per axis like torch's (sh, sw)?"""
    x, w = rng.normal(size=(8, 9)), rng.normal(size=(3, 3))
    got = correlate(x, w, stride=(1, 2), padding=(0, 1), dilation=(2, 1))
    t = F.conv2d(torch.from_numpy(x)[None, None], torch.from_numpy(w)[None, None], stride=(1, 2),
                 padding=(0, 1), dilation=(2, 1))[0, 0].numpy()
    np.testing.assert_allclose(got, t, atol=1e-12)


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), (1, 1, 2), (3, 2, 1)])
def test_toeplitz_reproduces_correlate(rng, nd, stride, padding, dilation):
    """Does T @ x.ravel() equal correlate(x, w).ravel() for every parameter combination?"""
    shape = {1: (10,), 2: (7, 6), 3: (5, 6, 5)}[nd]
    x, w = rng.normal(size=shape), rng.normal(size=(3,) * nd)
    T = conv_as_toeplitz(w, shape, stride=stride, padding=padding, dilation=dilation)
    out = correlate(x, w, stride=stride, padding=padding, dilation=dilation)
    assert T.shape == (out.size, x.size)
    np.testing.assert_allclose(T @ x.ravel(), out.ravel(), atol=1e-10)


def test_toeplitz_1d_structure():
    """Is the 1D matrix Toeplitz: each row the filter shifted one column right?"""
    T = conv_as_toeplitz(np.array([-1.0, 0, 1]), 7)
    expected = np.zeros((5, 7))
    for r in range(5):
        expected[r, r:r + 3] = [-1, 0, 1]
    np.testing.assert_array_equal(T, expected)
    np.testing.assert_array_equal(T @ SIGNAL, [-3, -3, 5, 3, 1])


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 0), (2, 1)])
def test_toeplitz_transpose_is_transposed_convolution(rng, stride, padding):
    """Is T.T @ y torch's conv_transpose2d of y (when the output size round-trips exactly)?"""
    w = rng.normal(size=(3, 3))
    shape = (7, 7)  # (7 + 2p - 3) divisible by 2 for all cases, so no output_padding is needed
    T = conv_as_toeplitz(w, shape, stride=stride, padding=padding)
    y = rng.normal(size=T.shape[0])
    oh = int(np.sqrt(T.shape[0]))
    t = F.conv_transpose2d(torch.from_numpy(y.reshape(1, 1, oh, oh)), torch.from_numpy(w)[None, None],
                           stride=stride, padding=padding)[0, 0].numpy()
    assert t.shape == shape
    np.testing.assert_allclose((T.T @ y).reshape(shape), t, atol=1e-10)


def test_errors_name_the_argument():
    """Do bad arguments raise errors that name them?"""
    with pytest.raises(ValueError, match="`w` expected a 2-D filter"):
        correlate(np.zeros((4, 4)), np.zeros(3))
    with pytest.raises(ValueError, match="`w` expected a filter whose dilated extent fits"):
        correlate(np.zeros(4), np.zeros(3), dilation=2)
    with pytest.raises(ValueError, match="`stride` expected values >= 1"):
        correlate(np.zeros(4), np.zeros(3), stride=0)
    with pytest.raises(ValueError, match="`padding` expected an int or 2 ints"):
        correlate(np.zeros((4, 4)), np.zeros((3, 3)), padding=(1, 1, 1))
    with pytest.raises(TypeError, match="`x` expected a numpy.ndarray"):
        correlate1d([1.0, 2.0, 3.0], np.ones(2))
    with pytest.raises(ValueError, match="`x` expected a 1-D array"):
        correlate1d(np.zeros((3, 3)), np.ones(2))
    with pytest.raises(ValueError, match="`input_shape` expected an int or 2 ints"):
        conv_as_toeplitz(np.ones((2, 2)), (5, 5, 5))


def test_empty_axes_are_refused_like_torch():
    """An empty input or filter axis has no output size: do we refuse it, as torch does, naming the array?"""
    with pytest.raises(ValueError, match=r"`x` expected an array without empty axes, got shape \(0,\)"):
        correlate(np.zeros(0), np.ones(1), padding=1)
    with pytest.raises(ValueError, match=r"`w` expected an array without empty axes, got shape \(3, 0\)"):
        correlate(np.zeros((4, 4)), np.ones((3, 0)))


def test_per_axis_arguments_name_the_axis_count():
    """Does a non-int stride say how many ints it wants (shared `as_tuple` of cnncourse._validate)?"""
    with pytest.raises(TypeError, match=r"`stride` expected an int or 1 int \(one per axis\), got 1.5"):
        correlate(np.zeros(4), np.zeros(3), stride=1.5)
    with pytest.raises(TypeError, match=r"`dilation` expected an int or 3 ints \(one per axis\)"):
        correlate(np.zeros((4, 4, 4)), np.zeros((2, 2, 2)), dilation=(1, 2.0, 1))
