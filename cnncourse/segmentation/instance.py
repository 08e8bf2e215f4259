"""Mask R-CNN's idea: one small binary mask per detected box (lecture 08, instance segmentation).

Instance segmentation = detection + a mask for each detection. Mask R-CNN (He et al., 2017) adds
to Faster R-CNN a small FCN head that predicts, for every RoI, an ``M x M`` (28 x 28) mask per
class from RoIAlign features; only the mask of the predicted class is used (per-class sigmoid,
binary cross-entropy: classes do not compete). Training targets are the ground-truth instance
masks resampled into each box (:func:`mask_targets`); at test time the ``M x M`` probabilities are
resized back into the box and thresholded (:func:`paste_masks`).

Boxes are ``(x1, y1, x2, y2)`` in absolute pixels (pixel edges), ``Tensor[K, 4]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cnncourse._validate import ArgumentError, as_pair, check_positive_int
from cnncourse.detection.roi import roi_align

__all__ = ["mask_targets", "paste_masks"]


def _check_boxes(boxes: torch.Tensor, k: int) -> torch.Tensor:
    if not isinstance(boxes, torch.Tensor) or boxes.shape != (k, 4):
        raise ArgumentError("boxes", f"a Tensor of shape ({k}, 4)", tuple(getattr(boxes, "shape", ())))
    if bool((boxes[:, 2:] <= boxes[:, :2]).any()):
        raise ArgumentError("boxes", "x2 > x1 and y2 > y1", "an empty box")
    return boxes


def mask_targets(masks: torch.Tensor, boxes: torch.Tensor, size: int = 28) -> torch.Tensor:
    """Resample each instance mask inside its box to ``size x size`` with RoIAlign (lecture 08).

    Args:
        masks (Tensor[K, H, W]): instance masks (bool or float).
        boxes (Tensor[K, 4]): one box per mask.
        size: ``M``, Mask R-CNN uses 28.

    Returns:
        Tensor[K, M, M] float in [0, 1] (the fraction of the bin covered by the mask; threshold at
        0.5 for binary targets).
    """
    if not isinstance(masks, torch.Tensor) or masks.ndim != 3:
        raise ArgumentError("masks", "a Tensor (K, H, W)", tuple(getattr(masks, "shape", ())))
    k = masks.shape[0]
    boxes = _check_boxes(boxes, k).to(torch.float32)
    m = check_positive_int("size", size)
    rois = torch.cat([torch.arange(k, dtype=torch.float32, device=boxes.device)[:, None], boxes], dim=1)
    # aligned=True: a box edge at pixel edge x samples at the right place (Detectron2's convention)
    return roi_align(masks[:, None].to(torch.float32), rois, m, sampling_ratio=2, aligned=True)[:, 0]


def paste_masks(mask_probs: torch.Tensor, boxes: torch.Tensor, image_size: int | tuple[int, int], *,
                threshold: float | None = 0.5) -> torch.Tensor:
    """Resize each ``M x M`` mask into its box on an ``H x W`` canvas (lecture 08).

    Pixel ``(y, x)`` inside the box reads the mask bilinearly at
    ``((x + 0.5 - x1) / (x2 - x1) * M - 0.5, (y + 0.5 - y1) / (y2 - y1) * M - 0.5)``
    (pixel centres mapped to mask-cell centres); pixels outside the box get 0.

    Args:
        mask_probs (Tensor[K, M, M]): per-box mask probabilities.
        boxes (Tensor[K, 4]): boxes in image pixels.
        image_size: ``(H, W)``.
        threshold: binarise at this value (``None``: return the probabilities).

    Returns:
        Tensor[K, H, W], bool if ``threshold`` is given, else float.
    """
    if not isinstance(mask_probs, torch.Tensor) or mask_probs.ndim != 3:
        raise ArgumentError("mask_probs", "a Tensor (K, M, M)", tuple(getattr(mask_probs, "shape", ())))
    k = mask_probs.shape[0]
    boxes = _check_boxes(boxes, k).to(torch.float32)
    h, w = as_pair("image_size", image_size, minimum=1)
    dev = mask_probs.device
    xs = torch.arange(w, dtype=torch.float32, device=dev) + 0.5                # pixel centres
    ys = torch.arange(h, dtype=torch.float32, device=dev) + 0.5
    x1, y1, x2, y2 = boxes.to(dev).unbind(1)                                    # (K,) each
    u = 2 * (xs[None] - x1[:, None]) / (x2 - x1)[:, None] - 1                  # (K, W) in [-1, 1] inside
    v = 2 * (ys[None] - y1[:, None]) / (y2 - y1)[:, None] - 1                  # (K, H)
    grid = torch.stack(torch.broadcast_tensors(u[:, None, :], v[:, :, None]), dim=-1)  # (K, H, W, 2)
    out = F.grid_sample(mask_probs[:, None].to(torch.float32), grid, mode="bilinear",
                        padding_mode="border", align_corners=False)[:, 0]       # (K, H, W)
    inside = (u.abs() <= 1)[:, None, :] & (v.abs() <= 1)[:, :, None]
    out = out * inside
    return out if threshold is None else out >= threshold
