"""Shared scaffolding of the assignment pipeline tests (``tests/test_course_autograde*.py``).

Each of those modules grades ALL its submissions (the solution, the untouched release, every
fixture of ``tests/fixtures/<assignment>/`` in the patch format of
:mod:`cnncourse.course.submissions`, plus any extra ones the module writes) in ONE ``autograde``
call, then asks one question per test of that run. What is common lives here:

- :class:`Pipeline`: the assignment, its fixtures, its hand-graded cells and points (read from the
  notebook, never hard-coded), the one grading run, shared between xdist workers;
- the checks every assignment makes: the solution keeps every autograded point without a flag, the
  release as handed out gets 0, each bug loses exactly what its ``expect-lose`` /
  ``expect-also-lose`` lines say with a message matching the expectation, each shortcut is flagged.
"""

from __future__ import annotations

import fcntl
import io
import pickle
import re
from pathlib import Path
from typing import Callable

import nbformat

from cnncourse.course.autograde import autograde
from cnncourse.course.demo import make_course
from cnncourse.course.points import graded_cells
from cnncourse.course.release import release
from cnncourse.course.submissions import apply_variant, load_variants, parse_variant, write_submission

ROOT = Path(__file__).resolve().parents[1]

# extra submissions a module writes beside the fixtures: f(course, release nb, solution nb)
Extra = Callable[[Path, nbformat.NotebookNode, nbformat.NotebookNode], None]


class Pipeline:
    """One assignment graded end to end; see the module docstring.

    Args:
        assignment: e.g. ``"a6_segmentation"``.
        autograde_kwargs: passed to :func:`cnncourse.course.autograde.autograde` (cell_timeout,
            memory_mb, workers ...).
        extra: writes additional submissions into the course before the run (optional).
        before: called with the course after release, before any submission (e.g. to snapshot it).
    """

    def __init__(self, assignment: str, *, extra: Extra | None = None,
                 before: Callable[[Path], None] | None = None, **autograde_kwargs):
        self.assignment = assignment
        self.solution = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
        self.variants = load_variants(ROOT / "tests" / "fixtures" / assignment)
        self.extra, self.before, self.kwargs = extra, before, autograde_kwargs
        nb = nbformat.read(self.solution, as_version=4)
        self.cells = graded_cells(nb)
        self.manual = {gid for i, gid, _ in self.cells if nb.cells[i].cell_type == "markdown"}
        self.total = sum(p for _, _, p in self.cells)
        self.auto_points = sum(p for _, gid, p in self.cells if gid not in self.manual)

    # ------------------------------------------------------------------ fixtures by name
    def with_meta(self, key: str, *, prefix: str = "") -> list:
        """The fixtures whose header has an ``expect-...`` line ``key`` (and whose name starts with prefix)."""
        return [v for v in self.variants if v.meta.get(key) and v.name.startswith(prefix)]

    # ------------------------------------------------------------------ the one grading run
    def grade_all(self, course: Path) -> tuple[dict, str]:
        """Release, write every submission, autograde once; (results by student, printed report)."""
        a = self.assignment
        make_course(ROOT, course)
        release(course, [a])
        if self.before:
            self.before(course)
        rel = nbformat.read(course / "assignments" / a / f"{a}.ipynb", as_version=4)
        sol = nbformat.read(course / "solutions" / a / f"{a}.ipynb", as_version=4)
        for v in [parse_variant("solution", ""), parse_variant("untouched", "# op: untouched")] + self.variants:
            write_submission(course, a, v.name, apply_variant(rel, sol, v))
        if self.extra:
            self.extra(course, rel, sol)
        printed = io.StringIO()
        results = autograde(course, [a], out=printed, **self.kwargs)
        return {r.student: r for r in results[a]}, printed.getvalue()

    def shared(self, tmp_path_factory, worker_id) -> tuple[Path, dict, str]:
        """(course_dir, results by student, printed report) of ONE grading run per pytest run.

        ``--dist loadgroup`` keeps a module on one worker, but grouping has silently broken before
        (pytest 9.2, pytest-xdist#1386) and ``-n`` without ``--dist loadgroup`` ignores it, so the run
        is shared safely anyway: the first worker grades under a file lock in the run's common
        temporary folder and pickles the results, another waits and reads them (the recipe of the
        pytest-xdist docs, with ``fcntl`` instead of ``filelock``).
        """
        if worker_id == "master":
            course = tmp_path_factory.mktemp(f"course_{self.assignment}")
            return (course, *self.grade_all(course))
        shared = tmp_path_factory.getbasetemp().parent / f"{self.assignment}_autograde"
        shared.mkdir(exist_ok=True)
        with open(shared / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            done = shared / "results.pickle"
            if not done.exists():
                done.write_bytes(pickle.dumps(self.grade_all(shared / "course")))
            results = pickle.loads(done.read_bytes())
        return (shared / "course", *results)

    def printed_by(self, course: Path, student: str, pattern: str) -> list[str]:
        """Every match of ``pattern`` (its first group) in the stream outputs of the student's
        autograded notebook: what the student's cells and the grader's tests printed."""
        a = self.assignment
        nb = nbformat.read(course / "autograded" / student / a / f"{a}.ipynb", as_version=4)
        text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
        return re.findall(pattern, text)

    # ------------------------------------------------------------------ the common checks
    def check_fixture_headers(self, *, min_bugs: int = 12) -> None:
        """At least ``min_bugs`` buggy fixtures (names b...), each with a title and a test it must lose."""
        bugs = [v for v in self.variants if v.name.startswith("b")]
        assert len(bugs) >= min_bugs, f"{self.assignment}: {len(bugs)} buggy fixtures, expected >= {min_bugs}"
        missing = [v.name for v in bugs if not (v.title and v.expectations("expect-lose"))]
        assert not missing, f"fixtures without a title or an expect-lose line: {missing}"

    def check_solution(self, res: dict) -> None:
        """The solution: no error, one test per graded cell, every autograded point, the written
        answers left at 0 for a TA, and no tamper flag (the scan flags the assignment's own list)."""
        sol = res["solution"]
        assert not sol.error, sol.error
        assert len(sol.tests) == len(self.cells)
        assert sol.max_score == self.total
        lost = [(t.grade_id, t.score, t.message) for t in sol.tests
                if t.grade_id not in self.manual and t.score < t.max_score]
        assert not lost, lost
        assert sol.score == self.auto_points
        assert all(t.score == 0 for t in sol.tests if t.grade_id in self.manual)
        assert not sol.flags, sol.flags

    def check_untouched(self, res: dict, message: str = "NotImplementedError") -> None:
        """The release as handed out: no error, 0 on every graded cell, each autograded test's
        message matching ``message`` (what is missing)."""
        blank = res["untouched"]
        assert not blank.error, blank.error
        assert len(blank.tests) == len(self.cells)
        assert all(t.score == 0 for t in blank.tests), [(t.grade_id, t.score) for t in blank.tests]
        auto = [t for t in blank.tests if t.grade_id not in self.manual]
        assert all(re.search(message, t.message) for t in auto), [(t.grade_id, t.message) for t in auto]

    def check_bug(self, res: dict, variant) -> None:
        """A buggy submission: each ``expect-lose`` test at 0 with a message matching its pattern,
        every test outside ``expect-lose`` / ``expect-also-lose`` (and the hand-graded ones) intact."""
        r = res[variant.name]
        assert not r.error, r.error
        for gid, rx in variant.expectations("expect-lose"):
            t = r.test(gid)
            assert t.score == 0, f"{variant.name}: {gid} kept its points"
            assert re.search(rx, t.message, re.S), f"{variant.name}: {gid} message {t.message!r} !~ {rx!r}"
        allowed = {gid for gid, _ in variant.expectations("expect-lose")} | self.manual
        for value in variant.meta.get("expect-also-lose", []):
            allowed |= {g.strip() for g in value.split(",")}
        unexpected = {t.grade_id: t.message for t in r.tests if t.score < t.max_score and t.grade_id not in allowed}
        assert not unexpected, f"{variant.name}: unrelated tests lost points: {unexpected}"

    def check_flag(self, res: dict, printed: str, variant) -> None:
        """A shortcut or tampering: the tamper scan names it (``expect-flag``) and the report lists
        the student among those flagged for a human."""
        r = res[variant.name]
        (rx,) = variant.meta["expect-flag"]
        assert any(re.search(rx, f) for f in r.flags), r.flags
        assert "flagged for a human by the tamper scan:" in printed
        assert variant.name in printed.split("flagged for a human by the tamper scan:")[1]

    def check_full(self, res: dict, student: str) -> None:
        """Careless but correct (or an attack contained in its own kernel): every autograded point."""
        r = res[student]
        assert not r.error, r.error
        assert r.score == self.auto_points, [(t.grade_id, t.message) for t in r.tests if t.score < t.max_score]


def ids(v) -> str:
    """pytest ids of fixture variants."""
    return v.name


__all__ = ["Pipeline", "ROOT", "ids"]
