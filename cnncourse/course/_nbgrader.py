"""Run one ``nbgrader`` command in a subprocess, with a wall-clock limit and a captured log.

``python -m cnncourse.course._nbgrader ARGS`` is ``python -m nbgrader ARGS`` without the 1.5 s of
CPU that loading an unused IRI grammar costs every nbgrader process (:func:`skip_iri_grammar`).

Every nbgrader step runs in its own process (cwd = the course directory, so that
``nbgrader_config.py`` there is read): a student's notebook that hangs the grader or crashes it
costs that one command, never the caller or the gradebook of the others.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NbgraderRun", "run_nbgrader", "run_grade_one", "kernel_env", "skip_iri_grammar"]


def skip_iri_grammar() -> None:
    """Keep ``jsonschema`` from loading ``rfc3987_syntax`` in this process.

    nbformat validates notebooks with jsonschema, whose format checker imports the optional
    ``rfc3987_syntax`` (installed through ``jupyter-events``' ``jsonschema[format-nongpl]``) and
    that package builds its IRI grammar at import: about 1.5 s of CPU, in every grading process,
    for the ``iri`` formats that the notebook schema never uses. Marking the module absent makes
    jsonschema skip those two format checks (it imports it under ``suppress(ImportError)``);
    every other validation is unchanged. Call before anything imports nbformat.
    """
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


@dataclass(frozen=True)
class NbgraderRun:
    """Outcome of one nbgrader command: exit code (None after a timeout) and its combined log."""

    args: tuple[str, ...]
    returncode: int | None
    log: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def kernel_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for nbgrader and its kernels: one BLAS thread, no GUI backend, fixed hash seed."""
    env = dict(os.environ)
    # nbgrader shells out to `alembic` (gradebook schema check): the venv's bin must be on PATH
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bindir] + [p for p in env.get("PATH", "").split(os.pathsep) if p != bindir])
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MPLBACKEND="Agg", PYTHONHASHSEED="0", PYTHONWARNINGS="ignore::DeprecationWarning")
    env.update(extra or {})
    return env


def run_nbgrader(args: list[str], course_dir: str | Path, *, timeout: float | None = None,
                 env: dict[str, str] | None = None, course_dir_flag: bool = True) -> NbgraderRun:
    """Run ``python -m nbgrader <args> --course-dir <course_dir>`` from inside ``course_dir``.

    ``course_dir_flag=False`` for the few commands without ``--course-dir`` (``export``).
    The command runs in its own process group; after ``timeout`` seconds the whole group
    (nbgrader and the kernel it started) is killed and ``returncode`` is None.
    """
    course_dir = Path(course_dir).resolve()
    cmd = [sys.executable, "-m", "cnncourse.course._nbgrader", *args] + ([f"--course-dir={course_dir}"] if course_dir_flag else [])
    return _run(cmd, tuple(args), course_dir, timeout, env)


def run_grade_one(assignment: str, student: str, overrides: list[str], course_dir: str | Path, *,
                  timeout: float | None = None, env: dict[str, str] | None = None) -> NbgraderRun:
    """``nbgrader autograde`` then ``generate_feedback`` for one student, in ONE process
    (:mod:`cnncourse.course._grade_one`: nbgrader is imported once); same limits as
    :func:`run_nbgrader`. Exit status 2: the scores were written but the feedback failed."""
    course_dir = Path(course_dir).resolve()
    args = (assignment, student, *overrides)
    cmd = [sys.executable, "-m", "cnncourse.course._grade_one", *args]
    return _run(cmd, args, course_dir, timeout, env)


def _run(cmd: list[str], args: tuple[str, ...], course_dir: Path, timeout: float | None,
         env: dict[str, str] | None) -> NbgraderRun:
    proc = subprocess.Popen(cmd, cwd=course_dir, env=env or kernel_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return NbgraderRun(args, proc.returncode, out)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return NbgraderRun(args, None, out + f"\n[killed after {timeout:.0f} s]\n")


if __name__ == "__main__":  # ``python -m nbgrader``, minus the IRI grammar
    skip_iri_grammar()
    from nbgrader.apps.nbgraderapp import main as _main

    sys.argv[0] = "nbgrader"
    _main()
