"""Tiny notebook factory for the lecture generators: markdown/code cells -> a clean .ipynb.

The generated notebooks have no outputs, no execution counts and deterministic cell ids, so
running a generator twice changes nothing and ``git diff`` shows only real edits.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat

__all__ = ["build", "code", "md"]


def md(text: str) -> nbformat.NotebookNode:
    """A markdown cell (the text is dedented and stripped)."""
    return nbformat.v4.new_markdown_cell(textwrap.dedent(text).strip())


def code(text: str) -> nbformat.NotebookNode:
    """A code cell with no outputs and no execution count."""
    return nbformat.v4.new_code_cell(textwrap.dedent(text).strip())


def build(cells: list[nbformat.NotebookNode], path: Path, *, prefix: str) -> nbformat.NotebookNode:
    """Write ``cells`` as a notebook at ``path`` (cell ids ``<prefix>-000``, ...); return it."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (cnncourse)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, cell in enumerate(cells):
        cell.id = f"{prefix}-{i:03d}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.cells = cells
    nbformat.validate(nb)
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    return nb


def render(cells: list[nbformat.NotebookNode], *, prefix: str) -> str:
    """The text :func:`build` would write (used by the freshness test)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "nb.ipynb"
        build(cells, out, prefix=prefix)
        return out.read_text(encoding="utf-8")
