"""The autograde report (cnncourse.course.report): table, legend, details, messages from notebooks."""

from __future__ import annotations

import nbformat

from cnncourse.course.report import StudentResult, TestResult, cell_messages, format_details, format_table


def _result(name, scores, *, error="", flags=(), messages=None):
    messages = messages or {}
    tests = [TestResult(f"test_{g}", s, m, messages.get(g, "")) for g, (s, m) in scores.items()]
    return StudentResult(name, "a1", tests, error=error, flags=list(flags))


def test_table_rows_totals_and_status():
    """One row per student with per-test scores, the total and ok / FLAGGED / ERROR."""
    rs = [_result("ann", {"a": (5, 5), "b": (0, 10)}), _result("bo", {"a": (0, 5), "b": (0, 10)}, error="died"),
          _result("cy", {"a": (5, 5), "b": (10, 10)}, flags=["patches numpy"])]
    lines = format_table(rs).splitlines()
    assert lines[0].split() == ["student", "a/5", "b/10", "total", "status"]
    assert lines[2].split() == ["ann", "5", "0", "5/15", "ok"]
    assert lines[3].split() == ["bo", "0", "0", "0/15", "ERROR"]
    assert lines[4].split() == ["cy", "5", "10", "15/15", "FLAGGED"]


def test_wide_table_numbers_its_columns_and_adds_a_legend():
    scores = {f"a_rather_long_test_name_{i}": (1, 2) for i in range(8)}
    text = format_table([_result("ann", scores)], max_width=100)
    assert text.splitlines()[0].split()[:3] == ["student", "T1", "T2"]
    assert "T8 = a_rather_long_test_name_7/2" in text
    assert all(len(line) <= 100 for line in text.splitlines())


def test_details_group_identical_errors_and_list_flags():
    """Is a message repeated by several tests shown once, naming the others, with error and flags?"""
    msg = "ToolsModifiedError: the grader's tools were modified"
    r = _result("eve", {"a": (0, 5), "b": (0, 5), "c": (5, 5), "d": (0, 5)}, error="",
                flags=["cell 3: [patch-library] np.allclose = ..."],
                messages={"a": msg, "b": msg + "\nmore", "d": "AssertionError: off by one"})
    text = format_details([r])
    assert f"  a (0/5) (same error in b): {msg}" in text
    assert "  d (0/5): AssertionError: off by one" in text
    assert "FLAG (check by hand): cell 3" in text and "c (" not in text
    assert format_details([_result("ok", {"a": (5, 5)})]) == ""


def test_cell_messages_read_errors_of_graded_cells_only(tmp_path):
    nb = nbformat.v4.new_notebook()
    graded = nbformat.v4.new_code_cell("assert f() == 1", outputs=[nbformat.v4.new_output(
        "error", ename="AssertionError", evalue="`f()` is 2, expected 1", traceback=[])])
    graded.metadata = {"nbgrader": {"grade": True, "grade_id": "test_f", "points": 1}}
    plain = nbformat.v4.new_code_cell("1/0", outputs=[nbformat.v4.new_output(
        "error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])])
    ok = nbformat.v4.new_code_cell("pass")
    ok.metadata = {"nbgrader": {"grade": True, "grade_id": "test_g", "points": 1}}
    nb.cells = [graded, plain, ok]
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    assert cell_messages(path) == {"test_f": "AssertionError: `f()` is 2, expected 1"}


def test_details_wrap_long_messages_at_word_boundaries():
    """Is a long failure message shown whole, wrapped at spaces (no word cut, no line too wide)?"""
    words = [f"word{i:03d}" for i in range(60)]
    message = "AssertionError: " + " ".join(words) + " only the FIRST maximum gets the gradient"
    text = format_details([_result("ann", {"a": (0, 5)}, messages={"a": message})])
    lines = [ln for ln in text.splitlines() if not ln.startswith(("ann", "  feedback"))]
    assert len(lines) > 1 and all(len(ln) <= 110 for ln in lines)
    flat = " ".join(ln.strip() for ln in lines)
    assert all(w in flat.split() for w in words) and flat.endswith("only the FIRST maximum gets the gradient")
