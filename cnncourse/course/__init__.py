"""The nbgrader pipeline of the course: release, autograde, report, demo (the autograding notes of assignment a1).

Command line (the Makefile's ``release``, ``autograde`` and ``demo`` targets)::

    python -m cnncourse.course release   [--course-dir .] [assignment ...]
    python -m cnncourse.course autograde [--course-dir .] [--cell-timeout 60] [--memory-mb 3072]
    python -m cnncourse.course demo      [--course-dir DIR] [--cell-timeout 30]

Modules: :mod:`.release` (solutions/ -> assignments/, deterministic), :mod:`.autograde` (one
nbgrader process per student, memory-limited kernel from :mod:`.kernel`), :mod:`.report`
(per-student, per-test table), :mod:`.submissions` (filled, buggy and tampered submissions from
a short patch format), :mod:`.demo` (the whole loop in a temporary course directory).
Submodules are imported on use so that ``import cnncourse.course`` stays cheap.
"""

__all__ = ["autograde", "demo", "kernel", "release", "report", "submissions"]
