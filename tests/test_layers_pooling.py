"""Max/avg/global pooling against torch autograd, slow loop references, the slide example and gradcheck.

Tolerances as in test_layers_conv: float64 to 1e-10 relative, float32 to rtol 1e-5 (a pooling output
is a copy or a short average, so float32 errors stay at a few ulps).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnncourse.gradcheck import eval_numerical_gradient_array, rel_error
from cnncourse.layers import (
    avg_pool2d_backward, avg_pool2d_forward, global_avg_pool_backward, global_avg_pool_forward,
    max_pool2d_backward, max_pool2d_forward,
)

TOL = {np.float64: 1e-10, np.float32: 1e-5}


def assert_close(ours, ref, dtype):
    ref = np.asarray(ref, dtype=np.float64)
    assert ours.dtype == dtype and ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=TOL[dtype], atol=TOL[dtype] * max(1.0, np.abs(ref).max(initial=0)))


def out_len(size, k, s, p, d, ceil_mode):
    """torch's output length, written from its documentation: floor or ceil, and with ceil_mode the
    last window must start inside the input or the left padding."""
    span = (size + 2 * p - d * (k - 1) - 1) / s
    n = (math.ceil(span) if ceil_mode else math.floor(span)) + 1
    if ceil_mode and (n - 1) * s >= size + p:
        n -= 1
    return n


def max_pool_loop(x, k, s, p, d, dout, ceil_mode=False):
    """Slow max pooling over explicit windows, visiting only REAL pixels in row-major order: a
    strictly greater value or a NaN takes over, so the first maximum (or the last NaN) gets the
    gradient, and an all -inf window routes it to its first real pixel."""
    n, c, h, w = x.shape
    ho, wo = out_len(h, k[0], s[0], p[0], d[0], ceil_mode), out_len(w, k[1], s[1], p[1], d[1], ceil_mode)
    out = np.full((n, c, ho, wo), -np.inf)
    dx = np.zeros_like(x)
    for i in range(n):
        for ch in range(c):
            for r in range(ho):
                for q in range(wo):
                    best, arg = -np.inf, None
                    for a in range(k[0]):
                        for b in range(k[1]):
                            y, z = r * s[0] + a * d[0] - p[0], q * s[1] + b * d[1] - p[1]
                            if not (0 <= y < h and 0 <= z < w):
                                continue                       # padding never wins
                            v = x[i, ch, y, z]
                            if arg is None:
                                arg = (y, z)                   # default: the first real pixel
                            if v > best or np.isnan(v):
                                best, arg = v, (y, z)
                    out[i, ch, r, q] = best
                    if arg is not None:
                        dx[i, ch, arg[0], arg[1]] += dout[i, ch, r, q]
    return out, dx


def avg_pool_loop(x, k, s, p, include_pad, ceil_mode=False):
    """Slow average pooling. The window is cut at the end of the padding (ceil_mode windows hang
    past it); count_include_pad counts the padding inside it, otherwise only real pixels."""
    n, c, h, w = x.shape
    ho, wo = out_len(h, k[0], s[0], p[0], 1, ceil_mode), out_len(w, k[1], s[1], p[1], 1, ceil_mode)
    out = np.zeros((n, c, ho, wo))
    for r in range(ho):
        for q in range(wo):
            rows = range(r * s[0] - p[0], min(r * s[0] - p[0] + k[0], h + p[0]))
            cols = range(q * s[1] - p[1], min(q * s[1] - p[1] + k[1], w + p[1]))
            real = [(y, z) for y in rows for z in cols if 0 <= y < h and 0 <= z < w]
            div = len(rows) * len(cols) if include_pad else len(real)
            out[:, :, r, q] = sum(x[:, :, y, z] for y, z in real) / div
    return out


def _random_pool_case(rng, dilation=True):
    while True:
        k = tuple(int(v) for v in rng.integers(1, 4, size=2))
        s = tuple(int(v) for v in rng.integers(1, 4, size=2))
        p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
        d = tuple(int(v) for v in rng.integers(1, 3, size=2)) if dilation else (1, 1)
        h, w = (int(v) for v in rng.integers(2, 10, size=2))
        if h + 2 * p[0] >= d[0] * (k[0] - 1) + 1 and w + 2 * p[1] >= d[1] * (k[1] - 1) + 1:
            return dict(shape=(int(rng.integers(1, 3)), int(rng.integers(1, 4)), h, w), k=k, s=s, p=p, d=d)


def _compare_with_torch(forward, backward, torch_fn, x, dtype, rng, *args, **kwargs):
    """Our forward/backward vs torch's (autograd) on the same float64 ``x``; returns our output."""
    out, cache = forward(x.astype(dtype), *args, **kwargs)
    tx = torch.tensor(x, requires_grad=True)
    ref = torch_fn(tx, *args, **kwargs)
    assert_close(out, ref.detach().numpy(), dtype)
    dout = rng.standard_normal(out.shape)
    ref.backward(torch.tensor(dout))
    assert_close(backward(dout.astype(dtype), cache), tx.grad.numpy(), dtype)
    return out


MAX_CASES = [_random_pool_case(np.random.default_rng(2000 + i)) for i in range(30)]
AVG_CASES = [_random_pool_case(np.random.default_rng(3000 + i), dilation=False) for i in range(20)]


def test_pool_sweeps_cover_overlap_and_nondividing_strides():
    """Do the sweeps contain overlapping windows (stride < kernel), padding and dilation?"""
    assert any(c["s"][0] < c["k"][0] for c in MAX_CASES) and any(max(c["p"]) > 0 for c in MAX_CASES)
    assert any(max(c["d"]) > 1 for c in MAX_CASES) and any(c["shape"][0] == 1 for c in MAX_CASES)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("idx", range(len(MAX_CASES)))
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool_matches_torch(idx, dtype, ties):
    """Does max pooling equal torch, including where the gradient goes when values tie?"""
    case = MAX_CASES[idx]
    rng = np.random.default_rng(idx)
    # integer values in a small range force many ties inside windows
    x = rng.integers(0, 3, size=case["shape"]).astype(np.float64) if ties else rng.standard_normal(case["shape"])
    _compare_with_torch(max_pool2d_forward, max_pool2d_backward, F.max_pool2d, x, dtype, rng,
                        case["k"], case["s"], case["p"], case["d"])


def _empty_window(size, k, s, p, d, n_out):
    """Does some window along this axis hold no real pixel (dilation stepping over the input)?"""
    return any(all(not 0 <= o * s + a * d - p < size for a in range(k)) for o in range(n_out))


def _random_ceil_case(rng, dilation=True):
    """Small inputs so that ceil_mode's extra windows, its drop rule and kernels larger than the
    padded input (valid only with ceil_mode) all show up; no window without a real pixel (torch's
    backward writes out of bounds there, see test_max_pool_window_without_real_pixel)."""
    while True:
        k = tuple(int(v) for v in rng.integers(1, 5, size=2))
        s = tuple(int(v) for v in rng.integers(1, 4, size=2))
        p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
        d = tuple(int(v) for v in rng.integers(1, 3, size=2)) if dilation else (1, 1)
        hw = tuple(int(v) for v in rng.integers(1, 8, size=2))
        outs = [out_len(hw[a], k[a], s[a], p[a], d[a], True) for a in range(2)]
        if min(outs) >= 1 and not any(_empty_window(hw[a], k[a], s[a], p[a], d[a], outs[a]) for a in range(2)):
            return dict(shape=(int(rng.integers(1, 3)), int(rng.integers(1, 4))) + hw, k=k, s=s, p=p, d=d)


CEIL_MAX_CASES = [_random_ceil_case(np.random.default_rng(5000 + i)) for i in range(30)]
CEIL_AVG_CASES = [_random_ceil_case(np.random.default_rng(6000 + i), dilation=False) for i in range(24)]


def _axes(case):
    return [(case["shape"][2 + a], case["k"][a], case["s"][a], case["p"][a], case["d"][a]) for a in range(2)]


@pytest.mark.parametrize("cases", [CEIL_MAX_CASES, CEIL_AVG_CASES])
def test_ceil_sweeps_cover_the_edge_cases(cases):
    """Do the ceil_mode sweeps hold extra windows, dropped last windows, kernels larger than the
    padded input, and (average pooling) windows cut at the end of the padding?"""
    axes = [ax for c in cases for ax in _axes(c)]
    assert any(out_len(*ax, True) > out_len(*ax, False) >= 1 for ax in axes)              # extra window
    assert any(math.ceil((sz + 2 * p - d * (k - 1) - 1) / s) * s >= sz + p for sz, k, s, p, d in axes)
    assert any(d * (k - 1) + 1 > sz + 2 * p for sz, k, s, p, d in axes)                   # floor: invalid
    assert any((out_len(sz, k, s, p, d, True) - 1) * s + k > sz + 2 * p for sz, k, s, p, d in axes)
    assert any(max(c["p"]) > 0 for c in cases) and any(c["s"][0] < c["k"][0] for c in cases)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("idx", range(len(CEIL_MAX_CASES)))
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool_ceil_mode_matches_torch(idx, dtype, ties):
    """With ceil_mode=True, do output size, values and gradients (ties included) equal torch's?"""
    case = CEIL_MAX_CASES[idx]
    rng = np.random.default_rng(idx)
    x = rng.integers(0, 3, size=case["shape"]).astype(np.float64) if ties else rng.standard_normal(case["shape"])
    _compare_with_torch(max_pool2d_forward, max_pool2d_backward, F.max_pool2d, x, dtype, rng,
                        case["k"], case["s"], case["p"], case["d"], True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["include_pad", "exclude_pad", "divisor_override"])
@pytest.mark.parametrize("idx", range(len(CEIL_AVG_CASES)))
def test_avg_pool_ceil_mode_matches_torch(idx, mode, dtype):
    """With ceil_mode=True, are torch's divisors reproduced for windows hanging over the edge?"""
    case = CEIL_AVG_CASES[idx]
    rng = np.random.default_rng(idx)
    x = rng.standard_normal(case["shape"])
    kw = dict(count_include_pad=mode == "include_pad", divisor_override=3 if mode == "divisor_override" else None)
    _compare_with_torch(avg_pool2d_forward, avg_pool2d_backward, F.avg_pool2d, x, dtype, rng,
                        case["k"], case["s"], case["p"], ceil_mode=True, **kw)


@pytest.mark.parametrize("idx", range(0, len(CEIL_MAX_CASES), 3))
def test_pool_ceil_mode_matches_slow_loops(idx):
    """Do the vectorized ceil_mode max and average pools agree with the explicit-window loops?"""
    case = CEIL_MAX_CASES[idx]
    rng = np.random.default_rng(idx)
    x = rng.integers(0, 2, size=case["shape"]).astype(np.float64)
    args = (case["k"], case["s"], case["p"], case["d"])
    out, cache = max_pool2d_forward(x, *args, ceil_mode=True)
    dout = rng.standard_normal(out.shape)
    ref_out, ref_dx = max_pool_loop(x, *args, dout, ceil_mode=True)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_allclose(max_pool2d_backward(dout, cache), ref_dx, rtol=1e-12, atol=1e-12)
    case = CEIL_AVG_CASES[idx % len(CEIL_AVG_CASES)]
    x = rng.standard_normal(case["shape"])
    for include_pad in (True, False):
        out, _ = avg_pool2d_forward(x, case["k"], case["s"], case["p"], include_pad, ceil_mode=True)
        np.testing.assert_allclose(out, avg_pool_loop(x, case["k"], case["s"], case["p"], include_pad, True),
                                   rtol=1e-12)


def test_ceil_mode_hand_examples():
    """Row 1..5, kernel 2, stride 2: ceil adds a window over just the 5, which averages to 5 (the
    window is cut at the input's end, not divided by 2). Row of 6, kernel 3, stride 2, padding 1:
    the 4th window covers x[5] and one padding zero (divisor 2, or 1 without padding). Row of 3,
    kernel 2, stride 2, padding 1: a 3rd window would start in the right padding, so it is dropped."""
    row = np.arange(1.0, 6.0)[None, None, None]                      # (1, 1, 1, 5)
    np.testing.assert_array_equal(max_pool2d_forward(row, (1, 2), ceil_mode=True)[0].ravel(), [2, 4, 5])
    np.testing.assert_array_equal(max_pool2d_forward(row, (1, 2))[0].ravel(), [2, 4])
    np.testing.assert_array_equal(avg_pool2d_forward(row, (1, 2), ceil_mode=True)[0].ravel(), [1.5, 3.5, 5])
    row6 = np.arange(1.0, 7.0)[None, None, None]
    inc, _ = avg_pool2d_forward(row6, (1, 3), (1, 2), (0, 1), ceil_mode=True)
    exc, _ = avg_pool2d_forward(row6, (1, 3), (1, 2), (0, 1), False, ceil_mode=True)
    np.testing.assert_allclose(inc.ravel(), [3 / 3, 9 / 3, 15 / 3, 6 / 2])
    np.testing.assert_allclose(exc.ravel(), [3 / 2, 9 / 3, 15 / 3, 6 / 1])
    row3 = np.array([[[[1.0, 2.0, 3.0]]]])
    out, cache = max_pool2d_forward(row3, (1, 2), (1, 2), (0, 1), ceil_mode=True)
    np.testing.assert_array_equal(out.ravel(), [1, 3])                # not [1, 3, -inf]
    assert F.max_pool2d(torch.tensor(row3), (1, 2), (1, 2), (0, 1), ceil_mode=True).shape[-1] == 2
    big, _ = avg_pool2d_forward(np.ones((1, 1, 2, 2)), 3, 2, ceil_mode=True)   # kernel 3 > input 2
    np.testing.assert_array_equal(big, [[[[1.0]]]])                    # divisor 2*2, the clipped window


def test_max_pool_all_inf_window_sends_gradient_to_first_real_pixel():
    """A window of -inf (real and padding alike) routes its gradient to its first REAL pixel, like
    torch's kernels, never to padding (where it would be lost); with ceil_mode as well."""
    x = np.full((1, 1, 3, 3), -np.inf)
    dout = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    out, cache = max_pool2d_forward(x, 3, 2, 1)
    assert np.all(out == -np.inf)
    dx = max_pool2d_backward(dout, cache)
    np.testing.assert_array_equal(dx[0, 0], [[1, 2, 0], [3, 4, 0], [0, 0, 0]])   # windows start at -1, 1
    rng = np.random.default_rng(11)
    for args in ((3, 2, 1, 1, False), (2, 1, 1, 1, False), ((3, 2), (2, 3), (1, 1), (1, 2), True),
                 (2, 2, 1, 1, True)):
        x = rng.standard_normal((2, 2, 5, 6))
        x[rng.random(x.shape) < 0.7] = -np.inf                           # many all -inf windows
        tx = torch.tensor(x, requires_grad=True)
        ref = F.max_pool2d(tx, *args)
        out, cache = max_pool2d_forward(x, *args)
        np.testing.assert_array_equal(out, ref.detach().numpy())
        g = rng.standard_normal(out.shape)
        ref.backward(torch.tensor(g))
        np.testing.assert_allclose(max_pool2d_backward(g, cache), tx.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(max_pool2d_backward(g, cache), max_pool_loop(x, *_geom(args), g, args[4])[1],
                                   rtol=1e-12)


def _geom(args):
    k, s, p, d, _ = args
    pair = (lambda v: v if isinstance(v, tuple) else (v, v))
    return pair(k), pair(s), pair(p), pair(d)


def test_max_pool_nan_propagates_like_torch():
    """A window holding NaN outputs NaN and, as in torch's CPU kernel (``val > max || isnan(val)``),
    its gradient goes to the LAST NaN of the window; -inf and ties elsewhere are unaffected."""
    row = np.array([[[[1.0, np.nan, 2.0, np.nan, 5.0, 6.0]]]])
    out, cache = max_pool2d_forward(row, (1, 3), 1)
    assert np.isnan(out).all()
    dx = max_pool2d_backward(np.array([[[[1.0, 10.0, 100.0, 1000.0]]]]), cache)
    np.testing.assert_array_equal(dx, [[[[0, 1, 0, 1110, 0, 0]]]])   # window [nan, 2, nan] -> its last NaN
    rng = np.random.default_rng(12)
    for args in ((3, 1, 1, 1, False), (2, 2, 0, 1, True), ((2, 3), (1, 2), (1, 1), (2, 1), True)):
        x = rng.integers(0, 3, size=(2, 3, 6, 5)).astype(np.float64)
        x[rng.random(x.shape) < 0.15] = np.nan
        x[rng.random(x.shape) < 0.1] = -np.inf
        tx = torch.tensor(x, requires_grad=True)
        ref = F.max_pool2d(tx, *args)
        for dtype in (np.float64, np.float32):
            out, cache = max_pool2d_forward(x.astype(dtype), *args)
            np.testing.assert_array_equal(out, ref.detach().numpy().astype(dtype))   # NaN == NaN here
        g = rng.standard_normal(out.shape)
        ref.backward(torch.tensor(g))
        out, cache = max_pool2d_forward(x, *args)
        np.testing.assert_allclose(max_pool2d_backward(g, cache), tx.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(max_pool2d_backward(g, cache), max_pool_loop(x, *_geom(args), g, args[4])[1],
                                   rtol=1e-12)


def test_max_pool_window_without_real_pixel():
    """H=2, kernel 2, padding 1, dilation 3: the one window's taps are both padding. Output -inf like
    torch's forward; its gradient goes nowhere (torch's backward writes out of bounds here, so only
    the forward pass is compared)."""
    x = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    out, cache = max_pool2d_forward(x, 2, 1, 1, 3)
    np.testing.assert_array_equal(out, F.max_pool2d(torch.tensor(x), 2, 1, 1, 3).numpy())
    assert out.shape == (1, 1, 1, 1) and out[0, 0, 0, 0] == -np.inf
    np.testing.assert_array_equal(max_pool2d_backward(np.ones_like(out), cache), np.zeros_like(x))


@pytest.mark.parametrize("idx", range(0, len(MAX_CASES), 3))
def test_max_pool_matches_slow_loop_with_ties(idx):
    """Does the vectorized max pool agree with the explicit-window loop, ties included?"""
    case = MAX_CASES[idx]
    rng = np.random.default_rng(idx)
    x = rng.integers(0, 2, size=case["shape"]).astype(np.float64)
    args = (case["k"], case["s"], case["p"], case["d"])
    out, cache = max_pool2d_forward(x, *args)
    dout = rng.standard_normal(out.shape)
    ref_out, ref_dx = max_pool_loop(x, *args, dout)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_allclose(max_pool2d_backward(dout, cache), ref_dx, rtol=1e-12, atol=1e-12)


def test_max_pool_slide_example():
    """Lecture 3's 5x5 example, 3x3 window, stride 1: max 3 3 3 / 3 3 3 / 3 2 3, mean 1.7 1.7 1.7 / ..."""
    x = np.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]],
                 dtype=np.float64)[None, None]
    out, cache = max_pool2d_forward(x, 3, stride=1)
    np.testing.assert_array_equal(out[0, 0], [[3, 3, 3], [3, 3, 3], [3, 2, 3]])
    dx = max_pool2d_backward(np.ones_like(out), cache)
    assert dx[0, 0, 0, 0] == 1          # window (0, 0): first 3 in row-major order is (0, 0)
    assert dx[0, 0, 0, 1] == 1          # window (0, 1): first 3 is (0, 1)
    assert dx.sum() == out.size         # each window routes exactly its one unit of gradient
    mean, _ = avg_pool2d_forward(x, 3, stride=1)
    np.testing.assert_array_equal(np.round(mean[0, 0], 1), [[1.7, 1.7, 1.7], [1.0, 1.2, 1.8], [1.1, 0.8, 1.3]])


def test_max_pool_overlapping_windows_accumulate():
    """With stride 1 a global maximum shared by all windows receives the sum of their gradients."""
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = 5.0
    out, cache = max_pool2d_forward(x, 2, stride=1)
    dout = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    dx = max_pool2d_backward(dout, cache)
    assert dx[0, 0, 1, 1] == 1 + 2 + 4 + 5   # the four windows containing (1, 1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("include_pad", [True, False])
@pytest.mark.parametrize("idx", range(len(AVG_CASES)))
def test_avg_pool_matches_torch(idx, include_pad, dtype):
    """Does average pooling (both count_include_pad modes) equal torch forward and backward?"""
    case = AVG_CASES[idx]
    rng = np.random.default_rng(idx)
    x = rng.standard_normal(case["shape"])
    out = _compare_with_torch(avg_pool2d_forward, avg_pool2d_backward, F.avg_pool2d, x, dtype, rng,
                              case["k"], case["s"], case["p"], count_include_pad=include_pad)
    if dtype == np.float64:
        np.testing.assert_allclose(out, avg_pool_loop(x, case["k"], case["s"], case["p"], include_pad), rtol=1e-12)


def test_avg_pool_divisor_override_matches_torch():
    x = np.random.default_rng(1).standard_normal((2, 3, 7, 6))
    out, cache = avg_pool2d_forward(x, 3, 2, 1, divisor_override=5)
    tx = torch.tensor(x, requires_grad=True)
    ref = F.avg_pool2d(tx, 3, 2, 1, divisor_override=5)
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-12)
    ref.sum().backward()
    np.testing.assert_allclose(avg_pool2d_backward(np.ones_like(out), cache), tx.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_global_avg_pool_matches_torch(dtype):
    x = np.random.default_rng(2).standard_normal((3, 4, 5, 7))
    out, cache = global_avg_pool_forward(x.astype(dtype))
    tx = torch.tensor(x, requires_grad=True)
    ref = F.adaptive_avg_pool2d(tx, 1).flatten(1)
    assert_close(out, ref.detach().numpy(), dtype)
    dout = np.random.default_rng(3).standard_normal(out.shape)
    ref.backward(torch.tensor(dout))
    assert_close(global_avg_pool_backward(dout.astype(dtype), cache), tx.grad.numpy(), dtype)


def test_pool_gradcheck():
    """Do pooling backward passes agree with centered differences (no ties: distinct values)?"""
    rng = np.random.default_rng(4)
    x = rng.permutation(2 * 2 * 6 * 5).reshape(2, 2, 6, 5) / 10.0   # distinct: max is differentiable
    for fwd, bwd, args in ((max_pool2d_forward, max_pool2d_backward, (3, 2, 1)),
                           (avg_pool2d_forward, avg_pool2d_backward, (3, (2, 1), 1))):
        out, cache = fwd(x, *args)
        dout = rng.standard_normal(out.shape)
        num = eval_numerical_gradient_array(lambda a: fwd(a, *args)[0], x, dout)
        assert rel_error(bwd(dout, cache), num) < 1e-8


@pytest.mark.parametrize("fn, kwargs, match", [
    (max_pool2d_forward, dict(x=np.zeros((3, 5, 5)), kernel_size=2), r"`x` expected a 4-D array, got 3-D"),
    (max_pool2d_forward, dict(kernel_size=2, padding=2), r"`padding` expected at most half of kernel_size"),
    (max_pool2d_forward, dict(kernel_size=7), r"`kernel_size` expected a kernel no larger than the padded input"),
    (max_pool2d_forward, dict(kernel_size=2, stride=0), r"`stride` expected values >= 1, got 0"),
    (max_pool2d_forward, dict(kernel_size=0), r"`kernel_size` expected values >= 1, got 0"),
    (avg_pool2d_forward, dict(kernel_size=3, padding=-1), r"`padding` expected values >= 0, got -1"),
    (avg_pool2d_forward, dict(kernel_size=3, divisor_override=0), r"`divisor_override` expected a non-zero int"),
    (max_pool2d_forward, dict(kernel_size=7, stride=1, ceil_mode=True),
     r"`kernel_size` expected an effective kernel leaving an output size >= 1 .*ceil_mode=True, "
     r"got effective kernel \(7, 7\) \(output size \(-1, -1\)\)"),
    (avg_pool2d_forward, dict(kernel_size=(2, 7), stride=1, ceil_mode=True), r"output size \(4, -1\)"),
])
def test_pool_errors(fn, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fn(**(dict(x=np.zeros((1, 2, 5, 5))) | kwargs))


@pytest.mark.parametrize("fn, kwargs, match", [
    (max_pool2d_forward, dict(ceil_mode=1), r"`ceil_mode` expected a bool, got 1 \(int\)"),
    (avg_pool2d_forward, dict(ceil_mode="yes"), r"`ceil_mode` expected a bool, got 'yes' \(str\)"),
    (avg_pool2d_forward, dict(count_include_pad=0), r"`count_include_pad` expected a bool, got 0"),
])
def test_pool_flags_must_be_bools(fn, kwargs, match):
    """Like torch (``argument 'ceil_mode' must be bool, not int``), non-bool flags are TypeErrors."""
    with pytest.raises(TypeError):
        getattr(F, fn.__name__.replace("_forward", ""))(torch.zeros(1, 2, 5, 5), 2, **kwargs)
    with pytest.raises(TypeError, match=match):
        fn(np.zeros((1, 2, 5, 5)), 2, **kwargs)


def test_pool_backward_rejects_wrong_dout():
    out, cache = max_pool2d_forward(np.zeros((1, 2, 4, 4)), 2)
    with pytest.raises(ValueError, match=r"`dout` expected shape \(1, 2, 2, 2\)"):
        max_pool2d_backward(np.zeros((1, 2, 2, 3)), cache)
    with pytest.raises(ValueError, match=r"`dout` expected dtype float64"):
        max_pool2d_backward(np.zeros((1, 2, 2, 2), np.float32), cache)


@pytest.mark.cuda
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_max_pool_special_values_match_torch_cuda(ceil_mode):
    """Does torch's CUDA kernel agree with us (and so with its CPU kernel) on NaN, all -inf windows
    and ceil_mode, values and gradient routing alike?"""
    rng = np.random.default_rng(13)
    x = rng.integers(0, 3, size=(2, 3, 7, 6)).astype(np.float64)
    x[rng.random(x.shape) < 0.1] = np.nan
    x[rng.random(x.shape) < 0.4] = -np.inf
    args = ((3, 2), (2, 2), (1, 1), (1, 2), ceil_mode)
    out, cache = max_pool2d_forward(x, *args)
    tx = torch.tensor(x, device="cuda", requires_grad=True)
    ref = F.max_pool2d(tx, *args)
    np.testing.assert_array_equal(out, ref.detach().cpu().numpy())
    g = rng.standard_normal(out.shape)
    ref.backward(torch.tensor(g, device="cuda"))
    np.testing.assert_allclose(max_pool2d_backward(g, cache), tx.grad.cpu().numpy(), rtol=1e-12)
