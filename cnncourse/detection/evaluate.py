"""Evaluate a detector: VOC matching, per-class AP and mAP, and conversion to COCO format (Lecture 07).

Box format: ``(x1, y1, x2, y2)`` in absolute pixels, ``Tensor[K, 4]`` (continuous coordinates,
no ``+ 1`` as in the VOC devkit's MATLAB code). A detector's output for one image is a dict
``{"boxes": Tensor[K, 4], "scores": Tensor[K], "labels": Tensor[int64, K]}`` and the ground
truth of one image is ``{"boxes": Tensor[M, 4], "labels": Tensor[int64, M]}`` (the layout of
torchvision's detection models); a data set is a sequence of such dicts, one per image.

VOC matching (the devkit's ``VOCevaldet``), per image and class: detections are visited by
decreasing score; each one finds the ground-truth box of highest IoU (the first on ties); it is a
true positive if that IoU is ``>= iou_threshold`` (and ``> 0``) and the box is not yet taken,
otherwise a false positive. Unlike COCO, a detection whose best box is taken does not fall back
to its second best.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from cnncourse._validate import ArgumentError, check_positive_int
from cnncourse.detection._checks import check_finite, check_tensor, check_xyxy
from cnncourse.detection.boxes import _iou
from cnncourse.detection.voc import precision_recall, voc_ap

__all__ = ["match_detections", "evaluate_voc", "VOCResult", "to_coco"]


def _check_threshold(iou_threshold: float) -> float:
    thr = float(iou_threshold)
    if not 0.0 <= thr <= 1.0:
        raise ArgumentError("iou_threshold", "a number in [0, 1]", iou_threshold)
    return thr


def match_detections(boxes: torch.Tensor, scores: torch.Tensor, gt_boxes: torch.Tensor, *,
                     iou_threshold: float = 0.5) -> torch.Tensor:
    """Judge the detections of one image and one class true or false positives, VOC style (Lecture 07).

    Args:
        boxes (Tensor[K, 4]): detected boxes ``(x1, y1, x2, y2)``.
        scores (Tensor[K]): their confidences (finite); ties are visited in input order.
        gt_boxes (Tensor[M, 4]): ground-truth boxes ``(x1, y1, x2, y2)`` of the same class.
        iou_threshold: minimum IoU of a true positive (VOC: 0.5).

    Returns:
        Tensor[bool, K]: ``is_tp[k]`` for detection ``k`` (input order), on the input's device.
    """
    check_xyxy("boxes", boxes)
    check_tensor("boxes", boxes, ndim=2)
    check_tensor("scores", scores, ndim=1)
    check_finite("scores", scores)
    if scores.shape[0] != boxes.shape[0]:
        raise ArgumentError("scores", f"one score per box, shape ({boxes.shape[0]},)", f"shape {tuple(scores.shape)}")
    check_xyxy("gt_boxes", gt_boxes)
    check_tensor("gt_boxes", gt_boxes, ndim=2)
    thr = _check_threshold(iou_threshold)
    k, m = boxes.shape[0], gt_boxes.shape[0]
    is_tp = torch.zeros(k, dtype=torch.bool, device=boxes.device)
    if k == 0 or m == 0:
        return is_tp
    order = torch.sort(scores, descending=True, stable=True).indices  # (K,)
    best, j = _iou(boxes[order], gt_boxes.to(boxes.dtype)).max(dim=1)  # (K,), (K,): first max on ties
    ok = ((best >= thr) & (best > 0)).cpu().numpy()
    j = j.cpu().numpy()
    taken = np.zeros(m, dtype=bool)
    tp = np.zeros(k, dtype=bool)
    for d in range(k):  # sequential: a box taken by a higher score is lost to the later ones
        if ok[d] and not taken[j[d]]:
            tp[d] = taken[j[d]] = True
    is_tp[order] = torch.as_tensor(tp, device=boxes.device)
    return is_tp


@dataclass
class VOCResult:
    """Per-class VOC evaluation: ``ap[c]`` (NaN for a class without ground truth), ``mAP`` (their
    mean over classes with ground truth), and each class's ``precision``/``recall`` curve."""

    ap: torch.Tensor
    mAP: float
    precision: list[torch.Tensor] = field(repr=False)
    recall: list[torch.Tensor] = field(repr=False)
    num_gt: list[int] = field(repr=False)


def _get(item: Mapping[str, Any], key: str, where: str) -> torch.Tensor:
    if not isinstance(item, Mapping) or key not in item:
        raise ArgumentError(where, f"a dict with key '{key}'", type(item).__name__ if not isinstance(item, Mapping)
                            else sorted(item.keys()))
    value = item[key]
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"`{where}['{key}']` expected a torch.Tensor, got {type(value).__name__}")
    return value


def _check_sets(predictions: Sequence[Mapping[str, Any]], ground_truths: Sequence[Mapping[str, Any]]) -> None:
    if len(predictions) != len(ground_truths):
        raise ArgumentError("predictions", f"one dict per image ({len(ground_truths)} like `ground_truths`)",
                            f"{len(predictions)}")


def evaluate_voc(predictions: Sequence[Mapping[str, Any]], ground_truths: Sequence[Mapping[str, Any]], *,
                 num_classes: int, iou_threshold: float = 0.5, use_07_metric: bool = False) -> VOCResult:
    """PASCAL VOC per-class average precision and mAP of a detector on a data set (Lecture 07).

    Each class's detections of all images are matched with :func:`match_detections`, ranked by
    score (stable), turned into a precision/recall curve (:func:`precision_recall`) and reduced by
    :func:`voc_ap` (all-point area, or the 11-point mean with ``use_07_metric``).

    Args:
        predictions: one ``{"boxes", "scores", "labels"}`` dict per image.
        ground_truths: one ``{"boxes", "labels"}`` dict per image, same length.
        num_classes: classes are ``0 .. num_classes - 1``.
        iou_threshold: IoU of a true positive (0.5 = "mAP@0.5").
        use_07_metric: VOC2007's 11-point AP instead of the area under the curve.

    Returns:
        :class:`VOCResult` with ``ap`` (Tensor[float64, num_classes]) and ``mAP``; a class without
        ground truth has AP NaN and is left out of the mean (``mAP`` is NaN if no class has any).
    """
    _check_sets(predictions, ground_truths)
    num_classes = check_positive_int("num_classes", num_classes)
    thr = _check_threshold(iou_threshold)
    scores: list[list[torch.Tensor]] = [[] for _ in range(num_classes)]
    tps: list[list[torch.Tensor]] = [[] for _ in range(num_classes)]
    num_gt = [0] * num_classes
    for i, (pred, gt) in enumerate(zip(predictions, ground_truths)):
        pb, ps, pl = (_get(pred, key, f"predictions[{i}]").detach().cpu() for key in ("boxes", "scores", "labels"))
        gb, gl = (_get(gt, key, f"ground_truths[{i}]").detach().cpu() for key in ("boxes", "labels"))
        for name, lab in ((f"predictions[{i}]['labels']", pl), (f"ground_truths[{i}]['labels']", gl)):
            if lab.numel() and (lab.is_floating_point() or int(lab.min()) < 0 or int(lab.max()) >= num_classes):
                raise ArgumentError(name, f"integer classes in [0, {num_classes})", lab.tolist())
        for c in range(num_classes):
            sel, gsel = pl == c, gl == c
            num_gt[c] += int(gsel.sum())
            if bool(sel.any()):
                scores[c].append(ps[sel].double())
                tps[c].append(match_detections(pb[sel].double(), ps[sel].double(), gb[gsel].double(),
                                               iou_threshold=thr))
    ap = torch.full((num_classes,), float("nan"), dtype=torch.float64)
    precisions, recalls = [], []
    for c in range(num_classes):
        s = torch.cat(scores[c]) if scores[c] else torch.zeros(0, dtype=torch.float64)
        t = torch.cat(tps[c]) if tps[c] else torch.zeros(0, dtype=torch.bool)
        precision, recall = precision_recall(s, t, num_gt[c])
        precisions.append(precision)
        recalls.append(recall)
        if num_gt[c] > 0:
            ap[c] = voc_ap(recall, precision, use_07_metric=use_07_metric)
    valid = ~torch.isnan(ap)
    m = float(ap[valid].mean()) if bool(valid.any()) else float("nan")
    return VOCResult(ap=ap, mAP=m, precision=precisions, recall=recalls, num_gt=num_gt)


def to_coco(predictions: Sequence[Mapping[str, Any]], ground_truths: Sequence[Mapping[str, Any]], *,
            num_classes: int) -> tuple[dict, list[dict]]:
    """Convert per-image dicts to COCO's ground-truth dict and result list (Lecture 07).

    Image ``i`` gets ``id = i + 1`` and class ``c`` gets ``category_id = c + 1`` (COCO ids start
    at 1); boxes become ``bbox = [x, y, w, h]``, ground-truth ``area = w * h``, ``iscrowd = 0``.

    Args:
        predictions: one ``{"boxes", "scores", "labels"}`` dict per image.
        ground_truths: one ``{"boxes", "labels"}`` dict per image.
        num_classes: number of categories.

    Returns:
        ``(ground_truth, detections)`` for :func:`~cnncourse.detection.evaluate_coco` (and
        pycocotools' ``COCO.dataset`` / ``loadRes``).
    """
    _check_sets(predictions, ground_truths)
    num_classes = check_positive_int("num_classes", num_classes)
    images = [{"id": i + 1} for i in range(len(ground_truths))]
    categories = [{"id": c + 1} for c in range(num_classes)]
    annotations: list[dict] = []
    detections: list[dict] = []
    for i, (pred, gt) in enumerate(zip(predictions, ground_truths)):
        gb = check_xyxy(f"ground_truths[{i}]['boxes']", _get(gt, "boxes", f"ground_truths[{i}]"))
        gl = _get(gt, "labels", f"ground_truths[{i}]")
        for (x1, y1, x2, y2), c in zip(gb.detach().cpu().double().tolist(), gl.tolist()):
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": int(c) + 1,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1),
                                "iscrowd": 0})
        pb = check_xyxy(f"predictions[{i}]['boxes']", _get(pred, "boxes", f"predictions[{i}]"))
        ps, pl = (_get(pred, key, f"predictions[{i}]") for key in ("scores", "labels"))
        for (x1, y1, x2, y2), s, c in zip(pb.detach().cpu().double().tolist(), ps.tolist(), pl.tolist()):
            detections.append({"image_id": i + 1, "category_id": int(c) + 1,
                               "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(s)})
    return {"images": images, "annotations": annotations, "categories": categories}, detections
