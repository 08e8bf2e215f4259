"""nbgrader preprocessors of the course (named in ``nbgrader_config.py``).

:class:`DropDuplicateIds` replaces nbgrader's ``DeduplicateIds`` in the sanitizing step.
nbgrader's version keeps the LAST cell of each grade id and empties the ``nbgrader`` metadata of
the other copies (``{}``); with ``OverwriteCells.add_missing_cells`` on, the next step then looks
up ``metadata.nbgrader.grade_id`` on every cell that has an ``nbgrader`` key and fails with
``KeyError: 'grade_id'`` (nbgrader 0.9.6), so a student who duplicated a cell could not be graded
at all. Here the earlier copies lose the ``nbgrader`` key entirely: they become plain cells, the
last copy is graded as before.
"""

from __future__ import annotations

from nbgrader.preprocessors import DeduplicateIds

__all__ = ["DropDuplicateIds"]


class DropDuplicateIds(DeduplicateIds):
    """``DeduplicateIds`` that removes the metadata of the duplicates instead of emptying it."""

    def preprocess_cell(self, cell, resources, cell_index):
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if "nbgrader" in cell.metadata and not cell.metadata["nbgrader"]:
            del cell.metadata["nbgrader"]
        return cell, resources
