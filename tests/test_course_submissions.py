"""The patch format of student submissions (cnncourse.course.submissions): parse and apply.

Built from tiny notebook factories; no nbgrader run.
"""

from __future__ import annotations

import json

import nbformat
import pytest

from cnncourse.course.submissions import (apply_variant, fill_solutions, load_variants, parse_variant,
                                          strip_solution_markers, write_submission)


def _cell(src: str, grade_id: str | None = None, *, solution: bool = False, grade: bool = False):
    cell = nbformat.v4.new_code_cell(src)
    if grade_id:
        cell.metadata = {"nbgrader": {"grade_id": grade_id, "solution": solution, "grade": grade,
                                      "locked": grade, "schema_version": 3}}
    cell.id = grade_id or "plain"
    return cell


def _pair():
    """(release, solution) notebooks of a two-exercise assignment."""
    sol = nbformat.v4.new_notebook()
    sol.cells = [_cell("import numpy as np", None),
                 _cell("def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION", "f_impl",
                       solution=True),
                 _cell("assert f(1) == 2", "test_f", grade=True),
                 _cell("def g(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION", "g_impl",
                       solution=True),
                 _cell("assert g(1) == 2", "test_g", grade=True)]
    rel = nbformat.reads(nbformat.writes(sol), as_version=4)
    for cell in rel.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = cell.source.split("### BEGIN")[0] + "# YOUR CODE HERE\nraise NotImplementedError()"
    return rel, sol


def _ids(nb):
    return [c.metadata.get("nbgrader", {}).get("grade_id", c.get("id")) for c in nb.cells]


def test_parse_reads_header_ops_and_expectations():
    """Are headers, operations (with their multi-line bodies) and expectations parsed apart?"""
    text = ("# title: off by one\n# expect-lose: test_f :: off by\\s+one\n# expect-lose: test_g :: x\n"
            "# expect-keep: test_a, test_b\n# op: replace f_impl\ndef f(x):\n    # a comment\n    return x\n\n"
            "# op: delete test_g\n")
    v = parse_variant("b01", text)
    assert v.title == "off by one"
    assert v.ops == [("replace", "f_impl", "def f(x):\n    # a comment\n    return x"), ("delete", "test_g", "")]
    assert v.expectations("expect-lose") == [("test_f", r"off by\s+one"), ("test_g", "x")]
    assert v.meta["expect-keep"] == ["test_a, test_b"]
    assert parse_variant("plain", "").title == "plain" and parse_variant("plain", "").ops == []


def test_strip_solution_markers_keeps_the_code():
    """Does stripping the nbgrader markers keep every line of the solution and only those?"""
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION"
    assert strip_solution_markers(src) == "def f(x):\n    return x + 1"


def test_fill_solutions_puts_the_instructor_code_into_the_release():
    """Does the filled release carry the solution code (without markers) and untouched tests?"""
    rel, sol = _pair()
    nb = fill_solutions(rel, sol)
    assert nb.cells[1].source == "def f(x):\n    return x + 1"
    assert nb.cells[2].source == "assert f(1) == 2"
    assert "NotImplementedError" in rel.cells[1].source  # the input is not modified


@pytest.mark.parametrize("op, check", [
    ("replace f_impl\nBODY", lambda nb: nb.cells[1].source == "BODY"),
    ("append f_impl\nBODY", lambda nb: nb.cells[1].source.endswith("return x + 1\n\nBODY")),
    ("insert-after test_f\nBODY", lambda nb: nb.cells[3].source == "BODY" and len(nb.cells) == 6),
    ("delete test_f", lambda nb: "test_f" not in _ids(nb) and len(nb.cells) == 4),
    ("duplicate test_g", lambda nb: _ids(nb).count("test_g") == 2 and nb.cells[5].id == "test_g-copy"),
    ("edit test_g\npass", lambda nb: nb.cells[4].source == "pass"),
    ("untouched", lambda nb: "NotImplementedError" in nb.cells[1].source),
])
def test_each_operation(op, check):
    """Does each operation change exactly what its name says?"""
    rel, sol = _pair()
    nb = apply_variant(rel, sol, parse_variant("v", f"# op: {op}\n"))
    assert check(nb), nbformat.writes(nb)
    nbformat.validate(nb)  # the result is still a valid notebook (new cells get ids)


def test_corrupt_json_gives_unreadable_text(tmp_path):
    """Does ``corrupt-json`` produce text that is not JSON, written as the submission file?"""
    rel, sol = _pair()
    text = apply_variant(rel, sol, parse_variant("v", "# op: corrupt-json\n"))
    assert isinstance(text, str)
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    path = write_submission(tmp_path, "a1", "eve", text)
    assert path == tmp_path / "submitted" / "eve" / "a1" / "a1.ipynb" and path.read_text() == text


def test_unknown_operation_and_unknown_cell_are_errors():
    """Are a typo in an operation and a grade id that does not exist reported, not ignored?"""
    rel, sol = _pair()
    with pytest.raises(ValueError, match="unknown operation 'replce'"):
        apply_variant(rel, sol, parse_variant("v", "# op: replce f_impl\nx"))
    with pytest.raises(KeyError, match="no cell with grade_id 'h_impl'"):
        apply_variant(rel, sol, parse_variant("v", "# op: replace h_impl\nx"))


def test_every_stored_fixture_applies_to_the_a1_release():
    """Does every fixture of tests/fixtures/a1_conv name cells that exist in the committed release,
    and state at least one expectation?"""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    rel = nbformat.read(root / "assignments" / "a1_conv" / "a1_conv.ipynb", as_version=4)
    sol = nbformat.read(root / "solutions" / "a1_conv" / "a1_conv.ipynb", as_version=4)
    variants = load_variants(root / "tests" / "fixtures" / "a1_conv")
    assert len([v for v in variants if v.name.startswith("b")]) >= 10
    graded = {c.metadata["nbgrader"]["grade_id"] for c in sol.cells if c.metadata.get("nbgrader", {}).get("grade")}
    for v in variants:
        out = apply_variant(rel, sol, v)
        assert isinstance(out, (str, nbformat.NotebookNode))
        assert any(k.startswith("expect-") for k in v.meta), v.name
        for gid, _ in v.expectations("expect-lose"):
            assert gid in graded, (v.name, gid)
        for value in v.meta.get("expect-also-lose", []):
            assert {g.strip() for g in value.split(",")} <= graded, v.name
