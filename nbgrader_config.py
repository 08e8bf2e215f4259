"""nbgrader configuration of the cnncourse course (read by every ``nbgrader`` command run here).

Layout (nbgrader's, relative to the course directory):
  solutions/<assignment>/        instructor notebooks with solutions and hidden tests (committed)
  assignments/<assignment>/      student release made by ``make release`` (committed)
  submitted/<student>/<assignment>/, autograded/, feedback/, gradebook.db, grades.csv
                                 student work and grades: never committed (see .gitignore)

``python -m cnncourse.course autograde`` runs nbgrader with these settings and overrides only the
kernel (a memory-limited twin of ``python3``) and, when asked, the cell timeout.
"""

c = get_config()  # noqa: F821 (injected by traitlets when nbgrader loads this file)

# --- course and folders -------------------------------------------------------------------
c.CourseDirectory.course_id = "cnncourse"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"
# never copy checkpoints or caches into a release or next to a graded notebook
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", ".*"]

# --- release ------------------------------------------------------------------------------
# Solution regions become this stub in the student release.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# --- execution during autograde -----------------------------------------------------------
# Pin the kernel: the submitted notebook's kernelspec metadata is never trusted.
c.Execute.kernel_name = "python3"
c.Execute.timeout = 60  # seconds per cell; an infinite loop loses that cell, the rest is graded
c.Execute.interrupt_on_timeout = True
c.Execute.startup_timeout = 120
# (nbgrader's Execute always records cell errors and goes on; no allow_errors option needed)
# nbgrader's autograde steps, with Execute replaced by a subclass that logs which cell runs and
# in which cell a kernel died (nbgrader deletes the partial notebook; the report needs the cell).
c.Autograde.autograde_preprocessors = [
    # hidden tests run in the grader, student cells in a sandboxed kernel (see cnncourse/course/trusted.py);
    # reads the Execute.* settings above and TrustedExecute.sandbox / .memory_mb
    "cnncourse.course.trusted.TrustedExecute",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# (no IgnorePattern: a graded test cell's outputs are written by the grader alone, so a student's
# stderr line containing "Error" cannot reach them.)

# Bound what a runaway print can put into the autograded notebook and the feedback.
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 60

# --- sanitizing submissions ---------------------------------------------------------------
# Deleted grade cells are put back from the gradebook; edited locked cells (the tests) are
# restored from it by OverwriteCells' checksum check; duplicated ids keep only the last copy
# and the earlier copies become plain cells; CheckCellMetadata rejects corrupted nbgrader
# metadata. Order matters: deduplicate before OverwriteCells restores cells by grade id.
c.OverwriteCells.add_missing_cells = True
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "cnncourse.course.preprocessors.DropDuplicateIds",  # nbgrader's DeduplicateIds + a fix, see there
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# --- feedback -----------------------------------------------------------------------------
c.GenerateFeedback.force = True
# feedback shows each hidden test by name, points and the grader's message, never its code
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "cnncourse.course.preprocessors.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
# (math renders offline: the autograder points the feedback's MathJax at feedback/_mathjax, copied
# from the jupyter-server-mathjax package; see cnncourse/course/autograde.py)
