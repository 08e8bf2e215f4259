"""``autograde``: grade every ``submitted/<student>/<assignment>/``: per-student workers, one writer.

Order of the steps (the order matters):

1. make sure the course gradebook knows the assignment, and build a *template* gradebook that
   knows only the assignment (every worker starts from a copy);
2. one :class:`~cnncourse.course.workers.GradingJob` per student: the assignment's source, the
   configuration, the template gradebook, that student's submitted files and its secret grading
   key (drawn once, kept in the gradebook: a regrade reproduces the same cases);
3. the jobs run in parallel (threads on this machine, or a Dask cluster), each in a scratch
   course of its own: ``nbgrader autograde`` with hidden tests in the grader and the student's
   code in a sandboxed kernel (:mod:`cnncourse.course.trusted`), then ``generate_feedback``
   (hidden tests shown by name and message only). A crash, a hang or a malformed notebook costs
   that student only: graded cells that completed keep their scores;
4. each result is merged into the course (autograded notebook, feedback, log, scores in the
   gradebook) by this process alone, as it arrives;
5. ``export`` (``grades.csv``), Gradescope ``results.json`` per student, and the report: scores
   from the gradebook, messages from the autograded notebooks, the tamper scan of the submission
   as received (the student's sandbox could never rewrite it).

When nbgrader fails on a student, the reason comes from that student's log: the cell comes from
the lines :class:`~cnncourse.course.preprocessors.LocatingExecute` logs, a memory blow-up from the
grading kernel's own stop message (:data:`~cnncourse.course.kernel.OUT_OF_MEMORY_MARK`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import TextIO

import nbformat

from cnncourse.course._nbgrader import kernel_env, run_nbgrader
from cnncourse.course.kernel import DEFAULT_MEMORY_MB, OUT_OF_MEMORY_MARK
from cnncourse.course.preprocessors import DIED_MARK, RUNNING_MARK
from cnncourse.course.release import generate_release, list_assignments
from cnncourse.grading.registry import flagged_names
from cnncourse.course.report import StudentResult, TestResult, cell_messages, format_details, format_table

__all__ = ["find_students", "autograde", "read_results", "grading_key", "write_gradescope", "DEFAULT_CELL_TIMEOUT"]

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
                for path in sorted(folder.glob("*.ipynb")):  # this assignment's references and shortcuts
                    res.flags += [str(f) for f in tamper_scan(path, references=flagged_names(assignment))
                                  if f.rule != "unreadable"]
            for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".ipynb"):
                res.flags.append(f"{path.relative_to(folder)}: [extra-file] the submission ships a file "
                                 "besides its notebook (it only ever reached the student's own kernel)")
            results.append(res)
    return results


def _template_gradebook(course_dir: Path, assignment: str) -> bytes:
    """A gradebook that knows ``assignment`` and no student: every worker starts from a copy."""
    from cnncourse.course.demo import make_course

    with tempfile.TemporaryDirectory(prefix="cnncourse-template-") as tmp:
        course = make_course(course_dir, Path(tmp) / "course")
        generate_release(course, assignment, Path(tmp) / "release")
        return (course / "gradebook.db").read_bytes()


_FEEDBACK_CSS = ("<style>/* cnncourse: messages wrap, nothing needs horizontal scrolling */\n"
                 "pre, .jp-OutputArea-output pre { white-space: pre-wrap; overflow-wrap: anywhere; }</style>\n")


_CDN_MATHJAX = re.compile(r'src="https?://[^"]*mathjax[^"]*"', re.I)
LOCAL_MATHJAX = "../../_mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe"


def _feedback_page(data: bytes) -> bytes:
    """Feedback HTML that works offline and wraps: MathJax from ``feedback/_mathjax`` (nbgrader's
    feedback template hard-codes a CDN) and the grader's message readable without scrolling."""
    text = _CDN_MATHJAX.sub(f'src="{LOCAL_MATHJAX}"', data.decode("utf-8", errors="replace"))
    if "</head>" in text and "cnncourse: messages wrap" not in text:
        text = text.replace("</head>", _FEEDBACK_CSS + "</head>", 1)
    return text.encode("utf-8")


def install_mathjax(feedback_dir: Path) -> Path | None:
    """Copy MathJax (jupyter-server-mathjax's files) to ``feedback/_mathjax`` for offline math."""
    try:
        import jupyter_server_mathjax
    except ImportError:
        return None
    target = Path(feedback_dir) / "_mathjax"
    if not (target / "MathJax.js").exists():
        source = Path(jupyter_server_mathjax.__file__).parent / "static"
        shutil.copytree(source, target, dirs_exist_ok=True)
    return target


def _merge(course_dir: Path, assignment: str, result) -> None:
    """Write one worker's result into the course: files, then the gradebook (the only writer)."""
    student = result.student
    for folder, files in ((course_dir / AUTOGRADED / student, result.autograded),
                          (course_dir / FEEDBACK / student, result.feedback)):
        target = folder / assignment
        if target.exists():
            shutil.rmtree(target)
        for rel, data in files.items():
            path = (folder / rel).resolve()
            if path.is_relative_to(folder.resolve()):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(_feedback_page(data) if path.suffix == ".html" else data)
    (course_dir / AUTOGRADED / student).mkdir(parents=True, exist_ok=True)
    (course_dir / AUTOGRADED / student / f"{assignment}.autograde.log").write_text(result.log)
    with _gradebook(course_dir) as gb, warnings.catch_warnings():
        # nbgrader's update_or_create_submission reads the new submission's relations before adding
        # it to the session (SQLAlchemy's "not in session" warning); it adds it right after, and the
        # pipeline tests check one gradebook row per graded cell: noise for a TA, silenced here only
        warnings.filterwarnings("ignore", message=r".*not in session.*", module=r"nbgrader\.api")
        gb.update_or_create_student(student)
        submission = gb.update_or_create_submission(assignment, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                # a TA's manual score is never touched by an autograde run (nor by a regrade)
                auto, _, manual = result.scores.get(grade.name, (None, 0.0, False))
                if result.error:
                    grade.auto_score, grade.needs_manual_grade = 0, False
                elif manual and auto is None:  # a written answer: waits for a TA
                    grade.auto_score, grade.needs_manual_grade = None, grade.manual_score is None
                else:
                    grade.auto_score, grade.needs_manual_grade = (auto or 0), manual and grade.manual_score is None
        gb.db.commit()


def autograde(course_dir: str | Path = ".", assignments: list[str] | None = None, *,
              cell_timeout: int = DEFAULT_CELL_TIMEOUT, memory_mb: int = DEFAULT_MEMORY_MB,
              student_timeout: float | None = None, feedback: bool = True, export: bool = True,
              sandbox: str = "auto", students: list[str] | None = None, new_keys: bool = False,
              workers: int | None = None, scheduler=None, progress: bool | None = None,
              out: TextIO | None = sys.stdout) -> dict[str, list[StudentResult]]:
    """Grade every submission of every assignment (all that have submissions by default).

    Each student is graded by :func:`~cnncourse.course.workers.grade_submission` in a scratch
    course of its own, ``workers`` at a time on this machine or on a Dask cluster
    (``scheduler``); results are merged into this course's gradebook one at a time.

    Args:
        course_dir: the course root (holds ``nbgrader_config.py``, ``solutions/``, ``submitted/``).
        assignments: names to grade; default: every assignment of ``solutions/``.
        cell_timeout: seconds per notebook cell (nbgrader ``Execute.timeout``).
        memory_mb: address-space limit of each grading kernel, MiB.
        student_timeout: wall-clock limit of one student's whole autograde (default: enough for
            every cell to time out once, capped at 20 minutes).
        feedback, export: keep the feedback HTML / write ``grades.csv``.
        sandbox: ``auto`` (bubblewrap when it works here, else none with a warning), ``bwrap``, ``none``.
        students: grade only these (``--student NAME``); default everyone with a submission.
        new_keys: draw new secret grading seeds instead of reusing the recorded ones.
        workers: parallel graders on this machine (default: the number of CPUs).
        scheduler: a Dask distributed scheduler address or ``Client`` (then ``workers`` is unused).
        progress: show a progress bar with ETA (default: when ``out`` is a terminal).
        out: where the table and details are printed (None: silent).

    Returns:
        ``{assignment: [StudentResult, ...]}``.
    """
    from cnncourse.course.workers import GradingJob, read_tree, run_jobs

    course_dir = Path(course_dir).resolve()
    names = assignments or list_assignments(course_dir)
    wanted = set(students or ())
    if sandbox not in ("auto", "bwrap", "none"):
        raise ValueError(f"`sandbox` expected 'auto', 'bwrap' or 'none', got {sandbox!r}")
    if progress is None:
        progress = bool(out is not None and getattr(out, "isatty", lambda: False)())
    from cnncourse.course.bwrap import bwrap_available

    reason = bwrap_available() if sandbox != "none" else "--sandbox none"
    if sandbox == "bwrap" and reason:
        raise RuntimeError(f"--sandbox bwrap was asked for, but {reason}")
    if out:
        print("student kernels: " + ("bubblewrap sandbox (own scratch folder only, no network, no course "
                                     "files, memory and process limits)" if not reason else
                                     f"NO sandbox ({reason}): student code can read the course directory"),
              file=out, flush=True)
    all_results: dict[str, list[StudentResult]] = {}
    started = time.monotonic()
    graded = failed = 0
    for assignment in names:
        chosen = [s for s in find_students(course_dir, assignment) if not wanted or s in wanted]
        if not chosen:
            if out:
                print(f"{assignment}: no submissions under {course_dir / SUBMITTED}/<student>/{assignment}/", file=out)
            all_results[assignment] = []
            continue
        _ensure_assignment_in_gradebook(course_dir, assignment)
        course_files = {"nbgrader_config.py": (course_dir / "nbgrader_config.py").read_bytes(),
                        **read_tree(course_dir / "solutions" / assignment, prefix=f"solutions/{assignment}/")}
        template = _template_gradebook(course_dir, assignment)
        limit = student_timeout or min(1200, 60 + 40 * cell_timeout)
        jobs = [GradingJob(assignment, student, course_files, template,
                           read_tree(course_dir / SUBMITTED / student / assignment),
                           grading_key(course_dir, assignment, student, new=new_keys),
                           cell_timeout=cell_timeout, memory_mb=memory_mb, sandbox=sandbox,
                           student_timeout=limit, feedback=feedback) for student in chosen]
        errors = {}
        for result in run_jobs(jobs, workers=workers, scheduler=scheduler, progress=progress):
            _merge(course_dir, assignment, result)
            graded += 1
            if result.error:
                errors[result.student] = result.error
                failed += 1
            if out and not progress:
                print(f"  graded {result.student}/{assignment} in {result.seconds:.0f} s"
                      + (f": ERROR {result.error}" if result.error else ""), file=out, flush=True)
        all_results[assignment] = read_results(course_dir, assignment, chosen, errors)
        if feedback:
            install_mathjax(course_dir / FEEDBACK)
        else:
            shutil.rmtree(course_dir / FEEDBACK, ignore_errors=True)
    env = kernel_env()
    if export:
        run = run_nbgrader(["export", "--to=grades.csv"], course_dir, env=env, timeout=600,
                           course_dir_flag=False)
        if not run.ok:
            raise RuntimeError(f"nbgrader export failed:\n{run.log}")
        write_gradescope(course_dir, all_results)
    elapsed = time.monotonic() - started
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
        flagged_total = sum(1 for results in all_results.values() for r in results if r.flags)
        rate = graded / elapsed * 60 if elapsed > 0 else 0.0
        print(f"\nsummary: {graded} graded, {failed} failed, {flagged_total} flagged, {elapsed:.0f} s, "
              f"{rate:.1f} students/minute", file=out)
        if export:
            print(f"grades: {course_dir / 'grades.csv'} (Gradescope: {course_dir / 'gradescope'}/<student>/results.json)",
                  file=out)
        if feedback:
            print(f"feedback: {course_dir / FEEDBACK}/<student>/<assignment>/*.html", file=out)
    return all_results


def write_gradescope(course_dir: Path, all_results: dict[str, list[StudentResult]]) -> list[Path]:
    """Per student, a Gradescope-compatible ``gradescope/<student>/results.json``.

    Format (Gradescope autograder specification): ``score``, ``max_score`` and one entry per test
    with ``name``, ``score``, ``max_score``, ``status`` (passed/failed), ``output`` (the grader's
    message, never the hidden test's code) and ``visibility``.
    """
    by_student: dict[str, list] = {}
    for results in all_results.values():
        for r in results:
            by_student.setdefault(r.student, []).append(r)
    written = []
    for student, results in sorted(by_student.items()):
        tests = [{"name": f"{r.assignment}: {t.grade_id}", "score": t.score, "max_score": t.max_score,
                  "status": "passed" if t.score >= t.max_score else "failed",
                  "output": t.message or ("passed" if t.score >= t.max_score else ""),
                  "visibility": "visible"} for r in results for t in r.tests]
        doc = {"score": sum(r.score for r in results), "max_score": sum(r.max_score for r in results),
               "output": "; ".join(f"{r.assignment}: {r.error}" for r in results if r.error),
               "visibility": "visible", "tests": tests}
        path = course_dir / "gradescope" / student / "results.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=1) + "\n")
        written.append(path)
    return written
