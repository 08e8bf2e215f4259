"""What students may not call, per assignment: the one list the grader's defenses derive from.

For each assignment, :data:`ASSIGNMENTS` names

- ``references``: the library functions students re-implement (their hidden tests import them to
  compute the expected answers);
- ``shortcuts``: per exercise family, the library calls that would turn an exercise into one call
  (``"conv"``: torch/scipy convolutions, ``"gradcheck"``: the library's numerical gradient, ...);
- ``hidden``: top-level modules that do not exist in the student's sandboxed grading kernel at
  all ("forbidden means absent": a numpy-only assignment's kernel has no torch, scipy or
  ``cnncourse``).

Derived from it (never written by hand elsewhere): the forbidden-call presets of
:mod:`~cnncourse.grading.guard` (``PRESETS``), the functions :mod:`~cnncourse.grading.integrity`
watches, the names the tamper scan flags (:func:`flagged_names`) and the modules the sandbox hides
(:func:`hidden_modules`). Tests check that every reference a hidden test imports is registered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["AssignmentRules", "ASSIGNMENTS", "SHORTCUTS", "presets", "references", "flagged_names",
           "hidden_modules", "rules_for"]

# Library shortcuts, by exercise family. Names whose package is not installed are skipped by the guard.
SHORTCUTS: dict[str, tuple[str, ...]] = {
    "conv": (
        "torch.nn.functional.conv2d", "torch.conv2d", "torch.convolution", "torch._convolution",
        "torch.nn.functional.conv_transpose2d", "torch.nn.Conv2d", "torch.nn.grad.conv2d_input",
        "torch.nn.grad.conv2d_weight", "torch.nn.functional.unfold", "torch.nn.functional.fold",
        "torch.nn.functional.conv3d", "torch.conv3d", "torch.nn.Conv3d", "torch.nn.functional.conv1d",
        "scipy.signal.convolve2d", "scipy.signal.correlate2d", "scipy.signal.convolve",
        "scipy.signal.correlate", "scipy.signal.fftconvolve", "scipy.signal.oaconvolve",
        "scipy.ndimage.convolve", "scipy.ndimage.correlate",
    ),
    "pool": (
        "torch.nn.functional.max_pool2d", "torch.max_pool2d", "torch.nn.functional.avg_pool2d",
        "torch.nn.functional.max_pool2d_with_indices", "torch.nn.functional.adaptive_avg_pool2d",
        "torch.nn.functional.adaptive_max_pool2d", "torch.nn.MaxPool2d", "torch.nn.AvgPool2d",
        "torch.nn.functional.max_pool3d", "torch.nn.functional.avg_pool3d",
        "scipy.ndimage.maximum_filter", "scipy.ndimage.uniform_filter",
    ),
    "stride_tricks": (
        "numpy.lib.stride_tricks.as_strided", "numpy.lib.stride_tricks.sliding_window_view",
    ),
    "autograd": (
        "torch.autograd.grad", "torch.autograd.backward", "torch.Tensor.backward",
        "torch.func.grad", "torch.func.vjp", "torch.autograd.functional.jacobian",
        "torch.autograd.functional.vjp",
    ),
    "gradcheck": (
        "cnncourse.gradcheck.eval_numerical_gradient", "cnncourse.gradcheck.eval_numerical_gradient_array",
        "torch.autograd.gradcheck", "scipy.optimize.approx_fprime", "scipy.optimize.check_grad",
    ),
    # normalization layers and dropout (assignment a2); scipy/sklearn standardizers compute the
    # training-mode batch norm without its affine part in one call
    "norm": (
        "torch.nn.functional.batch_norm", "torch.batch_norm", "torch.native_batch_norm",
        "torch.nn.functional.layer_norm", "torch.layer_norm", "torch.native_layer_norm",
        "torch.nn.functional.group_norm", "torch.group_norm", "torch.native_group_norm",
        "torch.nn.functional.instance_norm", "torch.instance_norm", "torch.nn.functional.rms_norm",
        "torch.nn.BatchNorm1d", "torch.nn.BatchNorm2d", "torch.nn.SyncBatchNorm", "torch.nn.LayerNorm",
        "torch.nn.GroupNorm", "torch.nn.InstanceNorm1d", "torch.nn.InstanceNorm2d",
        "scipy.stats.zscore", "sklearn.preprocessing.scale", "sklearn.preprocessing.StandardScaler",
    ),
    "dropout": (
        "torch.nn.functional.dropout", "torch.dropout", "torch.nn.functional.dropout1d",
        "torch.nn.functional.dropout2d", "torch.nn.functional.alpha_dropout",
        "torch.nn.functional.feature_alpha_dropout", "torch.nn.Dropout", "torch.nn.Dropout2d",
    ),
    # metric learning (assignment a5): torch's built-in distances and embedding losses, and the
    # distance matrices of scipy/scikit-learn, each of which turns a distance or loss exercise into one call
    "metric_learning": (
        "torch.nn.functional.pairwise_distance", "torch.pairwise_distance", "torch.cdist",
        "torch.nn.functional.pdist", "torch.pdist", "torch.nn.functional.cosine_similarity",
        "torch.cosine_similarity", "torch.nn.PairwiseDistance", "torch.nn.CosineSimilarity",
        "torch.nn.functional.triplet_margin_loss", "torch.triplet_margin_loss",
        "torch.nn.functional.triplet_margin_with_distance_loss", "torch.nn.TripletMarginLoss",
        "torch.nn.TripletMarginWithDistanceLoss", "torch.nn.functional.cosine_embedding_loss",
        "torch.cosine_embedding_loss", "torch.nn.CosineEmbeddingLoss",
        "torch.nn.functional.hinge_embedding_loss", "torch.hinge_embedding_loss", "torch.nn.HingeEmbeddingLoss",
        "torch.nn.functional.margin_ranking_loss", "torch.margin_ranking_loss", "torch.nn.MarginRankingLoss",
        "scipy.spatial.distance.cdist", "scipy.spatial.distance.pdist", "sklearn.metrics.pairwise_distances",
        "sklearn.metrics.pairwise.euclidean_distances", "sklearn.metrics.pairwise.cosine_similarity",
        "sklearn.metrics.pairwise.cosine_distances", "sklearn.metrics.pairwise.paired_distances",
    ),
    # verification and ranking metrics (assignment a5): ROC, AUC and rank-k accuracy in one call
    "roc": (
        "sklearn.metrics.roc_curve", "sklearn.metrics.roc_auc_score", "sklearn.metrics.auc",
        "sklearn.metrics.det_curve", "sklearn.metrics.top_k_accuracy_score",
    ),
    # assignment a3: ready-made blocks and models (torchvision's and the library's, also under their
    # module paths), and the library's one-call training loop
    "architectures": (
        "torchvision.models.resnet.BasicBlock", "torchvision.models.resnet.Bottleneck",
        "torchvision.models.googlenet.Inception", "torchvision.models.googlenet.BasicConv2d",
        "torchvision.models.vgg.make_layers", "torchvision.models.mobilenetv2.InvertedResidual",
        "torchvision.ops.SqueezeExcitation", "torchvision.ops.misc.SqueezeExcitation",
        "torchvision.ops.Conv2dNormActivation", "torchvision.ops.misc.Conv2dNormActivation",
        "torchvision.models.resnet18", "torchvision.models.resnet50", "torchvision.models.vgg16",
        "torchvision.models.googlenet", "torchvision.models.mobilenet_v2",
        "cnncourse.models.resnet.BasicBlock", "cnncourse.models.resnet.Bottleneck",
        "cnncourse.models.googlenet.InceptionModule", "cnncourse.models.googlenet.BasicConv2d",
        "cnncourse.models.blocks.SEBlock", "cnncourse.models.blocks.DepthwiseSeparable",
        "cnncourse.models.blocks.conv_bn_act", "cnncourse.models.lenet.SmallCNN",
        "cnncourse.models.train_classifier", "cnncourse.models.training.train_classifier",
    ),
    # counting parameters/FLOPs in one call
    "flop_count": (
        "torch.utils.flop_counter.FlopCounterMode", "torch.utils.flop_counter.conv_flop",
        "torch.utils.flop_counter.mm_flop", "torch.utils.flop_counter.addmm_flop",
        "cnncourse.costs.walker.layer_costs", "cnncourse.costs.formulas.conv2d_macs",
        "cnncourse.costs.formulas.inception_ops",
    ),
    # attribution maps in one call
    "attribution": (
        "captum.attr.LayerGradCam", "captum.attr.GuidedGradCam", "captum.attr.Occlusion",
        "captum.attr.FeatureAblation", "captum.attr.LayerAttribution",
        "cnncourse.explain.class_activation_map",
    ),
    # assignment a4: torchvision's box ops, NMS, RoI ops and box coder/anchor generator, and the library's
    # detector helpers (its network, training loop, prediction and decoding), each of which turns a
    # detection exercise into one call
    "detection": (
        "torchvision.ops.box_iou", "torchvision.ops.box_area", "torchvision.ops.generalized_box_iou",
        "torchvision.ops.box_convert", "torchvision.ops.clip_boxes_to_image", "torchvision.ops.nms",
        "torchvision.ops.batched_nms", "torchvision.ops.roi_pool", "torchvision.ops.roi_align",
        "torchvision.ops.RoIPool", "torchvision.ops.RoIAlign", "torchvision.ops.MultiScaleRoIAlign",
        "torchvision.ops.boxes.box_iou", "torchvision.ops.boxes.nms", "torchvision.ops.boxes.batched_nms",
        "torchvision.models.detection._utils.BoxCoder", "torchvision.models.detection.anchor_utils.AnchorGenerator",
        "cnncourse.detection.box_area", "cnncourse.detection.box_convert", "cnncourse.detection.generalized_box_iou",
        "cnncourse.detection.clip_boxes", "cnncourse.detection.nms_steps", "cnncourse.detection.match_anchors",
        "cnncourse.detection.roi_align", "cnncourse.detection.yolo_decode", "cnncourse.detection.eleven_point_precision",
        "cnncourse.detection.precision_envelope", "cnncourse.detection.evaluate_coco", "cnncourse.detection.to_coco",
        "cnncourse.detection.TinyYOLO", "cnncourse.detection.train_detector", "cnncourse.detection.predict",
        "cnncourse.detection.encode_targets",
    ),
    # assignment a6: transposed convolution, pixel cross-entropy and the segmentation metrics in one call
    # (torch's ConvTranspose2d layer stays allowed: students' FCNs use it, and the graded call of their
    # network is guarded by "references" and "segmentation_models" only)
    "segmentation": (
        "torch.nn.functional.conv_transpose2d", "torch.conv_transpose2d", "torch.nn.functional.cross_entropy",
        "torch.nn.functional.nll_loss", "torch.nn.CrossEntropyLoss", "torch.nn.NLLLoss",
        "sklearn.metrics.confusion_matrix", "sklearn.metrics.jaccard_score", "sklearn.metrics.f1_score",
        "cnncourse.segmentation.conv_transpose2d_by_matrix", "cnncourse.segmentation.conv_transpose2d_by_zero_insertion",
        "cnncourse.segmentation.reflect_indices", "cnncourse.segmentation.segmentation_scores",
    ),
    # assignment a6: mirror padding in one call
    "mirror_pad": (
        "numpy.pad", "torch.nn.functional.pad", "torch.nn.ReflectionPad2d", "torch.nn.ReplicationPad2d",
    ),
    # assignment a6: the library's network and training loop (students write their own FCN)
    "segmentation_models": (
        "cnncourse.segmentation.FCN", "cnncourse.segmentation.conv_block", "cnncourse.segmentation.train_segmentation",
        "cnncourse.segmentation.train_shapes_fcn", "cnncourse.segmentation.predict",
        "cnncourse.segmentation.evaluate_segmentation",
    ),
}

_NO_TORCH = "is not available while grading this assignment: it is numpy only (write the computation yourself)"


@dataclass(frozen=True)
class AssignmentRules:
    """The references and shortcuts of one assignment (see the module docstring)."""

    name: str
    references: tuple[str, ...]
    shortcuts: tuple[str, ...]
    hidden: tuple[str, ...] = field(default=())


ASSIGNMENTS: dict[str, AssignmentRules] = {
    "a1_conv": AssignmentRules(
        name="a1_conv",
        references=(
            "cnncourse.arithmetic.conv_output_size", "cnncourse.arithmetic.receptive_field",
            "cnncourse.layers.zero_pad2d", "cnncourse.layers.conv2d_forward", "cnncourse.layers.conv2d_backward",
            "cnncourse.layers.max_pool2d_forward", "cnncourse.layers.max_pool2d_backward",
            "cnncourse.layers.avg_pool2d_forward", "cnncourse.layers.avg_pool2d_backward",
            "cnncourse.gradcheck.eval_numerical_gradient", "cnncourse.gradcheck.eval_numerical_gradient_array",
            "cnncourse.gradcheck.rel_error",
        ),
        shortcuts=("conv", "pool", "stride_tricks", "autograd", "gradcheck"),
        hidden=("cnncourse", "torch", "torchvision", "scipy", "sklearn", "skimage", "cv2", "jax",
                "tensorflow", "captum", "pycocotools", "faster_coco_eval"),
    ),
    # a2: numpy only, like a1, except that scipy and scikit-learn stay importable: the notebook
    # loads the offline digits with sklearn.datasets.load_digits (the data cnncourse.data.load_digits
    # wraps; sklearn needs scipy), because cnncourse itself is absent from the grading kernel so that
    # its references cannot be imported under another name. The standardizers of scipy/sklearn are
    # in the "norm" family (refused during graded calls, flagged by the tamper scan).
    "a2_batchnorm": AssignmentRules(
        name="a2_batchnorm",
        references=(
            "cnncourse.layers.batchnorm_forward", "cnncourse.layers.batchnorm_backward",
            "cnncourse.layers.layernorm_forward", "cnncourse.layers.layernorm_backward",
            "cnncourse.layers.groupnorm_forward", "cnncourse.layers.groupnorm_backward",
            "cnncourse.layers.instancenorm_forward", "cnncourse.layers.instancenorm_backward",
            "cnncourse.layers.dropout_forward", "cnncourse.layers.dropout_backward",
            "cnncourse.layers.linear_forward", "cnncourse.layers.linear_backward",
            "cnncourse.layers.relu_forward", "cnncourse.layers.relu_backward",
            "cnncourse.layers.softmax_cross_entropy",
            "cnncourse.gradcheck.eval_numerical_gradient", "cnncourse.gradcheck.eval_numerical_gradient_array",
            "cnncourse.gradcheck.rel_error",
        ),
        shortcuts=("norm", "dropout", "autograd", "gradcheck"),
        hidden=("cnncourse", "torch", "torchvision", "skimage", "cv2", "jax", "tensorflow", "captum",
                "pycocotools", "faster_coco_eval"),
    ),
    # a5: a torch assignment (students train a CNN, so torch is not hidden); cnncourse stays importable
    # for cnncourse.data.IdentityDataset. The verification references, and the library's embedding
    # network and training loop (students write their own), are refused during graded calls; torch's
    # built-in distances/embedding losses and scikit-learn's ROC through the two families above.
    "a5_faces": AssignmentRules(
        name="a5_faces",
        references=(
            "cnncourse.verification.pairwise_distances", "cnncourse.verification.cosine_similarity_matrix",
            "cnncourse.verification.contrastive_loss", "cnncourse.verification.triplet_loss",
            "cnncourse.verification.batch_all_triplet_loss", "cnncourse.verification.batch_hard_triplet_loss",
            "cnncourse.verification.triplet_kinds", "cnncourse.verification.margin_logits",
            "cnncourse.verification.roc_curve", "cnncourse.verification.roc_auc_score",
            "cnncourse.verification.tar_at_far", "cnncourse.verification.equal_error_rate",
            "cnncourse.verification.verification_accuracy", "cnncourse.verification.cmc_curve",
            "cnncourse.verification.match_ranks", "cnncourse.verification.rank_accuracy",
            "cnncourse.verification.EmbeddingNet", "cnncourse.verification.train_embedding",
        ),
        shortcuts=("metric_learning", "roc"),
        hidden=("torchvision", "jax", "tensorflow", "captum", "pycocotools", "faster_coco_eval"),
    ),
    # a3: torch stays (students build nn.Modules); cnncourse stays importable for the offline digits
    # (cnncourse.data.load_digits), its references are refused during graded calls and flagged.
    "a3_architectures": AssignmentRules(
        name="a3_architectures",
        references=(
            "cnncourse.models.InceptionModule", "cnncourse.models.BasicBlock", "cnncourse.models.Bottleneck",
            "cnncourse.models.SEBlock", "cnncourse.models.DepthwiseSeparable", "cnncourse.models.SmallCNN",
            "cnncourse.costs.InceptionSpec", "cnncourse.costs.inception_ops", "cnncourse.costs.conv2d_params",
            "cnncourse.costs.linear_params", "cnncourse.costs.layer_costs",
            "cnncourse.explain.grad_cam", "cnncourse.explain.occlusion_map",
        ),
        shortcuts=("architectures", "flop_count", "attribution"),
        hidden=("torchvision", "captum", "jax", "tensorflow", "pycocotools", "faster_coco_eval"),
    ),
    # a4: a torch assignment (students train a detector, so torch is not hidden); cnncourse stays importable
    # for cnncourse.data.ShapesDataset and the plots. The detection references the hidden tests import are
    # refused during graded calls, and the "detection" family (torchvision.ops, the library's other box
    # ops, TinyYOLO/train_detector/predict) as well.
    "a4_detection": AssignmentRules(
        name="a4_detection",
        references=(
            "cnncourse.detection.box_iou", "cnncourse.detection.nms", "cnncourse.detection.batched_nms",
            "cnncourse.detection.encode_boxes", "cnncourse.detection.decode_boxes", "cnncourse.detection.make_anchors",
            "cnncourse.detection.roi_pool", "cnncourse.detection.yolo_encode", "cnncourse.detection.yolo_loss",
            "cnncourse.detection.yolo_decode", "cnncourse.detection.clip_boxes", "cnncourse.detection.match_detections",
            "cnncourse.detection.precision_recall", "cnncourse.detection.voc_ap", "cnncourse.detection.evaluate_voc",
        ),
        shortcuts=("detection",),
        hidden=("torchvision", "jax", "tensorflow", "captum", "pycocotools", "faster_coco_eval"),
    ),
    # a6: a torch assignment (students train an FCN, so torch is not hidden); cnncourse stays importable
    # for cnncourse.data.ShapesDataset. The numpy exercises run under the whole preset ("a6_segmentation"),
    # the transposed convolution without "mirror_pad" (np.pad is fine there), and the student's segment()
    # under "references" and "segmentation_models" (their ConvTranspose2d layers call conv_transpose2d).
    "a6_segmentation": AssignmentRules(
        name="a6_segmentation",
        references=(
            "cnncourse.layers.conv_transpose2d_forward", "cnncourse.layers.conv_transpose2d_backward",
            "cnncourse.segmentation.reflect_pad2d_forward", "cnncourse.segmentation.reflect_pad2d_backward",
            "cnncourse.segmentation.pixel_cross_entropy_forward", "cnncourse.segmentation.pixel_cross_entropy_backward",
            "cnncourse.segmentation.soft_dice_loss", "cnncourse.segmentation.confusion_matrix",
            "cnncourse.segmentation.iou_per_class", "cnncourse.segmentation.dice_per_class",
            "cnncourse.segmentation.mean_iou", "cnncourse.segmentation.mean_dice",
        ),
        shortcuts=("segmentation", "mirror_pad", "segmentation_models"),
        hidden=("torchvision", "jax", "tensorflow", "captum", "pycocotools", "faster_coco_eval"),
    ),
}


def rules_for(assignment: str) -> AssignmentRules | None:
    """The rules of ``assignment``, or None for an assignment without an entry."""
    return ASSIGNMENTS.get(assignment)


def references() -> tuple[str, ...]:
    """Every registered reference of every assignment, in order, without repeats."""
    seen: dict[str, None] = {}
    for rules in ASSIGNMENTS.values():
        seen.update(dict.fromkeys(rules.references))
    return tuple(seen)


def presets() -> dict[str, tuple[str, ...]]:
    """The guard's presets: each shortcut family, ``"references"`` (all references), and one per
    assignment (``"a1_conv"``: its references and every shortcut family it forbids), the name a
    hidden test passes as ``forbidden=("a1_conv",)``."""
    return {**SHORTCUTS, "references": references(), **{name: flagged_names(name) for name in ASSIGNMENTS}}


def flagged_names(assignment: str | None = None) -> tuple[str, ...]:
    """Names whose use in a student cell the tamper scan flags: references and shortcuts."""
    chosen = [ASSIGNMENTS[assignment]] if assignment in ASSIGNMENTS else list(ASSIGNMENTS.values())
    names: dict[str, None] = {}
    for rules in chosen:
        names.update(dict.fromkeys(rules.references))
        for family in rules.shortcuts:
            names.update(dict.fromkeys(SHORTCUTS[family]))
    return tuple(names)


def hidden_modules(assignment: str) -> dict[str, str]:
    """``{module: ImportError message}`` for the modules absent from the grading kernel."""
    rules = ASSIGNMENTS.get(assignment)
    if rules is None:
        return {}
    return {m: f"`{m}` {_NO_TORCH}" for m in rules.hidden}
