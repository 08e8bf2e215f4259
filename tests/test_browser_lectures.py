"""Do the lectures' widgets render and react in JupyterLab, in a real browser (headless Chromium)?

For every lecture whose code uses ipywidgets or a widget factory of ``cnncourse.viz`` (found by
scanning the notebooks, so a new lecture with a widget is covered without new test code): open
it in Lab, run all cells, wait for the kernel to be idle, and for each widget on the page:

- ``initial``: it rendered (its DOM, no "Error displaying widget", no browser-console error),
  every figure is a loaded image, and no word of its text is broken over two lines;
- ``step``: one keyboard step on its first slider (as a student would) changes the text and
  the figure's bytes, and the figure keeps its displayed size;
- ``min`` / ``max``: the slider's readout set to its minimum / maximum (for the convolution
  explorer, ``size=1`` brings up its long warning): same checks.

A screenshot of each state is written to ``test-results/browser/<lecture>-w<k>-<state>.png``.
Without Chromium the tests skip and say why.
"""

from __future__ import annotations

import time

import pytest

from _browser import (CHROMIUM_ARGS, RESULTS, ROOT, SPLIT_WORDS_JS, VIEWPORT, cell_errors,
                      image_digest, open_notebook, require_browser, results_dir, run_all, shared_lab,
                      widget_notebooks)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]

LECTURES = widget_notebooks(ROOT / "lectures")
# the explorer of lecture 02 must always be among them (so this file cannot pass vacuously)
REQUIRED = {"02_convolution.ipynb"}
# console messages that are not about the page under test (Lab asks the network for news/updates)
BENIGN_CONSOLE = ("Failed to load resource: net::ERR_", "ERR_NAME_NOT_RESOLVED", "ERR_INTERNET_DISCONNECTED")

WIDGET_ROOTS_JS = """() => {
    const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
    const roots = [...panel.querySelectorAll('.jp-OutputArea-output .jupyter-widgets')]
        .filter(e => !e.parentElement.closest('.jupyter-widgets'));
    roots.forEach((e, i) => e.setAttribute('data-cnncourse-widget', String(i)));
    return roots.length;
}"""
# the widget's own text, without its controls (slider labels and readouts)
TEXT_JS = """(root) => {
    const clone = root.cloneNode(true);
    clone.querySelectorAll('.widget-slider, .widget-dropdown, .widget-checkbox, .widget-toggle-buttons, '
                           + '.widget-radio, .widget-text, .widget-button, .widget-readout, .widget-label')
         .forEach(e => e.remove());
    return clone.innerText.trim();
}"""
WIDGET_ERRORS_JS = """() => {
    const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
    const bad = [...panel.querySelectorAll('.jp-OutputArea-output')].map(e => e.innerText)
        .filter(t => /Error displaying widget|Failed to display Jupyter Widget|Loading widget\\.\\.\\./.test(t));
    return bad.concat([...panel.querySelectorAll('.jupyter-widgets-error-widget, .widget-error')]
        .map(e => e.innerText));
}"""


@pytest.fixture(scope="module")
def chromium():
    return require_browser()


@pytest.fixture(scope="module")
def lab(chromium):
    return shared_lab()  # stopped when the test process exits


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_widget_lectures_are_found():
    """Does the notebook scan find the widget lectures (at least the convolution explorer)?"""
    names = {p.name for p in LECTURES}
    assert REQUIRED <= names, f"widget lectures found: {sorted(names)}"
    assert "03_pooling.ipynb" not in names  # no widget there: the scan is not "every notebook"


def test_without_chromium_the_browser_tests_skip_with_a_reason(monkeypatch, tmp_path):
    """On a laptop without Chromium: a skip that says what is missing (a failure in CI)?"""
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium on it
    monkeypatch.delenv("CNNCOURSE_CHROMIUM", raising=False)
    monkeypatch.delenv("CNNCOURSE_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="browser tests need Chromium: none of chromium"):
        require_browser()
    monkeypatch.setenv("CNNCOURSE_CHROMIUM", str(tmp_path / "nowhere"))
    with pytest.raises(pytest.skip.Exception, match="CNNCOURSE_CHROMIUM=.*nowhere does not exist"):
        require_browser()
    monkeypatch.setenv("CNNCOURSE_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="forbids skipping"):
        require_browser()


def _state(page, root) -> dict:
    """What the widget shows now: its text, its images' digests and sizes, its broken words."""
    imgs = root.locator("img")
    images = []
    for k in range(imgs.count()):
        img = imgs.nth(k)
        natural = img.evaluate("e => [e.complete, e.naturalWidth, e.naturalHeight]")
        box = img.bounding_box()
        images.append({"digest": image_digest(page, img), "loaded": natural[0] and natural[1] > 0,
                       "size": (round(box["width"]), round(box["height"])) if box else None})
    return {"text": root.evaluate(TEXT_JS), "images": images, "split": root.evaluate(SPLIT_WORDS_JS)}


def _wait_changed(page, root, before: dict, timeout_s: float = 30.0) -> dict:
    """Poll until the widget's text and every image differ from ``before`` (or time out)."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = _state(page, root)
        changed_images = all(a["digest"] != b["digest"] for a, b in zip(now["images"], before["images"]))
        if now["text"] != before["text"] and changed_images and len(now["images"]) == len(before["images"]):
            return now
        if time.monotonic() > deadline:
            return now
        page.wait_for_timeout(250)


def _set_readout(page, root, value: int) -> None:
    readout = root.locator(".widget-readout").first
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(str(value))
    page.keyboard.press("Enter")


@pytest.mark.parametrize("notebook", LECTURES, ids=lambda p: p.stem)
def test_lecture_widgets_render_and_react(notebook, lab, browser):
    """Does every widget of the lecture render, and do its text and figure follow its first slider?"""
    results_dir()
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console.append(f"uncaught: {e}"))
    try:
        open_notebook(page, lab, f"lectures/{notebook.name}")
        run_all(page, timeout_ms=150_000)
        assert not cell_errors(page), cell_errors(page)
        n = page.evaluate(WIDGET_ROOTS_JS)
        assert n >= 1, f"{notebook.name} uses widgets but none rendered"
        assert not page.evaluate(WIDGET_ERRORS_JS), page.evaluate(WIDGET_ERRORS_JS)
        for k in range(n):
            root = page.locator(f'[data-cnncourse-widget="{k}"]')
            root.scroll_into_view_if_needed()
            state = _state(page, root)
            shot = RESULTS / f"{notebook.stem}-w{k}-initial.png"
            root.screenshot(path=str(shot))
            assert all(im["loaded"] for im in state["images"]), state["images"]
            assert not state["split"], f"words broken over two lines: {state['split']}"
            sliders = root.locator(".widget-hslider .noUi-handle")
            if sliders.count() == 0:
                continue  # nothing to move (e.g. a button-only widget): rendering was checked
            handle = sliders.first
            low, high, value = (round(float(handle.get_attribute(a)))
                                for a in ("aria-valuemin", "aria-valuemax", "aria-valuenow"))
            sizes = [im["size"] for im in state["images"]]
            step_key, step_to = ("ArrowRight", value + 1) if value < high else ("ArrowLeft", value - 1)
            for name, target in (("step", step_to), ("min", low), ("max", high)):
                if target == round(float(handle.get_attribute("aria-valuenow"))):
                    continue  # already there: nothing would change
                if name == "step":
                    handle.focus()
                    page.keyboard.press(step_key)
                else:
                    _set_readout(page, root, target)
                page.wait_for_function(
                    "([el, v]) => Math.round(Number(el.getAttribute('aria-valuenow'))) === v",
                    arg=[handle.element_handle(), target], timeout=15_000)
                new = _wait_changed(page, root, state)
                root.screenshot(path=str(RESULTS / f"{notebook.stem}-w{k}-{name}.png"))
                assert new["text"] != state["text"], f"{name}: the text did not change"
                assert all(a["digest"] != b["digest"] for a, b in zip(new["images"], state["images"])), \
                    f"{name}: the figure did not change"
                assert [im["size"] for im in new["images"]] == sizes, \
                    f"{name}: the figure changed its displayed size {sizes} -> {[im['size'] for im in new['images']]}"
                assert not new["split"], f"{name}: words broken over two lines: {new['split']}"
                state = new
        assert not page.evaluate(WIDGET_ERRORS_JS), page.evaluate(WIDGET_ERRORS_JS)
        errors = [m for m in console if not any(b in m for b in BENIGN_CONSOLE)]
        assert not errors, f"browser console errors: {errors}"
    finally:
        context.close()
