"""Notebooks as text sources (jupytext twins under src/), ``make sync``, and points from metadata.

Each test's question is in its docstring. The edit-path tests work on a copy of the a1 pair in a
temporary folder, never on the repository.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from cnncourse.course.points import graded_cells, points_problems, summary, total_points
from cnncourse.course.sources import pairs, stale_pairs, sync

ROOT = Path(__file__).resolve().parents[1]
A = "a1_conv"


def test_every_notebook_has_a_text_twin_in_sync():
    """Is every lecture and solution notebook paired with an up-to-date text twin (else: make sync)?"""
    assert pairs(ROOT), "no notebook pairs found"
    assert all(text.is_relative_to(ROOT / "src") for text, _ in pairs(ROOT))
    assert stale_pairs(ROOT) == []


def test_no_text_twin_or_hidden_test_reaches_the_release():
    """Does nothing from src/ (solutions, hidden tests in plain text) end up in assignments/?"""
    for path in (ROOT / "assignments").rglob("*"):
        assert path.suffix != ".py", f"{path} is a text source inside the student release"
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            for marker in ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS", "secret_seed("):
                assert marker not in text, f"{marker!r} leaked into {path}"


def _copy_pair(tmp: Path) -> tuple[Path, Path]:
    for rel in ("jupytext.toml", f"solutions/{A}/{A}.ipynb", f"src/solutions/{A}/{A}.py"):
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, tmp / rel)
    return tmp / "src" / "solutions" / A / f"{A}.py", tmp / "solutions" / A / f"{A}.ipynb"


def _touch_later(path: Path) -> None:
    later = time.time() + 5
    os.utime(path, (later, later))


def test_a_graded_cell_added_in_the_notebook_survives_sync(tmp_path):
    """Does a test cell added to the .ipynb (as nbgrader's Create Assignment toolbar writes it)
    survive `make sync`, appear in the text twin, change exactly one cell of the notebook, and
    make the points check report the stale points table?"""
    text, nb_path = _copy_pair(tmp_path)
    nb = nbformat.read(nb_path, 4)
    before = [c.id for c in nb.cells]
    at = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells].index("test_zero_pad2d") + 1
    cell = nbformat.v4.new_code_cell("assert zero_pad2d(np.zeros((1, 1, 2, 2)), 1).shape == (1, 1, 4, 4)")
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "test_zero_pad2d_extra", "locked": True,
                                 "points": 2, "schema_version": 3, "solution": False}
    nb.cells.insert(at, cell)
    nbformat.write(nb, nb_path)
    _touch_later(nb_path)
    sync(tmp_path, log=lambda *_: None)
    assert '"grade_id": "test_zero_pad2d_extra"' in text.read_text()
    after = nbformat.read(nb_path, 4)
    assert [c.id for c in after.cells] == before[:at] + ["test_zero_pad2d_extra"] + before[at:]
    assert total_points(after) == total_points(ROOT / "solutions" / A / f"{A}.ipynb") + 2
    problems = points_problems(after)
    assert any("part A" in p for p in problems) and any("total" in p for p in problems), problems
    assert sync(tmp_path, log=lambda *_: None) == [], "a second sync must change nothing"
    assert stale_pairs(tmp_path) == []


def test_a_cell_added_in_the_text_reaches_the_notebook_and_the_release(tmp_path):
    """Does a cell added to the text twin appear in the notebook (with a content id, other ids
    unchanged, no outputs) and in the student release built from it?"""
    text, nb_path = _copy_pair(tmp_path)
    before = [c.id for c in nbformat.read(nb_path, 4).cells]
    src = text.read_text()
    marker = "# %% [markdown]\n# ## Part B"
    assert marker in src
    text.write_text(src.replace(marker, "# %%\nprint('a hint for part B')\n\n" + marker, 1))
    _touch_later(text)
    sync(tmp_path, log=lambda *_: None)
    after = nbformat.read(nb_path, 4)
    new = [c for c in after.cells if c.source == "print('a hint for part B')"]
    assert len(new) == 1 and new[0].id.startswith("c-") and new[0].outputs == []
    assert [c.id for c in after.cells if c is not new[0]] == before
    from cnncourse.course.demo import make_course
    from cnncourse.course.release import generate_release

    course = tmp_path / "course"
    make_course(ROOT, course)
    shutil.copy2(nb_path, course / "solutions" / A / f"{A}.ipynb")
    built = generate_release(course, A, tmp_path / "release")
    released = nbformat.read(Path(built) / f"{A}.ipynb", 4)
    assert any(c.source == "print('a hint for part B')" for c in released.cells)


def test_points_tables_and_headings_match_the_metadata():
    """Does every solution notebook's points table and every "(N points)" heading agree with its
    graded cells, and its total with the intended total in its metadata?"""
    for _, nb_path in pairs(ROOT):
        if nb_path.parts[-3] == "solutions":
            assert points_problems(nb_path) == [], nb_path
            assert graded_cells(nb_path) and summary(nb_path).startswith("total ")


def test_points_check_catches_a_wrong_heading(tmp_path):
    """Does the points check fail when a heading states points its cells do not have?"""
    nb = nbformat.read(ROOT / "solutions" / A / f"{A}.ipynb", 4)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "### A1. Output size (5 points)" in cell.source:
            cell.source = cell.source.replace("(5 points)", "(6 points)")
            break
    else:
        pytest.fail("heading of A1 not found")
    assert any("A1. Output size (6 points)" in p for p in points_problems(nb))
