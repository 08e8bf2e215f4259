"""Reader for the IDX format of MNIST and Fashion-MNIST (optionally gzip-compressed).

Lecture 1 (datasets). Format (http://yann.lecun.com/exdb/mnist/): a 4-byte magic number
``0x00 0x00 <type code> <ndim>``, then ``ndim`` big-endian uint32 dimension sizes, then the data
in C order, big-endian. Type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
0x0E float64.
"""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np

__all__ = ["read_idx"]

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _parse_idx(raw: bytes, source: str) -> np.ndarray:
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{source} is not an IDX file: magic number {raw[:4].hex() or 'missing'}")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{source}: IDX header truncated ({len(raw)} bytes for {ndim} dimensions)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{source}: IDX body has {len(raw) - header} bytes, shape {shape} "
                         f"of {dtype} needs {expected}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # native byte order, and a writable copy


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (``.gz`` files are decompressed) into a numpy array.

    Args:
        path: an ``*-idx3-ubyte(.gz)`` or ``*-idx1-ubyte(.gz)`` file.

    Returns:
        The array with the shape stored in the header, e.g. (N, 28, 28) uint8 images or
        (N,) uint8 labels, in native byte order.

    Lecture 1 (datasets: MNIST).
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":  # gzip magic
        raw = gzip.decompress(raw)
    return _parse_idx(raw, path)
