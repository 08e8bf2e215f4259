"""R-CNN box coding: regression targets ``(dx, dy, dw, dh)`` (Lecture 07).

Box format: ``(x1, y1, x2, y2)`` in absolute pixels, ``Tensor[K, 4]``. A reference box
(anchor or proposal) ``P`` and a target box ``G`` are written as centre and size
``(px, py, pw, ph)``, ``(gx, gy, gw, gh)`` (``w = x2 - x1``), and the deltas are::

    dx = wx * (gx - px) / pw        dy = wy * (gy - py) / ph
    dw = ww * log(gw / pw)          dh = wh * log(gh / ph)

with weights ``(wx, wy, ww, wh)`` (Faster R-CNN's box head uses ``(10, 10, 5, 5)``).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from cnncourse._validate import ArgumentError
from cnncourse.detection._checks import check_finite, check_tensor, check_xyxy

__all__ = ["encode_boxes", "decode_boxes"]

# Clamp for dw, dh before exp(): the largest scale change torchvision allows (1000 / 16).
DEFAULT_CLAMP = math.log(1000.0 / 16)


def _weights(weights: Sequence[float]) -> tuple[float, float, float, float]:
    w = tuple(float(v) for v in weights)
    if len(w) != 4 or not all(v > 0 for v in w):
        raise ArgumentError("weights", "four positive numbers (wx, wy, ww, wh)", repr(weights))
    return w  # type: ignore[return-value]


def _centre_size(boxes: torch.Tensor) -> tuple[torch.Tensor, ...]:
    w = boxes[..., 2] - boxes[..., 0]
    h = boxes[..., 3] - boxes[..., 1]
    return boxes[..., 0] + 0.5 * w, boxes[..., 1] + 0.5 * h, w, h


def _check_pair(a_name: str, a: torch.Tensor, b_name: str, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ArgumentError(b_name, f"the shape of `{a_name}` {tuple(a.shape)}", f"shape {tuple(b.shape)}")


def encode_boxes(boxes: torch.Tensor, reference: torch.Tensor, *,
                 weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
    """Regression targets that move ``reference`` boxes onto ``boxes`` (Lecture 07).

    Args:
        boxes (Tensor[K, 4]): target (ground-truth) boxes ``(x1, y1, x2, y2)``, positive size.
        reference (Tensor[K, 4]): anchors or proposals ``(x1, y1, x2, y2)``, positive size.
        weights: ``(wx, wy, ww, wh)`` multipliers of the deltas.

    Returns:
        Tensor[K, 4]: deltas ``(dx, dy, dw, dh)``; differentiable in both inputs.
    """
    wx, wy, ww, wh = _weights(weights)
    check_xyxy("boxes", boxes)
    check_xyxy("reference", reference)
    _check_pair("boxes", boxes, "reference", reference)
    gx, gy, gw, gh = _centre_size(boxes)
    px, py, pw, ph = _centre_size(reference)
    return torch.stack([wx * (gx - px) / pw, wy * (gy - py) / ph,
                        ww * torch.log(gw / pw), wh * torch.log(gh / ph)], dim=-1)


def decode_boxes(deltas: torch.Tensor, reference: torch.Tensor, *,
                 weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
                 clamp: float = DEFAULT_CLAMP) -> torch.Tensor:
    """Apply deltas ``(dx, dy, dw, dh)`` to ``reference`` boxes; inverse of :func:`encode_boxes` (Lecture 07).

    Args:
        deltas (Tensor[K, 4]): deltas as produced by :func:`encode_boxes`.
        reference (Tensor[K, 4]): anchors or proposals ``(x1, y1, x2, y2)``.
        weights: the ``(wx, wy, ww, wh)`` used for encoding.
        clamp: ``dw / ww`` and ``dh / wh`` are clamped to at most this value before ``exp``
            (default ``log(1000 / 16)``, as torchvision) so that wild predictions stay finite.

    Returns:
        Tensor[K, 4]: decoded boxes ``(x1, y1, x2, y2)``.
    """
    wx, wy, ww, wh = _weights(weights)
    check_tensor("deltas", deltas, last=4, floating=True)
    check_finite("deltas", deltas)
    check_xyxy("reference", reference)
    _check_pair("reference", reference, "deltas", deltas)
    px, py, pw, ph = _centre_size(reference)
    cx = deltas[..., 0] / wx * pw + px
    cy = deltas[..., 1] / wy * ph + py
    w = torch.exp((deltas[..., 2] / ww).clamp(max=clamp)) * pw
    h = torch.exp((deltas[..., 3] / wh).clamp(max=clamp)) * ph
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)
