"""COCO evaluation against pycocotools, VOC AP against py-faster-rcnn's direct implementation."""

from __future__ import annotations

import contextlib
import copy
import io
import json

import numpy as np
import pytest
import torch

from cnncourse.detection import evaluate_coco, precision_recall, voc_ap

pycocotools = pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402


def coco_reference(gt, dt):
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(copy.deepcopy(dt)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats), ev.eval["precision"]


def random_coco(r, n_img, n_cat, crowd=0.1, flood=True, gt_id0=False):
    """Images (some empty), categories, boxes of all sizes, crowds, jittered detections."""
    images = [{"id": int(i)} for i in r.permutation(np.arange(1, n_img + 1)) * 7]
    cats = [{"id": int(c)} for c in np.arange(n_cat) * 3 + 2]
    cat_ids = [c["id"] for c in cats]
    anns = []
    for im in images[1:]:  # the first image has no ground truth
        for _ in range(r.integers(0, 8)):
            s = r.choice([12.0, 50, 160]) * r.uniform(0.4, 1.5)
            x, y = np.round(r.uniform(0, 300, 2))
            w, h = np.maximum(np.round(s * r.uniform(0.5, 1.5, 2)), 1)
            anns.append({"id": len(anns) + (0 if gt_id0 else 1), "image_id": im["id"],
                         "category_id": int(r.choice(cat_ids)), "bbox": [x, y, w, h],
                         "area": float(w * h * r.uniform(0.6, 1.0)), "iscrowd": int(r.random() < crowd)})
    dets = []
    for a in anns:
        if a["image_id"] == images[-1]["id"]:
            continue  # an image with ground truth but no detections
        for _ in range(r.integers(0, 4)):
            x, y, w, h = a["bbox"]
            j = np.round(r.normal(0, 0.12 * w, 4))
            cat = a["category_id"] if r.random() < 0.8 else int(r.choice(cat_ids))
            dets.append({"image_id": a["image_id"], "category_id": cat,
                         "bbox": [x + j[0], y + j[1], max(1.0, w + j[2]), max(1.0, h + j[3])],
                         "score": float(np.round(r.random(), 1))})  # coarse scores: many ties
    if flood:  # > 100 detections in one image and category
        for _ in range(130):
            x, y = np.round(r.uniform(0, 300, 2))
            w, h = np.round(r.uniform(3, 150, 2))
            dets.append({"image_id": images[1]["id"], "category_id": cat_ids[0],
                         "bbox": [x, y, w, h], "score": float(np.round(r.random(), 2))})
    return {"images": images, "annotations": anns, "categories": cats}, dets


@pytest.mark.parametrize("seed", range(24))
def test_coco_stats_equal_pycocotools(seed):
    """The 12 stats and the precision array equal COCOeval's on randomized problems."""
    r = np.random.default_rng(seed)
    gt, dt = random_coco(r, n_img=int(r.integers(2, 9)), n_cat=int(r.integers(1, 5)),
                         crowd=[0.0, 0.15][seed % 2], flood=seed % 3 != 0, gt_id0=seed % 5 == 0)
    if not dt:
        pytest.skip("pycocotools cannot load an empty result list")
    want, want_precision = coco_reference(gt, dt)
    got, arrays = evaluate_coco(gt, dt, return_arrays=True)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    np.testing.assert_allclose(arrays["precision"], want_precision, rtol=0, atol=1e-9)


def test_coco_hand_case_and_json_files(tmp_path):
    """One found and one missed box (the detection has the wrong class): precision 1 up to
    recall 1/2, i.e. 51 of the 101 recall points; category 5 has no ground truth (-1, left out)."""
    gt = {"images": [{"id": 1}, {"id": 2}], "categories": [{"id": 1}, {"id": 5}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 40], "area": 1600, "iscrowd": 0},
                          {"id": 2, "image_id": 2, "category_id": 1, "bbox": [0, 0, 20, 20], "area": 400, "iscrowd": 0}]}
    dt = [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 40], "score": 0.9},
          {"image_id": 2, "category_id": 5, "bbox": [0, 0, 20, 20], "score": 0.8}]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dt))
    got = evaluate_coco(str(tmp_path / "gt.json"), tmp_path / "dt.json")
    assert got[1] == pytest.approx(51 / 101) and got[8] == pytest.approx(0.5)
    assert got[5] == -1  # no large boxes at all
    np.testing.assert_allclose(got, coco_reference(gt, dt)[0], atol=1e-12)
    empty = evaluate_coco(gt, [])
    assert empty[0] == 0 and empty[5] == -1


def test_coco_bad_input():
    """Unknown images, NaN scores and malformed ground truth raise ValueError."""
    gt = {"images": [{"id": 1}], "categories": [{"id": 1}], "annotations": []}
    with pytest.raises(ValueError, match="image ids present"):
        evaluate_coco(gt, [{"image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1.0}])
    with pytest.raises(ValueError, match="finite scores"):
        evaluate_coco(gt, [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": float("nan")}])
    with pytest.raises(ValueError, match="'images', 'annotations' and 'categories'"):
        evaluate_coco({"images": []}, [])


def voc_ap_direct(rec, prec, use_07_metric):
    """py-faster-rcnn's voc_eval.voc_ap, verbatim in spirit."""
    if use_07_metric:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            p = 0 if np.sum(rec >= t) == 0 else np.max(prec[rec >= t])
            ap += p / 11.0
        return ap
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])


def test_voc_ap_matches_direct_implementation(rng):
    """11-point and all-point AP equal the direct loops on random ranked detections."""
    for _ in range(30):
        k = int(rng.integers(0, 40))
        scores = np.round(rng.random(k), 1)
        tp = rng.random(k) < 0.5
        npos = int(tp.sum() + rng.integers(0, 5)) or 1
        prec, rec = precision_recall(torch.tensor(scores), torch.tensor(tp), npos)
        order = np.argsort(-scores, kind="stable")
        tps, fps = np.cumsum(tp[order]), np.cumsum(~tp[order])
        np.testing.assert_allclose(rec.numpy(), tps / npos)
        np.testing.assert_allclose(prec.numpy(), tps / np.maximum(tps + fps, np.finfo(np.float64).eps))
        for m07 in (True, False):
            got = voc_ap(rec, prec, use_07_metric=m07).item()
            assert got == pytest.approx(voc_ap_direct(rec.numpy(), prec.numpy(), m07), abs=1e-12)


def test_voc_ap_hand_values():
    """Perfect ranking -> 1; recall 3/10 exactly reaches the 0.3 point of the 11-point metric."""
    rec, prec = torch.tensor([0.5, 1.0]), torch.tensor([1.0, 1.0])
    assert voc_ap(rec, prec).item() == 1.0 and voc_ap(rec, prec, use_07_metric=True).item() == pytest.approx(1.0)
    assert voc_ap(torch.zeros(0), torch.zeros(0)).item() == 0.0
    with pytest.raises(ValueError, match="like `recall`"):
        voc_ap(torch.zeros(3), torch.zeros(2))
