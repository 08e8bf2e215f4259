"""Deformable convolution against a slow loop twin, conv2d (zero offsets), autograd and torchvision."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from cnncourse.advanced import deform_conv2d, deform_sampling_locations
from tests._torchvision import torchvision_or_skip


def _bilinear(img, y, x):
    """torchvision's bilinear_interpolate: 0 beyond one pixel outside, missing corners count 0."""
    h, w = img.shape
    if y <= -1 or y >= h or x <= -1 or x >= w:
        return 0.0
    y0, x0 = math.floor(y), math.floor(x)
    total = 0.0
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < h and 0 <= xx < w:
                total += wy * wx * float(img[yy, xx])
    return total


def _deform_loop(x, offset, weight, bias, stride, padding, dilation, mask=None):
    """y(p0) = sum_k w(p_k) x(p0 + p_k + dp_k), one output value at a time."""
    n, c, h, w = x.shape
    f, cpg, kh, kw = weight.shape
    groups, g = c // cpg, offset.shape[1] // (2 * kh * kw)
    ho, wo = offset.shape[2:]
    out = torch.zeros(n, f, ho, wo, dtype=torch.float64)
    for b in range(n):
        for o in range(f):
            grp = o // (f // groups)
            for oy in range(ho):
                for ox in range(wo):
                    acc = 0.0 if bias is None else float(bias[o])
                    for ci in range(cpg):
                        ch = grp * cpg + ci
                        og = ch // (c // g)
                        for i in range(kh):
                            for j in range(kw):
                                k = i * kw + j
                                dy = float(offset[b, og * 2 * kh * kw + 2 * k, oy, ox])
                                dx = float(offset[b, og * 2 * kh * kw + 2 * k + 1, oy, ox])
                                y = oy * stride - padding + i * dilation + dy
                                xx = ox * stride - padding + j * dilation + dx
                                val = _bilinear(x[b, ch], y, xx)
                                if mask is not None:
                                    val *= float(mask[b, og * kh * kw + k, oy, ox])
                                acc += float(weight[o, ci, i, j]) * val
                    out[b, o, oy, ox] = acc
    return out


def _case(seed, n=2, c=4, h=7, w=6, f=4, k=3, groups=2, g=2, stride=1, padding=1, dilation=1, scale=1.5,
          dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=gen, dtype=dtype)
    weight = torch.randn(f, c // groups, k, k, generator=gen, dtype=dtype)
    bias = torch.randn(f, generator=gen, dtype=dtype)
    ho = (h + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    wo = (w + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    offset = scale * torch.randn(n, 2 * g * k * k, ho, wo, generator=gen, dtype=dtype)
    mask = torch.rand(n, g * k * k, ho, wo, generator=gen, dtype=dtype)
    return x, offset, weight, bias, mask, dict(stride=stride, padding=padding, dilation=dilation)


@pytest.mark.parametrize("params", [dict(), dict(stride=2, padding=0), dict(dilation=2, padding=2),
                                    dict(groups=1, g=1, scale=3.0), dict(groups=4, g=4, f=8)])
def test_matches_the_loop_twin(params):
    """Does the vectorized version read the same bilinear samples as the pixel-by-pixel loop?"""
    x, offset, weight, bias, _, conv = _case(0, **params)
    got = deform_conv2d(x, offset, weight, bias, **conv)
    ref = _deform_loop(x, offset, weight, bias, conv["stride"], conv["padding"], conv["dilation"])
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-10)


def test_mask_matches_the_loop_twin():
    """DCN v2's modulation mask multiplies each sample."""
    x, offset, weight, bias, mask, conv = _case(1)
    ref = _deform_loop(x, offset, weight, bias, 1, 1, 1, mask=mask)
    torch.testing.assert_close(deform_conv2d(x, offset, weight, bias, mask=mask, **conv), ref)


@pytest.mark.parametrize("stride,padding,dilation,groups", [(1, 0, 1, 1), (2, 1, 1, 2), (1, 2, 2, 4), (3, 1, 2, 1)])
def test_zero_offsets_give_conv2d(stride, padding, dilation, groups):
    """With zero offsets (and any number of offset groups) is it torch's conv2d?"""
    x, offset, weight, bias, _, conv = _case(2, groups=groups, stride=stride, padding=padding,
                                              dilation=dilation, h=9, w=8, f=8)
    got = deform_conv2d(x, torch.zeros_like(offset), weight, bias, **conv)
    ref = F.conv2d(x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)
    torch.testing.assert_close(got, ref)


def test_integer_offsets_shift_the_input():
    """An offset of exactly (+1, -2) everywhere reads the input moved by one row and two columns."""
    x = torch.randn(1, 1, 8, 8, dtype=torch.float64)
    weight = torch.zeros(1, 1, 1, 1, dtype=torch.float64) + 1.0
    offset = torch.zeros(1, 2, 8, 8, dtype=torch.float64)
    offset[:, 0], offset[:, 1] = 1.0, -2.0
    out = deform_conv2d(x, offset, weight)
    torch.testing.assert_close(out[0, 0, :7, 2:], x[0, 0, 1:, :6])
    assert torch.all(out[0, 0, 7] == 0) and torch.all(out[0, 0, :, :2] == 0)  # read outside: zeros


def test_gradcheck_in_float64():
    """Do the gradients of input, offset, weight, bias and mask match finite differences?"""
    x, offset, weight, bias, mask, conv = _case(3, n=1, c=2, h=4, w=4, f=2, groups=1, g=1, scale=0.7)
    args = tuple(t.clone().requires_grad_(True) for t in (x, offset, weight, bias, mask))
    assert torch.autograd.gradcheck(lambda a, o, wt, b, m: deform_conv2d(a, o, wt, b, mask=m, **conv), args)


def test_sampling_locations_are_the_regular_grid_plus_offsets():
    """Zero offsets give p0 + pn (stride, padding, dilation); offsets are added as (dy, dx)."""
    off = torch.zeros(1, 18, 2, 3)
    loc = deform_sampling_locations(off, 3, stride=2, padding=1, dilation=2)
    assert loc.shape == (1, 1, 9, 2, 3, 2)
    assert loc[0, 0, 0, 0, 0].tolist() == [-1.0, -1.0]  # top-left tap of the first output
    assert loc[0, 0, 5, 1, 2].tolist() == [1 * 2 - 1 + 1 * 2, 2 * 2 - 1 + 2 * 2]  # tap (1, 2) of output (1, 2)
    off[0, 10, 1, 2], off[0, 11, 1, 2] = 0.25, -0.5
    loc2 = deform_sampling_locations(off, 3, stride=2, padding=1, dilation=2)
    assert (loc2 - loc)[0, 0, 5, 1, 2].tolist() == [0.25, -0.5]


def test_follows_dtype_and_device(device):
    """float32 in, float32 out, on the input's device."""
    x, offset, weight, bias, _, conv = _case(4, dtype=torch.float32)
    out = deform_conv2d(x.to(device), offset.to(device), weight.to(device), bias.to(device), **conv)
    assert out.dtype == torch.float32 and out.device.type == device
    ref = _deform_loop(x.double(), offset.double(), weight.double(), bias.double(), 1, 1, 1)
    torch.testing.assert_close(out.cpu().double(), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("params", [dict(), dict(stride=2, padding=0, dilation=2), dict(groups=4, g=4, f=8)])
def test_matches_torchvision(params):
    """Same numbers as torchvision.ops.deform_conv2d, with and without mask (skipped without torchvision)."""
    tv = torchvision_or_skip(compiled=True)
    x, offset, weight, bias, mask, conv = _case(5, **params)
    s, p, d = conv["stride"], conv["padding"], conv["dilation"]
    ref = tv.ops.deform_conv2d(x, offset, weight, bias, stride=s, padding=p, dilation=d)
    torch.testing.assert_close(deform_conv2d(x, offset, weight, bias, **conv), ref)
    ref_m = tv.ops.deform_conv2d(x, offset, weight, bias, stride=s, padding=p, dilation=d, mask=mask)
    torch.testing.assert_close(deform_conv2d(x, offset, weight, bias, mask=mask, **conv), ref_m)


def test_bad_arguments_are_named():
    """Wrong shapes raise ValueError naming the argument."""
    x, offset, weight, bias, mask, conv = _case(6)
    with pytest.raises(ValueError, match="`offset`"):
        deform_conv2d(x, offset[:, :5], weight, bias, **conv)
    with pytest.raises(ValueError, match="`offset`"):
        deform_conv2d(x, offset[..., :-1], weight, bias, **conv)
    with pytest.raises(ValueError, match="`weight`"):
        deform_conv2d(x, offset, weight[:, :, :, :, None], bias, **conv)
    with pytest.raises(ValueError, match="`weight`"):
        deform_conv2d(x, offset, torch.zeros(4, 3, 3, 3, dtype=torch.float64), bias, **conv)
    with pytest.raises(ValueError, match="`bias`"):
        deform_conv2d(x, offset, weight, bias[:2], **conv)
    with pytest.raises(ValueError, match="`mask`"):
        deform_conv2d(x, offset, weight, bias, mask=mask[:, :3], **conv)
    with pytest.raises(ValueError, match="`input`"):
        deform_conv2d(x.long(), offset, weight, bias, **conv)
    with pytest.raises(ValueError, match="`offset`"):
        deform_sampling_locations(torch.zeros(1, 7, 2, 2), 3)
