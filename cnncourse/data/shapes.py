"""Procedural circles, squares and triangles for detection and segmentation, offline.

Lecture 7 (detection) and Lecture 8 (segmentation); assignments a4 (a tiny detector) and a6 (an
FCN). Each image shows 1 to ``max_objects`` filled shapes of random size, colour and position on a
dark noisy background. Later shapes are drawn over earlier ones; a shape hidden by more than
``1 - min_visible`` of its area is dropped, so every listed object is clearly visible. Boxes are
``(x1, y1, x2, y2)`` in absolute pixels, pixel edges: the tight box around the object's *visible*
mask (``x2 - x1`` = number of columns it covers, as COCO's ``toBbox``).

Sample ``i`` depends only on ``(seed, i)``: datasets are random-access, need no memory, and a batch
is rendered at once with array operations. Use different seeds for different splits, e.g.
``ShapesDataset(2000, seed=0)`` for training and ``ShapesDataset(500, seed=1)`` for testing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cnncourse._validate import ArgumentError, as_pair, check_positive_int, check_probability
from cnncourse.data._raster import _hsv_to_rgb, _masks_to_boxes, _sample_rngs

__all__ = ["SHAPE_CLASSES", "ShapesDataset"]

SHAPE_CLASSES = ("circle", "square", "triangle")  # label k; the semantic mask uses k + 1
_SQUARE_HALF = 0.85    # half side / radius: the three shapes have similar areas
_TRIANGLE_R = 1.25     # circumradius / radius
_PARAMS_PER_OBJECT = 8  # uniforms drawn per object slot: class, radius, cx, cy, h, s, v, spare
_CHUNK = 256           # samples rendered per vectorised pass (bounds the (B, K, H, W) temporaries)


class ShapesDataset:
    """Images of coloured shapes with boxes, labels, instance and semantic masks.

    Args:
        num_samples: number of images N.
        image_size: ``H = W`` or ``(H, W)`` in pixels (default 64).
        min_objects, max_objects: objects drawn per image before occlusion culling (the one on
            top is always kept, so every image has at least one object).
        radius_range: object radius as a fraction of ``min(H, W)``.
        noise: standard deviation of the Gaussian pixel noise.
        min_visible: an object must keep at least this fraction of its pixels visible.
        seed: selects the dataset; sample ``i`` is a function of ``(seed, i)`` only.

    Each sample (``ds[i]``) is a dict:
        ``image`` (3, H, W) float32 in [0, 1]; ``boxes`` (K, 4) float32 ``(x1, y1, x2, y2)``;
        ``labels`` (K,) int64 in 0..2 (``SHAPE_CLASSES``); ``masks`` (K, H, W) bool visible
        instance masks; ``semantic`` (H, W) int64, 0 background, ``label + 1`` on objects.

    Example:
        >>> ds = ShapesDataset(100, image_size=64, seed=0)
        >>> s = ds[0]
        >>> s["image"].shape, s["boxes"].shape[1]
        ((3, 64, 64), 4)

    Lecture 7 (detection), Lecture 8 (segmentation).
    """

    classes = SHAPE_CLASSES
    num_classes = len(SHAPE_CLASSES)

    def __init__(self, num_samples: int = 1000, *, image_size: int | tuple[int, int] = 64,
                 min_objects: int = 1, max_objects: int = 3,
                 radius_range: tuple[float, float] = (0.08, 0.2), noise: float = 0.05,
                 min_visible: float = 0.6, seed: int = 0):
        self.num_samples = check_positive_int("num_samples", num_samples)
        self.image_size = as_pair("image_size", image_size, minimum=16)
        self.min_objects = check_positive_int("min_objects", min_objects)
        self.max_objects = check_positive_int("max_objects", max_objects, minimum=self.min_objects)
        if self.max_objects > 255:
            raise ArgumentError("max_objects", "at most 255 (instance ids are uint8)", max_objects)
        lo, hi = (float(v) for v in radius_range)
        if not 0.0 < lo <= hi <= 1.0 / (2 * _TRIANGLE_R):
            raise ArgumentError("radius_range", f"0 < low <= high <= {1 / (2 * _TRIANGLE_R):.2f}",
                                radius_range)
        self.radius_range = (lo, hi)
        if float(noise) < 0:
            raise ArgumentError("noise", "a standard deviation >= 0", noise)
        self.noise = float(noise)
        self.min_visible = check_probability("min_visible", min_visible, inclusive_high=True)
        self.seed = int(seed)

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self) -> str:
        return (f"ShapesDataset(num_samples={self.num_samples}, image_size={self.image_size}, "
                f"max_objects={self.max_objects}, seed={self.seed})")

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        index = self._check_index(index)
        b = self.batch([index])
        instances, n = b["instances"][0], len(b["labels"][0])
        masks = instances[None] == np.arange(1, n + 1)[:, None, None]  # (K, H, W)
        return {"image": b["images"][0], "boxes": b["boxes"][0], "labels": b["labels"][0],
                "masks": masks, "semantic": b["semantic"][0]}

    def _check_index(self, index: Any) -> int:
        i = int(index)
        if i < 0:
            i += self.num_samples
        if not 0 <= i < self.num_samples:
            raise IndexError(f"index {index} is out of range for {self.num_samples} samples")
        return i

    def batch(self, indices: Sequence[int] | np.ndarray) -> dict[str, Any]:
        """Render several samples at once (the fast path used by the mini-batch iterator).

        Args:
            indices: B sample indices.

        Returns:
            dict with ``images`` (B, 3, H, W) float32, ``semantic`` (B, H, W) int64,
            ``instances`` (B, H, W) int64 (0 background, k + 1 on the k-th object of ``labels``),
            ``boxes``: B arrays (K_b, 4) float32 and ``labels``: B arrays (K_b,) int64.
        """
        idx = [self._check_index(i) for i in np.asarray(indices).reshape(-1)]
        parts = [self._render(idx[s:s + _CHUNK]) for s in range(0, len(idx), _CHUNK)]
        if not parts:
            h, w = self.image_size
            empty = np.zeros((0, h, w), np.int64)
            return {"images": np.zeros((0, 3, h, w), np.float32), "semantic": empty,
                    "instances": empty.copy(), "boxes": [], "labels": []}
        return {key: (sum((p[key] for p in parts), []) if key in ("boxes", "labels")
                      else np.concatenate([p[key] for p in parts]))
                for key in parts[0]}

    def _draw_parameters(self, indices: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Uniform parameters (B, K, 8), background uniforms (B, 4), noise (B, 3, H, W)."""
        k, (h, w) = self.max_objects, self.image_size
        u = np.empty((len(indices), k * _PARAMS_PER_OBJECT + 4))
        noise = np.empty((len(indices), 3, h, w), dtype=np.float32)
        for row, i in enumerate(indices):  # one small generator per sample: random access
            rng = _sample_rngs(self.seed, i)
            u[row] = rng.random(u.shape[1])
            noise[row] = rng.standard_normal((3, h, w), dtype=np.float32)
        return u[:, 4:].reshape(len(indices), k, _PARAMS_PER_OBJECT), u[:, :4], noise

    def _render(self, indices: list[int]) -> dict[str, Any]:
        (h, w), k = self.image_size, self.max_objects
        p, bg, noise = self._draw_parameters(indices)
        n_obj = self.min_objects + np.floor(bg[:, 0] * (k - self.min_objects + 1)).astype(np.int64)
        present = np.arange(k)[None] < n_obj[:, None]                       # (B, K)
        cls = np.minimum(np.floor(p[..., 0] * 3).astype(np.int64), 2)        # (B, K)
        side = min(h, w)
        lo, hi = self.radius_range
        r = side * (lo + (hi - lo) * p[..., 1])                              # (B, K) pixels
        ext = _TRIANGLE_R * r  # every shape fits in a disc of this radius: keep it in the image
        cx = ext + (w - 2 * ext) * p[..., 2]
        cy = ext + (h - 2 * ext) * p[..., 3]

        ys = (np.arange(h, dtype=np.float32) + 0.5)[None, None, :, None]   # pixel centres
        xs = (np.arange(w, dtype=np.float32) + 0.5)[None, None, None, :]
        dx = xs - cx[..., None, None].astype(np.float32)                     # (B, K, 1, W)
        dy = ys - cy[..., None, None].astype(np.float32)                     # (B, K, H, 1)
        r4 = r[..., None, None].astype(np.float32)
        circle = dx * dx + dy * dy <= r4 * r4                                # (B, K, H, W)
        square = (np.abs(dx) <= _SQUARE_HALF * r4) & (np.abs(dy) <= _SQUARE_HALF * r4)
        rt = _TRIANGLE_R * r4  # upward equilateral triangle, circumradius rt, centred at (cx, cy)
        triangle = (np.sqrt(np.float32(3)) * np.abs(dx) <= dy + rt) & (dy <= rt / 2)
        c4 = cls[..., None, None]
        full = np.where(c4 == 0, circle, np.where(c4 == 1, square, triangle)) & present[..., None, None]

        # Painter's order: slot K-1 is on top. Walk down, dropping objects hidden too much.
        visible = np.zeros_like(full)
        cover = np.zeros((len(indices), h, w), dtype=bool)
        area = np.count_nonzero(full, axis=(2, 3))
        for j in range(k - 1, -1, -1):
            vis = full[:, j] & ~cover
            keep = np.count_nonzero(vis, axis=(1, 2)) >= self.min_visible * np.maximum(area[:, j], 1)
            keep &= present[:, j]
            visible[:, j] = vis & keep[:, None, None]
            cover |= full[:, j] & keep[:, None, None]
        kept = visible.any(axis=(2, 3))                                      # (B, K)

        colors = _hsv_to_rgb(p[..., 4], 0.5 + 0.5 * p[..., 5], 0.6 + 0.4 * p[..., 6])  # (B, K, 3)
        colors = colors.astype(np.float32)
        background = (0.35 * bg[:, 1:4]).astype(np.float32)                # dark, (B, 3)
        image = np.empty((len(indices), 3, h, w), dtype=np.float32)
        image[:] = background[:, :, None, None]
        # Instance ids renumbered 1..K_b among kept objects, bottom to top.
        rank = (np.cumsum(kept, axis=1) * kept).astype(np.uint8)            # (B, K)
        instances = np.zeros((len(indices), h, w), dtype=np.uint8)
        semantic = np.zeros((len(indices), h, w), dtype=np.uint8)
        for j in range(k):  # visible masks are disjoint, so the order does not matter here
            m = visible[:, j]                                                # (B, H, W)
            np.copyto(image, colors[:, j, :, None, None], where=m[:, None])
            np.copyto(instances, rank[:, j, None, None], where=m)
            np.copyto(semantic, (cls[:, j, None, None] + 1).astype(np.uint8), where=m)
        image += np.float32(self.noise) * noise
        np.clip(image, 0.0, 1.0, out=image)
        boxes = _masks_to_boxes(visible)                                     # (B, K, 4)
        return {"images": image, "semantic": semantic.astype(np.int64),
                "instances": instances.astype(np.int64),
                "boxes": [boxes[b][kept[b]] for b in range(len(indices))],
                "labels": [cls[b][kept[b]] for b in range(len(indices))]}
