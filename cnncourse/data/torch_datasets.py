"""``torch.utils.data.Dataset`` wrappers for every cnncourse dataset, with transforms.

Lecture 5 (training CNNs with PyTorch), Lecture 7 (detection), Lecture 9 (verification). The
wrappers convert to tensors and apply torchvision-style transforms: ``transform`` on the image,
``target_transform`` on the target, ``transforms`` on both (needed when a flip must move boxes).
Sample ``i`` of a wrapper holds the same values as row ``i`` of the numpy batches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from cnncourse._validate import ArgumentError
from cnncourse.data.identities import IdentityDataset
from cnncourse.data.shapes import ShapesDataset

__all__ = ["ArrayDataset", "IdentityTorchDataset", "ShapesTorchDataset", "collate_detection",
           "to_torch_dataset"]

Transform = Callable[[Any], Any] | None


class _Wrapper(Dataset):
    def __init__(self, transform: Transform = None, target_transform: Transform = None,
                 transforms: Callable[[Any, Any], tuple[Any, Any]] | None = None):
        self.transform, self.target_transform, self.transforms = transform, target_transform, transforms

    def _apply(self, image: torch.Tensor, target: Any) -> tuple[Any, Any]:
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target


class ArrayDataset(_Wrapper):
    """(N, C, H, W) images and (N,) labels (e.g. a :class:`Split`) as a torch Dataset.

    ``ds[i]`` is ``(image, label)``: a float32 (C, H, W) tensor (uint8 arrays are kept as uint8)
    and a Python int.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, *, transform: Transform = None,
                 target_transform: Transform = None):
        super().__init__(transform, target_transform)
        if images.ndim != 4:
            raise ArgumentError("images", "a 4-D (N, C, H, W) array", f"shape {images.shape}")
        if labels.shape != (len(images),):
            raise ArgumentError("labels", f"shape ({len(images)},)", f"shape {labels.shape}")
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        return self._apply(torch.from_numpy(np.ascontiguousarray(self.images[index])),
                           int(self.labels[index]))


class ShapesTorchDataset(_Wrapper):
    """A :class:`ShapesDataset` as (image, target) pairs, the layout of torchvision detection.

    ``target`` holds ``boxes`` (K, 4) float32 ``(x1, y1, x2, y2)``, ``labels`` (K,) int64,
    ``masks`` (K, H, W) bool and ``semantic`` (H, W) int64. Batch with :func:`collate_detection`.
    """

    def __init__(self, shapes: ShapesDataset, *, transform: Transform = None,
                 target_transform: Transform = None,
                 transforms: Callable[[Any, Any], tuple[Any, Any]] | None = None):
        super().__init__(transform, target_transform, transforms)
        self.shapes = shapes

    def __len__(self) -> int:
        return len(self.shapes)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        s = self.shapes[index]
        target = {k: torch.from_numpy(s[k]) for k in ("boxes", "labels", "masks", "semantic")}
        return self._apply(torch.from_numpy(s["image"]), target)


class IdentityTorchDataset(_Wrapper):
    """An :class:`IdentityDataset` as (image, identity label) pairs."""

    def __init__(self, identities: IdentityDataset, *, transform: Transform = None,
                 target_transform: Transform = None):
        super().__init__(transform, target_transform)
        self.identities = identities

    def __len__(self) -> int:
        return len(self.identities)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image, label = self.identities[index]
        return self._apply(torch.from_numpy(image), label)


def collate_detection(batch: list[tuple[torch.Tensor, dict]]) -> tuple[torch.Tensor, list[dict]]:
    """DataLoader ``collate_fn`` for detection: stack the images, keep the targets as a list.

    Returns:
        images (B, 3, H, W) and a list of B target dicts (their K differ).
    """
    images, targets = zip(*batch)
    return torch.stack(images), list(targets)


def to_torch_dataset(data: Any, **transforms: Any) -> Dataset:
    """Wrap a :class:`ShapesDataset`, an :class:`IdentityDataset` or ``(images, labels)``."""
    if isinstance(data, ShapesDataset):
        return ShapesTorchDataset(data, **transforms)
    if isinstance(data, IdentityDataset):
        return IdentityTorchDataset(data, **transforms)
    if isinstance(data, tuple) and len(data) == 2:
        return ArrayDataset(data[0], data[1], **transforms)
    raise ArgumentError("data", "a ShapesDataset, an IdentityDataset or (images, labels)",
                        type(data).__name__)
