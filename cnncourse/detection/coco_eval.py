"""COCO bounding-box evaluation: the 12 standard statistics, equal to pycocotools (Lecture 07).

Box format: COCO's ``bbox = [x, y, w, h]`` in absolute pixels (``xywh``), for ground truth and
detections alike. This is a vectorized re-implementation of ``pycocotools.cocoeval.COCOeval``
with ``iouType="bbox"``, written to reproduce its numbers exactly (the tests check this to
1e-9 on randomized data), including its conventions:

- images and categories are those listed in the ground truth; detections of unknown categories
  are dropped, detections on unknown images raise ``ValueError``;
- per (image, category) only the 100 highest-scoring detections count (ties: input order);
- crowd ground truth (``iscrowd``) is ignored and may absorb any number of detections, with
  ``IoU = |d n g| / |d|``; ground truth outside an area range is ignored for that range; area
  ranges use the annotation's ``area`` field (detections: ``w * h``), bounds inclusive;
- greedy matching by decreasing score: each detection takes the unmatched non-ignored box of
  highest IoU (>= threshold; ties: the later box), else an ignored one; unmatched detections
  outside the area range are ignored;
- precision is made monotone (the envelope) and read at 101 recall points; categories without
  non-ignored ground truth are -1 and left out of the means; a -1 statistic means "no data".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnncourse.detection._coco_data import Flat, parse

__all__ = ["evaluate_coco", "COCO_STAT_NAMES", "IOU_THRESHOLDS", "RECALL_THRESHOLDS", "AREA_RANGES",
           "MAX_DETS"]

# pycocotools builds these with np.linspace (np.arange drifts); keep the exact same floats.
IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
AREA_RANGES = np.array([[0 ** 2, 1e5 ** 2], [0 ** 2, 32 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e5 ** 2]])
MAX_DETS = (1, 10, 100)
COCO_STAT_NAMES = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
                   "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large")


def _pairs(dts: Flat, gts: Flat) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (detection, ground truth) pairs of the same problem with IoU >= 0.5, and their IoU."""
    lo = np.searchsorted(gts.key, dts.key, side="left")  # (D,)
    cnt = np.searchsorted(gts.key, dts.key, side="right") - lo  # (D,)
    d = np.repeat(np.arange(len(dts.key)), cnt)  # (P,)
    first = np.repeat(np.cumsum(cnt) - cnt, cnt)
    g = np.repeat(lo, cnt) + (np.arange(len(d)) - first)  # (P,)
    db, gb = dts.bbox[d], gts.bbox[g]  # (P, 4) xywh
    # The same float operations as pycocotools' C bbIou, so that IoU ties and thresholds agree.
    w = np.minimum(db[:, 2] + db[:, 0], gb[:, 2] + gb[:, 0]) - np.maximum(db[:, 0], gb[:, 0])
    h = np.minimum(db[:, 3] + db[:, 1], gb[:, 3] + gb[:, 1]) - np.maximum(db[:, 1], gb[:, 1])
    inter = w * h
    da, ga = db[:, 2] * db[:, 3], gb[:, 2] * gb[:, 3]
    union = np.where(gts.crowd[g], da, da + ga - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where((w > 0) & (h > 0), inter / union, 0.0)
    keep = iou >= IOU_THRESHOLDS[0]
    return d[keep], g[keep], iou[keep]


def _match(dts: Flat, gts: Flat, gt_ignore: np.ndarray) -> np.ndarray:
    """Greedy matching for all problems, thresholds and area ranges at once.

    Returns (D, T, A) int64: index of the matched ground truth, -1 if none. The loop runs over
    the rank of a detection inside its problem (<= 100 steps); each step handles one detection
    of every problem, which never compete for the same ground truth.
    """
    T, A, G = len(IOU_THRESHOLDS), gt_ignore.shape[1], len(gts.key)
    match = np.full((len(dts.key), T, A), -1, dtype=np.int64)
    d, g, iou = _pairs(dts, gts)
    if len(d) == 0:
        return match
    # Rank of each detection among the detections of its problem that have candidate pairs.
    has = np.unique(d)  # sorted: problem, then score order
    start = np.r_[True, dts.key[has][1:] != dts.key[has][:-1]]
    group_start = np.maximum.accumulate(np.where(start, np.arange(len(has)), 0))
    rank = np.zeros(len(dts.key), dtype=np.int64)
    rank[has] = np.arange(len(has)) - group_start
    order = np.lexsort((g, d, rank[d]))  # pairs by step, detection, ground-truth position
    d, g, iou = d[order], g[order], iou[order]
    iou_rank = np.unique(iou, return_inverse=True)[1].reshape(-1)  # exact ordering of IoU values
    # Preference: non-ignored first, then higher IoU, then the later ground truth (pycocotools).
    base = (iou_rank.astype(np.int64) * G + g)[:, None] \
        + (~gt_ignore[g]).astype(np.int64) * ((int(iou_rank.max()) + 1) * G)  # (P, A)
    thr = np.minimum(IOU_THRESHOLDS, 1 - 1e-10)  # (T,)
    above = iou[:, None] >= thr[None, :]  # (P, T)
    crowd = gts.crowd[g]  # (P,)
    taken = np.zeros((G, T, A), dtype=bool)
    bounds = np.searchsorted(rank[d], np.arange(int(rank[d].max()) + 2))
    for s, e in zip(bounds[:-1], bounds[1:]):
        if s == e:
            continue
        dd, gg = d[s:e], g[s:e]
        ok = above[s:e, :, None] & (~taken[gg] | crowd[s:e, None, None])  # (p, T, A)
        key = np.where(ok, base[s:e, None, :], -1)  # (p, T, A)
        heads = np.flatnonzero(np.r_[True, dd[1:] != dd[:-1]])
        best = np.maximum.reduceat(key, heads, axis=0)  # (n, T, A)
        hit = best >= 0
        chosen = np.where(hit, best % G, -1)  # (n, T, A)
        match[dd[heads]] = chosen
        n_i, t_i, a_i = np.nonzero(hit)
        taken[chosen[n_i, t_i, a_i], t_i, a_i] = True
    return match


def _accumulate(dts: Flat, gts: Flat, n_img: int, n_cat: int) -> tuple[np.ndarray, np.ndarray]:
    """precision (T, R, K, A, M) and recall (T, K, A, M), -1 where undefined (pycocotools' layout)."""
    T, R, A, M = len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS), len(AREA_RANGES), len(MAX_DETS)
    lo, hi = AREA_RANGES[:, 0], AREA_RANGES[:, 1]
    gt_ignore = gts.crowd[:, None] | (gts.area[:, None] < lo) | (gts.area[:, None] > hi)  # (G, A)
    dt_out = (dts.area[:, None] < lo) | (dts.area[:, None] > hi)  # (D, A)
    match = _match(dts, gts, gt_ignore)  # (D, T, A)
    matched = match >= 0
    safe = np.where(matched, match, 0)
    a_idx = np.arange(A)[None, None, :]
    # pycocotools stores the matched ground-truth id and tests it for != 0: keep that quirk.
    dtm = matched & (gts.ids[safe] != 0)  # (D, T, A)
    dt_ig = (matched & gt_ignore[safe, a_idx]) | (~dtm & dt_out[:, None, :])  # (D, T, A)
    tps, fps = dtm & ~dt_ig, ~dtm & ~dt_ig
    # Rank inside (image, category), for the maxDets cut.
    start = np.r_[True, dts.key[1:] != dts.key[:-1]] if len(dts.key) else np.zeros(0, bool)
    rank = np.arange(len(dts.key)) - np.maximum.accumulate(np.where(start, np.arange(len(dts.key)), 0))
    d_cat, g_cat = dts.key // n_img, gts.key // n_img
    d_bounds = np.searchsorted(d_cat, np.arange(n_cat + 1))
    g_bounds = np.searchsorted(g_cat, np.arange(n_cat + 1))
    precision = -np.ones((T, R, n_cat, A, M))
    recall = -np.ones((T, n_cat, A, M))
    eps = np.spacing(1)
    for k in range(n_cat):
        ds, de = d_bounds[k], d_bounds[k + 1]
        npig_a = np.count_nonzero(~gt_ignore[g_bounds[k]:g_bounds[k + 1]], axis=0)  # (A,)
        for m, max_det in enumerate(MAX_DETS):
            sel = ds + np.flatnonzero(rank[ds:de] < max_det)
            inds = sel[np.argsort(-dts.score[sel], kind="mergesort")]
            tp_all = np.cumsum(tps[inds], axis=0, dtype=float)  # (nd, T, A)
            fp_all = np.cumsum(fps[inds], axis=0, dtype=float)
            nd = len(inds)
            for a in range(A):
                npig = npig_a[a]
                if npig == 0:
                    continue
                tp, fp = tp_all[:, :, a].T, fp_all[:, :, a].T  # (T, nd)
                rc = tp / npig
                pr = tp / (fp + tp + eps)
                recall[:, k, a, m] = rc[:, -1] if nd else 0
                pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]  # precision envelope
                q = np.zeros((T, R))
                for t in range(T):
                    pos = np.searchsorted(rc[t], RECALL_THRESHOLDS, side="left")
                    inside = pos < nd
                    q[t, inside] = pr[t, pos[inside]]
                precision[:, :, k, a, m] = q
    return precision, recall


def _summarize(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    def mean(ap: bool, iou: float | None = None, area: int = 0, max_det: int = 100) -> float:
        m = MAX_DETS.index(max_det)
        s = precision[..., area, m] if ap else recall[..., area, m]
        if iou is not None:
            s = s[np.where(iou == IOU_THRESHOLDS)[0]]
        valid = s[s > -1]
        return -1.0 if valid.size == 0 else float(np.mean(valid))

    return np.array([mean(True), mean(True, 0.5), mean(True, 0.75),
                     mean(True, area=1), mean(True, area=2), mean(True, area=3),
                     mean(False, max_det=1), mean(False, max_det=10), mean(False),
                     mean(False, area=1), mean(False, area=2), mean(False, area=3)])


def evaluate_coco(ground_truth: dict | str, detections: list | str, *,
                  return_arrays: bool = False) -> np.ndarray | tuple[np.ndarray, dict[str, Any]]:
    """The 12 COCO bounding-box statistics, as ``COCOeval(gt, dt, "bbox").stats`` (Lecture 07).

    Args:
        ground_truth: COCO dict with ``images`` (``id``), ``categories`` (``id``) and
            ``annotations`` (``image_id``, ``category_id``, ``bbox = [x, y, w, h]``, ``area``,
            ``iscrowd``, ``id``), or the path of such a JSON file. A missing ``area`` is taken
            as ``w * h``, a missing ``iscrowd`` as 0.
        detections: list of ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``
            (xywh pixels), or a JSON file path. May be empty.
        return_arrays: also return ``{"precision": (T=10, R=101, K, A=4, M=3),
            "recall": (T, K, A, M)}`` in pycocotools' layout.

    Returns:
        ndarray[12] float64: AP@[.5:.95], AP50, AP75, AP small/medium/large, AR@1/10/100,
        AR small/medium/large (names in ``COCO_STAT_NAMES``); -1 where there is nothing to average.
    """
    img_ids, cat_ids, gts, dts = parse(ground_truth, detections)
    keep = np.r_[True, dts.key[1:] != dts.key[:-1]] if len(dts.key) else np.zeros(0, bool)
    rank = np.arange(len(dts.key)) - np.maximum.accumulate(np.where(keep, np.arange(len(dts.key)), 0))
    top = rank < MAX_DETS[-1]  # pycocotools drops everything after the 100th per problem
    dts = Flat(dts.key[top], dts.bbox[top], dts.area[top], dts.ids[top], score=dts.score[top])
    precision, recall = _accumulate(dts, gts, max(len(img_ids), 1), len(cat_ids))
    stats = _summarize(precision, recall)
    if return_arrays:
        return stats, {"precision": precision, "recall": recall}
    return stats
