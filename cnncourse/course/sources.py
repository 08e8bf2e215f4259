"""Notebooks and their text twins (jupytext percent format): ``make sync`` and the freshness check.

Every lecture ``lectures/NN_name.ipynb`` and every nbgrader source notebook
``solutions/aN/aN.ipynb`` has a text twin under ``src/`` (``src/lectures/NN_name.py``,
``src/solutions/aN/aN.py``), paired by ``jupytext.toml``: saving in JupyterLab writes both; after
editing one of them by hand, :func:`sync` (``make sync``) brings the other up to date (the newer
file wins, as in ``jupytext --sync``). The text twins live outside the folders nbgrader copies, so
no solution or hidden test can reach the student release.

After syncing, each notebook is normalized so that diffs stay small and releases deterministic:
outputs and execution counts are removed; a graded or solution cell's id is its grade id; any
other cell keeps the id it had, and a new cell gets an id derived from its content (never from
its position, so inserting a cell changes one cell of the diff).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import nbformat

__all__ = ["pairs", "sync", "stale_pairs", "normalize", "SYNC_COMMAND"]

SYNC_COMMAND = "make sync"
_ID_OK = re.compile(r"[^A-Za-z0-9_-]")


def pairs(root: str | Path) -> list[tuple[Path, Path]]:
    """``(text twin, notebook)`` of every lecture and solution notebook (either may be missing yet)."""
    root = Path(root)
    found: dict[Path, Path] = {}
    for kind, pattern in (("lectures", "*.ipynb"), ("solutions", "*/*.ipynb")):
        for nb in sorted((root / kind).glob(pattern)):
            if ".ipynb_checkpoints" not in nb.parts:
                found[nb] = root / "src" / nb.relative_to(root).with_suffix(".py")
        for text in sorted((root / "src" / kind).glob(pattern.replace(".ipynb", ".py"))):
            found.setdefault(root / text.relative_to(root / "src").with_suffix(".ipynb"), text)
    return [(text, nb) for nb, text in sorted(found.items())]


def _cell_id(cell, used: set[str]) -> str:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    base = _ID_OK.sub("-", meta["grade_id"])[:64] if meta.get("grade_id") else (
        "c-" + hashlib.sha1((cell.cell_type + "\n" + cell.source).encode()).hexdigest()[:10])
    candidate, n = base, 1
    while candidate in used:
        n += 1
        candidate = f"{base[:60]}-{n}"
    return candidate


def normalize(nb, old_ids: set[str] = frozenset()) -> bool:
    """Strip outputs, give graded cells their grade id and new cells a content id; True if changed."""
    before = nbformat.writes(nb)
    used: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        for key in ("execution", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
        graded = bool(cell.get("metadata", {}).get("nbgrader", {}).get("grade_id"))
        if graded or cell.get("id") not in old_ids or cell.get("id") in used:
            cell.id = _cell_id(cell, used)
        used.add(cell.id)
    return nbformat.writes(nb) != before


def _run_jupytext(args: list[str]) -> None:
    from jupytext.cli import jupytext as jupytext_cli

    jupytext_cli(["--quiet", *args])


def sync(root: str | Path = ".", *, only: list[str] | None = None, log=print) -> list[Path]:
    """Sync every pair (the newer file wins), normalize the notebooks; return the files changed.

    ``only``: names (``a1_conv``, ``03_pooling``) to restrict the sync to.
    """
    root = Path(root).resolve()
    changed: list[Path] = []
    for text, nb_path in pairs(root):
        if only and nb_path.stem not in only:
            continue
        old_nb = nb_path.read_bytes() if nb_path.exists() else b""
        old_text = text.read_bytes() if text.exists() else b""
        old_ids = {c.get("id") for c in nbformat.reads(old_nb.decode(), 4).cells} if old_nb else set()
        if nb_path.exists() and text.exists():
            _run_jupytext(["--sync", str(text if text.stat().st_mtime >= nb_path.stat().st_mtime else nb_path)])
        elif text.exists():
            nb_path.parent.mkdir(parents=True, exist_ok=True)
            _run_jupytext(["--to", "ipynb", "--output", str(nb_path), str(text)])
        else:
            _run_jupytext(["--sync", str(nb_path)])  # creates the text twin (jupytext.toml pairing)
        nb = nbformat.read(nb_path, 4)
        normalize(nb, old_ids)
        new_nb = nbformat.writes(nb) + "\n"
        if new_nb.encode() != old_nb:
            nb_path.write_text(new_nb, encoding="utf-8")
        for path, before in ((nb_path, old_nb), (text, old_text)):
            if path.read_bytes() != before:
                changed.append(path)
                log(f"updated {path.relative_to(root)}")
    return changed


def _cells(nb) -> list[tuple[str, str, dict]]:
    return [(c.cell_type, c.source.strip(), c.get("metadata", {}).get("nbgrader", {})) for c in nb.cells]


def stale_pairs(root: str | Path = ".") -> list[str]:
    """Why each out-of-sync pair is stale ('' list when all agree), each naming the fix."""
    import jupytext

    root = Path(root).resolve()
    problems = []
    for text, nb_path in pairs(root):
        rel = nb_path.relative_to(root)
        if not text.exists() or not nb_path.exists():
            missing = text if not text.exists() else nb_path
            problems.append(f"{missing.relative_to(root)} is missing: run `{SYNC_COMMAND}`")
            continue
        nb = nbformat.read(nb_path, 4)
        twin = jupytext.read(text)
        if _cells(nb) != _cells(twin):
            for i, (a, b) in enumerate(zip(_cells(nb), _cells(twin))):
                if a != b:
                    break
            else:
                i = min(len(nb.cells), len(twin.cells))
            problems.append(f"{rel} and {text.relative_to(root)} differ (from cell {i + 1} on): run `{SYNC_COMMAND}`")
            continue
        copy = nbformat.from_dict(nb)
        if normalize(copy, {c.get("id") for c in nb.cells}):
            problems.append(f"{rel} has outputs, execution counts or non-canonical cell ids: run `{SYNC_COMMAND}`")
    return problems
