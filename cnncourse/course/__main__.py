"""Command line: ``python -m cnncourse.course release|autograde|demo [--course-dir D]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cnncourse.course.kernel import DEFAULT_MEMORY_MB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnncourse.course",
                                     description="nbgrader pipeline of the cnncourse course")
    sub = parser.add_subparsers(dest="command", required=True)
    p_rel = sub.add_parser("release", help="regenerate assignments/ from solutions/ (deterministic)")
    p_auto = sub.add_parser("autograde", help="grade submitted/<student>/<assignment>/, write "
                                              "grades.csv and feedback, print the table")
    p_demo = sub.add_parser("demo", help="the whole loop in a temporary course directory")
    p_sync = sub.add_parser("sync", help="sync every notebook with its text twin under src/ (jupytext)")
    p_sync.add_argument("--course-dir", default=".", help="course root (default: current directory)")
    for p in (p_rel, p_auto):
        p.add_argument("--course-dir", default=".", help="course root (default: current directory)")
        p.add_argument("assignments", nargs="*", help="assignment names (default: all in solutions/)")
    p_demo.add_argument("--course-dir", default=None,
                        help="where to build the demo course (default: a new temporary folder)")
    p_demo.add_argument("--repo", default=".", help="repository with nbgrader_config.py and solutions/")
    for p in (p_auto, p_demo):
        p.add_argument("--cell-timeout", type=int, default=None, help="seconds per notebook cell")
    p_auto.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB,
                        help="address-space limit of each grading kernel (MiB)")
    for p in (p_auto, p_demo):
        p.add_argument("--sandbox", choices=("auto", "bwrap", "none"), default="auto",
                       help="student kernels in a bubblewrap sandbox (auto: when bwrap works here)")
    p_auto.add_argument("--student", action="append", default=None,
                        help="grade only this student (repeatable); default: every submission")
    for p in (p_auto, p_demo):
        p.add_argument("--workers", type=int, default=None,
                       help="students graded at once on this machine (default: the number of CPUs)")
    p_auto.add_argument("--scheduler", default=None,
                        help="Dask distributed scheduler address (tcp://host:8786): grade on that cluster")
    p_auto.add_argument("--new-seeds", action="store_true",
                        help="draw new secret grading seeds instead of reusing the recorded ones")
    args = parser.parse_args(argv)

    if args.command == "sync":
        from cnncourse.course.sources import stale_pairs, sync

        sync(args.course_dir)
        problems = stale_pairs(args.course_dir)
        for problem in problems:
            print(f"still stale: {problem}", file=sys.stderr)
        return 1 if problems else 0
    if args.command == "release":
        from cnncourse.course.release import release

        from cnncourse.course.points import points_problems, summary

        for path in release(args.course_dir, args.assignments or None):
            source = Path(args.course_dir) / "solutions" / path.name / f"{path.name}.ipynb"
            print(f"released {path}: {summary(source)}")
            for problem in points_problems(source):
                print(f"  WARNING {path.name}: {problem}")
        return 0
    if args.command == "autograde":
        from cnncourse.course.autograde import DEFAULT_CELL_TIMEOUT, autograde

        autograde(args.course_dir, args.assignments or None, memory_mb=args.memory_mb,
                  cell_timeout=args.cell_timeout or DEFAULT_CELL_TIMEOUT, sandbox=args.sandbox,
                  students=args.student, new_keys=args.new_seeds, workers=args.workers,
                  scheduler=args.scheduler)
        return 0
    from cnncourse.course.demo import demo

    demo(args.repo, args.course_dir, cell_timeout=args.cell_timeout or 30, sandbox=args.sandbox,
         workers=args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
