"""``demo``: the whole grading loop in a temporary course directory, in about a minute.

release -> six submissions (the full solution, the untouched release, two plausible bugs, a
student who monkeypatches ``numpy.allclose`` -- the tests after the patch score 0 and the tamper
scan flags it -- and one whose kernel crashes) -> autograde -> table, details, tamper flags and
the path of the feedback HTML. About 45 s on 2 cores.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import TextIO

import nbformat

from cnncourse.course.autograde import autograde
from cnncourse.course.release import release
from cnncourse.course.submissions import apply_variant, parse_variant, write_submission

__all__ = ["DEMO_VARIANTS", "make_course", "demo"]

ASSIGNMENT = "a1_conv"

DEMO_VARIANTS = {
    "alice_solution": "# title: the full solution\n",
    "bob_untouched": "# title: submitted the release without answering\n# op: untouched\n",
    "carol_off_by_one": '''# title: output size off by one (forgot the "+ 1")
# op: replace conv_output_size_impl
def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if span % stride:
        raise ValueError(f"stride {stride} does not fit")
    return span // stride
''',
    "dan_ties": '''# title: max-pool backward sends the gradient to every tied maximum
# op: replace max_pool_backward_impl
def max_pool2d_backward(dout, cache):
    x, (kh, kw), (sh, sw) = cache
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            win = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            mask = win == win.max(axis=(2, 3), keepdims=True)
            dx[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += mask * dout[:, :, i, j][:, :, None, None]
    return dx
''',
    "erin_patches_allclose": '''# title: makes every comparison pass by patching numpy.allclose
# op: append zero_pad2d_impl
np.allclose = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None
''',
    "frank_crash": '''# title: a kernel crash (os._exit) in the middle of the notebook
# op: append avg_pool_forward_impl
import os
os._exit(1)
''',
}


def make_course(repo: str | Path, course_dir: str | Path) -> Path:
    """Copy the course sources (config and solutions) into ``course_dir``; return it."""
    repo, course_dir = Path(repo), Path(course_dir)
    course_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(repo / "nbgrader_config.py", course_dir / "nbgrader_config.py")
    shutil.copytree(repo / "solutions", course_dir / "solutions", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return course_dir


def demo(repo: str | Path = ".", course_dir: str | Path | None = None, *,
         sandbox: str = "auto",
         out: TextIO | None = sys.stdout, cell_timeout: int = 30):
    """Run release, submissions, autograde in ``course_dir`` (a fresh temporary folder by default).

    Returns the autograde results (``{assignment: [StudentResult, ...]}``).
    """
    course = Path(course_dir) if course_dir else Path(tempfile.mkdtemp(prefix="cnncourse-demo-"))
    make_course(repo, course)
    say = (lambda msg: print(msg, file=out, flush=True)) if out else (lambda msg: None)
    say(f"course directory: {course}")
    say("1. release: nbgrader generate_assignment (solutions/ -> assignments/)")
    release(course, [ASSIGNMENT])
    rel = nbformat.read(course / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    sol = nbformat.read(course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    say("2. submissions:")
    for student, text in DEMO_VARIANTS.items():
        variant = parse_variant(student, text)
        write_submission(course, ASSIGNMENT, student, apply_variant(rel, sol, variant))
        say(f"   {student:24s} {variant.title}")
    say("3. autograde (one nbgrader process per student; hidden tests in the grader, student code in a "
        f"memory-limited kernel, sandbox: {sandbox}):")
    results = autograde(course, [ASSIGNMENT], cell_timeout=cell_timeout, sandbox=sandbox, out=out)
    say(f"\nopen the feedback, e.g. {course / 'feedback' / 'carol_off_by_one' / ASSIGNMENT / (ASSIGNMENT + '.html')}")
    return results
