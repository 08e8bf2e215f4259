"""Grade one student in one process: ``nbgrader autograde`` then ``generate_feedback``.

``python -m cnncourse.course._grade_one ASSIGNMENT STUDENT [--no-feedback] [--Class.trait=value ...]``,
run with the course directory as working directory (its ``nbgrader_config.py`` is read, then the
overrides).

The same two nbgrader converters the two commands would run (:class:`nbgrader.converters.Autograde`,
:class:`nbgrader.converters.GenerateFeedback`), with the same configuration and the same log lines,
but nbgrader and its dependencies are imported once per student instead of twice (about 3 s of CPU
each). The process still grades exactly one student: a submission that hangs or crashes it costs
that student alone (:func:`cnncourse.course._nbgrader.run_nbgrader` kills the process group).

Exit status: 0 when both steps succeeded; 1 when autograde failed (no feedback is attempted); 2
when autograde succeeded but the feedback failed (the scores in the gradebook stand).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

def _config(course: Path, overrides: list[str]):
    from traitlets.config import Config
    from traitlets.config.loader import KVArgParseConfigLoader, PyFileConfigLoader

    cfg = Config()
    if (course / "nbgrader_config.py").is_file():
        cfg.merge(PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config())
    if overrides:
        cfg.merge(KVArgParseConfigLoader(overrides).load_config())
    cfg.CourseDirectory.root = str(course)
    return cfg


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[0].startswith("-") or argv[1].startswith("-"):
        print("usage: python -m cnncourse.course._grade_one ASSIGNMENT STUDENT [--no-feedback] [--Class.trait=value ...]",
              file=sys.stderr)
        return 64
    assignment, student, overrides = argv[0], argv[1], [a for a in argv[2:] if a != "--no-feedback"]
    with_feedback = "--no-feedback" not in argv[2:]
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="[%(name)s | %(levelname)s] %(message)s",
                        force=True)
    from cnncourse.course._nbgrader import skip_iri_grammar

    skip_iri_grammar()
    from nbgrader.converters import Autograde, GenerateFeedback
    from nbgrader.converters.base import NbGraderException
    from nbgrader.coursedir import CourseDirectory

    course = Path.cwd().resolve()
    cfg = _config(course, overrides)
    coursedir = CourseDirectory(config=cfg)
    coursedir.assignment_id, coursedir.student_id = assignment, student
    log = logging.getLogger("AutogradeApp")
    try:
        grader = Autograde(coursedir=coursedir, config=cfg, log=log)
        grader.force, grader.create_student = True, True
        grader.start()
    except NbGraderException:  # as `nbgrader autograde`: the converter has logged the cause
        return 1
    except Exception:
        log.exception("autograde failed")
        return 1
    if not with_feedback:
        return 0
    log = logging.getLogger("GenerateFeedbackApp")
    try:
        feedback = GenerateFeedback(coursedir=coursedir, config=cfg, log=log)
        feedback.force = True
        feedback.start()
    except NbGraderException:
        return 2
    except Exception:
        log.exception("generate_feedback failed")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
