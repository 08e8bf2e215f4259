"""Object detection: boxes, NMS, box coding, anchors, RoI ops, YOLO, VOC/COCO evaluation (Lecture 07).

Box format: ``(x1, y1, x2, y2)`` in absolute pixels (``xyxy``), ``Tensor[K, 4]``, unless a
function says otherwise (COCO evaluation takes COCO's ``[x, y, w, h]``). All torch functions keep
the input's device and dtype.
"""

from cnncourse.detection.anchors import BACKGROUND, IGNORE, make_anchors, match_anchors
from cnncourse.detection.boxes import box_area, box_convert, box_iou, clip_boxes, generalized_box_iou
from cnncourse.detection.coco_eval import COCO_STAT_NAMES, evaluate_coco
from cnncourse.detection.coding import decode_boxes, encode_boxes
from cnncourse.detection.nms import batched_nms, nms
from cnncourse.detection.draw import draw_boxes
from cnncourse.detection.roi import roi_align, roi_pool
from cnncourse.detection.voc import precision_recall, voc_ap
from cnncourse.detection.yolo import yolo_decode, yolo_encode, yolo_loss

__all__ = [
    "box_convert", "box_area", "box_iou", "generalized_box_iou", "clip_boxes",
    "nms", "batched_nms", "encode_boxes", "decode_boxes",
    "make_anchors", "match_anchors", "BACKGROUND", "IGNORE",
    "roi_pool", "roi_align",
    "yolo_encode", "yolo_decode", "yolo_loss",
    "precision_recall", "voc_ap", "evaluate_coco", "COCO_STAT_NAMES",
    "draw_boxes",
]
