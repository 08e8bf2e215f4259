"""The sandbox around a student's grading kernel (bubblewrap): what student code can and cannot see.

Each test runs a short Python program inside exactly the sandbox the grader builds for a kernel
(:func:`cnncourse.course.bwrap.bwrap_argv`, with the kernel replaced by ``python -c``). They skip,
with the reason, where bubblewrap is not installed or cannot create namespaces (CI installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from cnncourse.course.bwrap import KERNEL_IN_SANDBOX, bwrap_argv, bwrap_available, module_location
from cnncourse.grading.registry import hidden_modules

ROOT = Path(__file__).resolve().parents[1]
REASON = bwrap_available()
pytestmark = pytest.mark.skipif(bool(REASON), reason=f"no sandbox on this machine: {REASON}")


def _run(tmp_path: Path, code: str, *, hide=None, env=None) -> subprocess.CompletedProcess:
    work, ipc = tmp_path / "work", tmp_path / "ipc"
    work.mkdir(parents=True, exist_ok=True)
    ipc.mkdir(parents=True, exist_ok=True)
    argv = bwrap_argv(work=work, ipc=ipc, connection_file=str(ipc / "c.json"), memory_mb=2048,
                      hide=hide if hide is not None else hidden_modules("a1_conv"), stub_dir=tmp_path / "stubs")
    cut = len(argv) - 2 - argv[::-1].index(KERNEL_IN_SANDBOX)  # the python that would start the kernel
    argv = argv[:cut] + [sys.executable, "-c", code]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env or dict(os.environ))


def test_student_code_sees_only_its_scratch_folder(tmp_path):
    """Can the sandboxed code read the course (solutions, gradebook, config) or write outside its folder?"""
    code = (f"import os; print(os.path.exists({str(ROOT / 'solutions')!r}), "
            f"os.path.exists({str(ROOT / 'nbgrader_config.py')!r}), os.getcwd());"
            "open('mine.txt', 'w').write('ok');"
            "\ntry:\n    open('/usr/evil', 'w')\nexcept OSError as e:\n    print('ro', type(e).__name__)")
    done = _run(tmp_path, code)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split()
    assert lines[:2] == ["False", "False"] and lines[2] == str(tmp_path / "work")
    assert "ro" in done.stdout and (tmp_path / "work" / "mine.txt").read_text() == "ok"


def test_no_network_and_no_grading_key(tmp_path):
    """Is there no route out (not even to the host's loopback services) and no grader variable?"""
    code = ("import os, socket\nprint(sorted(k for k in os.environ if k.startswith('CNNCOURSE')))\n"
            "try:\n    socket.create_connection(('127.0.0.1', 22), timeout=2); print('connected')\n"
            "except OSError as e:\n    print('refused')\n"
            "try:\n    socket.getaddrinfo('pypi.org', 443); print('resolved')\nexcept OSError:\n    print('no dns')")
    done = _run(tmp_path, code, env={**os.environ, "CNNCOURSE_GRADING_KEY": "secret"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["[]", "refused", "no dns"]


def test_hidden_modules_are_absent_with_the_reason(tmp_path):
    """Is a module the assignment hides (torch, scipy, cnncourse for a1) unimportable, saying why?"""
    if module_location("torch") is None:
        pytest.skip("torch is not installed, nothing to hide")
    code = ("import numpy\ntry:\n    import torch\n    print('torch imported')\n"
            "except ImportError as e:\n    print('ImportError', e)\n"
            "try:\n    import cnncourse.layers\n    print('cnncourse imported')\nexcept ImportError as e:\n    print('no cnncourse')")
    done = _run(tmp_path, code)
    assert done.returncode == 0, done.stderr
    assert "ImportError `torch` is not available while grading" in done.stdout
    assert "no cnncourse" in done.stdout and "imported" not in done.stdout


def test_processes_die_with_the_sandbox(tmp_path):
    """Does a background process the student starts die when the sandbox's main process exits?"""
    marker = tmp_path / "work" / "alive"
    code = ("import subprocess, sys\n"
            "subprocess.Popen([sys.executable, '-c', 'import time\\nwhile True:\\n    open(\"alive\", \"w\").write(\"x\"); time.sleep(0.1)'])\n"
            "import time; time.sleep(0.5)")
    done = _run(tmp_path, code)
    assert done.returncode == 0, done.stderr
    import time

    marker.unlink(missing_ok=True)
    time.sleep(1.0)
    assert not marker.exists(), "a process outlived the sandbox"


def test_binds_under_tmp_come_after_the_private_tmp(tmp_path):
    """Is every folder bound under /tmp (the scratch folder, a venv in a clone under /tmp) mounted
    after the private /tmp, so that the tmpfs does not hide it?"""
    argv = bwrap_argv(work=tmp_path / "w", ipc=tmp_path / "i", connection_file="c.json", memory_mb=512,
                      hide={}, stub_dir=tmp_path / "s")
    tmpfs = argv.index("/tmp", argv.index("--tmpfs"))
    for i, arg in enumerate(argv):
        if arg in ("--bind", "--ro-bind") and argv[i + 2].startswith("/tmp"):
            assert i > tmpfs, argv[i:i + 3]


def test_a_python_under_tmp_runs_in_the_sandbox(tmp_path):
    """Does the sandbox start when the interpreter's environment lives under /tmp (as in a CI clone)?"""
    if not str(Path(sys.prefix)).startswith("/tmp"):
        venv = Path(tempfile.mkdtemp(prefix="cnncourse-venv-", dir="/tmp"))
        try:
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)],
                           check=True, capture_output=True, timeout=120)
            work, ipc = tmp_path / "work", tmp_path / "ipc"
            work.mkdir()
            ipc.mkdir()
            code = "import sys; print(sys.prefix)"
            argv = subprocess.run([str(venv / "bin" / "python"), "-c",
                                   "import sys, json, pathlib; from cnncourse.course.bwrap import bwrap_argv; "
                                   f"a = bwrap_argv(work=pathlib.Path({str(work)!r}), ipc=pathlib.Path({str(ipc)!r}), "
                                   "connection_file='c', memory_mb=512, hide={}, stub_dir=pathlib.Path("
                                   f"{str(tmp_path / 's')!r})); print(json.dumps(a))"],
                                  capture_output=True, text=True, timeout=120)
            assert argv.returncode == 0, argv.stderr
            import json

            args = json.loads(argv.stdout)
            cut = len(args) - 2 - args[::-1].index(KERNEL_IN_SANDBOX)
            done = subprocess.run(args[:cut] + [str(venv / "bin" / "python"), "-c", code],
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            assert done.stdout.strip() == str(venv)
        finally:
            shutil.rmtree(venv, ignore_errors=True)


def test_the_library_is_importable_where_the_assignment_does_not_hide_it(tmp_path):
    """Can a torch assignment's student code import the course library (datasets) read-only,
    while a1's cannot?"""
    code = "import cnncourse.data, cnncourse; print('ok', cnncourse.__file__)"
    shown = _run(tmp_path, code, hide={"torchvision": "no torchvision here"})
    assert shown.returncode == 0 and shown.stdout.startswith("ok"), shown.stderr
    code_write = f"open({str(ROOT / 'cnncourse' / 'evil.py')!r}, 'w')"
    denied = _run(tmp_path, code_write, hide={"torchvision": "no torchvision here"})
    assert denied.returncode != 0 and not (ROOT / "cnncourse" / "evil.py").exists()
    hidden = _run(tmp_path / "a1", code)
    assert hidden.returncode != 0 and ("ModuleNotFoundError" in hidden.stderr or "ImportError" in hidden.stderr)
