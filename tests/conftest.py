"""Shared pytest configuration: CUDA marker handling and common fixtures."""

from __future__ import annotations

import os

import numpy as np
import pytest

# Keep BLAS/torch to one thread per xdist worker: the suite runs two workers on two cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a runtime dependency
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (run on a GPU machine to exercise it)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded numpy Generator, fresh for each test."""
    return np.random.default_rng(0)


@pytest.fixture(params=["cpu"] + (["cuda"] if _cuda_available() else []))
def device(request) -> str:
    """Every torch device present: 'cpu', plus 'cuda' when a GPU is available."""
    return request.param
