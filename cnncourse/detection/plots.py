"""Detection figures: IoU of two boxes, a YOLO grid, detections on images, the P-R curve (Lecture 07).

Box format: ``(x1, y1, x2, y2)`` in absolute pixels, ``Tensor[K, 4]``. matplotlib is imported
lazily; every function returns the Axes (or Figure) it drew on.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch

from cnncourse._validate import ArgumentError, check_positive_int
from cnncourse.detection._checks import check_xyxy
from cnncourse.detection.boxes import box_iou
from cnncourse.detection.draw import draw_boxes
from cnncourse.detection.voc import (VOC07_RECALL_POINTS, eleven_point_precision, precision_envelope,
                                     voc_ap)

__all__ = ["draw_iou", "draw_grid", "show_detections", "plot_pr_curve"]


def draw_iou(box_a: torch.Tensor, box_b: torch.Tensor, *, ax=None, names: tuple[str, str] = ("A", "B"),
             size: tuple[float, float] | None = None, legend_loc: str = "best"):
    """Two boxes with their intersection shaded and ``IoU = |A n B| / |A u B|`` in the title (Lecture 07).

    Args:
        box_a, box_b (Tensor[4]): boxes ``(x1, y1, x2, y2)``.
        ax: Axes to draw on (a new figure if None).
        names: legend names of the two boxes.
        size: ``(H, W)`` of the drawing area (default: the boxes' extent plus a margin).
        legend_loc: matplotlib legend location.

    Returns:
        The Axes; image coordinates (y downwards), one legend entry per box and the intersection.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    a, b = (check_xyxy(n, t.reshape(-1, 4)) for n, t in (("box_a", box_a), ("box_b", box_b)))
    if a.shape[0] != 1 or b.shape[0] != 1:
        raise ArgumentError("box_a/box_b", "one box each, shape (4,)", f"{tuple(box_a.shape)} / {tuple(box_b.shape)}")
    iou = float(box_iou(a, b)[0, 0])
    (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = a[0].tolist(), b[0].tolist()
    if ax is None:
        _, ax = plt.subplots(figsize=(3.2, 3.2))
    ax.add_patch(Rectangle((ax1, ay1), ax2 - ax1, ay2 - ay1, fill=False, edgecolor="tab:blue", lw=2, label=names[0]))
    ax.add_patch(Rectangle((bx1, by1), bx2 - bx1, by2 - by1, fill=False, edgecolor="tab:orange", lw=2, label=names[1]))
    ix1, iy1, ix2, iy2 = max(ax1, bx1), max(ay1, by1), min(ax2, bx2), min(ay2, by2)
    if ix2 > ix1 and iy2 > iy1:
        ax.add_patch(Rectangle((ix1, iy1), ix2 - ix1, iy2 - iy1, color="tab:green", alpha=0.4,
                               label=f"{names[0]} \u2229 {names[1]}"))
    if size is None:
        lo, hi = min(ax1, ay1, bx1, by1) - 1, max(ax2, ay2, bx2, by2) + 1
        ax.set_xlim(lo, hi)
        ax.set_ylim(hi, lo)
    else:
        ax.set_xlim(0, size[1])
        ax.set_ylim(size[0], 0)
    ax.set_aspect("equal")
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels)")
    ax.set_title(f"IoU = {iou:.3f}")
    ax.legend(fontsize=7, loc=legend_loc)
    return ax


def draw_grid(ax, image_size: tuple[int, int], S: int, *, color: str = "white", label_cells: bool = False):
    """Draw the ``S x S`` YOLO grid over an image of ``image_size = (H, W)`` (Lecture 07).

    Args:
        ax: Axes holding the image.
        image_size: ``(H, W)`` in pixels.
        S: cells per side.
        color: line colour.
        label_cells: write ``(row, col)`` in each cell.

    Returns:
        The Axes.
    """
    S = check_positive_int("S", S)
    h, w = float(image_size[0]), float(image_size[1])
    for k in range(S + 1):
        ax.axhline(k * h / S, color=color, lw=0.6, alpha=0.7)
        ax.axvline(k * w / S, color=color, lw=0.6, alpha=0.7)
    if label_cells:
        for i in range(S):
            for j in range(S):
                ax.text((j + 0.5) * w / S, (i + 0.5) * h / S, f"{i},{j}", color=color, fontsize=5,
                        ha="center", va="center", alpha=0.8)
    return ax


def show_detections(images: torch.Tensor, predictions: Sequence[Mapping[str, Any]],
                    ground_truths: Sequence[Mapping[str, Any]] | None = None, *,
                    class_names: Sequence[str] | None = None, score_threshold: float = 0.3,
                    ncols: int = 4, titles: Sequence[str] | None = None):
    """A grid of images with detections ("label score" boxes) and dashed ground truth (Lecture 07).

    Args:
        images (Tensor[N, 3, H, W]): the images.
        predictions: N dicts with ``boxes``, ``scores``, ``labels`` (e.g. from
            :func:`~cnncourse.detection.predict`); boxes scoring below ``score_threshold`` are not drawn.
        ground_truths: N dicts with ``boxes`` (drawn dashed white), optional.
        class_names: names of the label indices.
        ncols: images per row.
        titles: one title per image.

    Returns:
        The Figure, one Axes per image.
    """
    import matplotlib.pyplot as plt

    n = len(images)
    if len(predictions) != n or (ground_truths is not None and len(ground_truths) != n):
        raise ArgumentError("predictions/ground_truths", f"{n} dicts (one per image)",
                            f"{len(predictions)} / {None if ground_truths is None else len(ground_truths)}")
    ncols = min(check_positive_int("ncols", ncols), max(n, 1))
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols, 2.5 * nrows), squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        if k >= n:
            ax.set_axis_off()
            continue
        ax.imshow(np.asarray(images[k].detach().cpu().permute(1, 2, 0)) if isinstance(images[k], torch.Tensor)
                  else np.asarray(images[k]).transpose(1, 2, 0))
        if ground_truths is not None:
            draw_boxes(None, ground_truths[k]["boxes"], ax=ax, linestyle="--", color="white", linewidth=1.2)
        p = predictions[k]
        keep = p["scores"] >= score_threshold
        draw_boxes(None, p["boxes"][keep], p["labels"][keep], p["scores"][keep], class_names=class_names, ax=ax,
                   linewidth=1.5)
        if titles is not None:
            ax.set_title(titles[k], fontsize=8)
    fig.tight_layout()
    return fig


def plot_pr_curve(precision: torch.Tensor, recall: torch.Tensor, *, ax=None, title: str | None = None):
    """The P-R curve with the two VOC areas: all-point (shaded envelope) and 11-point (Lecture 07).

    Args:
        precision (Tensor[K]), recall (Tensor[K]): a curve from :func:`~cnncourse.detection.precision_recall`.
        ax: Axes to draw on (a new figure if None).
        title: Axes title.

    Returns:
        The Axes, with a legend giving both AP values (computed by :func:`~cnncourse.detection.voc_ap`).
    """
    import matplotlib.pyplot as plt

    ap_all = float(voc_ap(recall, precision))
    ap_11 = float(voc_ap(recall, precision, use_07_metric=True))
    mrec, mpre = precision_envelope(recall, precision)
    p11 = eleven_point_precision(recall, precision)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.5))
    r, p = recall.detach().cpu().numpy(), precision.detach().cpu().numpy()
    ax.plot(r, p, "o-", color="tab:blue", ms=3, lw=1, label="P-R after each detection")
    ax.fill_between(mrec.cpu().numpy(), mpre.cpu().numpy(), step="pre", color="tab:blue", alpha=0.2,
                    label=f"all-point area: AP = {ap_all:.3f}")
    ax.step(mrec.cpu().numpy(), mpre.cpu().numpy(), where="pre", color="tab:blue", lw=1.5, alpha=0.8)
    ax.plot(VOC07_RECALL_POINTS, p11.cpu().numpy(), "s", color="tab:red", ms=5,
            label=f"11-point precisions: AP = {ap_11:.3f}")
    ax.vlines(VOC07_RECALL_POINTS, 0, p11.cpu().numpy(), color="tab:red", lw=0.8, alpha=0.6)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7, loc="lower left")
    return ax
