"""Inverted dropout (lecture 4: training techniques).

Like ``torch.nn.functional.dropout(input, p, training)``: in training each element is kept with
probability ``1 - p`` and scaled by ``1 / (1 - p)``, so evaluation is the identity. The random
mask comes from the ``np.random.Generator`` you pass, so results are reproducible (they cannot
match torch's random stream bit for bit).
"""

from __future__ import annotations

import numpy as np

from cnncourse._validate import ArgumentError, check_probability
from cnncourse.layers._checks import _float_array, _same_dtype

__all__ = ["dropout_forward", "dropout_backward"]


def dropout_forward(x: np.ndarray, p: float, training: bool,
                    rng: np.random.Generator) -> tuple[np.ndarray, tuple]:
    """Forward pass of inverted dropout.

    Args:
        x: any shape, float32/float64.
        p: probability of zeroing an element, in ``[0, 1]`` (``p = 1`` zeroes everything, as torch).
        training: apply dropout (True) or return ``x`` unchanged (False).
        rng: ``np.random.Generator`` drawing the mask.

    Returns:
        ``out`` (``x``'s shape and dtype) and ``cache`` = the scaled mask (``None`` when not training).
    """
    x = _float_array("x", x)
    p = check_probability("p", p, inclusive_high=True)
    if not isinstance(rng, np.random.Generator):
        raise TypeError("`rng` expected a numpy.random.Generator (np.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")
    if not training or p == 0.0:
        return x.copy(), (None, x.shape, x.dtype)
    keep = rng.random(x.shape) >= p                       # kept with probability 1 - p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    mask = keep.astype(x.dtype) * x.dtype.type(scale)     # (x.shape) values in {0, 1/(1-p)}
    return x * mask, (mask, x.shape, x.dtype)


def dropout_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of :func:`dropout_forward`: ``dx = dout * mask`` (identity when not training)."""
    mask, shape, dtype = cache
    dout = _float_array("dout", dout)
    if dout.shape != shape or dout.dtype != dtype:
        raise ArgumentError("dout", f"shape {shape} and dtype {dtype}", f"shape {dout.shape}, dtype {dout.dtype}")
    return dout.copy() if mask is None else dout * mask
