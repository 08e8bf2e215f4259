"""Benchmark: COCO evaluation (ours vs pycocotools vs faster-coco-eval) and NMS (ours vs a loop).

Run: ``python benchmarks/bench_detection.py [--images 5000] [--repeats 3]``. Prints median
wall times measured in the same run, the ratios, and whether the 12 statistics are identical.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import time

import numpy as np
import torch

from cnncourse.detection import evaluate_coco, nms


def make_coco(n_images: int, dets_per_image: int, n_cats: int = 80, seed: int = 0):
    """A COCO-like problem: ~7 boxes per image, detections jittered around them plus clutter."""
    r = np.random.default_rng(seed)
    images = [{"id": i + 1, "width": 640, "height": 480} for i in range(n_images)]
    cats = [{"id": c + 1, "name": str(c)} for c in range(n_cats)]
    n_gt = r.integers(1, 15, n_images)
    img = np.repeat(np.arange(1, n_images + 1), n_gt)
    g = len(img)
    wh = np.exp(r.uniform(np.log(8), np.log(300), (g, 2))).round(1)
    xy = r.uniform(0, 400, (g, 2)).round(1)
    cat = r.integers(1, n_cats + 1, g)
    crowd = r.random(g) < 0.01
    anns = [{"id": i + 1, "image_id": int(img[i]), "category_id": int(cat[i]),
             "bbox": [float(xy[i, 0]), float(xy[i, 1]), float(wh[i, 0]), float(wh[i, 1])],
             "area": float(wh[i, 0] * wh[i, 1] * 0.8), "iscrowd": int(crowd[i])} for i in range(g)]
    # Detections: per image, jittered copies of its boxes (some with a wrong class) + clutter.
    first = np.r_[0, np.cumsum(n_gt)[:-1]]
    pick = first[np.repeat(np.arange(n_images), dets_per_image)] \
        + (r.random(n_images * dets_per_image) * np.repeat(n_gt, dets_per_image)).astype(int)
    jit = r.normal(0, 0.15, (len(pick), 4)) * np.c_[wh[pick], wh[pick]]
    box = np.c_[xy[pick], wh[pick]] + jit
    box[:, 2:] = np.maximum(box[:, 2:], 1)
    clutter = r.random(len(pick)) < 0.4
    box[clutter] = np.c_[r.uniform(0, 400, (clutter.sum(), 2)), r.uniform(5, 200, (clutter.sum(), 2))]
    dcat = np.where(r.random(len(pick)) < 0.85, cat[pick], r.integers(1, n_cats + 1, len(pick)))
    score = r.random(len(pick)).round(3)
    dets = [{"image_id": int(img[p]), "category_id": int(c), "bbox": [float(v) for v in b.round(2)],
             "score": float(s)} for p, c, b, s in zip(pick, dcat, box, score)]
    return {"images": images, "annotations": anns, "categories": cats}, dets


def run_pycocotools(gt, dt, module: str):
    if module == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    else:
        from faster_coco_eval import COCO
        from faster_coco_eval import COCOeval_faster as COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        res = coco.loadRes(dt)
        ev = COCOeval(coco, res, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats, dtype=np.float64)


def timed(fn, inputs, repeats: int):
    """Median time of ``fn(*copy)`` over fresh deep copies (the COCO tools mutate their input)."""
    times, out = [], None
    for _ in range(repeats):
        args = copy.deepcopy(inputs)
        t0 = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def nms_loop(boxes: torch.Tensor, scores: torch.Tensor, thr: float) -> list[int]:
    """O(K^2) reference: visit by score, suppress when IoU > thr with any kept box."""
    b = boxes.tolist()
    order = sorted(range(len(b)), key=lambda i: -float(scores[i]))
    keep: list[int] = []
    for i in order:
        x1, y1, x2, y2 = b[i]
        ok = True
        for j in keep:
            u1, v1, u2, v2 = b[j]
            iw, ih = max(0.0, min(x2, u2) - max(x1, u1)), max(0.0, min(y2, v2) - max(y1, v1))
            inter = iw * ih
            union = (x2 - x1) * (y2 - y1) + (u2 - u1) * (v2 - v1) - inter
            if union > 0 and inter / union > thr:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--dets", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--nms-boxes", type=int, default=5000)
    args = ap.parse_args()
    torch.set_num_threads(1)

    gt, dt = make_coco(args.images, args.dets)
    print(f"COCO bbox evaluation: {args.images} images x {args.dets} detections "
          f"({len(gt['annotations'])} ground-truth boxes), median of {args.repeats}")
    t_ours, s_ours = timed(evaluate_coco, (gt, dt), args.repeats)
    t_ref, s_ref = timed(lambda g, d: run_pycocotools(g, d, "pycocotools"), (gt, dt), args.repeats)
    t_fast, s_fast = timed(lambda g, d: run_pycocotools(g, d, "faster"), (gt, dt), args.repeats)
    print(f"  ours             {t_ours:8.3f} s")
    print(f"  pycocotools      {t_ref:8.3f} s   ours is {t_ref / t_ours:5.2f}x faster")
    print(f"  faster-coco-eval {t_fast:8.3f} s   ours / faster = {t_ours / t_fast:5.2f}")
    print(f"  stats identical to pycocotools: {bool(np.array_equal(s_ours, s_ref))} "
          f"(max |diff| {np.abs(s_ours - s_ref).max():.3g})")
    print(f"  stats identical to faster-coco-eval: {bool(np.array_equal(s_ours, s_fast))} "
          f"(max |diff| {np.abs(s_ours - s_fast).max():.3g})")
    print("  stats:", np.array2string(s_ours, precision=4))

    r = np.random.default_rng(1)
    k = args.nms_boxes
    xy = r.uniform(0, 1000, (k, 2))
    wh = r.uniform(10, 120, (k, 2))
    boxes = torch.tensor(np.c_[xy, xy + wh], dtype=torch.float32)
    scores = torch.tensor(r.random(k), dtype=torch.float32)
    t_nms, keep = timed(lambda b, s: nms(b, s, 0.5), (boxes, scores), max(args.repeats, 5))
    t_loop, keep_ref = timed(lambda b, s: nms_loop(b, s, 0.5), (boxes, scores), 1)
    print(f"NMS on {k} boxes (IoU > 0.5): ours {t_nms * 1e3:.1f} ms, loop reference "
          f"{t_loop * 1e3:.1f} ms, ratio {t_loop / t_nms:.1f}x, same result: {keep.tolist() == keep_ref}")


if __name__ == "__main__":
    main()
