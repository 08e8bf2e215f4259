"""Datasets of the course: offline by default, the real ones downloaded on request.

Offline (no network, deterministic):
    :func:`load_digits` (classification), :class:`ShapesDataset` (detection, segmentation),
    :class:`IdentityDataset` (open-set verification).
Downloaded (checksummed, cached in ``$CNNCOURSE_DATA``, mirror ``$CNNCOURSE_DATA_MIRROR``):
    :func:`load_mnist`, :func:`load_fashion_mnist`, :func:`load_cifar10`, :func:`load_lfw_pairs`.
Iteration: :func:`iterate_minibatches` (numpy), and torch wrappers (``ArrayDataset``,
``ShapesTorchDataset``, ``IdentityTorchDataset``, ``collate_detection``, ``to_torch_dataset``)
imported lazily so that ``import cnncourse.data`` does not import torch.
"""

from __future__ import annotations

from typing import Any

from cnncourse.data._download import ChecksumError, DownloadError
from cnncourse.data._types import Split
from cnncourse.data.batches import iterate_minibatches, minibatch_indices
from cnncourse.data.cifar import CIFAR10_CLASSES, load_cifar10
from cnncourse.data.digits import load_digits, resize_bilinear
from cnncourse.data.identities import IdentityDataset
from cnncourse.data.idx import read_idx
from cnncourse.data.lfw import LFWPairs, load_lfw_pairs
from cnncourse.data.mnist import FASHION_MNIST_CLASSES, load_fashion_mnist, load_mnist
from cnncourse.data.shapes import SHAPE_CLASSES, ShapesDataset

_TORCH_NAMES = ("ArrayDataset", "IdentityTorchDataset", "ShapesTorchDataset", "collate_detection",
                "to_torch_dataset")

__all__ = [
    "CIFAR10_CLASSES",
    "ChecksumError",
    "DownloadError",
    "FASHION_MNIST_CLASSES",
    "IdentityDataset",
    "LFWPairs",
    "SHAPE_CLASSES",
    "ShapesDataset",
    "Split",
    "iterate_minibatches",
    "load_cifar10",
    "load_digits",
    "load_fashion_mnist",
    "load_lfw_pairs",
    "load_mnist",
    "minibatch_indices",
    "read_idx",
    "resize_bilinear",
    *_TORCH_NAMES,
]


def __getattr__(name: str) -> Any:
    """Import the torch wrappers on first use (PEP 562)."""
    if name in _TORCH_NAMES:
        from cnncourse.data import torch_datasets

        return getattr(torch_datasets, name)
    raise AttributeError(f"module 'cnncourse.data' has no attribute {name!r}")
