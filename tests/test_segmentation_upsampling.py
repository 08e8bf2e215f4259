"""Overlap counts, phase means, pixel shuffle (vs torch), ICNR, sub-pixel and resize convolutions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnncourse.segmentation import (ResizeConv, SubPixelConv, icnr_, overlap_counts, phase_means,
                                    pixel_shuffle)


def _slow_overlaps(k, s, n):
    out = np.zeros(((n - 1) * s + k,) * 2)
    for i in range(n):
        for j in range(n):
            out[i * s:i * s + k, j * s:j * s + k] += 1
    return out


@pytest.mark.parametrize("k, s", [(3, 2), (4, 2), (3, 1), (5, 3), (2, 2)])
def test_overlap_counts_match_a_loop(k, s):
    """Does the count of kernel copies equal pasting ones in a loop; uniform inside iff S divides K?"""
    counts = overlap_counts(k, s, 6)
    np.testing.assert_array_equal(counts, _slow_overlaps(k, s, 6))
    inner = counts[k:-k, k:-k]
    assert (inner.min() == inner.max()) == (k % s == 0)


def test_phase_means_see_the_checkerboard():
    """Phase means differ for kernel 3 stride 2 and agree for kernel 4 stride 2."""
    assert np.ptp(phase_means(overlap_counts(3, 2, 8), 2, border=3)) > 0.5
    assert np.ptp(phase_means(overlap_counts(4, 2, 8), 2, border=4)) == 0
    a = np.arange(16.0).reshape(4, 4)
    np.testing.assert_allclose(phase_means(torch.tensor(a), 2), [[5, 6], [9, 10]])


def test_pixel_shuffle_matches_torch(device):
    """Is our reshape/permute pixel shuffle exactly torch's, and differentiable?"""
    x = torch.randn(2, 12, 3, 5, device=device, dtype=torch.float64, requires_grad=True)
    for r in (1, 2):
        torch.testing.assert_close(pixel_shuffle(x, r), F.pixel_shuffle(x, r))
    assert torch.autograd.gradcheck(lambda t: pixel_shuffle(t, 2), (x,))
    with pytest.raises(ValueError, match="`x`"):
        pixel_shuffle(x[:, :5], 2)


def test_icnr_subpixel_is_nearest_upsampling_at_init():
    """With ICNR, conv + pixel shuffle equals nearest upsampling of one conv: no checkerboard."""
    torch.manual_seed(0)
    up = SubPixelConv(3, 2, scale=2)
    x = torch.randn(1, 3, 6, 7)
    base = F.conv2d(x, up.conv.weight[::4], up.conv.bias[::4], padding=1)       # the shared filters
    torch.testing.assert_close(up(x), F.interpolate(base, scale_factor=2, mode="nearest"))
    const = up(torch.ones(1, 3, 8, 8))
    assert np.ptp(phase_means(const[0, 0], 2, border=2)) < 1e-6
    w = torch.empty(8, 3, 3, 3)
    icnr_(w, 2)
    assert torch.equal(w[0], w[3]) and not torch.equal(w[0], w[4])
    with pytest.raises(ValueError, match="`weight`"):
        icnr_(torch.empty(6, 3, 3, 3), 2)


def test_resize_conv_shapes_and_no_checkerboard():
    """Resize-conv upsamples to scale or to an explicit size; on a constant input the phases agree."""
    torch.manual_seed(0)
    for mode in ("nearest", "bilinear"):
        rc = ResizeConv(3, 4, scale=2, mode=mode)
        assert rc(torch.randn(2, 3, 5, 6)).shape == (2, 4, 10, 12)
        assert rc(torch.randn(1, 3, 5, 6), output_size=(11, 13)).shape == (1, 4, 11, 13)
        out = rc(torch.ones(1, 3, 8, 8)).detach()
        assert np.ptp(phase_means(out, 2, border=2)) < 1e-5
    with pytest.raises(ValueError, match="`mode`"):
        ResizeConv(3, 4, mode="cubic")
