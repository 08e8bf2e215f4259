"""Build the nbgrader source notebook ``solutions/a1_conv/a1_conv.ipynb`` (assignment 1).

The notebook is generated, not hand-edited, so its structure (graded cells, points, ids) lives in
one readable place. Run ``python tools/build_a1_conv.py`` after editing, then ``make release``.

Cell kinds (nbgrader metadata, schema 3):
- ``solution(grade_id, src)``: the student edits it; ``### BEGIN/END SOLUTION`` is cleared in the release.
- ``tests(grade_id, points, src)``: locked, graded; ``### BEGIN/END HIDDEN TESTS`` is removed from
  the release and restored from the gradebook at autograde time.
- ``md``/``code``: plain cells (explanations, figures, visible self-checks) without metadata, so
  that every graded cell directly follows a solution cell (nbgrader re-inserts a deleted graded
  cell after its predecessor).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "solutions" / "a1_conv" / "a1_conv.ipynb"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from a1_conv_cells import CELLS  # noqa: E402  (the cell contents, in order)


def _meta(grade_id: str, *, grade: bool, solution: bool, locked: bool, points: int = 0) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def build() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, (kind, *rest) in enumerate(CELLS):
        if kind == "md":
            cell = nbformat.v4.new_markdown_cell(rest[0].strip("\n"))
        elif kind == "code":
            cell = nbformat.v4.new_code_cell(rest[0].strip("\n"))
        elif kind == "solution":
            grade_id, src = rest
            cell = nbformat.v4.new_code_cell(src.strip("\n"))
            cell.metadata = _meta(grade_id, grade=False, solution=True, locked=False)
        elif kind == "tests":
            grade_id, points, src = rest
            cell = nbformat.v4.new_code_cell(src.strip("\n"))
            cell.metadata = _meta(grade_id, grade=True, solution=False, locked=True, points=points)
        else:
            raise ValueError(f"unknown cell kind {kind!r}")
        cell.id = f"a1-{i:02d}"  # deterministic ids: rebuilding changes nothing
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(build(), OUT)
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
