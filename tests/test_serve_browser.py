"""The page in a real browser (Playwright driving Debian's Chromium): digits drawn with the
mouse are read, a touch stroke draws, a photo of a number is read, the keyboard alone works,
and axe-core finds no serious or critical accessibility violation. Screenshots go to
``tests/artifacts/`` (git-ignored). Skipped without Chromium or Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api")
uvicorn = pytest.importorskip("uvicorn")

from digitnet.apps.serve import create_app  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt install chromium)")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from conftest import SHARED_MNIST

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # samples and the personal model in the test's own folder, never the user's
    app = create_app(
        samples=tmp_path_factory.mktemp("store") / "s.sqlite",
        data_dir=os.environ.get("DIGITNET_DATA_DIR") or SHARED_MNIST,
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    end = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < end, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1200, "height": 900}, has_touch=True)
    page = context.new_page()
    page.goto(server)
    yield page
    context.close()


def answer_state(page, selector: str = "#answer") -> tuple[str, str | None]:
    """Wait for the reading to settle (no request in flight); return the text and
    the number read."""
    page.wait_for_timeout(50)
    page.wait_for_function("!window.fetchesInFlight || window.fetchesInFlight() === 0")
    el = page.locator(selector)
    return el.inner_text(), el.get_attribute("data-number")


def draw_digit(page, image: np.ndarray) -> None:
    """Trace a 28x28 digit on the canvas with the mouse: one stroke per run of ink along
    each pair of rows (the brush, 2 MNIST pixels wide, covers both)."""
    box = page.locator("#pad").bounding_box()
    k = box["width"] / 28
    ink = image > 100
    for y in range(0, 28, 2):
        row = ink[y] | ink[min(y + 1, 27)]
        starts = np.flatnonzero(row & ~np.r_[False, row[:-1]])
        ends = np.flatnonzero(row & ~np.r_[row[1:], False])
        for a, b in zip(starts, ends, strict=True):
            page.mouse.move(box["x"] + (a + 0.5) * k, box["y"] + (y + 1) * k)
            page.mouse.down()
            page.mouse.move(box["x"] + (b + 0.5) * k, box["y"] + (y + 1) * k)
            page.mouse.up()


@pytest.mark.mnist
def test_twenty_mnist_digits_drawn_with_the_mouse_are_read(page, mnist):
    """20 MNIST test digits (the first two of each class), traced with the mouse: at least
    19 read right; the page shows the ten bars and the 28x28 input."""
    labels = np.asarray(mnist.test.labels)
    picks = [int(i) for d in range(10) for i in np.flatnonzero(labels == d)[:2]]
    right = 0
    for n, i in enumerate(picks):
        page.keyboard.press("Escape")
        draw_digit(page, mnist.test.images[i])
        text, number = answer_state(page)
        right += number == str(labels[i])
        if n == 0:
            assert page.locator("#bars li").count() == 10
            assert page.locator("#inputs canvas").count() == 1
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "serve-drawn-digit.png"))
    print(f"{right} of 20 drawn MNIST digits read right")
    assert right >= 19, f"{right} of 20 read right"


def test_a_touch_stroke_draws_and_an_empty_canvas_says_so(page):
    assert answer_state(page)[0] == "Draw a digit"
    assert page.locator("#pad").evaluate("e => getComputedStyle(e).touchAction") == "none"
    box = page.locator("#pad").bounding_box()
    cdp = page.context.new_cdp_session(page)
    x0, y0 = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.15

    def touch(kind: str, y: float) -> None:
        points = [] if kind == "touchEnd" else [{"x": x0, "y": y, "id": 1}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", y0)
    for k in range(1, 15):
        touch("touchMove", y0 + k * box["height"] * 0.05)
    touch("touchEnd", 0)
    text, number = answer_state(page)
    assert number == "1", text
    page.keyboard.press("Control+z")
    assert answer_state(page)[0] == "Draw a digit"


def test_a_photo_of_a_number_is_read(page, tmp_path):
    from photo_helpers import mnist_style_digits, number_photo

    images, labels = mnist_style_digits()
    pick = [0, 1, 2, 4]
    path = tmp_path / "number.jpg"
    number_photo(images[pick], 7, touching=0).convert("RGB").save(path, quality=90)
    page.set_input_files("#file", str(path))
    page.wait_for_function("document.getElementById('photo-answer').dataset.number")
    assert page.locator("#photo-answer").get_attribute("data-number") == "".join(
        str(labels[i]) for i in pick
    )
    assert page.locator("#photo-view .box").count() == 4
    assert page.locator("#photo-inputs canvas").count() == 4
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve-photo.png"), full_page=True)


@pytest.mark.mnist
def test_kept_samples_adapt_a_personal_model_and_it_reads(page, mnist_dir):
    """ "That's wrong, it is a ..." keeps the drawing; "Adapt to my handwriting" makes the
    personal model from the kept samples, switches to it and reads the drawing again."""
    assert page.locator("#adapt").is_disabled()  # nothing kept yet
    for digit in ("1", "7"):
        page.get_by_role("button", name=f"Draw an example {digit}").click()
        answer_state(page)
        page.select_option("#truth", digit)
        page.get_by_role("button", name="Keep as a sample").click()
        page.wait_for_function(
            f"document.getElementById('kept').textContent.startsWith('Kept as a {digit}')"
        )
    page.get_by_role("button", name="Adapt to my handwriting").click()
    page.wait_for_function(
        "document.getElementById('adapted').textContent.includes('Reading with your model')",
        timeout=120_000,
    )
    assert page.locator('input[name="which"][value="personal"]').is_checked()
    assert "Adapted" in page.locator("#facts").inner_text()
    assert answer_state(page)[1] == "7"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve-adapted.png"), full_page=True)
    page.get_by_label("the base model").check()  # and back
    page.wait_for_function("!document.getElementById('facts').textContent.includes('Adapted')")


def test_the_keyboard_alone_works(page):
    """Tab to an example button, Enter draws and reads it; Escape clears; the focused
    control shows a focus ring."""
    for _ in range(30):
        page.keyboard.press("Tab")
        if (
            page.evaluate("document.activeElement.getAttribute('aria-label')")
            == "Draw an example 7"
        ):
            break
    else:
        pytest.fail("the example buttons cannot be reached with Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")
    assert answer_state(page)[1] == "7"
    page.keyboard.press("Escape")
    assert answer_state(page)[0] == "Draw a digit"


def test_no_serious_accessibility_violations(page):
    axe_module = pytest.importorskip("axe_playwright_python.sync_playwright")
    page.get_by_role("button", name="Draw an example 3").click()
    answer_state(page)
    results = axe_module.Axe().run(page)
    bad = [
        v["id"]
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
    assert bad == [], bad
