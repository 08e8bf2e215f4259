"""nbgrader preprocessors of the course (named in ``nbgrader_config.py``).

:class:`LocatingExecute` replaces nbgrader's ``Execute`` in the autograding step: it logs which
cell is running and the cell in which the kernel died, for the autograde report.

:class:`DropDuplicateIds` replaces nbgrader's ``DeduplicateIds`` in the sanitizing step.
nbgrader's version keeps the LAST cell of each grade id and empties the ``nbgrader`` metadata of
the other copies (``{}``); with ``OverwriteCells.add_missing_cells`` on, the next step then looks
up ``metadata.nbgrader.grade_id`` on every cell that has an ``nbgrader`` key and fails with
``KeyError: 'grade_id'`` (nbgrader 0.9.6), so a student who duplicated a cell could not be graded
at all. Here the earlier copies lose the ``nbgrader`` key entirely: they become plain cells, the
last copy is graded as before.
"""

from __future__ import annotations

from nbclient.exceptions import DeadKernelError
from nbgrader.preprocessors import DeduplicateIds, Execute, NbGraderPreprocessor

__all__ = ["DropDuplicateIds", "LocatingExecute", "HideHiddenTests", "describe_cell", "RUNNING_MARK", "DIED_MARK"]

RUNNING_MARK = "[cnncourse] running"
DIED_MARK = "[cnncourse] kernel died in"


class DropDuplicateIds(DeduplicateIds):
    """``DeduplicateIds`` that removes the metadata of the duplicates instead of emptying it."""

    def preprocess_cell(self, cell, resources, cell_index):
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if "nbgrader" in cell.metadata and not cell.metadata["nbgrader"]:
            del cell.metadata["nbgrader"]
        return cell, resources


def describe_cell(nb, index: int) -> str:
    """``cell 18/51 (grade id avg_pool_forward_impl): `def avg_pool2d_forward(...)``` for a report.

    Cells without a grade id (self-checks, cells a student added) are located by the nearest
    graded cell above them.
    """
    cell = nb.cells[index]
    gid = cell.metadata.get("nbgrader", {}).get("grade_id")
    if gid:
        what = f"grade id {gid}"
    else:
        above = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells[:index]]
        above = [g for g in above if g]
        what = f"no grade id, after {above[-1]}" if above else "no grade id, before any graded cell"
    lines = [ln.strip() for ln in cell.source.splitlines() if ln.strip()]
    first = lines[0] if lines else ""
    first = first if len(first) <= 80 else first[:77] + "..."
    return f"cell {index + 1}/{len(nb.cells)} ({what}): `{first}`"


class LocatingExecute(Execute):
    """nbgrader's ``Execute`` that logs which cell runs, and which one the kernel died in.

    When a kernel dies (``os._exit``, a segfault, the memory guard of the grading kernel)
    nbgrader fails the whole notebook and deletes the partially executed copy, so nothing but
    the log says where it happened. This preprocessor logs :data:`RUNNING_MARK` before each
    code cell and :data:`DIED_MARK` when ``DeadKernelError`` comes out of one; the autograder
    reads the last of these lines (also after killing a run that exceeded the per-student wall
    clock). Everything else (configuration under ``Execute.*``, scores: 0 everywhere when the
    kernel dies) is nbgrader's.
    """

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return super().preprocess_cell(cell, resources, index)
        where = describe_cell(self.nb, index)
        self.log.info("%s %s", RUNNING_MARK, where)
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self.log.error("%s %s", DIED_MARK, where)
            raise


class HideHiddenTests(NbGraderPreprocessor):
    """Feedback shows a hidden test as its name, points and result, never its code.

    Runs in ``generate_feedback`` (after ``GetGrades``): the source of every graded cell that holds
    a ``### BEGIN HIDDEN TESTS`` region (restored from the gradebook for grading, so present in the
    autograded notebook) is replaced by one comment line; its outputs (the grader's message, written
    by the trusted executor) stay. Visible self-check cells are left as they are.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and "BEGIN HIDDEN TESTS" in cell.source:
            points = meta.get("points", 0)
            cell.source = (f"# hidden test `{meta.get('grade_id', '')}` ({points:g} points): its code is "
                           "not shown; the grader's message is below")
        return cell, resources
