"""Replaced grading/reference/numpy functions fail the tests that would use them (integrity.py),
and the toolkit never imports torch or scipy on its own."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cnncourse.grading as grading
import cnncourse.layers as layers
from cnncourse.grading import ToolsModifiedError, assert_array_close, call_student, check_int, verify_tools


def _student_double(x):
    return 2 * x


def test_genuine_tools_pass_even_inside_the_guard():
    """No false alarm: genuine tools, also while forbid() has wrapped the references."""
    verify_tools()
    out = call_student(_student_double, np.ones(3), forbidden=("references", "stride_tricks"))
    assert_array_close(out, np.full(3, 2.0))
    with grading.forbid("references"):
        verify_tools()  # the guard's own wrappers are recognised


@pytest.mark.parametrize("module, attr", [(np, "allclose"), (np, "isclose"), (np.testing, "assert_allclose"),
                                          (grading, "assert_array_close"), (grading, "call_student"),
                                          (layers, "conv2d_forward")])
def test_a_lambda_from_the_notebook_is_detected(monkeypatch, module, attr):
    """Is a replacement defined outside the library named in the error, by check and by call_student?"""
    monkeypatch.setattr(module, attr, lambda *a, **k: True)
    with pytest.raises(ToolsModifiedError, match=rf"`{module.__name__}\.{attr}` was replaced \(it is defined in"):
        verify_tools()
    with pytest.raises(ToolsModifiedError, match="scores 0"):
        call_student(_student_double, np.ones(2))
    monkeypatch.undo()
    verify_tools()  # and nothing sticks once the original is back


def test_a_swap_between_genuine_functions_is_detected(monkeypatch):
    """Is ``np.isclose = np.greater_equal``-style swapping (both numpy's own) caught too?"""
    verify_tools()  # records the genuine objects
    monkeypatch.setattr(np, "isclose", np.allclose)
    with pytest.raises(ToolsModifiedError, match=r"`numpy.isclose` was replaced"):
        verify_tools()


def test_comparisons_refuse_to_run_with_a_patched_helper(monkeypatch):
    """Does a genuine comparison fail (not pass) once another helper was replaced?"""
    monkeypatch.setattr(grading, "check_scalar", lambda *a, **k: None)
    with pytest.raises(ToolsModifiedError, match="check_scalar"):
        check_int(3, 3)
    with pytest.raises(ToolsModifiedError):
        assert_array_close(np.ones(2), np.ones(2))


def test_deleting_a_helper_is_detected(monkeypatch):
    monkeypatch.delattr(np.testing, "assert_allclose")
    with pytest.raises(ToolsModifiedError, match="`numpy.testing.assert_allclose` was deleted"):
        verify_tools()


def test_a_fake_guard_marker_does_not_launder_a_replacement(monkeypatch):
    """An attribute claiming to wrap the original is only believed on the guard's own wrappers."""
    fake = lambda *a, **k: True  # noqa: E731
    fake.__cnncourse_forbidden_original__ = layers.conv2d_forward
    monkeypatch.setattr(layers, "conv2d_forward", fake)
    with pytest.raises(ToolsModifiedError, match="cnncourse.layers.conv2d_forward"):
        verify_tools()


_NO_HEAVY_IMPORTS = textwrap.dedent("""
    import sys
    import numpy as np
    from cnncourse.grading import assert_array_close, call_student, check_int, ForbiddenCallError
    out = call_student(lambda x: x + 1, np.zeros(3), forbidden=("conv", "pool", "autograd", "references"))
    assert_array_close(out, np.ones(3)); check_int(2, 2)
    print("heavy:", "torch" in sys.modules, "scipy" in sys.modules)

    def sneaky(x):
        import torch.nn.functional as F   # imported while the guard is active
        return x
    try:
        call_student(sneaky, np.zeros(3), forbidden=("conv",))
    except ForbiddenCallError as exc:
        print("refused:", exc)
""")


def test_the_toolkit_does_not_import_torch_or_scipy_and_refuses_a_late_import():
    """Grading a numpy exercise imports neither torch nor scipy (seconds per kernel), and a student
    function that imports torch while it runs (to reach an unguarded conv2d) is refused."""
    out = subprocess.run([sys.executable, "-c", _NO_HEAVY_IMPORTS], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "heavy: False False" in out.stdout
    assert "refused: `torch.nn.functional.conv2d` is not allowed" in out.stdout
