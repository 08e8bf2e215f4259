"""RoI pooling and RoI align against loop transcriptions of torchvision's CPU kernels, plus gradcheck."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cnncourse.detection import roi_align, roi_pool


def c_round(v):
    return math.floor(v + 0.5) if v >= 0 else -math.floor(-v + 0.5)


def roi_pool_loop(x, rois, ph, pw, scale):
    """torchvision's roi_pool_forward_kernel_impl, line by line."""
    n, c, h, w = x.shape
    out = np.zeros((len(rois), c, ph, pw))
    for k, (b, x1, y1, x2, y2) in enumerate(rois):
        sw, sh, ew, eh = c_round(x1 * scale), c_round(y1 * scale), c_round(x2 * scale), c_round(y2 * scale)
        rw, rh = max(ew - sw + 1, 1), max(eh - sh + 1, 1)
        bw, bh = rw / pw, rh / ph
        for i in range(ph):
            for j in range(pw):
                hs = min(max(math.floor(i * bh) + sh, 0), h)
                he = min(max(math.ceil((i + 1) * bh) + sh, 0), h)
                ws = min(max(math.floor(j * bw) + sw, 0), w)
                we = min(max(math.ceil((j + 1) * bw) + sw, 0), w)
                if he <= hs or we <= ws:
                    continue
                out[k, :, i, j] = x[int(b), :, hs:he, ws:we].reshape(c, -1).max(1)
    return out


def bilinear(img, y, x):
    h, w = img.shape
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    yl, xl = int(y), int(x)
    if yl >= h - 1:
        yh = yl = h - 1
        y = float(yl)
    else:
        yh = yl + 1
    if xl >= w - 1:
        xh = xl = w - 1
        x = float(xl)
    else:
        xh = xl + 1
    ly, lx = y - yl, x - xl
    hy, hx = 1 - ly, 1 - lx
    return hy * hx * img[yl, xl] + hy * lx * img[yl, xh] + ly * hx * img[yh, xl] + ly * lx * img[yh, xh]


def roi_align_loop(x, rois, ph, pw, scale, sampling, aligned):
    """torchvision's roi_align_forward_kernel_impl, line by line."""
    out = np.zeros((len(rois), x.shape[1], ph, pw))
    off = 0.5 if aligned else 0.0
    for k, (b, x1, y1, x2, y2) in enumerate(rois):
        sw, sh, ew, eh = x1 * scale - off, y1 * scale - off, x2 * scale - off, y2 * scale - off
        rw, rh = ew - sw, eh - sh
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bw, bh = rw / pw, rh / ph
        gh = sampling if sampling > 0 else math.ceil(rh / ph)
        gw = sampling if sampling > 0 else math.ceil(rw / pw)
        count = max(gh * gw, 1)
        for c in range(x.shape[1]):
            for i in range(ph):
                for j in range(pw):
                    acc = 0.0
                    for iy in range(gh):
                        yy = sh + i * bh + (iy + 0.5) * bh / gh
                        for ix in range(gw):
                            xx = sw + j * bw + (ix + 0.5) * bw / gw
                            acc += bilinear(x[int(b), c], yy, xx)
                    out[k, c, i, j] = acc / count
    return out


def make_rois(rng, n, h, w, k, scale):
    b = rng.integers(0, n, k)
    xy = rng.uniform(-3, [w / scale, h / scale], (k, 2))
    wh = rng.uniform(0, [w / scale, h / scale], (k, 2))
    rois = np.c_[b, xy, xy + wh]
    rois[0] = [0, 1, 1, 1, 1]  # degenerate
    rois[1] = [n - 1, 0.5, 2.5, 4.5, 6.5]  # halves: C round goes away from zero
    return rois


@pytest.mark.parametrize("scale, size", [(1.0, (3, 2)), (0.5, (2, 4)), (0.25, 1)])
def test_roi_pool_matches_loop(rng, scale, size):
    """Does roi_pool equal torchvision's loops, including empty bins and rounding of halves?"""
    x = rng.standard_normal((2, 3, 9, 11))
    rois = make_rois(rng, 2, 9, 11, 12, scale)
    got = roi_pool(torch.tensor(x), torch.tensor(rois), size, spatial_scale=scale).numpy()
    ph, pw = size if isinstance(size, tuple) else (size, size)
    np.testing.assert_array_equal(got, roi_pool_loop(x, rois, ph, pw, scale))


@pytest.mark.parametrize("sampling, aligned", [(-1, False), (2, False), (0, True), (3, True)])
def test_roi_align_matches_loop(rng, sampling, aligned):
    """Does roi_align equal torchvision's loops (adaptive and fixed sampling, aligned or not)?"""
    x = rng.standard_normal((2, 2, 8, 10))
    rois = make_rois(rng, 2, 8, 10, 10, 0.5)
    got = roi_align(torch.tensor(x), torch.tensor(rois), (3, 2), spatial_scale=0.5,
                    sampling_ratio=sampling, aligned=aligned).numpy()
    np.testing.assert_allclose(got, roi_align_loop(x, rois, 3, 2, 0.5, sampling, aligned), atol=1e-12)


def test_roi_ops_gradcheck(rng):
    """Are both backward passes the true derivatives (float64 gradcheck)?"""
    x = torch.tensor(rng.standard_normal((2, 2, 7, 8)), requires_grad=True)
    rois = torch.tensor([[0, 0.7, 1.2, 5.3, 6.1], [1, 2.2, 0.4, 7.9, 4.6], [1, -1.5, -1.0, 3.0, 2.0]],
                        dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: roi_pool(t, rois, (3, 2), spatial_scale=1.0), (x,))
    assert torch.autograd.gradcheck(lambda t: roi_align(t, rois, (2, 3), sampling_ratio=2), (x,))
    assert torch.autograd.gradcheck(lambda t: roi_align(t, rois, 2, aligned=True), (x,))


def test_roi_pool_gradient_goes_to_first_argmax():
    """With tied maxima the whole gradient goes to the first cell in row-major order."""
    x = torch.ones(1, 1, 4, 4, requires_grad=True)
    roi_pool(x, torch.tensor([[0.0, 0, 0, 3, 3]]), 1).sum().backward()
    expected = torch.zeros(1, 1, 4, 4)
    expected[0, 0, 0, 0] = 1
    assert torch.equal(x.grad, expected)


def test_roi_empty_and_bad_input():
    """No RoIs -> (0, C, PH, PW); bad rows and batch indices raise ValueError."""
    x = torch.zeros(1, 2, 5, 5)
    assert roi_pool(x, torch.zeros(0, 5), 2).shape == (0, 2, 2, 2)
    assert roi_align(x, torch.zeros(0, 5), 2).shape == (0, 2, 2, 2)
    with pytest.raises(ValueError, match=r"`rois` expected shape \(K, 5\)"):
        roi_align(x, torch.zeros(3, 4), 2)
    with pytest.raises(ValueError, match="x1 <= x2"):
        roi_pool(x, torch.tensor([[0.0, 3, 0, 1, 1]]), 2)
    with pytest.raises(ValueError, match="batch indices"):
        roi_pool(x, torch.tensor([[1.0, 0, 0, 1, 1]]), 2)
