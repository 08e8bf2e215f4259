"""Real-dataset loaders end to end against a loopback HTTP server serving genuine file formats."""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnncourse.data import (ChecksumError, DownloadError, load_cifar10, load_fashion_mnist,
                            load_lfw_pairs, load_mnist, read_idx)
from cnncourse.data._download import RemoteFile, data_dir, file_url
from cnncourse.data.cifar import CIFAR10_FILE
from cnncourse.data.lfw import LFW_FILES
from cnncourse.data.mnist import FASHION_MNIST_FILES, MNIST_FILES

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# ----------------------------------------------------------------------------- loopback server
class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


class LoopbackServer:
    """http.server on 127.0.0.1 (port chosen by the OS) serving ``root`` from a thread."""

    def __init__(self, root: Path):
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.running = True

    def stop(self):
        if self.running:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join()
            self.running = False


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A served folder, the mirror pointing at it and an empty cache; yields (folder, server)."""
    root = tmp_path / "www"
    root.mkdir()
    server = LoopbackServer(root)
    monkeypatch.setenv("CNNCOURSE_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("CNNCOURSE_DATA_MIRROR", server.url + "/")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    yield root, server
    server.stop()


def _put(root: Path, dataset: str, name: str, data: bytes) -> str:
    (root / dataset).mkdir(parents=True, exist_ok=True)
    (root / dataset / name).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _cached_files(tmp_path: Path) -> list[str]:
    cache = tmp_path / "cache"
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file()) if cache.exists() else []


# ------------------------------------------------------------------------ genuine-format writers
def _idx_bytes(a: np.ndarray) -> bytes:
    """IDX as in LeCun's description: 0, 0, type 0x08 (ubyte), ndim, big-endian dims, data."""
    header = struct.pack(">BBBB", 0, 0, 0x08, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
    return gzip.compress(header + a.astype(np.uint8).tobytes())


def _write_mnist_like(root: Path, dataset: str, rng, n_train=7, n_test=5):
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    hashes = {name: _put(root, dataset, name, _idx_bytes(a)) for name, a in arrays.items()}
    return arrays, hashes


def _cifar_tarball(batches: dict[str, tuple[np.ndarray, list[int]]]) -> bytes:
    """cifar-10-python.tar.gz: pickled dicts with b'data' (N, 3072) uint8 and b'labels'."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        members = dict(batches)
        members["batches.meta"] = None
        for name, content in members.items():
            if content is None:
                obj = {b"label_names": [b"airplane"] * 10, b"num_vis": 3072}
            else:
                obj = {b"batch_label": name.encode(), b"labels": content[1], b"data": content[0],
                       b"filenames": [b"x.png"] * len(content[1])}
            raw = pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


def _jpeg(rng, size=(250, 250)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


# --------------------------------------------------------------------------------------- MNIST
def test_mnist_loopback_returns_written_arrays_then_uses_cache_with_server_stopped(served, rng, tmp_path):
    """Do the IDX files served on loopback come back exactly, and from the cache once offline?"""
    root, server = served
    arrays, hashes = _write_mnist_like(root, "mnist", rng)
    train, test = load_mnist(as_float=False, sha256=hashes, progress=False)
    np.testing.assert_array_equal(train.images[:, 0], arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(train.labels, arrays["train-labels-idx1-ubyte.gz"])
    np.testing.assert_array_equal(test.images[:, 0], arrays["t10k-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(test.labels, arrays["t10k-labels-idx1-ubyte.gz"])
    assert train.images.shape == (7, 1, 28, 28) and train.labels.dtype == np.int64
    assert _cached_files(tmp_path) == sorted(f"mnist/{n}" for n in arrays)

    server.stop()
    train2, test2 = load_mnist(sha256=hashes, progress=False)  # as floats, from the cache
    assert train2.images.dtype == np.float32
    np.testing.assert_array_equal(train2.images, train.images.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(test2.labels, test.labels)


def test_fashion_mnist_uses_its_own_folder_although_file_names_match_mnist(served, rng):
    """Are MNIST and Fashion-MNIST (same file names) kept apart on the mirror and in the cache?"""
    root, _ = served
    mnist, h1 = _write_mnist_like(root, "mnist", rng)
    fashion, h2 = _write_mnist_like(root, "fashion_mnist", rng, n_train=4, n_test=3)
    (f_train, _), (m_train, _) = (load_fashion_mnist(as_float=False, sha256=h2, progress=False),
                                  load_mnist(as_float=False, sha256=h1, progress=False))
    np.testing.assert_array_equal(f_train.images[:, 0], fashion["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(m_train.images[:, 0], mnist["train-images-idx3-ubyte.gz"])


def test_read_idx_parses_other_dtypes_and_rejects_bad_files(tmp_path):
    """Does read_idx honour the type code and reject a wrong magic or a truncated body?"""
    a = (np.arange(6).reshape(2, 3) - 3).astype(">i2")  # big-endian, as IDX stores it
    raw = struct.pack(">BBBB", 0, 0, 0x0B, 2) + struct.pack(">2I", 2, 3) + a.tobytes()
    (tmp_path / "a.idx").write_bytes(raw)
    out = read_idx(tmp_path / "a.idx")
    np.testing.assert_array_equal(out, a)
    assert out.dtype == np.int16 and out.dtype.isnative
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short.gz").write_bytes(gzip.compress(raw[:-1]))
    with pytest.raises(ValueError, match="IDX body has 11 bytes"):
        read_idx(tmp_path / "short.gz")


# ------------------------------------------------------------------------------------- CIFAR-10
def test_cifar10_loopback_returns_written_batches_in_order(served, rng, capsys):
    """Are the five training batches concatenated in order and the rows reshaped to NCHW?"""
    root, server = served
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = int(rng.integers(1, 4))
        batches[name] = (rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         [int(v) for v in rng.integers(0, 10, n)])
    hashes = {"cifar-10-python.tar.gz": _put(root, "cifar10", "cifar-10-python.tar.gz",
                                             _cifar_tarball(batches))}
    train, test = load_cifar10(as_float=False, sha256=hashes, progress=True)
    assert "100%" in capsys.readouterr().err  # the tqdm progress bar ran to completion
    rows = np.concatenate([batches[f"data_batch_{i}"][0] for i in range(1, 6)])
    # Slow reference: pixel (c, y, x) of image n is byte c*1024 + y*32 + x of its row.
    n, c, y, x = len(rows) - 1, 2, 5, 7
    assert train.images[n, c, y, x] == rows[n, c * 1024 + y * 32 + x]
    np.testing.assert_array_equal(train.images.reshape(len(rows), -1), rows)
    np.testing.assert_array_equal(train.labels, sum((batches[f"data_batch_{i}"][1] for i in range(1, 6)), []))
    np.testing.assert_array_equal(test.images.reshape(len(test.labels), -1), batches["test_batch"][0])
    server.stop()
    train2, _ = load_cifar10(sha256=hashes, progress=False)
    np.testing.assert_array_equal(train2.images * 255, train.images.astype(np.float32))


def test_cifar10_refuses_a_pickle_that_would_run_code(served):
    """Does the CIFAR reader refuse a batch whose pickle names a global other than numpy arrays?"""
    root, _ = served

    class Evil:
        def __reduce__(self):
            return (os.getcwd, ())

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            raw = pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    hashes = {"cifar-10-python.tar.gz": _put(root, "cifar10", "cifar-10-python.tar.gz", buf.getvalue())}
    with pytest.raises(pickle.UnpicklingError, match="refusing to load it"):
        load_cifar10(sha256=hashes, progress=False)


# ------------------------------------------------------------------------------------------ LFW
def _write_lfw_like(root: Path, rng):
    people = {"Ann_A": 3, "Bob_B": 2, "Cy_C": 1}
    jpegs = {f"{p}/{p}_{k:04d}": _jpeg(rng) for p, n in people.items() for k in range(1, n + 1)}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for key, data in jpegs.items():
            info = tarfile.TarInfo(f"lfw/{key}.jpg")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    hashes = {"lfw.tgz": _put(root, "lfw", "lfw.tgz", buf.getvalue())}
    # pairsDevTest.txt style: header <pairs>, matched "name n1 n2", then mismatched "n1 i n2 j".
    dev = "2\nAnn_A\t1\t3\nBob_B\t1\t2\nAnn_A\t2\tCy_C\t1\nBob_B\t2\tAnn_A\t1\n"
    hashes["pairsDevTest.txt"] = _put(root, "lfw", "pairsDevTest.txt", dev.encode())
    # pairs.txt style: header <folds> <pairs per fold>.
    folds = "2\t1\nAnn_A\t1\t2\nCy_C\t1\tBob_B\t1\nBob_B\t1\t2\nAnn_A\t3\tCy_C\t1\n"
    hashes["pairs.txt"] = _put(root, "lfw", "pairs.txt", folds.encode())
    return jpegs, hashes


def test_lfw_pairs_loopback_decodes_the_jpegs_and_the_pairs_file(served, rng):
    """Does load_lfw_pairs return the served JPEG pixels and the pairs as written?"""
    root, server = served
    jpegs, hashes = _write_lfw_like(root, rng)
    out = load_lfw_pairs("test", crop=None, size=None, as_float=False, sha256=hashes, progress=False)
    expected_pairs = [("Ann_A/Ann_A_0001", "Ann_A/Ann_A_0003"), ("Bob_B/Bob_B_0001", "Bob_B/Bob_B_0002"),
                      ("Ann_A/Ann_A_0002", "Cy_C/Cy_C_0001"), ("Bob_B/Bob_B_0002", "Ann_A/Ann_A_0001")]
    assert [(out.names[i], out.names[j]) for i, j in out.pairs] == expected_pairs
    np.testing.assert_array_equal(out.same, [True, True, False, False])
    np.testing.assert_array_equal(out.folds, [0, 0, 0, 0])
    for name, image in zip(out.names, out.images):
        decoded = np.asarray(Image.open(io.BytesIO(jpegs[name])).convert("RGB"))  # (H, W, 3)
        np.testing.assert_array_equal(image, decoded.transpose(2, 0, 1))
    server.stop()
    cropped = load_lfw_pairs("test", crop=(78, 70, 172, 195), size=(62, 47), sha256=hashes,
                             progress=False)
    assert cropped.images.shape == (len(out.names), 3, 62, 47) and cropped.images.dtype == np.float32
    ref = Image.open(io.BytesIO(jpegs[out.names[0]])).convert("RGB").crop((78, 70, 172, 195))
    ref = np.asarray(ref.resize((47, 62), Image.Resampling.BILINEAR)).transpose(2, 0, 1) / 255.0
    np.testing.assert_allclose(cropped.images[0], ref, atol=1e-6)


def test_lfw_ten_fold_file_assigns_folds(served, rng):
    """Are the pairs of pairs.txt ('<folds> <n>' header) split into their folds?"""
    root, _ = served
    _, hashes = _write_lfw_like(root, rng)
    out = load_lfw_pairs("10_folds", color=False, as_float=False, sha256=hashes, progress=False)
    np.testing.assert_array_equal(out.folds, [0, 0, 1, 1])
    np.testing.assert_array_equal(out.same, [True, False, True, False])
    assert out.images.shape[1] == 1
    with pytest.raises(ValueError, match="`subset` expected 'train', 'test' or '10_folds'"):
        load_lfw_pairs("view2")


# ----------------------------------------------------------------------- failures and offline
def test_corrupted_download_raises_checksum_error_and_caches_nothing(served, rng, tmp_path):
    """Is a truncated file rejected, never cached, and the next good download accepted?"""
    root, _ = served
    arrays, hashes = _write_mnist_like(root, "mnist", rng)
    good = (root / "mnist" / "train-images-idx3-ubyte.gz").read_bytes()
    (root / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(ChecksumError, match=r"'train-images-idx3-ubyte.gz' downloaded from .* is corrupted"):
        load_mnist(sha256=hashes, progress=False)
    assert _cached_files(tmp_path) == []  # no trusted file, no temporary left behind
    (root / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(good)
    train, _ = load_mnist(as_float=False, sha256=hashes, progress=False)
    np.testing.assert_array_equal(train.images[:, 0], arrays["train-images-idx3-ubyte.gz"])


def test_genuine_hash_is_the_default_so_a_test_file_fails_the_check(served, rng, tmp_path):
    """Without an override, is the served small file checked against the real MNIST SHA256?"""
    root, _ = served
    _write_mnist_like(root, "mnist", rng)
    with pytest.raises(ChecksumError, match=MNIST_FILES[0].sha256):
        load_mnist(progress=False)
    assert _cached_files(tmp_path) == []


def _closed_port_url() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more


def test_unreachable_host_fails_quickly_with_an_actionable_message(tmp_path, monkeypatch):
    """Does an unreachable mirror give, within seconds, the file, URL, cache path and offline set?"""
    mirror = _closed_port_url()
    monkeypatch.setenv("CNNCOURSE_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("CNNCOURSE_DATA_MIRROR", mirror)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        load_mnist(progress=False)
    assert time.monotonic() - start < 20  # a hang guard, not a benchmark: the connect is refused
    msg = str(info.value)
    target = tmp_path / "cache" / "mnist" / "train-images-idx3-ubyte.gz"
    assert "'train-images-idx3-ubyte.gz'" in msg
    assert f"{mirror}/mnist/train-images-idx3-ubyte.gz" in msg
    assert str(target) in msg and MNIST_FILES[0].url in msg
    assert "load_digits(size=28)" in msg
    assert "also needs train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz" in msg
    with pytest.raises(DownloadError, match="IdentityDataset"):
        load_lfw_pairs(progress=False)
    assert isinstance(info.value, OSError)


def test_a_file_put_by_hand_where_the_message_says_is_used_offline(tmp_path, monkeypatch, rng):
    """Following the message (file saved at the cache path) makes the loader work with no network."""
    monkeypatch.setenv("CNNCOURSE_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("CNNCOURSE_DATA_MIRROR", _closed_port_url())
    arrays, hashes = _write_mnist_like(tmp_path / "cache", "mnist", rng)  # written straight into the cache
    (tmp_path / "cache" / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"stale")
    with pytest.raises(DownloadError, match="its SHA256 is not the expected one"):
        load_mnist(sha256=hashes, progress=False)
    (tmp_path / "cache" / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(
        _idx_bytes(arrays["t10k-labels-idx1-ubyte.gz"]))
    _, test = load_mnist(sha256=hashes, progress=False)
    np.testing.assert_array_equal(test.labels, arrays["t10k-labels-idx1-ubyte.gz"])


def test_cache_folder_and_mirror_settings(tmp_path, monkeypatch):
    """Do CNNCOURSE_DATA and CNNCOURSE_DATA_MIRROR change where files go and come from?"""
    import platformdirs

    monkeypatch.delenv("CNNCOURSE_DATA", raising=False)
    monkeypatch.delenv("CNNCOURSE_DATA_MIRROR", raising=False)
    assert data_dir() == Path(platformdirs.user_cache_dir("cnncourse"))
    assert file_url("cifar10", CIFAR10_FILE) == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    monkeypatch.setenv("CNNCOURSE_DATA", str(tmp_path))
    monkeypatch.setenv("CNNCOURSE_DATA_MIRROR", "https://example.org/data//")
    assert data_dir() == tmp_path and data_dir(tmp_path / "x") == tmp_path / "x"
    assert file_url("cifar10", CIFAR10_FILE) == "https://example.org/data/cifar10/cifar-10-python.tar.gz"
    monkeypatch.setenv("CNNCOURSE_DATA_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="`CNNCOURSE_DATA_TIMEOUT` expected a positive number"):
        load_mnist(progress=False)


def test_registries_hold_real_sha256_digests():
    """Is every default hash a 64-digit SHA256, distinct per file, with the URL ending in the name?"""
    files: list[RemoteFile] = [*MNIST_FILES, *FASHION_MNIST_FILES, CIFAR10_FILE, *LFW_FILES.values()]
    digests = [f.sha256 for f in files]
    assert all(len(d) == 64 and int(d, 16) >= 0 for d in digests)
    assert len(set(digests)) == len(digests)
    for f in [*MNIST_FILES, *FASHION_MNIST_FILES, CIFAR10_FILE]:
        assert f.url.endswith(f.name)
