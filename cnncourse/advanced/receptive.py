"""The receptive field measured by autograd: which input pixels can change one output (Lecture 10).

:func:`cnncourse.arithmetic.receptive_field` gives the receptive field of a stack of convolutions
and poolings from their sizes. Operators without a fixed window (deformable convolution, a
non-local block, squeeze-and-excitation) have no such formula; but for any differentiable
operator, the pixels ``j`` with ``d y_i / d x_j != 0`` are the ones that output ``i`` sees. Summing
``|d y_i / d x_j|`` over channels gives the map that Luo et al. (NeurIPS 2016) call the
*effective* receptive field (its magnitude shows where the output looks hardest).
"""

from __future__ import annotations

from typing import Callable

import torch

from cnncourse._validate import ArgumentError

__all__ = ["gradient_receptive_field", "support_extent"]


def gradient_receptive_field(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                             position: tuple[int, int] | None = None) -> torch.Tensor:
    """``sum_{n, c} |d fn(x)[n, :, r, c].sum() / d x[n, c]|``: Tensor[H, W] (Lecture 10).

    Args:
        fn: a differentiable map Tensor[N, C, H, W] -> Tensor[N, C', H', W'] (a module or function).
        x: the input Tensor[N, C, H, W] at which the gradient is taken (floating point).
        position: ``(row, col)`` of the output pixel; default the centre ``(H' // 2, W' // 2)``.

    Returns:
        Tensor[H, W] of non-negative sensitivities on ``x``'s device (zero outside the receptive
        field).
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or not x.is_floating_point():
        raise ArgumentError("x", "a float Tensor[N, C, H, W]", str(tuple(getattr(x, "shape", ()))))
    inp = x.detach().clone().requires_grad_(True)
    out = fn(inp)
    if not isinstance(out, torch.Tensor) or out.dim() != 4:
        raise ArgumentError("fn", "a function returning Tensor[N, C', H', W']",
                            str(tuple(getattr(out, "shape", ()))))
    h, w = out.shape[-2:]
    r, c = (h // 2, w // 2) if position is None else position
    if not (0 <= r < h and 0 <= c < w):
        raise ArgumentError("position", f"(row, col) inside the {h} x {w} output", position)
    (grad,) = torch.autograd.grad(out[:, :, r, c].sum(), inp)
    return grad.abs().sum(dim=(0, 1))  # (H, W)


def support_extent(grad_map: torch.Tensor, *, tol: float = 0.0) -> tuple[int, int]:
    """Height and width of the bounding box of the entries ``> tol`` of a (H, W) map (Lecture 10).

    Returns ``(0, 0)`` for an all-zero map.
    """
    if not isinstance(grad_map, torch.Tensor) or grad_map.dim() != 2:
        raise ArgumentError("grad_map", "a Tensor[H, W]", str(tuple(getattr(grad_map, "shape", ()))))
    rows = torch.nonzero((grad_map > tol).any(1)).flatten()
    cols = torch.nonzero((grad_map > tol).any(0)).flatten()
    if rows.numel() == 0:
        return 0, 0
    return int(rows[-1] - rows[0]) + 1, int(cols[-1] - cols[0]) + 1
