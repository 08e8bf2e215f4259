"""Benchmark cnncourse.signal.correlate and cnncourse.pyramid SPP against scipy / torch peers.

Plain script (run by `make bench`): prints median times of ours vs a peer measured in the same run
and the ratio. Not a test.
"""

from __future__ import annotations

from _bench import header, median_time  # first: pins BLAS threads before numpy/torch load

import numpy as np
import torch
import torch.nn.functional as F
from scipy.signal import correlate as scipy_correlate

from cnncourse.pyramid import spatial_pyramid_pool_forward
from cnncourse.signal import conv_as_toeplitz, correlate


def _row(name: str, ours: float, peer: float, peer_name: str) -> None:
    print(f"{name:<40} ours {ours * 1e3:8.2f} ms   {peer_name} {peer * 1e3:8.2f} ms   "
          f"ratio {ours / peer:6.2f}")


def main() -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(256, 256)), rng.normal(size=(5, 5))
    _row("correlate 256x256 * 5x5", median_time(lambda: correlate(x, w)),
         median_time(lambda: scipy_correlate(x, w, mode="valid", method="direct")), "scipy direct")
    tx, tw = torch.from_numpy(x)[None, None], torch.from_numpy(w)[None, None]
    _row("correlate 256x256 * 5x5", median_time(lambda: correlate(x, w)),
         median_time(lambda: F.conv2d(tx, tw)), "torch conv2d")
    v, k = rng.normal(size=(32, 32, 32)), rng.normal(size=(3, 3, 3))
    tv, tk = torch.from_numpy(v)[None, None], torch.from_numpy(k)[None, None]
    _row("correlate 32^3 * 3^3, stride 2", median_time(lambda: correlate(v, k, stride=2, padding=1)),
         median_time(lambda: F.conv3d(tv, tk, stride=2, padding=1)), "torch conv3d")
    _row("conv_as_toeplitz 32x32 * 3x3", median_time(lambda: conv_as_toeplitz(w[:3, :3], (32, 32))),
         median_time(lambda: correlate(rng.normal(size=(32, 32)), w[:3, :3])), "one correlate")
    fmap = rng.normal(size=(8, 256, 13, 13))
    tf = torch.from_numpy(fmap)
    _row("SPP (1, 2, 4) max on 8x256x13x13",
         median_time(lambda: spatial_pyramid_pool_forward(fmap, (1, 2, 4), "max")),
         median_time(lambda: torch.cat([F.adaptive_max_pool2d(tf, n).flatten(1) for n in (1, 2, 4)], 1)),
         "torch adaptive")


if __name__ == "__main__":
    main()
