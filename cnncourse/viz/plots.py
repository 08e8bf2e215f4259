"""Matplotlib figures for the lectures: annotated matrices, image grids, feature maps and filters.

Introduced in lecture 02 (convolution) and used throughout. Every function returns the matplotlib
``Figure`` (or draws into the ``ax`` it is given and returns it) and never calls ``plt.show``, so
the same code runs in notebooks and, with the Agg backend, in tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from cnncourse._validate import ArgumentError, check_positive_int

if TYPE_CHECKING:  # matplotlib is imported lazily at run time
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["show_filters", "show_feature_maps", "show_images", "show_matrix"]


def _plt():
    import matplotlib.pyplot as plt  # imported lazily: `import cnncourse.viz` stays cheap

    return plt


def _as_numpy(name: str, a) -> np.ndarray:
    if hasattr(a, "detach"):  # a torch tensor
        a = a.detach().cpu().numpy()
    if not isinstance(a, np.ndarray):
        a = np.asarray(a)
    if a.dtype == object:
        raise ArgumentError(name, "a numeric array", f"dtype {a.dtype}")
    return a


_DIVERGING = ("RdBu_r", "RdBu", "bwr", "coolwarm", "seismic", "PiYG", "PRGn")


def _limits(a: np.ndarray, cmap: str) -> tuple[float, float]:
    """Colour limits: the data range, symmetric about 0 for diverging maps (0 is the centre)."""
    finite = a[np.isfinite(a)] if a.size else a
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    if cmap in _DIVERGING:
        m = max(abs(lo), abs(hi)) or 1.0
        return -m, m
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def show_matrix(a, ax=None, *, title: str | None = None, fmt: str = "{:g}",
                cmap: str = "Blues", annotate: bool = True,
                highlight: Sequence[tuple[int, int, int, int]] = (),
                highlight_colors: Sequence[str] = ("tab:red", "tab:orange", "tab:green")) -> Axes:
    """Draw a 2D array as a heat map with each entry's number written in its cell.

    Args:
        a: ``(H, W)`` array (or tensor).
        ax: axes to draw into; a new figure is made when ``None``.
        title: axes title.
        fmt: format of each annotated number, e.g. ``"{:.1f}"``.
        cmap: colour map.
        annotate: write the numbers (turn off for large maps).
        highlight: boxes ``(row0, col0, row1, col1)`` (half-open, in cell units) outlined in turn
            with ``highlight_colors``.

    Returns:
        The axes drawn into.
    """
    a = _as_numpy("a", a)
    if a.ndim != 2:
        raise ArgumentError("a", "a 2-D array (H, W)", f"shape {a.shape}")
    import matplotlib

    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(0.45 * a.shape[1] + 1.2, 0.45 * a.shape[0] + 1.0))
    vmin, vmax = _limits(a, cmap)
    ax.imshow(a, cmap=cmap, vmin=vmin, vmax=vmax)
    if annotate:
        colormap, span = matplotlib.colormaps[cmap], vmax - vmin
        for (r, c), v in np.ndenumerate(a):
            red, green, blue, _ = colormap((float(v) - vmin) / span if np.isfinite(v) else 0.0)
            dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5  # white text on dark cells
            ax.text(c, r, fmt.format(v + 0), ha="center", va="center", fontsize=9,  # +0: no "-0"
                    color="white" if dark else "black")
    for k, (r0, c0, r1, c1) in enumerate(highlight):
        color = highlight_colors[k % len(highlight_colors)]
        ax.add_patch(plt.Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False,
                                   edgecolor=color, linewidth=2.5))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def show_images(images: Sequence, *, titles: Sequence[str] | None = None, ncols: int = 4,
                cmap: str = "gray", size: float = 2.2, annotate: bool = False,
                fmt: str = "{:g}") -> Figure:
    """Show a grid of images: each ``(H, W)`` (grey, drawn with ``cmap``) or ``(H, W, 3)`` (RGB).

    Args:
        images: sequence of arrays (or tensors), possibly of different sizes.
        titles: one title per image.
        ncols: images per row.
        cmap: colour map for grey images.
        size: inches per panel.
        annotate: write every pixel's value (small maps only), via :func:`show_matrix`.
        fmt: number format when annotating.

    Returns:
        The matplotlib ``Figure``; ``fig.axes`` holds one axes per panel.
    """
    ncols = check_positive_int("ncols", ncols)
    arrays = [_as_numpy(f"images[{i}]", im) for i, im in enumerate(images)]
    if not arrays:
        raise ArgumentError("images", "at least one image", "an empty sequence")
    if titles is not None and len(titles) != len(arrays):
        raise ArgumentError("titles", f"{len(arrays)} titles (one per image)", len(titles))
    for i, im in enumerate(arrays):
        if not (im.ndim == 2 or (im.ndim == 3 and im.shape[2] in (3, 4))):
            raise ArgumentError(f"images[{i}]", "an (H, W) or (H, W, 3) image", f"shape {im.shape}")
    plt = _plt()
    ncols = min(ncols, len(arrays))
    nrows = -(-len(arrays) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        if k >= len(arrays):
            fig.delaxes(ax)
            continue
        im, title = arrays[k], (titles[k] if titles is not None else None)
        if annotate and im.ndim == 2:
            show_matrix(im, ax, title=title, fmt=fmt, cmap=cmap)
            continue
        if im.ndim == 3:
            lo, hi = float(im.min()), float(im.max())
            im = (im - lo) / (hi - lo) if hi > lo else np.zeros_like(im, dtype=float)
            ax.imshow(im)
        else:
            vmin, vmax = _limits(im, cmap)
            ax.imshow(im, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_xticks([])
        ax.set_yticks([])
        if title:
            ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def show_feature_maps(maps, *, titles: Sequence[str] | None = None, ncols: int = 4,
                      cmap: str = "RdBu_r", annotate: bool = False, fmt: str = "{:g}") -> Figure:
    """Show the ``C`` maps of one ``(C, H, W)`` feature tensor (or a ``(1, C, H, W)`` batch).

    Returns:
        The ``Figure`` with one panel per channel, titled ``"map c"`` unless ``titles`` is given.
    """
    m = _as_numpy("maps", maps)
    if m.ndim == 4 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 3:
        raise ArgumentError("maps", "a (C, H, W) array or a (1, C, H, W) batch", f"shape {m.shape}")
    titles = list(titles) if titles is not None else [f"map {c}" for c in range(m.shape[0])]
    return show_images(list(m), titles=titles, ncols=ncols, cmap=cmap, annotate=annotate, fmt=fmt)


def show_filters(w, *, annotate: bool = True, fmt: str = "{:g}", cmap: str = "RdBu_r") -> Figure:
    """Show a filter bank ``(F, C, KH, KW)``: one row per filter, one column per input channel.

    Lecture 02 ("each input channel needs one filter slice; one output map per filter").

    Returns:
        The ``Figure`` with ``F * C`` panels titled ``"filter f, channel c"``.
    """
    w = _as_numpy("w", w)
    if w.ndim != 4:
        raise ArgumentError("w", "a 4-D filter bank (F, C, KH, KW)", f"shape {w.shape}")
    f, c = w.shape[:2]
    panels = [w[i, j] for i in range(f) for j in range(c)]
    titles = [f"filter {i}, channel {j}" for i in range(f) for j in range(c)]
    return show_images(panels, titles=titles, ncols=c, cmap=cmap, annotate=annotate, fmt=fmt)
