"""Element-wise activations and their gradients (lecture 1: from linear classifiers to MLPs).

Same values and subgradients as torch: ``relu'(0) = 0`` and ``leaky_relu'(0) = negative_slope``.
Every function works on arrays of any shape and keeps the dtype.
"""

from __future__ import annotations

import numpy as np

from cnncourse._validate import ArgumentError
from cnncourse.layers._checks import _float_array

__all__ = [
    "relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward",
    "sigmoid_forward", "sigmoid_backward", "tanh_forward", "tanh_backward",
]


def _check_dout(dout: np.ndarray, ref: np.ndarray) -> np.ndarray:
    dout = _float_array("dout", dout)
    if dout.shape != ref.shape or dout.dtype != ref.dtype:
        raise ArgumentError("dout", f"shape {ref.shape} and dtype {ref.dtype}",
                            f"shape {dout.shape}, dtype {dout.dtype}")
    return dout


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``max(x, 0)``; cache is ``x``."""
    x = _float_array("x", x)
    return np.maximum(x, x.dtype.type(0)), x


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """``dout * (x > 0)``."""
    x = cache
    dout = _check_dout(dout, x)
    return np.where(x > 0, dout, dout.dtype.type(0))


def leaky_relu_forward(x: np.ndarray, negative_slope: float = 0.01) -> tuple[np.ndarray, tuple]:
    """``x`` if ``x > 0`` else ``negative_slope * x`` (``F.leaky_relu``); cache ``(x, slope)``."""
    x = _float_array("x", x)
    slope = x.dtype.type(negative_slope)
    return np.where(x > 0, x, x * slope), (x, slope)


def leaky_relu_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """``dout`` where ``x > 0`` else ``negative_slope * dout``."""
    x, slope = cache
    dout = _check_dout(dout, x)
    return np.where(x > 0, dout, dout * slope)


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Numerically stable ``1 / (1 + exp(-x))`` (no overflow for large ``|x|``); cache is the output."""
    x = _float_array("x", x)
    e = np.exp(-np.abs(x))                     # in (0, 1]: never overflows
    out = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return out, out


def sigmoid_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """``dout * s * (1 - s)`` with ``s`` the forward output."""
    s = cache
    dout = _check_dout(dout, s)
    return dout * s * (1 - s)


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``tanh(x)``; cache is the output."""
    x = _float_array("x", x)
    out = np.tanh(x)
    return out, out


def tanh_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """``dout * (1 - tanh(x)^2)``."""
    t = cache
    dout = _check_dout(dout, t)
    return dout * (1 - t * t)
