"""Grading seeds the student cannot know (the autograding notes).

A hidden test draws its randomized cases from ``secret_seed(21)`` instead of ``21``. When the
notebook runs anywhere but the autograder (an instructor running the solution, a student's
self-check), that is just ``21``. While the autograder grades, the grader's process holds a key
(:data:`GRADING_KEY_ENV`, drawn per student and recorded in the gradebook so that a regrade
reproduces the same cases) and the seed is derived from it: a table of answers precomputed from
the public seeds is worth nothing. The key never reaches the student's kernel (its environment is
cleared, and the hidden tests run in the grader's process).
"""

from __future__ import annotations

import hashlib
import os

__all__ = ["GRADING_KEY_ENV", "secret_seed"]

GRADING_KEY_ENV = "CNNCOURSE_GRADING_KEY"


def secret_seed(public: int) -> int:
    """``public`` outside grading; a seed derived from the grading key and ``public`` while grading."""
    key = os.environ.get(GRADING_KEY_ENV, "")
    if not key:
        return int(public)
    digest = hashlib.sha256(f"{key}:{int(public)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
