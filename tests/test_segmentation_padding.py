"""Mirror padding against numpy.pad(mode="reflect") and torch's F.pad(mode="reflect") with autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnncourse.segmentation import reflect_indices, reflect_pad2d_backward, reflect_pad2d_forward


@pytest.mark.parametrize("padding", [1, 3, (2, 1), (0, 2, 3, 1), (4, 0, 0, 2)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_reflect_pad_matches_numpy_and_torch(rng, padding, dtype):
    """Do forward and backward equal np.pad(reflect) and torch F.pad(reflect) with autograd?"""
    x = rng.normal(size=(2, 3, 5, 6)).astype(dtype)
    out, cache = reflect_pad2d_forward(x, padding)
    left, right, top, bottom = {1: (1,) * 4, 3: (3,) * 4, (2, 1): (1, 1, 2, 2)}.get(padding, padding)
    np.testing.assert_array_equal(out, np.pad(x, [(0, 0), (0, 0), (top, bottom), (left, right)], mode="reflect"))
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ref = F.pad(xt, (left, right, top, bottom), mode="reflect")
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-6)
    dout = rng.normal(size=out.shape).astype(dtype)
    ref.backward(torch.tensor(dout, dtype=torch.float64))
    dx = reflect_pad2d_backward(dout, cache)
    assert dx.dtype == dtype and dx.shape == x.shape
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_reflect_indices_small_example():
    """[a b c d] padded by 2 reads [c b | a b c d | c b] (the edge pixel is not repeated)."""
    np.testing.assert_array_equal(reflect_indices(4, 2, 2), [2, 1, 0, 1, 2, 3, 2, 1])


def test_reflect_pad_errors(rng):
    """Pads as large as the axis (torch refuses too), negative pads and bad dout are rejected."""
    x = rng.normal(size=(1, 1, 3, 3))
    with pytest.raises(ValueError, match="`padding`"):
        reflect_pad2d_forward(x, 3)
    with pytest.raises(ValueError, match="`padding`"):
        reflect_pad2d_forward(x, (1, -1))
    with pytest.raises(ValueError, match="`padding`"):
        reflect_pad2d_forward(x, (1, 1, 1))
    with pytest.raises(ValueError, match="`x`"):
        reflect_pad2d_forward(x[0], 1)
    _, cache = reflect_pad2d_forward(x, 1)
    with pytest.raises(ValueError, match="`dout`"):
        reflect_pad2d_backward(np.zeros((1, 1, 4, 4)), cache)
