"""Labeled Faces in the Wild, verification protocol: the genuine ``lfw.tgz`` and pairs files.

Lecture 9 (face verification). ``lfw.tgz`` holds ``lfw/<Name>/<Name>_<NNNN>.jpg`` (250x250 RGB
JPEG). A pairs file starts with a header, ``<pairs>`` (``pairsDevTrain.txt``, ``pairsDevTest.txt``)
or ``<folds>\\t<pairs per fold>`` (``pairs.txt``, the 10-fold "view 2"); each fold then lists its
matched pairs ``name\\tn1\\tn2`` followed by as many mismatched pairs ``name1\\tn1\\tname2\\tn2``.
Offline, use :class:`cnncourse.data.IdentityDataset` (synthetic identities, same protocol).
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from cnncourse._validate import ArgumentError
from cnncourse.data._download import RemoteFile, fetch

__all__ = ["LFW_FILES", "LFWPairs", "load_lfw_pairs", "read_lfw_pairs_file"]

# SHA256 of the genuine files as recorded by scikit-learn (sklearn/datasets/_lfw.py, which serves
# them from figshare); lfw.tgz also in tensorflow/datasets url_checksums/lfw.txt (180,566,744 bytes).
LFW_FILES = {
    "images": RemoteFile("lfw.tgz", "https://ndownloader.figshare.com/files/5976018",
                         "055f7d9c632d7370e6fb4afc7468d40f970c34a80d4c6f50ffec63f5a8d536c0", 180566744),
    "train": RemoteFile("pairsDevTrain.txt", "https://ndownloader.figshare.com/files/5976012",
                        "1d454dada7dfeca0e7eab6f65dc4e97a6312d44cf142207be28d688be92aabfa"),
    "test": RemoteFile("pairsDevTest.txt", "https://ndownloader.figshare.com/files/5976009",
                       "7cb06600ea8b2814ac26e946201cdb304296262aad67d046a16a7ec85d0ff87c"),
    "10_folds": RemoteFile("pairs.txt", "https://ndownloader.figshare.com/files/5976006",
                           "ea42330c62c92989f9d7c03237ed5d591365e89b3e649747777b70e692dc1592"),
}


class LFWPairs(NamedTuple):
    """Verification pairs over a set of images.

    Attributes:
        images: (M, C, H, W) every image used by a pair, once (float32 in [0, 1] or uint8).
        pairs: (P, 2) int64 indices into ``images``.
        same: (P,) bool, True when both images show the same person.
        folds: (P,) int64 fold of each pair (all 0 for the dev subsets).
        names: M strings ``"<Name>/<Name>_<NNNN>"`` naming each image.
    """

    images: np.ndarray
    pairs: np.ndarray
    same: np.ndarray
    folds: np.ndarray
    names: tuple[str, ...]


def _image_key(name: str, number: str) -> str:
    return f"{name}/{name}_{int(number):04d}"


def read_lfw_pairs_file(path: str | os.PathLike) -> tuple[list[tuple[str, str]], np.ndarray, np.ndarray]:
    """Parse an LFW pairs file.

    Returns:
        ``(pairs, same, folds)``: P tuples of two image keys ``"<Name>/<Name>_<NNNN>"``,
        (P,) bool and (P,) int64.

    Lecture 9 (face verification).
    """
    with open(path, encoding="utf-8") as f:
        lines = [ln.split() for ln in f if ln.strip()]
    if not lines or not 1 <= len(lines[0]) <= 2 or not all(t.isdigit() for t in lines[0]):
        raise ValueError(f"{path}: first line must be '<pairs>' or '<folds> <pairs per fold>'")
    folds_n, per_fold = (1, int(lines[0][0])) if len(lines[0]) == 1 else map(int, lines[0])
    body = lines[1:]
    if len(body) != 2 * folds_n * per_fold:
        raise ValueError(f"{path}: header announces {folds_n} x 2 x {per_fold} pairs, found {len(body)}")
    pairs, same, folds = [], [], []
    for i, fields in enumerate(body):
        fold, matched = divmod(i, 2 * per_fold)[0], i % (2 * per_fold) < per_fold
        if matched and len(fields) == 3:
            pairs.append((_image_key(fields[0], fields[1]), _image_key(fields[0], fields[2])))
        elif not matched and len(fields) == 4:
            pairs.append((_image_key(fields[0], fields[1]), _image_key(fields[2], fields[3])))
        else:
            kind = "matched (name n1 n2)" if matched else "mismatched (name1 n1 name2 n2)"
            raise ValueError(f"{path}: line {i + 2} should be a {kind} pair, got {' '.join(fields)!r}")
        same.append(matched)
        folds.append(fold)
    return pairs, np.array(same, dtype=bool), np.array(folds, dtype=np.int64)


def _decode(raw: bytes, crop, size, color: bool) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(raw)) as im:
        im = im.convert("RGB" if color else "L")
        if crop is not None:
            im = im.crop(crop)
        if size is not None:
            im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        arr = np.asarray(im, dtype=np.uint8)
    return arr.transpose(2, 0, 1) if color else arr[None]  # (C, H, W)


def load_lfw_pairs(subset: str = "test", *, crop: tuple[int, int, int, int] | None = (78, 70, 172, 195),
                   size: tuple[int, int] | None = (62, 47), color: bool = True, as_float: bool = True,
                   root: str | os.PathLike | None = None, sha256: Mapping[str, str] | None = None,
                   progress: bool = True) -> LFWPairs:
    """LFW verification pairs with their images (downloads ``lfw.tgz``, 172 MiB, on first use).

    Args:
        subset: ``"train"`` (pairsDevTrain, 2,200 pairs), ``"test"`` (pairsDevTest, 1,000) or
            ``"10_folds"`` (pairs.txt, 6,000 pairs in 10 folds).
        crop: ``(x1, y1, x2, y2)`` pixel box cut from each 250x250 image before resizing (default:
            scikit-learn's central face region), or None for the whole image.
        size: ``(H, W)`` to resize to (bilinear), or None to keep the cropped size.
        color: RGB (C = 3) or grey (C = 1).
        as_float: float32 in [0, 1] (True) or uint8.
        root, sha256, progress: as in :func:`cnncourse.data.load_mnist`.

    Returns:
        :class:`LFWPairs` with images (M, C, H, W), pairs (P, 2), same (P,), folds (P,), names.

    Lecture 9 (face verification). Offline, use :class:`cnncourse.data.IdentityDataset`.
    """
    if subset not in ("train", "test", "10_folds"):
        raise ArgumentError("subset", "'train', 'test' or '10_folds'", repr(subset))
    offline = "cnncourse.data.IdentityDataset (synthetic identities with a pairs list)"
    names = (LFW_FILES[subset].name, LFW_FILES["images"].name)
    pairs_path = fetch("lfw", LFW_FILES[subset], offline_alternative=offline, sha256=sha256,
                       root=root, progress=progress, companions=names)
    archive = fetch("lfw", LFW_FILES["images"], offline_alternative=offline, sha256=sha256,
                    root=root, progress=progress, companions=names)
    key_pairs, same, folds = read_lfw_pairs_file(pairs_path)
    names = tuple(dict.fromkeys(k for pair in key_pairs for k in pair))  # first-use order
    index = {k: i for i, k in enumerate(names)}
    decoded: dict[str, np.ndarray] = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:  # one sequential pass over the gzip stream
            if not member.isfile() or not member.name.endswith(".jpg"):
                continue
            key = "/".join(member.name.split("/")[-2:])[: -len(".jpg")]
            if key in index:
                decoded[key] = _decode(tar.extractfile(member).read(), crop, size, color)
    missing = [k for k in names if k not in decoded]
    if missing:
        raise ValueError(f"{archive} lacks {len(missing)} images named in {pairs_path.name}, "
                         f"e.g. {missing[:3]}")
    images = np.stack([decoded[k] for k in names])  # (M, C, H, W) uint8
    pairs = np.array([[index[a], index[b]] for a, b in key_pairs], dtype=np.int64).reshape(-1, 2)
    images = images.astype(np.float32) / np.float32(255.0) if as_float else images
    return LFWPairs(images, pairs, same, folds, names)
