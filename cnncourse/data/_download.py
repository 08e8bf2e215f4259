"""Checksummed, cached downloads of the real datasets (through ``pooch``).

Lecture 1 (datasets used in the course). Every real file is described by a :class:`RemoteFile`
holding the SHA256 of the genuine file. A file is fetched at most once:

- cache folder: ``$CNNCOURSE_DATA`` if set, else ``platformdirs.user_cache_dir("cnncourse")``;
  each dataset gets a sub-folder (``<cache>/mnist/train-images-idx3-ubyte.gz``);
- mirror: ``$CNNCOURSE_DATA_MIRROR`` (a base URL) replaces the original host; the file is then
  requested from ``<mirror>/<dataset>/<file name>`` (MNIST and Fashion-MNIST share file names,
  hence the dataset folder);
- connection timeout: ``$CNNCOURSE_DATA_TIMEOUT`` seconds (default 5), so that a machine with no
  network fails within seconds instead of hanging.

pooch downloads into a temporary file next to the target and moves it into place only after its
SHA256 matched, so a corrupted or truncated download never becomes a file a later call trusts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ChecksumError",
    "DownloadError",
    "RemoteFile",
    "data_dir",
    "fetch",
    "file_url",
    "mirror_url",
]

CONNECT_TIMEOUT_S = 5.0   # seconds to open a connection (env CNNCOURSE_DATA_TIMEOUT overrides)
READ_TIMEOUT_S = 60.0     # seconds of silence tolerated mid-download


class DownloadError(ConnectionError):
    """A dataset file could not be downloaded (no network, host down, file missing on mirror)."""


class ChecksumError(ValueError):
    """A downloaded file's SHA256 differs from the genuine file's; nothing was cached."""


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file: its name in the cache, original URL, SHA256 and size in bytes."""

    name: str
    url: str
    sha256: str
    size: int | None = None


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``override``, else ``$CNNCOURSE_DATA``, else the user cache dir."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get("CNNCOURSE_DATA")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("cnncourse"))


def mirror_url() -> str | None:
    """The mirror base URL from ``$CNNCOURSE_DATA_MIRROR`` (without a trailing slash), or None."""
    mirror = os.environ.get("CNNCOURSE_DATA_MIRROR", "").strip()
    return mirror.rstrip("/") or None


def file_url(dataset: str, remote: RemoteFile) -> str:
    """The URL a download will use: the mirror's ``<mirror>/<dataset>/<name>`` or the original."""
    mirror = mirror_url()
    return f"{mirror}/{dataset}/{remote.name}" if mirror else remote.url


def _connect_timeout() -> float:
    raw = os.environ.get("CNNCOURSE_DATA_TIMEOUT")
    if not raw:
        return CONNECT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ValueError(f"`CNNCOURSE_DATA_TIMEOUT` expected a positive number of seconds, got {raw!r}")
    return value


def _by_hand(dataset: str, remote: RemoteFile, url: str, target: Path, offline: str,
             companions: tuple[str, ...]) -> str:
    """The part of an error message that says how to get the file without this function."""
    size = f", {remote.size:,} bytes" if remote.size else ""
    original = f" (or the original {remote.url})" if url != remote.url else ""
    others = [c for c in companions if c != remote.name]
    also = (f"The dataset also needs {', '.join(others)} in the same folder.\n" if others else "")
    return (
        f"To install it by hand, download {url}{original} and save it as\n"
        f"    {target}\n"
        f"(SHA256 {remote.sha256}{size}); set CNNCOURSE_DATA to use another cache folder or\n"
        f"CNNCOURSE_DATA_MIRROR to download from a mirror.\n{also}"
        f"To work offline instead, use {offline}."
    )


def fetch(dataset: str, remote: RemoteFile, *, offline_alternative: str,
          sha256: Mapping[str, str] | None = None, root: str | os.PathLike | None = None,
          progress: bool = True, companions: tuple[str, ...] = ()) -> Path:
    """Return the path of ``remote`` in the cache, downloading and verifying it if needed.

    Args:
        dataset: sub-folder of the cache and of the mirror, e.g. ``"mnist"``.
        remote: the file to fetch.
        offline_alternative: the offline dataset named in the error message, e.g.
            ``"cnncourse.data.load_digits(size=28)"``.
        sha256: optional ``{file name: sha256}`` overriding the genuine hashes (a re-packed
            mirror, or the small files of the loopback tests).
        root: cache folder (default :func:`data_dir`).
        progress: show a tqdm progress bar while downloading.
        companions: names of the dataset's other files, listed in the error message.

    Returns:
        The absolute path of the verified file.

    Raises:
        DownloadError: the file is not cached and could not be downloaded; the message names the
            file, the URL tried, where to put the file by hand and the offline alternative.
        ChecksumError: the downloaded bytes do not have the expected SHA256 (nothing is cached).
    """
    import pooch
    import requests

    expected = (sha256 or {}).get(remote.name, remote.sha256)
    size = remote.size if expected == remote.sha256 else None  # an override is another file
    remote = RemoteFile(remote.name, remote.url, expected, size)
    folder = data_dir(root) / dataset
    target = folder / remote.name
    url = file_url(dataset, remote)
    downloader = pooch.HTTPDownloader(progressbar=progress,
                                      timeout=(_connect_timeout(), READ_TIMEOUT_S))
    try:
        path = pooch.retrieve(url, known_hash=f"sha256:{expected}", fname=remote.name,
                              path=folder, downloader=downloader)
    except requests.exceptions.RequestException as err:
        stale = target.exists()  # pooch only downloads over a file whose hash is wrong
        note = (f"A file is already at {target} but its SHA256 is not the expected one "
                f"(incomplete or different version): replace it.\n" if stale else "")
        raise DownloadError(
            f"Could not download {remote.name!r} of dataset {dataset!r} from {url}\n"
            f"({type(err).__name__}: {err}).\n{note}"
            + _by_hand(dataset, remote, url, target, offline_alternative, companions)
        ) from err
    except ValueError as err:  # pooch's hash mismatch: the temporary file was already deleted
        raise ChecksumError(
            f"The file {remote.name!r} downloaded from {url} is corrupted or truncated: {err}\n"
            f"Nothing was saved to the cache. Try again, or use another mirror.\n"
            f"{_by_hand(dataset, remote, url, target, offline_alternative, companions)}"
        ) from err
    return Path(path)
