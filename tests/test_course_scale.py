"""Grading at scale: per-student workers on a Dask cluster, one writer, honest partial credit,
feedback that renders offline without the hidden tests, Gradescope export, idempotent regrades.

One small course (the solution, a crash half-way, the untouched release) is graded once on a real
Dask ``LocalCluster`` with two worker processes on loopback; each test asks one question of it.
"""

from __future__ import annotations

import io
import json
import re
import sqlite3
from pathlib import Path

import nbformat
import pytest

from cnncourse.course.autograde import autograde
from cnncourse.course.demo import make_course
from cnncourse.course.release import release
from cnncourse.course.submissions import apply_variant, load_variants, parse_variant, write_submission

ROOT = Path(__file__).resolve().parents[1]
A = "a1_conv"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("scale")]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    distributed = pytest.importorskip("distributed")
    course = make_course(ROOT, tmp_path_factory.mktemp("scale") / "course")
    release(course, [A])
    rel = nbformat.read(course / "assignments" / A / f"{A}.ipynb", as_version=4)
    sol = nbformat.read(course / "solutions" / A / f"{A}.ipynb", as_version=4)
    crash = {v.name: v for v in load_variants(ROOT / "tests" / "fixtures" / A)}["f02_kernel_crash"]
    for name, variant in [("solution", parse_variant("solution", "")),
                          ("crash", crash), ("untouched", parse_variant("untouched", "# op: untouched"))]:
        write_submission(course, A, name, apply_variant(rel, sol, variant))
    printed = io.StringIO()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        results = autograde(course, [A], cell_timeout=30, scheduler=client, out=printed)
    return course, {r.student: r for r in results[A]}, printed.getvalue()


def test_dask_cluster_grades_everyone_with_the_expected_scores(course):
    """Do two Dask worker processes grade every student, with the scores a serial run gives?"""
    _, res, printed = course
    assert sorted(res) == ["crash", "solution", "untouched"]
    assert res["solution"].score == 100 and res["untouched"].score == 0
    assert re.search(r"summary: 3 graded, 0 failed, 1 flagged, \d+ s, [\d.]+ students/minute", printed)


def test_a_crash_keeps_the_points_earned_before_it(course):
    """Does a kernel that dies in a late cell keep the scores of the tests before it, give 0 with
    the reason to the tests after it, and still get feedback?"""
    course_dir, res, _ = course
    r = res["crash"]
    assert not r.error and r.feedback is not None
    before = [t for t in r.tests if t.grade_id in ("test_conv_output_size", "test_conv2d_forward", "test_max_pool_backward")]
    after = [t for t in r.tests if t.grade_id in ("test_avg_pool_forward", "test_sobel_edges")]
    assert before and all(t.score == t.max_score for t in before)
    assert after and all(t.score == 0 and "kernel died" in t.message for t in after)
    assert 0 < r.score < 100
    assert "not graded: the kernel died" in r.feedback.read_text(encoding="utf-8")


def test_feedback_renders_offline_and_wraps(course):
    """Does every feedback page load nothing from the internet (MathJax is copied beside it) and
    wrap long messages instead of needing horizontal scrolling?"""
    course_dir, res, _ = course
    pages = sorted((course_dir / "feedback").glob("*/*/*.html"))
    assert len(pages) == 3
    for page in pages:
        text = page.read_text(encoding="utf-8")
        external = re.findall(r'(?:src|href)="(https?://[^"]+)"', text)
        assert not external, (page, external)
        assert "white-space: pre-wrap" in text
        assert "../../_mathjax/MathJax.js" in text
    assert (course_dir / "feedback" / "_mathjax" / "MathJax.js").is_file()


def test_gradescope_results_json(course):
    """Is there, per student, a Gradescope results.json whose tests add up to the gradebook score?"""
    course_dir, res, _ = course
    for student, r in res.items():
        doc = json.loads((course_dir / "gradescope" / student / "results.json").read_text())
        assert doc["score"] == r.score and doc["max_score"] == r.max_score == 100
        assert len(doc["tests"]) == len(r.tests)
        assert sum(t["score"] for t in doc["tests"]) == r.score
        for t in doc["tests"]:
            assert set(t) == {"name", "score", "max_score", "status", "output", "visibility"}
            assert t["status"] in ("passed", "failed") and "### BEGIN HIDDEN TESTS" not in t["output"]


def test_regrading_one_student_is_idempotent(course):
    """Does `--student` regrade one student (on local workers) to the same score and the same grade
    rows, reusing the recorded grading key, without touching the others?"""
    course_dir, res, _ = course
    db = course_dir / "gradebook.db"
    before = sqlite3.connect(db).execute("select count(*) from grade").fetchone()[0]
    again = autograde(course_dir, [A], cell_timeout=30, students=["solution"], workers=1, out=None)[A]
    assert [r.student for r in again] == ["solution"] and again[0].score == 100
    con = sqlite3.connect(db)
    assert con.execute("select count(*) from grade").fetchone()[0] == before
    con.close()
    from cnncourse.course.autograde import read_results
    crash = read_results(course_dir, A, ["crash"])[0]
    assert crash.score == res["crash"].score
