"""Semantic segmentation: losses, metrics, weight maps, upsampling and a small FCN (lecture 08).

- :mod:`.cross_entropy`    pixel cross-entropy with class weights and ``ignore_index`` (numpy pair)
- :mod:`.dice`             the three equal forms of Dice; soft multi-class Dice loss (torch)
- :mod:`.metrics`          confusion matrix, per-class and mean IoU / Dice (absent classes: NaN, left out)
- :mod:`.weights`          class-balance, edge and U-Net border weight maps
- :mod:`.padding`          mirror (reflect) padding, numpy forward/backward
- :mod:`.transposed`       transposed convolution as scatter, as ``C^T``, as zero insertion
- :mod:`.upsampling`       checkerboard overlaps; resize-convolution and sub-pixel convolution
- :mod:`.fcn`              encoder-decoder FCN with optional skip connections (any input size)
- :mod:`.pyramid_pooling`  PSPNet's pyramid pooling module
- :mod:`.sliding_window`   segmentation by classifying one patch per pixel, and its cost
- :mod:`.instance`         Mask R-CNN's per-box mask targets and pasting
- :mod:`.training`         train / predict / evaluate on ``ShapesDataset`` semantic masks
- :mod:`.plots`            label maps drawn with one colour per class and a legend

Shapes: logits ``(N, K, H, W)`` with ``K`` classes, label masks ``(N, H, W)`` int64.
"""

from cnncourse.segmentation.cross_entropy import pixel_cross_entropy_backward, pixel_cross_entropy_forward
from cnncourse.segmentation.dice import dice_three_forms, soft_dice_loss
from cnncourse.segmentation.fcn import FCN, conv_block
from cnncourse.segmentation.instance import mask_targets, paste_masks
from cnncourse.segmentation.metrics import (confusion_matrix, dice_per_class, iou_per_class, mean_dice,
                                            mean_iou, segmentation_scores)
from cnncourse.segmentation.padding import reflect_indices, reflect_pad2d_backward, reflect_pad2d_forward
from cnncourse.segmentation.plots import SHAPES_CLASS_NAMES, label_colormap, show_labels
from cnncourse.segmentation.pyramid_pooling import PyramidPooling
from cnncourse.segmentation.sliding_window import conv_macs, patch_classifier, sliding_window_segment
from cnncourse.segmentation.training import (SHAPES_NUM_CLASSES, evaluate_segmentation, predict,
                                             shapes_segmentation_data, train_segmentation, train_shapes_fcn)
from cnncourse.segmentation.transposed import (ZeroInsertion, conv2d_matrix, conv_transpose1d_contributions,
                                               conv_transpose2d_by_matrix, conv_transpose2d_by_zero_insertion,
                                               insert_zeros, zero_insertion_params)
from cnncourse.segmentation.upsampling import (ResizeConv, SubPixelConv, icnr_, overlap_counts, phase_means,
                                               pixel_shuffle)
from cnncourse.segmentation.weights import (boundary_distance, class_balance_weights, edge_weight_map,
                                            unet_weight_map)

__all__ = [
    "pixel_cross_entropy_forward", "pixel_cross_entropy_backward",
    "dice_three_forms", "soft_dice_loss",
    "confusion_matrix", "iou_per_class", "dice_per_class", "mean_iou", "mean_dice", "segmentation_scores",
    "class_balance_weights", "boundary_distance", "edge_weight_map", "unet_weight_map",
    "reflect_indices", "reflect_pad2d_forward", "reflect_pad2d_backward",
    "conv_transpose1d_contributions", "conv2d_matrix", "conv_transpose2d_by_matrix", "ZeroInsertion",
    "zero_insertion_params", "insert_zeros", "conv_transpose2d_by_zero_insertion",
    "overlap_counts", "phase_means", "pixel_shuffle", "icnr_", "SubPixelConv", "ResizeConv",
    "FCN", "conv_block", "PyramidPooling",
    "patch_classifier", "sliding_window_segment", "conv_macs",
    "mask_targets", "paste_masks",
    "SHAPES_CLASS_NAMES", "label_colormap", "show_labels",
    "SHAPES_NUM_CLASSES", "shapes_segmentation_data", "train_segmentation", "predict",
    "evaluate_segmentation", "train_shapes_fcn",
]
