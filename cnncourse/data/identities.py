"""Synthetic identities for open-set verification, offline: a stand-in for face datasets.

Lecture 9 (face verification, re-identification) and assignment a5. These are NOT faces. Each
identity is a procedural glyph: a coloured ellipse ("head") carrying identity-specific strokes and
blobs. Every sample of an identity re-renders its glyph with the nuisances that make face
verification hard: pose jitter (rotation, anisotropic scale, shift), scale, lighting (gain,
offset and a directional gradient), a random occluding patch, and pixel noise.

Why it stands in for faces offline: LFW is a 173 MiB download and face datasets carry consent and
licence questions, while what the lectures teach does not depend on faces. What matters is the
protocol: many identities with several samples each, intra-identity variation, *disjoint*
training and test identities (open set: a test identity is never seen in training, so a network
must learn an embedding, not a classifier) and a list of same/different pairs like LFW's. The
identity of a glyph is in its shape and colours, learnable by a small CNN on a CPU in minutes.

Sample ``i`` of a split is sample ``i % samples_per_identity`` of identity ``i //
samples_per_identity`` and depends only on ``(seed, split, identity, sample)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cnncourse._validate import ArgumentError, check_positive_int, check_probability
from cnncourse.data._raster import _hsv_to_rgb, _sample_rngs

__all__ = ["IdentityDataset"]

_SPLITS = {"train": 0, "val": 1, "test": 2}
_STROKES, _BLOBS = 3, 3
_ID_PARAMS = 5 + 3 + _STROKES * 8 + _BLOBS * 6  # head, head colour, strokes, blobs
_SAMPLE_PARAMS = 16
_CHUNK = 512


def _segment_distance(u, v, ax, ay, bx, by):
    """Distance from points (u, v) to segments a-b; all arrays broadcast together."""
    ex, ey = bx - ax, by - ay
    t = np.clip(((u - ax) * ex + (v - ay) * ey) / (ex * ex + ey * ey + 1e-9), 0.0, 1.0)
    return np.hypot(u - ax - t * ex, v - ay - t * ey)


class IdentityDataset:
    """Several rendered samples of many synthetic identities, with LFW-like verification pairs.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``; the three splits have disjoint identities.
        num_identities: identities in this split.
        samples_per_identity: samples rendered per identity (>= 2 for same-identity pairs).
        image_size: ``H = W`` in pixels (default 32).
        occlusion: probability that a sample carries an occluding patch.
        noise: standard deviation of the Gaussian pixel noise.
        seed: selects the world of identities; all splits of one seed share it.

    ``ds[i]`` returns ``(image, label)``: image (3, H, W) float32 in [0, 1], label the identity's
    index 0..num_identities-1 within this split. ``ds.identity_ids`` gives globally unique ids
    (``"<split>-<j>"``), disjoint between splits.

    Example:
        >>> train = IdentityDataset("train", num_identities=100, samples_per_identity=8)
        >>> test = IdentityDataset("test", num_identities=40, samples_per_identity=8)
        >>> pairs, same, folds = test.make_pairs(200)

    Lecture 9 (face verification).
    """

    def __init__(self, split: str = "train", *, num_identities: int = 100,
                 samples_per_identity: int = 8, image_size: int = 32, occlusion: float = 0.3,
                 noise: float = 0.04, seed: int = 0):
        if split not in _SPLITS:
            raise ArgumentError("split", "'train', 'val' or 'test'", repr(split))
        self.split = split
        self.num_identities = check_positive_int("num_identities", num_identities)
        self.samples_per_identity = check_positive_int("samples_per_identity", samples_per_identity)
        self.image_size = check_positive_int("image_size", image_size, minimum=8)
        self.occlusion = check_probability("occlusion", occlusion, inclusive_high=True)
        if float(noise) < 0:
            raise ArgumentError("noise", "a standard deviation >= 0", noise)
        self.noise = float(noise)
        self.seed = int(seed)
        self.identity_ids = tuple(f"{split}-{j}" for j in range(self.num_identities))
        code = _SPLITS[split]
        self._id_params = np.stack([_sample_rngs(self.seed, 0, code, j).random(_ID_PARAMS)
                                    for j in range(self.num_identities)])  # (I, P)

    @property
    def labels(self) -> np.ndarray:
        """(N,) int64 label of every sample, without rendering."""
        return np.repeat(np.arange(self.num_identities), self.samples_per_identity)

    def __len__(self) -> int:
        return self.num_identities * self.samples_per_identity

    def __repr__(self) -> str:
        return (f"IdentityDataset({self.split!r}, num_identities={self.num_identities}, "
                f"samples_per_identity={self.samples_per_identity}, seed={self.seed})")

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        images, labels = self.batch([index])
        return images[0], int(labels[0])

    def _check_index(self, index) -> int:
        i, n = int(index), len(self)
        i = i + n if i < 0 else i
        if not 0 <= i < n:
            raise IndexError(f"index {index} is out of range for a dataset of {n} samples")
        return i

    def batch(self, indices: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Render samples ``indices``: returns images (B, 3, H, W) float32 and labels (B,) int64."""
        idx = np.array([self._check_index(i) for i in np.asarray(indices).reshape(-1)], dtype=np.int64)
        labels = idx // self.samples_per_identity
        s = self.image_size
        images = np.empty((len(idx), 3, s, s), dtype=np.float32)
        for start in range(0, len(idx), _CHUNK):
            images[start:start + _CHUNK] = self._render(idx[start:start + _CHUNK])
        return images, labels

    def _render(self, idx: np.ndarray) -> np.ndarray:
        s, spi, code = self.image_size, self.samples_per_identity, _SPLITS[self.split]
        ident = idx // spi
        q = np.empty((len(idx), _SAMPLE_PARAMS))
        noise = np.empty((len(idx), 3, s, s), dtype=np.float32)
        for row, (j, k) in enumerate(zip(ident, idx % spi)):
            rng = _sample_rngs(self.seed, 1, code, j, k)
            q[row] = rng.random(_SAMPLE_PARAMS)
            noise[row] = rng.standard_normal((3, s, s), dtype=np.float32)
        p = self._id_params[ident]                                            # (B, P)
        col = lambda a: a[:, None, None]  # noqa: E731  (B,) -> (B, 1, 1)

        # Pose: image coordinates in [-1, 1] mapped back into the glyph's canonical frame.
        theta = (q[:, 0] - 0.5) * np.deg2rad(30)                              # +-15 degrees
        scale = 0.85 + 0.3 * q[:, 1]
        aspect = 0.85 + 0.15 * q[:, 2]                                        # a little "yaw"
        tx, ty = 0.2 * (q[:, 3] - 0.5), 0.2 * (q[:, 4] - 0.5)
        grid = (np.arange(s) + 0.5) / s * 2 - 1
        x, y = grid[None, None, :] - col(tx), grid[None, :, None] - col(ty)   # (B, 1, W), (B, H, 1)
        c, sn = col(np.cos(theta)), col(np.sin(theta))
        u = (c * x + sn * y) / col(scale * aspect)                            # (B, H, W)
        v = (-sn * x + c * y) / col(scale)

        # Glyph: head ellipse, then strokes, then blobs, each with an identity-specific colour.
        canvas = np.empty((len(idx), 3, s, s))
        canvas[:] = (0.1 + 0.2 * q[:, 5])[:, None, None, None]                # grey background
        head_a, head_b = 0.55 + 0.25 * p[:, 0], 0.65 + 0.25 * p[:, 1]
        head = (u / col(head_a)) ** 2 + (v / col(head_b)) ** 2 <= 1.0
        head_rgb = _hsv_to_rgb(p[:, 5], 0.2 + 0.4 * p[:, 6], 0.5 + 0.3 * p[:, 7])  # (B, 3)
        np.copyto(canvas, head_rgb[:, :, None, None], where=head[:, None])
        o = 8
        for t in range(_STROKES):
            a = p[:, o:o + 8]
            ax, ay, bx, by = (col(1.1 * (a[:, m] - 0.5)) for m in range(4))
            width = col(0.05 + 0.07 * a[:, 4])
            on = _segment_distance(u, v, ax, ay, bx, by) <= width
            rgb = _hsv_to_rgb(a[:, 5], 0.6 + 0.4 * a[:, 6], 0.3 + 0.7 * a[:, 7])
            np.copyto(canvas, rgb[:, :, None, None], where=on[:, None])
            o += 8
        for t in range(_BLOBS):
            a = p[:, o:o + 6]
            bx, by = col(0.9 * (a[:, 0] - 0.5)), col(0.9 * (a[:, 1] - 0.5))
            on = (u - bx) ** 2 + (v - by) ** 2 <= col(0.08 + 0.12 * a[:, 2]) ** 2
            rgb = _hsv_to_rgb(a[:, 3], 0.7 + 0.3 * a[:, 4], 0.4 + 0.6 * a[:, 5])
            np.copyto(canvas, rgb[:, :, None, None], where=on[:, None])
            o += 6

        # Lighting: gain, offset and a linear gradient in a random direction.
        gain = 0.7 + 0.6 * q[:, 6]
        phi = 2 * np.pi * q[:, 7]
        ramp = 0.25 * q[:, 8][:, None, None] * (np.cos(phi)[:, None, None] * grid[None, None, :]
                                                + np.sin(phi)[:, None, None] * grid[None, :, None])
        canvas = canvas * gain[:, None, None, None] + (ramp + col(0.1 * (q[:, 9] - 0.5)))[:, None]

        # Occlusion: an axis-aligned patch of random grey covering up to ~20% of the image.
        occluded = q[:, 10] < self.occlusion
        pw, ph = 0.3 + 0.3 * q[:, 11], 0.3 + 0.3 * q[:, 12]
        px, py = q[:, 13] * (2 - pw) - 1, q[:, 14] * (2 - ph) - 1
        patch = ((grid[None, None, :] >= col(px)) & (grid[None, None, :] <= col(px + pw))
                 & (grid[None, :, None] >= col(py)) & (grid[None, :, None] <= col(py + ph))
                 & col(occluded))
        np.copyto(canvas, q[:, 15][:, None, None, None], where=patch[:, None])

        image = canvas.astype(np.float32) + np.float32(self.noise) * noise
        return np.clip(image, 0.0, 1.0, out=image)

    def make_pairs(self, pairs_per_fold: int = 300, *, num_folds: int = 1,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Verification pairs like LFW's ``pairs.txt``: per fold, half same, half different.

        Identities are split among folds so that no identity appears in two folds (as in LFW's
        view 2). Within a fold, pairs are distinct.

        Args:
            pairs_per_fold: pairs per fold (an even number: half matched, half mismatched).
            num_folds: number of folds.
            seed: selects the pairs.

        Returns:
            ``(pairs, same, folds)``: (P, 2) int64 sample indices into this dataset, (P,) bool,
            (P,) int64 fold index, with P = num_folds * pairs_per_fold.

        Lecture 9 (verification protocol, ROC).
        """
        per_fold = check_positive_int("pairs_per_fold", pairs_per_fold, minimum=2)
        if per_fold % 2:
            raise ArgumentError("pairs_per_fold", "an even number (half same, half different)", per_fold)
        folds_n = check_positive_int("num_folds", num_folds)
        spi = self.samples_per_identity
        if spi < 2:
            raise ArgumentError("samples_per_identity", "at least 2 to form same-identity pairs", spi)
        if self.num_identities < 2 * folds_n:
            raise ArgumentError("num_folds", f"at most {self.num_identities // 2} (2 identities "
                                "per fold)", folds_n)
        rng = np.random.default_rng([int(seed), 7])
        groups = np.array_split(rng.permutation(self.num_identities), folds_n)
        half = per_fold // 2
        out = []
        for g in groups:
            n_ids = len(g)
            if n_ids < 2 or half > n_ids * spi * (spi - 1) // 2:
                raise ArgumentError("pairs_per_fold", f"at most the {n_ids} identities of a fold "
                                    "can provide", per_fold)
            matched: set[tuple[int, int]] = set()
            while len(matched) < half:  # two different samples of one identity
                ident = int(rng.choice(g))
                i, j = sorted(rng.choice(spi, 2, replace=False))
                matched.add((ident * spi + int(i), ident * spi + int(j)))
            mismatched: set[tuple[int, int]] = set()
            while len(mismatched) < half:  # samples of two different identities
                a, b = rng.choice(g, 2, replace=False)
                i, j = rng.integers(spi, size=2)
                mismatched.add(tuple(sorted((int(a) * spi + int(i), int(b) * spi + int(j)))))
            out.append([(i, j, True) for i, j in sorted(matched)]
                       + [(i, j, False) for i, j in sorted(mismatched)])  # matched first, like LFW
        pairs = np.array([[f[0], f[1]] for fold in out for f in fold], dtype=np.int64)
        same = np.array([f[2] for fold in out for f in fold], dtype=bool)
        folds = np.repeat(np.arange(folds_n), per_fold)
        return pairs, same, folds
