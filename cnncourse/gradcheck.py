"""Numeric gradients by centered differences, and the relative error used to compare them.

Lecture 1 (backpropagation: checking an analytic gradient). Run the checks in float64: with
``h = 1e-5`` the centered difference has error ``O(h^2)`` plus round-off ``O(eps / h)``, which is
about 1e-10 in float64 but about 1e-2 in float32.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np

from cnncourse._validate import ArgumentError, check_array

__all__ = ["eval_numerical_gradient", "eval_numerical_gradient_array", "rel_error"]


def eval_numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Gradient of a scalar function ``f`` at ``x``: ``(f(x + h e_i) - f(x - h e_i)) / 2h`` per element.

    Args:
        f: scalar function of the array ``x`` (it may read ``x`` through a closure).
        x: float array of any shape; perturbed in place one element at a time and restored.
        h: step size.

    Returns:
        ``grad`` with ``x``'s shape and dtype.
    """
    x = check_array("x", x, floating=True)
    grad = np.zeros_like(x)
    for i, fp, fm in _central_pairs(lambda v: float(f(v)), x, h):
        grad[i] = (fp - fm) / (2 * h)
    return grad


def eval_numerical_gradient_array(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, df: np.ndarray,
                                  h: float = 1e-5) -> np.ndarray:
    """Vector-Jacobian product ``J^T df`` of an array-valued ``f`` at ``x``, by centered differences.

    Equivalent to the gradient of the scalar ``sum(f(x) * df)``.

    Args:
        f: function of ``x`` returning an array with ``df``'s shape.
        x: float array (perturbed in place and restored); df: upstream gradient.

    Returns:
        ``grad`` with ``x``'s shape and dtype.
    """
    x = check_array("x", x, floating=True)
    df = check_array("df", df)
    grad = np.zeros_like(x)
    for i, pos, neg in _central_pairs(lambda v: np.array(f(v), copy=True), x, h):
        if pos.shape != df.shape:
            raise ArgumentError("df", f"the shape of f(x), {pos.shape}", f"shape {df.shape}")
        grad[i] = np.sum((pos - neg) * df) / (2 * h)  # difference first: less cancellation error
    return grad


def _central_pairs(f: Callable[[np.ndarray], Any], x: np.ndarray,
                   h: float) -> Iterator[tuple[tuple[int, ...], Any, Any]]:
    """Iterate ``(i, f(x + h e_i), f(x - h e_i))`` over every index ``i`` of ``x``, restoring ``x[i]``."""
    if not h > 0:  # checked here, eagerly, not on the first step of the loop
        raise ArgumentError("h", "a positive step", h)

    def pairs():
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + h
            plus = f(x)
            x[i] = old - h
            minus = f(x)
            x[i] = old
            yield i, plus, minus

    return pairs()


def rel_error(x: np.ndarray, y: np.ndarray) -> float:
    """Largest element-wise relative error ``max |x - y| / max(1e-8, |x| + |y|)``.

    Below about 1e-7 means the two agree in float64 (CS231n's convention).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ArgumentError("y", f"shape {x.shape} (the shape of x)", f"shape {y.shape}")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))
