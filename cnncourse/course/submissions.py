"""Make student submissions from the release: filled-in, buggy and tampered notebooks.

Used by ``demo`` and by the pipeline tests. A *variant* is a short text in a patch format, so that
a buggy or tampered submission is stored as the few lines that differ from the solution::

    # title: output size off by one
    # expect-lose: test_conv_output_size :: off by one
    # expect-also-lose: test_grad_check
    # op: replace conv_output_size_impl
    def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
        return (size + 2 * padding - dilation * (kernel - 1)) // stride

Header lines (``# key: value``) carry metadata (the pipeline tests read ``expect-lose: <grade id>
:: <regex of the feedback message>``, ``expect-also-lose: <ids that may lose points too>``,
``expect-error: <regex>``, ``expect-flag: <regex>``); each ``# op: <name> [<grade_id>]`` line starts an
operation whose body is the text up to the next ``# op:``. Operations, applied in order to the
release notebook whose solution cells were first filled with the instructor's solution:

- ``replace <id>``: the solution cell's new source is the body;
- ``append <id>``: the body is appended to the solution cell;
- ``insert-after <id>``: a new plain code cell with the body after cell ``<id>``;
- ``delete <id>`` / ``duplicate <id>``: remove / repeat the cell with that grade id;
- ``edit <id>``: replace a (locked) test cell's source with the body;
- ``untouched``: do not fill in the solutions (the student submits the release as is);
- ``corrupt-json``: write the notebook as truncated, invalid JSON.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

__all__ = ["Variant", "parse_variant", "load_variants", "strip_solution_markers", "fill_solutions",
           "apply_variant", "write_submission"]

_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")


@dataclass
class Variant:
    """A named submission: operations to apply plus what the grader is expected to find."""

    name: str
    title: str = ""
    ops: list[tuple[str, str, str]] = field(default_factory=list)  # (op, grade_id, body)
    meta: dict[str, list[str]] = field(default_factory=dict)       # header lines, by key

    def expectations(self, key: str) -> list[tuple[str, str]]:
        """``(grade_id, regex)`` pairs of header lines such as ``expect-lose: id :: regex``."""
        out = []
        for value in self.meta.get(key, []):
            gid, _, rx = value.partition("::")
            out.append((gid.strip(), rx.strip()))
        return out


def parse_variant(name: str, text: str) -> Variant:
    """Parse the patch format described in the module docstring."""
    var = Variant(name)
    current: list | None = None
    for line in text.splitlines():
        m = re.match(r"^# op:\s*([\w-]+)\s*(\S*)\s*$", line)
        if m:
            current = [m.group(1), m.group(2), []]
            var.ops.append(current)  # type: ignore[arg-type]
            continue
        if current is None:
            h = re.match(r"^#\s*([\w-]+):\s*(.*)$", line)
            if h:
                var.meta.setdefault(h.group(1), []).append(h.group(2).strip())
            continue
        current[2].append(line)
    var.ops = [(op, gid, "\n".join(body).strip("\n")) for op, gid, body in var.ops]  # type: ignore[misc]
    var.title = (var.meta.get("title") or [name])[0]
    return var


def load_variants(folder: str | Path) -> list[Variant]:
    """Every ``*.py`` variant file of a folder, sorted by name."""
    return [parse_variant(p.stem, p.read_text()) for p in sorted(Path(folder).glob("*.py"))]


def strip_solution_markers(source: str) -> str:
    """The solution code as a student would have written it (no ``### BEGIN/END SOLUTION``)."""
    return "\n".join(line for line in source.splitlines() if not _MARKER.match(line))


def _index(nb: nbformat.NotebookNode, grade_id: str) -> int:
    for i, cell in enumerate(nb.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return i
    raise KeyError(f"no cell with grade_id {grade_id!r} in the notebook")


def fill_solutions(release_nb: nbformat.NotebookNode,
                   solution_nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The release notebook with every solution cell replaced by the instructor's code."""
    nb = copy.deepcopy(release_nb)
    answers = {c.metadata["nbgrader"]["grade_id"]: strip_solution_markers(c.source)
               for c in solution_nb.cells if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") in answers:
            cell.source = answers[meta["grade_id"]]
    return nb


def apply_variant(release_nb: nbformat.NotebookNode, solution_nb: nbformat.NotebookNode,
                  variant: Variant) -> nbformat.NotebookNode | str:
    """The submitted notebook of ``variant`` (a string when the variant corrupts the JSON)."""
    ops = [op for op, _, _ in variant.ops]
    nb = copy.deepcopy(release_nb) if "untouched" in ops else fill_solutions(release_nb, solution_nb)
    corrupt = False
    for op, gid, body in variant.ops:
        if op == "replace":
            nb.cells[_index(nb, gid)].source = body
        elif op == "append":
            cell = nb.cells[_index(nb, gid)]
            cell.source = cell.source.rstrip("\n") + "\n\n" + body
        elif op == "insert-after":
            new = nbformat.v4.new_code_cell(body)
            new.id = f"student-{len(nb.cells)}"
            nb.cells.insert(_index(nb, gid) + 1, new)
        elif op == "delete":
            del nb.cells[_index(nb, gid)]
        elif op == "duplicate":
            i = _index(nb, gid)
            dup = copy.deepcopy(nb.cells[i])
            dup.id = f"{dup.get('id', 'cell')}-copy"
            nb.cells.insert(i + 1, dup)
        elif op == "edit":
            nb.cells[_index(nb, gid)].source = body
        elif op == "corrupt-json":
            corrupt = True
        elif op != "untouched":
            raise ValueError(f"unknown operation {op!r} in variant {variant.name!r}")
    if corrupt:
        text = nbformat.writes(nb)
        return text[: len(text) // 2]  # a truncated upload: invalid JSON
    return nb


def write_submission(course_dir: str | Path, assignment: str, student: str,
                     notebook: nbformat.NotebookNode | str, *, filename: str | None = None) -> Path:
    """Write ``submitted/<student>/<assignment>/<assignment>.ipynb`` (nbgrader's layout)."""
    folder = Path(course_dir) / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (filename or f"{assignment}.ipynb")
    if isinstance(notebook, str):
        path.write_text(notebook)
    else:
        nbformat.write(notebook, path)
    return path
