"""Softmax cross-entropy loss (lecture 1; cross-entropy vs quadratic cost in lecture 4)."""

from __future__ import annotations


import numpy as np

from cnncourse._validate import ArgumentError, check_array
from cnncourse.layers._checks import _float_array

__all__ = ["softmax_cross_entropy"]


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[np.floating, np.ndarray]:
    """Mean cross-entropy of softmax(logits) against integer labels, like ``F.cross_entropy``.

    Numerically stable: logits are shifted by their row maximum (log-sum-exp trick).

    Args:
        logits: ``(N, K)`` float32/float64 class scores.
        y: ``(N,)`` integer labels in ``[0, K)``.

    Returns:
        ``loss`` (a numpy scalar of the logits' dtype, averaged over the batch) and
        ``dlogits`` ``(N, K)`` = ``(softmax(logits) - onehot(y)) / N``.
    """
    logits = _float_array("logits", logits, ndim=2)
    y = check_array("y", y, ndim=1)
    n, k = logits.shape
    if not np.issubdtype(y.dtype, np.integer):
        raise ArgumentError("y", "an integer array of class labels", f"dtype {y.dtype}")
    if y.shape[0] != n:
        raise ArgumentError("y", f"shape ({n},) matching logits", f"shape {y.shape}")
    if n == 0:
        raise ArgumentError("logits", "at least one row", f"shape {logits.shape}")
    if y.min() < 0 or y.max() >= k:
        raise ArgumentError("y", f"labels in [0, {k})", f"labels in [{y.min()}, {y.max()}]")
    shifted = logits - logits.max(axis=1, keepdims=True)           # (N, K), row max is 0
    log_z = np.log(np.exp(shifted).sum(axis=1, keepdims=True))      # (N, 1)
    log_probs = shifted - log_z                                      # (N, K)
    rows = np.arange(n)
    loss = -log_probs[rows, y].mean()
    dlogits = np.exp(log_probs)
    dlogits[rows, y] -= 1
    dlogits /= n
    return logits.dtype.type(loss), dlogits
