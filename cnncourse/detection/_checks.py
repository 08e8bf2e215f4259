"""Private argument checks for torch tensors, in the message form of :mod:`cnncourse._validate`."""

from __future__ import annotations

from typing import Any

import torch

from cnncourse._validate import ArgumentError, describe


def check_tensor(name: str, value: Any, *, ndim: int | None = None, last: int | None = None,
                 floating: bool = False) -> torch.Tensor:
    """Return ``value`` if it is a tensor of the given ndim / last-dimension size / float dtype."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"`{name}` expected a torch.Tensor, got {describe(value)}")
    if ndim is not None and value.ndim != ndim:
        raise ArgumentError(name, f"a {ndim}-D tensor", f"shape {tuple(value.shape)}")
    if last is not None and (value.ndim == 0 or value.shape[-1] != last):
        raise ArgumentError(name, f"a tensor of shape (..., {last})", f"shape {tuple(value.shape)}")
    if floating and not value.is_floating_point():
        raise ArgumentError(name, "a floating-point tensor", f"dtype {value.dtype}")
    return value


def has_values(t: torch.Tensor) -> bool:
    """Whether data-dependent checks can run (``meta`` tensors carry no values)."""
    return t.device.type != "meta" and t.numel() > 0


def check_finite(name: str, t: torch.Tensor) -> None:
    """Raise if ``t`` holds NaN (or infinite) values."""
    if has_values(t) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise ArgumentError(name, "finite values", "NaN or infinite entries")


def check_xyxy(name: str, boxes: torch.Tensor) -> torch.Tensor:
    """Check a ``(..., 4)`` float tensor of ``(x1, y1, x2, y2)`` boxes with ``x1 <= x2, y1 <= y2``."""
    check_tensor(name, boxes, last=4, floating=True)
    check_finite(name, boxes)
    if has_values(boxes):
        bad = (boxes[..., 2] < boxes[..., 0]) | (boxes[..., 3] < boxes[..., 1])
        if bool(bad.any()):
            i = int(bad.reshape(-1).nonzero()[0])
            row = boxes.reshape(-1, 4)[i].tolist()
            raise ArgumentError(name, "boxes with x1 <= x2 and y1 <= y2", f"box {i} = {row}")
    return boxes
