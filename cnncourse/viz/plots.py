"""Matplotlib figures for the lectures: annotated matrices, image grids, feature maps and filters.

Introduced in lecture 02 (convolution) and used throughout. Every function returns the matplotlib
``Figure`` (or draws into the ``ax`` it is given and returns it) and never calls ``plt.show``, so
the same code runs in notebooks and, with the Agg backend, in tests.

Conventions shared by every figure helper (a test checks them on each helper):

- a **diverging** colour map (``RdBu_r``, ``coolwarm``, ...) is centred on 0 with a symmetric
  range and always gets a **colour bar**, so both sign and size can be read; a heat map without
  numbers written in its cells gets a colour bar whatever its colour map;
- **zero padding** (``padding=``) is drawn hatched grey with grey numbers, never like a real 0;
- pixels are shown as they are (``interpolation="nearest"``) and RGB images in ``[0, 1]`` are not
  rescaled; ticks, where shown, fall on pixel centres.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from cnncourse._validate import ArgumentError, as_pair, check_positive_int

if TYPE_CHECKING:  # matplotlib is imported lazily at run time
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["is_diverging", "show_filters", "show_feature_maps", "show_images", "show_matrix"]

# matplotlib's diverging maps (each also with a "_r" twin)
_DIVERGING = frozenset({"RdBu", "RdYlBu", "RdYlGn", "RdGy", "bwr", "coolwarm", "seismic", "PiYG", "PRGn",
                        "BrBG", "PuOr", "Spectral", "berlin", "managua", "vanimo"})
PADDING_STYLE = {"facecolor": "#dcdcdc", "edgecolor": "#8c8c8c", "hatch": "///", "linewidth": 0.0}
PADDING_LABEL = "zero padding"


def _plt():
    import matplotlib.pyplot as plt  # imported lazily: `import cnncourse.viz` stays cheap

    return plt


def _as_numpy(name: str, a) -> np.ndarray:
    if hasattr(a, "detach"):  # a torch tensor
        a = a.detach().cpu().numpy()
    if not isinstance(a, np.ndarray):
        a = np.asarray(a)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise ArgumentError(name, "a numeric array", f"dtype {a.dtype}")
    return a


def is_diverging(cmap) -> bool:
    """Is ``cmap`` (a name or a ``Colormap``) one of matplotlib's diverging maps (0 in the middle)?"""
    name = cmap if isinstance(cmap, str) else getattr(cmap, "name", "")
    return name.removesuffix("_r") in _DIVERGING


def _limits(a: np.ndarray, cmap) -> tuple[float, float]:
    """Colour limits: the data range, symmetric about 0 for diverging maps (0 is the centre)."""
    finite = a[np.isfinite(a)] if a.size else a
    if finite.size == 0:
        return (-1.0, 1.0) if is_diverging(cmap) else (0.0, 1.0)
    lo, hi = float(finite.min()), float(finite.max())
    if is_diverging(cmap):
        m = max(abs(lo), abs(hi)) or 1.0
        return -m, m
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def _padding_mask(shape: tuple[int, int], padding) -> np.ndarray:
    ph, pw = as_pair("padding", padding, minimum=0)
    if 2 * ph >= shape[0] or 2 * pw >= shape[1]:
        raise ArgumentError("padding", f"a ring thinner than half of the {shape[0]}x{shape[1]} map",
                            (ph, pw))
    mask = np.ones(shape, dtype=bool)
    mask[ph:shape[0] - ph, pw:shape[1] - pw] = False
    return mask


def _draw_padding(ax: Axes, mask: np.ndarray) -> None:
    """Hatch the padding cells and explain the hatching in a legend under the axes."""
    from matplotlib.patches import Patch, Rectangle

    for r, c in zip(*np.nonzero(mask)):
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, gid="padding", **PADDING_STYLE))
    ax.legend(handles=[Patch(label=PADDING_LABEL, **PADDING_STYLE)], loc="upper center",
              bbox_to_anchor=(0.5, 0.0), fontsize=8, frameon=False, handlelength=1.5)


def _colorbar(ax: Axes, image, label: str | None) -> None:
    cbar = ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    cbar.ax.tick_params(labelsize=7)
    if label:
        cbar.set_label(label, fontsize=8)


def show_matrix(a, ax=None, *, title: str | None = None, fmt: str = "{:g}",
                cmap: str = "Blues", annotate: bool = True,
                highlight: Sequence[tuple[int, int, int, int]] = (),
                highlight_colors: Sequence[str] = ("tab:red", "tab:orange", "tab:green"),
                padding: int | tuple[int, int] = 0, colorbar: bool | None = None,
                cbar_label: str | None = "value") -> Axes:
    """Draw a 2D array as a heat map with each entry's number written in its cell.

    Lecture 02 onwards.

    Args:
        a: ``(H, W)`` array (or tensor).
        ax: axes to draw into; a new figure is made when ``None``.
        title: axes title.
        fmt: format of each annotated number, e.g. ``"{:.1f}"``.
        cmap: colour map; a diverging one is centred on 0.
        annotate: write the numbers (turn off for large maps).
        highlight: boxes ``(row0, col0, row1, col1)`` (half-open, in cell units) outlined in turn
            with ``highlight_colors``.
        padding: width of a zero-padding ring (an int, or ``(rows, cols)``): those cells are
            hatched grey, their numbers grey, and a legend says "zero padding".
        colorbar: draw a colour bar; ``None`` means yes for a diverging ``cmap`` or when the
            numbers are not written (``annotate=False``).
        cbar_label: the colour bar's label.

    Returns:
        The axes drawn into.
    """
    a = _as_numpy("a", a)
    if a.ndim != 2:
        raise ArgumentError("a", "a 2-D array (H, W)", f"shape {a.shape}")
    import matplotlib

    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(0.45 * a.shape[1] + 1.6, 0.45 * a.shape[0] + 1.0))
    mask = _padding_mask(a.shape, padding) if padding else np.zeros(a.shape, dtype=bool)
    vmin, vmax = _limits(a, cmap)
    image = ax.imshow(a, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    if annotate:
        colormap, span = matplotlib.colormaps[cmap], vmax - vmin
        for (r, c), v in np.ndenumerate(a):
            red, green, blue, _ = colormap((float(v) - vmin) / span if np.isfinite(v) else 0.0)
            dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5  # white text on dark cells
            color = "#6e6e6e" if mask[r, c] else ("white" if dark else "black")
            ax.text(c, r, fmt.format(v + 0), ha="center", va="center", fontsize=9,  # +0: no "-0"
                    color=color, style="italic" if mask[r, c] else "normal", zorder=3)
    if mask.any():
        _draw_padding(ax, mask)
    for k, (r0, c0, r1, c1) in enumerate(highlight):
        color = highlight_colors[k % len(highlight_colors)]
        ax.add_patch(plt.Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False,
                                   edgecolor=color, linewidth=2.5, gid="highlight", zorder=4))
    ax.set_xticks([])
    ax.set_yticks([])
    if colorbar if colorbar is not None else (is_diverging(cmap) or not annotate):
        _colorbar(ax, image, cbar_label)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def _show_rgb(ax: Axes, im: np.ndarray) -> bool:
    """Show an RGB(A) image as it is when in [0, 1] (or uint8); else rescale. Returns "rescaled"."""
    if im.dtype == np.uint8 or (np.nanmin(im) >= 0 and np.nanmax(im) <= 1):
        ax.imshow(im, interpolation="nearest")
        return False
    lo, hi = float(np.nanmin(im)), float(np.nanmax(im))
    ax.imshow((im - lo) / (hi - lo) if hi > lo else np.zeros_like(im, dtype=float), interpolation="nearest")
    return True


def show_images(images: Sequence, *, titles: Sequence[str] | None = None, ncols: int = 4,
                cmap: str | Sequence[str] = "gray", size: float = 2.2, annotate: bool = False,
                fmt: str = "{:g}", colorbar: bool | None = None,
                cbar_label: str | Sequence[str] | None = "value",
                padding: int | tuple[int, int] = 0) -> Figure:
    """Show a grid of images: each ``(H, W)`` (grey, drawn with ``cmap``) or ``(H, W, 3)`` (RGB).

    Lecture 02 onwards. Grey images get a colour bar (their own range; symmetric about 0 for a
    diverging ``cmap``), so the values can be read; RGB images in ``[0, 1]`` are shown as they
    are, others are rescaled to ``[0, 1]`` and their title says so.

    Args:
        images: sequence of arrays (or tensors), possibly of different sizes.
        titles: one title per image.
        ncols: images per row.
        cmap: colour map for grey images, or one per image (e.g. grey input, ``RdBu_r`` responses).
        size: inches per panel.
        annotate: write every pixel's value (small maps only), via :func:`show_matrix`.
        fmt: number format when annotating.
        colorbar: colour bars on grey panels; ``None``: always when not annotated, and for a
            diverging map when annotated.
        cbar_label: the colour bars' label, or one per image (e.g. ``"intensity"`` for the
            input, ``"response"`` for the filter outputs).
        padding: a zero-padding ring to hatch in every grey panel (see :func:`show_matrix`).

    Returns:
        The matplotlib ``Figure``; ``fig.axes`` holds one axes per panel, then the colour bars.
    """
    ncols = check_positive_int("ncols", ncols)
    arrays = [_as_numpy(f"images[{i}]", im) for i, im in enumerate(images)]
    if not arrays:
        raise ArgumentError("images", "at least one image", "an empty sequence")
    if titles is not None and len(titles) != len(arrays):
        raise ArgumentError("titles", f"{len(arrays)} titles (one per image)", len(titles))
    cmaps = [cmap] * len(arrays) if isinstance(cmap, str) else list(cmap)
    if len(cmaps) != len(arrays):
        raise ArgumentError("cmap", f"one colour map or {len(arrays)} (one per image)", len(cmaps))
    cbar_labels = [cbar_label] * len(arrays) if cbar_label is None or isinstance(cbar_label, str) \
        else list(cbar_label)
    if len(cbar_labels) != len(arrays):
        raise ArgumentError("cbar_label", f"one label or {len(arrays)} (one per image)", len(cbar_labels))
    for i, im in enumerate(arrays):
        if not (im.ndim == 2 or (im.ndim == 3 and im.shape[2] in (3, 4))):
            raise ArgumentError(f"images[{i}]", "an (H, W) or (H, W, 3) image", f"shape {im.shape}")
    plt = _plt()
    ncols = min(ncols, len(arrays))
    nrows = -(-len(arrays) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * 1.25 * ncols, size * nrows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[len(arrays):]:
        fig.delaxes(ax)
    for ax, im, cm, label, k in zip(flat, arrays, cmaps, cbar_labels, range(len(arrays))):
        title = titles[k] if titles is not None else None
        if im.ndim == 3:
            if _show_rgb(ax, im):
                title = f"{title} (rescaled to [0, 1])" if title else "rescaled to [0, 1]"
            ax.set_xticks([])
            ax.set_yticks([])
            if title:
                ax.set_title(title, fontsize=9)
            continue
        show_matrix(im, ax, title=None, fmt=fmt, cmap=cm, annotate=annotate, padding=padding,
                    colorbar=colorbar, cbar_label=label)
        if title:
            ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def show_feature_maps(maps, *, titles: Sequence[str] | None = None, ncols: int = 4,
                      cmap: str = "RdBu_r", annotate: bool = False, fmt: str = "{:g}",
                      cbar_label: str | None = "activation") -> Figure:
    """Show the ``C`` maps of one ``(C, H, W)`` feature tensor (or a ``(1, C, H, W)`` batch).

    Lecture 02. Each map has its own colour bar (symmetric about 0 for the default ``RdBu_r``:
    red positive, blue negative).

    Returns:
        The ``Figure`` with one panel per channel, titled ``"map c"`` unless ``titles`` is given.
    """
    m = _as_numpy("maps", maps)
    if m.ndim == 4 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 3:
        raise ArgumentError("maps", "a (C, H, W) array or a (1, C, H, W) batch", f"shape {m.shape}")
    titles = list(titles) if titles is not None else [f"map {c}" for c in range(m.shape[0])]
    return show_images(list(m), titles=titles, ncols=ncols, cmap=cmap, annotate=annotate, fmt=fmt,
                       cbar_label=cbar_label)


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
    return show_images(panels, titles=titles, ncols=c, cmap=cmap, annotate=annotate, fmt=fmt,
                       cbar_label="weight")
