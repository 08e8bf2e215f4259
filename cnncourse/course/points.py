"""Points come from the cells' nbgrader metadata; what the text says about points is checked against it.

An assignment's markdown states points in two ways that students read: headings
(``### A1. Output size (5 points)``, ``## Part E — Edge detection (10 points)``) and a table
(``| A. Arithmetic | ... | 15 |`` and ``| | **Total** | **100** |``). :func:`points_problems`
compares each with the sum of the ``points`` of the graded cells it covers: a heading covers the
cells up to the next heading of the same or a higher level; a table row ``| X. ... | n |`` covers
the cells under the heading ``## Part X``. The intended total is the notebook metadata
``cnncourse.total_points``; ``make release`` prints the totals and warns when they differ.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

__all__ = ["graded_cells", "points_by_part", "points_problems", "total_points", "summary"]

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$", re.M)
_POINTS = re.compile(r"\((\d+)\s+points?\)")
_PART = re.compile(r"^Part\s+([A-Z])\b")
_ROW = re.compile(r"^\|\s*(?:\*\*)?([A-Z])\.[^|]*\|.*\|\s*(?:\*\*)?(\d+)(?:\*\*)?\s*\|\s*$", re.M)
_TOTAL_ROW = re.compile(r"^\|[^|\n]*\|\s*\*\*Total\*\*\s*\|\s*\*\*(\d+)\*\*\s*\|\s*$", re.M)


def _read(nb):
    return nbformat.read(nb, 4) if isinstance(nb, (str, Path)) else nb


def graded_cells(nb) -> list[tuple[int, str, float]]:
    """``(cell index, grade id, points)`` of every graded cell, in notebook order."""
    nb = _read(nb)
    out = []
    for i, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            out.append((i, meta.get("grade_id", f"cell {i}"), float(meta.get("points", 0))))
    return out


def total_points(nb) -> float:
    return sum(p for _, _, p in graded_cells(nb))


def _headings(nb) -> list[tuple[int, int, str]]:
    """``(cell index, level, text)`` of every markdown heading."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for m in _HEADING.finditer(cell.source):
                found.append((i, len(m.group(1)), m.group(2)))
    return found


def _covered(nb, index: int, level: int) -> float:
    """Points of the graded cells after heading cell ``index`` up to the next heading of level <= ``level``."""
    heads = _headings(nb)
    end = next((i for i, lvl, _ in heads if i > index and lvl <= level), len(nb.cells))
    return sum(p for i, _, p in graded_cells(nb) if index < i < end)


def points_by_part(nb) -> dict[str, float]:
    """``{"A": 15, ...}`` from the cells under each ``## Part X`` heading."""
    nb = _read(nb)
    return {m.group(1): _covered(nb, i, lvl) for i, lvl, text in _headings(nb) if (m := _PART.match(text))}


def points_problems(nb) -> list[str]:
    """Every heading, table row or intended total that disagrees with the cells' metadata."""
    nb = _read(nb)
    problems = []
    for i, level, text in _headings(nb):
        m = _POINTS.search(text)
        if m and _covered(nb, i, level) != float(m.group(1)):
            problems.append(f"heading '{text}' states {m.group(1)} points, its graded cells have "
                            f"{_covered(nb, i, level):g}")
    parts = points_by_part(nb)
    total = total_points(nb)
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for m in _ROW.finditer(cell.source):
            part, stated = m.group(1), float(m.group(2))
            if parts.get(part) != stated:
                problems.append(f"the points table says part {part} is worth {stated:g}, its cells have "
                                f"{parts.get(part, 0):g}")
        for m in _TOTAL_ROW.finditer(cell.source):
            if float(m.group(1)) != total:
                problems.append(f"the points table's total says {m.group(1)}, the cells add up to {total:g}")
    intended = nb.metadata.get("cnncourse", {}).get("total_points")
    if intended is not None and float(intended) != total:
        problems.append(f"the notebook's metadata intends {intended} points in all, the cells add up to {total:g}")
    return problems


def summary(nb) -> str:
    """``total 100 (A 15, B 35, ...)`` for ``make release``."""
    nb = _read(nb)
    parts = ", ".join(f"{k} {v:g}" for k, v in points_by_part(nb).items())
    return f"total {total_points(nb):g}" + (f" ({parts})" if parts else "")
