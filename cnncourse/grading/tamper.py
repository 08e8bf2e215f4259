"""Static tamper scan of a submission as received (its notebook and every other file), for a human to read.

:func:`tamper_scan` parses the student cells of a notebook (autograded-answer cells, i.e. nbgrader
``solution`` cells that are not ``grade`` cells, and cells the student added, which carry no
nbgrader metadata) and flags code that could corrupt grading: patching numpy/torch/cnncourse,
redefining the test helpers, importing or calling the references, leaving the process
(``os._exit``), touching ``sys.modules``, builtins, signals or profilers, or reading the solution
and gradebook files. It never runs the code. The findings are for a human: a flag is a reason to
look, not a verdict. :func:`render_findings` formats them for the autograde report.

IPython syntax (``%timeit``, ``!ls``) is turned into Python by IPython's own transformer first, so
magics are scanned (and flagged) rather than breaking the parse.
"""

from __future__ import annotations

import ast
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ._tamper_rules import DEFAULT_ALIASES, RULES, collect_bindings, scan_source_tree
from .registry import flagged_names

__all__ = ["Finding", "RULES", "DEFAULT_REFERENCES", "tamper_scan", "render_findings",
           "scan_submissions"]

# Without an assignment (a notebook scanned on its own): assignment a1's references and shortcuts. The
# autograder passes the graded assignment's own list (registry.flagged_names(assignment)).
DEFAULT_REFERENCES: tuple[str, ...] = ("cnncourse.layers", "cnncourse.arithmetic", "cnncourse.gradcheck",
                                       *flagged_names("a1_conv"))


@dataclass(frozen=True)
class Finding:
    """One suspicious spot: where it is, which rule, the code line, and why."""

    cell_index: int | None
    cell_id: str | None
    line: int | None
    rule: str
    snippet: str
    message: str

    def __str__(self) -> str:
        # cells are counted from 1 in reports, as in the autograde report's "cell 34/52"
        where = "notebook" if self.cell_index is None else (
            f"cell {self.cell_index + 1}" + (f" ({self.cell_id})" if self.cell_id else ""))
        line = f", line {self.line}" if self.line else ""
        return f"{where}{line}: [{self.rule}] {self.message}: {self.snippet}"


def _nbgrader(cell: Any) -> dict:
    return dict(cell.get("metadata", {}).get("nbgrader", {}) or {})


def _is_student_cell(cell: Any) -> bool:
    meta = _nbgrader(cell)
    if not meta:
        return True  # a cell the student added
    return bool(meta.get("solution")) and not meta.get("grade") and not meta.get("locked")


def _source(cell: Any) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _to_python(source: str) -> str:
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return source
    return TransformerManager().transform_cell(source)


def _load(notebook: Any) -> tuple[dict | None, str]:
    if isinstance(notebook, (str, os.PathLike)):
        try:
            return json.loads(Path(notebook).read_text(encoding="utf-8")), ""
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            return None, f"{type(exc).__name__}: {exc}"
    if isinstance(notebook, dict):
        return notebook, ""
    raise TypeError(f"`notebook` expected a path or a notebook dict, got {type(notebook).__name__}")


def tamper_scan(notebook: Any, *, references: Iterable[str] = DEFAULT_REFERENCES,
                helpers: Iterable[str] = (), all_cells: bool = False) -> list[Finding]:
    """Flag tampering in the student cells of ``notebook`` (a path or an nbformat notebook).

    Args:
        notebook: path to an ``.ipynb`` file, or a notebook (``nbformat.NotebookNode``/dict).
        references: dotted names (or module prefixes) whose import or use is flagged.
        helpers: extra names the tests rely on; the grading toolkit's public names and every
            name bound by a test/locked cell are always included.
        all_cells: scan every code cell, not only the student ones.

    Returns:
        Findings sorted by cell and line; an unreadable notebook gives one ``unreadable`` finding.
    """
    nb, error = _load(notebook)
    if nb is None or not isinstance(nb.get("cells"), list):
        return [Finding(None, None, None, "unreadable", str(notebook)[:80],
                        error or "not a notebook (no list of cells)")]
    from . import __all__ as grading_names

    refs = tuple(references)
    helper_names = set(helpers) | set(grading_names)
    aliases = dict(DEFAULT_ALIASES)
    parsed: list[tuple[int, Any, str, ast.AST | None, str]] = []
    for index, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") != "code":
            continue
        raw = _source(cell)
        python = _to_python(raw)
        try:
            tree: ast.AST | None = ast.parse(python)
        except SyntaxError as exc:
            tree, python = None, f"{exc.msg} (line {exc.lineno})"
        parsed.append((index, cell, raw, tree, python))
        if tree is not None:
            names = collect_bindings(tree, aliases)
            if not _is_student_cell(cell):
                helper_names |= names
    findings: list[Finding] = []
    for index, cell, raw, tree, python in parsed:
        if not (all_cells or _is_student_cell(cell)):
            continue
        cell_id = _nbgrader(cell).get("grade_id") or cell.get("id")
        lines = raw.splitlines()
        if tree is None:
            findings.append(Finding(index, cell_id, None, "syntax-error", lines[0][:80] if lines
                                    else "", f"{RULES['syntax-error']}: {python}"))
            continue
        for line, rule, detail in scan_source_tree(tree, dict(aliases), helper_names, refs):
            snippet = lines[line - 1].strip()[:100] if 0 < line <= len(lines) else ""
            findings.append(Finding(index, cell_id, line, rule, snippet, detail))
    return findings


def render_findings(findings: Iterable[Finding], *, title: str | None = None) -> str:
    """Plain-text report: one block per notebook, one line per finding, rule legend at the end."""
    findings = list(findings)
    head = [title] if title else []
    if not findings:
        return "\n".join(head + ["  no tampering found"])
    rows = [f"  {str(f)}" for f in findings]
    legend = [f"    {rule}: {RULES.get(rule, 'the notebook could not be read')}"
              for rule in sorted({f.rule for f in findings})]
    return "\n".join(head + rows + ["  rules:"] + legend)


def scan_submissions(submitted: str | os.PathLike, assignment: str | None = None,
                     **kwargs: Any) -> dict[str, list[Finding]]:
    """Scan ``submitted/<student>/<assignment>/*.ipynb``; return ``{"student/file": findings}``."""
    root = Path(submitted)
    pattern = f"*/{assignment or '*'}/*.ipynb"
    return {str(p.relative_to(root).parent.parent / p.name): tamper_scan(p, **kwargs)
            for p in sorted(root.glob(pattern)) if ".ipynb_checkpoints" not in p.parts}
