"""Tests of cnncourse.pyramid: adaptive pooling and spatial pyramid pooling against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnncourse.gradcheck import eval_numerical_gradient_array, rel_error
from cnncourse.pyramid import (adaptive_bins, adaptive_pool2d_backward, adaptive_pool2d_forward,
                               spatial_pyramid_pool_backward, spatial_pyramid_pool_forward)

_TORCH = {"max": F.adaptive_max_pool2d, "avg": F.adaptive_avg_pool2d}


def _slow_spp(x, levels, mode):
    """Loop reference with bins [floor(i*H/n), ceil((i+1)*H/n))."""
    n, c, h, w = x.shape
    feats = []
    for lv in levels:
        level = np.zeros((n, c, lv, lv))
        for i in range(lv):
            for j in range(lv):
                h0, h1 = int(np.floor(i * h / lv)), int(np.ceil((i + 1) * h / lv))
                w0, w1 = int(np.floor(j * w / lv)), int(np.ceil((j + 1) * w / lv))
                win = x[:, :, h0:h1, w0:w1]
                level[:, :, i, j] = win.max(axis=(2, 3)) if mode == "max" else win.mean(axis=(2, 3))
        feats.append(level.reshape(n, -1))
    return np.concatenate(feats, axis=1)


def test_adaptive_bins_cover_and_overlap():
    """Do bins cover every pixel, with the one-pixel overlap torch uses when n does not divide H?"""
    assert adaptive_bins(8, 4) == [(0, 2), (2, 4), (4, 6), (6, 8)]
    assert adaptive_bins(5, 2) == [(0, 3), (2, 5)]
    assert adaptive_bins(3, 3) == [(0, 1), (1, 2), (2, 3)]


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("hw", [(7, 5), (13, 13), (4, 9), (1, 3)])
def test_spp_forward_backward_match_torch(rng, mode, hw):
    """Do SPP outputs and gradients equal torch's adaptive pooling, flattened and concatenated?"""
    x = rng.normal(size=(2, 3) + hw)
    levels = (1, 2, 4)
    out, cache = spatial_pyramid_pool_forward(x, levels, mode)
    assert out.shape == (2, 3 * (1 + 4 + 16))
    np.testing.assert_allclose(out, _slow_spp(x, levels, mode), atol=1e-12)
    t = torch.tensor(x, requires_grad=True)
    ref = torch.cat([_TORCH[mode](t, lv).flatten(1) for lv in levels], dim=1)
    np.testing.assert_allclose(out, ref.detach().numpy(), atol=1e-12)
    g = rng.normal(size=out.shape)
    ref.backward(torch.from_numpy(g))
    np.testing.assert_allclose(spatial_pyramid_pool_backward(g, cache), t.grad.numpy(), atol=1e-12)


def test_spp_fixed_length_for_any_size(rng):
    """Is the SPP vector the same length for inputs of different sizes (the point of SPP)?"""
    lengths = {spatial_pyramid_pool_forward(rng.normal(size=(1, 4, h, w)), (1, 2, 3))[0].shape
               for h, w in [(6, 6), (11, 7), (32, 20)]}
    assert lengths == {(1, 4 * 14)}


def test_adaptive_max_ties_go_to_first(rng):
    """With ties, does the gradient go only to the first maximum (torch's rule)?"""
    x = np.ones((1, 1, 2, 2))
    out, cache = adaptive_pool2d_forward(x, 1, "max")
    dx = adaptive_pool2d_backward(np.ones_like(out), cache)
    np.testing.assert_array_equal(dx[0, 0], [[1, 0], [0, 0]])


def test_adaptive_avg_numeric_gradient(rng):
    """Does the average backward pass agree with a numeric gradient (overlapping bins add)?"""
    x = rng.normal(size=(1, 2, 5, 7))
    out, cache = adaptive_pool2d_forward(x, (2, 3), "avg")
    dout = rng.normal(size=out.shape)
    num = eval_numerical_gradient_array(lambda v: adaptive_pool2d_forward(v, (2, 3), "avg")[0], x, dout)
    assert rel_error(adaptive_pool2d_backward(dout, cache), num) < 1e-8


def test_errors():
    """Are bad modes, levels and gradient shapes reported with the argument's name?"""
    x = np.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match="`mode` expected 'max' or 'avg'"):
        adaptive_pool2d_forward(x, 2, "sum")
    with pytest.raises(ValueError, match="`levels` expected at least one grid size"):
        spatial_pyramid_pool_forward(x, ())
    with pytest.raises(ValueError, match="`levels` expected an integer >= 1"):
        spatial_pyramid_pool_forward(x, (1, 0))
    _, cache = spatial_pyramid_pool_forward(x, (1, 2))
    with pytest.raises(ValueError, match=r"`dout` expected shape \(1, 5\)"):
        spatial_pyramid_pool_backward(np.zeros((1, 4)), cache)
    with pytest.raises(ValueError, match="`x` expected a floating-point array"):
        adaptive_pool2d_forward(np.zeros((1, 1, 4, 4), dtype=int), 2)
