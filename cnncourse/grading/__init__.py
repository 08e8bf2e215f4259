"""Autograding toolkit: what the visible and hidden test cells of assignments call.

- :func:`assert_array_close`, :func:`assert_arrays_close`, :func:`check_scalar`,
  :func:`check_int` compare an answer with the expected one and explain a failure like a TA.
- :mod:`cnncourse.grading.cases` yields seeded randomized cases (conv, pooling, batchnorm ...).
- :func:`forbid` makes named references and library shortcuts raise :class:`ForbiddenCallError`
  while student code runs; :func:`call_student` adds a time limit (:class:`StudentTimeout`), an
  in-place modification check and the rejection of objects that only claim equality.
- :mod:`cnncourse.grading.devices` holds the device handling and the tolerance policy.
- :func:`tamper_scan` statically flags student cells that patch libraries, redefine test helpers
  or call the references; :func:`render_findings` formats the findings for the autograde report.
- :func:`check_forward` and :func:`check_backward` run a student's layer against the reference over
  a list of cases in one call (the usual hidden test of a layer).
- :func:`check_module` compares a student's ``torch.nn.Module`` class with a reference module
  (weights copied in, outputs and gradients compared, on every device).
- :func:`verify_tools` (run by :func:`call_student` and the comparisons) fails a test when code in
  the notebook replaced a toolkit, reference or numpy comparison function.

Typical hidden test cell::

    from cnncourse.grading import assert_array_close, call_student, cases
    from cnncourse.layers import conv2d_forward
    for case in cases.conv_cases(seed=1, n=6):
        expected, _ = conv2d_forward(**case)                     # outside the guard
        out, _ = call_student(conv_forward_naive, **case, forbidden=("conv", "references"),
                              timeout=10)
        assert_array_close(out, expected, name=f"out ({case.label})")

or, the same in one call: ``check_forward(conv_forward_naive, conv2d_forward,
cases.conv_cases(seed=1, n=6), forbidden=("conv", "references"))``.
"""

from . import cases, devices
from .compare import assert_array_close, assert_arrays_close, check_int, check_scalar, plain_array
from .guard import PRESETS, ForbiddenCallError, forbid
from .integrity import ToolsModifiedError, verify_tools
from .layer_checks import check_backward, check_forward, describe_case
from .module_checks import check_module, randomize_module
from .sandbox import StudentTimeout, call_student, check_plain_result, module_gradients, time_limit
from .tamper import Finding, render_findings, scan_submissions, tamper_scan
from .seeds import secret_seed
from .remote import student_function

__all__ = [
    "assert_array_close", "assert_arrays_close", "check_scalar", "check_int", "plain_array",
    "forbid", "ForbiddenCallError", "PRESETS", "cases", "devices",
    "call_student", "module_gradients", "StudentTimeout", "time_limit", "check_plain_result",
    "tamper_scan", "render_findings", "scan_submissions", "Finding",
    "verify_tools", "ToolsModifiedError", "check_forward", "check_backward", "describe_case",
    "check_module", "randomize_module",
    "secret_seed", "student_function",
]
