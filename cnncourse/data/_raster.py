"""Vectorised rasterisation helpers shared by the procedural datasets (private)."""

from __future__ import annotations

import numpy as np


def _sample_rngs(seed: int, *keys) -> np.random.Generator:
    """An independent Generator for one sample: the stream depends only on (seed, *keys)."""
    return np.random.default_rng([int(seed), *(int(k) for k in keys)])


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(...,) hue, saturation, value in [0, 1] -> (..., 3) RGB in [0, 1] (standard hexcone)."""
    i = np.floor(h * 6.0).astype(np.int64) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = np.stack([np.stack(c, -1) for c in
                      ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))])  # (6, ..., 3)
    return np.take_along_axis(table, i[None, ..., None], axis=0)[0]


def _masks_to_boxes(masks: np.ndarray) -> np.ndarray:
    """(..., H, W) bool masks -> (..., 4) tight boxes ``(x1, y1, x2, y2)``, pixel edges.

    A mask covering columns ``c0..c1`` and rows ``r0..r1`` (inclusive) gets the box
    ``(c0, r0, c1 + 1, r1 + 1)``, i.e. width = number of columns, as COCO's ``toBbox``. Empty masks
    give ``(0, 0, 0, 0)``.
    """
    h, w = masks.shape[-2:]
    cols, rows = masks.any(axis=-2), masks.any(axis=-1)  # (..., W), (..., H)
    x1 = cols.argmax(-1)
    x2 = w - cols[..., ::-1].argmax(-1)
    y1 = rows.argmax(-1)
    y2 = h - rows[..., ::-1].argmax(-1)
    boxes = np.stack([x1, y1, x2, y2], -1).astype(np.float32)
    boxes[~cols.any(-1)] = 0.0
    return boxes
