"""Do the lecture notebooks compute with cnncourse and check the slides live?

(test_notebooks.py executes them; test_sources.py checks each is in sync with its text twin.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "lectures").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", LECTURES, ids=lambda p: p.name)
def test_lecture_imports_cnncourse(notebook):
    """Does the lecture compute with the library (never a re-implementation) and import it?"""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    source = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "from cnncourse" in source or "import cnncourse" in source, f"{notebook.name} never imports cnncourse"
