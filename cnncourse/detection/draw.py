"""Drawing boxes with labels and scores on an image with matplotlib (Lecture 07).

Box format: ``(x1, y1, x2, y2)`` in absolute pixels, ``Tensor[K, 4]``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from cnncourse._validate import ArgumentError
from cnncourse.detection._checks import check_tensor, check_xyxy

__all__ = ["draw_boxes"]


def _as_hwc(image: torch.Tensor | np.ndarray) -> np.ndarray:
    arr = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[2] not in (1, 3):
        arr = arr.transpose(1, 2, 0)  # CHW -> HWC
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise ArgumentError("image", "an image of shape (H, W), (H, W, 3), (3, H, W) or (1, H, W)",
                            f"shape {tuple(np.shape(image))}")
    return arr


def draw_boxes(image: torch.Tensor | np.ndarray | None, boxes: torch.Tensor,
               labels: torch.Tensor | Sequence[int] | None = None,
               scores: torch.Tensor | Sequence[float] | None = None, *,
               class_names: Sequence[str] | None = None, ax=None, linewidth: float = 2.0,
               cmap: str = "tab10", linestyle: str = "-", color=None):
    """Draw boxes, with "label score" captions, on an image (Lecture 07).

    Args:
        image: ``(C, H, W)`` tensor (C = 1 or 3), ``(H, W, 3)`` or ``(H, W)`` array; None draws
            on ``ax`` as it is (e.g. ground truth over an image already shown).
        boxes (Tensor[K, 4]): boxes ``(x1, y1, x2, y2)`` in pixels.
        labels (Tensor[int64, K], optional): class indices, which also pick the colours.
        scores (Tensor[K], optional): confidences, printed with 2 decimals.
        class_names: names for the label indices.
        ax: matplotlib Axes to draw on (a new figure if None).
        linewidth, cmap: box line width and colour map.
        linestyle: matplotlib line style of the boxes (e.g. ``"--"`` for ground truth).
        color: one colour for every box (default: by label through ``cmap``).

    Returns:
        The matplotlib Axes, with one Rectangle patch and (if labels or scores) one text per box.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    img = None if image is None else _as_hwc(image)
    check_xyxy("boxes", boxes)
    check_tensor("boxes", boxes, ndim=2)
    k = boxes.shape[0]
    for name, v in (("labels", labels), ("scores", scores)):
        if v is not None and len(v) != k:
            raise ArgumentError(name, f"{k} entries (one per box)", f"{len(v)}")
    lab = None if labels is None else [int(v) for v in labels]
    sc = None if scores is None else [float(v) for v in scores]
    if ax is None:
        _, ax = plt.subplots()
    if img is not None:
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
    colours = plt.get_cmap(cmap)
    for i, (x1, y1, x2, y2) in enumerate(boxes.detach().cpu().tolist()):
        colour = color if color is not None else colours((lab[i] if lab is not None else 0) % colours.N)
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour,
                               linewidth=linewidth, linestyle=linestyle))
        parts = []
        if lab is not None:
            parts.append(class_names[lab[i]] if class_names is not None else str(lab[i]))
        if sc is not None:
            parts.append(f"{sc[i]:.2f}")
        if parts:
            ax.text(x1, y1, " ".join(parts), color="white", fontsize=8, va="bottom",
                    bbox={"facecolor": colour, "alpha": 0.7, "pad": 1, "edgecolor": "none"})
    ax.set_axis_off()
    return ax
