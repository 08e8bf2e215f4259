"""The numpy mini-batch iterator and the torch wrappers yield the same samples."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from cnncourse.data import (ArrayDataset, IdentityDataset, IdentityTorchDataset, ShapesDataset,
                            ShapesTorchDataset, collate_detection, iterate_minibatches,
                            load_digits, minibatch_indices, to_torch_dataset)


def test_minibatch_indices_cover_every_sample_once(rng):
    """Does an epoch visit each index once, in batches of batch_size, shuffled by the seed?"""
    batches = minibatch_indices(10, 4, seed=3)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches)) == list(range(10))
    np.testing.assert_array_equal(np.concatenate(batches), np.random.default_rng(3).permutation(10))
    assert [len(b) for b in minibatch_indices(10, 4, drop_last=True)] == [4, 4]
    np.testing.assert_array_equal(np.concatenate(minibatch_indices(5, 2, shuffle=False)), np.arange(5))


def test_array_iterator_yields_aligned_rows(rng):
    """Do the yielded (x, y) batches stay aligned and follow minibatch_indices?"""
    x, y = rng.standard_normal((11, 1, 2, 2)), np.arange(11)
    got = list(iterate_minibatches((x, y), 3, seed=5))
    for (xb, yb), idx in zip(got, minibatch_indices(11, 3, seed=5)):
        np.testing.assert_array_equal(yb, idx)
        np.testing.assert_array_equal(xb, x[idx])
    assert len(got) == 4
    with pytest.raises(ValueError, match="`data` expected arrays with the same first dimension"):
        next(iterate_minibatches((x, y[:5]), 2))
    with pytest.raises(ValueError, match="`data` expected a tuple of numpy arrays"):
        next(iterate_minibatches([1, 2, 3], 2))


def test_digits_through_torch_and_numpy_are_the_same_samples():
    """Does a DataLoader over ArrayDataset give the numpy iterator's batches?"""
    (x, y), _ = load_digits(size=16)
    order = minibatch_indices(len(x), 64, seed=1)
    loader = DataLoader(ArrayDataset(x, y), batch_sampler=order)
    for (xt, yt), (xn, yn) in zip(loader, iterate_minibatches((x, y), 64, seed=1)):
        assert xt.dtype == torch.float32 and xt.shape == (len(xn), 1, 16, 16)
        np.testing.assert_array_equal(xt.numpy(), xn)
        np.testing.assert_array_equal(yt.numpy(), yn)


def test_shapes_through_torch_and_numpy_are_the_same_samples():
    """Do ShapesTorchDataset targets equal the numpy batch (images, boxes, labels, masks)?"""
    ds = ShapesDataset(24, seed=4)
    loader = DataLoader(ShapesTorchDataset(ds), batch_sampler=minibatch_indices(24, 8, seed=0),
                        collate_fn=collate_detection)
    n = 0
    for (images, targets), b in zip(loader, iterate_minibatches(ds, 8, seed=0)):
        np.testing.assert_array_equal(images.numpy(), b["images"])
        for t, boxes, labels, inst, sem in zip(targets, b["boxes"], b["labels"], b["instances"], b["semantic"]):
            np.testing.assert_array_equal(t["boxes"].numpy(), boxes)
            np.testing.assert_array_equal(t["labels"].numpy(), labels)
            np.testing.assert_array_equal(t["semantic"].numpy(), sem)
            masks = inst[None] == np.arange(1, len(labels) + 1)[:, None, None]
            np.testing.assert_array_equal(t["masks"].numpy(), masks)
            assert t["boxes"].dtype == torch.float32 and t["labels"].dtype == torch.int64
            n += 1
    assert n == 24


def test_identities_through_torch_and_numpy_are_the_same_samples():
    """Do IdentityTorchDataset samples equal the numpy batches, transforms applied on top?"""
    ds = IdentityDataset(num_identities=6, samples_per_identity=4, seed=2)
    wrapped = IdentityTorchDataset(ds, transform=lambda t: t * 2, target_transform=lambda y: y + 100)
    loader = DataLoader(wrapped, batch_sampler=minibatch_indices(len(ds), 5, seed=9))
    for (xt, yt), (xn, yn) in zip(loader, iterate_minibatches(ds, 5, seed=9)):
        np.testing.assert_array_equal(xt.numpy(), xn * 2)
        np.testing.assert_array_equal(yt.numpy(), yn + 100)


def test_joint_transform_and_dispatch():
    """Does `transforms` see (image, target) together, and to_torch_dataset pick the wrapper?"""
    ds = ShapesDataset(4, seed=0)

    def hflip(image, target):
        w = image.shape[-1]
        boxes = target["boxes"].clone()
        boxes[:, [0, 2]] = w - target["boxes"][:, [2, 0]]
        return image.flip(-1), {**target, "boxes": boxes, "masks": target["masks"].flip(-1)}

    image, target = ShapesTorchDataset(ds, transforms=hflip)[1]
    s = ds[1]
    np.testing.assert_array_equal(image.numpy(), s["image"][..., ::-1])
    from cnncourse.data._raster import _masks_to_boxes
    np.testing.assert_array_equal(target["boxes"].numpy(), _masks_to_boxes(target["masks"].numpy()))
    assert isinstance(to_torch_dataset(ds), ShapesTorchDataset)
    assert isinstance(to_torch_dataset(IdentityDataset(num_identities=2)), IdentityTorchDataset)
    assert isinstance(to_torch_dataset(load_digits()[1]), ArrayDataset)
    with pytest.raises(ValueError, match="`data` expected a ShapesDataset"):
        to_torch_dataset([1, 2])


def test_importing_cnncourse_data_does_not_import_torch():
    """Can notebooks import the numpy datasets without paying for torch?"""
    code = ("import sys; from cnncourse.data import load_digits, ShapesDataset, IdentityDataset; "
            "assert 'torch' not in sys.modules; import cnncourse.data as d; d.ArrayDataset; "
            "assert 'torch' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
