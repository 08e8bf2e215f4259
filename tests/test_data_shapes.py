"""ShapesDataset: shapes, dtypes, ranges, determinism, tight boxes, masks and class balance."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from cnncourse.data import SHAPE_CLASSES, ShapesDataset


def _slow_tight_box(mask: np.ndarray) -> list[float]:
    """Loop reference: smallest (x1, y1, x2, y2) pixel-edge box holding every True pixel."""
    x1 = y1 = 10**9
    x2 = y2 = -1
    for y in range(mask.shape[0]):
        for x in range(mask.shape[1]):
            if mask[y, x]:
                x1, y1, x2, y2 = min(x1, x), min(y1, y), max(x2, x + 1), max(y2, y + 1)
    return [x1, y1, x2, y2]


@pytest.fixture(scope="module")
def shapes_batch():
    ds = ShapesDataset(300, image_size=48, max_objects=4, seed=5)
    return ds, ds.batch(np.arange(len(ds)))


def test_sample_has_the_documented_shapes_dtypes_and_ranges():
    """Does ds[i] give a (3, H, W) float32 image in [0, 1] and consistent target arrays?"""
    ds = ShapesDataset(20, image_size=(40, 56), seed=1)
    for i in range(len(ds)):
        s = ds[i]
        k = len(s["labels"])
        assert s["image"].shape == (3, 40, 56) and s["image"].dtype == np.float32
        assert 0.0 <= s["image"].min() and s["image"].max() <= 1.0
        assert s["boxes"].shape == (k, 4) and s["boxes"].dtype == np.float32
        assert s["labels"].dtype == np.int64 and set(s["labels"]) <= {0, 1, 2}
        assert s["masks"].shape == (k, 40, 56) and s["masks"].dtype == bool
        assert s["semantic"].shape == (40, 56) and s["semantic"].dtype == np.int64
        assert 1 <= k <= 3
        assert (s["boxes"][:, 0] >= 0).all() and (s["boxes"][:, 2] <= 56).all()
        assert (s["boxes"][:, 1] >= 0).all() and (s["boxes"][:, 3] <= 40).all()
    assert ds[-1]["image"].tobytes() == ds[19]["image"].tobytes()
    with pytest.raises(IndexError, match="out of range"):
        ds[20]


def test_same_seed_gives_identical_bytes_and_samples_are_random_access():
    """Is a sample a function of (seed, index) only, whatever batch it is rendered in?"""
    a, b = ShapesDataset(40, seed=7), ShapesDataset(40, seed=7)
    ba, bb = a.batch(np.arange(40)), b.batch(np.arange(40))
    assert ba["images"].tobytes() == bb["images"].tobytes()
    assert ba["instances"].tobytes() == bb["instances"].tobytes()
    part = a.batch([17, 3])
    assert part["images"][0].tobytes() == ba["images"][17].tobytes()
    np.testing.assert_array_equal(part["boxes"][1], ba["boxes"][3])
    other = ShapesDataset(40, seed=8).batch(np.arange(40))
    assert not any(np.array_equal(x, y) for x in other["images"] for y in ba["images"])


def test_boxes_tightly_enclose_the_masks_like_pycocotools(shapes_batch):
    """Does each box equal COCO's toBbox of its instance mask (and a slow loop reference)?"""
    ds, b = shapes_batch
    for i in range(0, len(ds), 7):
        s = ds[i]
        rle = mask_utils.encode(np.asfortranarray(s["masks"].transpose(1, 2, 0).astype(np.uint8)))
        xywh = mask_utils.toBbox(rle)  # (K, 4) x, y, w, h
        np.testing.assert_array_equal(s["boxes"][:, :2], xywh[:, :2])
        np.testing.assert_array_equal(s["boxes"][:, 2:] - s["boxes"][:, :2], xywh[:, 2:])
        for box, mask in zip(s["boxes"], s["masks"]):
            assert box.tolist() == _slow_tight_box(mask)


def test_masks_are_disjoint_nonempty_and_agree_with_semantic_and_instances(shapes_batch):
    """Do instance masks partition the objects, and semantic = label + 1 on them, 0 elsewhere?"""
    ds, b = shapes_batch
    for i in range(len(ds)):
        labels, inst, sem = b["labels"][i], b["instances"][i], b["semantic"][i]
        masks = inst[None] == np.arange(1, len(labels) + 1)[:, None, None]
        assert masks.any(axis=(1, 2)).all()
        assert inst.max() == len(labels)
        expected = np.zeros_like(sem)
        for lab, m in zip(labels, masks):
            expected[m] = lab + 1
        np.testing.assert_array_equal(sem, expected)


def test_without_noise_each_object_and_the_background_have_one_colour():
    """With noise=0 is every instance painted in a single colour distinct from the background?"""
    ds = ShapesDataset(30, noise=0.0, seed=2)
    for i in range(len(ds)):
        s = ds[i]
        img = s["image"].reshape(3, -1)
        bg = img[:, s["semantic"].reshape(-1) == 0]
        assert (bg == bg[:, :1]).all()
        for m in s["masks"]:
            px = img[:, m.reshape(-1)]
            assert (px == px[:, :1]).all()
            assert np.abs(px[:, 0] - bg[:, 0]).max() > 0.2  # visible against the background


@pytest.mark.parametrize("kwargs", [dict(max_objects=1), dict(max_objects=4, min_visible=1.0)],
                         ids=["one-object", "no-occlusion-allowed"])
def test_labels_match_the_drawn_geometry(kwargs):
    """Unoccluded, do fill ratios match the label (square 1, circle pi/4, triangle 1/2)?

    With ``min_visible=1.0`` any object partly hidden must have been dropped, so this also checks
    the occlusion culling.
    """
    ds = ShapesDataset(120, noise=0.0, seed=3, **kwargs)
    # Fill of the box: pi/4, 1 and 1/2 for ideal shapes; small shapes drift by pixelisation.
    expected = {"circle": (0.68, 0.9), "square": (1.0, 1.0), "triangle": (0.45, 0.65)}
    for i in range(len(ds)):
        s = ds[i]
        for (x1, y1, x2, y2), mask, label in zip(s["boxes"], s["masks"], s["labels"]):
            fill = mask.sum() / ((x2 - x1) * (y2 - y1))
            name = SHAPE_CLASSES[label]
            lo, hi = expected[name]
            assert lo <= fill <= hi, (i, name, fill)
            if name == "square":
                assert abs((x2 - x1) - (y2 - y1)) <= 1


def test_classes_are_balanced_and_object_counts_vary(shapes_batch):
    """Are the three classes about equally frequent and 1..max_objects objects per image seen?"""
    ds, b = shapes_batch
    labels = np.concatenate(b["labels"])
    share = np.bincount(labels, minlength=3) / len(labels)
    assert np.all(np.abs(share - 1 / 3) < 0.05), share
    counts = np.bincount([len(x) for x in b["labels"]], minlength=5)
    assert counts[0] == 0 and (counts[1:] > 0).all()


def test_invalid_arguments_name_the_argument():
    """Do bad constructor arguments raise errors naming the argument?"""
    with pytest.raises(ValueError, match="`num_samples` expected an integer >= 1"):
        ShapesDataset(0)
    with pytest.raises(ValueError, match="`max_objects` expected an integer >= 3"):
        ShapesDataset(5, min_objects=3, max_objects=2)
    with pytest.raises(ValueError, match="`radius_range` expected 0 < low <= high"):
        ShapesDataset(5, radius_range=(0.3, 0.1))
    with pytest.raises(ValueError, match="`min_visible` expected a probability"):
        ShapesDataset(5, min_visible=1.5)
    with pytest.raises(ValueError, match="`image_size` expected values >= 16"):
        ShapesDataset(5, image_size=8)
