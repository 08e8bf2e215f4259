"""Generation speed of the procedural datasets (run by `make bench`; not a test).

Ours: ShapesDataset.batch over chunks (vectorised rendering). Peer: the same samples one at a time
through ShapesDataset.__getitem__ (what a per-sample DataLoader does), and a PIL ImageDraw
renderer of comparable images (the usual way such generators are written). Median of repeats.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cnncourse.data import IdentityDataset, ShapesDataset, iterate_minibatches  # noqa: E402

N, SIZE, REPEATS = 10_000, 64, 3


def _median_time(fn, repeats=REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def shapes_vectorised():
    ds = ShapesDataset(N, image_size=SIZE, seed=0)
    for _ in iterate_minibatches(ds, 256, shuffle=False):
        pass


def shapes_one_by_one():
    ds = ShapesDataset(N, image_size=SIZE, seed=0)
    for i in range(N):
        ds[i]


def shapes_pil():
    """Images only (no masks or boxes): random circles/squares/triangles drawn with PIL."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    for _ in range(N):
        im = Image.new("RGB", (SIZE, SIZE), tuple(int(v) for v in rng.integers(0, 90, 3)))
        draw = ImageDraw.Draw(im)
        for _ in range(int(rng.integers(1, 4))):
            r = rng.uniform(5, 13)
            cx, cy = rng.uniform(r, SIZE - r, 2)
            color = tuple(int(v) for v in rng.integers(90, 256, 3))
            kind = int(rng.integers(3))
            if kind == 0:
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=color)
            elif kind == 1:
                draw.rectangle((cx - r, cy - r, cx + r, cy + r), fill=color)
            else:
                draw.polygon([(cx, cy - r), (cx - r, cy + r / 2), (cx + r, cy + r / 2)], fill=color)
        x = np.asarray(im, dtype=np.float32) / 255.0
        np.clip(x + rng.normal(0, 0.05, x.shape).astype(np.float32), 0, 1)


def identities_vectorised():
    ds = IdentityDataset(num_identities=1000, samples_per_identity=10, seed=0)
    for _ in iterate_minibatches(ds, 512, shuffle=False):
        pass


def identities_one_by_one():
    ds = IdentityDataset(num_identities=1000, samples_per_identity=10, seed=0)
    for i in range(len(ds)):
        ds[i]


def main() -> None:
    print(f"ShapesDataset: {N:,} samples of {SIZE}x{SIZE} RGB with boxes and masks "
          f"(median of {REPEATS})")
    ours = _median_time(shapes_vectorised)
    one = _median_time(shapes_one_by_one)
    pil = _median_time(shapes_pil)
    print(f"  ours (vectorised batches of 256): {ours:7.2f} s")
    print(f"  peer: one sample at a time        {one:7.2f} s   ratio peer/ours = {one / ours:5.2f}")
    print(f"  peer: PIL ImageDraw, images only  {pil:7.2f} s   ratio peer/ours = {pil / ours:5.2f}")
    print(f"IdentityDataset: 10,000 samples of 32x32 RGB (median of {REPEATS})")
    ours = _median_time(identities_vectorised)
    one = _median_time(identities_one_by_one)
    print(f"  ours (vectorised batches of 512): {ours:7.2f} s")
    print(f"  peer: one sample at a time        {one:7.2f} s   ratio peer/ours = {one / ours:5.2f}")


if __name__ == "__main__":
    main()
