"""Zero padding of NCHW feature maps (lecture 2: padding keeps the spatial size)."""

from __future__ import annotations

import numpy as np

from cnncourse._validate import as_pair
from cnncourse.layers._checks import _float_array
from cnncourse.layers._im2col import _pad

__all__ = ["zero_pad2d"]


def zero_pad2d(x: np.ndarray, padding: int | tuple[int, int]) -> np.ndarray:
    """Pad the two spatial dimensions with zeros, like ``torch.nn.functional.pad(x, (pw, pw, ph, ph))``.

    Args:
        x: ``(N, C, H, W)`` float32 or float64.
        padding: ``p`` or ``(ph, pw)``, each >= 0.

    Returns:
        ``(N, C, H + 2*ph, W + 2*pw)`` array with ``x``'s dtype (always a new array).

    Introduced in lecture 2 (convolution: padding).
    """
    x = _float_array("x", x, ndim=4)
    pad = as_pair("padding", padding, minimum=0)
    out = _pad(x, pad)
    return out.copy() if out is x else out
