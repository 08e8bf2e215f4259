# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: nbgrader,tags,-all
#     notebook_metadata_filter: kernelspec,cnncourse,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (cnncourse)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lecture 07 — Object detection
#
# Classification says *what* is in an image; detection says what **and where**, for every
# object: a class and a box `(x, y, w, h)` per object, with a different number of objects per
# image. This lecture follows the path of the slides: from classification + localization to the
# two-stage detectors (R-CNN, SPP-net, Fast R-CNN, Faster R-CNN) and the one-stage ones (YOLO,
# YOLOv2, SSD), with the metrics that compare them (IoU, precision/recall, AP, mAP, the COCO
# list).
#
# Every number of the slides is **computed live** with `cnncourse.detection` and checked with
# `compare_with_slide`; the pictures are the offline `ShapesDataset` images (circles, squares,
# triangles), on which we finally **train a tiny YOLO-style detector** on the CPU.
#
# **Contents**
# 1. Classification + localization: a regression head with an L2 loss
# 2. Detection as regression (why a fixed number of outputs fails) and as classification of
#    sliding windows (the cost, counted); region proposals
# 3. Intersection over union
# 4. Non-maximum suppression, step by step
# 5. Precision, recall, AP (VOC 11-point vs all-point) and mAP
# 6. The COCO metric list, cross-checked with pycocotools
# 7. R-CNN and its box-regression targets `(dx, dy, dw, dh)`
# 8. SPP-net and Fast R-CNN's RoI pooling
# 9. Faster R-CNN: the region proposal network and its k = 9 anchors
# 10. YOLO: an S x S x (B*5 + C) grid; YOLOv2's anchors; SSD
# 11. A tiny YOLO trained here, evaluated like VOC and COCO
# 12. Speed and accuracy: the slides' tables as figures

# %%
# %matplotlib inline
import time

import numpy as np
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from cnncourse.arithmetic import conv_output_size
from cnncourse.data import SHAPE_CLASSES, ShapesDataset
from cnncourse.detection import (COCO_STAT_NAMES, TinyYOLO, batched_nms, box_convert, box_iou,
                                 decode_boxes, draw_boxes, draw_grid, draw_iou, encode_boxes,
                                 encode_targets, evaluate_coco, evaluate_voc, make_anchors,
                                 match_anchors, match_detections, nms, nms_steps, plot_pr_curve,
                                 precision_recall, predict, roi_align, roi_pool, shapes_to_tensors,
                                 show_detections, to_coco, train_detector, voc_ap, yolo_decode,
                                 yolo_encode)
from cnncourse.pyramid import spatial_pyramid_pool_forward
from cnncourse.viz import compare_with_slide, show_matrix

np.set_printoptions(suppress=True, precision=3)
torch.set_printoptions(precision=3, sci_mode=False)
# Small convolutions: one thread is as fast as several and does not fight other processes.
torch.set_num_threads(1)
T0 = time.perf_counter()

# A few large shape images for the worked examples (boxes are (x1, y1, x2, y2) in pixels).
examples = ShapesDataset(8, image_size=256, radius_range=(0.03, 0.28), seed=7)
images, gts = shapes_to_tensors(examples)
fig, axes = plt.subplots(1, 4, figsize=(11, 3))
for k, ax in enumerate(axes):
    draw_boxes(images[k], gts[k]["boxes"], gts[k]["labels"], class_names=SHAPE_CLASSES, ax=ax)
    ax.set_title(f"image {k}: {len(gts[k]['labels'])} object(s)", fontsize=9)
plt.suptitle("ShapesDataset: every object has a class and a box")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 1. Classification + localization
#
# With **one** object per image the box is just four more numbers to predict. The slides (seed
# 004) put two heads on the same 4096-d feature vector: a fully connected layer `4096 -> 1000`
# for the class scores (softmax loss) and a fully connected layer `4096 -> 4` for the box
# coordinates `(x, y, w, h)` (an **L2 loss** against the correct box `(x', y', w', h')`).
# *Localization is treated as a regression problem*; the two losses are added (often with a
# weight) and the backbone is usually pretrained on ImageNet.

# %%
torch.manual_seed(0)
features = torch.randn(2, 4096)                        # (N, 4096) from the backbone
class_head, box_head = torch.nn.Linear(4096, 1000), torch.nn.Linear(4096, 4)
scores, box = class_head(features), box_head(features)  # (N, 1000), (N, 4)
label = torch.tensor([281, 285])                        # "cat" classes
box_true = torch.tensor([[0.30, 0.40, 0.25, 0.35], [0.6, 0.5, 0.3, 0.2]])  # (x', y', w', h'), relative
loss_cls = F.cross_entropy(scores, label)
loss_box = F.mse_loss(box, box_true, reduction="sum") / len(box)           # L2 loss per image
print(f"scores {tuple(scores.shape)}, box {tuple(box.shape)}; softmax loss {loss_cls:.3f} "
      f"+ L2 box loss {loss_box:.3f} = {loss_cls + loss_box:.3f}")
assert scores.shape == (2, 1000) and box.shape == (2, 4)

# %% [markdown]
# ## 2. Detection as regression? As classification of windows?
#
# **As regression**, each image would need a different number of outputs: 4 numbers for one
# cat, 16 for three dogs and a cat, "many numbers" for a flock of ducks. A network has a fixed
# output size. Our shapes already vary:

# %%
many = ShapesDataset(300, max_objects=5, seed=0)
counts = np.array([len(labels) for labels in many.batch(range(300))["labels"]])
values, n_images = np.unique(counts, return_counts=True)
for v, n in zip(values, n_images):
    print(f"{n:4d} images with {v} object(s) -> {4 * v:2d} box numbers (+ {v} classes)")
assert len(values) > 1  # no single output size fits every image

# %% [markdown]
# **As classification**: apply a CNN to many crops and let it say "dog? cat? background?" for
# each (the sliding window). The problem is the number of crops: every location, every scale,
# every aspect ratio. With the output-size formula `(N - F)/S + 1` per axis we count the windows
# of a VOC-sized 448 x 448 image, stride 8, windows of 5 sizes and 3 aspect ratios:

# %%
total = 0
for size in (64, 96, 128, 192, 256):
    for ratio in (0.5, 1.0, 2.0):                           # h / w
        h, w = int(size * np.sqrt(ratio)), int(size / np.sqrt(ratio))
        n = conv_output_size(448, h, stride=8, floor=True) * conv_output_size(448, w, stride=8, floor=True)
        total += n
print(f"{total:,} windows -> {total:,} CNN forward passes for ONE image")
print(f"at 47 s / 2000 regions (R-CNN's VGG16 rate) that is {total * 47 / 2000 / 60:.0f} minutes per image")

# %% [markdown]
# **Region proposals** cut this down: a cheap, class-agnostic method (Selective Search, EdgeBoxes,
# BING, ...) finds ~1000-2000 "blobby" regions likely to contain an object (*regions of interest*,
# RoIs) in a few seconds on a CPU, and only those are classified. That is R-CNN's first step (§7).

# %% [markdown]
# ## 3. Intersection over union (IoU)
#
# $$\mathrm{IoU}(A, B) = \frac{\text{area of intersection}}{\text{area of union}} = \frac{|A \cap B|}{|A \cup B|}$$
#
# is a number between 0 and 1 (seed 003): 1 when the predicted and ground-truth boxes coincide,
# 0 when they do not overlap, and "object detected" when it passes a threshold. (The slide
# writes `IoU > threshold`; VOC and COCO count `IoU >= threshold`.) Three predictions around a
# shape of image 1:

# %%
gt_box = gts[1]["boxes"][1]                                   # (4,) x1, y1, x2, y2
w_, h_ = float(gt_box[2] - gt_box[0]), float(gt_box[3] - gt_box[1])
preds_iou = {"identical": gt_box.clone(),
             "shifted by w/3": gt_box + torch.tensor([w_ / 3, h_ / 6, w_ / 3, h_ / 6]),
             "beside it": gt_box + torch.tensor([1.2 * w_, 0, 1.2 * w_, 0])}
fig, axes = plt.subplots(1, 4, figsize=(13, 3.2))
axes[0].imshow(images[1].permute(1, 2, 0))
draw_boxes(None, gt_box[None], ax=axes[0], color="white")
axes[0].set_title("ground truth on image 1")
ious = []
for ax, (name, p) in zip(axes[1:], preds_iou.items()):
    draw_iou(p, gt_box, ax=ax, names=(name, "ground truth"), size=(256, 512), legend_loc="lower right")
    ious.append(float(box_iou(p[None], gt_box[None])[0, 0]))
plt.tight_layout()
plt.show()
compare_with_slide("IoU of identical boxes / of disjoint boxes", [ious[0], ious[2]], [1, 0])
assert 0 < ious[1] < 1

# %% [markdown]
# IoU is symmetric and scale invariant: shifting a box by a third of its width leaves less than
# half of the union overlapping, which is why a 0.5 threshold is already demanding.

# %%
iou_matrix = box_iou(torch.stack(list(preds_iou.values())), gts[1]["boxes"])  # (3 predictions, 3 objects)
print("IoU of each prediction (rows) with each object of image 1 (columns):\n", iou_matrix.numpy())
assert torch.allclose(iou_matrix, box_iou(gts[1]["boxes"], torch.stack(list(preds_iou.values()))).T)
assert bool(((iou_matrix >= 0) & (iou_matrix <= 1)).all())

# %% [markdown]
# ## 4. Non-maximum suppression (NMS)
#
# A detector fires many overlapping boxes on one object. NMS keeps the best and removes the
# overlapping ones (seed 003): repeat { keep the highest-scoring remaining box; suppress every
# remaining box whose IoU with it exceeds a threshold } until no box remains. Below, candidate
# boxes jittered around the objects of image 3, with scores:

# %%
g = torch.Generator().manual_seed(3)
obj = gts[3]["boxes"]                                          # (3, 4)
size = (obj[:, 2:] - obj[:, :2]).repeat(1, 2)                  # (3, 4): w, h, w, h
cand = (obj + 0.15 * size * torch.randn(4, *obj.shape, generator=g)).reshape(-1, 4)  # 4 per object
cand = torch.cat([torch.minimum(cand[:, :2], cand[:, 2:]), torch.maximum(cand[:, :2], cand[:, 2:])], 1)
cand_scores = torch.rand(len(cand), generator=g).round(decimals=2)
steps = nms_steps(cand, cand_scores, iou_threshold=0.5)
for k, st in enumerate(steps):
    ious_txt = ", ".join(f"{i}:{v:.2f}" for i, v in zip(st["remaining"], st["iou"]))
    print(f"step {k + 1}: keep box {st['keep']} (score {cand_scores[st['keep']]:.2f}); "
          f"IoU with the others [{ious_txt}] -> suppress {st['suppressed']}")
kept = nms(cand, cand_scores, 0.5)
assert [st["keep"] for st in steps] == kept.tolist()
print("nms keeps", kept.tolist())

# %%
fig, axes = plt.subplots(2, 3, figsize=(10, 6.8))
axes = axes.ravel()
draw_boxes(images[3], cand, scores=cand_scores, ax=axes[0], color="yellow", linewidth=1)
axes[0].set_title(f"{len(cand)} candidates")
done = []
for k, (ax, st) in enumerate(zip(axes[1:], steps)):
    ax.imshow(images[3].permute(1, 2, 0))
    waiting = [i for i in st["remaining"] if i not in st["suppressed"]]
    if waiting:
        draw_boxes(None, cand[waiting], ax=ax, color="grey", linewidth=1)
    if st["suppressed"]:
        draw_boxes(None, cand[st["suppressed"]], ax=ax, color="red", linestyle="--", linewidth=1.5)
    done.append(st["keep"])
    draw_boxes(None, cand[done], scores=cand_scores[done], ax=ax, color="lime", linewidth=2)
    ax.set_title(f"step {k + 1}: keep {st['keep']}, drop {st['suppressed']}", fontsize=9)
for ax in axes[1 + len(steps):]:
    ax.set_axis_off()
plt.suptitle("NMS (IoU > 0.5): kept = green, suppressed at this step = red dashed, still waiting = grey")
plt.tight_layout()
plt.show()

# %% [markdown]
# Look at the last steps: a crude box whose IoU with a kept box is just *below* the threshold
# survives. NMS cannot remove it; it becomes a false positive (a duplicate) in §5. The threshold
# trades duplicates (too high) against suppressing real neighbours (too low).

# %% [markdown]
# ## 5. Precision, recall and average precision
#
# Detections are ranked by score. A detection is a **true positive** (TP) if it overlaps a
# not-yet-matched ground-truth box of its class with IoU >= 0.5, otherwise a **false positive**
# (FP) — a duplicate of an already found object is an FP, which is why NMS matters. A missed
# object is a false negative (FN). After the `k` best detections
#
# $$\text{Precision} = \frac{TP}{TP + FP}, \qquad \text{Recall} = \frac{TP}{TP + FN} = \frac{TP}{\#\text{ground truth}}.$$
#
# Lowering the score threshold trades precision for recall; the **area under the P-R curve is
# the average precision** (AP), and the **mAP** is the mean of the per-class APs (seed 003).
#
# A worked example on the 8 example images: noisy detections made from the ground truth (a
# confident, fairly good box per object, a less confident cruder duplicate, some with the wrong
# class) plus two low-scoring boxes on the background per image.

# %%
g = torch.Generator().manual_seed(11)
dets = []
for gt in gts:
    b, lab = gt["boxes"], gt["labels"]
    wh = (b[:, 2:] - b[:, :2]).repeat(1, 2)
    n = len(lab)
    xy = torch.rand(2, 2, generator=g) * 200
    boxes = torch.cat([b + 0.10 * wh * torch.randn(b.shape, generator=g),        # good or poor hits
                       b + 0.25 * wh * torch.randn(b.shape, generator=g),        # cruder duplicates
                       torch.cat([xy, xy + 20 + 30 * torch.rand(2, 2, generator=g)], 1)])  # background
    boxes = torch.cat([torch.minimum(boxes[:, :2], boxes[:, 2:]), torch.maximum(boxes[:, :2], boxes[:, 2:])], 1)
    labels = torch.cat([lab, lab, torch.randint(0, 3, (2,), generator=g)])
    labels = torch.where(torch.rand(len(labels), generator=g) < 0.1, (labels + 1) % 3, labels)  # wrong class
    u = torch.rand(len(labels), generator=g)
    scores = torch.cat([0.5 + 0.5 * u[:n], 0.2 + 0.6 * u[n:2 * n], 0.6 * u[2 * n:]])  # better boxes score higher
    dets.append({"boxes": boxes, "scores": scores.round(decimals=2), "labels": labels})

# The ranked list of one class, judged TP / FP image by image:
c = 1  # squares
scores_c, tp_c = [], []
for d, gt in zip(dets, gts):
    sel = d["labels"] == c
    scores_c.append(d["scores"][sel])
    tp_c.append(match_detections(d["boxes"][sel], d["scores"][sel], gt["boxes"][gt["labels"] == c]))
scores_c, tp_c = torch.cat(scores_c).double(), torch.cat(tp_c)
num_gt = sum(int((gt["labels"] == c).sum()) for gt in gts)
precision, recall = precision_recall(scores_c, tp_c, num_gt)
order = torch.sort(scores_c, descending=True, stable=True).indices
print(f"class '{SHAPE_CLASSES[c]}': {num_gt} ground-truth boxes, {len(scores_c)} detections")
print(" rank  score  TP?  precision  recall")
for k, i in enumerate(order.tolist()):
    print(f"{k + 1:5d}  {scores_c[i]:.2f}  {'TP' if tp_c[i] else 'FP':>3}  {precision[k]:9.3f}  {recall[k]:6.3f}")

# %% [markdown]
# **Two ways to take the area.** PASCAL VOC 2007 averaged the *interpolated* precision
# `p_interp(r) = max_{r' >= r} p(r')` at the 11 recalls `0, 0.1, ..., 1`; from VOC 2010 on the
# AP is the whole area under `p_interp` (all points). The red squares are the 11 samples, the
# shaded area the all-point AP:

# %%
ap_all = voc_ap(recall, precision)
ap_11 = voc_ap(recall, precision, use_07_metric=True)
fig, ax = plt.subplots(figsize=(5.5, 4))
plot_pr_curve(precision, recall, ax=ax, title=f"P-R curve of '{SHAPE_CLASSES[c]}' (8 images)")
plt.show()
print(f"all-point AP = {ap_all:.4f}, 11-point AP = {ap_11:.4f}")
assert 0 <= ap_all <= 1 and 0 <= ap_11 <= 1 and abs(float(ap_all - ap_11)) > 1e-6

# %% [markdown]
# The **mAP** averages the per-class APs; `evaluate_voc` does the matching, ranking and area for
# every class at once (and agrees with the table above for the squares):

# %%
voc = evaluate_voc(dets, gts, num_classes=3)
voc07 = evaluate_voc(dets, gts, num_classes=3, use_07_metric=True)
for k, name in enumerate(SHAPE_CLASSES):
    print(f"{name:>9}: AP all-point {voc.ap[k]:.3f}   11-point {voc07.ap[k]:.3f}")
print(f"      mAP: all-point {voc.mAP:.3f}   11-point {voc07.mAP:.3f}")
assert abs(float(voc.ap[c] - ap_all)) < 1e-12 and abs(voc.mAP - float(voc.ap.mean())) < 1e-12

# %% [markdown]
# ## 6. The COCO metric list
#
# COCO evaluates the same matching at **ten IoU thresholds** `0.50:0.05:0.95` and averages
# (the primary metric), reads precision at 101 recall points, and adds sizes and recall limits
# (seed 003). The slide's "area < 322" and "322 < area < 962" are 32² and 96² with the
# superscripts lost: small < 32² = 1024 pixels <= medium < 96² = 9216 pixels <= large.
# The 12 numbers of our example, computed by `evaluate_coco` and **cross-checked with
# pycocotools**, the reference implementation:

# %%
SLIDE_COCO_LIST = {  # seed 003, in pycocotools' order
    "AP": "AP at IoU=.50:.05:.95 (primary challenge metric)", "AP50": "AP at IoU=.50 (PASCAL VOC metric)",
    "AP75": "AP at IoU=.75 (strict metric)", "AP_small": "AP for small objects: area < 32²",
    "AP_medium": "AP for medium objects: 32² < area < 96²", "AP_large": "AP for large objects: area > 96²",
    "AR1": "AR given 1 detection per image", "AR10": "AR given 10 detections per image",
    "AR100": "AR given 100 detections per image", "AR_small": "AR for small objects",
    "AR_medium": "AR for medium objects", "AR_large": "AR for large objects"}
coco_gt, coco_dt = to_coco(dets, gts, num_classes=3)
stats = evaluate_coco(coco_gt, coco_dt)
for name, value in zip(COCO_STAT_NAMES, stats):
    print(f"{name:>9} = {value:6.3f}   {SLIDE_COCO_LIST[name]}")
areas = np.array([a["area"] for a in coco_gt["annotations"]])
print("objects per size: small", int((areas < 32**2).sum()), "medium",
      int(((areas >= 32**2) & (areas < 96**2)).sum()), "large", int((areas >= 96**2).sum()))

try:
    import contextlib, copy, io
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its own table
        coco = COCO()
        coco.dataset = copy.deepcopy(coco_gt)
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(copy.deepcopy(coco_dt)), "bbox")
        ev.evaluate(), ev.accumulate(), ev.summarize()
    np.testing.assert_allclose(stats, ev.stats, rtol=0, atol=1e-12)
    print("pycocotools gives the same 12 numbers (to 1e-12).")
except ImportError:
    print("pycocotools is not installed: cross-check skipped (the library's tests run it).")

# %% [markdown]
# Note how AP50 (one threshold, 0.5) is far above AP (the average up to IoU 0.95): our noisy
# boxes find the objects but rarely trace them tightly. AP50 is close to, but not exactly, the
# VOC all-point mAP above, because COCO samples the curve at 101 recall points.

# %% [markdown]
# ## 7. R-CNN
#
# R-CNN (Girshick et al., CVPR 2014): (1) ~2000 proposals by Selective Search, (2) each warped
# to a fixed size, (3) a CNN (AlexNet/VGG) extracts features, (4) one binary SVM per class
# scores them, (5) a per-class **linear regression** corrects the "slightly wrong" proposals.
#
# The regression targets are the **normalized** offsets that move a proposal
# $P = (p_x, p_y, p_w, p_h)$ (centre, size) onto the ground truth $G$:
#
# $$d_x = \frac{g_x - p_x}{p_w}, \quad d_y = \frac{g_y - p_y}{p_h}, \quad d_w = \log\frac{g_w}{p_w}, \quad d_h = \log\frac{g_h}{p_h}.$$
#
# The slide's three examples, reproduced from boxes drawn around a shape: a proposal equal to
# the object, one shifted left by a quarter of its width, and one wider by a factor $e^{0.125}$.

# %%
G = gts[6]["boxes"][0]                                          # the ground truth (x1, y1, x2, y2)
gx, gy, gw, gh = box_convert(G[None], "xyxy", "cxcywh")[0].tolist()
proposals = torch.tensor([
    [gx, gy, gw, gh],                                           # proposal is good
    [gx - 0.25 * gw, gy, gw, gh],                               # proposal too far to the left
    [gx, gy, gw * np.exp(0.125), gh],                           # proposal too wide
], dtype=torch.float64)
proposals = box_convert(proposals, "cxcywh", "xyxy")
targets = encode_boxes(G.double().expand(3, 4), proposals)      # (3, 4): dx, dy, dw, dh
SLIDE_TARGETS = [[0, 0, 0, 0], [0.25, 0, 0, 0], [0, 0, -0.125, 0]]  # seed 002, "Regression targets"
compare_with_slide("R-CNN regression targets (dx, dy, dw, dh)", targets, SLIDE_TARGETS)
torch.testing.assert_close(decode_boxes(targets, proposals), G.double().expand(3, 4))  # and back

fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
for ax, p, t, name in zip(axes, proposals, targets, ["proposal is good", "too far to the left", "too wide"]):
    ax.imshow(images[6].permute(1, 2, 0))
    draw_boxes(None, G[None], ax=ax, color="white", linestyle="--")
    draw_boxes(None, p[None], ax=ax, color="yellow")
    ax.set_title(f"{name}\n(dx, dy, dw, dh) = ({', '.join(f'{v:g}' for v in t.tolist())})", fontsize=9)
plt.suptitle("R-CNN targets: proposal (yellow) -> ground truth (white, dashed)")
plt.tight_layout()
plt.show()

# %% [markdown]
# Because $d_w$ is a **log** ratio, "too wide" by one eighth in the everyday sense (a ground truth
# 7/8 as wide) gives $\log(7/8) = -0.134$, not $-0.125$; the slide's $-0.125$ is a ground truth
# $e^{-0.125} = 0.882$ times as wide. The log makes the target symmetric (twice too wide and
# half too wide are $\mp\log 2$) and keeps predicted widths positive after $\exp$.

# %%
print("log(7/8) =", round(float(np.log(7 / 8)), 4), "  exp(-0.125) =", round(float(np.exp(-0.125)), 4))

# %% [markdown]
# R-CNN's problems: slow at test time (one CNN pass **per proposal**: 47 s per image with VGG16),
# SVMs and regressors trained post hoc (the CNN never sees their errors), 84 hours of training.
#
# ## 8. SPP-net and Fast R-CNN: one CNN pass, pooled regions
#
# Run the CNN **once** on the whole image and cut every RoI out of the **feature map**. The
# regions have different sizes, but the classifier needs a fixed-length vector:
#
# * **SPP-net** pools each region with a spatial pyramid (1x1 + 2x2 + 4x4 bins = 21 per channel,
#   lecture 03), whatever its size, and avoids the warping (scale change) of R-CNN;
# * **Fast R-CNN** simplifies it to **RoI pooling** with one grid (e.g. 7x7), and trains the
#   classifier and the box regressor together with the CNN.
#
# **RoI pooling, the mechanics**, on a small feature map (8 x 8 cells, random values): an RoI
# covering columns 0..6 and rows 3..7 (7 x 5 cells) is cut into a 2 x 2 grid. Bin `j` of `PW`
# spans the columns `floor(j w / PW)` to `ceil((j + 1) w / PW) - 1` of the RoI (rows likewise),
# so with odd sizes neighbouring bins overlap (here columns 0-3 and 3-6, rows 3-5 and 5-7), and
# each output is the **maximum of its bin**. Autograd shows where each maximum came from: RoI pooling's backward sends
# the gradient to the arg-max cell (red).

# %%
g = torch.Generator().manual_seed(7)
fm8 = torch.rand(1, 1, 8, 8, generator=g).round(decimals=2).requires_grad_(True)  # (N, C, H, W)
roi8 = torch.tensor([[0.0, 0, 3, 6, 7]])                       # (n, x1, y1, x2, y2) in cells
out8 = roi_pool(fm8, roi8, (2, 2))                             # (1, 1, 2, 2)
out8.sum().backward()
winners = fm8.grad[0, 0].nonzero().tolist()                    # cells that hold a bin's maximum
fig, axes = plt.subplots(1, 2, figsize=(9, 4), gridspec_kw={"width_ratios": [2, 1]})
show_matrix(fm8[0, 0].detach().numpy(), ax=axes[0], fmt="{:.2f}", colorbar=False,
            title="feature map; RoI (black), bin maxima (red)",
            highlight=[(3, 0, 8, 7)] + [(r, c, r + 1, c + 1) for r, c in winners],
            highlight_colors=["black"] + ["tab:red"] * len(winners))
show_matrix(out8[0, 0].detach().numpy(), ax=axes[1], fmt="{:.2f}", colorbar=False, title="RoI pooling -> 2 x 2")
plt.tight_layout()
plt.show()
assert sorted(set(out8.detach().flatten().tolist())) == sorted({fm8[0, 0, r, c].item() for r, c in winners})

# %% [markdown]
# **Any box, the same size.** On a shapes image, with a feature map of stride 8 (here simply the
# brightness averaged over 8 x 8 pixels) and its three ground-truth boxes as RoIs, each RoI gives
# a 2 x 2 RoI-pooled output (Fast R-CNN) and a 1 + 4 + 16 = 21-value pyramid vector (SPP-net),
# whatever its size:

# %%
img = images[3]                                                # (3, 256, 256)
fmap = F.avg_pool2d(img.max(0).values[None, None], 8)          # (1, 1, 32, 32): stride 8
rois = torch.cat([torch.zeros(len(gts[3]["boxes"]), 1), gts[3]["boxes"]], 1)  # (K, 5): n, x1, y1, x2, y2
pooled = roi_pool(fmap, rois, (2, 2), spatial_scale=1 / 8)     # (K, 1, 2, 2)
spp = [spatial_pyramid_pool_forward(
    fmap[:, :, int(y1) // 8:int(np.ceil(y2 / 8)), int(x1) // 8:int(np.ceil(x2 / 8))].double().numpy(),
    levels=(1, 2, 4))[0] for x1, y1, x2, y2 in gts[3]["boxes"].tolist()]
for k, (x1, y1, x2, y2) in enumerate(gts[3]["boxes"].tolist()):
    print(f"RoI {k}: {x2 - x1:.0f} x {y2 - y1:.0f} pixels -> {np.ceil(x2 / 8) - x1 // 8:.0f} x "
          f"{np.ceil(y2 / 8) - y1 // 8:.0f} cells -> RoI pool {tuple(pooled[k].shape)}, SPP vector {spp[k].shape}")
assert pooled.shape == (len(rois), 1, 2, 2) and all(s.shape == (1, 21) for s in spp)

fig, axes = plt.subplots(1, 2, figsize=(7, 3.4))
draw_boxes(img, gts[3]["boxes"], gts[3]["labels"], class_names=SHAPE_CLASSES, ax=axes[0])
axes[0].set_title("image and RoIs (pixels)")
axes[1].imshow(fmap[0, 0], cmap="gray")
draw_boxes(None, gts[3]["boxes"] / 8 - 0.5, ax=axes[1], color="yellow")  # cell centres at integers
axes[1].set_title("feature map 32 x 32, RoIs x 1/8")
plt.tight_layout()
plt.show()

# %% [markdown]
# RoI pooling rounds each RoI to whole cells, which misaligns small boxes by up to half a cell
# (4 pixels here). Mask R-CNN's **RoI align** instead samples the map bilinearly at exact
# positions and averages the samples of each bin (`roi_align`; so its values are means, not
# maxima):

# %%
aligned = roi_align(fmap, rois, (2, 2), spatial_scale=1 / 8, sampling_ratio=2, aligned=True)
print("RoI pool :", pooled[:, 0].flatten(1).numpy().round(3))
print("RoI align:", aligned[:, 0].flatten(1).numpy().round(3))

# %% [markdown]
# ## 9. Faster R-CNN: a region proposal network
#
# Fast R-CNN still waits for Selective Search (seconds per image). **Faster R-CNN** (Ren et al.,
# NIPS 2015) inserts a **Region Proposal Network** after the last convolutional layer: a small
# conv net slides over the feature map and, **at each location, k = 9 anchor boxes** (3 scales x
# 3 aspect ratios) are placed in the input image; for each anchor the RPN predicts whether it
# holds an object and 4 box offsets (the R-CNN deltas again). The proposals then go through RoI
# pooling and the Fast R-CNN head; the four losses are trained jointly.

# %%
scales, ratios = (32, 64, 128), (0.5, 1.0, 2.0)
anchors = make_anchors((16, 16), 16, scales=scales, aspect_ratios=ratios)  # 256 image, stride 16
k = len(scales) * len(ratios)
compare_with_slide("anchors per location (3 scales x 3 ratios)", anchors.shape[0] // (16 * 16), 9)
print(f"16 x 16 feature map x k = {k} -> {anchors.shape[0]} anchors on a 256 x 256 image")
vgg = make_anchors((38, 63), 16, scales=(128, 256, 512))                 # a 600 x 1000 image, VGG16 conv5
print(f"Faster R-CNN on a 600 x 1000 image: 38 x 63 x 9 = {vgg.shape[0]:,} anchors (the paper: ~20,000)")

match = match_anchors(anchors, gts[3]["boxes"], high_threshold=0.7, low_threshold=0.3)
print(f"matched to an object: {int((match >= 0).sum())}, background: {int((match == -1).sum())}, "
      f"ignored (0.3 <= IoU < 0.7): {int((match == -2).sum())}")

# %%
cx, cy = ((gts[3]["boxes"][0, :2] + gts[3]["boxes"][0, 2:]) / 2 // 16).long().tolist()
here = anchors.reshape(16, 16, k, 4)[cy, cx]                   # (9, 4): the anchors of one location
fig, axes = plt.subplots(1, 2, figsize=(8, 4))
axes[0].imshow(img.permute(1, 2, 0))
for r, colour in enumerate(("tab:blue", "tab:orange", "tab:green")):           # anchors: ratio, then scale
    draw_boxes(None, here[3 * r:3 * r + 3], ax=axes[0], color=colour, linewidth=1.2)
axes[0].set_xlim(-80, 336)
axes[0].set_ylim(336, -80)
axes[0].set_title(f"the k = 9 anchors at cell ({cy}, {cx}): h/w = 0.5 (blue),\n1 (orange), 2 (green), "
                  "3 scales each", fontsize=9)
axes[1].imshow(img.permute(1, 2, 0))
pos = match >= 0
draw_boxes(None, anchors[pos], match[pos], ax=axes[1], linewidth=1)
draw_grid(axes[1], (256, 256), 16, color="grey")
axes[1].set_xlim(0, 256)
axes[1].set_ylim(256, 0)
axes[1].set_title(f"{int(pos.sum())} positive anchors (label = object index)", fontsize=9)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 10. YOLO: detection as one regression
#
# YOLO (Redmon et al., CVPR 2016) drops the proposals altogether: (1) divide the image into an
# $S \times S$ grid; (2) each cell predicts $B$ boxes `(x, y, w, h, confidence)` and $C$ class
# probabilities; the whole output is one $S \times S \times (B \cdot 5 + C)$ tensor. The cell
# that contains an object's **centre** is responsible for it. For PASCAL VOC, $S = 7$, $B = 2$,
# $C = 20$:

# %%
S, B, C = 7, 2, 20
compare_with_slide("YOLO output per cell B*5 + C (VOC)", B * 5 + C, 30)
big = ShapesDataset(1, image_size=448, radius_range=(0.06, 0.16), max_objects=3, seed=4)
big_images, big_gts = shapes_to_tensors(big)
target = yolo_encode(big_gts[0]["boxes"], big_gts[0]["labels"], image_size=(448, 448), S=S, B=B, C=C)
compare_with_slide("YOLO target tensor for a 448 x 448 VOC image", list(target.shape), [7, 7, 30])

fig, ax = plt.subplots(figsize=(5, 5))
draw_boxes(big_images[0], big_gts[0]["boxes"], big_gts[0]["labels"], class_names=SHAPE_CLASSES, ax=ax)
draw_grid(ax, (448, 448), S)
for (x1, y1, x2, y2) in big_gts[0]["boxes"].tolist():
    row, col = int((y1 + y2) / 2 // 64), int((x1 + x2) / 2 // 64)
    ax.add_patch(plt.Rectangle((col * 64, row * 64), 64, 64, color="yellow", alpha=0.35))
    ax.plot((x1 + x2) / 2, (y1 + y2) / 2, "y*", ms=12)
ax.set_title("7 x 7 grid: the cell with the centre (*) is responsible")
plt.show()
for row, col in (target[..., 4] > 0).nonzero().tolist():
    x, y, w, h, conf = target[row, col, :5].tolist()
    cls = int(target[row, col, 10:].argmax())
    print(f"cell ({row}, {col}): x={x:.3f} y={y:.3f} (offsets in the cell)  w={w:.3f} h={h:.3f} "
          f"(of the image)  confidence={conf:g}  class={cls} ({SHAPE_CLASSES[cls]})")

# %% [markdown]
# At test time the class-specific confidence of each box is `confidence x P(class | object)`;
# YOLO removes boxes with a low confidence and runs **NMS** on the rest. Decoding the target
# grid gives back the objects, each once per box slot:

# %%
dec_boxes, dec_conf, dec_scores = yolo_decode(target, image_size=(448, 448), B=B, C=C)
compare_with_slide("YOLOv1 boxes per image 7 x 7 x 2", dec_boxes.shape[0], 98)
best, label = dec_scores.max(1)
keep = batched_nms(dec_boxes[best > 0.5], best[best > 0.5], label[best > 0.5], 0.5)
print(f"{int((best > 0.5).sum())} boxes with confidence > 0.5 -> {len(keep)} after NMS "
      f"({len(big_gts[0]['labels'])} objects)")

# %% [markdown]
# **YOLOv2** (seed 003): YOLO finds small objects and crowded scenes hard (one class, two boxes
# per cell). YOLOv2 raises the grid to 13 x 13 and gives each cell pre-defined **anchors**, each
# with its own class probabilities. With 6 anchors per cell, as on the slide:

# %%
v2 = make_anchors((13, 13), 32, scales=(64.0, 160.0), aspect_ratios=(0.5, 1.0, 2.0))  # 416 x 416 input
compare_with_slide("YOLOv2 boxes 13 x 13 x 6", v2.shape[0], 1014)
compare_with_slide("YOLOv1 boxes 7 x 7 x 2", S * S * B, 98)
print(f"{v2.shape[0] / (S * S * B):.1f}x more candidate boxes. (The YOLOv2 paper itself chose 5 "
      f"anchor shapes by k-means: 13 x 13 x 5 = {13 * 13 * 5}.)")

# %% [markdown]
# **SSD** (Liu et al., ECCV 2016) is another "look once" detector: it places default boxes
# (anchors) on **several feature maps** of decreasing size, so that large maps find small
# objects and small maps large ones. SSD300 uses maps of 38, 19, 10, 5, 3, 1 cells with 4 or 6
# boxes per location: aspect ratios {1, 2, 1/2} (and 3, 1/3 on the middle maps) at the map's
# scale $s_k$, plus one extra square box of scale $\sqrt{s_k s_{k+1}}$.

# %%
maps, ratios_k = (38, 19, 10, 5, 3, 1), [(1, 2, 0.5), (1, 2, 3, 0.5, 1 / 3), (1, 2, 3, 0.5, 1 / 3),
                                          (1, 2, 3, 0.5, 1 / 3), (1, 2, 0.5), (1, 2, 0.5)]
s = [0.2 + 0.7 * i / 5 for i in range(6)] + [1.0]             # s_k = s_min + (s_max - s_min)(k - 1)/(m - 1)
ssd = []
for i, (f, r) in enumerate(zip(maps, ratios_k)):
    stride = max(1, round(300 / f))                            # image pixels per cell (8, 16, 30, 60, 100, 300)
    main = make_anchors(f, stride, scales=(s[i] * 300,), aspect_ratios=r)                          # ratios at s_k
    extra = make_anchors(f, stride, scales=(np.sqrt(s[i] * s[i + 1]) * 300,), aspect_ratios=(1,))  # one more square
    ssd.append(torch.cat([main, extra]))
    print(f"{f:2d} x {f:2d} map, {len(r) + 1} boxes per location -> {f * f * (len(r) + 1):5d}")
n_ssd = sum(len(a) for a in ssd)
compare_with_slide("SSD300 default boxes (the SSD paper's 8732)", n_ssd, 8732)

# %% [markdown]
# ## 11. A tiny YOLO, trained here
#
# `TinyYOLO` is a 5-layer CNN (three stride-2 convolutions; here 8 to 32 channels, 25k parameters) that turns a
# 64 x 64 shapes image into an 8 x 8 x (2*5 + 3) grid — YOLO's layout with $S = 8$, $B = 2$,
# $C = 3$. It is trained with the YOLO v1 loss (`yolo_loss`: coordinate, object, no-object and
# class terms with $\lambda_{coord} = 5$, $\lambda_{noobj} = 0.5$). Here we train a narrow
# version for a few seconds; the default `TinyYOLO()` (width 16) trained for 8 epochs on 2000
# images (about 20 s of one CPU core) passes 0.95 VOC mAP@0.5 on the same held-out split.

# %%
torch.manual_seed(0)
train_images, train_gts = shapes_to_tensors(ShapesDataset(1500, seed=0))
test_images, test_gts = shapes_to_tensors(ShapesDataset(300, seed=1))   # held out: another seed
train_targets = encode_targets(train_gts, image_size=(64, 64), S=8, B=2, C=3)
model = TinyYOLO(C=3, B=2, width=8)
with torch.no_grad():
    out_shape = tuple(model.eval()(test_images[:1]).shape)     # (1, S, S, B*5 + C)
print(f"{sum(p.numel() for p in model.parameters()):,} parameters; output {out_shape}")
history = train_detector(model, train_images, train_targets, epochs=3, batch_size=64, max_lr=1e-2)
print(f"trained in {history['seconds']:.1f} s; loss per epoch", np.round(history["epoch_losses"], 3))

# %%
start = time.perf_counter()
test_preds = predict(model, test_images, score_threshold=0.01, iou_threshold=0.5)
ms_per_image = 1000 * (time.perf_counter() - start) / len(test_images)
voc_test = evaluate_voc(test_preds, test_gts, num_classes=3)
voc07_test = evaluate_voc(test_preds, test_gts, num_classes=3, use_07_metric=True)
coco_test = evaluate_coco(*to_coco(test_preds, test_gts, num_classes=3))
print(f"held-out split (300 images): VOC mAP@0.5 = {voc_test.mAP:.3f} (11-point {voc07_test.mAP:.3f}); "
      + ", ".join(f"{n} {a:.3f}" for n, a in zip(SHAPE_CLASSES, voc_test.ap.tolist())))
print(f"COCO: AP {coco_test[0]:.3f}, AP50 {coco_test[1]:.3f}, AP75 {coco_test[2]:.3f}, AR100 {coco_test[8]:.3f}")
print(f"inference + decoding + NMS: {ms_per_image:.2f} ms per image on this CPU")
assert voc_test.mAP > 0.5  # a few seconds of training already find most shapes

# %%
show_detections(test_images[:8], test_preds[:8], test_gts[:8], class_names=SHAPE_CLASSES, ncols=4,
                score_threshold=0.3)
plt.suptitle("TinyYOLO on held-out images (score >= 0.3); dashed white = ground truth", y=1.02)
plt.show()
fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
for k, ax in enumerate(axes):
    plot_pr_curve(voc_test.precision[k], voc_test.recall[k], ax=ax, title=f"TinyYOLO: {SHAPE_CLASSES[k]}")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 12. Speed and accuracy
#
# The slides' tables (seeds 002 and 004), as figures. **Fast R-CNN vs R-CNN** (VGG16, VOC 2007;
# timings exclude the proposals):

# %%
FAST_RCNN_TABLE = {"training time (h)": (84.0, 9.5), "test time per image (s)": (47.0, 0.32),
                   "mAP VOC 2007 (%)": (66.0, 66.9)}               # (R-CNN, Fast R-CNN), seed 002 / 004
fig, axes = plt.subplots(1, 3, figsize=(11, 3))
for ax, (name, (slow, fast)) in zip(axes, FAST_RCNN_TABLE.items()):
    ax.bar(["R-CNN", "Fast R-CNN"], [slow, fast], color=["tab:grey", "tab:blue"])
    ax.set_ylabel(name)
    for x, v in enumerate((slow, fast)):
        ax.text(x, v, f"{v:g}", ha="center", va="bottom")
    if "time" in name:
        ax.set_title(f"{slow / fast:.1f}x faster", fontsize=9)
plt.tight_layout()
plt.show()
train_speedup = FAST_RCNN_TABLE["training time (h)"][0] / FAST_RCNN_TABLE["training time (h)"][1]
test_speedup = FAST_RCNN_TABLE["test time per image (s)"][0] / FAST_RCNN_TABLE["test time per image (s)"][1]
compare_with_slide("training speed-up", train_speedup, 8.8, decimals=1)
compare_with_slide("test speed-up, truncated", np.floor(test_speedup), 146)
print(f"47 / 0.32 = {test_speedup:.3f}: the slide (and the paper) print 146x, i.e. truncated, not rounded")

# %% [markdown]
# **Faster R-CNN** (seed 002, VOC 2007 test, Fast R-CNN detector with VGG16): replacing
# Selective Search (2000 proposals) by the RPN (300 proposals) makes the whole system ~9x faster
# *and* more accurate; sharing the convolutional features with the detector helps both.

# %%
FASTER_RCNN_TABLE = [  # (proposals, training data, mAP %, time ms), seed 002 "Table 2"
    ("SS, 2k", "07", 66.9, 1830), ("SS, 2k", "07+12", 70.0, 1830),
    ("RPN+VGG unshared, 300", "07", 68.5, 342), ("RPN+VGG shared, 300", "07", 69.9, 198),
    ("RPN+VGG shared, 300", "07+12", 73.2, 198)]
fig, ax = plt.subplots(figsize=(6.5, 3.8))
for (name, data, m, t), marker in zip(FASTER_RCNN_TABLE, "oosDD"):
    ax.scatter(t, m, marker=marker, s=60, label=f"{name} ({data})")
ax.set_xscale("log")
ax.set_xlabel("time per image (ms, log scale)")
ax.set_ylabel("mAP on VOC 2007 test (%)")
ax.set_title("Faster R-CNN: the RPN is faster and better than Selective Search")
ax.legend(fontsize=8)
plt.show()
print(f"1830 / 198 = {1830 / 198:.1f}x faster, {1000 / 198:.1f} images per second")

# %% [markdown]
# **Two-stage vs one-stage.** R-CNN -> Fast R-CNN -> Faster R-CNN removed, in turn, the many
# CNN passes, the post-hoc SVMs and the external proposals; two stages are still slow. YOLO and
# SSD predict everything in one pass: much faster, and (in their first versions) less accurate,
# especially on small objects — which YOLOv2's anchors and SSD's multi-scale maps address.
#
# | | region proposals | features | classification & regression |
# |---|---|---|---|
# | R-CNN | Selective Search | CNN per region | SVM + linear regression |
# | SPP-net | Selective Search | one CNN pass + pyramid pooling | SVM |
# | Fast R-CNN | Selective Search | one CNN pass + RoI pooling | CNN (joint) |
# | Faster R-CNN | RPN (anchors) | one CNN pass + RoI pooling | CNN (joint) |
# | YOLO / SSD | none (grid / default boxes) | one CNN pass | CNN (one regression) |

# %%
print(f"lecture executed in {time.perf_counter() - T0:.1f} s")
