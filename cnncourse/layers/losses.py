"""Softmax and sigmoid (binary) cross-entropy losses (lecture 1; cross-entropy vs quadratic cost in lecture 4)."""

from __future__ import annotations

import numpy as np

from cnncourse._validate import ArgumentError, check_array
from cnncourse.layers._checks import _float_array

__all__ = ["softmax_cross_entropy", "binary_cross_entropy_with_logits"]


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


def binary_cross_entropy_with_logits(logits: np.ndarray, t: np.ndarray, *,
                                     reduction: str = "mean") -> tuple[np.floating, np.ndarray]:
    """Cross-entropy of a sigmoid output against 0/1 targets, like ``F.binary_cross_entropy_with_logits``.

    With ``x = sigmoid(a)`` the per-example loss is ``-[t log x + (1 - t) log(1 - x)]``, computed
    stably as ``softplus(a) - t a``. Its gradient is the *prediction error* ``x - t``: lecture 1's
    single neuron (the objective ``G(w)`` is this loss with ``reduction="sum"``).

    Args:
        logits: ``a``, any shape, float32/float64.
        t: targets of the same shape (0/1 labels, or probabilities in ``[0, 1]``).
        reduction: ``"mean"`` (torch's default) or ``"sum"`` (the slides' ``G``).

    Returns:
        ``loss`` (a numpy scalar of the logits' dtype) and ``dlogits`` (``logits``' shape):
        ``sigmoid(a) - t``, divided by the number of elements for ``"mean"``.
    """
    logits = _float_array("logits", logits)
    t = np.asarray(t)
    if t.shape != logits.shape:
        raise ArgumentError("t", f"shape {logits.shape} matching logits", f"shape {t.shape}")
    if reduction not in ("mean", "sum"):
        raise ArgumentError("reduction", "'mean' or 'sum'", repr(reduction))
    if logits.size == 0:
        raise ArgumentError("logits", "at least one element", f"shape {logits.shape}")
    t = t.astype(logits.dtype)
    if ((t < 0) | (t > 1)).any():
        raise ArgumentError("t", "targets in [0, 1]", f"values in [{t.min()}, {t.max()}]")
    losses = np.logaddexp(0, logits) - t * logits          # softplus(a) - t a, never log(0)
    e = np.exp(-np.abs(logits))                            # stable sigmoid, as in sigmoid_forward
    x = np.where(logits >= 0, 1 / (1 + e), e / (1 + e))
    dlogits = x - t                                        # prediction error
    if reduction == "mean":
        return logits.dtype.type(losses.mean()), dlogits / logits.size
    return logits.dtype.type(losses.sum()), dlogits
