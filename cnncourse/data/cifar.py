"""CIFAR-10: the genuine "python version" tarball (pickled batches), downloaded and checksummed.

Lecture 1 (datasets), Lecture 5 (architectures). The tarball holds
``cifar-10-batches-py/data_batch_1..5`` and ``test_batch``: pickled dicts whose ``b"data"`` is a
(10000, 3072) uint8 array, each row the R, G and B planes of a 32x32 image (so a reshape to
(N, 3, 32, 32) is already NCHW), and ``b"labels"`` a list of ints. Offline, use
``load_digits`` (classification) or ``ShapesDataset`` (colour images).
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from collections.abc import Mapping

import numpy as np

from cnncourse.data._download import RemoteFile, fetch
from cnncourse.data._types import Split

__all__ = ["CIFAR10_CLASSES", "CIFAR10_FILE", "load_cifar10"]

# SHA256 of cifar-10-python.tar.gz (170,498,071 bytes, md5 c58f30108f718f92721af3b95e74349a as
# published on the CIFAR page) as used by keras.datasets.cifar10 (`file_hash=` in cifar10.py).
CIFAR10_FILE = RemoteFile(
    "cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce", 170498071)

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                   "truck")

_TRAIN_MEMBERS = tuple(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6))
_TEST_MEMBERS = ("cifar-10-batches-py/test_batch",)

# The only globals a CIFAR batch pickle needs (numpy arrays); anything else is refused, so that a
# tampered file from a mirror cannot run code when unpickled.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),  # how a Python 3 protocol-2 pickle spells bytes
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"CIFAR batch refers to {module}.{name}, which a genuine "
                                         "batch never does; refusing to load it")
        return super().find_class(module, name)


def _read_batch(raw: bytes, member: str) -> tuple[np.ndarray, np.ndarray]:
    batch = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
    data, labels = np.asarray(batch[b"data"], dtype=np.uint8), np.asarray(batch[b"labels"])
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise ValueError(f"{member}: expected (N, 3072) data and N labels, got {data.shape} and "
                         f"{labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)  # rows are R, G, B planes


def load_cifar10(*, as_float: bool = True, root: str | os.PathLike | None = None,
                 sha256: Mapping[str, str] | None = None, progress: bool = True) -> tuple[Split, Split]:
    """CIFAR-10: 50,000 training and 10,000 test 32x32 colour images in 10 classes.

    Downloads ``cifar-10-python.tar.gz`` (163 MiB) on first use and reads the batches straight from
    the tarball. Without network use ``load_digits`` or ``ShapesDataset``.

    Args:
        as_float: float32 in [0, 1] (True) or the raw uint8 pixels.
        root: cache folder (default ``$CNNCOURSE_DATA`` or the user cache dir).
        sha256: ``{file name: sha256}`` overriding the genuine hash (re-packed mirrors, tests).
        progress: show a download progress bar.

    Returns:
        ``(train, test)`` :class:`Split` s: images (N, 3, 32, 32), labels (N,) int64 in 0..9
        (names in ``CIFAR10_CLASSES``).

    Lecture 1 (datasets), Lecture 5 (architectures).
    """
    path = fetch("cifar10", CIFAR10_FILE, sha256=sha256, root=root, progress=progress,
                 offline_alternative="cnncourse.data.load_digits() or cnncourse.data.ShapesDataset")
    batches: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:  # one sequential pass: a .tar.gz cannot be read at random cheaply
            if member.name in _TRAIN_MEMBERS + _TEST_MEMBERS:
                batches[member.name] = _read_batch(tar.extractfile(member).read(), member.name)
    missing = [m for m in _TRAIN_MEMBERS + _TEST_MEMBERS if m not in batches]
    if missing:
        raise ValueError(f"{path} is not a CIFAR-10 python tarball: missing {missing}")
    splits = []
    for members in (_TRAIN_MEMBERS, _TEST_MEMBERS):
        x = np.concatenate([batches[m][0] for m in members])  # (N, 3, 32, 32) uint8
        y = np.concatenate([batches[m][1] for m in members])
        splits.append(Split(x.astype(np.float32) / np.float32(255.0) if as_float else x, y))
    return splits[0], splits[1]
