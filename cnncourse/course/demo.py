"""``demo``: the whole grading loop in a temporary course directory, in about a minute.

release -> seven submissions from the pipeline tests' fixtures (the full solution, the untouched
release, two plausible bugs, a student who monkeypatches ``numpy.allclose`` and one who installs an
IPython input transformer -- both reach only their own sandboxed kernel, the hidden tests run in
the grader; the tamper scan flags them -- and one whose kernel crashes half-way: the tests before
the crash keep their points) -> autograde, students in parallel with a progress bar -> table,
details, tamper flags, the summary and the path of the feedback HTML.
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
from cnncourse.course.submissions import Variant, apply_variant, load_variants, parse_variant, write_submission

__all__ = ["DEMO_STUDENTS", "demo_variants", "make_course", "demo"]

ASSIGNMENT = "a1_conv"

# demo students -> the fixture each one submits (the pipeline tests' fixtures, tests/fixtures/a1_conv/)
DEMO_STUDENTS = {
    "alice_solution": "solution",
    "bob_untouched": "untouched",
    "carol_off_by_one": "b01_output_size_off_by_one",
    "dan_ties": "b07_gradient_to_every_tied_max",
    "erin_patches_allclose": "f07_monkeypatch_allclose",
    "frank_crash": "f02_kernel_crash",
    "grace_input_transformer": "f13_input_transformer_blanks_tests",
}


def demo_variants(repo: str | Path) -> dict[str, Variant]:
    """The demo's submissions, read from the repository's fixture files (one place for each)."""
    folder = Path(repo) / "tests" / "fixtures" / ASSIGNMENT
    by_name = {v.name: v for v in load_variants(folder)}
    by_name["solution"] = parse_variant("solution", "# title: the full solution\n")
    by_name["untouched"] = parse_variant("untouched", "# title: submitted the release without answering\n# op: untouched\n")
    missing = [f for f in DEMO_STUDENTS.values() if f not in by_name]
    if missing:
        raise FileNotFoundError(f"the demo's fixtures {missing} are not in {folder} (run it from a clone of the repository)")
    return {student: by_name[fixture] for student, fixture in DEMO_STUDENTS.items()}


def make_course(repo: str | Path, course_dir: str | Path) -> Path:
    """Copy the course sources (config and solutions) into ``course_dir``; return it."""
    repo, course_dir = Path(repo), Path(course_dir)
    course_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(repo / "nbgrader_config.py", course_dir / "nbgrader_config.py")
    shutil.copytree(repo / "solutions", course_dir / "solutions", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return course_dir


def demo(repo: str | Path = ".", course_dir: str | Path | None = None, *,
         sandbox: str = "auto", workers: int | None = None,
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
    for student, variant in demo_variants(repo).items():
        write_submission(course, ASSIGNMENT, student, apply_variant(rel, sol, variant))
        say(f"   {student:24s} {variant.title}")
    say("3. autograde (one nbgrader process per student; hidden tests in the grader, student code in a "
        f"memory-limited kernel, sandbox: {sandbox}):")
    results = autograde(course, [ASSIGNMENT], cell_timeout=cell_timeout, sandbox=sandbox,
                        workers=workers, out=out)
    say(f"\nopen the feedback, e.g. {course / 'feedback' / 'carol_off_by_one' / ASSIGNMENT / (ASSIGNMENT + '.html')}")
    return results
