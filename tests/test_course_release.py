"""The student release (``make release``): up to date, reproducible, and free of solutions and hidden tests.

The release is rebuilt through the real ``nbgrader generate_assignment`` in a temporary course
directory (never the repository's own gradebook) and compared byte for byte with the committed
``assignments/``. The leak and structure checks read the committed files and need no nbgrader.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from cnncourse.course.demo import make_course
from cnncourse.course.release import generate_release, list_assignments, normalize_notebook

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = list_assignments(ROOT)
_REGION = re.compile(r"^\s*### BEGIN (SOLUTION|HIDDEN TESTS)\s*$(.*?)^\s*### END \1\s*$", re.M | re.S)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _secret_and_public_lines(solution_nb) -> tuple[set[str], set[str]]:
    """Lines inside solution/hidden-test regions, and lines anywhere else in the source notebook."""
    secret, public = set(), set()
    for cell in solution_nb.cells:
        src = cell.source
        if cell.metadata.get("nbgrader", {}).get("solution") and not _REGION.search(src):
            secret |= {ln.strip() for ln in src.splitlines()}  # a written answer: nbgrader replaces it whole
            continue
        for m in _REGION.finditer(src):
            secret |= {ln.strip() for ln in m.group(2).splitlines()}
        public |= {ln.strip() for ln in _REGION.sub("", src).splitlines()}
    return {ln for ln in secret if len(ln) >= 8 and not ln.startswith("#")}, public


def test_there_is_an_assignment():
    assert "a1_conv" in ASSIGNMENTS


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_leaks_no_solution_and_no_hidden_test(name):
    """Does the committed release hold none of the solution code and none of the hidden tests,
    while keeping every visible line (explanations, self-checks, visible test comments)?"""
    sol = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    rel = nbformat.read(ROOT / "assignments" / name / f"{name}.ipynb", as_version=4)
    secret, public = _secret_and_public_lines(sol)
    assert len(secret) > 50  # the check below has something to find
    released = {ln.strip() for cell in rel.cells for ln in cell.source.splitlines()}
    leaked = sorted((secret - public) & released)
    assert not leaked, leaked[:10]
    text = (ROOT / "assignments" / name / f"{name}.ipynb").read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, marker
    # everything outside the secret regions is still there for the student
    missing = sorted(ln for ln in public if len(ln) >= 8 and ln not in released)
    assert not missing, missing[:10]


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_structure_stubs_and_points(name):
    """Does each answer cell hold the stub, each test cell stay locked with its points, the total
    come to 100, and the notebook carry no outputs or execution counts?"""
    sol = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    rel = nbformat.read(ROOT / "assignments" / name / f"{name}.ipynb", as_version=4)
    assert [c.get("id") for c in rel.cells] == [c.get("id") for c in sol.cells]
    points = 0
    for s, r in zip(sol.cells, rel.cells):
        meta = r.metadata.get("nbgrader", {})
        assert meta.get("grade_id") == s.metadata.get("nbgrader", {}).get("grade_id")
        if meta.get("solution") and "### BEGIN SOLUTION" in s.source:
            assert re.search(r"# YOUR CODE HERE\n\s*raise NotImplementedError\(\)", r.source), meta["grade_id"]
        if meta.get("grade") and meta.get("solution"):  # a written answer, graded by hand: editable
            assert not meta["locked"] and meta["points"] > 0 and r.source.strip() == "YOUR ANSWER HERE", meta["grade_id"]
            points += meta["points"]
        elif meta.get("grade"):
            assert meta["locked"] and meta["points"] > 0
            points += meta["points"]
        if r.cell_type == "code":
            assert r.outputs == [] and r.execution_count is None
    assert points == 100


@pytest.mark.slow
@pytest.mark.xdist_group("a1_autograde")
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_committed_release_is_up_to_date_and_reproducible(tmp_path, name):
    """Is assignments/<name>/ exactly what ``make release`` builds from solutions/ now, and do two
    releases from the same sources give identical bytes (no timestamps, no random ids, stable
    JSON)? (If stale: run ``make release`` and commit assignments/.)"""
    builds = []
    for i in range(2):  # each in a fresh course directory, never the repository's gradebook
        course = make_course(ROOT, tmp_path / f"course{i}")
        builds.append(_files(generate_release(course, name, tmp_path / f"out{i}")))
    committed = _files(ROOT / "assignments" / name)
    assert sorted(builds[0]) == sorted(committed)
    stale = [f for f in builds[0] if builds[0][f] != committed[f]]
    assert not stale, f"assignments/{name} is stale vs solutions/{name}: {stale}; run `make release`"
    assert builds[0] == builds[1]


def test_normalize_clears_outputs_and_counts(tmp_path):
    """Does normalisation drop outputs, execution counts and timing metadata, and is it idempotent?"""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(1)", execution_count=3,
                                     outputs=[nbformat.v4.new_output("stream", text="1\n")])
    cell.metadata["execution"] = {"iopub.execute_input": "2024-01-01T00:00:00"}
    cell.id = "c1"
    nb.cells = [cell]
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    normalize_notebook(path)
    once = path.read_bytes()
    back = nbformat.read(path, as_version=4).cells[0]
    assert back.outputs == [] and back.execution_count is None and "execution" not in back.metadata
    normalize_notebook(path)
    assert path.read_bytes() == once
