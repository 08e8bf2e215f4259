"""One student's grading as a pure function of data, and the pools that run many at once.

:func:`grade_submission` takes a :class:`GradingJob` (the bytes of the assignment's source, the
configuration, a gradebook holding only the assignment, that student's submitted files and the
grading key), builds a scratch course in a temporary folder, runs ``nbgrader autograde`` and
``generate_feedback`` there for that one student (hidden tests in the grader, student code in
its sandbox: see :mod:`cnncourse.course.trusted`), and returns a :class:`GradingResult`: the
scores per graded cell, the autograded notebook, the feedback HTML and the log, as data. Nothing
is shared between two jobs: no gradebook (sqlite is not safe for concurrent writers), no folder,
no TCP port (kernels talk over IPC sockets in their own scratch folder).

:func:`run_jobs` runs jobs on a thread pool on this machine (``workers``) or on a Dask
distributed cluster (``scheduler``: an address, or a ``distributed.Client``); results travel back
as data, not through a shared filesystem. The caller merges them into the course gradebook, one
result at a time (see :func:`cnncourse.course.autograde.autograde`).
"""

from __future__ import annotations

import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

__all__ = ["GradingJob", "GradingResult", "grade_submission", "run_jobs", "read_tree"]


def read_tree(folder: Path, prefix: str = "") -> dict[str, bytes]:
    """``{relative path: bytes}`` of every file under ``folder`` (symlinks are skipped)."""
    folder = Path(folder)
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts:
            out[prefix + str(path.relative_to(folder))] = path.read_bytes()
    return out


def _write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        target = (root / rel).resolve()
        if not target.is_relative_to(root.resolve()):
            raise ValueError(f"refusing to write {rel!r} outside the scratch course")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


@dataclass
class GradingJob:
    """Everything one student's grading needs, as data (picklable, for a Dask worker)."""

    assignment: str
    student: str
    course_files: dict[str, bytes]   # nbgrader_config.py, solutions/<assignment>/...
    gradebook: bytes                 # a gradebook.db that knows the assignment (and no student)
    submission: dict[str, bytes]     # the student's submitted folder, relative paths
    key: str                         # the secret grading key (see cnncourse.grading.seeds)
    cell_timeout: int = 60
    memory_mb: int = 3072
    sandbox: str = "auto"
    student_timeout: float = 1200.0
    feedback: bool = True            # render the feedback HTML after autograding


@dataclass
class GradingResult:
    """What grading one student produced, as data."""

    student: str
    error: str = ""
    scores: dict[str, tuple[float | None, float, bool]] = field(default_factory=dict)  # id -> (auto, max, manual?)
    autograded: dict[str, bytes] = field(default_factory=dict)             # files of autograded/<student>/
    feedback: dict[str, bytes] = field(default_factory=dict)               # files of feedback/<student>/
    log: str = ""
    seconds: float = 0.0


def _scores(course: Path, assignment: str, student: str) -> dict[str, tuple[float | None, float, bool]]:
    """``{grade id: (auto score or None, max score, needs manual grading)}`` from the scratch gradebook."""
    from cnncourse.course.autograde import _gradebook

    with _gradebook(course) as gb:
        submission = gb.find_submission(assignment, student)
        return {g.name: (None if g.auto_score is None else float(g.auto_score), float(g.max_score),
                         bool(g.needs_manual_grade)) for nb in submission.notebooks for g in nb.grades}


def grade_submission(job: GradingJob) -> GradingResult:
    """Grade one student in a scratch course of its own; return the result as data."""
    from cnncourse.course._nbgrader import kernel_env, run_grade_one
    from cnncourse.course.autograde import _precheck, _reason_from_log
    from cnncourse.course.kernel import GRADING_KERNEL, write_kernelspec
    from cnncourse.grading.seeds import GRADING_KEY_ENV

    start = time.monotonic()
    result = GradingResult(job.student)
    with tempfile.TemporaryDirectory(prefix="cnncourse-worker-") as tmp:
        course = Path(tmp) / "course"
        _write_tree(course, job.course_files)
        (course / "gradebook.db").write_bytes(job.gradebook)
        folder = course / "submitted" / job.student / job.assignment
        folder.mkdir(parents=True)
        _write_tree(folder, job.submission)
        jupyter_dir = Path(tmp) / "jupyter"
        write_kernelspec(jupyter_dir, memory_mb=job.memory_mb)
        env = kernel_env({"JUPYTER_PATH": str(jupyter_dir), GRADING_KEY_ENV: job.key})
        reason = _precheck(folder, job.assignment)
        if not reason:
            # autograde and feedback in one process (nbgrader imported once), both within the limit
            run = run_grade_one(job.assignment, job.student,
                                [f"--Execute.kernel_name={GRADING_KERNEL}", f"--Execute.timeout={job.cell_timeout}",
                                 f"--TrustedExecute.sandbox={job.sandbox}",
                                 f"--TrustedExecute.memory_mb={job.memory_mb}"]
                                + ([] if job.feedback else ["--no-feedback"]),
                                course, timeout=job.student_timeout, env=env)
            result.log = run.log
            # 2: the scores are written, only the feedback failed. A kill (None) is a failure even if
            # autograde had finished: the log also holds the kernel's output, so no line in it can
            # prove that (a student could print any marker)
            if run.returncode not in (0, 2):
                reason = _reason_from_log(run.log)
            else:
                result.scores = _scores(course, job.assignment, job.student)
                result.feedback = read_tree(course / "feedback" / job.student)
                if not run.ok:
                    result.log += "\n[cnncourse] the scores stand; the feedback could not be written\n"
        result.error = reason
        autograded = course / "autograded" / job.student
        if autograded.is_dir():
            result.autograded = read_tree(autograded)
    result.seconds = time.monotonic() - start
    return result


def run_jobs(jobs: list[GradingJob], *, workers: int | None = None, scheduler: Any = None,
             progress: bool = True) -> Iterator[GradingResult]:
    """Yield the results of ``jobs`` as they finish (a tqdm bar with ETA when ``progress``).

    Args:
        workers: threads on this machine (each one drives its own nbgrader process and kernel);
            default: the number of CPUs.
        scheduler: a Dask distributed scheduler address (``tcp://host:8786``) or ``Client``; the
            same :func:`grade_submission` then runs on the cluster's workers.
    """
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), unit="student", desc="grading", disable=not progress, smoothing=0.1)
    try:
        if scheduler is not None:
            from distributed import Client, as_completed as dask_completed

            client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
            try:
                futures = [client.submit(grade_submission, job, pure=False, key=f"grade-{job.student}-{i}")
                           for i, job in enumerate(jobs)]
                for future in dask_completed(futures):
                    bar.update()
                    yield future.result()
            finally:
                if client is not scheduler:
                    client.close()
            return
        n = max(1, int(workers or os.cpu_count() or 1))
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="grader") as pool:
            futures = [pool.submit(grade_submission, job) for job in jobs]
            for future in as_completed(futures):
                bar.update()
                yield future.result()
    finally:
        bar.close()
