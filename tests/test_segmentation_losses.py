"""Pixel cross-entropy (numpy pair) against torch's cross_entropy; soft Dice against autograd and a loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnncourse.gradcheck import eval_numerical_gradient_array
from cnncourse.segmentation import (dice_three_forms, pixel_cross_entropy_backward,
                                    pixel_cross_entropy_forward, soft_dice_loss)


def _case(rng, n=2, k=4, h=5, w=6, ignore=-100, frac_ignored=0.2):
    logits = rng.normal(size=(n, k, h, w)) * 3
    target = rng.integers(0, k, size=(n, h, w))
    target[rng.random((n, h, w)) < frac_ignored] = ignore
    return logits, target


def _torch_ce(logits, target, weight, ignore, reduction, dout):
    lt = torch.tensor(logits, requires_grad=True)
    wt = None if weight is None else torch.tensor(weight)
    loss = F.cross_entropy(lt, torch.tensor(target), weight=wt, ignore_index=ignore, reduction=reduction)
    loss.backward(torch.as_tensor(dout, dtype=loss.dtype))
    return loss.detach().numpy(), lt.grad.numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("use_weight", [False, True])
@pytest.mark.parametrize("ignore", [-100, 255, 2])
def test_cross_entropy_matches_torch(rng, reduction, use_weight, ignore):
    """Do loss and gradient equal F.cross_entropy(weight=, ignore_index=) for every reduction?"""
    logits, target = _case(rng, ignore=ignore)
    weight = rng.uniform(0.2, 3.0, size=4) if use_weight else None
    loss, cache = pixel_cross_entropy_forward(logits, target, weight=weight, ignore_index=ignore,
                                              reduction=reduction)
    dout = rng.normal(size=target.shape) if reduction == "none" else np.float64(1.7)
    ref_loss, ref_grad = _torch_ce(logits, target, weight, ignore, reduction, dout)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(pixel_cross_entropy_backward(dout, cache), ref_grad, rtol=1e-9, atol=1e-12)


def test_cross_entropy_weighted_mean_divides_by_weights(rng):
    """Is the mean weighted by sum(w[y]) (torch's rule) rather than by the pixel count?"""
    logits, target = _case(rng, frac_ignored=0.0)
    weight = np.array([1.0, 2.0, 3.0, 4.0])
    none, _ = pixel_cross_entropy_forward(logits, target, weight=weight, reduction="none")
    mean, _ = pixel_cross_entropy_forward(logits, target, weight=weight)
    assert np.isclose(mean, none.sum() / weight[target].sum())
    assert not np.isclose(mean, none.mean())


def test_cross_entropy_slow_loop_and_numeric_gradient(rng):
    """Does a per-pixel loop give the same loss, and central differences the same gradient?"""
    logits, target = _case(rng, n=1, k=3, h=3, w=4, ignore=-1)
    weight = np.array([0.5, 1.0, 2.0])
    loss, cache = pixel_cross_entropy_forward(logits, target, weight=weight, ignore_index=-1)
    num = den = 0.0
    for i in range(3):
        for j in range(4):
            y = target[0, i, j]
            if y == -1:
                continue
            z = logits[0, :, i, j]
            num += -weight[y] * (z[y] - np.log(np.exp(z).sum()))
            den += weight[y]
    assert np.isclose(loss, num / den)
    f = lambda z: pixel_cross_entropy_forward(z, target, weight=weight, ignore_index=-1)[0]
    numeric = eval_numerical_gradient_array(f, logits.copy(), np.array(1.0))
    np.testing.assert_allclose(pixel_cross_entropy_backward(1.0, cache), numeric, rtol=1e-5, atol=1e-8)


def test_cross_entropy_float32_and_all_ignored(rng):
    """float32 in gives float32 out; an image with every pixel ignored gives NaN like torch."""
    logits, target = _case(rng)
    loss, cache = pixel_cross_entropy_forward(logits.astype(np.float32), target)
    assert loss.dtype == np.float32 and pixel_cross_entropy_backward(1.0, cache).dtype == np.float32
    all_ignored = np.full_like(target, -100)
    loss, _ = pixel_cross_entropy_forward(logits, all_ignored)
    assert np.isnan(loss) and torch.isnan(F.cross_entropy(torch.tensor(logits), torch.tensor(all_ignored))).item()
    total, cache = pixel_cross_entropy_forward(logits, all_ignored, reduction="sum")
    assert total == 0 and not pixel_cross_entropy_backward(1.0, cache).any()


def test_cross_entropy_errors(rng):
    """Are wrong shapes, labels, weights, reductions and dout rejected with the argument's name?"""
    logits, target = _case(rng, frac_ignored=0.0)
    with pytest.raises(ValueError, match="`target`"):
        pixel_cross_entropy_forward(logits, target[:, :-1])
    with pytest.raises(ValueError, match="`target`"):
        pixel_cross_entropy_forward(logits, np.full_like(target, 4))
    with pytest.raises(ValueError, match="`target`"):
        pixel_cross_entropy_forward(logits, target.astype(float))
    with pytest.raises(ValueError, match="`weight`"):
        pixel_cross_entropy_forward(logits, target, weight=np.ones(3))
    with pytest.raises(ValueError, match="`reduction`"):
        pixel_cross_entropy_forward(logits, target, reduction="avg")
    _, cache = pixel_cross_entropy_forward(logits, target, reduction="none")
    with pytest.raises(ValueError, match="`dout`"):
        pixel_cross_entropy_backward(1.0, cache)


# ---------------------------------------------------------------- Dice

def test_dice_three_forms_agree_on_random_masks(rng):
    """Do the slide's three forms agree on 0/1 masks, and equal sklearn's f1 on the flattened masks?"""
    from sklearn.metrics import f1_score
    for _ in range(20):
        a, b = rng.random((7, 9)) < 0.4, rng.random((7, 9)) < 0.3
        sets, counts, dot = dice_three_forms(a, b)
        assert np.isclose(sets, counts) and np.isclose(counts, dot)
        assert np.isclose(sets, f1_score(b.ravel(), a.ravel()))


def test_dice_three_forms_extremes_and_errors():
    """Identical -> 1, disjoint -> 0, both empty -> 1 (stated convention); non-0/1 values rejected."""
    m = np.zeros((4, 4), int)
    m[1:3, 1:3] = 1
    assert dice_three_forms(m, m) == (1.0, 1.0, 1.0)
    assert dice_three_forms(m, 1 - m) == (0.0, 0.0, 0.0)
    assert dice_three_forms(np.zeros(5), np.zeros(5)) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="`a`"):
        dice_three_forms(m * 2, m)
    with pytest.raises(ValueError, match="`b`"):
        dice_three_forms(m, m[:2])


def _slow_dice_loss(logits, target, smooth, squared=False, ignore=None):
    p = torch.softmax(torch.tensor(logits), 1).numpy()
    n, k, h, w = logits.shape
    dices = []
    for c in range(k):
        inter = sp = st = 0.0
        for a in range(n):
            for i in range(h):
                for j in range(w):
                    if ignore is not None and target[a, i, j] == ignore:
                        continue
                    t = float(target[a, i, j] == c)
                    inter += p[a, c, i, j] * t
                    sp += p[a, c, i, j] ** (2 if squared else 1)
                    st += t
        dices.append((2 * inter + smooth) / (sp + st + smooth))
    return 1 - np.mean(dices)


@pytest.mark.parametrize("squared", [False, True])
def test_soft_dice_matches_loop_and_gradcheck(rng, squared):
    """Does the loss equal a per-pixel loop, and does its autograd gradient pass gradcheck?"""
    logits = rng.normal(size=(2, 3, 4, 5))
    target = rng.integers(0, 3, size=(2, 4, 5))
    target[0, 0, :2] = 9
    ours = soft_dice_loss(torch.tensor(logits), torch.tensor(target), smooth=0.5, squared=squared,
                          ignore_index=9)
    assert np.isclose(ours.item(), _slow_dice_loss(logits, target, 0.5, squared, ignore=9))
    lt = torch.tensor(logits, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda z: soft_dice_loss(z, torch.tensor(target), smooth=0.5, squared=squared, ignore_index=9), (lt,))


def test_soft_dice_absent_class_and_perfect_prediction():
    """Absent class: Dice ~1 with smoothing, ~0 without; a confident correct prediction -> loss ~0."""
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    target[0, :2] = 1                                      # class 2 absent
    logits = 50 * F.one_hot(target, 3).movedim(-1, 1).double()
    assert soft_dice_loss(logits, target).item() < 1e-6
    # without smoothing the absent class gets Dice ~ 0/tiny = 0: a perfect prediction still loses 1/3
    assert abs(soft_dice_loss(logits, target, smooth=0.0).item() - 1 / 3) < 1e-6
    per_image = soft_dice_loss(logits, target, per_image=True)
    assert per_image.item() < 1e-6


def test_soft_dice_class_weight_and_device(device):
    """Does class_weight pick one class's loss, on every device, in the logits' dtype?"""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 5, 5, generator=g, dtype=torch.float64).to(device)
    target = torch.randint(0, 3, (2, 5, 5), generator=g).to(device)
    only1 = soft_dice_loss(logits, target, class_weight=torch.tensor([0.0, 1.0, 0.0]))
    p = logits.softmax(1)[:, 1]
    t = (target == 1).double()
    expected = 1 - (2 * (p * t).sum() + 1) / (p.sum() + t.sum() + 1)
    assert only1.device.type == device and only1.dtype == torch.float64
    assert torch.isclose(only1, expected)


def test_soft_dice_errors():
    """Are wrong logits, targets, smoothing and class weights rejected with the argument's name?"""
    logits, target = torch.zeros(1, 2, 3, 3), torch.zeros(1, 3, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="`logits`"):
        soft_dice_loss(logits.long(), target)
    with pytest.raises(ValueError, match="`target`"):
        soft_dice_loss(logits, target[:, :2])
    with pytest.raises(ValueError, match="`target`"):
        soft_dice_loss(logits, target + 2)
    with pytest.raises(ValueError, match="`smooth`"):
        soft_dice_loss(logits, target, smooth=-1)
    with pytest.raises(ValueError, match="`class_weight`"):
        soft_dice_loss(logits, target, class_weight=torch.ones(3))
