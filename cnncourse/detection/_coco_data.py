"""Parse COCO-format ground truth and detections into flat numpy arrays (for ``coco_eval``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnncourse._validate import ArgumentError


@dataclass
class Flat:
    """One row per box, sorted by problem ``key = cat_index * I + img_index`` (stably)."""

    key: np.ndarray  # (n,) int64
    bbox: np.ndarray  # (n, 4) float64, COCO xywh
    area: np.ndarray  # (n,) float64
    ids: np.ndarray  # (n,) int64 annotation id (detections: position in the input list + 1)
    score: np.ndarray | None = None  # (n,) detections only
    crowd: np.ndarray | None = None  # (n,) bool, ground truth only


def load(name: str, value: Any) -> Any:
    """A dict/list as given, or the parsed content of a JSON file path."""
    if isinstance(value, (str, os.PathLike)):
        with open(value) as f:
            return json.load(f)
    return value


def _field(rows: list, name: str, what: str, dtype=np.float64) -> np.ndarray:
    try:
        return np.array([r[name] for r in rows], dtype=dtype)
    except (KeyError, TypeError, ValueError) as err:
        raise ArgumentError(what, f"dicts with a numeric '{name}' field", repr(err)) from None


def _index(values: np.ndarray, universe: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each value in the sorted ``universe`` and whether it is present."""
    pos = np.searchsorted(universe, values).clip(0, max(len(universe) - 1, 0))
    ok = universe[pos] == values if len(universe) else np.zeros(len(values), dtype=bool)
    return pos, ok


def _bboxes(rows: list, what: str) -> np.ndarray:
    try:
        flat = np.fromiter((v for r in rows for v in r["bbox"]), dtype=np.float64,
                           count=4 * len(rows))
    except (KeyError, TypeError, ValueError) as err:
        raise ArgumentError(what, "dicts with a 'bbox' of 4 numbers [x, y, w, h]", repr(err)) from None
    return flat.reshape(-1, 4)


def parse(gt: Any, dt: Any) -> tuple[np.ndarray, np.ndarray, Flat, Flat]:
    """Return (image ids, category ids, ground-truth rows, detection rows) as pycocotools sees them."""
    gt, dt = load("ground_truth", gt), load("detections", dt)
    if not isinstance(gt, dict) or not {"images", "annotations", "categories"} <= gt.keys():
        raise ArgumentError("ground_truth", "a COCO dict with 'images', 'annotations' and 'categories'",
                            type(gt).__name__ if not isinstance(gt, dict) else sorted(gt.keys()))
    if isinstance(dt, dict) and "annotations" in dt:
        dt = dt["annotations"]
    if not isinstance(dt, list):
        raise ArgumentError("detections", "a list of COCO result dicts", type(dt).__name__)
    img_ids = np.unique(np.array([im["id"] for im in gt["images"]]))
    cat_ids = np.unique(np.array([c["id"] for c in gt["categories"]]))
    n_img = len(img_ids)

    anns = gt["annotations"]
    g_img, g_ok = _index(np.array([a["image_id"] for a in anns]), img_ids)
    g_cat, c_ok = _index(np.array([a["category_id"] for a in anns]), cat_ids)
    g_box = _bboxes(anns, "ground_truth['annotations']")
    g_area = np.array([a.get("area", b[2] * b[3]) for a, b in zip(anns, g_box)], dtype=np.float64)
    g_crowd = np.array([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool)
    g_id = _field(anns, "id", "ground_truth['annotations']", np.int64) if anns else np.zeros(0, np.int64)
    keep = g_ok & c_ok
    g_key = g_cat.astype(np.int64) * n_img + g_img
    order = np.flatnonzero(keep)[np.argsort(g_key[keep], kind="stable")]
    gts = Flat(g_key[order], g_box[order].reshape(-1, 4), g_area[order], g_id[order], crowd=g_crowd[order])

    d_img, d_ok = _index(np.array([d["image_id"] for d in dt]), img_ids)
    if not d_ok.all():
        bad = dt[int(np.flatnonzero(~d_ok)[0])]["image_id"]
        raise ArgumentError("detections", "image ids present in ground_truth['images']", bad)
    d_cat, c_ok = _index(np.array([d["category_id"] for d in dt]), cat_ids)
    d_box = _bboxes(dt, "detections")
    d_score = _field(dt, "score", "detections")
    if np.isnan(d_score).any():
        raise ArgumentError("detections", "finite scores", "NaN")
    d_id = np.arange(1, len(dt) + 1, dtype=np.int64)
    d_key = d_cat.astype(np.int64) * n_img + d_img
    # Within a (category, image) problem: decreasing score, ties in input order (mergesort).
    idx = np.flatnonzero(c_ok)
    order = idx[np.lexsort((-d_score[idx], d_key[idx]))]
    box = d_box[order].reshape(-1, 4)
    dts = Flat(d_key[order], box, box[:, 2] * box[:, 3], d_id[order], score=d_score[order])
    return img_ids, cat_ids, gts, dts
