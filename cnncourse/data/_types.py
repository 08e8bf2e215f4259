"""The container every array loader returns: images and labels of one split.

Lecture 1 (datasets). ``(x_train, y_train), (x_test, y_test) = load_digits()`` unpacks it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Split"]


class Split(NamedTuple):
    """One split of a classification dataset.

    Attributes:
        images: (N, C, H, W) float32 in [0, 1] (or uint8 with ``as_float=False``), NCHW.
        labels: (N,) int64 class indices.
    """

    images: np.ndarray
    labels: np.ndarray
