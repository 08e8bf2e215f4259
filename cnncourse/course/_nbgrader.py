"""Run one ``nbgrader`` command in a subprocess, with a wall-clock limit and a captured log.

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

__all__ = ["NbgraderRun", "run_nbgrader", "kernel_env"]


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
    cmd = [sys.executable, "-m", "nbgrader", *args] + ([f"--course-dir={course_dir}"] if course_dir_flag else [])
    proc = subprocess.Popen(cmd, cwd=course_dir, env=env or kernel_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return NbgraderRun(tuple(args), proc.returncode, out)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return NbgraderRun(tuple(args), None, out + f"\n[killed after {timeout:.0f} s]\n")
