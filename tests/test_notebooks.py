"""Every lecture and solution notebook executes top to bottom in a fresh kernel.

Lectures assert the seeds' worked examples in visible cells, and solution notebooks run their
visible and hidden tests, so a wrong library or a wrong solution fails here.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(list((ROOT / "lectures").glob("*.ipynb")) + list((ROOT / "solutions").glob("*/*.ipynb")))


def _kernel_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONHASHSEED="0")
    return env


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_executes(path: Path):
    """Does the notebook run top to bottom without an error in a fresh kernel?"""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    # extra keyword arguments reach KernelManager.start_kernel: same thread limits as the suite
    client.execute(env=_kernel_env())
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), "notebook produced no output"


def test_there_are_notebooks_to_run():
    """Is the notebook list non-empty (so this module cannot pass vacuously)?"""
    assert NOTEBOOKS, f"no notebooks under lectures/ or solutions/ in {ROOT}"
