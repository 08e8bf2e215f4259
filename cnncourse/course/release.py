"""``release``: build the student notebooks in ``assignments/`` from ``solutions/`` (nbgrader).

``nbgrader generate_assignment`` clears the solution regions and the hidden tests, locks the test
cells and records every graded cell in the gradebook. We then normalise the notebooks so that a
release is byte-for-byte reproducible: no outputs, no execution counts, stable JSON (running it
twice changes nothing, and a test compares the committed release with a fresh one).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import nbformat

from cnncourse.course._nbgrader import run_nbgrader

__all__ = ["list_assignments", "release", "normalize_notebook", "generate_release"]

SOURCE_DIR, RELEASE_DIR = "solutions", "assignments"


def list_assignments(course_dir: str | Path) -> list[str]:
    """Names of the assignments: folders of ``solutions/`` that hold a notebook."""
    src = Path(course_dir) / SOURCE_DIR
    return sorted(p.name for p in src.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def normalize_notebook(path: str | Path) -> None:
    """Rewrite a notebook without outputs or execution counts, in nbformat's stable JSON layout."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)  # timestamps written by some frontends
    nbformat.write(nb, path)


def generate_release(course_dir: str | Path, assignment: str, release_root: str | Path,
                     *, timeout: float = 300) -> Path:
    """Run ``nbgrader generate_assignment`` for one assignment into ``release_root``.

    Also (re)records the assignment's graded cells in ``course_dir``'s gradebook, which
    autograding needs. Returns the released assignment folder.
    """
    release_root = Path(release_root).resolve()
    run = run_nbgrader(["generate_assignment", assignment, "--force",
                        f"--CourseDirectory.release_directory={release_root}"],
                       course_dir, timeout=timeout)
    out = release_root / assignment
    if not run.ok or not out.is_dir():
        raise RuntimeError(f"nbgrader generate_assignment {assignment} failed:\n{run.log}")
    for nb in sorted(out.rglob("*.ipynb")):
        normalize_notebook(nb)
    return out


def release(course_dir: str | Path = ".", assignments: list[str] | None = None) -> list[Path]:
    """Regenerate ``assignments/<name>/`` for each assignment (all by default); return the folders.

    Each release is built in a temporary folder and then swapped in, so a failed build never
    leaves a half-written ``assignments/`` behind.
    """
    course_dir = Path(course_dir).resolve()
    names = assignments or list_assignments(course_dir)
    done = []
    for name in names:
        with tempfile.TemporaryDirectory(prefix="cnncourse-release-") as tmp:
            built = generate_release(course_dir, name, tmp)
            dest = course_dir / RELEASE_DIR / name
            if dest.exists():
                shutil.rmtree(dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(built, dest)
        done.append(dest)
    return done
