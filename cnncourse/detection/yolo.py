"""YOLO (v1): target encoding, prediction decoding and the loss (Lecture 07).

Box format: inputs and decoded outputs are ``(x1, y1, x2, y2)`` in absolute pixels of an image of
``image_size = (H, W)``. Inside the ``S x S x (B * 5 + C)`` tensor (7 x 7 x 30 for VOC:
S = 7, B = 2, C = 20), each cell holds ``B`` boxes ``(x, y, w, h, confidence)`` then ``C`` class
probabilities; ``x, y`` are the box centre's offset inside the cell in ``[0, 1)`` and ``w, h``
are relative to the image size. Row ``i`` of the grid is the vertical position, column ``j``
the horizontal one.
"""

from __future__ import annotations

import torch

from cnncourse._validate import ArgumentError, check_positive_int
from cnncourse.detection._checks import check_finite, check_tensor, check_xyxy, has_values

__all__ = ["yolo_encode", "yolo_decode", "yolo_loss"]


def _size(image_size: tuple[float, float]) -> tuple[float, float]:
    if not (isinstance(image_size, (tuple, list)) and len(image_size) == 2 and min(image_size) > 0):
        raise ArgumentError("image_size", "a pair (H, W) of positive numbers", repr(image_size))
    return float(image_size[0]), float(image_size[1])


def yolo_encode(boxes: torch.Tensor, labels: torch.Tensor, *, image_size: tuple[float, float],
                S: int = 7, B: int = 2, C: int = 20) -> torch.Tensor:
    """Ground truth of one image as the YOLO target grid ``(S, S, B * 5 + C)`` (Lecture 07).

    The cell containing a box's centre is responsible for it; all ``B`` box slots of that cell
    hold ``(x, y, w, h, 1)`` and the class is one-hot. One object per cell: when several centres
    fall in one cell, the first box in input order wins (YOLO v1's limitation).

    Args:
        boxes (Tensor[M, 4]): boxes ``(x1, y1, x2, y2)`` in pixels, inside the image.
        labels (Tensor[int64, M]): classes in ``[0, C)``.
        image_size: ``(H, W)`` in pixels.
        S, B, C: grid size, boxes per cell, number of classes.

    Returns:
        Tensor[S, S, B * 5 + C]: the target, on the boxes' device and dtype.
    """
    h, w = _size(image_size)
    S, B, C = (check_positive_int(n, v) for n, v in (("S", S), ("B", B), ("C", C)))
    check_xyxy("boxes", boxes)
    check_tensor("boxes", boxes, ndim=2)
    check_tensor("labels", labels, ndim=1)
    if labels.shape[0] != boxes.shape[0]:
        raise ArgumentError("labels", f"one label per box, shape ({boxes.shape[0]},)", f"shape {tuple(labels.shape)}")
    if has_values(labels) and bool(((labels < 0) | (labels >= C)).any()):
        raise ArgumentError("labels", f"classes in [0, {C})", labels.tolist())
    target = torch.zeros(S, S, B * 5 + C, dtype=boxes.dtype, device=boxes.device)
    if boxes.shape[0] == 0:
        return target
    cx = (boxes[:, 0] + boxes[:, 2]) / (2 * w) * S  # (M,) in cell units
    cy = (boxes[:, 1] + boxes[:, 3]) / (2 * h) * S
    col = cx.floor().clamp(0, S - 1).long()
    row = cy.floor().clamp(0, S - 1).long()
    cell = row * S + col  # (M,)
    idx = torch.arange(cell.shape[0], device=boxes.device)
    earlier = (cell[:, None] == cell[None, :]) & (idx[None, :] < idx[:, None])  # (M, M)
    first = ~earlier.any(dim=1)  # (M,) the first box of its cell
    box = torch.stack([cx - col, cy - row, (boxes[:, 2] - boxes[:, 0]) / w,
                       (boxes[:, 3] - boxes[:, 1]) / h, torch.ones_like(cx)], dim=1)  # (M, 5)
    onehot = torch.nn.functional.one_hot(labels.long(), C).to(boxes.dtype)  # (M, C)
    rows = torch.cat([box.repeat(1, B), onehot], dim=1)  # (M, B * 5 + C)
    target[row[first], col[first]] = rows[first]
    return target


def yolo_decode(pred: torch.Tensor, *, image_size: tuple[float, float], B: int = 2,
                C: int = 20) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Boxes, confidences and class scores from a YOLO output grid (Lecture 07).

    Args:
        pred (Tensor[..., S, S, B * 5 + C]): network output (or a target from :func:`yolo_encode`).
        image_size: ``(H, W)`` in pixels.
        B, C: boxes per cell and classes.

    Returns:
        boxes (Tensor[..., S * S * B, 4]): ``(x1, y1, x2, y2)`` in pixels, ordered by row, column,
        then slot; confidence (Tensor[..., S * S * B]); class_scores (Tensor[..., S * S * B, C]):
        class-specific confidence ``confidence * P(class | object)``.
    """
    h, w = _size(image_size)
    B, C = check_positive_int("B", B), check_positive_int("C", C)
    check_tensor("pred", pred, floating=True)
    if pred.ndim < 3 or pred.shape[-3] != pred.shape[-2] or pred.shape[-1] != B * 5 + C:
        raise ArgumentError("pred", f"shape (..., S, S, {B * 5 + C})", f"shape {tuple(pred.shape)}")
    S = pred.shape[-2]
    lead = pred.shape[:-3]
    box = pred[..., : B * 5].reshape(*lead, S, S, B, 5)  # (..., S, S, B, 5)
    ar = torch.arange(S, dtype=pred.dtype, device=pred.device)
    cx = (box[..., 0] + ar[None, :, None]) / S * w  # (..., S, S, B): column offset
    cy = (box[..., 1] + ar[:, None, None]) / S * h  # row offset
    bw, bh = box[..., 2] * w, box[..., 3] * h
    xyxy = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], dim=-1)
    conf = box[..., 4]  # (..., S, S, B)
    probs = pred[..., B * 5:][..., None, :].expand(*lead, S, S, B, C)  # (..., S, S, B, C)
    scores = conf[..., None] * probs
    return (xyxy.reshape(*lead, S * S * B, 4), conf.reshape(*lead, S * S * B),
            scores.reshape(*lead, S * S * B, C))


def _signed_sqrt(v: torch.Tensor) -> torch.Tensor:
    """sqrt for w, h that keeps a finite gradient at 0 and a sign for negative predictions."""
    return torch.sign(v) * torch.sqrt(v.abs() + 1e-9)


def _cell_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of (x, y, w, h) boxes given in the same cell (x, y in cell units, w, h in image units)."""
    def corners(t: torch.Tensor) -> tuple[torch.Tensor, ...]:
        S = t.shape[-3]
        cx, cy = t[..., 0] / S, t[..., 1] / S
        return cx - t[..., 2] / 2, cy - t[..., 3] / 2, cx + t[..., 2] / 2, cy + t[..., 3] / 2
    ax1, ay1, ax2, ay2 = corners(a)
    bx1, by1, bx2, by2 = corners(b)
    inter = (torch.minimum(ax2, bx2) - torch.maximum(ax1, bx1)).clamp(min=0) \
        * (torch.minimum(ay2, by2) - torch.maximum(ay1, by1)).clamp(min=0)
    union = (ax2 - ax1).abs() * (ay2 - ay1).abs() + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union.clamp(min=1e-12)


def yolo_loss(pred: torch.Tensor, target: torch.Tensor, *, B: int = 2, C: int = 20,
              lambda_coord: float = 5.0, lambda_noobj: float = 0.5,
              rescore: bool = True) -> torch.Tensor:
    """The YOLO v1 sum-squared loss, summed over the grid and averaged over the batch (Lecture 07).

    In each cell with an object the responsible predictor is the slot whose box has the highest
    IoU with the target (first slot on ties). With ``1obj`` the responsible slots, ``1noobj``
    all other slots and ``obj`` the cells with an object::

        lambda_coord * sum 1obj [(x - x^)^2 + (y - y^)^2 + (sqrt w - sqrt w^)^2 + (sqrt h - sqrt h^)^2]
        + sum 1obj (c - c^)^2 + lambda_noobj * sum 1noobj c^2 + sum_obj sum_classes (p - p^)^2

    where the confidence target ``c^`` is the IoU of the predicted and target boxes (detached)
    if ``rescore`` (the paper's definition) and 1 otherwise; ``sqrt`` is ``sign(v) sqrt(|v|)``.

    Args:
        pred (Tensor[N, S, S, B * 5 + C]): network output.
        target (Tensor[N, S, S, B * 5 + C]): stacked :func:`yolo_encode` targets.
        B, C: boxes per cell and classes.
        lambda_coord, lambda_noobj: the paper's weights (5 and 0.5).
        rescore: confidence target IoU (True) or 1 (False).

    Returns:
        Tensor[]: the loss (differentiable in ``pred``).
    """
    B, C = check_positive_int("B", B), check_positive_int("C", C)
    check_tensor("pred", pred, ndim=4, floating=True)
    check_tensor("target", target, ndim=4, floating=True)
    if pred.shape != target.shape or pred.shape[1] != pred.shape[2] or pred.shape[3] != B * 5 + C:
        raise ArgumentError("pred/target", f"equal shapes (N, S, S, {B * 5 + C})",
                            f"{tuple(pred.shape)} / {tuple(target.shape)}")
    check_finite("pred", pred)
    n, S = pred.shape[0], pred.shape[1]
    pb = pred[..., : B * 5].reshape(n, S, S, B, 5)  # (N, S, S, B, 5)
    tb = target[..., None, 0:5]  # (N, S, S, 1, 5): all slots of a target are equal
    obj = target[..., 4] > 0  # (N, S, S)
    with torch.no_grad():
        iou = _cell_iou(pb[..., :4], tb[..., :4].expand_as(pb[..., :4]))  # (N, S, S, B)
        best = iou.argmax(dim=-1)  # (N, S, S)
        resp = torch.nn.functional.one_hot(best, B).bool() & obj[..., None]  # (N, S, S, B)
    r = resp.to(pred.dtype)
    xy = ((pb[..., 0:2] - tb[..., 0:2]) ** 2).sum(-1)
    wh = ((_signed_sqrt(pb[..., 2:4]) - _signed_sqrt(tb[..., 2:4])) ** 2).sum(-1)
    conf_target = iou if rescore else torch.ones_like(iou)
    coord = lambda_coord * (r * (xy + wh)).sum()
    conf_obj = (r * (pb[..., 4] - conf_target) ** 2).sum()
    conf_noobj = lambda_noobj * ((1 - r) * pb[..., 4] ** 2).sum()
    cls = (obj[..., None].to(pred.dtype) * (pred[..., B * 5:] - target[..., B * 5:]) ** 2).sum()
    return (coord + conf_obj + conf_noobj + cls) / n
