"""MNIST and Fashion-MNIST: the genuine IDX gzip files, downloaded once and checksummed.

Lecture 1 (datasets), Lecture 5 (LeNet on MNIST). Offline, use
``cnncourse.data.load_digits(size=28)`` instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from cnncourse.data._download import RemoteFile, fetch
from cnncourse.data._types import Split
from cnncourse.data.idx import read_idx

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_FILES",
    "MNIST_FILES",
    "load_fashion_mnist",
    "load_mnist",
]

# The four IDX files of both datasets, in the order _load_idx_dataset reads them.
_IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
              "t10k-labels-idx1-ubyte.gz")


def _idx_files(url: str, *sha256_and_size: tuple[str, int]) -> tuple[RemoteFile, ...]:
    """The four :class:`RemoteFile` s under ``url``, one ``(sha256, size)`` per name of ``_IDX_NAMES``."""
    return tuple(RemoteFile(name, url + name, sha, size)
                 for name, (sha, size) in zip(_IDX_NAMES, sha256_and_size, strict=True))


# SHA256 and sizes of the genuine files, from tensorflow/datasets
# tensorflow_datasets/url_checksums/mnist.txt (commit 31f1255e57e5).
MNIST_FILES = _idx_files(
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
    ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
    ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
    ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
)

# From tensorflow/datasets tensorflow_datasets/url_checksums/fashion_mnist.txt (commit 333639b37af6).
FASHION_MNIST_FILES = _idx_files(
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880),
    ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
    ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
    ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148),
)

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")


def _load_idx_dataset(dataset: str, files: tuple[RemoteFile, ...], offline: str, *,
                      as_float: bool, root, sha256, progress: bool) -> tuple[Split, Split]:
    names = tuple(f.name for f in files)
    paths = [fetch(dataset, f, offline_alternative=offline, sha256=sha256, root=root,
                   progress=progress, companions=names) for f in files]
    splits = []
    for img_path, lbl_path in (paths[0:2], paths[2:4]):
        images, labels = read_idx(img_path), read_idx(lbl_path)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"{img_path.name} / {lbl_path.name}: expected (N, H, W) images and (N,) "
                             f"labels, got {images.shape} and {labels.shape}")
        x = images[:, None]  # (N, 1, H, W)
        x = x.astype(np.float32) / np.float32(255.0) if as_float else x
        splits.append(Split(x, labels.astype(np.int64)))
    return splits[0], splits[1]


def load_mnist(*, as_float: bool = True, root: str | os.PathLike | None = None,
               sha256: Mapping[str, str] | None = None, progress: bool = True) -> tuple[Split, Split]:
    """MNIST handwritten digits: 60,000 training and 10,000 test images of 28x28.

    Downloads the four IDX files on first use (see :mod:`cnncourse.data._download` for the cache,
    the mirror and the offline error). Without network use ``load_digits(size=28)``.

    Args:
        as_float: float32 in [0, 1] (True) or the raw uint8 pixels.
        root: cache folder (default ``$CNNCOURSE_DATA`` or the user cache dir).
        sha256: ``{file name: sha256}`` overriding the genuine hashes (re-packed mirrors, tests).
        progress: show a download progress bar.

    Returns:
        ``(train, test)`` :class:`Split` s: images (N, 1, 28, 28), labels (N,) int64 in 0..9.

    Lecture 1 (datasets), Lecture 5 (LeNet).
    """
    return _load_idx_dataset("mnist", MNIST_FILES, "cnncourse.data.load_digits(size=28)",
                             as_float=as_float, root=root, sha256=sha256, progress=progress)


def load_fashion_mnist(*, as_float: bool = True, root: str | os.PathLike | None = None,
                       sha256: Mapping[str, str] | None = None,
                       progress: bool = True) -> tuple[Split, Split]:
    """Fashion-MNIST (Zalando): 60,000 + 10,000 28x28 grey clothing images, 10 classes.

    Same files, format and arguments as :func:`load_mnist`; class names in
    ``FASHION_MNIST_CLASSES``. Without network use ``load_digits(size=28)``.

    Returns:
        ``(train, test)`` :class:`Split` s: images (N, 1, 28, 28), labels (N,) int64 in 0..9.

    Lecture 1 (datasets).
    """
    return _load_idx_dataset("fashion_mnist", FASHION_MNIST_FILES,
                             "cnncourse.data.load_digits(size=28)",
                             as_float=as_float, root=root, sha256=sha256, progress=progress)
