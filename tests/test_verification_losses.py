"""Contrastive (DeepID2) and triplet (FaceNet) losses against direct formulas and torch.nn."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cnncourse.verification import contrastive_loss, triplet_loss


def _contrastive_loop(x1, x2, same, margin):
    """The slide's case formula, one pair at a time."""
    out = []
    for a, b, y in zip(x1.tolist(), x2.tolist(), same.tolist()):
        d = math.sqrt(sum((u - v) ** 2 for u, v in zip(a, b)))
        out.append(0.5 * d * d if y == 1 else 0.5 * max(0.0, margin - d) ** 2)
    return torch.tensor(out, dtype=torch.float64)


def _triplet_loop(a, p, n, margin, squared):
    out = []
    for ai, pi, ni in zip(a.tolist(), p.tolist(), n.tolist()):
        dp = sum((u - v) ** 2 for u, v in zip(ai, pi))
        dn = sum((u - v) ** 2 for u, v in zip(ai, ni))
        if not squared:
            dp, dn = math.sqrt(dp), math.sqrt(dn)
        out.append(max(0.0, dp - dn + margin))
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("margin", [0.5, 1.0, 2.0])
def test_contrastive_matches_the_slide_formula(rng, margin):
    """Does every per-pair loss, and its mean and sum, equal the DeepID2 case formula?"""
    x1 = torch.tensor(rng.normal(size=(40, 3)) * 0.6)
    x2 = torch.tensor(rng.normal(size=(40, 3)) * 0.6)
    same = torch.tensor(rng.integers(0, 2, size=40))
    ref = _contrastive_loop(x1, x2, same, margin)
    assert (ref[same == 0] > 0).any() and (ref[same == 0] == 0).any()  # both hinge regimes occur
    torch.testing.assert_close(contrastive_loss(x1, x2, same, margin=margin, reduction="none"), ref)
    torch.testing.assert_close(contrastive_loss(x1, x2, same, margin=margin), ref.mean())
    torch.testing.assert_close(contrastive_loss(x1, x2, same.bool(), margin=margin, reduction="sum"), ref.sum())


def test_contrastive_hand_values():
    """Same pair at distance 1 costs 1/2; different pair at 0.5 with margin 1 costs 1/8; beyond margin 0."""
    x1 = torch.zeros(3, 2)
    x2 = torch.tensor([[0.6, 0.8], [0.3, 0.4], [3.0, 4.0]])
    out = contrastive_loss(x1, x2, np.array([1, 0, 0]), margin=1.0, reduction="none")
    torch.testing.assert_close(out, torch.tensor([0.5, 0.125, 0.0]))


@pytest.mark.parametrize("margin", [0.05, 0.3, 1.0])
def test_triplet_plain_l2_equals_torch_triplet_margin_loss(rng, margin):
    """With plain L2 and torch's eps=1e-6 added to the difference, do we equal TripletMarginLoss?"""
    a, p, n = (torch.tensor(rng.normal(size=(64, 8))) for _ in range(3))
    for reduction in ("mean", "sum", "none"):
        ref = torch.nn.TripletMarginLoss(margin=margin, p=2, eps=1e-6, reduction=reduction)(a, p, n)
        ours = triplet_loss(a, p, n, margin=margin, squared=False, eps=1e-6, reduction=reduction)
        torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)


def test_triplet_default_eps_is_the_exact_formula(rng):
    """Without eps, do plain and squared variants equal the loop formula (and differ from torch's eps)?"""
    a, p, n = (torch.tensor(rng.normal(size=(30, 4))) for _ in range(3))
    for squared in (True, False):
        torch.testing.assert_close(triplet_loss(a, p, n, margin=0.7, squared=squared, reduction="none"),
                                   _triplet_loop(a, p, n, 0.7, squared))
    same = torch.zeros(1, 4, dtype=torch.float64)
    ours = triplet_loss(same, same, same + 1.0, margin=3.0, squared=False)
    ref = torch.nn.TripletMarginLoss(margin=3.0)(same, same, same + 1.0)
    assert float(ours) == 1.0 and abs(float(ref) - 1.0) > 1e-7  # torch's eps shifts the value


def test_triplet_squared_is_the_facenet_default():
    """Is the default the slide's squared FaceNet form with alpha = 0.2?"""
    a = torch.tensor([[0.0, 0.0]]); p = torch.tensor([[1.0, 0.0]]); n = torch.tensor([[1.2, 0.0]])
    # squared: 1 - 1.44 + 0.2 = -0.24 -> 0; plain: 1 - 1.2 + 0.2 = 0 -> 0; with margin 0.5 they differ
    assert float(triplet_loss(a, p, n)) == 0.0
    assert float(triplet_loss(a, p, n, margin=0.5)) == pytest.approx(0.06)
    assert float(triplet_loss(a, p, n, margin=0.5, squared=False)) == pytest.approx(0.3)


def test_gradcheck_float64(rng):
    """Are the analytic gradients of both losses right (torch.autograd.gradcheck in float64)?"""
    x1, x2 = (torch.tensor(rng.normal(size=(6, 3)), requires_grad=True) for _ in range(2))
    same = torch.tensor([1, 0, 1, 0, 0, 1])
    assert torch.autograd.gradcheck(lambda u, v: contrastive_loss(u, v, same, margin=3.0, reduction="none"),
                                    (x1, x2))
    a, p, n = (torch.tensor(rng.normal(size=(5, 3)), requires_grad=True) for _ in range(3))
    for squared in (True, False):
        assert torch.autograd.gradcheck(
            lambda u, v, w: triplet_loss(u, v, w, margin=2.0, squared=squared, reduction="sum"), (a, p, n))


def test_gradient_at_zero_distance_is_finite():
    """Does a different-identity pair at distance 0 give a zero (not NaN) gradient?"""
    x1 = torch.zeros(2, 3, requires_grad=True)
    x2 = torch.zeros(2, 3, requires_grad=True)
    loss = contrastive_loss(x1, x2, torch.tensor([0, 1]), margin=1.0, reduction="sum")
    loss.backward()
    assert float(loss.detach()) == 0.5
    assert torch.isfinite(x1.grad).all() and torch.equal(x1.grad, torch.zeros(2, 3))
    a = torch.zeros(1, 3, requires_grad=True)
    triplet_loss(a, a.detach().clone(), torch.ones(1, 3), margin=5.0, squared=False).backward()
    assert torch.isfinite(a.grad).all()


def test_empty_input():
    """Empty input: 'none' gives an empty tensor, 'sum' 0, and 'mean' a clear error."""
    e = torch.zeros(0, 4)
    assert contrastive_loss(e, e, torch.zeros(0, dtype=torch.long), reduction="none").shape == (0,)
    assert float(triplet_loss(e, e, e, reduction="sum")) == 0.0
    with pytest.raises(ValueError, match=r"`anchor` expected at least one sample for reduction='mean'"):
        triplet_loss(e, e, e)
    with pytest.raises(ValueError, match=r"`x1` expected at least one sample"):
        contrastive_loss(e, e, torch.zeros(0, dtype=torch.long))


def test_bad_input_raises_clear_errors():
    """Wrong shapes, mismatched lengths, NaN, bad labels or options: a ValueError naming the argument."""
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match=r"`x1` expected shape \(N, D\), got \(3,\)"):
        contrastive_loss(torch.zeros(3), torch.zeros(3), torch.ones(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"`x2` expected shape \(3, 2\) like `x1`, got \(3, 3\)"):
        contrastive_loss(x, torch.zeros(3, 3), torch.ones(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"`same` expected length 3"):
        contrastive_loss(x, x, torch.ones(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"`same` expected values in \{0, 1\}"):
        contrastive_loss(x, x, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"`same` expected an integer or bool tensor"):
        contrastive_loss(x, x, torch.tensor([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"`negative` expected values without NaN, got 1 NaN"):
        triplet_loss(x, x, torch.tensor([[0.0, float("nan")], [0, 0], [0, 0]]))
    with pytest.raises(ValueError, match=r"`margin` expected a number >= 0, got -1"):
        triplet_loss(x, x, x, margin=-1)
    with pytest.raises(ValueError, match=r"`reduction` expected 'mean' or 'sum' or 'none', got 'avg'"):
        triplet_loss(x, x, x, reduction="avg")
    with pytest.raises(ValueError, match=r"`anchor` expected a floating-point tensor"):
        triplet_loss(torch.zeros(3, 2, dtype=torch.long), x, x)
    with pytest.raises(TypeError, match=r"`anchor` expected a torch.Tensor"):
        triplet_loss(np.zeros((3, 2)), x, x)
