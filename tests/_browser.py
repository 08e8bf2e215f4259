"""Helpers for the browser tests: find Chromium, start JupyterLab, drive notebooks with Playwright.

The browser tests (``tests/test_browser_*.py``) open the course as a student does: JupyterLab
from this project's environment, on a loopback port with a token, serving a *copy* of the course
folders (so Lab's autosave can never write outputs into the committed notebooks), driven by the
system's Chromium through Playwright (browser downloads are impossible here; CI installs Debian's
``chromium``). Without a Chromium, or without Playwright, the tests skip and say why.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "test-results" / "browser"  # screenshots; ignored by git (see its .gitignore)
# folders copied into the Lab root (notebooks open relative to it)
SERVED = ("lectures", "assignments", "solutions")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage",
                 # offline by construction: every host name but the loopback fails to resolve
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"]
VIEWPORT = {"width": 1400, "height": 900}

# A lecture "has widgets" when a code cell imports ipywidgets, calls interact, or calls one of the
# widget factories of cnncourse.viz (listed once, in cnncourse.viz.WIDGET_FACTORIES).
_WIDGET_PATTERNS = [r"\bimport\s+ipywidgets\b", r"\bfrom\s+ipywidgets\b", r"\binteract(ive)?\s*\("]


def chromium_path() -> str | None:
    """The Chromium to drive: ``$CNNCOURSE_CHROMIUM`` if set, else the first one on ``PATH``."""
    env = os.environ.get("CNNCOURSE_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_browser() -> str:
    """Return Chromium's path, or skip the calling test with the reason it cannot run.

    With ``CNNCOURSE_REQUIRE_BROWSER=1`` (CI sets it) a missing browser fails the test instead,
    so the browser tests can never be skipped unnoticed where they must run.
    """
    reason = None
    path = chromium_path()
    if path is None:
        env = os.environ.get("CNNCOURSE_CHROMIUM")
        reason = (f"browser tests need Chromium: CNNCOURSE_CHROMIUM={env} does not exist" if env else
                  "browser tests need Chromium: none of " + ", ".join(CHROMIUM_NAMES)
                  + " is on PATH (Debian: apt-get install chromium; or set CNNCOURSE_CHROMIUM)")
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError as err:
            reason = f"browser tests need the Python package playwright (pip install playwright): {err}"
    if reason is None:
        return path
    if os.environ.get("CNNCOURSE_REQUIRE_BROWSER") == "1":
        pytest.fail(reason + " (and CNNCOURSE_REQUIRE_BROWSER=1 forbids skipping)", pytrace=False)
    pytest.skip(reason)


def widget_notebooks(folder: Path) -> list[Path]:
    """Notebooks under ``folder`` whose code uses ipywidgets or a cnncourse.viz widget factory."""
    from cnncourse.viz import WIDGET_FACTORIES

    patterns = _WIDGET_PATTERNS + [rf"\b{re.escape(name)}\s*\(" for name in WIDGET_FACTORIES]
    found = []
    for path in sorted(folder.glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
        if any(re.search(p, code) for p in patterns):
            found.append(path)
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


@dataclass
class LabServer:
    """A JupyterLab server on 127.0.0.1 serving a copy of the course; ``stop()`` ends it."""

    root: Path
    port: int
    token: str
    process: subprocess.Popen
    log: Path
    _tmp: tempfile.TemporaryDirectory = field(repr=False)

    def url(self, relpath: str) -> str:
        # reset: a fresh workspace, so tabs of an earlier test are not reopened (each costs a kernel)
        return f"http://127.0.0.1:{self.port}/lab/tree/{relpath}?reset&token={self.token}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # Lab shuts its kernels down on SIGTERM
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._tmp.cleanup()


def start_lab(timeout: float = 90.0) -> LabServer:
    """Start JupyterLab from this environment on a free loopback port, with a fresh config."""
    tmp = tempfile.TemporaryDirectory(prefix="cnncourse-lab-")
    base = Path(tmp.name)
    root = base / "course"
    for name in SERVED:
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for name in ("nbgrader_config.py",):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, root / name)
    settings = base / "lab-settings"
    # no news/update pop-ups (they would need the network and cover the page)
    _write(settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings",
           {"fetchNews": "false", "checkForUpdates": False})
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(base / "config"), JUPYTER_RUNTIME_DIR=str(base / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    env.pop("MPLBACKEND", None)  # the notebooks choose their backend (%matplotlib inline)
    port, token = _free_port(), secrets.token_hex(16)
    log = base / "lab.log"
    jupyter = Path(sys.executable).parent / "jupyter"
    cmd = [str(jupyter) if jupyter.exists() else sys.executable, *([] if jupyter.exists() else ["-m", "jupyter"]),
           "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--LabApp.news_url=", "--ServerApp.open_browser=False",
           "--ServerApp.allow_root=True"]  # CI containers run as root
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)
    server = LabServer(root=root, port=port, token=token, process=proc, log=log, _tmp=tmp)
    deadline = time.monotonic() + timeout
    api = f"http://127.0.0.1:{port}/api/status?token={token}"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = log.read_text(errors="replace")[-3000:]
            server.stop()
            raise RuntimeError(f"JupyterLab exited with code {proc.returncode}:\n{text}")
        try:
            with urllib.request.urlopen(api, timeout=2) as resp:
                if resp.status == 200:
                    return server
        except OSError:
            time.sleep(0.3)
    text = log.read_text(errors="replace")[-3000:]
    server.stop()
    raise RuntimeError(f"JupyterLab did not answer on port {port} within {timeout:.0f} s:\n{text}")


_SHARED: list[LabServer] = []


def shared_lab() -> LabServer:
    """One Lab server per test process, shared by the browser test files (starting one takes
    10-20 s); stopped when the process exits. The browser tests share an xdist group, so they
    run in one process."""
    if not _SHARED or _SHARED[0].process.poll() is not None:
        _SHARED[:] = [start_lab()]
        atexit.register(_SHARED[0].stop)
    return _SHARED[0]


# ----------------------------------------------------------------------------------- page driving
def open_notebook(page, lab: LabServer, relpath: str, timeout_ms: int = 60_000, *,
                  wait_kernel: bool = True) -> None:
    """Open ``relpath`` in Lab; wait until the notebook is shown (and its kernel idle)."""
    page.goto(lab.url(relpath), wait_until="domcontentloaded")
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=timeout_ms)
    if wait_kernel:
        wait_kernel_idle(page, timeout_ms)


def wait_kernel_idle(page, timeout_ms: int = 60_000) -> None:
    """Wait until the current notebook's kernel is connected and idle (status bar and toolbar)."""
    page.wait_for_function(
        """() => {
            const el = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
            const bar = document.querySelector('#jp-main-statusbar');
            return el && el.getAttribute('data-status') === 'idle' && bar && /\\|\\s*Idle\\b/.test(bar.innerText);
        }""", timeout=timeout_ms, polling=250)


def run_all(page, timeout_ms: int = 120_000) -> None:
    """Run all cells through the Run menu and wait until every code cell has run (no ``[*]``)."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt')];
            const ind = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
            return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent))
                   && ind && ind.getAttribute('data-status') === 'idle';
        }""", timeout=timeout_ms, polling=500)


def cell_errors(page) -> list[str]:
    """Text of every error output (tracebacks) in the open notebook."""
    return page.eval_on_selector_all(
        ".jp-NotebookPanel:not(.lm-mod-hidden) [data-mime-type='application/vnd.jupyter.stderr'], "
        ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']",
        "els => els.map(e => e.innerText)")


def image_digest(page, img) -> str:
    """SHA-256 of the bytes behind an ``<img>`` (data:, blob: or http: src)."""
    data = img.evaluate(
        """async (el) => {
            const buf = await (await fetch(el.src)).arrayBuffer();
            return Array.from(new Uint8Array(buf));
        }""")
    return hashlib.sha256(bytes(data)).hexdigest()


# JS: words (runs of non-space characters) that the browser broke over two lines
SPLIT_WORDS_JS = """(el) => {
    const split = [];
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        for (const m of node.textContent.matchAll(/\\S+/g)) {
            const r = document.createRange();
            r.setStart(node, m.index);
            r.setEnd(node, m.index + m[0].length);
            const tops = new Set([...r.getClientRects()].filter(b => b.width > 0).map(b => Math.round(b.top)));
            if (tops.size > 1) split.push(m[0]);
        }
    }
    return split;
}"""


def results_dir() -> Path:
    """``test-results/browser/``, created with a ``.gitignore`` so screenshots are never committed."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    ignore = RESULTS.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# written by tests/_browser.py: screenshots of the browser tests\n*\n")
    return RESULTS


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


# ------------------------------------------------------------------------------ feedback pages
def write_feedback_html(path: Path, *, message: str) -> Path:
    """Write a feedback HTML page for a tiny graded notebook whose one test fails with ``message``.

    The page comes from nbgrader's own feedback template (``feedback/index.html.j2``, what
    ``nbgrader generate_feedback`` renders), filled with the scores nbgrader's ``GetGrades``
    would put in (0 of 2 points), so no gradebook or course folder is needed. If the course's
    grader renders feedback differently, write it with that renderer here.
    """
    import importlib.util

    import nbformat
    from nbconvert.exporters import HTMLExporter
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from traitlets.config import Config

    def meta(**kw):
        return {"nbgrader": {"solution": False, "grade": False, "locked": False, "task": False,
                             "schema_version": 3, **kw}}

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    test = f"assert add(1, 2) == 3, {message!r} + f', got {{add(1, 2)}}'"
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A tiny assignment\nWrite `add(a, b)`."),
        nbformat.v4.new_code_cell("def add(a, b):\n    return a - b  # the student's bug",
                                  metadata=meta(solution=True, grade_id="add"), execution_count=1),
        nbformat.v4.new_code_cell(test, execution_count=2, outputs=[nbformat.v4.new_output(
            "error", ename="AssertionError", evalue=f"{message}, got -1", traceback=[
                "\x1b[0;31m---------------------------------------------------------------------------\x1b[0m",
                "\x1b[0;31mAssertionError\x1b[0m                            Traceback (most recent call last)",
                f"Cell \x1b[0;32mIn[2], line 1\x1b[0m\n\x1b[0;32m----> 1\x1b[0m {test}",
                f"\x1b[0;31mAssertionError\x1b[0m: {message}, got -1"])],
            metadata=meta(grade=True, locked=True, grade_id="test_add", points=2)),
    ]  # the outputs an autograded run stores (written here: starting a kernel costs seconds)
    for cell in nb.cells:  # what nbgrader's GetGrades preprocessor stores from the gradebook
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.metadata["nbgrader"]["score"] = 0.0
    # nbgrader's package folder, without importing it (that takes seconds)
    base = Path(importlib.util.find_spec("nbgrader").origin).parent / "server_extensions" / "formgrader"
    config = Config()
    config.HTMLExporter.template_name = "feedback"
    config.HTMLExporter.extra_template_basedirs = [str(base / "templates")]
    config.HTMLExporter.extra_template_paths = [str(base / "static" / "node_modules" / "bootstrap" / "dist" / "css")]
    exporter = HTMLExporter(config=config)
    exporter.register_preprocessor(CSSHTMLHeaderPreprocessor, enabled=True)
    body, _ = exporter.from_notebook_node(nb, resources={"nbgrader": {
        "notebook": "tiny", "score": 0.0, "max_score": 2.0, "late_penalty": 0}})
    path.write_text(body, encoding="utf-8")
    return path


def start_feedback_html(path: Path, *, message: str) -> subprocess.Popen:
    """Run :func:`write_feedback_html` in a background process (importing nbconvert takes
    seconds; the browser tests start it early and collect the file when they need it)."""
    return subprocess.Popen([sys.executable, str(Path(__file__)), "feedback", str(path), message],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


if __name__ == "__main__" and sys.argv[1:2] == ["feedback"]:
    write_feedback_html(Path(sys.argv[2]), message=sys.argv[3])
