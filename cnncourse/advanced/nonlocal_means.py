"""Local mean vs non-local means denoising (Lecture 10: global vs local).

The local mean replaces pixel ``i`` by the average of its ``3 x 3`` neighbourhood,
``y_i = sum_{j in 3x3} w_j g(x_j)`` with ``w_j = 1/9``: noise goes down, and so do edges.

Non-local means (Buades, Coll and Morel, CVPR 2005) averages pixels from anywhere, weighted by how
much their *neighbourhoods* look alike::

    y_i = sum_{j in I} w(i, j) g(j)
    w(i, j) = exp(-||v(N_i) - v(N_j)||^2 / h^2) / C(i),     C(i) = sum_j exp(-||v(N_i) - v(N_j)||^2 / h^2)

``v(N_i)`` is the vector of grey levels (all channels) of the ``patch_size x patch_size`` patch
centred on ``i``; the slide writes it ``mu(i)``. It must be the whole patch, not its mean: two
patches with the same mean can hold an edge and a flat area. ``h`` is the filtering parameter:
``h -> infinity`` makes every weight equal (the plain mean over the search region, i.e. a local
mean filter of the search window's size), ``h -> 0`` keeps only the pixel itself (``v(N_i)`` is the
only patch at distance 0), i.e. the identity. ``C(i)`` normalises the weights of each pixel to
sum 1, so the weights are a softmax over ``j`` of ``-||v(N_i) - v(N_j)||^2 / h^2``, computed here
with ``torch.softmax`` (no underflow for small ``h``).

The slide's ``j in I`` is the whole image (``search_size=None``: an ``(H W) x (H W)`` weight
matrix per image, fine up to ~100 x 100 pixels); practical NLM searches a ``search_size x
search_size`` window around ``i`` (Buades et al. use 21 x 21 with 7 x 7 patches). Borders are
reflected (``torch.nn.functional.pad(mode="reflect")``, numpy's ``"reflect"``) for patches and
windows alike, so the window of a border pixel includes mirrored pixels.

Images are torch tensors or numpy arrays ``(H, W)``, ``(C, H, W)`` or ``(N, C, H, W)``, floating
point; results have the input's shape, type, device and dtype.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from cnncourse._validate import ArgumentError, check_positive_int

__all__ = ["local_mean_filter", "nonlocal_means", "nonlocal_means_weights"]

_DISTANCES = ("sum", "mean")


def _as_nchw(name: str, image: Any) -> tuple[torch.Tensor, Callable[[torch.Tensor], Any]]:
    """``image`` as Tensor[N, C, H, W] and a function that puts a result back in its shape/type."""
    was_numpy = isinstance(image, np.ndarray)
    if not (was_numpy or isinstance(image, torch.Tensor)):
        raise TypeError(f"`{name}` expected a torch.Tensor or numpy.ndarray, got {type(image).__name__}")
    x = torch.from_numpy(np.ascontiguousarray(image)) if was_numpy else image
    if x.dim() not in (2, 3, 4):
        raise ArgumentError(name, "shape (H, W), (C, H, W) or (N, C, H, W)", str(tuple(x.shape)))
    if not x.is_floating_point():
        raise ArgumentError(name, "a floating-point image", f"dtype {x.dtype}")
    shape = x.shape
    x4 = x[None, None] if x.dim() == 2 else x[None] if x.dim() == 3 else x  # (N, C, H, W)

    def restore(y: torch.Tensor) -> Any:
        y = y.reshape(shape)
        return y.numpy() if was_numpy else y

    return x4, restore


def _check_odd(name: str, value: Any) -> int:
    v = check_positive_int(name, value)
    if v % 2 == 0:
        raise ArgumentError(name, "an odd size (the window is centred on the pixel)", value)
    return v


def _check_pad(name: str, pad: int, x: torch.Tensor) -> None:
    h, w = x.shape[-2:]
    if pad >= min(h, w):
        raise ArgumentError(name, f"a reach (size // 2 = {pad}, plus the patch radius) below the "
                            f"image size {min(h, w)} (reflect padding)", f"image of size {h} x {w}")


def _check_h(h: Any) -> float:
    v = float(h)
    if not v > 0.0:  # also rejects NaN; math.inf is allowed (the plain mean)
        raise ArgumentError("h", "a number > 0 (math.inf gives the plain window mean)", h)
    return v


def local_mean_filter(image: Any, size: int = 3) -> Any:
    """The local mean: each pixel becomes the mean of its ``size x size`` neighbourhood (Lecture 10).

    ``y_i = sum_{j in size x size} g(x_j) / size^2``, per channel, borders reflected.

    Args:
        image: Tensor or array (H, W), (C, H, W) or (N, C, H, W), floating point.
        size: odd window size (3 on the slide).

    Returns:
        The filtered image, same shape, type, device and dtype.

    Example:
        >>> local_mean_filter(torch.tensor([[0.0, 9.0, 0.0]] * 3))
        tensor([[6., 3., 6.],
                [6., 3., 6.],
                [6., 3., 6.]])
    """
    x, restore = _as_nchw("image", image)
    size = _check_odd("size", size)
    r = size // 2
    _check_pad("size", r, x)
    n, c, hh, ww = x.shape
    xp = F.pad(x.reshape(n * c, 1, hh, ww), (r, r, r, r), mode="reflect")  # (N*C, 1, H+2r, W+2r)
    return restore(F.avg_pool2d(xp, size, stride=1).reshape(n, c, hh, ww))


def _patch_norm(distance: str, channels: int, patch: int) -> float:
    if distance not in _DISTANCES:
        raise ArgumentError("patch_distance", "'sum' or 'mean'", repr(distance))
    return 1.0 if distance == "sum" else float(channels * patch * patch)


def _patch_vectors(x: torch.Tensor, patch: int) -> torch.Tensor:
    """``v(N_j)`` of every pixel: Tensor[N, H*W, C*patch^2] (reflected borders)."""
    p = patch // 2
    xp = F.pad(x, (p, p, p, p), mode="reflect")  # (N, C, H+2p, W+2p)
    return F.unfold(xp, patch).transpose(1, 2)  # (N, H*W, C*patch^2)


def _global_logits(x: torch.Tensor, h: float, patch: int, norm: float) -> torch.Tensor:
    """``-||v(N_i) - v(N_j)||^2 / h^2`` for all ``i, j``: Tensor[N, H*W, H*W]."""
    v = _patch_vectors(x, patch)  # (N, HW, D)
    sq = (v * v).sum(-1)  # (N, HW)
    d2 = (sq[:, :, None] + sq[:, None, :] - 2.0 * v @ v.transpose(1, 2)).clamp_min(0.0)  # (N, HW, HW)
    return -(d2 / norm) / (h * h)


def nonlocal_means(image: Any, *, h: float, patch_size: int = 7, search_size: int | None = 21,
                   patch_distance: str = "sum") -> Any:
    """Non-local means denoising with the slide's weights ``w(i, j)`` (Lecture 10).

    Args:
        image: Tensor or array (H, W), (C, H, W) or (N, C, H, W), floating point.
        h: filtering parameter > 0 (keyword-only), on the scale of the patch distance; ``math.inf``
            gives equal weights.
        patch_size: odd side of the patch ``N_i`` (keyword-only); 1 compares single pixels.
        search_size: odd side of the search window around ``i`` (keyword-only), or None for the
            whole image (``j in I``, as on the slide; memory ``(H W)^2`` per image).
        patch_distance: ``"sum"``: ``||v(N_i) - v(N_j)||^2`` summed over the patch and channels,
            as on the slide; ``"mean"``: divided by ``C * patch_size^2`` so that ``h`` is on the
            pixel scale (scikit-image's and OpenCV's convention) (keyword-only).

    Returns:
        The denoised image, same shape, type, device and dtype.

    Example:
        >>> x = torch.rand(32, 32)
        >>> torch.allclose(nonlocal_means(x, h=math.inf, patch_size=3, search_size=5),
        ...                local_mean_filter(x, 5))
        True
    """
    x, restore = _as_nchw("image", image)
    h = _check_h(h)
    patch = _check_odd("patch_size", patch_size)
    n, c, hh, ww = x.shape
    norm = _patch_norm(patch_distance, c, patch)
    p = patch // 2
    if search_size is None:
        _check_pad("patch_size", p, x)
        w = torch.softmax(_global_logits(x, h, patch, norm), dim=-1)  # (N, HW, HW): w(i, j), rows sum 1
        y = w @ x.reshape(n, c, hh * ww).transpose(1, 2)  # (N, HW, C)
        return restore(y.transpose(1, 2).reshape(n, c, hh, ww))
    search = _check_odd("search_size", search_size)
    r = search // 2
    _check_pad("search_size", r + p, x)
    hp, wp = hh + 2 * p, ww + 2 * p
    xp = F.pad(x, (r + p,) * 4, mode="reflect")  # (N, C, H+2r+2p, W+2r+2p)
    centre = xp[:, :, r:r + hp, r:r + wp]  # (N, C, Hp, Wp): the image padded by p
    shifted = xp.unfold(2, hp, 1).unfold(3, wp, 1)  # (N, C, S, S, Hp, Wp) view: image moved by each offset
    d = sum((shifted[:, k] - centre[:, k, None, None]) ** 2 for k in range(c))  # (N, S, S, Hp, Wp)
    # box-sum over the patch: the squared patch distance of i and i + offset, for every offset
    d = F.avg_pool2d(d.reshape(n * search * search, 1, hp, wp), patch, stride=1)  # (N*S*S, 1, H, W)
    d = d.reshape(n, search * search, hh, ww) * (patch * patch / norm)
    w = torch.softmax(-d / (h * h), dim=1)  # (N, S*S, H, W): w(i, i + offset), sums to 1 over offsets
    values = shifted[..., p:p + hh, p:p + ww].reshape(n, c, search * search, hh, ww)  # g(i + offset)
    return restore(torch.einsum("nkhw,nckhw->nchw", w, values))


def nonlocal_means_weights(image: Any, pixel: tuple[int, int], *, h: float, patch_size: int = 7,
                           patch_distance: str = "sum") -> torch.Tensor:
    """The weights ``w(i, j)`` of one pixel ``i`` over the whole image ``j in I`` (Lecture 10).

    ``nonlocal_means(image, search_size=None)[..., row, col]`` equals
    ``(w * image).sum((-2, -1))`` with ``w`` this map.

    Args:
        image: one image, Tensor or array (H, W), (C, H, W) or (1, C, H, W), floating point.
        pixel: ``(row, col)`` of ``i``.
        h, patch_size, patch_distance: as :func:`nonlocal_means` (keyword-only).

    Returns:
        Tensor[H, W] of weights summing to 1, on the image's device (a CPU tensor for numpy input).
    """
    x, _ = _as_nchw("image", image)
    if x.shape[0] != 1:
        raise ArgumentError("image", "a single image (H, W), (C, H, W) or (1, C, H, W)", str(tuple(x.shape)))
    h = _check_h(h)
    patch = _check_odd("patch_size", patch_size)
    _check_pad("patch_size", patch // 2, x)
    _, c, hh, ww = x.shape
    norm = _patch_norm(patch_distance, c, patch)
    if (not isinstance(pixel, (tuple, list)) or len(pixel) != 2
            or not all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in pixel)
            or not (0 <= pixel[0] < hh and 0 <= pixel[1] < ww)):
        raise ArgumentError("pixel", f"(row, col) integers inside the {hh} x {ww} image", pixel)
    v = _patch_vectors(x, patch)[0]  # (HW, D)
    i = int(pixel[0]) * ww + int(pixel[1])
    d2 = ((v - v[i]) ** 2).sum(-1) / norm  # (HW,)
    return torch.softmax(-d2 / (h * h), dim=0).reshape(hh, ww)

