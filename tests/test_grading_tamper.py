"""Tests of cnncourse.grading.tamper: each rule fires on tampering, never on honest code."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from cnncourse.grading import render_findings, scan_submissions, tamper_scan


def _meta(**flags):
    base = {"solution": False, "grade": False, "locked": False, "schema_version": 3}
    base.update(flags)
    return {"nbgrader": base}


def answer(src, gid="conv_answer"):
    return new_code_cell(src, metadata=_meta(solution=True, grade_id=gid))


def test_cell(src, gid="conv_test"):
    return new_code_cell(src, metadata=_meta(grade=True, locked=True, grade_id=gid, points=2))


test_cell.__test__ = False  # a factory, not a test


def notebook(*student_sources):
    return new_notebook(cells=[
        new_markdown_cell("# a1_conv"),
        new_code_cell("import numpy as np\nimport torch\nimport torch.nn.functional as F",
                      metadata=_meta(locked=True, grade_id="setup")),
        *[answer(s, f"answer_{i}") for i, s in enumerate(student_sources)],
        test_cell("from cnncourse.grading import assert_array_close, call_student\n"
                  "from cnncourse.layers import conv2d_forward\n"
                  "def check_conv(fn):\n    pass\n"
                  "assert_array_close(conv_forward_naive(1), conv2d_forward(1)[0])"),
    ])


HONEST = """\
import numpy as np
from numpy import pad as np_pad

def conv_forward_naive(x, w, b, stride=1, padding=0):
    N, C, H, W = x.shape
    F_, _, KH, KW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    H_out = (H + 2 * padding - KH) // stride + 1
    out = np.zeros((N, F_, H_out, H_out), dtype=x.dtype)
    for i in range(H_out):
        out[:, :, i] = np.einsum('nchw,fchw->nf', xp[:, :, i:i + KH, :KW], w)[..., None]
    np.testing.assert_allclose(out, out)  # a self-check, not a patch
    assert np.allclose(out, out)
    return out
"""


def test_honest_solution_has_no_findings():
    """Is a realistic honest solution left alone (no false positives)?"""
    assert tamper_scan(notebook(HONEST)) == []


@pytest.mark.parametrize("src, rule", [
    ("np.allclose = lambda *a, **k: True", "patch-library"),
    ("import numpy\nnumpy.testing.assert_allclose = print", "patch-library"),
    ("setattr(np, 'isclose', None)", "patch-library"),
    ("torch.Tensor.__eq__ = lambda s, o: True", "patch-library"),
    ("del np.allclose", "patch-library"),
    ("vars(np)['allclose'] = print", "patch-library"),
    ("import cnncourse.grading as g\ng.assert_array_close = print", "patch-library"),
    ("def assert_array_close(*a, **k):\n    pass", "redefine-helper"),
    ("def check_conv(fn):\n    return True", "redefine-helper"),
    ("call_student = lambda f, *a, **k: f(*a)", "redefine-helper"),
    ("globals()['assert_array_close'] = print", "redefine-helper"),
    ("from mylib import assert_array_close", "redefine-helper"),
    ("from cnncourse.layers import conv2d_forward", "reference-use"),
    ("from cnncourse import layers", "reference-use"),
    ("import cnncourse\nout = cnncourse.layers.conv2d_forward(x, w, b)", "reference-use"),
    ("out = F.conv2d(x, w)", "reference-use"),
    ("f = torch.nn.functional.conv2d", "reference-use"),
    ("from numpy.lib.stride_tricks import sliding_window_view", "reference-use"),
    ("import os\nos._exit(0)", "process-control"),
    ("import subprocess\nsubprocess.run(['kill', '1'])", "process-control"),
    ("import signal\nsignal.setitimer(signal.ITIMER_REAL, 0)", "guard-evasion"),
    ("import sys\nsys.setprofile(None)", "guard-evasion"),
    ("__name__ = 'cnncourse.fake'", "guard-evasion"),
    ("import sys\nsys.modules['cnncourse.grading'] = None", "sys-modules"),
    ("import sys\nsys.modules.pop('numpy')", "sys-modules"),
    ("import builtins\nbuiltins.abs = lambda v: 0", "builtins-patch"),
    ("__builtins__.print = None", "builtins-patch"),
    ("src = open('../source/a1_conv/a1_conv.ipynb').read()", "grader-files"),
    ("import sqlite3\nsqlite3.connect('gradebook.db')", "grader-files"),
    ("exec('np.allclose = lambda *a: True')", "dynamic-code"),
    ("m = __import__('numpy')", "dynamic-code"),
    ("import importlib\nimportlib.import_module('cnncourse.layers')", "dynamic-code"),
    ("%load_ext autoreload", "ipython-magic"),
    ("!cat ../source/a1_conv/a1_conv.ipynb", "ipython-magic"),
    ("def f(:\n    pass", "syntax-error"),
])
def test_each_rule_fires(src, rule):
    """Does each kind of tampering produce a finding with its rule, cell and line?"""
    findings = tamper_scan(notebook(HONEST, src))
    rules = {f.rule for f in findings}
    assert rule in rules, findings
    hit = next(f for f in findings if f.rule == rule)
    assert hit.cell_id == "answer_1" and hit.cell_index == 3
    if rule != "syntax-error":
        assert hit.line >= 1 and hit.snippet in src


def test_line_numbers_and_snippets():
    """Is the finding's line the offending line, with its text as snippet?"""
    [f] = tamper_scan(notebook("x = 1\ny = 2\nnp.allclose = None"))
    assert (f.line, f.snippet, f.rule) == (3, "np.allclose = None", "patch-library")


def test_test_cells_are_not_scanned_but_added_cells_are():
    """Are locked/grade cells skipped (nbgrader restores them) and student-added cells scanned?"""
    nb = notebook("x = 1")
    assert tamper_scan(nb) == []  # the test cell imports cnncourse.layers: not flagged
    assert any(f.rule == "reference-use" for f in tamper_scan(nb, all_cells=True))
    nb.cells.append(new_code_cell("np.allclose = None"))  # a cell the student added
    [f] = tamper_scan(nb)
    assert f.cell_index == len(nb.cells) - 1 and f.cell_id == nb.cells[-1].id


def test_paths_malformed_json_and_submissions(tmp_path):
    """Does the scan read files, report unreadable ones, and walk submitted/<student>/<a>/?"""
    good = tmp_path / "submitted" / "alice" / "a1_conv" / "a1_conv.ipynb"
    bad = tmp_path / "submitted" / "bob" / "a1_conv" / "a1_conv.ipynb"
    good.parent.mkdir(parents=True)
    bad.parent.mkdir(parents=True)
    nbformat.write(notebook("np.allclose = None"), good)
    bad.write_text("{not json")
    [f] = tamper_scan(bad)
    assert f.rule == "unreadable" and "JSONDecodeError" in f.message
    report = scan_submissions(tmp_path / "submitted", "a1_conv")
    assert sorted(report) == ["alice/a1_conv.ipynb", "bob/a1_conv.ipynb"]
    assert [f.rule for f in report["alice/a1_conv.ipynb"]] == ["patch-library"]


def test_render_findings():
    """Does the report name the cell, line, rule and snippet, and say so when clean?"""
    text = render_findings(tamper_scan(notebook("import os\nos._exit(1)")), title="alice")
    assert text.splitlines()[0] == "alice"
    assert "cell 3 (answer_0), line 2: [process-control]" in text  # 1-based: cell_index 2 and "os._exit(1)" in text
    assert "rules:" in text
    assert render_findings([], title="bob") == "bob\n  no tampering found"
