"""binary_cross_entropy_with_logits against torch.nn.functional and a numeric gradient."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnncourse.gradcheck import eval_numerical_gradient, rel_error
from cnncourse.layers import binary_cross_entropy_with_logits


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_matches_torch(rng, reduction, dtype):
    """Are loss and gradient those of F.binary_cross_entropy_with_logits, dtype kept?"""
    a = (rng.normal(size=(4, 3)) * 5).astype(dtype)
    t = rng.random((4, 3)).round()                       # 0/1 labels, and probabilities below
    for target in (t, rng.random((4, 3))):
        loss, da = binary_cross_entropy_with_logits(a, target, reduction=reduction)
        at = torch.tensor(a, dtype=torch.float64, requires_grad=True)
        ref = F.binary_cross_entropy_with_logits(at, torch.tensor(target), reduction=reduction)
        ref.backward()
        tol = 1e-12 if dtype == np.float64 else 1e-5
        assert loss.dtype == dtype and da.dtype == dtype and da.shape == a.shape
        assert float(loss) == pytest.approx(ref.item(), rel=tol)
        np.testing.assert_allclose(da, at.grad.numpy(), rtol=tol, atol=tol * 1e-2)


def test_bce_gradient_is_the_prediction_error_and_stable(rng):
    """Is dlogits = sigmoid(a) - t (sum), checked numerically, and finite for |a| = 1000?"""
    a = rng.normal(size=6)
    t = np.array([0, 1, 1, 0, 1, 0])
    _, da = binary_cross_entropy_with_logits(a, t, reduction="sum")
    np.testing.assert_allclose(da, 1 / (1 + np.exp(-a)) - t, rtol=1e-12)
    num = eval_numerical_gradient(lambda v: float(binary_cross_entropy_with_logits(v, t, reduction="sum")[0]), a)
    assert rel_error(da, num) < 1e-8
    loss, da = binary_cross_entropy_with_logits(np.array([1000.0, -1000.0]), np.array([0, 1]), reduction="sum")
    assert float(loss) == pytest.approx(2000.0) and np.allclose(da, [1, -1])


def test_bce_errors():
    """Do bad arguments raise errors naming them?"""
    with pytest.raises(ValueError, match="`t` expected shape"):
        binary_cross_entropy_with_logits(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="`reduction`"):
        binary_cross_entropy_with_logits(np.zeros(3), np.zeros(3), reduction="none")
    with pytest.raises(ValueError, match="`t` expected targets in"):
        binary_cross_entropy_with_logits(np.zeros(3), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="`logits` expected at least one"):
        binary_cross_entropy_with_logits(np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match="`logits`"):
        binary_cross_entropy_with_logits(np.zeros(3, dtype=np.int64), np.zeros(3))
