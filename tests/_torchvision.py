"""torchvision as an optional independent oracle in the tests.

The PyPI torchvision wheel can fail to load beside a CPU-only torch ("operator torchvision::nms
does not exist"), so it is never imported at module level: tests call
:func:`torchvision_or_skip` and keep an always-running check of their own beside it.
"""

from __future__ import annotations

import pytest


def torchvision_or_skip():
    """Return the ``torchvision`` module, or skip the test with the reason it cannot be imported."""
    try:
        import torchvision
        import torchvision.ops  # noqa: F401  (the compiled operators load here)
    except (ImportError, RuntimeError, OSError) as err:
        pytest.skip(reason=f"torchvision cannot be imported: {type(err).__name__}: {err}")
    return torchvision
