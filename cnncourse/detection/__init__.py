"""Object detection: boxes, NMS, box coding, anchors, RoI ops, YOLO, VOC/COCO evaluation (Lecture 07).

Box format: ``(x1, y1, x2, y2)`` in absolute pixels (``xyxy``), ``Tensor[K, 4]``, unless a
function says otherwise (COCO evaluation takes COCO's ``[x, y, w, h]``). All torch functions keep
the input's device and dtype.
"""

from cnncourse.detection.anchors import BACKGROUND, IGNORE, make_anchors, match_anchors
from cnncourse.detection.boxes import box_area, box_convert, box_iou, clip_boxes, generalized_box_iou
from cnncourse.detection.coco_eval import COCO_STAT_NAMES, evaluate_coco
from cnncourse.detection.coding import decode_boxes, encode_boxes
from cnncourse.detection.nms import batched_nms, nms, nms_steps
from cnncourse.detection.draw import draw_boxes
from cnncourse.detection.evaluate import VOCResult, evaluate_voc, match_detections, to_coco
from cnncourse.detection.plots import draw_grid, draw_iou, plot_pr_curve, show_detections
from cnncourse.detection.roi import roi_align, roi_pool
from cnncourse.detection.tiny_yolo import TinyYOLO, encode_targets, predict, shapes_to_tensors, train_detector
from cnncourse.detection.voc import eleven_point_precision, precision_envelope, precision_recall, voc_ap
from cnncourse.detection.yolo import yolo_decode, yolo_encode, yolo_loss

__all__ = [
    "box_convert", "box_area", "box_iou", "generalized_box_iou", "clip_boxes",
    "nms", "batched_nms", "nms_steps", "encode_boxes", "decode_boxes",
    "make_anchors", "match_anchors", "BACKGROUND", "IGNORE",
    "roi_pool", "roi_align",
    "yolo_encode", "yolo_decode", "yolo_loss",
    "precision_recall", "voc_ap", "precision_envelope", "eleven_point_precision",
    "match_detections", "evaluate_voc", "VOCResult", "to_coco",
    "evaluate_coco", "COCO_STAT_NAMES",
    "TinyYOLO", "shapes_to_tensors", "encode_targets", "train_detector", "predict",
    "draw_boxes", "draw_iou", "draw_grid", "show_detections", "plot_pr_curve",
]
