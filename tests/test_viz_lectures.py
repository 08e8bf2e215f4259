"""Are the committed lecture notebooks 02 and 03 exactly what their generators produce, output-free?

(The lead's notebook-execution test runs them; this one is fast and only checks the sources.)
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "lectures" / "_build"
GENERATORS = ["build_02.py", "build_03.py"]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_lecture_{name[:-3]}", BUILD / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("generator", GENERATORS)
def test_notebook_matches_generator(generator):
    """Was the notebook regenerated after the last edit of its generator (python lectures/_build/...)?"""
    module = _load(generator)  # puts lectures/_build on sys.path for its `_nb` helper
    from _nb import render
    expected = render(module.CELLS, prefix=module.PREFIX)
    assert module.PATH.read_text(encoding="utf-8") == expected, (
        f"{module.PATH.name} is stale: run `python lectures/_build/{generator}`")


@pytest.mark.parametrize("notebook", ["02_convolution.ipynb", "03_pooling.ipynb"])
def test_notebook_imports_cnncourse(notebook):
    """Does the lecture compute with cnncourse and check the slides (outputs: see test_repo.py)?"""
    nb = json.loads((ROOT / "lectures" / notebook).read_text(encoding="utf-8"))
    codes = [c for c in nb["cells"] if c["cell_type"] == "code"]
    source = "".join("".join(c["source"]) for c in codes)
    assert "from cnncourse.layers import" in source and "compare_with_slide(" in source
