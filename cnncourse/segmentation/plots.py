"""Drawing label maps with one fixed colour per class and a legend (lecture 08).

matplotlib is imported when a function is called, so importing this module stays cheap.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Sequence

import numpy as np

from cnncourse._validate import ArgumentError

__all__ = ["SHAPES_CLASS_NAMES", "label_colormap", "show_labels"]

SHAPES_CLASS_NAMES = ("background", "circle", "square", "triangle")  # ShapesDataset semantic labels
_DEFAULT_COLORS = ("#222222", "tab:orange", "tab:blue", "tab:green", "tab:red", "tab:purple",
                   "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray")


def label_colormap(num_classes: int, colors: Sequence[str] | None = None):
    """A ``ListedColormap`` with one colour per class ``0..K-1`` (lecture 08)."""
    from matplotlib.colors import ListedColormap

    colors = list(colors) if colors is not None else list(_DEFAULT_COLORS)
    if num_classes < 1 or len(colors) < num_classes:
        raise ArgumentError("colors", f"at least {num_classes} colours", len(colors))
    return ListedColormap(colors[:num_classes])


def show_labels(labels: Any, *, class_names: Sequence[str] = SHAPES_CLASS_NAMES, ax=None,
                title: str | None = None, colors: Sequence[str] | None = None, legend: bool = True,
                first_label: int = 0):
    """Draw an ``(H, W)`` integer label map, class ``c`` in colour ``c``, with a legend (lecture 08).

    Args:
        labels: ``(H, W)`` integers in ``[first_label, first_label + K)`` (array or tensor).
        class_names: the ``K`` names, in label order.
        ax: axes to draw into (a new figure if ``None``).
        title: axes title.
        colors: ``K`` matplotlib colours (default: dark background then the tab10 colours).
        legend: add a legend of the classes.
        first_label: the label of ``class_names[0]`` (e.g. 1 for a slide numbering classes 1..5).

    Returns:
        The matplotlib Axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    a = labels.detach().cpu().numpy() if hasattr(labels, "detach") else np.asarray(labels)
    k = len(class_names)
    if a.ndim != 2 or not np.issubdtype(a.dtype, np.integer):
        raise ArgumentError("labels", "an (H, W) integer label map", f"shape {a.shape}, dtype {a.dtype}")
    if a.size and (a.min() < first_label or a.max() >= first_label + k):
        raise ArgumentError("labels", f"labels in [{first_label}, {first_label + k})",
                            f"[{a.min()}, {a.max()}]")
    cmap = label_colormap(k, colors)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(a - first_label, cmap=cmap, vmin=-0.5, vmax=k - 0.5, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    if legend:
        handles = [Patch(color=cmap(c), label=f"{c + first_label}: {name}") for c, name in enumerate(class_names)]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return ax
