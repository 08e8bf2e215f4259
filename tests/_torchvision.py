"""torchvision as an independent oracle in the tests, including where its compiled half cannot load.

``torchvision==0.28.0`` (pinned in the ``dev`` extra, the release built for torch 2.13.0) is on PyPI
for x86_64 only as a CUDA build. Beside the CPU torch 2.13.0 its compiled operators (``_C.so``:
``nms``, ``roi_pool``, ``deform_conv2d``) cannot load, and a plain ``import torchvision`` then fails
("operator torchvision::nms does not exist") because its meta registrations name ``nms`` and
``qnms`` unconditionally. The rest of torchvision is pure Python and still a valid oracle: the box
ops, ``roi_align`` (torchvision's own Python implementation, which it uses where the compiled one is
missing) and every model definition.

So :func:`torchvision_or_skip` first tries to load the compiled library itself; when that fails it
declares the two operator schemas the import needs (schemas only, no kernels: calling them still
fails) and imports torchvision. Tests of compiled operators ask for ``compiled=True`` and skip with
the reason; everything else runs. With a torchvision whose ``_C.so`` loads (a CUDA torch on a GPU
machine, or an aarch64 CPU build) nothing is declared and every test runs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_STATE: dict[str, object] = {}


def _load() -> tuple[object | None, str]:
    """(torchvision or None, why its compiled operators are missing or why it is missing ('' if fine))."""
    if "result" in _STATE:
        return _STATE["result"]  # type: ignore[return-value]
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        _STATE["result"] = (None, "torchvision is not installed (`pip install -e '.[dev]'` pins 0.28.0)")
        return _STATE["result"]  # type: ignore[return-value]
    import torch

    compiled_error = ""
    libs = sorted(Path(spec.origin).parent.glob("_C*.so")) + sorted(Path(spec.origin).parent.glob("_C*.pyd"))
    try:
        if not libs:
            raise OSError("no _C library in the package")
        torch.ops.load_library(str(libs[0]))
    except (OSError, RuntimeError) as err:
        compiled_error = (f"torchvision's compiled operators cannot load beside torch {torch.__version__} "
                          f"({type(err).__name__}: {str(err).splitlines()[0][:160]})")
        if not hasattr(torch.ops.torchvision, "nms"):
            # schemas only, so that torchvision/_meta_registrations.py imports; no kernel behind them
            lib = torch.library.Library("torchvision", "DEF")
            lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
            lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
            _STATE["library"] = lib  # keep the definitions alive
    try:
        import torchvision
        import torchvision.ops  # noqa: F401
    except (ImportError, RuntimeError, OSError) as err:
        _STATE["result"] = (None, f"torchvision cannot be imported: {type(err).__name__}: {err}")
        return _STATE["result"]  # type: ignore[return-value]
    _STATE["result"] = (torchvision, compiled_error)
    return _STATE["result"]  # type: ignore[return-value]


def torchvision_or_skip(*, compiled: bool = False):
    """Return the ``torchvision`` module, or skip the test with the reason.

    Args:
        compiled: the test calls torchvision's compiled operators (``nms``, ``roi_pool``,
            ``deform_conv2d``); skip where they cannot load beside this torch.
    """
    tv, why = _load()
    if tv is None:
        pytest.skip(reason=why)
    if compiled and why:
        pytest.skip(reason=why)
    return tv


def has_compiled_ops() -> bool:
    """Whether torchvision's compiled operators loaded (False also without torchvision)."""
    tv, why = _load()
    return tv is not None and not why


def roi_align_oracle():
    """``(roi_align, faithful_outside)``: torchvision's roi_align and whether it follows the compiled
    kernel for samples outside the feature map.

    Without the compiled operators torchvision runs its pure-Python ``_roi_align`` (transcribed from
    the CUDA kernel, but it CLAMPS sample points outside the map where the kernel counts samples
    more than one cell outside as 0), wrapped in ``torch.compile`` on first use; here it is called
    eagerly (``__wrapped__``), since compiling costs seconds and nothing is gained for tiny inputs.
    Tests then compare only RoIs inside the map with it; slow loop twins cover the others.
    """
    tv = torchvision_or_skip()
    if has_compiled_ops():
        return tv.ops.roi_align, True
    from torch.nn.modules.utils import _pair

    module = importlib.import_module("torchvision.ops.roi_align")  # the package attribute is the function

    eager = getattr(module._roi_align, "__wrapped__", module._roi_align)

    def roi_align(x, rois, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False):
        oh, ow = _pair(output_size)
        return eager(x, rois, spatial_scale, oh, ow, sampling_ratio, aligned)

    return roi_align, False
