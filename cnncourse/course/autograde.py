"""``autograde``: grade every ``submitted/<student>/<assignment>/`` with nbgrader, one student at a time.

Order of the steps (the order matters):

1. make sure the gradebook knows the assignment (``generate_assignment`` into a temporary folder
   if it does not), so hidden tests and graded cells can be restored from it;
2. write the memory-limited grading kernelspec into a temporary ``JUPYTER_PATH``;
3. for each student, one ``nbgrader autograde --student`` process with a wall-clock limit: a
   crash, a hang or a malformed notebook costs that student only; a failed student is recorded
   in the gradebook with 0 on every graded cell (so the gradebook and ``grades.csv`` stay
   complete) and the reason goes into the report;
4. ``generate_feedback`` (HTML per student) and ``export`` (``grades.csv``) once for everyone;
5. read scores back from the gradebook, failure messages from the autograded notebooks, and run
   the tamper scan on the submitted notebooks.

When nbgrader fails on a student, the reason comes from that student's log
(``autograded/<student>/<assignment>.autograde.log``): nbgrader deletes the partially executed
notebook of a dead kernel, so the cell is taken from the lines that
:class:`~cnncourse.course.preprocessors.LocatingExecute` logs (the cell the kernel died in, or the
last cell started before the per-student wall clock ran out), and a memory blow-up is recognised by
the grading kernel's own stop message (:data:`~cnncourse.course.kernel.OUT_OF_MEMORY_MARK`).
A dead kernel still costs every cell of that notebook (nbgrader's behaviour, kept: the cells that
had passed before the crash were graded in a kernel that then failed, so no partial credit).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TextIO

import nbformat

from cnncourse.course._nbgrader import kernel_env, run_nbgrader
from cnncourse.course.kernel import DEFAULT_MEMORY_MB, GRADING_KERNEL, OUT_OF_MEMORY_MARK, write_kernelspec
from cnncourse.course.preprocessors import DIED_MARK, RUNNING_MARK
from cnncourse.course.release import generate_release, list_assignments
from cnncourse.grading.seeds import GRADING_KEY_ENV
from cnncourse.course.report import StudentResult, TestResult, cell_messages, format_details, format_table

__all__ = ["find_students", "autograde", "read_results", "grading_key", "DEFAULT_CELL_TIMEOUT"]

DEFAULT_CELL_TIMEOUT = 60
SUBMITTED, AUTOGRADED, FEEDBACK = "submitted", "autograded", "feedback"


def _db_url(course_dir: Path) -> str:
    return f"sqlite:///{course_dir / 'gradebook.db'}"


def _gradebook(course_dir: Path):
    # nbgrader's Gradebook shells out to `alembic`; make the venv's copy findable in-process too.
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    from nbgrader.api import Gradebook

    return Gradebook(_db_url(course_dir), course_id="cnncourse")


def find_students(course_dir: str | Path, assignment: str) -> list[str]:
    """Students with a folder ``submitted/<student>/<assignment>/``, sorted."""
    root = Path(course_dir) / SUBMITTED
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / assignment).is_dir())


def _ensure_assignment_in_gradebook(course_dir: Path, assignment: str) -> None:
    from nbgrader.api import MissingEntry

    if (course_dir / "gradebook.db").exists():
        with _gradebook(course_dir) as gb:
            try:
                if gb.find_assignment(assignment).notebooks:
                    return
            except MissingEntry:
                pass
    with tempfile.TemporaryDirectory(prefix="cnncourse-gb-") as tmp:
        generate_release(course_dir, assignment, tmp)


def _precheck(folder: Path, assignment: str | None = None) -> str:
    """'' if the submission's notebook parses, else a clear reason.

    Only the assignment's notebook (``<assignment>.ipynb``) is graded; other notebooks in the
    folder (an empty ``Untitled.ipynb``) are ignored. When that name is missing but exactly one
    other notebook is there (``a1_conv (1).ipynb``, as a browser renames a second download), it
    is graded under the expected name.
    """
    assignment = assignment or folder.name
    expected = folder / f"{assignment}.ipynb"
    notebooks = sorted(p for p in folder.glob("*.ipynb") if p != expected)
    if not expected.exists():
        if len(notebooks) == 1:
            shutil.copyfile(notebooks[0], expected)
        elif not notebooks:
            return f"no notebook in the submission folder: expected {expected.name}"
        else:
            names = ", ".join(p.name for p in notebooks)
            return f"expected {expected.name}; found several other notebooks ({names}) and cannot tell which one to grade"
    nb = expected
    try:
        json.loads(nb.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        return f"{nb.name} is not valid notebook JSON (not UTF-8 text: {exc.reason})"
    except json.JSONDecodeError as exc:
        return f"{nb.name} is not valid notebook JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    try:
        nbformat.read(nb, as_version=4)
    except Exception as exc:  # nbformat validation and reader errors
        return f"{nb.name} could not be read as a notebook: {type(exc).__name__}: {str(exc)[:200]}"
    return ""


_ERROR_LINE = re.compile(r"^\s*(?:[\w.]+\.)?(\w*(?:Error|Exception|Exit|Died)\w*):?\s*(.*)$", re.M)


_OUT_OF_MEMORY = re.compile(r"Memory allocation .*failed|MemoryError|bad_alloc|Cannot allocate memory|"
                            r"out of memory", re.I)
_RUNNING = re.compile(re.escape(RUNNING_MARK) + r" (.+)$", re.M)
_DIED = re.compile(re.escape(DIED_MARK) + r" (.+)$", re.M)
_GUARD_STOP = re.compile(re.escape(OUT_OF_MEMORY_MARK) + r": (.+?)(?:, so no later cell.*)?$", re.M)


def _last(pattern: re.Pattern, log: str) -> str:
    found = pattern.findall(log)
    return found[-1].strip() if found else ""


def _reason_from_log(log: str) -> str:
    """Why nbgrader failed on one student, and in which cell, from its log.

    The cell comes from the lines :class:`~cnncourse.course.preprocessors.LocatingExecute` logs
    (the partially executed notebook is deleted by nbgrader when the kernel dies).
    """
    running = _last(_RUNNING, log)
    if "[killed after" in log:
        return ("grading took longer than the per-student limit and was stopped"
                + (f" while running {running}" if running else " before any cell ran"))
    if "DeadKernelError" in log or "Kernel died" in log:
        where = _last(_DIED, log) or running
        at = f" in {where}" if where else ""
        stop = _last(_GUARD_STOP, log)
        if stop:
            return (f"the kernel ran out of memory{at} and was stopped by the grading kernel's memory "
                    f"guard (a memory blow-up: {stop})")
        if _OUT_OF_MEMORY.search(log):
            return (f"the kernel died{at} after using up its memory limit (a memory blow-up: the "
                    "per-kernel limit stopped it before it could affect the machine)")
        return f"the kernel died{at} (e.g. os._exit, a segfault, or a crash in native code)"
    matches = [m for m in _ERROR_LINE.finditer(log) if m.group(1) != "NbGraderException"]
    if matches:
        m = matches[-1]
        return f"nbgrader could not grade it: {m.group(1)}: {m.group(2).strip()[:200]}"
    return "nbgrader could not grade it (see the log)"


def grading_key(course_dir: Path, assignment: str, student: str, *, new: bool = False) -> str:
    """The secret that seeds this student's hidden-test cases, kept in the gradebook.

    Drawn at the first grading and reused by every regrade (the same cases, so the same score for
    the same work) unless ``new``. It lives in a table of its own in ``gradebook.db``, which the
    student's sandbox cannot see.
    """
    import secrets
    import sqlite3

    with sqlite3.connect(course_dir / "gradebook.db") as db:
        db.execute("CREATE TABLE IF NOT EXISTS cnncourse_grading_key (assignment TEXT NOT NULL, "
                   "student TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (assignment, student))")
        row = db.execute("SELECT key FROM cnncourse_grading_key WHERE assignment=? AND student=?",
                         (assignment, student)).fetchone()
        if row and not new:
            return row[0]
        key = secrets.token_hex(16)
        db.execute("INSERT OR REPLACE INTO cnncourse_grading_key VALUES (?, ?, ?)", (assignment, student, key))
        return key


def _zero_failed(course_dir: Path, assignment: str, student: str) -> None:
    """Record a submission that could not be graded: every graded cell gets 0, nothing pending."""
    with _gradebook(course_dir) as gb:
        gb.update_or_create_student(student)
        submission = gb.update_or_create_submission(assignment, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                grade.auto_score = 0
                grade.manual_score = None
                grade.needs_manual_grade = False
        gb.db.commit()


def _grade_one(course_dir: Path, assignment: str, student: str, *, env: dict[str, str],
               cell_timeout: int, student_timeout: float, sandbox: str = "auto", new_key: bool = False) -> str:
    """Autograde one submission; return '' on success or the reason it failed."""
    reason = _precheck(course_dir / SUBMITTED / student / assignment, assignment)
    key = grading_key(course_dir, assignment, student, new=new_key)
    run = run_nbgrader(["autograde", assignment, f"--student={student}", "--force",
                        f"--Execute.kernel_name={GRADING_KERNEL}", f"--Execute.timeout={cell_timeout}",
                        f"--TrustedExecute.sandbox={sandbox}"],
                       course_dir, timeout=student_timeout, env={**env, GRADING_KEY_ENV: key})
    log_dir = course_dir / AUTOGRADED / student
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / f"{assignment}.autograde.log").write_text(run.log)
    if run.ok and not reason:
        return ""
    reason = reason or _reason_from_log(run.log)
    _zero_failed(course_dir, assignment, student)
    return reason


def read_results(course_dir: str | Path, assignment: str, students: list[str],
                 errors: dict[str, str] | None = None) -> list[StudentResult]:
    """Scores from the gradebook plus messages, tamper flags and feedback paths, per student."""
    course_dir = Path(course_dir).resolve()
    errors = errors or {}
    try:
        from cnncourse.grading import tamper_scan
    except ImportError:  # pragma: no cover - the toolkit ships with the package
        tamper_scan = None
    results = []
    with _gradebook(course_dir) as gb:
        order = {}
        for nb in gb.find_assignment(assignment).notebooks:
            for i, cell in enumerate(nb.source_cells):
                order[(nb.name, cell.name)] = i
        for student in students:
            res = StudentResult(student, assignment, error=errors.get(student, ""))
            submission = gb.find_submission(assignment, student)
            for nb in sorted(submission.notebooks, key=lambda n: n.name):
                graded = course_dir / AUTOGRADED / student / assignment / f"{nb.name}.ipynb"
                messages = cell_messages(graded) if graded.exists() and not res.error else {}
                grades = sorted(nb.grades, key=lambda g: order.get((nb.name, g.name), 0))
                for g in grades:
                    res.tests.append(TestResult(g.name, float(g.score or 0), float(g.max_score),
                                                messages.get(g.name, "")))
                html = course_dir / FEEDBACK / student / assignment / f"{nb.name}.html"
                res.feedback = html if html.exists() else None
            folder = course_dir / SUBMITTED / student / assignment
            if tamper_scan is not None:
                for path in sorted(folder.glob("*.ipynb")):
                    res.flags += [str(f) for f in tamper_scan(path) if f.rule != "unreadable"]
            for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".ipynb"):
                res.flags.append(f"{path.relative_to(folder)}: [extra-file] the submission ships a file "
                                 "besides its notebook (it only ever reached the student's own kernel)")
            results.append(res)
    return results


def autograde(course_dir: str | Path = ".", assignments: list[str] | None = None, *,
              cell_timeout: int = DEFAULT_CELL_TIMEOUT, memory_mb: int = DEFAULT_MEMORY_MB,
              student_timeout: float | None = None, feedback: bool = True, export: bool = True,
              sandbox: str = "auto", students: list[str] | None = None, new_keys: bool = False,
              out: TextIO | None = sys.stdout) -> dict[str, list[StudentResult]]:
    """Grade every submission of every assignment (all that have submissions by default).

    Args:
        course_dir: the course root (holds ``nbgrader_config.py``, ``solutions/``, ``submitted/``).
        assignments: names to grade; default: every assignment of ``solutions/``.
        cell_timeout: seconds per notebook cell (nbgrader ``Execute.timeout``).
        memory_mb: address-space limit of each grading kernel, MiB.
        student_timeout: wall-clock limit of one student's whole autograde (default: enough for
            every cell to time out once, capped at 20 minutes).
        feedback, export: also write feedback HTML and ``grades.csv``.
        sandbox: ``auto`` (bubblewrap when it works here, else none with a warning), ``bwrap``, ``none``.
        students: grade only these (``--student NAME``); default everyone with a submission.
        new_keys: draw new secret grading seeds instead of reusing the recorded ones.
        out: where the table and details are printed (None: silent).

    Returns:
        ``{assignment: [StudentResult, ...]}``.
    """
    course_dir = Path(course_dir).resolve()
    names = assignments or list_assignments(course_dir)
    wanted = set(students or ())
    if sandbox not in ("auto", "bwrap", "none"):
        raise ValueError(f"`sandbox` expected 'auto', 'bwrap' or 'none', got {sandbox!r}")
    all_results: dict[str, list[StudentResult]] = {}
    with tempfile.TemporaryDirectory(prefix="cnncourse-kernel-") as jupyter_dir:
        write_kernelspec(jupyter_dir, memory_mb=memory_mb)
        path = os.pathsep.join([jupyter_dir] + [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p])
        env = kernel_env({"JUPYTER_PATH": path})
        for assignment in names:
            students = [s for s in find_students(course_dir, assignment) if not wanted or s in wanted]
            if not students:
                if out:
                    print(f"{assignment}: no submissions under {course_dir / SUBMITTED}/<student>/{assignment}/", file=out)
                all_results[assignment] = []
                continue
            _ensure_assignment_in_gradebook(course_dir, assignment)
            limit = student_timeout or min(1200, 60 + 40 * cell_timeout)
            errors = {}
            for student in students:
                reason = _grade_one(course_dir, assignment, student, env=env, cell_timeout=cell_timeout,
                                    student_timeout=limit, sandbox=sandbox, new_key=new_keys)
                if reason:
                    errors[student] = reason
                if out:
                    print(f"  graded {student}/{assignment}" + (f": ERROR {reason}" if reason else ""), file=out, flush=True)
            if feedback:
                run = run_nbgrader(["generate_feedback", assignment, "--force"], course_dir, env=env, timeout=600)
                if not run.ok and out:
                    print(f"warning: generate_feedback reported errors:\n{run.log[-2000:]}", file=out)
            all_results[assignment] = read_results(course_dir, assignment, students, errors)
        if export:
            run = run_nbgrader(["export", "--to=grades.csv"], course_dir, env=env, timeout=600,
                               course_dir_flag=False)
            if not run.ok:
                raise RuntimeError(f"nbgrader export failed:\n{run.log}")
    if out:
        for assignment, results in all_results.items():
            if not results:
                continue
            print(f"\n== {assignment}: per-student, per-test scores\n{format_table(results)}", file=out)
            details = format_details(results)
            if details:
                print(f"\n== {assignment}: details\n{details}", file=out)
            flagged = [r.student for r in results if r.flags]
            if flagged:
                print(f"\n== {assignment}: flagged for a human by the tamper scan: {', '.join(flagged)}", file=out)
        if export:
            print(f"\ngrades: {course_dir / 'grades.csv'}", file=out)
        if feedback:
            print(f"feedback: {course_dir / FEEDBACK}/<student>/<assignment>/*.html", file=out)
    return all_results
