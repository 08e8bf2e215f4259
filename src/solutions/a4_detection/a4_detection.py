# ---
# jupyter:
#   cnncourse:
#     total_points: 100
#   jupytext:
#     cell_metadata_filter: nbgrader,tags,-all
#     notebook_metadata_filter: kernelspec,cnncourse,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Assignment 4 — Object detection: boxes, NMS, anchors, RoI pooling, YOLO and mAP
#
# In this assignment you implement, in PyTorch, the tools of lecture 7: the IoU matrix of two sets of
# boxes, non-maximum suppression (plain and class-aware), the R-CNN box coding `(dx, dy, dw, dh)`,
# the anchors of a region proposal network, Fast R-CNN's RoI pooling, YOLO v1's targets, loss and
# decoding, and the PASCAL VOC evaluation (matching, AP, mAP). Then you train a tiny YOLO-style
# detector on the offline shapes images and the **grader** measures its mAP@0.5 on images it
# generates itself.
#
# **How you are graded.** Write your code where it says `# YOUR CODE HERE` (delete the
# `raise NotImplementedError()`). After each exercise there is a *self-check* cell you can run, then a
# locked *test* cell. The test cells contain hidden tests that run when your notebook is graded: they
# compare your functions with reference implementations on many random cases, including the
# degenerate ones (zero-area boxes, identical boxes, ties in the scores, empty inputs, boxes that
# leave the image), in float32 and float64, on the CPU and on a GPU when the grading machine has one.
# While your functions run during grading, the shortcuts are disabled: `torchvision.ops` (`box_iou`,
# `nms`, `batched_nms`, `roi_pool`, `roi_align`, ...) and the `cnncourse.detection` references
# (including its `TinyYOLO`, `train_detector` and `predict`: write your own network and loop).
# Before submitting, run **Kernel → Restart & Run All**.
#
# **Rules for every function** (the hidden tests check them):
# - torch code, **device-agnostic**: results live on the input's device (`boxes.device`) with the
#   input's floating dtype; create new tensors with `device=..., dtype=...` of the input; index
#   tensors are `torch.int64`;
# - vectorized over pairs of boxes (the IoU matrix is one broadcast, not a double loop); the
#   sequential parts of NMS, VOC matching and RoI pooling may loop, as the notes say;
# - do not modify the inputs.
#
# | Part | Exercise | Points |
# |---|---|---|
# | A. Boxes and NMS | A1 IoU matrix (8), A2 NMS (8), A3 class-aware NMS (5) | 21 |
# | B. Box coding, anchors, RoI pooling | B1 encode and decode (8), B2 anchors (6), B3 RoI pooling (8) | 22 |
# | C. YOLO | C1 targets (8), C2 loss (10), C3 decoding + NMS (7) | 25 |
# | D. Evaluation | D1 VOC matching (6), D2 average precision (5), D3 mAP (6) | 17 |
# | E. A detector | E1 tiny YOLO, graded on held-out images (15) | 15 |
# | | **Total** | **100** |
#
# Conventions (as in lecture 7 and `torchvision.ops`): a box is `(x1, y1, x2, y2)` in pixels with
# `x1 <= x2`, `y1 <= y2`, width `x2 - x1` (no `+ 1`); a set of boxes is a float tensor `(K, 4)`.

# %%
import math
import time

import numpy as np
import matplotlib.pyplot as plt
import torch
import torch.nn as nn

torch.set_printoptions(precision=4, sci_mode=False)
torch.set_num_threads(1)   # the grader runs several notebooks at once: one core each
device = "cuda" if torch.cuda.is_available() else "cpu"

# %% [markdown]
# ## Part A — Boxes and non-maximum suppression
#
# ### A1. IoU matrix (8 points)
#
# `box_iou(boxes1, boxes2)` returns the `(K, M)` matrix `iou[i, j] = |a ∩ b| / |a ∪ b|` of
# `boxes1 (K, 4)` and `boxes2 (M, 4)`, computed by broadcasting (`boxes1[:, None, :]` against
# `boxes2[None, :, :]`), no loops. The intersection's width is `min(x2) - max(x1)` **clamped at 0**
# (disjoint boxes overlap by 0, not by a negative area). A pair whose union is 0 (two zero-area
# boxes) has IoU **0**, not NaN. `K = 0` or `M = 0` gives an empty `(K, M)` matrix.

# %% nbgrader={"grade": false, "grade_id": "box_iou_impl", "locked": false, "schema_version": 3, "solution": true}
def box_area(boxes):
    '''(K, 4) xyxy boxes -> (K,) areas.'''
    ### BEGIN SOLUTION
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    ### END SOLUTION


def box_iou(boxes1, boxes2):
    '''boxes1 (K, 4), boxes2 (M, 4) -> (K, M) IoU, 0 where the union is empty.'''
    ### BEGIN SOLUTION
    lt = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])      # (K, M, 2)
    rb = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])      # (K, M, 2)
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]                                   # (K, M)
    union = box_area(boxes1)[:, None] + box_area(boxes2)[None, :] - inter
    return inter / union.masked_fill(union == 0, 1)
    ### END SOLUTION


# %%
# Self-check: half-overlapping squares, a box inside another, disjoint, zero-area and empty inputs.
a = torch.tensor([[0.0, 0, 2, 2], [0, 0, 4, 4]])
b = torch.tensor([[1.0, 0, 3, 2], [1, 1, 2, 2], [5, 5, 6, 6], [1, 1, 1, 1]])
iou = box_iou(a, b)
print(iou)
want = torch.tensor([[2 / 6, 1 / 4, 0, 0], [4 / 16, 1 / 16, 0, 0]])
assert iou.shape == (2, 4) and torch.allclose(iou, want), f"box_iou: got {iou}, expected {want}"
z = torch.tensor([[3.0, 3, 3, 3]])
assert box_iou(z, z).item() == 0.0, "two zero-area boxes: IoU 0, not NaN"
assert box_iou(a, torch.zeros(0, 4)).shape == (2, 0)
assert box_iou(a.double(), b.double()).dtype == torch.float64
print("A1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_box_iou", "locked": true, "points": 8, "schema_version": 3, "solution": false}
# A1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from cnncourse.detection import box_iou as _ref_iou
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.grading.devices import available_devices as _devices


def _boxes(rng, n, dt, dev, size=64.0):
    '''Random xyxy boxes, some zero-area, some repeated, some outside the image [0, size).'''
    xy = rng.uniform(-0.3 * size, 1.1 * size, (n, 2))
    wh = rng.uniform(0, 0.5 * size, (n, 2)) * (rng.random((n, 1)) > 0.15)   # ~15% zero-area
    b = _np.concatenate([xy, xy + wh], 1)
    if n > 3:
        b[1] = b[0]                                                        # identical boxes
    return _torch.tensor(b, dtype=dt, device=dev)


_rng = _np.random.default_rng(secret_seed(41))
_hints = {"values": "inter = clamp(min(x2) - max(x1), 0) * clamp(min(y2) - max(y1), 0); IoU = inter / (area1 + area2 - inter), "
                    "0 where the union is 0",
          "finite": "two zero-area boxes have union 0: return IoU 0 there, not 0/0 = NaN",
          "device": "keep the input's device and dtype"}
for _dev in _devices():
    for _label, _k, _m, _dt in [("random", int(_rng.integers(5, 30)), int(_rng.integers(5, 30)), _torch.float64),
                                ("float32", 17, 9, _torch.float32), ("one box each", 1, 1, _torch.float64),
                                ("empty boxes1", 0, 5, _torch.float64), ("empty boxes2", 4, 0, _torch.float32)]:
        _b1, _b2 = _boxes(_rng, _k, _dt, _dev), _boxes(_rng, _m, _dt, _dev)
        _got = call_student(box_iou, _b1, _b2, forbidden=("a4_detection",), timeout=10)
        assert_array_close(_got, _ref_iou(_b1, _b2), name=f"box_iou(boxes1 {tuple(_b1.shape)}, boxes2 {tuple(_b2.shape)}) "
                           f"[{_label}, {_dt}, {_dev}]", hints=_hints)
    _z = _torch.tensor([[3.0, 3, 3, 3], [3, 3, 3, 3], [0, 0, 0, 5]], dtype=_torch.float64, device=_dev)
    assert_array_close(call_student(box_iou, _z, _z, forbidden=("a4_detection",), timeout=10), _torch.zeros(3, 3, dtype=_torch.float64, device=_dev),
                       name=f"box_iou of zero-area boxes with themselves [{_dev}]", hints=_hints)
    _t = _torch.tensor([[0.0, 0, 2, 2]], device=_dev)
    _u = _torch.tensor([[2.0, 0, 4, 2], [3, 3, 5, 5], [0, 0, 2, 2]], device=_dev)
    assert_array_close(call_student(box_iou, _t, _u, forbidden=("a4_detection",), timeout=10), _torch.tensor([[0.0, 0.0, 1.0]], device=_dev),
                       name=f"box_iou of touching, disjoint and identical boxes [{_dev}]",
                       hints={"values": "touching or disjoint boxes overlap by 0: clamp the intersection's width and height at 0"})
### END HIDDEN TESTS

# %% [markdown]
# ### A2. Non-maximum suppression (8 points)
#
# `nms(boxes, scores, iou_threshold)` keeps the best box and removes every box that overlaps it with
# IoU **strictly greater** than `iou_threshold`, then repeats with the best remaining box (lecture 7,
# step by step). Return the `int64` indices of the kept boxes **by decreasing score**; among equal
# scores, the box with the lower index comes first (`torch.sort(scores, descending=True, stable=True)`).
# These are the conventions of `torchvision.ops.nms`. Compute the IoU matrix of the sorted boxes once
# with your `box_iou`; the greedy pass over the sorted boxes may be a Python loop. No boxes: an empty
# `int64` tensor.

# %% nbgrader={"grade": false, "grade_id": "nms_impl", "locked": false, "schema_version": 3, "solution": true}
def greedy_suppression(overlap):
    '''overlap (K, K) bool, in visiting order: overlap[i, j] = box i suppresses box j -> kept positions.'''
    ### BEGIN SOLUTION
    over = overlap.cpu().numpy()
    removed = np.zeros(over.shape[0], dtype=bool)
    keep = []
    for i in range(over.shape[0]):
        if not removed[i]:
            keep.append(i)
            removed |= over[i]
    return keep
    ### END SOLUTION


def nms(boxes, scores, iou_threshold):
    '''boxes (K, 4), scores (K,) -> int64 indices of the kept boxes, by decreasing score (ties: lower index).'''
    ### BEGIN SOLUTION
    order = torch.sort(scores, descending=True, stable=True).indices          # (K,)
    b = boxes[order]
    keep = greedy_suppression(box_iou(b, b) > iou_threshold)
    return order[torch.tensor(keep, dtype=torch.long, device=boxes.device)]
    ### END SOLUTION


# %%
# Self-check: the lecture's example - two overlapping pairs and a lonely box, a tie, nothing.
boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [21, 20, 31, 30], [50, 50, 60, 60]])
scores = torch.tensor([0.9, 0.8, 0.7, 0.95, 0.3])
keep = nms(boxes, scores, 0.5)
print(keep)
assert keep.dtype == torch.int64 and keep.tolist() == [3, 0, 4], keep
assert nms(boxes, scores, 0.9).tolist() == [3, 0, 1, 2, 4]
assert nms(boxes[:2], torch.tensor([0.5, 0.5]), 0.5).tolist() == [0], "equal scores: the lower index wins"
assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).shape == (0,)
print("A2 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_nms", "locked": true, "points": 8, "schema_version": 3, "solution": false}
# A2 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from cnncourse.detection import nms as _ref_nms
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.grading.devices import available_devices as _devices


def _boxes(rng, n, dt, dev, size=64.0):
    '''Clustered xyxy boxes (so that NMS has work), some zero-area, some identical, some outside.'''
    centres = rng.uniform(-5, size + 5, (max(1, n // 4), 2))
    xy = centres[rng.integers(0, len(centres), n)] + rng.normal(0, 3, (n, 2))
    wh = rng.uniform(4, 20, (n, 2)) * (rng.random((n, 1)) > 0.1)
    b = _np.concatenate([xy - wh / 2, xy + wh / 2], 1)
    if n > 3:
        b[2] = b[1]
    return _torch.tensor(b, dtype=dt, device=dev)


_rng = _np.random.default_rng(secret_seed(42))
_hints = {"values": "visit boxes by decreasing score (stable sort: ties by lower index), drop a box whose IoU with a kept box "
                    "is > iou_threshold (strictly), return the kept indices in visiting order",
          "dtype": "return int64 indices (torch.long)"}
for _dev in _devices():
    for _label, _n, _dt, _thr in [("random", int(_rng.integers(20, 80)), _torch.float64, 0.5),
                                  ("float32, threshold 0.3", 40, _torch.float32, 0.3), ("threshold 0.7", 30, _torch.float64, 0.7),
                                  ("tied scores", 25, _torch.float64, 0.5), ("one box", 1, _torch.float32, 0.5),
                                  ("no boxes", 0, _torch.float32, 0.5)]:
        _b = _boxes(_rng, _n, _dt, _dev)
        _s = _torch.tensor(_rng.random(_n), dtype=_dt, device=_dev)
        if _label == "tied scores":
            _s = _torch.tensor(_rng.integers(0, 4, _n) / 4, dtype=_dt, device=_dev)
        _got = call_student(nms, _b, _s, _thr, forbidden=("a4_detection",), timeout=10)
        assert_array_close(_got, _ref_nms(_b, _s, _thr), name=f"nms(boxes {tuple(_b.shape)}, iou_threshold={_thr}) [{_label}, {_dev}]",
                           hints=_hints, exact_dtype=True)
    # IoU exactly at the threshold keeps both boxes; identical boxes suppress each other
    _b = _torch.tensor([[0.0, 0, 2, 2], [1, 0, 3, 2], [0, 0, 2, 2]], dtype=_torch.float64, device=_dev)
    _s = _torch.tensor([0.9, 0.8, 0.7], dtype=_torch.float64, device=_dev)
    assert_array_close(call_student(nms, _b, _s, 1 / 3, forbidden=("a4_detection",), timeout=10), _torch.tensor([0, 1], device=_dev),
                       name=f"nms with IoU exactly 1/3 = iou_threshold, and an identical box [{_dev}]",
                       hints={"values": "suppress only when IoU > iou_threshold (strictly greater): IoU equal to the threshold keeps both"})
### END HIDDEN TESTS

# %% [markdown]
# ### A3. Class-aware NMS (5 points)
#
# A detector outputs boxes of several classes; a dog must not suppress an overlapping person.
# `batched_nms(boxes, scores, labels, iou_threshold)` suppresses a box only by a kept box **of the
# same label** (int64 `labels (K,)`), with the conventions of A2, and returns the kept indices of all
# classes merged **by decreasing score** (ties: lower index). Hint: a box suppresses another when
# the IoU is too high **and** their labels are equal, one boolean mask.

# %% nbgrader={"grade": false, "grade_id": "batched_nms_impl", "locked": false, "schema_version": 3, "solution": true}
def batched_nms(boxes, scores, labels, iou_threshold):
    '''boxes (K, 4), scores (K,), labels (K,) int -> int64 kept indices, by decreasing score.'''
    ### BEGIN SOLUTION
    order = torch.sort(scores, descending=True, stable=True).indices
    b, lab = boxes[order], labels[order]
    overlap = (box_iou(b, b) > iou_threshold) & (lab[:, None] == lab[None, :])
    keep = greedy_suppression(overlap)
    return order[torch.tensor(keep, dtype=torch.long, device=boxes.device)]
    ### END SOLUTION


# %%
# Self-check: the same two boxes survive when their classes differ.
b2 = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [0.5, 0.5, 10.5, 10.5]])
s2 = torch.tensor([0.9, 0.8, 0.7])
print(batched_nms(b2, s2, torch.tensor([0, 1, 0]), 0.5))
assert batched_nms(b2, s2, torch.tensor([0, 1, 0]), 0.5).tolist() == [0, 1]
assert batched_nms(b2, s2, torch.tensor([0, 1, 2]), 0.5).tolist() == [0, 1, 2]
assert batched_nms(b2, s2, torch.tensor([5, 5, 5]), 0.5).tolist() == nms(b2, s2, 0.5).tolist()
print("A3 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_batched_nms", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# A3 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from cnncourse.detection import batched_nms as _ref_bnms
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.grading.devices import available_devices as _devices

_rng = _np.random.default_rng(secret_seed(43))
_hints = {"values": "a box is suppressed only by a kept box of the SAME label with IoU > iou_threshold; all classes merged "
                    "by decreasing score (ties: lower index)",
          "dtype": "return int64 indices (torch.long)"}
for _dev in _devices():
    for _label, _n, _ncls, _dt in [("random", int(_rng.integers(20, 80)), 3, _torch.float64), ("one class", 30, 1, _torch.float32),
                                   ("many classes", 40, 10, _torch.float64), ("no boxes", 0, 3, _torch.float32)]:
        _c = _rng.uniform(0, 40, (max(1, _n // 5), 2))
        _xy = _c[_rng.integers(0, len(_c), _n)] + _rng.normal(0, 2, (_n, 2))
        _wh = _rng.uniform(3, 15, (_n, 2))
        _b = _torch.tensor(_np.concatenate([_xy, _xy + _wh], 1), dtype=_dt, device=_dev)
        _s = _torch.tensor(_rng.integers(0, 6, _n) / 6, dtype=_dt, device=_dev)      # many ties
        _l = _torch.tensor(_rng.integers(0, _ncls, _n), dtype=_torch.long, device=_dev)
        for _thr in (0.5, 0.2):
            _got = call_student(batched_nms, _b, _s, _l, _thr, forbidden=("a4_detection",), timeout=10)
            assert_array_close(_got, _ref_bnms(_b, _s, _l, _thr), name=f"batched_nms(boxes {tuple(_b.shape)}, {_ncls} classes, "
                               f"iou_threshold={_thr}) [{_label}, {_dev}]", hints=_hints, exact_dtype=True)
### END HIDDEN TESTS

# %% [markdown]
# ## Part B — Box coding, anchors and RoI pooling
#
# ### B1. R-CNN box encoding and decoding (8 points)
#
# R-CNN regresses from a proposal (or anchor) `P` to a ground-truth box `G`, both written as centre
# and size `(px, py, pw, ph)`, `(gx, gy, gw, gh)` (`w = x2 - x1`, centre `x1 + w / 2`):
#
# $$d_x = w_x \frac{g_x - p_x}{p_w},\quad d_y = w_y \frac{g_y - p_y}{p_h},\quad d_w = w_w \log\frac{g_w}{p_w},\quad d_h = w_h \log\frac{g_h}{p_h}$$
#
# with weights `(wx, wy, ww, wh)` (default `(1, 1, 1, 1)`; Faster R-CNN's box head uses
# `(10, 10, 5, 5)`). `encode_boxes(boxes, reference, weights=...)` returns the `(K, 4)` deltas;
# `decode_boxes(deltas, reference, weights=..., clamp=math.log(1000 / 16))` inverts it, and before
# `exp` it clamps `dw / ww` and `dh / wh` **from above** at `clamp` (as torchvision, so that a wild
# prediction stays finite). `decode_boxes(encode_boxes(g, p, weights=w), p, weights=w)` gives `g` back.

# %% nbgrader={"grade": false, "grade_id": "box_coding_impl", "locked": false, "schema_version": 3, "solution": true}
def centre_size(boxes):
    '''(K, 4) xyxy -> cx, cy, w, h, each (K,).'''
    ### BEGIN SOLUTION
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    return boxes[:, 0] + 0.5 * w, boxes[:, 1] + 0.5 * h, w, h
    ### END SOLUTION


def encode_boxes(boxes, reference, weights=(1.0, 1.0, 1.0, 1.0)):
    '''Targets boxes (K, 4), reference boxes (K, 4) -> deltas (K, 4) = (dx, dy, dw, dh).'''
    ### BEGIN SOLUTION
    wx, wy, ww, wh = weights
    gx, gy, gw, gh = centre_size(boxes)
    px, py, pw, ph = centre_size(reference)
    return torch.stack([wx * (gx - px) / pw, wy * (gy - py) / ph,
                        ww * torch.log(gw / pw), wh * torch.log(gh / ph)], dim=1)
    ### END SOLUTION


def decode_boxes(deltas, reference, weights=(1.0, 1.0, 1.0, 1.0), clamp=math.log(1000.0 / 16)):
    '''Deltas (K, 4), reference boxes (K, 4) -> decoded xyxy boxes (K, 4).'''
    ### BEGIN SOLUTION
    wx, wy, ww, wh = weights
    px, py, pw, ph = centre_size(reference)
    cx = deltas[:, 0] / wx * pw + px
    cy = deltas[:, 1] / wy * ph + py
    w = torch.exp((deltas[:, 2] / ww).clamp(max=clamp)) * pw
    h = torch.exp((deltas[:, 3] / wh).clamp(max=clamp)) * ph
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=1)
    ### END SOLUTION


# %%
# Self-check: the lecture's three proposals for one ground-truth box.
gt = torch.tensor([[10.0, 10, 50, 30]]).repeat(3, 1)
proposals = torch.tensor([[10.0, 10, 50, 30], [20, 10, 60, 30], [5, 10, 55, 30]])
d = encode_boxes(gt, proposals)
print(d)
want = torch.tensor([[0.0, 0, 0, 0], [-0.25, 0, 0, 0], [0, 0, math.log(40 / 50), 0]])
assert torch.allclose(d, want, atol=1e-6), f"encode_boxes: got {d}, expected {want}"
assert torch.allclose(encode_boxes(gt, proposals, weights=(10, 10, 5, 5)), want * torch.tensor([10, 10, 5, 5]), atol=1e-5)
assert torch.allclose(decode_boxes(d, proposals), gt, atol=1e-5), "decode(encode(g, p), p) must give g back"
assert torch.isfinite(decode_boxes(torch.tensor([[0.0, 0, 100, 100]]), proposals[:1])).all(), "clamp dw, dh before exp"
print("B1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_box_coding", "locked": true, "points": 8, "schema_version": 3, "solution": false}
# B1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import math as _math

import numpy as _np
import torch as _torch
from cnncourse.detection import decode_boxes as _ref_dec
from cnncourse.detection import encode_boxes as _ref_enc
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.grading.devices import available_devices as _devices

_rng = _np.random.default_rng(secret_seed(44))
_hints = {"values": "centres cx = x1 + w/2 with w = x2 - x1; dx = wx (gx - px) / pw, dw = ww log(gw / pw); decoding divides "
                    "the deltas by the weights and clamps dw/ww, dh/wh from above before exp"}
for _dev in _devices():
    for _label, _k, _dt, _w in [("random", int(_rng.integers(3, 30)), _torch.float64, (1.0, 1.0, 1.0, 1.0)),
                                ("Faster R-CNN weights", 12, _torch.float64, (10.0, 10.0, 5.0, 5.0)),
                                ("float32, uneven weights", 9, _torch.float32, tuple(float(v) for v in _rng.uniform(0.5, 8, 4))),
                                ("no boxes", 0, _torch.float64, (1.0, 1.0, 1.0, 1.0))]:
        _xy = _rng.uniform(-20, 100, (_k, 2))
        _p = _torch.tensor(_np.concatenate([_xy, _xy + _rng.uniform(1, 60, (_k, 2))], 1), dtype=_dt, device=_dev)
        _xy = _xy + _rng.normal(0, 10, (_k, 2))
        _g = _torch.tensor(_np.concatenate([_xy, _xy + _rng.uniform(1, 60, (_k, 2))], 1), dtype=_dt, device=_dev)
        _what = f"(boxes {tuple(_g.shape)}, weights={tuple(round(v, 3) for v in _w)}) [{_label}, {_dev}]"
        _d = call_student(encode_boxes, _g, _p, weights=_w, forbidden=("a4_detection",), timeout=10)
        assert_array_close(_d, _ref_enc(_g, _p, weights=_w), name="encode_boxes" + _what, hints=_hints)
        _dd = _torch.tensor(_rng.normal(0, 1, (_k, 4)) * _np.array(_w), dtype=_dt, device=_dev)
        if _k:
            _dd[0, 2:] = 50.0 * _torch.tensor(_w[2:], dtype=_dt)                 # a wild prediction: clamped
        for _clamp in (_math.log(1000.0 / 16), 2.0):
            _got = call_student(decode_boxes, _dd, _p, weights=_w, clamp=_clamp, forbidden=("a4_detection",), timeout=10)
            assert_array_close(_got, _ref_dec(_dd, _p, weights=_w, clamp=_clamp), name=f"decode_boxes{_what}, clamp={_clamp:.3g}", hints=_hints)
        _back = call_student(decode_boxes, _ref_enc(_g, _p, weights=_w), _p, weights=_w, forbidden=("a4_detection",), timeout=10)
        assert_array_close(_back, _g, name="decode_boxes(encode_boxes(g, p), p) round trip" + _what, hints=_hints)
### END HIDDEN TESTS

# %% [markdown]
# ### B2. Anchors (6 points)
#
# Faster R-CNN's RPN places `k = len(aspect_ratios) * len(scales)` anchors at each location of a
# feature map. `make_anchors(feature_size, stride, scales, aspect_ratios, offset=0.5)` returns all
# anchors `(H * W * k, 4)` in image pixels (float32, on the CPU) for a feature map of
# `feature_size = (H, W)` cells of `stride` pixels:
#
# - location `(i, j)` (row `i`, column `j`) is centred at `((j + offset) * stride, (i + offset) * stride)`;
# - the anchor of scale `s` and ratio `r = h / w` has area `s^2`: `w = s / sqrt(r)`, `h = s * sqrt(r)`;
# - order: by row `i`, then column `j`, then aspect ratio, then scale, i.e. anchor
#   `((i * W + j) * R + r) * S + s` (build one `(k, 4)` set centred at 0 and add it to every centre
#   by broadcasting, no loops).

# %% nbgrader={"grade": false, "grade_id": "anchors_impl", "locked": false, "schema_version": 3, "solution": true}
def make_anchors(feature_size, stride, scales=(128.0, 256.0, 512.0), aspect_ratios=(0.5, 1.0, 2.0), offset=0.5):
    '''feature_size (H, W), stride (pixels per cell) -> (H * W * k, 4) xyxy anchors.'''
    ### BEGIN SOLUTION
    H, W = feature_size
    sc = torch.tensor(scales, dtype=torch.float32)                  # (S,)
    ar = torch.tensor(aspect_ratios, dtype=torch.float32)           # (R,)
    ws = (sc[None, :] / torch.sqrt(ar)[:, None]).reshape(-1)        # (R * S,)
    hs = (sc[None, :] * torch.sqrt(ar)[:, None]).reshape(-1)
    base = torch.stack([-ws, -hs, ws, hs], dim=1) / 2               # (k, 4)
    cy = (torch.arange(H, dtype=torch.float32) + offset) * stride   # (H,)
    cx = (torch.arange(W, dtype=torch.float32) + offset) * stride   # (W,)
    yy, xx = torch.meshgrid(cy, cx, indexing="ij")                  # (H, W)
    centres = torch.stack([xx, yy, xx, yy], dim=-1).reshape(-1, 1, 4)
    return (centres + base[None]).reshape(-1, 4)
    ### END SOLUTION


# %%
# Self-check: 9 anchors per location; the first location of a stride-16 map.
anchors = make_anchors((2, 3), 16)
print(anchors.shape, anchors[:3])
assert anchors.shape == (2 * 3 * 9, 4)
w0 = 128 / math.sqrt(0.5)
assert torch.allclose(anchors[0], torch.tensor([8 - w0 / 2, 8 - 128 * math.sqrt(0.5) / 2, 8 + w0 / 2, 8 + 128 * math.sqrt(0.5) / 2]))
assert torch.allclose(anchors[9 * 1 + 4], torch.tensor([24.0 - 128, 8 - 128, 24 + 128, 8 + 128])), "location (0, 1), ratio 1, scale 256"
a1 = make_anchors((1, 1), 8, scales=(4.0,), aspect_ratios=(1.0,), offset=0.0)
assert torch.allclose(a1, torch.tensor([[-2.0, -2, 2, 2]]))
print("B2 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_anchors", "locked": true, "points": 6, "schema_version": 3, "solution": false}
# B2 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from cnncourse.detection import make_anchors as _ref_anchors
from cnncourse.grading import assert_array_close, call_student, check_int, secret_seed

_rng = _np.random.default_rng(secret_seed(45))
_hints = {"values": "centre ((j + offset) * stride, (i + offset) * stride); w = s / sqrt(r), h = s * sqrt(r) with r = h / w; "
                    "order: row, column, aspect ratio, scale",
          "shape": "H * W * len(aspect_ratios) * len(scales) anchors, shape (H * W * k, 4)"}
for _label, _fs, _st, _sc, _ar, _off in [("Faster R-CNN", (3, 4), 16, (128.0, 256.0, 512.0), (0.5, 1.0, 2.0), 0.5),
                                         ("random", (int(_rng.integers(1, 6)), int(_rng.integers(1, 6))), int(_rng.integers(2, 33)),
                                          tuple(float(v) for v in _rng.uniform(4, 80, 2)), tuple(float(v) for v in _rng.uniform(0.3, 3, 4)), 0.5),
                                         ("offset 0, one anchor", (2, 5), 8, (10.0,), (1.0,), 0.0),
                                         ("non-square map", (1, 7), 4, (6.0, 12.0), (2.0,), 0.25)]:
    _got = call_student(make_anchors, _fs, _st, scales=_sc, aspect_ratios=_ar, offset=_off, forbidden=("a4_detection",), timeout=10)
    _want = _ref_anchors(_fs, _st, scales=_sc, aspect_ratios=_ar, offset=_off)
    assert_array_close(_got, _want, name=f"make_anchors({_fs}, {_st}, scales={_sc}, aspect_ratios={_ar}, offset={_off}) [{_label}]",
                       hints=_hints)
# YOLOv2 vs v1 counting of lecture 7: 13 x 13 x 6 anchors... here 7 x 7 x 9 of the RPN
check_int(int(call_student(make_anchors, (7, 7), 16, forbidden=("a4_detection",), timeout=10).shape[0]), 7 * 7 * 9,
          name="number of anchors of a 7x7 map with 3 scales x 3 ratios")
### END HIDDEN TESTS

# %% [markdown]
# ### B3. RoI pooling (8 points)
#
# Fast R-CNN turns a region of any size into a fixed `(PH, PW)` grid by max pooling.
# `roi_pool(input, rois, output_size, spatial_scale=1.0)`: `input (N, C, H, W)` feature maps,
# `rois (K, 5)` rows `(n, x1, y1, x2, y2)` (image index, then the box in image pixels),
# `output_size = (PH, PW)`; returns `(K, C, PH, PW)`. The rules of `torchvision.ops.roi_pool`:
#
# 1. round the box to cells: `x1' = round(x1 * spatial_scale)`, same for `y1, x2, y2`, where `round`
#    rounds halves **away from zero** (C's `round`; `torch.round` rounds halves to even!);
# 2. the region is `w = max(x2' - x1' + 1, 1)` cells wide, `h = max(y2' - y1' + 1, 1)` high;
# 3. bin `(i, j)` covers rows `floor(i * h / PH) + y1'` to `ceil((i + 1) * h / PH) + y1'` (end
#    excluded) and the same for columns, each **clipped to** `[0, H]` (`[0, W]`); compute the bin size
#    `h / PH` in the input's dtype (`torch.tensor(h, dtype=input.dtype) / PH`) as torchvision does;
# 4. the output is the max over the bin (per channel), **0 for an empty bin** (a box outside the map).
#
# Loops over the RoIs and the bins are fine here; take each max over the channels at once.

# %% nbgrader={"grade": false, "grade_id": "roi_pool_impl", "locked": false, "schema_version": 3, "solution": true}
def round_half_away(v):
    '''Round a float to the nearest integer, halves away from zero (2.5 -> 3, -2.5 -> -3).'''
    ### BEGIN SOLUTION
    return int(math.copysign(math.floor(abs(v) + 0.5), v))
    ### END SOLUTION


def roi_pool(input, rois, output_size, spatial_scale=1.0):
    '''input (N, C, H, W), rois (K, 5) -> (K, C, PH, PW) max-pooled regions.'''
    ### BEGIN SOLUTION
    ph, pw = (output_size, output_size) if isinstance(output_size, int) else output_size
    N, C, H, W = input.shape
    out = torch.zeros(rois.shape[0], C, ph, pw, dtype=input.dtype, device=input.device)
    scaled = rois[:, 1:].to(input.dtype) * spatial_scale
    for k in range(rois.shape[0]):
        n = int(rois[k, 0])
        x1, y1, x2, y2 = (round_half_away(float(v)) for v in scaled[k])
        bin_h = torch.tensor(max(y2 - y1 + 1, 1), dtype=input.dtype) / ph
        bin_w = torch.tensor(max(x2 - x1 + 1, 1), dtype=input.dtype) / pw
        for i in range(ph):
            r0 = min(max(int(torch.floor(i * bin_h)) + y1, 0), H)
            r1 = min(max(int(torch.ceil((i + 1) * bin_h)) + y1, 0), H)
            for j in range(pw):
                c0 = min(max(int(torch.floor(j * bin_w)) + x1, 0), W)
                c1 = min(max(int(torch.ceil((j + 1) * bin_w)) + x1, 0), W)
                if r1 > r0 and c1 > c0:
                    out[k, :, i, j] = input[n, :, r0:r1, c0:c1].amax(dim=(1, 2))
    return out
    ### END SOLUTION


# %%
# Self-check: a 4x4 region pooled to 2x2, a box at stride 2, a box outside the map.
fmap = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6)
rois = torch.tensor([[0.0, 0, 0, 3, 3], [1, 2, 2, 10, 10], [0, 40, 40, 50, 50]])
out = roi_pool(fmap, rois, (2, 2), spatial_scale=0.5)
print(out[:, 0])
assert out.shape == (3, 1, 2, 2)
# box 0 at scale 0.5: round(1.5) = 2 (half away from 0) -> cells 0..2, a 3x3 region; bins of 1.5 cells overlap:
# rows [floor(0), ceil(1.5)) = 0..1 and [floor(1.5), ceil(3)) = 1..2
assert out[0, 0].tolist() == [[7.0, 8], [13, 14]], out[0, 0]
# box 1 of image 1: cells 1..5, bins of 2.5 cells: rows 1..3 and 3..5
assert out[1, 0].tolist() == [[36 + 21, 36 + 23], [36 + 33, 36 + 35]], out[1, 0]
assert out[2].abs().sum() == 0, "a region outside the map pools to 0"
assert round_half_away(2.5) == 3 and round_half_away(-2.5) == -3 and round_half_away(1.4) == 1
print("B3 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_roi_pool", "locked": true, "points": 8, "schema_version": 3, "solution": false}
# B3 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from cnncourse.detection import roi_pool as _ref_roi_pool
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.grading.devices import available_devices as _devices

_rng = _np.random.default_rng(secret_seed(46))
_hints = {"values": "round(x * spatial_scale) with halves away from zero; region w = max(x2' - x1' + 1, 1); bin j covers "
                    "[floor(j w / PW), ceil((j + 1) w / PW)) + x1', clipped to the map; max per bin, 0 for an empty bin"}
for _dev in _devices():
    for _label, (_n, _c, _h, _w), _k, _os, _scale, _dt in [
            ("random", (2, 3, 9, 11), int(_rng.integers(3, 10)), (2, 2), 1.0, _torch.float64),
            ("stride 4, 3x3 bins", (1, 2, 8, 8), 6, (3, 3), 0.25, _torch.float64),
            ("float32, 7x7 bins", (2, 4, 12, 10), 5, (7, 7), 0.5, _torch.float32),
            ("non-square output", (1, 1, 6, 9), 4, (2, 3), 1.0, _torch.float64)]:
        _x = _torch.tensor(_rng.standard_normal((_n, _c, _h, _w)), dtype=_dt, device=_dev)
        _xy = _rng.uniform(-4, max(_h, _w) / _scale, (_k, 2))
        _wh = _rng.uniform(0, max(_h, _w) / _scale / 2, (_k, 2))
        _wh[0] = 0                                               # a zero-area box
        _r = _np.concatenate([_rng.integers(0, _n, (_k, 1)), _xy, _xy + _wh], 1)
        _r[1, 1:] = [(_w + 3) / _scale, (_h + 2) / _scale, (_w + 9) / _scale, (_h + 9) / _scale]   # outside the map
        _r[2, 1:] = [0.5 / _scale, 1.5 / _scale, 2.5 / _scale, 3.5 / _scale]                       # halves: round away from 0
        _rois = _torch.tensor(_r, dtype=_dt, device=_dev)
        _got = call_student(roi_pool, _x, _rois, _os, spatial_scale=_scale, forbidden=("a4_detection",), timeout=20)
        assert_array_close(_got, _ref_roi_pool(_x, _rois, _os, spatial_scale=_scale),
                           name=f"roi_pool(input {tuple(_x.shape)}, rois {tuple(_rois.shape)}, {_os}, spatial_scale={_scale}) "
                                f"[{_label}, {_dev}]", hints=_hints)
    _x = _torch.tensor(_rng.standard_normal((1, 2, 5, 5)), device=_dev)
    _got = call_student(roi_pool, _x, _torch.zeros(0, 5, device=_dev, dtype=_x.dtype), (2, 2), forbidden=("a4_detection",), timeout=10)
    assert tuple(_got.shape) == (0, 2, 2, 2), f"roi_pool with no RoIs: expected shape (0, 2, 2, 2), got {tuple(_got.shape)}"
### END HIDDEN TESTS

# %% [markdown]
# ## Part C — YOLO
#
# YOLO v1 divides the image into an `S x S` grid; each cell predicts `B` boxes `(x, y, w, h,
# confidence)` and `C` class probabilities: a tensor `(S, S, B * 5 + C)`, 7 x 7 x 30 for VOC. `x, y`
# are the box centre's offset **inside its cell** in `[0, 1)` and `w, h` are **relative to the image**
# (`w = (x2 - x1) / W`). Row `i` of the grid is the vertical position, column `j` the horizontal one.
#
# ### C1. Targets (8 points)
#
# `yolo_encode(boxes, labels, image_size, S=7, B=2, C=20)`: the target `(S, S, B * 5 + C)` of one
# image with `boxes (M, 4)` (pixels), int64 `labels (M,)`, `image_size = (H, W)`. The cell that
# contains a box's centre is responsible for it: column `j = floor(cx / W * S)`, row
# `i = floor(cy / H * S)`, both clamped to `[0, S - 1]` (a centre on the right edge belongs to the
# last cell). **All `B` slots** of that cell hold `(x, y, w, h, 1)` with `x = cx / W * S - j`,
# `y = cy / H * S - i`, and the class entries are one-hot; everything else is 0. One object per cell:
# when several centres fall into one cell, the **first** box (in input order) wins (YOLO v1's
# limitation). A loop over the boxes of the image is fine. Same device and dtype as `boxes`.

# %% nbgrader={"grade": false, "grade_id": "yolo_targets_impl", "locked": false, "schema_version": 3, "solution": true}
def yolo_encode(boxes, labels, image_size, S=7, B=2, C=20):
    '''boxes (M, 4) pixels, labels (M,) -> target (S, S, B * 5 + C).'''
    ### BEGIN SOLUTION
    H, W = image_size
    target = torch.zeros(S, S, B * 5 + C, dtype=boxes.dtype, device=boxes.device)
    for box, label in zip(boxes, labels):
        cx, cy = (box[0] + box[2]) / (2 * W) * S, (box[1] + box[3]) / (2 * H) * S   # in cell units
        j, i = min(max(int(cx), 0), S - 1), min(max(int(cy), 0), S - 1)
        if target[i, j, 4] > 0:
            continue                                                  # the cell already has its object
        slot = torch.stack([cx - j, cy - i, (box[2] - box[0]) / W, (box[3] - box[1]) / H, torch.ones_like(cx)])
        target[i, j, :B * 5] = slot.repeat(B)
        target[i, j, B * 5 + int(label)] = 1
    return target
    ### END SOLUTION


# %%
# Self-check: a 64 x 64 image, a 4 x 4 grid (16-pixel cells), two boxes in one cell.
t = yolo_encode(torch.tensor([[8.0, 20, 40, 44], [20, 34, 30, 40], [60, 0, 64, 4]]), torch.tensor([1, 0, 2]),
                (64, 64), S=4, B=2, C=3)
print(t[2, 1])
assert t.shape == (4, 4, 13)
assert torch.allclose(t[2, 1], torch.tensor([0.5, 0.0, 0.5, 0.375, 1, 0.5, 0.0, 0.5, 0.375, 1, 0, 1, 0])), t[2, 1]
assert torch.allclose(t[0, 3], torch.tensor([0.875, 0.125, 1 / 16, 1 / 16, 1] * 2 + [0, 0, 1.0]))
assert t[..., 4].sum() == 2, "the second box's centre (25, 37) falls into the first box's cell (row 2, column 1): the first box wins"
print("C1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_yolo_targets", "locked": true, "points": 8, "schema_version": 3, "solution": false}
# C1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from cnncourse.detection import yolo_encode as _ref_enc
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.grading.devices import available_devices as _devices

_rng = _np.random.default_rng(secret_seed(47))
_hints = {"values": "cell j = floor(cx / W * S), i = floor(cy / H * S) clamped to [0, S - 1]; all B slots hold "
                    "(cx/W*S - j, cy/H*S - i, w/W, h/H, 1); one-hot class; the FIRST box of a cell wins"}
for _dev in _devices():
    for _label, _m, (_H, _W), _S, _B, _C, _dt in [("VOC 7x7x30", int(_rng.integers(1, 8)), (448, 448), 7, 2, 20, _torch.float64),
                                                  ("non-square image", 6, (300, 500), 5, 3, 4, _torch.float32),
                                                  ("crowded: shared cells", 12, (64, 64), 2, 2, 3, _torch.float64),
                                                  ("no boxes", 0, (64, 64), 4, 2, 3, _torch.float32)]:
        _xy = _rng.uniform(0, 0.8, (_m, 2)) * [_W, _H]
        _b = _np.concatenate([_xy, _xy + _rng.uniform(0, 0.2, (_m, 2)) * [_W, _H]], 1)
        if _m > 2:
            _b[0] = [_W - 10, 0, _W, _H]                                # centre near the right edge
        _boxes = _torch.tensor(_b, dtype=_dt, device=_dev).reshape(-1, 4)
        _labels = _torch.tensor(_rng.integers(0, _C, _m), dtype=_torch.long, device=_dev)
        _got = call_student(yolo_encode, _boxes, _labels, (_H, _W), S=_S, B=_B, C=_C, forbidden=("a4_detection",), timeout=10)
        assert_array_close(_got, _ref_enc(_boxes, _labels, image_size=(_H, _W), S=_S, B=_B, C=_C),
                           name=f"yolo_encode({_m} boxes, image_size=({_H}, {_W}), S={_S}, B={_B}, C={_C}) [{_label}, {_dev}]", hints=_hints)
    _boxes = _torch.tensor([[40.0, 40, 64, 64]], device=_dev)                # centre (52, 52) in the last cell
    _got = call_student(yolo_encode, _boxes, _torch.tensor([1], device=_dev), (64, 64), S=2, B=1, C=2, forbidden=("a4_detection",), timeout=10)
    assert_array_close(_got, _ref_enc(_boxes, _torch.tensor([1], device=_dev), image_size=(64, 64), S=2, B=1, C=2),
                       name=f"yolo_encode of a box touching the bottom-right corner [{_dev}]", hints=_hints)
### END HIDDEN TESTS

# %% [markdown]
# ### C2. The YOLO loss (10 points)
#
# `yolo_loss(pred, target, B=2, C=20, lambda_coord=5.0, lambda_noobj=0.5, rescore=True)` on a batch
# `pred, target (N, S, S, B * 5 + C)` (targets from C1, stacked), the sum-squared loss of the paper,
# **summed over the grid and divided by N**:
#
# $$\lambda_{coord} \sum \mathbb{1}^{obj}_{ij}\big[(x-\hat x)^2 + (y-\hat y)^2 + (\sqrt w-\sqrt{\hat w})^2 + (\sqrt h-\sqrt{\hat h})^2\big]
#  + \sum \mathbb{1}^{obj}_{ij}(c-\hat c)^2 + \lambda_{noobj}\sum \mathbb{1}^{noobj}_{ij}\, c^2 + \sum_{i \in obj}\sum_{classes}(p-\hat p)^2$$
#
# - a cell has an object when its target confidence `target[..., 4] > 0`;
# - in such a cell the **responsible** slot `j` is the one whose predicted box has the highest IoU
#   with the target box (the first slot on ties); `1obj_ij` is 1 for it, `1noobj_ij = 1 - 1obj_ij`
#   for **every other slot**, in cells with and without objects;
# - the IoU in a cell: both boxes are centred at `(x / S, y / S)` (cell offsets, the cell's own
#   position cancels) with sizes `(w, h)` in image units; union `= |w h|` of the prediction `+ w h` of
#   the target `- intersection`, clamped below at `1e-12`; compute it under `torch.no_grad()`;
# - the confidence target `c^` is that (detached) IoU when `rescore=True` (the paper), else 1;
# - `sqrt v` is `sign(v) * sqrt(|v| + 1e-9)` (finite gradient at 0, a raw network may predict `w < 0`);
# - the class term only in cells with an object (all `C` entries).
#
# The loss must be differentiable in `pred` (you train with it in part E).

# %% nbgrader={"grade": false, "grade_id": "yolo_loss_impl", "locked": false, "schema_version": 3, "solution": true}
def signed_sqrt(v):
    '''sign(v) * sqrt(|v| + 1e-9).'''
    ### BEGIN SOLUTION
    return torch.sign(v) * torch.sqrt(v.abs() + 1e-9)
    ### END SOLUTION


def cell_iou(a, b, S):
    '''IoU of (..., 4) boxes (x, y, w, h) given in the same cell of an S x S grid.'''
    ### BEGIN SOLUTION
    def corners(t):
        cx, cy = t[..., 0] / S, t[..., 1] / S
        return cx - t[..., 2] / 2, cy - t[..., 3] / 2, cx + t[..., 2] / 2, cy + t[..., 3] / 2
    ax1, ay1, ax2, ay2 = corners(a)
    bx1, by1, bx2, by2 = corners(b)
    inter = (torch.minimum(ax2, bx2) - torch.maximum(ax1, bx1)).clamp(min=0) \
        * (torch.minimum(ay2, by2) - torch.maximum(ay1, by1)).clamp(min=0)
    union = (ax2 - ax1).abs() * (ay2 - ay1).abs() + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union.clamp(min=1e-12)
    ### END SOLUTION


def yolo_loss(pred, target, B=2, C=20, lambda_coord=5.0, lambda_noobj=0.5, rescore=True):
    '''pred, target (N, S, S, B * 5 + C) -> scalar loss (summed over the grid, averaged over N).'''
    ### BEGIN SOLUTION
    N, S = pred.shape[0], pred.shape[1]
    pb = pred[..., :B * 5].reshape(N, S, S, B, 5)                    # (N, S, S, B, 5)
    tb = target[..., None, 0:5]                                      # (N, S, S, 1, 5)
    obj = target[..., 4] > 0                                         # (N, S, S)
    with torch.no_grad():
        iou = cell_iou(pb[..., :4], tb[..., :4].expand_as(pb[..., :4]), S)   # (N, S, S, B)
        resp = nn.functional.one_hot(iou.argmax(dim=-1), B).bool() & obj[..., None]
    r = resp.to(pred.dtype)
    xy = ((pb[..., 0:2] - tb[..., 0:2]) ** 2).sum(-1)
    wh = ((signed_sqrt(pb[..., 2:4]) - signed_sqrt(tb[..., 2:4])) ** 2).sum(-1)
    conf_target = iou if rescore else torch.ones_like(iou)
    coord = lambda_coord * (r * (xy + wh)).sum()
    conf_obj = (r * (pb[..., 4] - conf_target) ** 2).sum()
    conf_noobj = lambda_noobj * ((1 - r) * pb[..., 4] ** 2).sum()
    cls = (obj[..., None].to(pred.dtype) * (pred[..., B * 5:] - target[..., B * 5:]) ** 2).sum()
    return (coord + conf_obj + conf_noobj + cls) / N
    ### END SOLUTION


# %%
# Self-check: a perfect prediction costs only the other slot's confidence; an empty image only lambda_noobj c^2.
tgt = yolo_encode(torch.tensor([[16.0, 16, 48, 40]]), torch.tensor([2]), (64, 64), S=2, B=2, C=3)[None]   # (1, 2, 2, 13)
perfect = tgt.clone()
perfect[..., 9] = 0.0                                              # slot 2's confidence 0
print(yolo_loss(perfect, tgt, B=2, C=3))
assert torch.allclose(yolo_loss(perfect, tgt, B=2, C=3), torch.tensor(0.0), atol=1e-6)
assert torch.allclose(yolo_loss(tgt, tgt, B=2, C=3), torch.tensor(0.5), atol=1e-6), "slot 2 is not responsible: 0.5 * 1^2"
empty = torch.zeros(1, 2, 2, 13)
guess = torch.full((1, 2, 2, 13), 0.5)
assert torch.allclose(yolo_loss(guess, empty, B=2, C=3), torch.tensor(0.5 * 8 * 0.25)), "8 slots, 0.5 * 0.5^2 each"
g = torch.rand(2, 2, 2, 13, requires_grad=True)
yolo_loss(g, tgt.repeat(2, 1, 1, 1), B=2, C=3).backward()
assert torch.isfinite(g.grad).all()
print("C2 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_yolo_loss", "locked": true, "points": 10, "schema_version": 3, "solution": false}
# C2 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from cnncourse.detection import yolo_encode as _ref_enc
from cnncourse.detection import yolo_loss as _ref_loss
from cnncourse.grading import assert_array_close, call_student, check_scalar, secret_seed
from cnncourse.grading.devices import available_devices as _devices

_rng = _np.random.default_rng(secret_seed(48))
_hints = {"values": "lambda_coord * responsible [(x - x^)^2 + (y - y^)^2 + (sqrt w - sqrt w^)^2 + (sqrt h - sqrt h^)^2] "
                    "+ responsible (c - IoU)^2 + lambda_noobj * every other slot c^2 + object cells (p - p^)^2, summed, / N; "
                    "the responsible slot has the highest IoU with the target (first on ties)"}


def _batch(rng, n, S, B, C, dt, dev, H=64):
    ts = []
    for _ in range(n):
        m = int(rng.integers(0, 5))
        xy = rng.uniform(0, 0.8, (m, 2)) * H
        b = _torch.tensor(_np.concatenate([xy, xy + rng.uniform(1, 0.2 * H, (m, 2))], 1), dtype=dt).reshape(-1, 4)
        ts.append(_ref_enc(b, _torch.tensor(rng.integers(0, C, m)), image_size=(H, H), S=S, B=B, C=C))
    t = _torch.stack(ts).to(dev)
    p = _torch.tensor(rng.uniform(-0.1, 1, tuple(t.shape)), dtype=dt, device=dev)
    return p, t


for _dev in _devices():
    for _label, _n, _S, _B, _C, _dt, _kw in [("default lambdas", int(_rng.integers(2, 6)), 4, 2, 3, _torch.float64, {}),
                                             ("B = 3, float32", 3, 5, 3, 4, _torch.float32, {}),
                                             ("other lambdas", 4, 3, 2, 2, _torch.float64, {"lambda_coord": 2.0, "lambda_noobj": 0.1}),
                                             ("rescore=False", 4, 4, 2, 3, _torch.float64, {"rescore": False}),
                                             ("B = 1", 2, 4, 1, 3, _torch.float64, {})]:
        _p, _t = _batch(_rng, _n, _S, _B, _C, _dt, _dev)
        _what = f"yolo_loss(pred {tuple(_p.shape)}, B={_B}, C={_C}, {_kw}) [{_label}, {_dev}]".replace("{}", "defaults")
        _got = call_student(yolo_loss, _p, _t, B=_B, C=_C, **_kw, forbidden=("a4_detection",), timeout=10)
        _want = _ref_loss(_p, _t, B=_B, C=_C, **_kw)
        assert isinstance(_got, _torch.Tensor) and _got.numel() == 1, f"{_what}: expected a scalar tensor, got {type(_got).__name__}"
        check_scalar(float(_got.reshape(-1)[0]), float(_want), name=_what, rtol=1e-5, atol=1e-6, hints=_hints)
    # the empty image: only the no-object term
    _t = _torch.zeros(2, 3, 3, 13, dtype=_torch.float64, device=_dev)
    _p = _torch.tensor(_rng.uniform(0, 1, (2, 3, 3, 13)), device=_dev)
    check_scalar(float(call_student(yolo_loss, _p, _t, B=2, C=3, forbidden=("a4_detection",), timeout=10).reshape(-1)[0]),
                 float(_ref_loss(_p, _t, B=2, C=3)), name=f"yolo_loss on images without objects [{_dev}]", rtol=1e-6,
                 hints={"values": "without objects only lambda_noobj * sum of every slot's confidence^2, divided by N"})
### END HIDDEN TESTS

# %% [markdown]
# ### C3. Decoding the grid into detections (7 points)
#
# `decode_detections(pred, image_size, B, C, score_threshold=0.01, iou_threshold=0.5, max_detections=100)`
# turns a batch of network outputs `pred (N, S, S, B * 5 + C)` into one dict per image
# `{"boxes": (K, 4), "scores": (K,), "labels": int64 (K,)}`:
#
# 1. every slot `b` of cell `(i, j)` is a box with centre `((j + x) / S * W, (i + y) / S * H)` and
#    size `(w * W, h * H)`, in pixels; its corners ordered with `torch.minimum`/`torch.maximum` (a raw
#    prediction may have `w < 0`) and clipped to the image (`0 <= x <= W`, `0 <= y <= H`);
# 2. its class-specific scores are `confidence * P(class)` (YOLO's test-time score); the box gets the
#    class of the highest score (first on ties, `max(dim=-1)`) and that score;
# 3. keep the boxes with score `>= score_threshold`, apply **your** class-aware `batched_nms`, keep the
#    first `max_detections`. Boxes ordered by row, column, then slot before step 3.
#
# Results on `pred`'s device.

# %% nbgrader={"grade": false, "grade_id": "decode_impl", "locked": false, "schema_version": 3, "solution": true}
def decode_detections(pred, image_size, B, C, score_threshold=0.01, iou_threshold=0.5, max_detections=100):
    '''pred (N, S, S, B * 5 + C) -> N dicts {"boxes" (K, 4), "scores" (K,), "labels" (K,) int64}.'''
    ### BEGIN SOLUTION
    H, W = image_size
    N, S = pred.shape[0], pred.shape[1]
    box = pred[..., :B * 5].reshape(N, S, S, B, 5)
    ar = torch.arange(S, dtype=pred.dtype, device=pred.device)
    cx = (box[..., 0] + ar[None, None, :, None]) / S * W           # column j
    cy = (box[..., 1] + ar[None, :, None, None]) / S * H           # row i
    bw, bh = box[..., 2] * W, box[..., 3] * H
    corners = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], dim=-1).reshape(N, -1, 4)
    lo, hi = torch.minimum(corners[..., :2], corners[..., 2:]), torch.maximum(corners[..., :2], corners[..., 2:])
    size = torch.tensor([W, H, W, H], dtype=pred.dtype, device=pred.device)
    boxes = torch.minimum(torch.cat([lo, hi], dim=-1).clamp(min=0), size)
    probs = pred[..., B * 5:][..., None, :].expand(N, S, S, B, C)
    scores, labels = (box[..., 4:5] * probs).reshape(N, -1, C).max(dim=-1)
    out = []
    for b, s, l in zip(boxes, scores, labels):
        keep = s >= score_threshold
        b, s, l = b[keep], s[keep], l[keep]
        k = batched_nms(b, s, l, iou_threshold)[:max_detections]
        out.append({"boxes": b[k], "scores": s[k], "labels": l[k]})
    return out
    ### END SOLUTION


# %%
# Self-check: the target of C1 decodes back to its boxes (confidence 1, probability 1).
boxes_in = torch.tensor([[8.0, 20, 40, 44], [60, 0, 64, 4]])
tgt = yolo_encode(boxes_in, torch.tensor([1, 2]), (64, 64), S=4, B=2, C=3)
det = decode_detections(tgt[None], (64, 64), B=2, C=3)[0]
print(det)
# equal scores: the row-major order of the cells (row 0 before row 2)
assert torch.allclose(det["boxes"], boxes_in.flip(0)) and det["labels"].tolist() == [2, 1] and det["scores"].tolist() == [1.0, 1.0], det
assert len(decode_detections(torch.zeros(3, 4, 4, 13), (64, 64), B=2, C=3)) == 3
print("C3 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_decode", "locked": true, "points": 7, "schema_version": 3, "solution": false}
# C3 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from cnncourse.detection import batched_nms as _ref_bnms
from cnncourse.detection import clip_boxes as _ref_clip
from cnncourse.detection import yolo_decode as _ref_dec
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.grading.devices import available_devices as _devices


def _reference(pred, image_size, B, C, score_threshold, iou_threshold, max_detections):
    boxes, _, cs = _ref_dec(pred, image_size=image_size, B=B, C=C)
    scores, labels = cs.max(dim=-1)
    lo, hi = _torch.minimum(boxes[..., :2], boxes[..., 2:]), _torch.maximum(boxes[..., :2], boxes[..., 2:])
    boxes = _ref_clip(_torch.cat([lo, hi], dim=-1), image_size)
    out = []
    for b, s, l in zip(boxes, scores, labels):
        keep = s >= score_threshold
        k = _ref_bnms(b[keep], s[keep], l[keep], iou_threshold)[:max_detections]
        out.append({"boxes": b[keep][k], "scores": s[keep][k], "labels": l[keep][k]})
    return out


_rng = _np.random.default_rng(secret_seed(49))
_hints = {"values": "centre ((j + x) / S * W, (i + y) / S * H) for row i, column j; size (w W, h H); corners ordered and clipped; "
                    "score = max over classes of confidence * P(class); threshold, then your batched_nms, then max_detections"}
for _dev in _devices():
    for _label, _n, (_H, _W), _S, _B, _C, _kw in [("random", 3, (64, 64), 4, 2, 3, {}),
                                                  ("non-square image, B = 3", 2, (48, 96), 3, 3, 2, {"score_threshold": 0.2}),
                                                  ("few detections kept", 2, (64, 64), 4, 2, 3, {"max_detections": 3, "iou_threshold": 0.3})]:
        _p = _torch.tensor(_rng.uniform(-0.2, 1.1, (_n, _S, _S, _B * 5 + _C)), device=_dev)
        _p[..., _B * 5:] = _p[..., _B * 5:].softmax(-1)
        _args = {"score_threshold": 0.01, "iou_threshold": 0.5, "max_detections": 100, **_kw}
        _got = call_student(decode_detections, _p, (_H, _W), _B, _C, **_kw, forbidden=("a4_detection",), timeout=20)
        _want = _reference(_p, (_H, _W), _B, _C, **_args)
        assert isinstance(_got, (list, tuple)) and len(_got) == _n, f"decode_detections: expected a list of {_n} dicts, got {type(_got).__name__}"
        for _k, (_g, _w) in enumerate(zip(_got, _want)):
            assert isinstance(_g, dict) and {"boxes", "scores", "labels"} <= set(_g), f"image {_k}: expected a dict with boxes, scores, labels"
            for _key in ("boxes", "scores", "labels"):
                assert_array_close(_g[_key], _w[_key], name=f"decode_detections(pred {tuple(_p.shape)}, image_size=({_H}, {_W}), "
                                   f"B={_B}, C={_C}, {_kw})[{_k}]['{_key}'] [{_label}, {_dev}]".replace("{}", "defaults"), hints=_hints)
### END HIDDEN TESTS

# %% [markdown]
# ## Part D — Evaluation: VOC matching, AP and mAP
#
# ### D1. Matching detections to the ground truth (6 points)
#
# `match_detections(boxes, scores, gt_boxes, iou_threshold=0.5)` judges the detections of **one image
# and one class** as the VOC devkit does: visit the detections by decreasing score (stable: ties in
# input order); each finds the ground-truth box of **highest IoU** (the first on ties); it is a true
# positive if that IoU is `>= iou_threshold` (and `> 0`) **and** that box is not yet taken (then it
# takes it), otherwise a false positive. A detection whose best box is taken does **not** fall back to
# its second best. Return a bool tensor `(K,)` in the **input order** of the detections. Use your
# `box_iou` once; the visit may loop.

# %% nbgrader={"grade": false, "grade_id": "match_impl", "locked": false, "schema_version": 3, "solution": true}
def match_detections(boxes, scores, gt_boxes, iou_threshold=0.5):
    '''boxes (K, 4), scores (K,), gt_boxes (M, 4) -> is_tp (K,) bool, in input order.'''
    ### BEGIN SOLUTION
    k, m = boxes.shape[0], gt_boxes.shape[0]
    is_tp = torch.zeros(k, dtype=torch.bool, device=boxes.device)
    if k == 0 or m == 0:
        return is_tp
    order = torch.sort(scores, descending=True, stable=True).indices
    best, j = box_iou(boxes[order], gt_boxes.to(boxes.dtype)).max(dim=1)
    taken = [False] * m
    for d in range(k):
        if best[d] >= iou_threshold and best[d] > 0 and not taken[int(j[d])]:
            taken[int(j[d])] = True
            is_tp[order[d]] = True
    return is_tp
    ### END SOLUTION


# %%
# Self-check: two detections of one object (the second is a false positive), a miss, a tie.
gtb = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]])
dets = torch.tensor([[1.0, 1, 10, 10], [0, 0, 10, 10], [40, 40, 50, 50], [20, 20, 31, 30]])
tp = match_detections(dets, torch.tensor([0.6, 0.9, 0.8, 0.5]), gtb)
print(tp)
assert tp.tolist() == [False, True, False, True], tp
assert match_detections(dets[:2], torch.tensor([0.5, 0.5]), gtb).tolist() == [True, False], "ties: input order"
assert match_detections(dets, torch.ones(4), torch.zeros(0, 4)).tolist() == [False] * 4
print("D1 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_match_detections", "locked": true, "points": 6, "schema_version": 3, "solution": false}
# D1 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from cnncourse.detection import match_detections as _ref_match
from cnncourse.grading import assert_array_close, call_student, secret_seed
from cnncourse.grading.devices import available_devices as _devices

_rng = _np.random.default_rng(secret_seed(50))
_hints = {"values": "by decreasing score (stable), each detection takes its best-IoU ground-truth box if IoU >= threshold "
                    "and the box is free; no fallback to the second best; return the flags in input order",
          "dtype": "return a bool tensor"}
for _dev in _devices():
    for _label, _k, _m, _thr, _dt in [("random", int(_rng.integers(5, 25)), int(_rng.integers(1, 6)), 0.5, _torch.float64),
                                      ("duplicates and ties", 12, 3, 0.5, _torch.float32), ("threshold 0.75", 15, 4, 0.75, _torch.float64),
                                      ("no ground truth", 5, 0, 0.5, _torch.float64), ("no detections", 0, 3, 0.5, _torch.float64)]:
        _xy = _rng.uniform(0, 50, (_m, 2))
        _g = _np.concatenate([_xy, _xy + _rng.uniform(5, 20, (_m, 2))], 1)
        _d = _g[_rng.integers(0, max(_m, 1), _k)] if _m else _rng.uniform(0, 50, (_k, 4)).cumsum(1)
        _d = _d + _rng.normal(0, 2.5, (_k, 4))
        _d = _np.concatenate([_np.minimum(_d[:, :2], _d[:, 2:]), _np.maximum(_d[:, :2], _d[:, 2:])], 1)
        _s = _rng.integers(0, 4, _k) / 4 if "ties" in _label else _rng.random(_k)
        _b, _gt = _torch.tensor(_d, dtype=_dt, device=_dev).reshape(-1, 4), _torch.tensor(_g, dtype=_dt, device=_dev).reshape(-1, 4)
        _sc = _torch.tensor(_s, dtype=_dt, device=_dev)
        _got = call_student(match_detections, _b, _sc, _gt, iou_threshold=_thr, forbidden=("a4_detection",), timeout=10)
        assert_array_close(_got, _ref_match(_b, _sc, _gt, iou_threshold=_thr), name=f"match_detections({_k} detections, {_m} "
                           f"ground-truth boxes, iou_threshold={_thr}) [{_label}, {_dev}]", hints=_hints, exact_dtype=True)
    # the taken box: the second detection of the same object is a false positive, even if a free box overlaps it less
    _gt = _torch.tensor([[0.0, 0, 10, 10], [4, 0, 14, 10]], device=_dev)
    _b = _torch.tensor([[0.0, 0, 10, 10], [1, 0, 11, 10]], device=_dev)
    _got = call_student(match_detections, _b, _torch.tensor([0.9, 0.8], device=_dev), _gt, forbidden=("a4_detection",), timeout=10)
    assert_array_close(_got, _torch.tensor([True, False], device=_dev), name=f"match_detections when the best box is taken [{_dev}]",
                       hints={"values": "VOC: a detection whose best ground-truth box is already taken is a false positive "
                                        "(it does not fall back to its second-best box)"})
### END HIDDEN TESTS

# %% [markdown]
# ### D2. Average precision (5 points)
#
# `average_precision(scores, is_tp, num_gt, use_07_metric=False)` for one class: sort the detections
# by decreasing score (stable), accumulate true and false positives, `precision = tp / (tp + fp)`,
# `recall = tp / num_gt` (`num_gt >= 1`). Then (lecture 7):
#
# - `use_07_metric=False` (VOC2010+): pad recall with 0 in front and 1 at the end, precision with 0 at
#   both ends, replace each precision by the **maximum precision to its right** (the envelope), and sum
#   `(r[i + 1] - r[i]) * p[i + 1]` over the points where recall changes;
# - `use_07_metric=True` (VOC2007): the mean over `t = 0, 0.1, ..., 1` of the maximum precision at
#   recall `>= t` (0 when no recall reaches `t`). Use `np.arange(0.0, 1.1, 0.1)` for the 11 points.
#
# Return a Python `float`. No detections: AP 0.

# %% nbgrader={"grade": false, "grade_id": "ap_impl", "locked": false, "schema_version": 3, "solution": true}
def average_precision(scores, is_tp, num_gt, use_07_metric=False):
    '''scores (K,), is_tp (K,) bool, num_gt >= 1 -> VOC AP (float).'''
    ### BEGIN SOLUTION
    order = torch.sort(scores, descending=True, stable=True).indices
    tp = is_tp[order].double().cumsum(0)
    fp = (~is_tp[order]).double().cumsum(0)
    recall = tp / num_gt
    precision = tp / (tp + fp).clamp(min=np.finfo(np.float64).eps)
    if use_07_metric:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            reach = recall >= t
            ap += float(precision[reach].max()) if bool(reach.any()) else 0.0
        return ap / 11
    mrec = torch.cat([torch.zeros(1, dtype=recall.dtype, device=recall.device), recall, torch.ones(1, dtype=recall.dtype, device=recall.device)])
    mpre = torch.cat([torch.zeros(1, dtype=recall.dtype, device=recall.device), precision, torch.zeros(1, dtype=recall.dtype, device=recall.device)])
    mpre = mpre.flip(0).cummax(0).values.flip(0)
    step = mrec[1:] != mrec[:-1]
    return float(((mrec[1:] - mrec[:-1]) * mpre[1:] * step).sum())
    ### END SOLUTION


# %%
# Self-check: TP, FP, TP with 3 objects: precision 1, 1/2, 2/3 at recall 1/3, 1/3, 2/3.
s = torch.tensor([0.9, 0.8, 0.7])
t = torch.tensor([True, False, True])
print(average_precision(s, t, 3), average_precision(s, t, 3, use_07_metric=True))
assert abs(average_precision(s, t, 3) - (1 / 3 * 1 + 1 / 3 * 2 / 3)) < 1e-12
assert abs(average_precision(s, t, 3, use_07_metric=True) - (4 * 1 + 3 * 2 / 3) / 11) < 1e-12
assert average_precision(torch.zeros(0), torch.zeros(0, dtype=torch.bool), 2) == 0.0
print("D2 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_average_precision", "locked": true, "points": 5, "schema_version": 3, "solution": false}
# D2 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from cnncourse.detection import precision_recall as _ref_pr
from cnncourse.detection import voc_ap as _ref_ap
from cnncourse.grading import call_student, check_scalar, secret_seed
from cnncourse.grading.devices import available_devices as _devices

_rng = _np.random.default_rng(secret_seed(51))
_hints = {"values": "precision = tp / (tp + fp), recall = tp / num_gt by decreasing score; all-point AP: area under the "
                    "precision envelope (max precision to the right) with (0, 0) and (1, 0) padding; 07: mean of 11 max precisions"}
for _dev in _devices():
    for _label, _k, _ngt in [("random", int(_rng.integers(5, 40)), int(_rng.integers(3, 30))), ("tied scores", 20, 10),
                             ("all true positives", 6, 6), ("all false positives", 5, 4), ("no detections", 0, 3), ("one detection", 1, 1)]:
        _s = _rng.integers(0, 3, _k) / 3 if "tied" in _label else _rng.random(_k)
        _t = _rng.random(_k) < 0.6
        _t = _np.ones(_k, bool) if "all true" in _label else (_np.zeros(_k, bool) if "all false" in _label else _t)
        _t[_np.cumsum(_t) > _ngt] = False                       # never more true positives than objects
        _sc, _tp = _torch.tensor(_s, device=_dev), _torch.tensor(_t, device=_dev)
        _p, _r = _ref_pr(_sc, _tp, _ngt)
        for _07 in (False, True):
            _got = call_student(average_precision, _sc, _tp, _ngt, use_07_metric=_07, forbidden=("a4_detection",), timeout=10)
            check_scalar(_got, float(_ref_ap(_r, _p, use_07_metric=_07)), name=f"average_precision({_k} detections, num_gt={_ngt}, "
                         f"use_07_metric={_07}) [{_label}, {_dev}]", rtol=1e-9, atol=1e-12, hints=_hints)
### END HIDDEN TESTS

# %% [markdown]
# ### D3. mAP over a data set (6 points)
#
# `mean_average_precision(predictions, ground_truths, num_classes, iou_threshold=0.5)`: predictions and
# ground truths are lists with one dict per image (`{"boxes", "scores", "labels"}` and
# `{"boxes", "labels"}`, the layout of torchvision's detectors). For each class `c`: in every image,
# match the detections of class `c` against the ground-truth boxes of class `c` (**your**
# `match_detections`), pool the scores and flags of all images, count the ground-truth boxes, and
# compute **your** `average_precision` (all-point). Return `(ap, mAP)`: `ap` a float64 tensor
# `(num_classes,)` with **NaN for a class without ground truth**, and `mAP` (float) the mean over the
# classes that have ground truth (NaN if none has). Work on the CPU in float64.

# %% nbgrader={"grade": false, "grade_id": "map_impl", "locked": false, "schema_version": 3, "solution": true}
def mean_average_precision(predictions, ground_truths, num_classes, iou_threshold=0.5):
    '''Lists of per-image dicts -> (ap (num_classes,) float64 with NaN for absent classes, mAP float).'''
    ### BEGIN SOLUTION
    ap = torch.full((num_classes,), float("nan"), dtype=torch.float64)
    for c in range(num_classes):
        scores, flags, num_gt = [], [], 0
        for pred, gt in zip(predictions, ground_truths):
            sel, gsel = pred["labels"].cpu() == c, gt["labels"].cpu() == c
            num_gt += int(gsel.sum())
            b, s = pred["boxes"].cpu().double()[sel], pred["scores"].cpu().double()[sel]
            scores.append(s)
            flags.append(match_detections(b, s, gt["boxes"].cpu().double()[gsel], iou_threshold))
        if num_gt > 0:
            ap[c] = average_precision(torch.cat(scores), torch.cat(flags), num_gt)
    valid = ~torch.isnan(ap)
    return ap, float(ap[valid].mean()) if bool(valid.any()) else float("nan")
    ### END SOLUTION


# %%
# Self-check: two images, class 0 found once of twice, class 1 perfect, class 2 absent.
preds = [{"boxes": torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]]), "scores": torch.tensor([0.9, 0.8]), "labels": torch.tensor([0, 1])},
         {"boxes": torch.tensor([[50.0, 50, 60, 60]]), "scores": torch.tensor([0.7]), "labels": torch.tensor([0])}]
gts = [{"boxes": torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]]), "labels": torch.tensor([0, 1])},
       {"boxes": torch.tensor([[0.0, 0, 5, 5]]), "labels": torch.tensor([0])}]
ap, m = mean_average_precision(preds, gts, 3)
print(ap, m)
assert torch.allclose(ap[:2], torch.tensor([0.5, 1.0], dtype=torch.float64)) and torch.isnan(ap[2]) and abs(m - 0.75) < 1e-12
print("D3 self-check passed")

# %% nbgrader={"grade": true, "grade_id": "test_mean_ap", "locked": true, "points": 6, "schema_version": 3, "solution": false}
# D3 tests (hidden tests run at grading time)
### BEGIN HIDDEN TESTS
import math as _math

import numpy as _np
import torch as _torch
from cnncourse.detection import evaluate_voc as _ref_voc
from cnncourse.grading import assert_array_close, call_student, check_scalar, secret_seed

_rng = _np.random.default_rng(secret_seed(52))
_hints = {"values": "per class: match each image's detections of that class with its ground truth of that class, pool "
                    "all images, AP (all-point); NaN for a class without ground truth, mAP = mean over the other classes"}
for _label, _n, _ncls, _thr in [("random", int(_rng.integers(3, 8)), 3, 0.5), ("a class never present", 5, 4, 0.5),
                                ("IoU 0.7", 4, 2, 0.7)]:
    _preds, _gts = [], []
    for _i in range(_n):
        _m = int(_rng.integers(0, 4))
        _xy = _rng.uniform(0, 50, (_m, 2))
        _g = _np.concatenate([_xy, _xy + _rng.uniform(5, 20, (_m, 2))], 1)
        _gl = _rng.integers(0, min(_ncls, 3), _m)
        _k = int(_rng.integers(0, 6))
        _src = _rng.integers(0, max(_m, 1), _k)
        _d = (_g[_src] if _m else _rng.uniform(0, 50, (_k, 4)).cumsum(1)) + _rng.normal(0, 2, (_k, 4))
        _d = _np.concatenate([_np.minimum(_d[:, :2], _d[:, 2:]), _np.maximum(_d[:, :2], _d[:, 2:])], 1)
        _dl = _np.where(_rng.random(_k) < 0.8, _gl[_src] if _m else 0, _rng.integers(0, _ncls, _k))
        _preds.append({"boxes": _torch.tensor(_d, dtype=_torch.float32).reshape(-1, 4), "scores": _torch.tensor(_rng.random(_k), dtype=_torch.float32),
                       "labels": _torch.tensor(_dl, dtype=_torch.long)})
        _gts.append({"boxes": _torch.tensor(_g, dtype=_torch.float32).reshape(-1, 4), "labels": _torch.tensor(_gl, dtype=_torch.long)})
    _want = _ref_voc(_preds, _gts, num_classes=_ncls, iou_threshold=_thr)
    _got = call_student(mean_average_precision, _preds, _gts, _ncls, iou_threshold=_thr, forbidden=("a4_detection",), timeout=20)
    assert isinstance(_got, (tuple, list)) and len(_got) == 2, f"mean_average_precision must return (ap, mAP), got {type(_got).__name__}"
    _what = f"mean_average_precision({_n} images, num_classes={_ncls}, iou_threshold={_thr}) [{_label}]"
    assert_array_close(_got[0], _want.ap, name=_what + "[0] (per-class AP)", hints=_hints)
    if _math.isnan(_want.mAP):
        assert _math.isnan(float(_got[1])), f"{_what}: mAP should be NaN without any ground truth"
    else:
        check_scalar(_got[1], _want.mAP, name=_what + "[1] (mAP)", rtol=1e-9, atol=1e-12, hints=_hints)
### END HIDDEN TESTS

# %% [markdown]
# ## Part E — A tiny YOLO on the shapes
#
# The data: `cnncourse.data.ShapesDataset`, 64 x 64 images of up to three coloured shapes (classes
# 0 = circle, 1 = square, 2 = triangle) with their boxes. You train on 2000 images and check on 300
# others; the grader measures your detector on images it generates itself.

# %%
from cnncourse.data import ShapesDataset
from cnncourse.data.shapes import SHAPE_CLASSES
from cnncourse.detection import show_detections

S_GRID, B_BOXES, N_CLASSES, IMAGE_SIZE = 8, 2, 3, (64, 64)


def load_shapes(n, seed):
    '''n ShapesDataset images (n, 3, 64, 64) and their ground truths (list of dicts).'''
    batch = ShapesDataset(n, seed=seed).batch(list(range(n)))
    gts = [{"boxes": torch.as_tensor(np.asarray(b, dtype=np.float32)).reshape(-1, 4),
            "labels": torch.as_tensor(np.asarray(l, dtype=np.int64))} for b, l in zip(batch["boxes"], batch["labels"])]
    return torch.as_tensor(batch["images"]), gts


x_train, gt_train = load_shapes(2000, seed=0)
x_test, gt_test = load_shapes(300, seed=1)
y_train = torch.stack([yolo_encode(g["boxes"], g["labels"], IMAGE_SIZE, S=S_GRID, B=B_BOXES, C=N_CLASSES) for g in gt_train])
print(f"train {tuple(x_train.shape)}, targets {tuple(y_train.shape)}, test {tuple(x_test.shape)}, classes {SHAPE_CLASSES}")

# %% [markdown]
# ### E1. Your detector, graded on held-out images (15 points)
#
# 1. Write a small fully convolutional network `TinyDetector` mapping images `(N, 3, 64, 64)` to a
#    YOLO grid `(N, 8, 8, B * 5 + C)` with `B = 2`, `C = 3`: e.g. five `3x3 conv -> BatchNorm ->
#    LeakyReLU(0.1)` blocks, three of them with stride 2 (64 / 8 = 8 cells), widths 16-32-64-64-64, and a
#    `1x1` convolution to `B * 5 + C` channels, permuted to channels last. Squash the box entries and
#    confidences with a sigmoid and the class entries with a softmax; starting the confidence biases at
#    -4 (most cells are empty) makes the short training converge much faster.
# 2. `detect(images)`: run your trained `model` in **evaluation mode** without gradients on images
#    `(N, 3, 64, 64)` and return `decode_detections(...)` of its output (your C3), on the CPU.
# 3. In the next cell, train `model` with **your** `yolo_loss` (`B = 2, C = 3`) and Adam, seeded
#    (`torch.manual_seed`) so that a rerun gives the same detector. Budget: the grader re-runs your
#    notebook, so at most about a minute of CPU (the solution: 8 epochs of 2000 images, batches of 64,
#    Adam with a one-cycle learning rate peaking at 1e-2, about 20-30 s on one core). The cell leaves
#    behind the trained `model`, `history` (the loss of every step) and `train_seconds`.
#
# **How it is graded.** The grader generates **new shapes images** from a seed that only it knows,
# calls your `detect` on them and computes the **VOC mAP@0.5** with the library's evaluation; it
# must be **>= 0.8** (the solution reaches about 0.95). While `detect` runs, the library's `TinyYOLO`,
# `predict` and the detection references are refused.

# %% nbgrader={"grade": false, "grade_id": "detector_impl", "locked": false, "schema_version": 3, "solution": true}
class TinyDetector(nn.Module):
    '''(N, 3, H, H) images -> (N, H / 8, H / 8, B * 5 + C) YOLO grid (sigmoid boxes/confidences, softmax classes).'''

    def __init__(self, B=2, C=3, width=16):
        super().__init__()
        self.B, self.C = B, C
        ### BEGIN SOLUTION
        def block(cin, cout, stride):
            return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1)]

        w = width
        self.features = nn.Sequential(*block(3, w, 2), *block(w, 2 * w, 2), *block(2 * w, 4 * w, 2),
                                      *block(4 * w, 4 * w, 1), *block(4 * w, 4 * w, 1))
        self.head = nn.Conv2d(4 * w, B * 5 + C, 1)
        with torch.no_grad():
            self.head.bias.zero_()
            self.head.bias[4:B * 5:5] = -4.0
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        y = self.head(self.features(x)).permute(0, 2, 3, 1)          # (N, S, S, B*5+C)
        nb = self.B * 5
        return torch.cat([torch.sigmoid(y[..., :nb]), torch.softmax(y[..., nb:], dim=-1)], dim=-1)
        ### END SOLUTION


def detect(images):
    '''images (N, 3, 64, 64) -> N dicts {"boxes", "scores", "labels"} of the trained `model`, on the CPU.'''
    ### BEGIN SOLUTION
    x = torch.as_tensor(images, dtype=torch.float32)
    dev = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + 256].to(dev)) for i in range(0, x.shape[0], 256)])
    dets = decode_detections(pred, tuple(x.shape[-2:]), B=model.B, C=model.C)
    return [{k: v.cpu() for k, v in d.items()} for d in dets]
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "train_impl", "locked": false, "schema_version": 3, "solution": true}
### BEGIN SOLUTION
def train(model, images, targets, *, epochs=8, batch_size=64, max_lr=1e-2, seed=0):
    '''Adam with a one-cycle learning rate on your yolo_loss; returns the loss of every step.'''
    torch.manual_seed(seed)
    dev = next(model.parameters()).device
    steps = epochs * math.ceil(images.shape[0] / batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=max_lr / 25)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=steps)
    model.train()
    losses = []
    for _ in range(epochs):
        perm = torch.randperm(images.shape[0])
        for i in range(0, images.shape[0], batch_size):
            idx = perm[i:i + batch_size]
            loss = yolo_loss(model(images[idx].to(dev)), targets[idx].to(dev), B=model.B, C=model.C)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
    model.eval()
    return losses


torch.manual_seed(0)
model = TinyDetector(B=B_BOXES, C=N_CLASSES).to(device)
t0 = time.perf_counter()
history = train(model, x_train, y_train, epochs=8)
train_seconds = time.perf_counter() - t0
### END SOLUTION

# %%
dets_test = detect(x_test)
ap_test, map_test = mean_average_precision(dets_test, gt_test, N_CLASSES)
print(f"trained in {train_seconds:.1f} s; loss {np.mean(history[:10]):.2f} -> {np.mean(history[-10:]):.2f}")
print(f"held-out mAP@0.5 = {map_test:.3f}; AP per class: " + ", ".join(f"{n} {a:.3f}" for n, a in zip(SHAPE_CLASSES, ap_test.tolist())))
plt.figure(figsize=(6, 3))
plt.plot(history, label="YOLO loss per step")
plt.xlabel("step")
plt.ylabel("loss")
plt.yscale("log")
plt.legend()
plt.show()
show_detections(x_test[:8], dets_test[:8], gt_test[:8], class_names=SHAPE_CLASSES, score_threshold=0.3)
plt.show()

# %% nbgrader={"grade": true, "grade_id": "test_detector_map", "locked": true, "points": 15, "schema_version": 3, "solution": false}
# E1 tests (hidden tests run at grading time): mAP@0.5 >= 0.8 on images generated by the grader
### BEGIN HIDDEN TESTS
import numpy as _np
import torch as _torch
from cnncourse.data import ShapesDataset as _ShapesDataset
from cnncourse.detection import evaluate_voc as _ref_voc
from cnncourse.grading import call_student, secret_seed

_n = 300
_batch = _ShapesDataset(_n, seed=secret_seed(91) % (2 ** 31) + 2).batch(list(range(_n)))
_gts = [{"boxes": _torch.as_tensor(_np.asarray(_b, dtype=_np.float32)).reshape(-1, 4), "labels": _torch.as_tensor(_np.asarray(_l, dtype=_np.int64))}
        for _b, _l in zip(_batch["boxes"], _batch["labels"])]
_dets = call_student(detect, _torch.as_tensor(_batch["images"]), forbidden=("a4_detection",), timeout=120)
assert isinstance(_dets, (list, tuple)) and len(_dets) == _n, \
    f"detect(images of shape {_batch['images'].shape}) must return a list of {_n} dicts, got {type(_dets).__name__}"
for _k, _d in enumerate(_dets):
    assert isinstance(_d, dict) and {"boxes", "scores", "labels"} <= set(_d), f"detect(...)[{_k}]: expected a dict with boxes, scores, labels"
    for _key in ("boxes", "scores", "labels"):
        assert isinstance(_d[_key], _torch.Tensor), f"detect(...)[{_k}]['{_key}'] must be a tensor, got {type(_d[_key]).__name__}"
    assert _torch.isfinite(_d["boxes"]).all() and _torch.isfinite(_d["scores"]).all(), \
        f"detect(...)[{_k}] has NaN/inf boxes or scores: did the training diverge?"
_dets = [{"boxes": _d["boxes"].detach().cpu().float().reshape(-1, 4), "scores": _d["scores"].detach().cpu().float().reshape(-1),
          "labels": _d["labels"].detach().cpu().long().reshape(-1)} for _d in _dets]
_map = _ref_voc(_dets, _gts, num_classes=3).mAP
print(f"mAP@0.5 on {_n} shapes images the detector never saw: {_map:.4f}")
assert _map >= 0.8, (f"VOC mAP@0.5 {_map:.4f} on new shapes images, expected >= 0.8: check the loss and the decoding, train longer, "
                     "and make sure detect uses eval mode")
### END HIDDEN TESTS

# %% [markdown]
# **Before you submit:** Kernel → Restart & Run All, and check that every self-check prints "passed".
