"""A memory-limited IPython kernel for autograding, and its kernelspec.

The autograder executes student notebooks in this kernel instead of the plain ``python3`` one:
the launcher lowers the address-space limit (``RLIMIT_AS``) of its own process and then starts
ipykernel, so a student allocation that runs away raises ``MemoryError`` inside the student's
cell (or kills only that kernel) instead of threatening the machine and the other students.

The kernelspec is written into a throw-away directory that the autograder puts on
``JUPYTER_PATH`` for the nbgrader process only; nothing is installed for the user.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path

__all__ = ["GRADING_KERNEL", "DEFAULT_MEMORY_MB", "apply_memory_limit", "write_kernelspec", "main"]

GRADING_KERNEL = "cnncourse-grading"
DEFAULT_MEMORY_MB = 3072  # a kernel with numpy + torch imported maps ~0.9 GB


def apply_memory_limit(memory_mb: int) -> None:
    """Limit this process's address space to ``memory_mb`` MiB (soft and hard limit)."""
    if memory_mb <= 0:
        raise ValueError(f"`memory_mb` expected a positive number of MiB, got {memory_mb}")
    limit = int(memory_mb) * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def write_kernelspec(jupyter_dir: str | Path, *, memory_mb: int = DEFAULT_MEMORY_MB,
                     python: str | None = None) -> Path:
    """Write the grading kernelspec under ``<jupyter_dir>/kernels/`` and return its folder.

    Put ``jupyter_dir`` on ``JUPYTER_PATH`` so that jupyter_client finds the kernel by
    :data:`GRADING_KERNEL`.
    """
    spec_dir = Path(jupyter_dir) / "kernels" / GRADING_KERNEL
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [python or sys.executable, "-m", "cnncourse.course.kernel",
                 "--memory-mb", str(int(memory_mb)), "-f", "{connection_file}"],
        "display_name": f"Python 3 (cnncourse grading, {int(memory_mb)} MiB)",
        "language": "python",
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1, sort_keys=True) + "\n")
    return spec_dir


def main(argv: list[str] | None = None) -> None:
    """Apply the memory limit, then hand the remaining arguments to ipykernel."""
    parser = argparse.ArgumentParser(prog="python -m cnncourse.course.kernel", add_help=False)
    parser.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB)
    args, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    apply_memory_limit(args.memory_mb)
    from ipykernel import kernelapp  # imported after the limit so it applies to everything

    kernelapp.launch_new_instance(argv=rest)


if __name__ == "__main__":
    main()
