"""Pooling figures for lecture 03: the window that produced each output, and where gradients go.

The numbers come from :mod:`cnncourse.layers` (``max_pool2d_forward`` and friends); these helpers
only draw them, for one 2D map at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cnncourse._validate import ArgumentError, as_pair
from cnncourse.viz.plots import _as_numpy, _plt, show_matrix

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["draw_gradient_routes", "draw_pool_step", "pool_window_boxes"]


def pool_window_boxes(size: int | tuple[int, int], kernel_size: int | tuple[int, int],
                      stride: int | tuple[int, int] | None = None) -> list[tuple[int, int, int, int]]:
    """The ``(row0, col0, row1, col1)`` half-open window of every pooling output, row-major.

    Lecture 03. No padding; ``stride`` defaults to ``kernel_size`` (PyTorch's default); the
    output is ``floor((H - KH) / SH) + 1`` by ``floor((W - KW) / SW) + 1`` windows.
    """
    h, w = as_pair("size", size, minimum=1)
    kh, kw = as_pair("kernel_size", kernel_size, minimum=1)
    sh, sw = as_pair("stride", kernel_size if stride is None else stride, minimum=1)
    if kh > h or kw > w:
        raise ArgumentError("kernel_size", f"a window that fits the {h}x{w} input", (kh, kw))
    return [(i * sh, j * sw, i * sh + kh, j * sw + kw)
            for i in range((h - kh) // sh + 1) for j in range((w - kw) // sw + 1)]


def draw_pool_step(x, out, kernel_size, stride=None, *, index: int = 0, fmt_out: str = "{:g}",
                   title: str = "pooling") -> Figure:
    """Draw the 2D input with window ``index`` outlined next to the output with its cell outlined.

    Args:
        x: ``(H, W)`` input map. out: ``(H_out, W_out)`` pooled map (from the library).
        kernel_size, stride: the pooling window and step (as in ``max_pool2d_forward``).
        index: which output (row-major) to highlight.
        fmt_out: number format of the output panel (e.g. ``"{:.1f}"`` for mean pooling).

    Returns:
        The ``Figure`` (two axes).
    """
    x, out = _as_numpy("x", x), _as_numpy("out", out)
    boxes = pool_window_boxes(x.shape, kernel_size, stride)
    if out.shape[0] * out.shape[1] != len(boxes):
        raise ArgumentError("out", f"{len(boxes)} outputs for this window and stride", out.shape)
    if not 0 <= index < len(boxes):
        raise ArgumentError("index", f"an output index in [0, {len(boxes)})", index)
    r, c = divmod(index, out.shape[1])
    fig, (a, b) = _plt().subplots(1, 2, figsize=(7, 3.2))
    show_matrix(x, a, title="input", highlight=[boxes[index]])
    show_matrix(out, b, title=title, fmt=fmt_out, highlight=[(r, c, r + 1, c + 1)])
    fig.tight_layout()
    return fig


def draw_gradient_routes(x, dout, dx, *, title: str = "backward",
                         highlight_nonzero: bool = True) -> Figure:
    """Three annotated panels: the forward input, the upstream gradient, and ``dx``.

    Lecture 03 ("where do gradients go"): for max pooling only the (first) maximum of each
    window receives gradient and overlapping windows add up; for mean pooling every pixel of a
    window receives ``dout / (KH * KW)``.

    ``highlight_nonzero`` outlines every pixel of ``dx`` that received gradient.

    Returns:
        The ``Figure`` (three axes).
    """
    x, dout, dx = _as_numpy("x", x), _as_numpy("dout", dout), _as_numpy("dx", dx)
    if dx.shape != x.shape:
        raise ArgumentError("dx", f"the shape of x {x.shape}", dx.shape)
    fig, axes = _plt().subplots(1, 3, figsize=(10, 3.2))
    show_matrix(x, axes[0], title="input x")
    show_matrix(dout, axes[1], title="upstream dout", cmap="Oranges")
    show_matrix(dx, axes[2], title=f"dx ({title})", fmt="{:.3g}", cmap="Oranges",
                highlight=[(int(r), int(c), int(r) + 1, int(c) + 1) for r, c in zip(*np.nonzero(dx))]
                if highlight_nonzero else (), highlight_colors=("tab:red",))
    fig.tight_layout()
    return fig
