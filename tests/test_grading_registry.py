"""The registry of what students may not call (cnncourse.grading.registry): complete and enforced.

Every reference a hidden test imports must be registered for its assignment, and calling any
registered reference from a student function must be refused (so the test scores 0) and flagged
by the tamper scan — whether the hidden tests run in the grader (references absent or guarded in
the student's kernel) or the notebook runs in a plain kernel (the guard).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import nbformat
import pytest

from cnncourse.grading import ForbiddenCallError, call_student, tamper_scan
from cnncourse.grading.registry import ASSIGNMENTS, SHORTCUTS, flagged_names, hidden_modules, presets

ROOT = Path(__file__).resolve().parents[1]
NOT_REFERENCES = ("cnncourse.grading", "cnncourse.data", "cnncourse.course")  # the toolkit and datasets


def _hidden_imports(assignment: str) -> set[str]:
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    names = set()
    for cell in nb.cells:
        if "### BEGIN HIDDEN TESTS" not in cell.source:
            continue
        region = cell.source.split("### BEGIN HIDDEN TESTS", 1)[1].split("### END HIDDEN TESTS", 1)[0]
        for node in ast.walk(ast.parse(region)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cnncourse"):
                if not node.module.startswith(NOT_REFERENCES):
                    names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _resolve(name: str):
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


@pytest.mark.parametrize("assignment", sorted(ASSIGNMENTS))
def test_every_reference_a_hidden_test_imports_is_registered(assignment):
    """Is each library function a hidden test imports (to compute expected answers) registered as a
    reference of its assignment (by name or as the same object under another path)?"""
    if not (ROOT / "solutions" / assignment).is_dir():
        pytest.skip(f"{assignment} has a registry entry but no source notebook yet")
    registered = ASSIGNMENTS[assignment].references
    objects = {id(_resolve(n)) for n in registered}
    missing = [n for n in sorted(_hidden_imports(assignment))
               if n not in registered and id(_resolve(n)) not in objects]
    assert not missing, f"{assignment}: hidden tests import unregistered references {missing}"


def test_every_assignment_with_a_notebook_has_an_entry():
    """Does every assignment under solutions/ have a registry entry (its forbidden preset)?"""
    have = sorted(p.name for p in (ROOT / "solutions").iterdir() if any(p.glob("*.ipynb")))
    assert set(have) <= set(ASSIGNMENTS), sorted(set(have) - set(ASSIGNMENTS))


def test_presets_derive_from_the_registry():
    """Are the guard's presets the registry's families, all references, and one per assignment?"""
    p = presets()
    assert set(SHORTCUTS) <= set(p) and set(ASSIGNMENTS) <= set(p)
    for name, rules in ASSIGNMENTS.items():
        assert set(rules.references) <= set(p[name]) and set(rules.references) <= set(p["references"])
        for family in rules.shortcuts:
            assert set(SHORTCUTS[family]) <= set(p[name])


def _functions():
    for assignment, rules in sorted(ASSIGNMENTS.items()):
        for name in rules.references:
            obj = _resolve(name)
            if callable(obj) and not isinstance(obj, type):
                yield assignment, name


@pytest.mark.parametrize("assignment, name", list(_functions()), ids=lambda v: str(v))
def test_calling_a_registered_reference_is_refused_and_flagged(assignment, name):
    """Does a student function that calls a registered reference raise ForbiddenCallError under the
    assignment's preset (its test then scores 0), and does the tamper scan flag the call?"""
    module, _, attr = name.rpartition(".")
    fn = _resolve(name)

    import inspect

    params = [p for p in inspect.signature(fn).parameters.values() if p.default is p.empty]
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    keywords = [p.name for p in params if p.kind is p.KEYWORD_ONLY]

    def student(x):  # any values: the call is refused before the body runs
        return fn(*[x] * len(positional), **dict.fromkeys(keywords, x))

    with pytest.raises(ForbiddenCallError, match="not allowed"):
        call_student(student, None, forbidden=(assignment,), timeout=30)
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(f"from {module} import {attr}\n\ndef mine(x):\n    return {attr}(x)")
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": "mine_impl", "locked": False,
                                 "schema_version": 3, "solution": True}
    nb.cells = [cell]
    assert tamper_scan(nb, references=flagged_names(assignment)), f"the tamper scan does not flag a call of {name}"


def test_numpy_only_assignments_hide_torch_scipy_and_the_library():
    """Is the grading kernel of a1 without torch, scipy and cnncourse (forbidden means absent)?"""
    hidden = hidden_modules("a1_conv")
    assert {"torch", "scipy", "cnncourse"} <= set(hidden)
    assert all("not available" in reason for reason in hidden.values())
