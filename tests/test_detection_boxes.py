"""Boxes, NMS, box coding and anchors against slow loop references and hand values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cnncourse.detection import (BACKGROUND, IGNORE, batched_nms, box_area, box_convert, box_iou,
                                 clip_boxes, decode_boxes, encode_boxes, generalized_box_iou,
                                 make_anchors, match_anchors, nms)


def iou_loop(a, b):
    """Slow reference: IoU of every pair, 0 for an empty union."""
    out = np.zeros((len(a), len(b)))
    for i, (x1, y1, x2, y2) in enumerate(a):
        for j, (u1, v1, u2, v2) in enumerate(b):
            iw, ih = max(0.0, min(x2, u2) - max(x1, u1)), max(0.0, min(y2, v2) - max(y1, v1))
            union = (x2 - x1) * (y2 - y1) + (u2 - u1) * (v2 - v1) - iw * ih
            out[i, j] = iw * ih / union if union > 0 else 0.0
    return out


def nms_loop(boxes, scores, thr, labels=None):
    """Slow reference: visit by score (stable), drop a box whose IoU with a kept one is > thr."""
    order = sorted(range(len(boxes)), key=lambda i: -scores[i])
    keep = []
    for i in order:
        if all(iou_loop([boxes[i]], [boxes[j]])[0, 0] <= thr
               or (labels is not None and labels[i] != labels[j]) for j in keep):
            keep.append(i)
    return keep


def random_boxes(rng, k, integer=False):
    xy = rng.uniform(0, 50, (k, 2))
    wh = rng.uniform(0, 30, (k, 2))
    b = np.c_[xy, xy + wh]
    return np.round(b) if integer else b


def test_box_convert_round_trips_and_hand_values():
    """Do the three formats agree with hand-converted values and round-trip exactly?"""
    xyxy = torch.tensor([[1.0, 2.0, 5.0, 10.0]], dtype=torch.float64)
    assert box_convert(xyxy, "xyxy", "xywh").tolist() == [[1, 2, 4, 8]]
    assert box_convert(xyxy, "xyxy", "cxcywh").tolist() == [[3, 6, 4, 8]]
    for fmt in ("xywh", "cxcywh"):
        assert torch.equal(box_convert(box_convert(xyxy, "xyxy", fmt), fmt, "xyxy"), xyxy)
    with pytest.raises(ValueError, match="`out_fmt` expected one of"):
        box_convert(xyxy, "xyxy", "yolo")


def test_box_iou_matches_loop_with_touching_and_zero_area(rng):
    """Does box_iou equal the loop, including touching, nested, zero-area and identical boxes?"""
    special = np.array([[0, 0, 10, 10], [10, 0, 20, 10], [2, 2, 2, 8], [0, 0, 10, 10], [3, 3, 3, 3]], float)
    a = np.r_[special, random_boxes(rng, 20, integer=True)]
    b = np.r_[special, random_boxes(rng, 15)]
    got = box_iou(torch.tensor(a), torch.tensor(b)).numpy()
    np.testing.assert_allclose(got, iou_loop(a, b), rtol=0, atol=1e-15)
    assert got[0, 1] == 0.0 and got[0, 3] == 1.0 and got[2, 2] == 0.0 and got[4, 4] == 0.0
    assert box_iou(torch.zeros(0, 4), torch.zeros(3, 4)).shape == (0, 3)
    assert box_area(torch.tensor(special)).tolist() == [100, 100, 0, 100, 0]


def test_generalized_iou_hand_values():
    """GIoU: 1 for identical boxes, IoU minus the empty hull fraction for disjoint ones."""
    a = torch.tensor([[0.0, 0, 1, 1]], dtype=torch.float64)
    b = torch.tensor([[0.0, 0, 1, 1], [2, 0, 3, 1]], dtype=torch.float64)
    g = generalized_box_iou(a, b)
    assert g[0, 0] == 1.0 and g[0, 1] == pytest.approx(-1 / 3)


def test_clip_boxes():
    """Are coordinates clamped to [0, W] x [0, H]?"""
    got = clip_boxes(torch.tensor([[-5.0, 3, 50, 70]]), (60, 40))
    assert got.tolist() == [[0, 3, 40, 60]]


def test_nms_matches_loop_on_random_ties_and_threshold_equality(rng):
    """Does nms equal the loop reference, with tied scores and IoUs exactly at the threshold?"""
    for trial in range(20):
        b = random_boxes(rng, 60, integer=True)
        s = np.round(rng.random(60), 1)  # many ties
        thr = [0.5, 0.3, 0.0, 1.0][trial % 4]
        got = nms(torch.tensor(b), torch.tensor(s), thr).tolist()
        assert got == nms_loop(b, s, thr)
    # IoU exactly 0.5: [0,0,2,1] vs [0,0,1,1] -> 1/2; kept at 0.5, suppressed just below.
    b = torch.tensor([[0.0, 0, 2, 1], [0, 0, 1, 1]])
    s = torch.tensor([0.9, 0.8])
    assert nms(b, s, 0.5).tolist() == [0, 1]
    assert nms(b, s, 0.49).tolist() == [0]
    # equal scores: lower index first
    assert nms(torch.tensor([[0.0, 0, 1, 1], [5, 5, 6, 6]]), torch.tensor([1.0, 1.0]), 0.5).tolist() == [0, 1]


def test_nms_empty_and_zero_area():
    """Empty input gives an empty int64 result; zero-area boxes never suppress anything."""
    out = nms(torch.zeros(0, 4), torch.zeros(0), 0.5)
    assert out.dtype == torch.int64 and out.numel() == 0
    b = torch.tensor([[1.0, 1, 1, 1], [1, 1, 1, 1]])
    assert nms(b, torch.tensor([0.5, 0.4]), 0.0).tolist() == [0, 1]


def test_batched_nms_matches_per_class_loop(rng):
    """Boxes of different labels never suppress each other."""
    b = random_boxes(rng, 80, integer=True)
    s = np.round(rng.random(80), 2)
    lab = rng.integers(0, 3, 80)
    got = batched_nms(torch.tensor(b), torch.tensor(s), torch.tensor(lab), 0.4).tolist()
    assert got == nms_loop(b, s, 0.4, lab)


@pytest.mark.parametrize("call, match", [
    (lambda: nms(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([float("nan")]), 0.5), "`scores` expected finite"),
    (lambda: nms(torch.tensor([[2.0, 0, 1, 1]]), torch.tensor([1.0]), 0.5), "x1 <= x2"),
    (lambda: nms(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([1.0, 2.0]), 0.5), "one score per box"),
    (lambda: nms(torch.zeros(3, 5), torch.zeros(3), 0.5), r"shape \(\.\.\., 4\)"),
    (lambda: box_iou(torch.zeros(3, 4), torch.zeros(2, 2, 4)), "2-D tensor"),
    (lambda: batched_nms(torch.zeros(2, 4), torch.zeros(2), torch.zeros(3, dtype=torch.long), 0.5), "one label per box"),
    (lambda: encode_boxes(torch.zeros(2, 4) + torch.tensor([0, 0, 1, 1.0]), torch.zeros(3, 4)), "shape of `boxes`"),
])
def test_bad_input_raises_value_error(call, match):
    """Wrong shapes, x2 < x1, NaN scores and mismatched lengths give a clear ValueError."""
    with pytest.raises(ValueError, match=match):
        call()


def test_encode_decode_round_trip_and_hand_value(rng):
    """decode(encode(g, p), p) == g, and the deltas match the R-CNN formulas by hand."""
    p = torch.tensor(random_boxes(rng, 50)) + torch.tensor([0, 0, 1.0, 1.0])
    g = torch.tensor(random_boxes(rng, 50)) + torch.tensor([0, 0, 1.0, 1.0])
    for w in [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)]:
        d = encode_boxes(g, p, weights=w)
        torch.testing.assert_close(decode_boxes(d, p, weights=w), g, rtol=0, atol=1e-12)
    d = encode_boxes(torch.tensor([[2.0, 2, 6, 10]]), torch.tensor([[0.0, 0, 4, 4]]))
    # p: centre (2, 2), size 4x4; g: centre (4, 6), size 4x8
    torch.testing.assert_close(d, torch.tensor([[0.5, 1.0, 0.0, math.log(2)]]))


def test_make_anchors_hand_values():
    """k = 9 per location; centres at (j + 0.5) * stride; w = s / sqrt(r), h = s * sqrt(r)."""
    a = make_anchors((2, 3), 16)
    assert a.shape == (2 * 3 * 9, 4)
    first = a[:9]  # location (0, 0), centre (8, 8)
    r, s = 0.5, 128.0
    w, h = s / math.sqrt(r), s * math.sqrt(r)
    torch.testing.assert_close(first[0], torch.tensor([8 - w / 2, 8 - h / 2, 8 + w / 2, 8 + h / 2]))
    torch.testing.assert_close(first[4], torch.tensor([8 - 128.0, 8 - 128, 8 + 128, 8 + 128]))
    # location (row 1, column 2): index (1 * 3 + 2) * 9, centre (40, 24)
    centres = (a[45:54, :2] + a[45:54, 2:]) / 2  # (9, 2)
    torch.testing.assert_close(centres, torch.tensor([[40.0, 24.0]] * 9))
    areas = box_area(first)
    torch.testing.assert_close(areas, torch.tensor([128.0, 256, 512] * 3) ** 2)


def test_match_anchors_thresholds_and_low_quality():
    """>= 0.7 positive, < 0.3 background, between ignored; each gt keeps its best anchor."""
    gt = torch.tensor([[0.0, 0, 10, 10], [100, 100, 110, 110]])
    anchors = torch.tensor([[0.0, 0, 10, 10],    # IoU 1 with gt 0
                            [0, 0, 10, 20],      # IoU 0.5 -> ignore
                            [50, 50, 60, 60],    # 0 -> background
                            [100, 100, 120, 120]])  # IoU 0.25 with gt 1, but its best -> matched
    assert match_anchors(anchors, gt).tolist() == [0, IGNORE, BACKGROUND, 1]
    assert match_anchors(anchors, gt, allow_low_quality_matches=False).tolist() == [0, IGNORE, BACKGROUND, BACKGROUND]
    assert match_anchors(anchors, torch.zeros(0, 4)).tolist() == [BACKGROUND] * 4
