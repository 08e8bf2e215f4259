"""Box ops, NMS and RoI ops on degenerate inputs: torchvision.ops as an independent oracle, when it
loads, and slow loop twins that always run (zero-area and identical boxes, score ties, empty
inputs, boxes partly or wholly outside the image or feature map)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _torchvision import roi_align_oracle, torchvision_or_skip

from cnncourse.detection import (batched_nms, box_area, box_convert, box_iou, clip_boxes,
                                 generalized_box_iou, nms, roi_align, roi_pool)


def iou_loop(a, b):
    """IoU of every pair by the definition, 0 for an empty union."""
    out = np.zeros((len(a), len(b)))
    for i, (x1, y1, x2, y2) in enumerate(a):
        for j, (u1, v1, u2, v2) in enumerate(b):
            iw, ih = max(0.0, min(x2, u2) - max(x1, u1)), max(0.0, min(y2, v2) - max(y1, v1))
            union = (x2 - x1) * (y2 - y1) + (u2 - u1) * (v2 - v1) - iw * ih
            out[i, j] = iw * ih / union if union > 0 else 0.0
    return out


def giou_loop(a, b):
    """IoU minus the empty fraction of the enclosing box, pair by pair (0 for an empty hull)."""
    iou = iou_loop(a, b)
    out = np.zeros_like(iou)
    for i, (x1, y1, x2, y2) in enumerate(a):
        for j, (u1, v1, u2, v2) in enumerate(b):
            hull = (max(x2, u2) - min(x1, u1)) * (max(y2, v2) - min(y1, v1))
            iw, ih = max(0.0, min(x2, u2) - max(x1, u1)), max(0.0, min(y2, v2) - max(y1, v1))
            union = (x2 - x1) * (y2 - y1) + (u2 - u1) * (v2 - v1) - iw * ih
            out[i, j] = iou[i, j] - ((hull - union) / hull if hull > 0 else 0.0)
    return out


def nms_loop(boxes, scores, thr, labels=None):
    """Visit by decreasing score (ties: lower index), drop a box whose IoU with a kept one is > thr."""
    order = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    keep = []
    for i in order:
        if all(iou_loop([boxes[i]], [boxes[j]])[0, 0] <= thr
               or (labels is not None and labels[i] != labels[j]) for j in keep):
            keep.append(i)
    return keep


def degenerate_boxes(rng, image=(40, 60)):
    """Boxes of every awkward kind, plus random ones, in an image of (H, W) = image."""
    h, w = image
    special = np.array([
        [10, 10, 20, 20], [10, 10, 20, 20], [10, 10, 20, 20],  # identical
        [5, 5, 5, 5], [5, 5, 5, 5], [3, 0, 3, 30], [0, 7, 30, 7],  # points and lines (zero area)
        [-15, -10, 5, 8], [w - 5, h - 5, w + 20, h + 10],  # partly outside the image
        [-30, -30, -10, -10], [w + 5, 0, w + 25, 10],  # wholly outside
        [0, 0, w, h], [20, 10, 30, 20], [30, 10, 40, 20],  # the image; touching boxes
    ], dtype=np.float64)
    xy = rng.uniform(-10, [w, h], (20, 2))
    wh = rng.uniform(0, 25, (20, 2))
    return np.r_[special, np.round(np.c_[xy, xy + wh])]


@pytest.fixture
def boxes(rng):
    return degenerate_boxes(rng)


@pytest.fixture
def tied_scores(boxes, rng):
    s = np.round(rng.random(len(boxes)), 1)  # many ties
    s[:3] = 1.0  # the identical boxes tie too, at the top
    return s


# ---- always-running loop twins --------------------------------------------------------------

def test_iou_and_giou_equal_loops_on_degenerate_boxes(boxes):
    """Zero-area, identical, outside and touching boxes: IoU and GIoU equal the definitions."""
    t = torch.tensor(boxes)
    np.testing.assert_allclose(box_iou(t, t).numpy(), iou_loop(boxes, boxes), rtol=0, atol=1e-12)
    np.testing.assert_allclose(generalized_box_iou(t, t).numpy(), giou_loop(boxes, boxes), rtol=0, atol=1e-12)
    iou = box_iou(t, t).numpy()
    assert iou[0, 1] == 1.0 and iou[3, 4] == 0.0 and iou[12, 13] == 0.0  # identical, points, touching
    assert box_iou(torch.zeros(0, 4), t).shape == (0, len(boxes))
    assert box_iou(t, torch.zeros(0, 4, dtype=t.dtype)).shape == (len(boxes), 0)
    assert generalized_box_iou(torch.zeros(0, 4), torch.zeros(0, 4)).shape == (0, 0)


def test_area_convert_clip_on_outside_boxes(boxes):
    """Areas are w * h (0 for lines), formats round-trip, clipping keeps boxes inside (H, W)."""
    t = torch.tensor(boxes)
    np.testing.assert_array_equal(box_area(t).numpy(), (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    for fmt in ("xywh", "cxcywh"):
        torch.testing.assert_close(box_convert(box_convert(t, "xyxy", fmt), fmt, "xyxy"), t, rtol=0, atol=1e-12)
    clipped = clip_boxes(t, (40, 60)).numpy()
    want = np.c_[boxes[:, 0].clip(0, 60), boxes[:, 1].clip(0, 40), boxes[:, 2].clip(0, 60), boxes[:, 3].clip(0, 40)]
    np.testing.assert_array_equal(clipped, want)
    assert clipped[9].tolist() == [0, 0, 0, 0]  # wholly outside: an empty box at the corner


@pytest.mark.parametrize("thr", [0.0, 0.3, 0.5, 1.0])
def test_nms_equals_loop_with_ties_identical_and_outside_boxes(boxes, tied_scores, thr):
    """Identical boxes with tied scores keep the lowest index; zero-area boxes never suppress."""
    got = nms(torch.tensor(boxes), torch.tensor(tied_scores), thr).tolist()
    assert got == nms_loop(boxes, tied_scores, thr)
    if thr < 1.0:
        assert 0 in got and 1 not in got and 2 not in got
    assert 3 in got and 4 in got  # two identical points: IoU 0, both kept


def test_batched_nms_equals_loop_and_empty(boxes, tied_scores, rng):
    """Class-wise NMS equals the per-class loop; empty inputs give an empty int64 tensor."""
    labels = rng.integers(0, 3, len(boxes))
    got = batched_nms(torch.tensor(boxes), torch.tensor(tied_scores), torch.tensor(labels), 0.4).tolist()
    assert got == nms_loop(boxes, tied_scores, 0.4, labels)
    out = batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5)
    assert out.dtype == torch.int64 and out.shape == (0,)


def c_round(v):
    return math.floor(v + 0.5) if v >= 0 else -math.floor(-v + 0.5)


def roi_pool_loop(x, rois, ph, pw, scale):
    """torchvision's roi_pool CPU kernel, line by line (empty bins give 0)."""
    n, c, h, w = x.shape
    out = np.zeros((len(rois), c, ph, pw))
    for k, (b, x1, y1, x2, y2) in enumerate(rois):
        sw, sh, ew, eh = c_round(x1 * scale), c_round(y1 * scale), c_round(x2 * scale), c_round(y2 * scale)
        bw, bh = max(ew - sw + 1, 1) / pw, max(eh - sh + 1, 1) / ph
        for i in range(ph):
            for j in range(pw):
                hs, he = min(max(math.floor(i * bh) + sh, 0), h), min(max(math.ceil((i + 1) * bh) + sh, 0), h)
                ws, we = min(max(math.floor(j * bw) + sw, 0), w), min(max(math.ceil((j + 1) * bw) + sw, 0), w)
                if he > hs and we > ws:
                    out[k, :, i, j] = x[int(b), :, hs:he, ws:we].reshape(c, -1).max(1)
    return out


def bilinear(img, y, x):
    h, w = img.shape
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    yl, xl = int(y), int(x)
    yh, xh = yl + 1, xl + 1
    if yl >= h - 1:
        yh = yl = h - 1
        y = float(yl)
    if xl >= w - 1:
        xh = xl = w - 1
        x = float(xl)
    ly, lx = y - yl, x - xl
    return ((1 - ly) * (1 - lx) * img[yl, xl] + (1 - ly) * lx * img[yl, xh]
            + ly * (1 - lx) * img[yh, xl] + ly * lx * img[yh, xh])


def roi_align_loop(x, rois, ph, pw, scale, sampling, aligned):
    """torchvision's roi_align CPU kernel, line by line."""
    out = np.zeros((len(rois), x.shape[1], ph, pw))
    off = 0.5 if aligned else 0.0
    for k, (b, x1, y1, x2, y2) in enumerate(rois):
        sw, sh = x1 * scale - off, y1 * scale - off
        rw, rh = x2 * scale - off - sw, y2 * scale - off - sh
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bw, bh = rw / pw, rh / ph
        gh = sampling if sampling > 0 else math.ceil(rh / ph)
        gw = sampling if sampling > 0 else math.ceil(rw / pw)
        for c in range(x.shape[1]):
            for i in range(ph):
                for j in range(pw):
                    acc = sum(bilinear(x[int(b), c], sh + i * bh + (iy + 0.5) * bh / gh,
                                       sw + j * bw + (ix + 0.5) * bw / gw)
                              for iy in range(gh) for ix in range(gw))
                    out[k, c, i, j] = acc / max(gh * gw, 1)
    return out


def degenerate_rois(n, h, w):
    """Rows (n, x1, y1, x2, y2) in feature-map cells: points, lines, identical, partly and wholly outside."""
    return np.array([[0, 2, 2, 2, 2], [n - 1, 1, 3, 6, 3], [0, 1, 1, 4, 5], [0, 1, 1, 4, 5],
                     [n - 1, -4, -3, 2, 2], [0, w - 2, h - 2, w + 5, h + 4],
                     [0, -20, -20, -5, -5], [n - 1, w + 3, 0, w + 9, h], [0, 0, 0, w, h]], dtype=np.float64)


@pytest.mark.parametrize("size", [(2, 2), (3, 1)])
def test_roi_pool_equals_loop_on_degenerate_rois(rng, size):
    """Zero-size, identical and outside RoIs: the loop's values (0 where a bin is empty)."""
    x = rng.standard_normal((2, 3, 7, 9))
    rois = degenerate_rois(2, 7, 9)
    got = roi_pool(torch.tensor(x), torch.tensor(rois), size).numpy()
    np.testing.assert_array_equal(got, roi_pool_loop(x, rois, *size, 1.0))
    assert np.all(got[6] == 0)  # wholly outside: every bin empty
    np.testing.assert_array_equal(got[2], got[3])


@pytest.mark.parametrize("sampling, aligned", [(-1, False), (2, True)])
def test_roi_align_equals_loop_on_degenerate_rois(rng, sampling, aligned):
    """Same RoIs through RoI align: samples more than one cell outside the map count as 0."""
    x = rng.standard_normal((2, 2, 7, 9))
    rois = degenerate_rois(2, 7, 9)
    got = roi_align(torch.tensor(x), torch.tensor(rois), (2, 3), sampling_ratio=sampling, aligned=aligned).numpy()
    np.testing.assert_allclose(got, roi_align_loop(x, rois, 2, 3, 1.0, sampling, aligned), rtol=0, atol=1e-12)
    assert np.all(got[6] == 0)


# ---- torchvision as the oracle (skipped when it cannot be imported) -------------------------

def test_box_ops_equal_torchvision(boxes):
    """box_iou, generalized_box_iou, box_area, box_convert and clip_boxes equal torchvision.ops."""
    ops = torchvision_or_skip().ops
    t = torch.tensor(boxes)
    ours, theirs = box_iou(t, t), ops.box_iou(t, t)
    empty = torch.isnan(theirs)  # torchvision divides 0 by 0 for two zero-area boxes; we define 0
    assert bool(empty.any()) and bool((ours[empty] == 0).all())
    torch.testing.assert_close(ours[~empty], theirs[~empty], rtol=0, atol=1e-12)
    finite = (t[:, 2] > t[:, 0]) & (t[:, 3] > t[:, 1])  # torchvision's GIoU divides by the hull
    torch.testing.assert_close(generalized_box_iou(t[finite], t[finite]), ops.generalized_box_iou(t[finite], t[finite]))
    torch.testing.assert_close(box_area(t), ops.box_area(t))
    for fmt in ("xywh", "cxcywh"):
        torch.testing.assert_close(box_convert(t, "xyxy", fmt), ops.box_convert(t, "xyxy", fmt))
    torch.testing.assert_close(clip_boxes(t, (40, 60)), ops.clip_boxes_to_image(t, (40, 60)))


@pytest.mark.parametrize("thr", [0.0, 0.3, 0.5, 1.0])
def test_nms_equals_torchvision(boxes, tied_scores, rng, thr):
    """nms and batched_nms keep what torchvision keeps, in the same order (ties: lower index)."""
    ops = torchvision_or_skip(compiled=True).ops
    t, s = torch.tensor(boxes), torch.tensor(tied_scores)
    assert nms(t, s, thr).tolist() == ops.nms(t, s, thr).tolist()
    labels = torch.tensor(rng.integers(0, 3, len(boxes)))
    assert batched_nms(t, s, labels, thr).tolist() == ops.batched_nms(t, s, labels, thr).tolist()
    assert nms(t[:0], s[:0], thr).tolist() == ops.nms(t[:0], s[:0], thr).tolist() == []


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_roi_align_equals_torchvision(rng, scale):
    """roi_align (adaptive and fixed sampling, aligned or not) equals torchvision's: its compiled
    kernel on every RoI where it loads; otherwise its pure-Python implementation on the RoIs inside
    the map (that one clamps samples outside the map where the kernel zeroes them; the loop twin
    above covers those RoIs)."""
    theirs, faithful_outside = roi_align_oracle()
    x = torch.tensor(rng.standard_normal((2, 3, 7, 9)))
    rois = torch.tensor(degenerate_rois(2, 7, 9))
    if not faithful_outside:
        inside = (rois[:, 1] >= 0) & (rois[:, 2] >= 0) & (rois[:, 3] <= 9) & (rois[:, 4] <= 7)
        assert int(inside.sum()) == 5  # points, lines, identical boxes, the whole map
        rois = rois[inside]
    rois = rois / torch.tensor([1, scale, scale, scale, scale])
    for sampling, aligned in [(-1, False), (2, False), (0, True), (3, True)]:
        torch.testing.assert_close(
            roi_align(x, rois, (3, 2), spatial_scale=scale, sampling_ratio=sampling, aligned=aligned),
            theirs(x, rois, (3, 2), spatial_scale=scale, sampling_ratio=sampling, aligned=aligned))


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_roi_pool_equals_torchvision(rng, scale):
    """roi_pool equals torchvision.ops.roi_pool (a compiled operator only)."""
    ops = torchvision_or_skip(compiled=True).ops
    x = torch.tensor(rng.standard_normal((2, 3, 7, 9)))
    rois = torch.tensor(degenerate_rois(2, 7, 9)) / torch.tensor([1, scale, scale, scale, scale])
    torch.testing.assert_close(roi_pool(x, rois, (2, 3), spatial_scale=scale),
                               ops.roi_pool(x, rois, (2, 3), spatial_scale=scale))
