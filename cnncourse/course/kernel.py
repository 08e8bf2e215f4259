"""A memory-limited IPython kernel for autograding, and its kernelspec.

The autograder executes student notebooks in this kernel instead of the plain ``python3`` one:
the launcher lowers the address-space limit (``RLIMIT_AS``) of its own process and then starts
ipykernel, so a student allocation that runs away raises ``MemoryError`` inside the student's
cell instead of threatening the machine and the other students.

What happens then is made deterministic by a :class:`MemoryGuard` installed in the kernel:

- it keeps a small address-space *reserve* mapped (never touched, so it costs no RAM); a
  student's allocation therefore fails while the kernel can still free that reserve for itself;
- a ``MemoryError`` that escapes a cell goes to the guard's IPython handler: it frees the reserve,
  shows the traceback as usual, drops the frames of that traceback (so arrays held in local
  variables of the failed call are released) and measures what is left;
- if enough is free again (the memory was the failed call's own), the reserve is re-armed and
  grading goes on: that cell failed with ``MemoryError``, the others are graded;
- if the notebook's own objects still hold the memory (a global list that hoarded everything),
  no later cell could run reliably (any allocation, also inside the kernel's own machinery, could
  fail at random): the kernel writes a line starting with :data:`OUT_OF_MEMORY_MARK` to its
  stderr (which lands in nbgrader's log) and exits with :data:`OUT_OF_MEMORY_EXIT`. The same
  check runs after every cell, for code that caught its ``MemoryError`` and kept the hoard.

The kernelspec is written into a throw-away directory that the autograder puts on
``JUPYTER_PATH`` for the nbgrader process only; nothing is installed for the user.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import mmap
import os
import resource
import sys
from pathlib import Path

__all__ = ["GRADING_KERNEL", "DEFAULT_MEMORY_MB", "RESERVE_MB", "MIN_FREE_MB", "OUT_OF_MEMORY_MARK",
           "OUT_OF_MEMORY_EXIT", "MemoryGuard", "apply_memory_limit", "write_kernelspec", "main"]

GRADING_KERNEL = "cnncourse-grading"
DEFAULT_MEMORY_MB = 3072  # a kernel with numpy + torch imported maps ~0.9 GB
RESERVE_MB = 64           # address space the guard keeps back for the kernel itself
MIN_FREE_MB = 128         # less than this free after a cell (reserve aside): the kernel stops
OUT_OF_MEMORY_MARK = "cnncourse grading kernel: out of memory"
OUT_OF_MEMORY_EXIT = 86


def apply_memory_limit(memory_mb: int) -> None:
    """Limit this process's address space to ``memory_mb`` MiB (soft and hard limit)."""
    if memory_mb <= 0:
        raise ValueError(f"`memory_mb` expected a positive number of MiB, got {memory_mb}")
    limit = int(memory_mb) * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _tracebacks(exc: BaseException | None, seen: set[int] | None = None):
    """The traceback of ``exc`` and of the exceptions it was raised from / during."""
    seen = set() if seen is None else seen
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if exc.__traceback__ is not None:
            yield exc.__traceback__
        if exc.__cause__ is not None:
            yield from _tracebacks(exc.__cause__, seen)
        exc = exc.__context__


def _drop_frames(tracebacks) -> None:
    """Release the local variables of the finished frames of ``tracebacks``.

    ``frame.clear()`` alone is not enough: formatting the traceback read ``frame.f_locals``,
    whose snapshot dict stays cached on a function frame and keeps every local alive, so it is
    emptied first. Frames still on the call stack (IPython's own) are left alone.
    """
    live, f = set(), sys._getframe()
    while f is not None:
        live.add(id(f))
        f = f.f_back
    for tb in tracebacks:
        while tb is not None:
            frame = tb.tb_frame
            if id(frame) not in live:
                if frame.f_code.co_flags & inspect.CO_OPTIMIZED:  # a function: f_locals is a snapshot
                    frame.f_locals.clear()
                try:
                    frame.clear()
                except RuntimeError:  # still executing (another thread)
                    pass
            tb = tb.tb_next


class MemoryGuard:
    """Keeps the kernel able to act when student code exhausts its address-space limit.

    Args:
        limit: the process's address-space limit in bytes (``RLIMIT_AS``).
        reserve_mb: address space kept mapped (untouched) and freed when memory runs out.
        min_free_mb: below this much free address space after a cell (reserve not counted),
            the notebook is considered to hold the memory and the kernel stops.
        report_fd: file descriptor the stop message is written to (the kernel's original
            stderr, saved before ipykernel redirects it).
    """

    def __init__(self, limit: int, *, reserve_mb: int = RESERVE_MB, min_free_mb: int = MIN_FREE_MB,
                 report_fd: int = 2) -> None:
        self.limit = int(limit)
        self.reserve_size = int(reserve_mb) << 20
        self.min_free = int(min_free_mb) << 20
        self.report_fd = report_fd
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._statm = os.open("/proc/self/statm", os.O_RDONLY)
        self._reserve: mmap.mmap | None = None
        self.arm()

    def arm(self) -> None:
        """Map the reserve (if it is not mapped and there is room for it)."""
        if self._reserve is None:
            try:
                self._reserve = mmap.mmap(-1, self.reserve_size)
            except (OSError, MemoryError):
                self._reserve = None

    def release(self) -> None:
        """Unmap the reserve, giving its address space back to the process."""
        if self._reserve is not None:
            self._reserve.close()
            self._reserve = None

    def used(self) -> int:
        """Address space mapped by this process now (``VmSize``, what ``RLIMIT_AS`` counts), bytes."""
        return int(os.pread(self._statm, 64, 0).split()[0]) * self._page

    def free(self) -> int:
        """Free address space, not counting the reserve, bytes."""
        unmapped_reserve = 0 if self._reserve is not None else self.reserve_size
        return self.limit - self.used() - unmapped_reserve

    def check(self, context: str) -> None:
        """Stop the process with a clear report if the memory is still exhausted after ``context``."""
        if self.free() >= self.min_free:
            return
        self.release()
        gc.collect()
        if self.free() >= self.min_free:
            self.arm()
            return
        used = self.used()
        message = (f"{OUT_OF_MEMORY_MARK}: {context}, the notebook's objects still hold {used >> 20} MiB "
                   f"of the {self.limit >> 20} MiB per-kernel limit (less than {self.min_free >> 20} MiB "
                   "free), so no later cell could run reliably; the kernel stops here\n")
        os.write(self.report_fd, message.encode())
        os._exit(OUT_OF_MEMORY_EXIT)

    def on_memory_error(self, shell, etype, value, tb, tb_offset=None):
        """IPython custom exception handler for ``MemoryError`` (see ``set_custom_exc``)."""
        self.release()  # room to format the traceback, whatever the student left
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset, running_compiled_code=True)
        _drop_frames([tb, *_tracebacks(value)])  # release the failed call's local variables
        self.check("after a MemoryError")
        self.arm()
        return None

    def install(self, shell) -> None:
        """Handle ``MemoryError`` in ``shell`` and check the free memory after every cell."""
        shell.set_custom_exc((MemoryError,), self.on_memory_error)
        shell.events.register("post_run_cell", lambda result: self.check("after a cell"))


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
        "interrupt_mode": "message",  # signals cannot reach a kernel inside the sandbox's PID namespace
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1, sort_keys=True) + "\n")
    return spec_dir


def _launch_sandboxed(memory_mb: int, rest: list[str]) -> None:
    """Outside the sandbox: limits, then exec bwrap, which starts this file inside it (``--inside``).

    The sandbox's folders and the modules to hide come from the environment the grader set for
    this kernel (``CNNCOURSE_WORK``, ``CNNCOURSE_IPC``, ``CNNCOURSE_HIDE``); see
    :mod:`cnncourse.course.bwrap`.
    """
    from cnncourse.course.bwrap import apply_process_limit, bwrap_argv

    conn = rest[rest.index("-f") + 1] if "-f" in rest else ""
    work, ipc = Path(os.environ["CNNCOURSE_WORK"]), Path(os.environ["CNNCOURSE_IPC"])
    hide = json.loads(os.environ.get("CNNCOURSE_HIDE", "{}"))
    apply_memory_limit(memory_mb)
    how = apply_process_limit(ipc / "cgroup")
    argv = bwrap_argv(work=work, ipc=ipc, connection_file=conn, memory_mb=memory_mb, hide=hide,
                      stub_dir=ipc.parent / "stubs")
    (ipc / "sandbox.txt").write_text(f"{how}\n{' '.join(argv)}\n")
    os.execv(argv[0], argv)


def main(argv: list[str] | None = None) -> None:
    """Apply the memory limit, start ipykernel with a :class:`MemoryGuard` installed.

    With ``CNNCOURSE_SANDBOX=bwrap`` in the environment (set by the grader), the kernel is started
    inside the sandbox instead (:func:`_launch_sandboxed`); ``--inside`` marks that second start.
    Outside a sandbox, the grader's own variables are removed from the kernel's environment.
    """
    parser = argparse.ArgumentParser(prog="python -m cnncourse.course.kernel", add_help=False)
    parser.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB)
    parser.add_argument("--inside", action="store_true")
    args, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if not args.inside and os.environ.get("CNNCOURSE_SANDBOX") == "bwrap":
        _launch_sandboxed(args.memory_mb, rest)
    for key in [k for k in os.environ if k.startswith("CNNCOURSE_")]:
        del os.environ[key]  # the grading key and the sandbox settings never reach student code
    apply_memory_limit(args.memory_mb)
    report_fd = os.dup(2)  # ipykernel redirects fd 2 into the notebook; keep the real stderr
    from ipykernel.kernelapp import IPKernelApp  # imported after the limit so it applies to everything

    app = IPKernelApp.instance()
    app.initialize(rest)
    MemoryGuard(resource.getrlimit(resource.RLIMIT_AS)[0], report_fd=report_fd).install(app.shell)
    app.start()


if __name__ == "__main__":
    main()
