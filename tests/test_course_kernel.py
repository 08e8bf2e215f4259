"""The memory-limited grading kernel (cnncourse.course.kernel): is the limit really applied?"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap

import pytest

from cnncourse.course.kernel import GRADING_KERNEL, apply_memory_limit, write_kernelspec

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


def test_the_grading_kernel_applies_its_limit_to_notebook_code(tmp_path):
    """Started by jupyter_client from the written kernelspec (as nbgrader does), does code in the
    kernel see the limit and get MemoryError for a runaway allocation, and keep running after it?"""
    from jupyter_client.manager import start_new_kernel

    write_kernelspec(tmp_path, memory_mb=1536)
    env = {**os.environ, "JUPYTER_PATH": str(tmp_path), "OMP_NUM_THREADS": "1"}
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(tmp_path)  # the kernelspec lookup happens in this process
    try:
        km, kc = start_new_kernel(kernel_name=GRADING_KERNEL, startup_timeout=120, env=env)
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH")
        else:
            os.environ["JUPYTER_PATH"] = old
    try:
        outputs: list[str] = []

        def run(code: str) -> None:
            kc.execute_interactive(code, timeout=60, output_hook=lambda msg: outputs.append(
                json.dumps(msg["content"])) if msg["msg_type"] in ("stream", "error") else None)

        run("import resource; print('limit', resource.getrlimit(resource.RLIMIT_AS)[0])")
        run("import numpy as np; x = np.ones(10**9)")
        run("print('alive', np.ones(1000).sum())")
        text = "\n".join(outputs)
        assert f"limit {1536 * 1024 * 1024}" in text
        assert "MemoryError" in text
        assert "alive 1000.0" in text
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_this_process_is_not_limited_by_importing_the_module():
    """Importing the kernel module (as the autograder does) must not limit the caller itself."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    assert soft == resource.RLIM_INFINITY or soft > 16 << 30
