"""The sandbox around a student's grading kernel (Linux, bubblewrap), and its process limit.

What the student's code sees when its kernel runs under :func:`bwrap_argv`:

- the system (``/usr``, ``/etc``) and the Python environment, read-only;
- its own scratch folder (a copy of its submission: the only writable place) and the kernel's
  IPC socket folder; a private ``/tmp``, ``/proc`` and ``/dev``; ``HOME`` is the scratch folder;
- no network (a new network namespace: only its own loopback), no other process (a new PID
  namespace), no course directory: no gradebook, no solutions or sources, no other student, no
  ``nbgrader_config.py``; an environment with nothing but a few fixed variables (no grading key);
- the modules an assignment hides (``torch`` for a numpy-only assignment, ``cnncourse``) replaced
  by a stub that raises ``ImportError`` with the reason; for the others the course library is
  importable read-only (datasets, plots; its references are refused during graded calls);
- the memory limit (``RLIMIT_AS``, set before the sandbox starts) and a process limit (a ``pids``
  cgroup when the grader runs as root, ``RLIMIT_NPROC`` otherwise); every process dies with the
  kernel (``--die-with-parent``).
"""

from __future__ import annotations

import importlib.util
import os
import resource
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

__all__ = ["bwrap_available", "bwrap_argv", "module_location", "apply_process_limit", "release_cgroup",
           "KERNEL_IN_SANDBOX", "MAX_PROCESSES"]

KERNEL_IN_SANDBOX = "/opt/cnncourse-kernel/kernel.py"
MAX_PROCESSES = 256
_CGROUP_ROOT = Path("/sys/fs/cgroup/pids")
_SAFE_ENV = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
             "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
             "PYTHONDONTWRITEBYTECODE": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}


def bwrap_available() -> str:
    """'' when ``bwrap`` is installed and can start a sandbox here, else the reason it cannot."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (`bwrap`) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    probe = subprocess.run([exe, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"bwrap cannot create a sandbox here: {probe.stderr.strip()[:300]}"
    return ""


def module_location(name: str) -> tuple[Path, bool] | None:
    """``(path, is_package)`` of an importable top-level module, found without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        locations = list(spec.submodule_search_locations)
        return (Path(locations[0]), True) if locations else None
    if spec.origin and spec.origin not in ("built-in", "frozen"):
        return Path(spec.origin), False
    return None


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    args += ["--ro-bind", "/etc", "/etc"]
    return args


def _python_binds() -> list[str]:
    """The interpreter's installation and the environment (venv), read-only, at their own paths."""
    paths: list[str] = []
    for prefix in (sys.prefix, sys.base_prefix):
        for path in (prefix, os.path.realpath(prefix)):
            if not path.startswith("/usr") and path not in paths:
                paths.append(path)
    outer = [p for p in sorted(paths, key=len)]
    keep: list[str] = []
    for path in outer:
        if not any(path.startswith(k + "/") for k in keep):
            keep.append(path)
    return [arg for path in keep for arg in ("--ro-bind", path, path)]


def bwrap_argv(*, work: Path, ipc: Path, connection_file: str, memory_mb: int, hide: dict[str, str],
               stub_dir: Path) -> list[str]:
    """The command that starts the grading kernel inside the sandbox.

    Args:
        work: the student's scratch folder (writable; the kernel's working directory).
        ipc: the folder of the kernel's connection file and IPC sockets (writable).
        connection_file: the kernel's connection file (inside ``ipc``).
        memory_mb: passed on to the kernel's own memory guard.
        hide: ``{module: reason}``: modules replaced by a stub that raises ``ImportError(reason)``.
        stub_dir: where the stubs are written (outside the sandbox, bound read-only).
    """
    exe = shutil.which("bwrap")
    if exe is None:
        raise FileNotFoundError("bwrap is not installed")
    kernel_py = Path(__file__).with_name("kernel.py")
    args = [exe, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv"]
    env = dict(_SAFE_ENV, HOME=str(work), MPLCONFIGDIR=str(work / ".config" / "matplotlib"),
               PATH=os.pathsep.join([os.path.dirname(sys.executable), "/usr/bin", "/bin"]))
    for key, value in env.items():
        args += ["--setenv", key, value]
    # the private /tmp first: a later bind under /tmp (a venv or a clone living there, the scratch
    # folder) must land on top of it, not be hidden by it
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    args += _system_binds() + _python_binds()
    args += ["--bind", str(work), str(work), "--bind", str(ipc), str(ipc)]
    args += ["--ro-bind", str(kernel_py), KERNEL_IN_SANDBOX]
    # the course library itself (public code: datasets, plots) for assignments that do not hide it;
    # an editable install points outside the environment, so its folder is bound read-only
    library = module_location("cnncourse")
    if "cnncourse" not in hide and library is not None and library[1]:
        folder = str(library[0].resolve())
        if not any(folder.startswith(p) for p in (sys.prefix, sys.base_prefix, "/usr")):
            args += ["--ro-bind", folder, folder]
    stub_dir.mkdir(parents=True, exist_ok=True)
    for module, reason in sorted(hide.items()):
        found = module_location(module)
        if found is None:
            continue
        path, is_package = found
        stub = stub_dir / f"{module}.py"
        stub.write_text(f"raise ImportError({reason!r})\n", encoding="utf-8")
        if is_package:
            args += ["--tmpfs", str(path), "--ro-bind", str(stub), str(path / "__init__.py")]
        else:
            args += ["--ro-bind", str(stub), str(path)]
    args += ["--chdir", str(work)]
    args += [sys.executable, KERNEL_IN_SANDBOX, "--inside", "--memory-mb", str(int(memory_mb)),
             "-f", connection_file]
    return args


def apply_process_limit(record: Path | None = None, limit: int = MAX_PROCESSES) -> str:
    """Limit the processes this process and its children may create; return how.

    As root, ``RLIMIT_NPROC`` does not apply, so a ``pids`` cgroup (v1) is made for this kernel
    (its path written to ``record`` for :func:`release_cgroup`). Otherwise ``RLIMIT_NPROC`` is set
    to the user's current process count plus ``limit``.
    """
    if os.geteuid() == 0 and _CGROUP_ROOT.is_dir():
        group = _CGROUP_ROOT / "cnncourse" / uuid.uuid4().hex[:12]
        try:
            group.mkdir(parents=True)
            (group / "pids.max").write_text(str(limit))
            (group / "cgroup.procs").write_text(str(os.getpid()))
            if record is not None:
                record.write_text(str(group))
            return f"pids cgroup {group} (max {limit})"
        except OSError as exc:
            return f"no process limit (the pids cgroup could not be set up: {exc})"
    if os.geteuid() != 0:
        uid, count = os.getuid(), 0
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    count += os.stat(f"/proc/{entry}").st_uid == uid
                except OSError:
                    pass
        resource.setrlimit(resource.RLIMIT_NPROC, (count + limit, count + limit))
        return f"RLIMIT_NPROC {count + limit}"
    return "no process limit (root without a pids cgroup)"


def release_cgroup(record: Path) -> None:
    """Remove the cgroup named in ``record`` (after its kernel exited); never raises."""
    try:
        group = Path(record.read_text().strip())
        if group.is_relative_to(_CGROUP_ROOT):
            for pid in (group / "cgroup.procs").read_text().split():
                try:
                    os.kill(int(pid), 9)
                except OSError:
                    pass
            group.rmdir()
    except (OSError, ValueError):
        pass
