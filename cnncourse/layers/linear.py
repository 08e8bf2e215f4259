"""Fully connected (affine) layer, ``F.linear`` semantics (lecture 1: linear classifier and MLP)."""

from __future__ import annotations

import numpy as np

from cnncourse._validate import ArgumentError
from cnncourse.layers._checks import _float_array, _optional_vector, _same_dtype

__all__ = ["linear_forward", "linear_backward"]


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> tuple[np.ndarray, tuple]:
    """``out = x @ w.T + b``, exactly ``torch.nn.functional.linear(x, w, b)``.

    Args:
        x: ``(N, D_in)`` (or ``(*, D_in)``: leading dims are batch dims). Flatten images first.
        w: ``(D_out, D_in)`` (torch's layout: out_features first).
        b: ``(D_out,)`` or ``None``.

    Returns:
        ``out`` ``(N, D_out)`` (``(*, D_out)``) and ``cache = (x, w, has_b)``.
    """
    x = _float_array("x", x)
    if x.ndim < 1:
        raise ArgumentError("x", "an array with at least 1 dim (N, D_in)", "a 0-D array")
    w = _same_dtype("w", w, x)
    if w.ndim != 2 or w.shape[1] != x.shape[-1]:
        raise ArgumentError("w", f"shape (D_out, D_in={x.shape[-1]})", f"shape {w.shape}")
    b = _optional_vector("b", b, w.shape[0], x)
    out = x @ w.T
    if b is not None:
        out += b
    return out, (x, w, b is not None)


def linear_backward(dout: np.ndarray, cache: tuple):
    """Backward of :func:`linear_forward` -> ``(dx, dw, db)``; ``db`` is ``None`` without a bias."""
    x, w, has_b = cache
    dout = _same_dtype("dout", dout, x)
    if dout.shape != x.shape[:-1] + (w.shape[0],):
        raise ArgumentError("dout", f"shape {x.shape[:-1] + (w.shape[0],)}", f"shape {dout.shape}")
    d2 = dout.reshape(-1, w.shape[0])                       # (M, D_out), M = prod(leading dims)
    dx = dout @ w                                           # (*, D_in)
    dw = d2.T @ x.reshape(-1, w.shape[1])                   # (D_out, D_in)
    db = d2.sum(axis=0) if has_b else None
    return dx, dw, db
