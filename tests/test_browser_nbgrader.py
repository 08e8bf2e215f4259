"""Do the assignment notebooks and the grading feedback work in a real browser (headless Chromium)?

- Every assignment source notebook (``solutions/*/*.ipynb``, found by globbing: the notebooks
  an instructor edits with nbgrader's tools) opens in JupyterLab with nbgrader's Create Assignment
  panel available: the panel lists one cell widget per notebook cell, each showing the nbgrader
  cell type stored in the notebook's metadata, and the notebook's total points. (The student
  releases under ``assignments/`` carry the same metadata; opening them too would double the
  time of this file, about 20 s per notebook on a loaded machine.)
- A feedback HTML file, written with nbgrader's own feedback template (the one
  ``nbgrader generate_feedback`` uses) from a tiny graded notebook whose test fails, shows the
  failure message on the first screen, without scrolling.

Screenshots go to ``test-results/browser/``. Without Chromium the tests skip and say why.
"""

from __future__ import annotations

import json

import pytest

from _browser import (CHROMIUM_ARGS, RESULTS, ROOT, VIEWPORT, open_notebook, require_browser, results_dir,
                      shared_lab, start_feedback_html)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]

ASSIGNMENTS = sorted(p for p in (ROOT / "solutions").glob("*/*.ipynb") if ".ipynb_checkpoints" not in p.parts)
FEEDBACK_MESSAGE = "add(1, 2) should be 3"


@pytest.fixture(scope="module")
def chromium():
    return require_browser()


@pytest.fixture(scope="module")
def feedback_html(chromium, tmp_path_factory):
    """The feedback page, rendered in the background while the Lab tests run."""
    path = tmp_path_factory.mktemp("feedback") / "feedback.html"
    proc = start_feedback_html(path, message=FEEDBACK_MESSAGE)
    yield proc, path
    if proc.poll() is None:
        proc.kill()
    proc.wait()


@pytest.fixture(scope="module")
def lab(chromium, feedback_html):  # the feedback page renders in the background meanwhile
    return shared_lab()  # stopped when the test process exits


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _expected_cell_type(meta: dict) -> str:
    """The value nbgrader's Create Assignment panel shows for a cell's nbgrader metadata."""
    if not meta:
        return ""
    if meta.get("task"):
        return "task"
    if meta.get("solution") and meta.get("grade"):
        return "manual"
    if meta.get("solution"):
        return "solution"
    if meta.get("grade"):
        return "tests"
    if meta.get("locked"):
        return "readonly"
    return ""


def test_assignment_notebooks_are_found():
    """Is there an assignment source to open, a1_conv at least (so the test is not vacuous)?"""
    assert ROOT / "solutions" / "a1_conv" / "a1_conv.ipynb" in ASSIGNMENTS, [str(p) for p in ASSIGNMENTS]


@pytest.mark.parametrize("notebook", ASSIGNMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_assignment_opens_with_create_assignment_panel(notebook, lab, browser):
    """Does Lab show nbgrader's Create Assignment panel with each cell's type and the total points?"""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    expected = [_expected_cell_type(c.get("metadata", {}).get("nbgrader", {})) for c in nb["cells"]]
    points = sum(float(c["metadata"]["nbgrader"].get("points", 0)) for c in nb["cells"]
                 if c.get("metadata", {}).get("nbgrader", {}).get("grade"))
    assert points > 0 and "tests" in expected, f"{notebook} has no graded test cell"
    results_dir()
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    console: list[str] = []
    page.on("pageerror", lambda e: console.append(f"uncaught: {e}"))
    try:
        open_notebook(page, lab, str(notebook.relative_to(ROOT)), wait_kernel=False)  # no code runs
        tab = page.locator('.lm-TabBar-tab[data-id="nbgrader-create_assignemnt"]')
        assert tab.count() == 1, "nbgrader's Create Assignment panel is not in the right sidebar"
        tab.click()
        panel = page.locator("#nbgrader-create_assignemnt")
        widgets = panel.locator(".nbgrader-CellWidget")
        page.wait_for_function("([el, n]) => el.querySelectorAll('.nbgrader-CellWidget').length === n",
                               arg=[panel.element_handle(), len(nb["cells"])], timeout=30_000)
        shown = widgets.evaluate_all("els => els.map(e => e.querySelector('.nbgrader-CellType select').value)")
        assert shown == expected
        total = panel.locator(".nbgrader-TotalPointsInput").input_value()
        assert float(total) == pytest.approx(points)
        name = "-".join(notebook.relative_to(ROOT).with_suffix("").parts)
        page.screenshot(path=str(RESULTS / f"{name}-create-assignment.png"))
        assert not console, console
    finally:
        context.close()


# the failure message's on-screen box (union of its line boxes), found by its text
MESSAGE_BOX_JS = """(needle) => {
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const i = node.textContent.indexOf(needle);
        if (i < 0) continue;
        const r = document.createRange();
        r.setStart(node, i);
        r.setEnd(node, i + needle.length);
        const b = r.getBoundingClientRect();
        const style = getComputedStyle(node.parentElement);
        return {top: b.top, bottom: b.bottom, left: b.left, right: b.right,
                visible: style.visibility !== 'hidden' && style.display !== 'none' && b.width > 0,
                scrollY: window.scrollY, height: window.innerHeight, width: window.innerWidth};
    }
    return null;
}"""


def test_feedback_shows_the_failure_without_scrolling(feedback_html, browser):
    """Does the feedback page show the failed test's message on its first screen?"""
    proc, html = feedback_html
    log, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"writing the feedback page failed:\n{log.decode(errors='replace')}"
    results_dir()
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        page.goto(html.as_uri(), wait_until="domcontentloaded")
        page.wait_for_timeout(300)  # layout settles (fonts)
        page.screenshot(path=str(RESULTS / "feedback-first-screen.png"))
        box = page.evaluate(MESSAGE_BOX_JS, FEEDBACK_MESSAGE)
        assert box is not None, "the failure message is not in the feedback page"
        assert box["visible"] and box["scrollY"] == 0
        assert 0 <= box["top"] and box["bottom"] <= box["height"], f"message below the fold: {box}"
        assert 0 <= box["left"] and box["right"] <= box["width"], f"message off to the side: {box}"
    finally:
        context.close()
