"""torchvision as an optional test oracle.

The CPU torch of the course environment cannot load the PyPI torchvision wheel (a CUDA build:
"operator torchvision::nms does not exist"), so tests never import torchvision at module level.
A test that compares with torchvision calls :func:`torchvision_or_skip` and keeps an independent
check (a slow loop twin, autograd) that always runs.
"""

from __future__ import annotations

import pytest


def torchvision_or_skip():
    """Return the ``torchvision`` module, or skip the calling test with the import error as reason."""
    try:
        import torchvision
        import torchvision.ops  # noqa: F401  (the ops are what the tests use; they fail to load first)
    except (ImportError, RuntimeError, OSError) as exc:
        pytest.skip(reason=f"torchvision unavailable: {type(exc).__name__}: {exc}")
    return torchvision
