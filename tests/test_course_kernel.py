"""The memory-limited grading kernel (cnncourse.course.kernel): is the limit really applied?"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import subprocess
import sys
import textwrap
import time

import pytest

from cnncourse.course.kernel import (GRADING_KERNEL, OUT_OF_MEMORY_EXIT, OUT_OF_MEMORY_MARK, MemoryGuard,
                                     apply_memory_limit, write_kernelspec)

_CHILD = textwrap.dedent("""
    import resource, sys
    from cnncourse.course.kernel import apply_memory_limit
    apply_memory_limit({mb})
    import numpy as np
    print("limit", resource.getrlimit(resource.RLIMIT_AS)[0])
    small = np.ones(10**6)            # 8 MB: fine under the limit
    try:
        big = np.ones(10**9)          # 8 GB: far above it
    except MemoryError as exc:
        print("MemoryError", exc)
    else:
        print("allocated", big.nbytes)
""")


def test_a_limited_process_gets_memory_error_for_a_big_allocation():
    """Does a process under the limit get MemoryError for 8 GB while small arrays still work?"""
    out = subprocess.run([sys.executable, "-c", _CHILD.format(mb=1024)], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    assert f"limit {1024 * 1024 * 1024}" in out.stdout
    assert "MemoryError" in out.stdout and "allocated" not in out.stdout


def test_limit_is_never_raised_above_an_existing_hard_limit():
    """Does a limit above the current hard limit keep the hard limit (setrlimit would fail)?"""
    code = ("import resource\nresource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
            "from cnncourse.course.kernel import apply_memory_limit\napply_memory_limit(8192)\n"
            "print(resource.getrlimit(resource.RLIMIT_AS))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"({2 << 30}, {2 << 30})"


@pytest.mark.parametrize("bad", [0, -5])
def test_non_positive_limit_is_refused(bad):
    with pytest.raises(ValueError, match="`memory_mb` expected a positive number of MiB"):
        apply_memory_limit(bad)


def test_kernelspec_runs_the_limited_launcher(tmp_path):
    """Does the kernelspec start this Python's cnncourse.course.kernel with the given limit?"""
    spec_dir = write_kernelspec(tmp_path, memory_mb=777)
    assert spec_dir == tmp_path / "kernels" / GRADING_KERNEL
    spec = json.loads((spec_dir / "kernel.json").read_text())
    assert spec["argv"][:5] == [sys.executable, "-m", "cnncourse.course.kernel", "--memory-mb", "777"]
    assert "{connection_file}" in spec["argv"] and spec["language"] == "python"


@contextlib.contextmanager
def _grading_kernel(tmp_path, memory_mb):
    """A grading kernel started by jupyter_client from the written kernelspec (as nbgrader does);
    yields ``(run, stderr_path, km)``; ``run(code)`` returns the stream and error outputs."""
    from jupyter_client.manager import start_new_kernel

    write_kernelspec(tmp_path, memory_mb=memory_mb)
    env = {**os.environ, "JUPYTER_PATH": str(tmp_path), "OMP_NUM_THREADS": "1"}
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(tmp_path)  # the kernelspec lookup happens in this process
    stderr_path = tmp_path / "kernel.stderr"
    try:
        with open(stderr_path, "w") as err:
            km, kc = start_new_kernel(kernel_name=GRADING_KERNEL, startup_timeout=120, env=env, stderr=err)
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH")
        else:
            os.environ["JUPYTER_PATH"] = old

    def run(code: str, timeout: float = 60, *, wait: bool = True) -> str:
        if not wait:  # the kernel is expected to exit before it replies
            kc.execute(code)
            return ""
        outputs: list[str] = []
        kc.execute_interactive(code, timeout=timeout, output_hook=lambda msg: outputs.append(
            json.dumps(msg["content"])) if msg["msg_type"] in ("stream", "error") else None)
        return "\n".join(outputs)

    try:
        yield run, stderr_path, km
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_the_grading_kernel_applies_its_limit_to_notebook_code(tmp_path):
    """Does code in the grading kernel see the limit and get MemoryError for a runaway allocation,
    and does the kernel keep running after it?"""
    with _grading_kernel(tmp_path, 1536) as (run, _, _):
        text = run("import resource; print('limit', resource.getrlimit(resource.RLIMIT_AS)[0])")
        text += run("import numpy as np; x = np.ones(10**9)")
        text += run("print('alive', np.ones(1000).sum())")
    assert f"limit {1536 * 1024 * 1024}" in text
    assert "MemoryError" in text
    assert "alive 1000.0" in text


_FREE = ("import numpy as np, os, resource\n"
         "used = int(open('/proc/self/statm').read().split()[0]) * os.sysconf('SC_PAGE_SIZE')\n"
         "free_before = resource.getrlimit(resource.RLIMIT_AS)[0] - used\n")
_LOCAL_HOARD = """
def grow():
    scratch = []
    while True:
        scratch.append(np.zeros(5 << 20))   # 40 MB per step, held by a local list only
grow()
"""


def test_memory_held_by_the_failed_call_is_released_and_grading_goes_on(tmp_path):
    """Unbounded allocation inside a function: MemoryError in that cell, then (because the guard
    drops the traceback's frames, which IPython would otherwise keep in sys.last_traceback) the
    memory is free again: a later cell can fill 60% of what was free before the hoard."""
    with _grading_kernel(tmp_path, 1536) as (run, _, km):
        text = run(_FREE)
        text += run(_LOCAL_HOARD)
        after = run("y = np.ones(int(0.6 * free_before) // 8); print('alive', y[:3].sum())")
        assert km.is_alive()
    assert "MemoryError" in text
    assert "alive 3.0" in after, after


def _wait_dead(km, seconds=30):
    deadline = time.monotonic() + seconds
    while km.is_alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    return not km.is_alive()


def test_a_global_hoard_stops_the_kernel_with_a_clear_message(tmp_path):
    """A global list that keeps every array until MemoryError: the memory stays held, so the
    kernel stops (deterministically, exit code OUT_OF_MEMORY_EXIT) and says why on stderr."""
    with _grading_kernel(tmp_path, 1536) as (run, stderr_path, km):
        run("import numpy as np")
        run("cache = []\nwhile True:\n    cache.append(np.zeros(5 << 20))", wait=False)
        assert _wait_dead(km)
        assert km.provisioner.process.wait(timeout=10) == OUT_OF_MEMORY_EXIT
    err = stderr_path.read_text()
    assert re.search(re.escape(OUT_OF_MEMORY_MARK) + r": after a MemoryError, the notebook's objects still "
                     r"hold \d+ MiB of the 1536 MiB per-kernel limit", err), err


def test_a_cell_that_leaves_too_little_memory_stops_the_kernel_after_it(tmp_path):
    """Code that catches its MemoryError (or just stops short) but keeps the memory: the check
    after every cell stops the kernel before the next cell runs."""
    code = _FREE + "hoard = np.zeros((free_before - (40 << 20)) // 8)\nprint('hoarded')"
    with _grading_kernel(tmp_path, 1536) as (run, stderr_path, km):
        run(code, wait=False)
        assert _wait_dead(km)
        assert km.provisioner.process.wait(timeout=10) == OUT_OF_MEMORY_EXIT
    assert f"{OUT_OF_MEMORY_MARK}: after a cell" in stderr_path.read_text()


def test_guard_reserve_is_mapped_address_space_that_free_does_not_count():
    """The reserve really occupies address space (released: VmSize drops by its size), and free()
    is the same whether it is mapped or not (it is the kernel's, not the notebook's)."""
    guard = MemoryGuard(1 << 40, reserve_mb=256)
    used_armed, free_armed = guard.used(), guard.free()
    guard.release()
    used_released, free_released = guard.used(), guard.free()
    guard.arm()
    assert abs((used_armed - used_released) - (256 << 20)) < (4 << 20)
    assert abs(free_armed - free_released) < (4 << 20)
    assert abs(guard.used() - used_armed) < (4 << 20)
    guard.release()


def test_this_process_is_not_limited_by_importing_the_module():
    """Importing the kernel module (as the autograder does) must not limit the caller itself."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    assert soft == resource.RLIM_INFINITY or soft > 16 << 30
