"""VOC matching, per-class AP/mAP and the COCO conversion, against the devkit's loops and pycocotools."""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
import pytest
import torch

from cnncourse.detection import (eleven_point_precision, evaluate_coco, evaluate_voc, match_detections,
                                 precision_envelope, precision_recall, to_coco, voc_ap)


def voc_devkit_eval(dets, gts, cls, thr, use_07):
    """VOCevaldet for one class, transcribed: all detections ranked by score (stable), each takes
    its best-IoU ground truth (first on ties) if IoU >= thr and it is free; AP from py-faster-rcnn."""
    rows = [(i, s, b) for i, d in enumerate(dets) for b, s, l in zip(d["boxes"].tolist(), d["scores"].tolist(),
                                                                    d["labels"].tolist()) if l == cls]
    gt = {i: [b for b, l in zip(g["boxes"].tolist(), g["labels"].tolist()) if l == cls] for i, g in enumerate(gts)}
    npos = sum(len(v) for v in gt.values())
    taken = {i: [False] * len(v) for i, v in gt.items()}
    rows = sorted(rows, key=lambda r: -r[1])  # Python's sort is stable
    tp = np.zeros(len(rows))
    for d, (i, _, (x1, y1, x2, y2)) in enumerate(rows):
        ovmax, jmax = -np.inf, -1
        for j, (u1, v1, u2, v2) in enumerate(gt[i]):
            iw, ih = min(x2, u2) - max(x1, u1), min(y2, v2) - max(y1, v1)
            if iw > 0 and ih > 0:
                ov = iw * ih / ((x2 - x1) * (y2 - y1) + (u2 - u1) * (v2 - v1) - iw * ih)
                if ov > ovmax:
                    ovmax, jmax = ov, j
        if ovmax >= thr and not taken[i][jmax]:
            tp[d], taken[i][jmax] = 1, True
    if npos == 0:
        return float("nan")
    tps, fps = np.cumsum(tp), np.cumsum(1 - tp)
    rec, prec = tps / npos, tps / np.maximum(tps + fps, np.finfo(np.float64).eps)
    if use_07:
        return sum((np.max(prec[rec >= t]) if np.any(rec >= t) else 0.0) / 11 for t in np.arange(0, 1.1, 0.1))
    mrec, mpre = np.r_[0, rec, 1], np.r_[0, prec, 0]
    for k in range(len(mpre) - 1, 0, -1):
        mpre[k - 1] = max(mpre[k - 1], mpre[k])
    k = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[k + 1] - mrec[k]) * mpre[k + 1]))


def random_set(rng, n_img=12, n_cls=3):
    """Ground truth and jittered detections with duplicates, misses, wrong classes and score ties."""
    gts, dets = [], []
    for _ in range(n_img):
        m = int(rng.integers(0, 5))
        xy = rng.uniform(0, 60, (m, 2))
        g = np.c_[xy, xy + rng.uniform(4, 30, (m, 2))]
        gl = rng.integers(0, n_cls, m)
        d, dl = [], []
        for b, l in zip(g, gl):
            for _ in range(int(rng.integers(0, 4))):  # 0 (a miss) to 3 (duplicates)
                d.append(b + rng.normal(0, 3, 4) * [1, 1, 1, 1])
                dl.append(l if rng.random() < 0.85 else rng.integers(0, n_cls))
        for _ in range(int(rng.integers(0, 3))):  # background false positives
            p = rng.uniform(0, 60, 2)
            d.append(np.r_[p, p + rng.uniform(4, 30, 2)])
            dl.append(rng.integers(0, n_cls))
        d = np.array(d).reshape(-1, 4)
        d = np.c_[np.minimum(d[:, :2], d[:, 2:]), np.maximum(d[:, :2], d[:, 2:])]
        gts.append({"boxes": torch.tensor(g).reshape(-1, 4), "labels": torch.tensor(gl, dtype=torch.long)})
        dets.append({"boxes": torch.tensor(d), "scores": torch.tensor(np.round(rng.random(len(d)), 1)),
                     "labels": torch.tensor(np.array(dl, dtype=np.int64))})
    return dets, gts


@pytest.mark.parametrize("thr", [0.5, 0.75, 0.1])
def test_evaluate_voc_equals_devkit_loop(thr):
    """Per-class AP (all-point and 11-point) and the mAP equal the devkit loop on random sets."""
    for seed in range(6):
        dets, gts = random_set(np.random.default_rng(seed))
        for use_07 in (False, True):
            res = evaluate_voc(dets, gts, num_classes=3, iou_threshold=thr, use_07_metric=use_07)
            want = [voc_devkit_eval(dets, gts, c, thr, use_07) for c in range(3)]
            np.testing.assert_allclose(res.ap.numpy(), want, rtol=0, atol=1e-12)
            assert res.mAP == pytest.approx(np.nanmean(want), abs=1e-12)


def test_match_detections_hand_case():
    """Duplicates of one box: the best score is the TP; a taken box does not fall back to the second best."""
    gt = torch.tensor([[0.0, 0, 10, 10], [20, 0, 30, 10]])
    boxes = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [10, 0, 25, 10]])
    scores = torch.tensor([0.8, 0.9, 0.9, 0.5, 0.4])
    # visiting order: 1 (0.9), 2 (0.9, tie: input order), 0, 3, 4
    assert match_detections(boxes, scores, gt).tolist() == [False, True, False, False, False]
    # box 4 overlaps gt 1 with IoU 5/20 = 0.25 and gt 0 with 0: TP at 0.25, not above
    assert match_detections(boxes[4:], scores[4:], gt, iou_threshold=0.25).tolist() == [True]
    assert match_detections(boxes[4:], scores[4:], gt, iou_threshold=0.26).tolist() == [False]
    assert match_detections(boxes, scores, gt[:0]).tolist() == [False] * 5
    assert match_detections(boxes[:0], scores[:0], gt).shape == (0,)
    # IoU 0 is never a match, even at threshold 0
    assert match_detections(boxes[3:4], scores[3:4], gt, iou_threshold=0.0).tolist() == [False]


def test_evaluate_voc_perfect_missing_class_and_empty():
    """Perfect detections -> AP 1; a class without ground truth is NaN and left out of the mAP."""
    gts = [{"boxes": torch.tensor([[0.0, 0, 10, 10]]), "labels": torch.tensor([0])},
           {"boxes": torch.tensor([[5.0, 5, 20, 20], [30, 30, 40, 44]]), "labels": torch.tensor([2, 0])}]
    dets = [{"boxes": g["boxes"].clone(), "scores": torch.ones(len(g["labels"])), "labels": g["labels"].clone()}
            for g in gts]
    res = evaluate_voc(dets, gts, num_classes=3)
    assert res.ap[0] == 1 and torch.isnan(res.ap[1]) and res.ap[2] == 1 and res.mAP == 1.0
    assert res.num_gt == [2, 0, 1]
    empty = [{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.long)}] * 2
    res = evaluate_voc(empty, gts, num_classes=3)
    assert res.ap[0] == 0 and res.mAP == 0.0


def test_evaluate_voc_bad_input():
    """Mismatched lengths, missing keys and out-of-range labels raise errors naming the argument."""
    gt = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}
    det = {"boxes": torch.tensor([[0.0, 0, 1, 1]]), "scores": torch.tensor([1.0]), "labels": torch.tensor([3])}
    with pytest.raises(ValueError, match="`predictions` expected one dict per image"):
        evaluate_voc([det, det], [gt], num_classes=3)
    with pytest.raises(ValueError, match=r"`predictions\[0\]\['labels'\]` expected integer classes in \[0, 3\)"):
        evaluate_voc([det], [gt], num_classes=3)
    with pytest.raises(ValueError, match=r"`ground_truths\[0\]` expected a dict with key 'boxes'"):
        evaluate_voc([det], [{"labels": torch.zeros(0)}], num_classes=4)
    with pytest.raises(ValueError, match="`iou_threshold` expected a number in"):
        match_detections(det["boxes"], det["scores"], gt["boxes"], iou_threshold=1.5)
    with pytest.raises(ValueError, match="one score per box"):
        match_detections(det["boxes"], torch.ones(2), gt["boxes"])


def test_envelope_and_eleven_points_match_the_direct_loops(rng):
    """precision_envelope and eleven_point_precision are the quantities voc_ap sums."""
    for _ in range(10):
        k = int(rng.integers(1, 30))
        tp = rng.random(k) < 0.6
        prec, rec = precision_recall(torch.tensor(rng.random(k)), torch.tensor(tp), int(tp.sum()) + 2)
        mrec, mpre = precision_envelope(rec, prec)
        want = np.r_[0, prec.numpy(), 0]
        for i in range(len(want) - 1, 0, -1):
            want[i - 1] = max(want[i - 1], want[i])
        np.testing.assert_array_equal(mpre.numpy(), want)
        np.testing.assert_array_equal(mrec.numpy(), np.r_[0, rec.numpy(), 1])
        p11 = eleven_point_precision(rec, prec).numpy()
        r = rec.numpy()
        np.testing.assert_array_equal(p11, [prec.numpy()[r >= t].max() if np.any(r >= t) else 0
                                            for t in np.arange(0, 1.1, 0.1)])
        assert voc_ap(rec, prec, use_07_metric=True).item() == pytest.approx(p11.sum() / 11)


def test_to_coco_layout_and_stats_equal_pycocotools():
    """to_coco writes ids from 1 and xywh boxes; evaluate_coco on it equals COCOeval."""
    dets, gts = random_set(np.random.default_rng(3), n_img=6)
    gt, dt = to_coco(dets, gts, num_classes=3)
    assert [im["id"] for im in gt["images"]] == [1, 2, 3, 4, 5, 6]
    assert [c["id"] for c in gt["categories"]] == [1, 2, 3]
    first = next(i for i, g in enumerate(gts) if len(g["labels"]))
    x1, y1, x2, y2 = gts[first]["boxes"][0].tolist()
    a = gt["annotations"][0]
    assert a["image_id"] == first + 1 and a["category_id"] == int(gts[first]["labels"][0]) + 1
    assert a["bbox"] == pytest.approx([x1, y1, x2 - x1, y2 - y1]) and a["area"] == pytest.approx((x2 - x1) * (y2 - y1))
    assert len(dt) == sum(len(d["scores"]) for d in dets)
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(copy.deepcopy(dt)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    np.testing.assert_allclose(evaluate_coco(gt, dt), ev.stats, rtol=0, atol=1e-12)
