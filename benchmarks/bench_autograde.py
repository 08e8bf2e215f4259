"""Autograde throughput (``make bench``): one batch of 24 a1_conv submissions graded end to end.

The batch mixes what a TA receives: correct notebooks, the pipeline tests' buggy fixtures, blank
releases and a kernel crash. Reported, all measured in this run: seconds per student and students
per minute with 1 worker and with 2 workers on this machine (and their ratio; target >= 1.7 on 2
cores), the same batch on a 2-worker Dask LocalCluster, and the per-student cost of the bubblewrap
sandbox (the same 4 correct students with ``--sandbox bwrap`` and ``--sandbox none``).

Set ``BENCH_AUTOGRADE_N`` to grade fewer students (e.g. 8 for a quick look).
"""

from __future__ import annotations

import _bench  # noqa: F401  (pins BLAS threads)

import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cnncourse.course.autograde import autograde  # noqa: E402
from cnncourse.course.bwrap import bwrap_available  # noqa: E402
from cnncourse.course.demo import make_course  # noqa: E402
from cnncourse.course.release import release  # noqa: E402
from cnncourse.course.submissions import apply_variant, load_variants, parse_variant, write_submission  # noqa: E402

A = "a1_conv"


def _course(root: Path, n: int, kinds=("solution", "bug", "untouched", "crash")) -> Path:
    course = make_course(ROOT, root / "course")
    release(course, [A])
    rel = nbformat.read(course / "assignments" / A / f"{A}.ipynb", as_version=4)
    sol = nbformat.read(course / "solutions" / A / f"{A}.ipynb", as_version=4)
    fixtures = {v.name: v for v in load_variants(ROOT / "tests" / "fixtures" / A)}
    bugs = [v for name, v in sorted(fixtures.items()) if name.startswith("b")]
    pool = {"solution": [parse_variant("solution", "")], "bug": bugs,
            "untouched": [parse_variant("untouched", "# op: untouched")], "crash": [fixtures["f02_kernel_crash"]]}
    for i in range(n):
        kind = kinds[i % len(kinds)]
        variant = pool[kind][i // len(kinds) % len(pool[kind])]
        write_submission(course, A, f"s{i:03d}_{kind}", apply_variant(rel, sol, variant))
    return course


def _grade(course: Path, **kw) -> float:
    shutil.rmtree(course / "autograded", ignore_errors=True)
    shutil.rmtree(course / "feedback", ignore_errors=True)
    t0 = time.perf_counter()
    autograde(course, [A], cell_timeout=30, out=io.StringIO(), progress=False, **kw)
    return time.perf_counter() - t0


def main() -> None:
    n = int(os.environ.get("BENCH_AUTOGRADE_N", "24"))
    with tempfile.TemporaryDirectory(prefix="bench-autograde-") as tmp:
        course = _course(Path(tmp), n)
        autograde(course, [A], cell_timeout=30, out=None, progress=False, workers=2)  # warm caches, record keys
        one = _grade(course, workers=1)
        two = _grade(course, workers=2)
        print(f"{'autograde ' + str(n) + ' a1 submissions':<44s} {'s/student':>10s} {'students/min':>13s}")
        print(f"{'  1 worker':<44s} {one / n:10.2f} {60 * n / one:13.1f}")
        print(f"{'  2 workers':<44s} {two / n:10.2f} {60 * n / two:13.1f}")
        print(f"{'  speed-up 2 workers / 1 worker (target >= 1.7)':<44s} {one / two:10.2f}")
        try:
            import distributed

            with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                          dashboard_address=None) as cluster, distributed.Client(cluster) as client:
                dask = _grade(course, scheduler=client)
            print(f"{'  Dask LocalCluster, 2 worker processes':<44s} {dask / n:10.2f} {60 * n / dask:13.1f}")
        except ImportError:
            print("  Dask: not installed (pip install distributed)")
    reason = bwrap_available()
    if reason:
        print(f"sandbox overhead: not measured ({reason})")
        return
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        m = 4
        course = _course(Path(tmp), m, kinds=("solution",))
        autograde(course, [A], cell_timeout=30, out=None, progress=False, workers=1)
        boxed = _grade(course, workers=1, sandbox="bwrap")
        bare = _grade(course, workers=1, sandbox="none")
        print(f"{'sandbox cost per student (bwrap - none), s':<44s} {(boxed - bare) / m:10.2f}"
              f"   (bwrap {boxed / m:.2f} s, none {bare / m:.2f} s per student)")


if __name__ == "__main__":
    main()
