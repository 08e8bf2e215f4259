"""Generation speed of the procedural datasets (run by `make bench`; not a test).

Ours: ShapesDataset.batch over chunks (vectorised rendering). Peer: the same samples one at a time
through ShapesDataset.__getitem__ (what a per-sample DataLoader does), and a PIL ImageDraw
renderer of comparable images (the usual way such generators are written). Median of repeats.
"""

from __future__ import annotations

from _bench import compare, header  # first: pins BLAS threads before numpy loads

import numpy as np

from cnncourse.data import IdentityDataset, ShapesDataset, iterate_minibatches

N, SIZE, REPEATS = 10_000, 64, 3


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
    print(f"ShapesDataset: {N:,} samples of {SIZE}x{SIZE} RGB with boxes and masks; "
          f"IdentityDataset: 10,000 samples of 32x32 (median of {REPEATS}; ratio = ours / peer)")
    header()
    kw = dict(repeat=REPEATS, warmup=0)
    compare("shapes: vectorised batches of 256 vs one at a time", shapes_vectorised,
            shapes_one_by_one, **kw)
    compare("shapes: ours (with masks, boxes) vs PIL images only", shapes_vectorised, shapes_pil, **kw)
    compare("identities: batches of 512 vs one at a time", identities_vectorised,
            identities_one_by_one, **kw)


if __name__ == "__main__":
    main()
