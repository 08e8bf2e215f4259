"""Shared timing for the benchmark scripts (``make bench``): one thread each side, medians, ratios.

Importing this module pins BLAS/OpenMP to one thread before numpy or torch load, so a ratio
compares implementations, not core counts. Each script prints ``ours  peer  ratio`` rows where
``ratio = ours / peer`` (below 1 means ours is faster), both sides measured in the same run.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"  # must happen before numpy/torch load their BLAS

import statistics
import time
from typing import Callable

__all__ = ["median_time", "compare", "header"]


def median_time(fn: Callable[[], object], repeat: int = 7, warmup: int = 1) -> float:
    """Median wall time in seconds of ``fn()`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def header(ours: str = "ours ms", peer: str = "peer ms", width: int = 56) -> None:
    """Print the column header matching :func:`compare` rows."""
    print(f"{'case':<{width}s} {ours:>9s} {peer:>9s} {'ratio':>8s}")


def compare(name: str, ours: Callable[[], object] | float, peer: Callable[[], object] | float,
            *, repeat: int = 7, warmup: int = 1, width: int = 56) -> float:
    """Time ``ours`` and ``peer`` (callables, or times already measured) and print one row.

    Returns the ratio ``ours / peer``.
    """
    t_ours = ours if isinstance(ours, float) else median_time(ours, repeat, warmup)
    t_peer = peer if isinstance(peer, float) else median_time(peer, repeat, warmup)
    ratio = t_ours / t_peer
    print(f"{name:<{width}s} {t_ours * 1e3:9.2f} {t_peer * 1e3:9.2f} {ratio:7.2f}x")
    return ratio
