"""Local response normalization across channels, AlexNet's formula (lecture 4: training techniques; AlexNet).

AlexNet (Krizhevsky et al., 2012, section 3.3) normalizes activity ``a`` of channel ``c`` by the
squares of its neighbouring channels::

    b_c = a_c / (k + alpha * sum_{c' in window(c)} a_{c'}^2) ** beta

with ``k = 2, size = 5, alpha = 1e-4, beta = 0.75``. ``torch.nn.LocalResponseNorm`` (and
``F.local_response_norm``) uses *the mean* instead of the sum: it divides ``alpha`` by ``size``,
``(k + alpha / size * sum ...) ** beta``. So ``local_response_norm_forward(x, size, alpha, beta, k)``
equals ``F.local_response_norm(x, size, alpha=alpha * size, beta=beta, k=k)``: to reproduce AlexNet
with torch, pass ``alpha * size``. The channel window is torch's: ``[c - size//2, c + (size-1)//2]``
clipped to the valid channels (symmetric for odd ``size``, as in AlexNet).
"""

from __future__ import annotations

import numpy as np

from cnncourse._validate import ArgumentError, check_positive_int
from cnncourse.layers._checks import _float_array, _same_dtype

__all__ = ["local_response_norm_forward", "local_response_norm_backward"]


def _window_sum(a: np.ndarray, before: int, after: int, size: int) -> np.ndarray:
    """Sum over channels ``[c - before, c + after]`` (zero outside), a loop over the ``size`` offsets."""
    c = a.shape[1]
    pad = [(0, 0)] * a.ndim
    pad[1] = (before, after)
    ap = np.pad(a, pad)                                   # (N, C + size - 1, *)
    out = np.zeros_like(a)
    for t in range(size):
        out += ap[:, t:t + c]
    return out


def local_response_norm_forward(x: np.ndarray, size: int = 5, alpha: float = 1e-4, beta: float = 0.75,
                                k: float = 2.0) -> tuple[np.ndarray, tuple]:
    """AlexNet local response normalization (see the module docstring for torch's alpha/size).

    Args:
        x: ``(N, C, H, W)`` (any ``(N, C, *)`` with at least 3 dims), float32/float64.
        size: number of channels in the window; alpha, beta, k: the formula's constants.

    Returns:
        ``out`` with ``x``'s shape and dtype; ``cache = (x, denom, params)``.
    """
    x = _float_array("x", x)
    if x.ndim < 3:
        raise ArgumentError("x", "an array of shape (N, C, *) with at least 3 dims", f"shape {x.shape}")
    size = check_positive_int("size", size)
    t = x.dtype.type
    lo, hi = size // 2, (size - 1) // 2
    denom = t(k) + t(alpha) * _window_sum(x * x, lo, hi, size)    # (N, C, H, W)
    out = x * denom ** t(-beta)
    return out, (x, denom, size, t(alpha), t(beta))


def local_response_norm_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward of :func:`local_response_norm_forward` -> ``dx`` (``x``'s shape).

    ``dx_j = dout_j D_j^-beta - 2 alpha beta x_j sum_{c : j in window(c)} dout_c x_c D_c^(-beta-1)``.
    """
    x, denom, size, alpha, beta = cache
    dout = _same_dtype("dout", dout, x)
    if dout.shape != x.shape:
        raise ArgumentError("dout", f"shape {x.shape}", f"shape {dout.shape}")
    lo, hi = size // 2, (size - 1) // 2
    scale = denom ** (-beta)
    q = dout * x * scale / denom                           # dout_c x_c D_c^(-beta-1)
    # j is in window(c) iff c in [j - hi, j + lo]: the transposed window.
    back = _window_sum(q, hi, lo, size)
    return dout * scale - (2 * alpha * beta) * x * back
