"""Pixel-wise cross-entropy with class weights and an ignored label, numpy forward/backward.

Lecture 08 (segmentation as pixel-wise classification). Every pixel is one classification
example: ``logits[n, :, i, j]`` are its ``K`` class scores and ``target[n, i, j]`` its label.
Semantics follow ``torch.nn.functional.cross_entropy(logits, target, weight=, ignore_index=,
reduction=)``:

- pixel loss ``l = -w[y] * log softmax(logits)[y]``, and 0 where ``y == ignore_index``;
- ``reduction="mean"`` divides the sum by the sum of the weights of the pixels that count,
  ``sum(w[y])`` (a *weighted* mean, not a division by the pixel count); if no pixel counts this is
  0/0 and the loss is NaN, as in torch;
- ``"sum"`` returns the sum and ``"none"`` the ``(N, H, W)`` map.
"""

from __future__ import annotations

import numpy as np

from cnncourse._validate import ArgumentError, check_array
from cnncourse.layers._checks import _float_array

__all__ = ["pixel_cross_entropy_backward", "pixel_cross_entropy_forward"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_target(target: np.ndarray, logits: np.ndarray, ignore_index: int) -> np.ndarray:
    check_array("target", target, ndim=logits.ndim - 1)
    if not np.issubdtype(target.dtype, np.integer):
        raise ArgumentError("target", "an integer array of class labels", f"dtype {target.dtype}")
    n, k = logits.shape[:2]
    if target.shape != (n,) + logits.shape[2:]:
        raise ArgumentError("target", f"shape {(n,) + logits.shape[2:]} (logits without the class axis)",
                            f"shape {target.shape}")
    used = target[target != ignore_index]
    if used.size and (used.min() < 0 or used.max() >= k):
        raise ArgumentError("target", f"labels in [0, {k}) or ignore_index={ignore_index}",
                            f"labels in [{used.min()}, {used.max()}]")
    return target


def pixel_cross_entropy_forward(logits: np.ndarray, target: np.ndarray, *,
                                weight: np.ndarray | None = None, ignore_index: int = -100,
                                reduction: str = "mean") -> tuple[np.ndarray, tuple]:
    """Cross-entropy of every pixel's softmax against its label, like ``F.cross_entropy``.

    Lecture 08. Numerically stable (log-sum-exp with the class maximum subtracted).

    Args:
        logits: ``(N, K, H, W)`` float32/float64 class scores (any number of spatial axes works,
            ``(N, K)`` included).
        target: ``(N, H, W)`` integer labels in ``[0, K)``, or ``ignore_index``.
        weight: ``(K,)`` class weights (``None``: all 1), same dtype as ``logits``.
        ignore_index: label whose pixels contribute neither loss nor gradient.
        reduction: ``"mean"`` (weighted mean), ``"sum"`` or ``"none"``.

    Returns:
        ``loss``: a 0-d array (``"mean"``/``"sum"``) or ``(N, H, W)`` (``"none"``), the logits'
        dtype; ``cache`` for :func:`pixel_cross_entropy_backward` (softmax probabilities, one-hot
        weights, the normaliser).
    """
    logits = _float_array("logits", logits)
    if logits.ndim < 2:
        raise ArgumentError("logits", "an (N, K, ...) array", f"shape {logits.shape}")
    if reduction not in _REDUCTIONS:
        raise ArgumentError("reduction", "'mean', 'sum' or 'none'", repr(reduction))
    k = logits.shape[1]
    target = _check_target(target, logits, ignore_index)
    if weight is None:
        weight = np.ones(k, dtype=logits.dtype)
    else:
        weight = _float_array("weight", weight, ndim=1)
        if weight.shape != (k,) or weight.dtype != logits.dtype:
            raise ArgumentError("weight", f"shape ({k},) and dtype {logits.dtype}",
                                f"shape {weight.shape} and dtype {weight.dtype}")
    valid = target != ignore_index                                # (N, H, W)
    y = np.where(valid, target, 0)                                # safe index for ignored pixels
    shifted = logits - logits.max(axis=1, keepdims=True)          # (N, K, H, W)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    picked = np.take_along_axis(log_probs, y[:, None], axis=1)[:, 0]  # (N, H, W) log p[y]
    w_pix = np.where(valid, weight[y], 0).astype(logits.dtype)    # (N, H, W) w[y], 0 if ignored
    losses = -w_pix * picked
    if reduction == "none":
        loss, scale = losses, None
    elif reduction == "sum":
        loss, scale = losses.sum(), logits.dtype.type(1)
    else:
        total = w_pix.sum()
        scale = logits.dtype.type(1) / total if total != 0 else logits.dtype.type(np.nan)
        loss = losses.sum() * scale
    out = np.asarray(loss, dtype=logits.dtype)
    return out, (np.exp(log_probs), y, w_pix, scale, reduction)


def pixel_cross_entropy_backward(dout: np.ndarray | float, cache: tuple) -> np.ndarray:
    """Gradient of :func:`pixel_cross_entropy_forward` with respect to ``logits``.

    Lecture 08. For one pixel, ``d l / d logits = w[y] * (softmax(logits) - onehot(y))``; the
    reduction then scales it (``1 / sum(w[y])`` for the mean).

    Args:
        dout: upstream gradient: a scalar (``"mean"``/``"sum"``) or ``(N, H, W)`` (``"none"``).
        cache: from the forward pass.

    Returns:
        ``dlogits`` with the shape and dtype of ``logits``.
    """
    probs, y, w_pix, scale, reduction = cache
    dout = np.asarray(dout, dtype=probs.dtype)
    expected = w_pix.shape if reduction == "none" else ()
    if dout.shape != expected:
        raise ArgumentError("dout", f"shape {expected} for reduction={reduction!r}", f"shape {dout.shape}")
    g = w_pix * dout if reduction == "none" else w_pix * (dout * scale)   # (N, H, W)
    dlogits = probs * g[:, None]
    np.put_along_axis(dlogits, y[:, None],
                      np.take_along_axis(dlogits, y[:, None], axis=1) - g[:, None], axis=1)
    return dlogits
