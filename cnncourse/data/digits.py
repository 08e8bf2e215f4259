"""The offline default for classification: scikit-learn's bundled handwritten digits.

Lecture 1 (linear classifier, MLP) and Lecture 5 (small CNNs). 1,797 grey 8x8 images of the digits
0-9 (UCI "optdigits", pixel values 0..16) ship inside scikit-learn, so no download is needed.
"""

from __future__ import annotations

import numpy as np

from cnncourse._validate import ArgumentError, as_pair, check_array, check_positive_int
from cnncourse.data._types import Split

__all__ = ["load_digits", "resize_bilinear"]

_SPLIT_SEED = 0  # the split is part of the dataset: never changes between runs or machines


def _interp_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of 1-D linear interpolation with half-pixel centres."""
    scale = n_in / n_out
    src = np.maximum((np.arange(n_out) + 0.5) * scale - 0.5, 0.0)  # torch clamps negatives to 0
    lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.arange(n_out), lo), 1.0 - frac)
    np.add.at(m, (np.arange(n_out), hi), frac)
    return m


def resize_bilinear(x: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize (N, C, H, W) images with bilinear interpolation.

    Same result as ``torch.nn.functional.interpolate(x, size, mode="bilinear",
    align_corners=False)`` (half-pixel centres, no antialiasing).

    Args:
        x: (N, C, H, W) floating array.
        size: ``H_out`` (square) or ``(H_out, W_out)``.

    Returns:
        (N, C, H_out, W_out) array of ``x``'s dtype.

    Lecture 1 (datasets: resizing digits to MNIST's 28x28).
    """
    check_array("x", x, ndim=4, floating=True)
    h_out, w_out = as_pair("size", size, minimum=1)
    a = _interp_matrix(x.shape[2], h_out)  # (H_out, H)
    b = _interp_matrix(x.shape[3], w_out)  # (W_out, W)
    return np.einsum("ph,nchw,qw->ncpq", a, x, b, optimize=True).astype(x.dtype)


def _stratified_split(labels: np.ndarray, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test): ``test_fraction`` of every class, chosen by a fixed permutation."""
    rng = np.random.default_rng(_SPLIT_SEED)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(round(test_fraction * len(idx)))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_digits(*, size: int | tuple[int, int] = 8, test_fraction: float = 0.2) -> tuple[Split, Split]:
    """scikit-learn's handwritten digits as float32 NCHW arrays with a fixed, stratified split.

    Works offline (the data ship with scikit-learn). Pixels are scaled from 0..16 to [0, 1]; with
    ``size != 8`` the images are resized bilinearly (``size=28`` to stand in for MNIST).

    Args:
        size: output ``H = W`` (or ``(H, W)``); 8 keeps the original pixels.
        test_fraction: share of every class held out for the test split, in (0, 1).

    Returns:
        ``(train, test)`` :class:`Split` s: images (N, 1, H, W) float32 in [0, 1], labels (N,)
        int64 in 0..9. With the default 0.2: 1,438 training and 359 test images.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_digits(size=16)
        >>> x_train.shape, x_test.shape
        ((1438, 1, 16, 16), (359, 1, 16, 16))

    Lecture 1 (linear classifier, MLP), Lecture 5 (small CNNs).
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    if not 0.0 < float(test_fraction) < 1.0:
        raise ArgumentError("test_fraction", "a number in (0, 1)", test_fraction)
    if isinstance(size, int) and not isinstance(size, bool):
        check_positive_int("size", size)
    bunch = _sk_load_digits()
    x = (bunch.images.astype(np.float32) / np.float32(16.0))[:, None]  # (1797, 1, 8, 8)
    if size not in (8, (8, 8)):
        x = np.clip(resize_bilinear(x, size), 0.0, 1.0)
    y = bunch.target.astype(np.int64)
    train, test = _stratified_split(y, float(test_fraction))
    return Split(x[train], y[train]), Split(x[test], y[test])
