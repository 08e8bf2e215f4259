"""A plain numpy mini-batch iterator for the numpy assignments (no torch needed).

Lecture 1 (stochastic gradient descent on mini-batches). It accepts arrays (``(x, y)`` or a
:class:`Split`) or one of the procedural datasets, whose ``batch(indices)`` renders a whole batch
at once. The order comes from :func:`minibatch_indices`, so a torch ``DataLoader`` given the same
indices (see :mod:`cnncourse.data.torch_datasets`) yields the same samples.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from cnncourse._validate import ArgumentError, check_positive_int

__all__ = ["iterate_minibatches", "minibatch_indices"]


def minibatch_indices(n: int, batch_size: int, *, shuffle: bool = True, seed: int | None = 0,
                      drop_last: bool = False) -> list[np.ndarray]:
    """Split ``range(n)`` into mini-batches of indices, shuffled by ``seed``.

    Args:
        n: number of samples.
        batch_size: samples per batch; the last batch is smaller unless ``drop_last``.
        shuffle: permute the indices first (``np.random.default_rng(seed).permutation``).
        seed: seed of the permutation (pass ``epoch`` or ``seed + epoch`` for a new order per epoch).
        drop_last: drop a last incomplete batch.

    Returns:
        A list of int64 index arrays, each of length ``batch_size`` (except possibly the last).
    """
    n = check_positive_int("n", n, minimum=0)
    batch_size = check_positive_int("batch_size", batch_size)
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    return [order[s:s + batch_size].astype(np.int64) for s in range(0, stop, batch_size)]


def iterate_minibatches(data: Any, batch_size: int = 32, *, shuffle: bool = True,
                        seed: int | None = 0, drop_last: bool = False) -> Iterator[Any]:
    """Yield mini-batches of ``data``.

    Args:
        data: a sequence of arrays sharing their first dimension N (``(x, y)``, a
            :class:`~cnncourse.data.Split`), or a dataset with ``__len__`` and ``batch(indices)``
            (:class:`~cnncourse.data.ShapesDataset`, :class:`~cnncourse.data.IdentityDataset`).
        batch_size, shuffle, seed, drop_last: as in :func:`minibatch_indices`.

    Yields:
        For arrays, a tuple of the same arrays indexed by the batch (``x[idx], y[idx]``); for a
        dataset, ``data.batch(idx)``.

    Example:
        >>> x, y = np.zeros((10, 1, 8, 8)), np.arange(10)
        >>> [len(yb) for xb, yb in iterate_minibatches((x, y), 4, shuffle=False)]
        [4, 4, 2]

    Lecture 1 (mini-batch stochastic gradient descent).
    """
    if hasattr(data, "batch") and hasattr(data, "__len__"):
        for idx in minibatch_indices(len(data), batch_size, shuffle=shuffle, seed=seed,
                                     drop_last=drop_last):
            yield data.batch(idx)
        return
    if not isinstance(data, Sequence) or not data or not all(isinstance(a, np.ndarray) for a in data):
        raise ArgumentError("data", "a tuple of numpy arrays or a dataset with batch(indices)",
                            type(data).__name__)
    n = len(data[0])
    if any(len(a) != n for a in data):
        raise ArgumentError("data", "arrays with the same first dimension",
                            [a.shape for a in data])
    for idx in minibatch_indices(n, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last):
        yield tuple(a[idx] for a in data)
