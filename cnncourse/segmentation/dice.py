"""Dice coefficient: the slide's three equal forms on 0/1 masks, and the soft multi-class Dice loss.

Lecture 08 (pixel cross-entropy vs Dice). For two 0/1 masks ``A`` (prediction) and ``B`` (target)

    Dice = 2|A n B| / (|A| + |B|) = 2TP / (2TP + FP + FN) = 2 A.B / (|A|^2 + |B|^2)

(``A.B`` the dot product of the flattened masks; ``|A|^2 = |A|`` because ``a^2 = a`` for 0/1).
Dice is 1 for identical masks and 0 for disjoint ones; for two EMPTY masks every form is 0/0: we
define it as 1 (the prediction is perfect), the same convention as :mod:`.metrics` uses for a class
absent from both prediction and target, except that the metrics leave such a class out of the mean.

The soft Dice loss replaces ``A`` by the softmax probabilities, so it is differentiable, and averages
``1 - Dice_c`` over the classes: every class counts the same whatever its area, which is why it
helps small objects that pixel cross-entropy neglects.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from cnncourse._validate import ArgumentError, check_array

__all__ = ["dice_three_forms", "soft_dice_loss"]


def dice_three_forms(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """The slide's three expressions of the Dice coefficient of two 0/1 masks (lecture 08).

    Args:
        a: prediction mask, any shape, values 0/1 (bool or numbers).
        b: target mask, same shape.

    Returns:
        ``(sets, counts, dot)``: ``2|A n B|/(|A|+|B|)``, ``2TP/(2TP+FP+FN)`` and
        ``2 A.B/(|A|^2+|B|^2)``, equal for 0/1 masks; each is 1.0 when both masks are empty.
    """
    a, b = check_array("a", np.asarray(a)), check_array("b", np.asarray(b))
    if a.shape != b.shape:
        raise ArgumentError("b", f"shape {a.shape} (the shape of `a`)", f"shape {b.shape}")
    for name, m in (("a", a), ("b", b)):
        if not np.isin(m, (0, 1)).all():
            raise ArgumentError(name, "a 0/1 mask", f"values {np.unique(m)[:5]}")
    A, B = a.astype(bool), b.astype(bool)
    inter, size_a, size_b = np.count_nonzero(A & B), np.count_nonzero(A), np.count_nonzero(B)
    tp, fp, fn = inter, np.count_nonzero(A & ~B), np.count_nonzero(~A & B)
    av, bv = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()

    def ratio(num: float, den: float) -> float:
        return 1.0 if den == 0 else float(num / den)

    return (ratio(2 * inter, size_a + size_b), ratio(2 * tp, 2 * tp + fp + fn),
            ratio(2 * av @ bv, av @ av + bv @ bv))


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, *, smooth: float = 1.0,
                   ignore_index: int | None = None, squared: bool = False,
                   class_weight: torch.Tensor | None = None, per_image: bool = False) -> torch.Tensor:
    """Multi-class soft Dice loss ``1 - mean_c Dice_c`` of softmax probabilities (lecture 08).

    ``Dice_c = (2 sum p_c t_c + smooth) / (sum p_c + sum t_c + smooth)`` with ``p_c`` the softmax
    probability of class ``c`` and ``t_c`` its one-hot target, summed over the batch and the pixels
    (``per_image=False``) or per image and then averaged over the images. ``squared=True`` uses
    ``sum p_c^2 + sum t_c^2`` in the denominator (the slide's third form, V-Net's loss). The
    smoothing keeps a class absent from the target and (almost) from the prediction at Dice ~ 1
    rather than 0/0, and softens the gradient when a class has few pixels.

    Args:
        logits (Tensor[N, K, H, W]): class scores, float.
        target (Tensor[int64, N, H, W]): labels in ``[0, K)`` or ``ignore_index``.
        smooth: the additive smoothing, >= 0. With ``0`` a class absent from the target gets
            Dice ``0 / sum p_c = 0`` however small its probabilities (NaN if they underflow to 0).
        ignore_index: label whose pixels are left out of every sum.
        squared: square the terms of the denominator.
        class_weight (Tensor[K], optional): weights of the per-class losses (normalised to sum 1);
            ``None`` averages the classes equally.
        per_image: one Dice per image and class instead of one per class over the whole batch.

    Returns:
        A scalar tensor in ``[0, 1]`` on the logits' device and dtype, differentiable in ``logits``.
    """
    if not isinstance(logits, torch.Tensor) or logits.ndim < 3 or not logits.is_floating_point():
        raise ArgumentError("logits", "a float Tensor (N, K, H, W)", f"{type(logits).__name__} "
                            f"{tuple(getattr(logits, 'shape', ()))}")
    n, k = logits.shape[:2]
    if not isinstance(target, torch.Tensor) or target.shape != (n,) + logits.shape[2:] \
            or target.is_floating_point():
        raise ArgumentError("target", f"an integer Tensor of shape {(n,) + tuple(logits.shape[2:])}",
                            f"{type(target).__name__} {tuple(getattr(target, 'shape', ()))}")
    if float(smooth) < 0:
        raise ArgumentError("smooth", "a value >= 0", smooth)
    valid = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    labels = torch.where(valid, target, torch.zeros_like(target))
    if labels.numel() and (labels.min() < 0 or labels.max() >= k):
        raise ArgumentError("target", f"labels in [0, {k}) or ignore_index", "labels outside that range")
    mask = valid.unsqueeze(1).to(logits.dtype)                                  # (N, 1, H, W)
    probs = logits.softmax(dim=1) * mask                                        # (N, K, H, W)
    onehot = F.one_hot(labels, k).movedim(-1, 1).to(logits.dtype) * mask        # (N, K, H, W)
    dims = tuple(range(2, logits.ndim)) if per_image else (0,) + tuple(range(2, logits.ndim))
    inter = (probs * onehot).sum(dims)                                          # (K,) or (N, K)
    if squared:
        denom = (probs * probs).sum(dims) + (onehot * onehot).sum(dims)
    else:
        denom = probs.sum(dims) + onehot.sum(dims)
    dice = (2 * inter + smooth) / (denom + smooth)
    if per_image:
        dice = dice.mean(0)                                                     # (K,)
    if class_weight is None:
        return 1 - dice.mean()
    cw = class_weight.to(device=logits.device, dtype=logits.dtype)
    if cw.shape != (k,) or bool((cw < 0).any()) or float(cw.sum()) <= 0:
        raise ArgumentError("class_weight", f"{k} non-negative weights with a positive sum",
                            f"shape {tuple(cw.shape)}")
    return 1 - (dice * cw).sum() / cw.sum()
