"""Max/avg/global pooling against torch autograd, slow loop references, the slide example and gradcheck.

Tolerances as in test_layers_conv: float64 to 1e-10 relative, float32 to rtol 1e-5 (a pooling output
is a copy or a short average, so float32 errors stay at a few ulps).
"""

from __future__ import annotations

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


def max_pool_loop(x, k, s, p, d, dout):
    """Slow max pooling: explicit windows, first maximum in row-major order gets the gradient."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=-np.inf)
    ho = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    wo = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    out = np.zeros((n, c, ho, wo))
    dxp = np.zeros_like(xp)
    for i in range(n):
        for ch in range(c):
            for r in range(ho):
                for q in range(wo):
                    best, arg = -np.inf, None
                    for a in range(k[0]):
                        for b in range(k[1]):
                            y, z = r * s[0] + a * d[0], q * s[1] + b * d[1]
                            if arg is None or xp[i, ch, y, z] > best:
                                best, arg = xp[i, ch, y, z], (y, z)
                    out[i, ch, r, q] = best
                    dxp[i, ch, arg[0], arg[1]] += dout[i, ch, r, q]
    return out, dxp[:, :, p[0]:p[0] + h, p[1]:p[1] + w]


def avg_pool_loop(x, k, s, p, include_pad):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    valid = np.pad(np.ones((h, w)), ((p[0], p[0]), (p[1], p[1])))
    ho, wo = (h + 2 * p[0] - k[0]) // s[0] + 1, (w + 2 * p[1] - k[1]) // s[1] + 1
    out = np.zeros((n, c, ho, wo))
    for r in range(ho):
        for q in range(wo):
            win = (slice(r * s[0], r * s[0] + k[0]), slice(q * s[1], q * s[1] + k[1]))
            div = k[0] * k[1] if include_pad else valid[win].sum()
            out[:, :, r, q] = xp[(slice(None), slice(None)) + win].sum(axis=(2, 3)) / div
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
    args = (case["k"], case["s"], case["p"], case["d"])
    out, cache = max_pool2d_forward(x.astype(dtype), *args)
    tx = torch.tensor(x, requires_grad=True)
    ref = F.max_pool2d(tx, *args)
    assert_close(out, ref.detach().numpy(), dtype)
    dout = rng.standard_normal(out.shape)
    ref.backward(torch.tensor(dout))
    assert_close(max_pool2d_backward(dout.astype(dtype), cache), tx.grad.numpy(), dtype)


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
    out, cache = avg_pool2d_forward(x.astype(dtype), case["k"], case["s"], case["p"], count_include_pad=include_pad)
    tx = torch.tensor(x, requires_grad=True)
    ref = F.avg_pool2d(tx, case["k"], case["s"], case["p"], count_include_pad=include_pad)
    assert_close(out, ref.detach().numpy(), dtype)
    dout = rng.standard_normal(out.shape)
    ref.backward(torch.tensor(dout))
    assert_close(avg_pool2d_backward(dout.astype(dtype), cache), tx.grad.numpy(), dtype)
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
])
def test_pool_errors(fn, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fn(**(dict(x=np.zeros((1, 2, 5, 5))) | kwargs))


def test_pool_backward_rejects_wrong_dout():
    out, cache = max_pool2d_forward(np.zeros((1, 2, 4, 4)), 2)
    with pytest.raises(ValueError, match=r"`dout` expected shape \(1, 2, 2, 2\)"):
        max_pool2d_backward(np.zeros((1, 2, 2, 3)), cache)
    with pytest.raises(ValueError, match=r"`dout` expected dtype float64"):
        max_pool2d_backward(np.zeros((1, 2, 2, 2), np.float32), cache)
