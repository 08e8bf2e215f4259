"""``make demo`` (the README's main command), end to end through the command line, as a user runs it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("a1_autograde")]


def _row(printed: str, student: str) -> list[str]:
    line = next(ln for ln in printed.splitlines() if ln.startswith(student + " "))
    return line.split()


def test_demo_prints_the_table_and_points_to_feedback(tmp_path):
    """Does the demo exit 0, print one table row per demo student with the expected totals, the
    reasons and flags, and point to feedback and grades that exist? (One test: one demo run.)"""
    course = tmp_path / "course"
    proc = subprocess.run([sys.executable, "-m", "cnncourse.course", "demo", "--course-dir", str(course)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "per-student, per-test scores" in out
    assert _row(out, "alice_solution")[-2:] == ["100/100", "ok"]
    assert _row(out, "bob_untouched")[-2:] == ["0/100", "ok"]
    carol = _row(out, "carol_off_by_one")
    assert carol[1] == "0" and carol[-2] == "95/100"  # only the output-size test lost
    assert _row(out, "dan_ties")[-2] == "92/100"      # max-pool backward (8)
    erin = _row(out, "erin_patches_allclose")          # its patch reached only its own kernel
    assert erin[-1] == "FLAGGED" and int(erin[-2].split("/")[0]) < 100  # its wrong average pooling still loses
    frank = _row(out, "frank_crash")                   # honest partial credit: the tests before the crash
    assert frank[-1] == "FLAGGED" and 0 < int(frank[-2].split("/")[0]) < 100
    flat = re.sub(r"\s+", " ", out)  # the details wrap long messages at word boundaries
    assert re.search(r"frank_crash \[a1_conv\].*?NotGraded: the kernel died.*? in cell \d+/\d+ \(grade id avg_pool_forward_impl\)", flat)
    assert _row(out, "grace_input_transformer")[-2:] == ["0/100", "FLAGGED"]
    assert "student kernels: " in out and re.search(r"summary: 7 graded, 0 failed, 3 flagged", out)
    assert re.search(r"erin_patches_allclose.*\n(.*\n)*?\s+FLAG \(check by hand\):.*allclose", out)
    m = re.search(r"open the feedback, e.g. (\S+\.html)", proc.stdout)
    assert m and Path(m.group(1)).is_file()
    assert "off by one" in Path(m.group(1)).read_text()  # carol's feedback explains her bug
    rows = (course / "grades.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 7
    assert (course / "gradescope" / "frank_crash" / "results.json").is_file()
