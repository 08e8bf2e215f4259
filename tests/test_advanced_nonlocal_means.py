"""Local mean and non-local means against slow loop twins of the slide's formulas, and their limits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from cnncourse.advanced import local_mean_filter, nonlocal_means, nonlocal_means_weights


def _nlm_loop(img: np.ndarray, h: float, patch: int, search: int | None, distance: str = "sum") -> np.ndarray:
    """The slide's y_i = sum_j w(i, j) g(j), w = exp(-||v(N_i) - v(N_j)||^2 / h^2) / C(i), pixel by pixel.

    ``img`` is (C, H, W). Patches and windows read a reflect-padded copy, as the library documents.
    """
    c, hh, ww = img.shape
    p = patch // 2
    r = None if search is None else search // 2
    pad = p if r is None else p + r
    xp = np.pad(img, ((0, 0), (pad, pad), (pad, pad)), mode="reflect")
    norm = 1.0 if distance == "sum" else c * patch * patch
    out = np.zeros_like(img, dtype=np.float64)
    for i in range(hh):
        for j in range(ww):
            if r is None:
                cands = [(a, b) for a in range(hh) for b in range(ww)]
            else:
                cands = [(i + dy, j + dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]
            dists = []
            for a, b in cands:
                d = 0.0
                for k in range(c):
                    for u in range(-p, p + 1):
                        for v in range(-p, p + 1):
                            d += (xp[k, pad + i + u, pad + j + v] - xp[k, pad + a + u, pad + b + v]) ** 2
                dists.append(d / norm)
            logw = -np.array(dists) / h ** 2
            wts = np.exp(logw - logw.max())
            wts /= wts.sum()  # the 1 / C(i) normalisation
            for wt, (a, b) in zip(wts, cands):
                out[:, i, j] += wt * xp[:, pad + a, pad + b]
    return out


@pytest.mark.parametrize("patch,search,distance,h", [(3, 5, "sum", 0.5), (1, 3, "sum", 0.2),
                                                     (3, None, "sum", 0.8), (3, 5, "mean", 0.2)])
def test_nonlocal_means_matches_the_loop_twin(rng, patch, search, distance, h):
    """Does the vectorized NLM give the slide's weighted sum, pixel by pixel, for windows and j in I?"""
    img = rng.random((2, 7, 8))
    ref = _nlm_loop(img, h, patch, search, distance)
    got = nonlocal_means(torch.tensor(img), h=h, patch_size=patch, search_size=search,
                         patch_distance=distance)
    torch.testing.assert_close(got, torch.tensor(ref), rtol=1e-10, atol=1e-10)


def test_h_to_infinity_gives_the_mean_over_the_search_window(rng):
    """h -> inf makes every weight 1/|window|: the local mean filter of the window's size."""
    img = torch.tensor(rng.random((3, 12, 10)))
    for h in (math.inf, 1e8):
        torch.testing.assert_close(nonlocal_means(img, h=h, patch_size=3, search_size=7),
                                   local_mean_filter(img, 7))
    glob = nonlocal_means(img, h=math.inf, patch_size=3, search_size=None)
    torch.testing.assert_close(glob, img.mean(dim=(1, 2), keepdim=True).expand_as(img))


def test_h_to_zero_gives_the_identity(rng):
    """h -> 0 keeps only j = i (the only patch at distance 0 in a random image)."""
    img = torch.tensor(rng.random((1, 9, 9)))
    for search in (5, None):
        torch.testing.assert_close(nonlocal_means(img, h=1e-6, patch_size=3, search_size=search), img)


def test_nlm_removes_more_noise_than_the_local_mean_and_keeps_edges():
    """On a noisy step edge, does NLM beat the 3x3 mean in mean squared error?"""
    g = torch.Generator().manual_seed(0)
    clean = torch.zeros(32, 32, dtype=torch.float64)
    clean[:, 16:] = 1.0
    noisy = clean + 0.2 * torch.randn(32, 32, generator=g, dtype=torch.float64)
    mse = lambda a: float(((a - clean) ** 2).mean())  # noqa: E731
    nlm = nonlocal_means(noisy, h=0.2, patch_size=5, search_size=11, patch_distance="mean")
    assert mse(nlm) < 0.5 * mse(local_mean_filter(noisy, 3)) < mse(noisy)


def test_local_mean_filter_matches_scipy_uniform_filter(rng):
    """Is the local mean scipy's uniform_filter with mirrored borders (numpy 'reflect' = scipy 'mirror')?"""
    img = rng.random((2, 3, 9, 11))
    got = local_mean_filter(img, 5)
    ref = ndimage.uniform_filter(img, size=(1, 1, 5, 5), mode="mirror")
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    assert isinstance(got, np.ndarray) and got.shape == img.shape


def test_shapes_types_and_dtypes_follow_the_input(rng):
    """(H, W), (C, H, W), (N, C, H, W), numpy and float32 all come back as they went in."""
    for shape in [(8, 8), (2, 8, 8), (2, 3, 8, 8)]:
        a = rng.random(shape).astype(np.float32)
        out = nonlocal_means(a, h=0.5, patch_size=3, search_size=3)
        assert isinstance(out, np.ndarray) and out.shape == shape and out.dtype == np.float32
        t = torch.tensor(a)
        assert nonlocal_means(t, h=0.5, patch_size=3, search_size=None).shape == shape
    batch = torch.tensor(rng.random((2, 1, 8, 8)))
    both = nonlocal_means(batch, h=0.3, patch_size=3, search_size=5)
    torch.testing.assert_close(both[1], nonlocal_means(batch[1], h=0.3, patch_size=3, search_size=5))


def test_weights_map_sums_to_one_and_reproduces_the_output(rng):
    """Is w(i, .) a distribution whose weighted sum is the global NLM output at i, peaked at i?"""
    img = torch.tensor(rng.random((3, 10, 9)))
    w = nonlocal_means_weights(img, (4, 6), h=0.6, patch_size=3)
    assert w.shape == (10, 9)
    torch.testing.assert_close(w.sum(), torch.tensor(1.0, dtype=torch.float64))
    assert int(w.argmax()) == 4 * 9 + 6
    y = nonlocal_means(img, h=0.6, patch_size=3, search_size=None)
    torch.testing.assert_close((w * img).sum((-2, -1)), y[:, 4, 6])


def test_gradients_flow(rng):
    """NLM is differentiable in the image (torch autograd gradcheck, float64)."""
    img = torch.tensor(rng.random((1, 6, 6)), requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: nonlocal_means(x, h=0.7, patch_size=3, search_size=3), (img,))


@pytest.mark.parametrize("kwargs,match", [
    (dict(h=0.0), "`h`"), (dict(h=-1.0), "`h`"), (dict(h=float("nan")), "`h`"),
    (dict(h=1.0, patch_size=4), "`patch_size`"), (dict(h=1.0, search_size=6), "`search_size`"),
    (dict(h=1.0, search_size=15), "`search_size`"), (dict(h=1.0, patch_distance="max"), "`patch_distance`"),
])
def test_bad_arguments_are_named(kwargs, match):
    """Do bad parameters raise ValueError naming the argument?"""
    with pytest.raises(ValueError, match=match):
        nonlocal_means(torch.rand(8, 8, dtype=torch.float64), **kwargs)


def test_bad_images_are_rejected():
    """Integer images, 5-D input and non-arrays are rejected with the argument's name."""
    with pytest.raises(ValueError, match="`image`"):
        nonlocal_means(torch.zeros(8, 8, dtype=torch.int64), h=1.0)
    with pytest.raises(ValueError, match="`image`"):
        local_mean_filter(torch.zeros(1, 1, 1, 8, 8))
    with pytest.raises(TypeError, match="`image`"):
        local_mean_filter([[0.0, 1.0]])
    with pytest.raises(ValueError, match="`size`"):
        local_mean_filter(torch.zeros(8, 8), 2)
    with pytest.raises(ValueError, match="`pixel`"):
        nonlocal_means_weights(torch.zeros(8, 8), (8, 0), h=1.0, patch_size=3)
    with pytest.raises(ValueError, match="`image`"):
        nonlocal_means_weights(torch.zeros(2, 1, 8, 8), (0, 0), h=1.0, patch_size=3)


def test_follows_the_device(device, rng):
    """Windowed and global NLM and the local mean run on the input's device and agree with the CPU."""
    img = torch.tensor(rng.random((1, 2, 9, 9)), dtype=torch.float32)
    for search in (5, None):
        out = nonlocal_means(img.to(device), h=0.4, patch_size=3, search_size=search)
        assert out.device.type == device and out.dtype == torch.float32
        torch.testing.assert_close(out.cpu(), nonlocal_means(img, h=0.4, patch_size=3, search_size=search))
    assert local_mean_filter(img.to(device)).device.type == device
    w = nonlocal_means_weights(img[0].to(device), (2, 3), h=0.4, patch_size=3)
    assert w.device.type == device
