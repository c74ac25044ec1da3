"""The web app in a real browser (Debian's chromium via Playwright): upload, hints, download.

Saves a screenshot of the app (to docs/ui.png with SKETCHCOLOR_UPDATE_DOCS=1, else to the test's
temporary folder, so a test run leaves the tree clean). Skipped, with the reason, where Playwright or a
chromium executable is missing.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

DOCS_SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "ui.png"
SKETCH_SIZE = (320, 256)  # width, height: not square, so coordinates are checked both ways
HINT_A, HINT_B = (80, 90), (230, 170)  # (x, y) in sketch pixels
TIMEOUT_MS = 60_000


def chromium_path() -> str | None:
    """Debian's chromium (or $CHROMIUM), None where there is none."""
    found = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    return found if found and Path(found).exists() else None


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                                   "(pip install -e '.[test]')")  # fmt: skip
    executable = chromium_path()
    if executable is None:
        pytest.skip("no chromium executable (apt-get install chromium); the browser test needs it")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


def write_sketch(path: Path) -> Path:
    """Dark outlines on white: two shapes, one under each hint."""
    image = Image.new("L", SKETCH_SIZE, 255)
    draw = ImageDraw.Draw(image)
    draw.ellipse((30, 40, 140, 150), outline=0, width=3)
    draw.rectangle((180, 110, 290, 230), outline=0, width=3)
    draw.line((10, 240, 310, 200), fill=0, width=2)
    image.save(path)
    return path


def click_sketch_pixel(page, x: int, y: int) -> None:
    """Click the hint canvas where sketch pixel (x, y) is shown (the image is scaled to fit)."""
    image = page.locator("#canvas img")
    box = image.bounding_box()
    natural = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    scale = min(box["width"] / natural[0], box["height"] / natural[1])
    left = box["x"] + (box["width"] - natural[0] * scale) / 2  # object-fit: contain
    top = box["y"] + (box["height"] - natural[1] * scale) / 2
    page.mouse.click(left + (x + 0.5) * scale, top + (y + 0.5) * scale)


def hint_labels(page) -> list[dict]:
    text = page.locator("#hints textarea").input_value()
    return json.loads(text) if text.strip() else []


def wait_for_labels(page, count: int) -> None:
    page.wait_for_function(
        f"() => (document.querySelector('#hints textarea').value.match(/\"x\"/g) || []).length"
        f" === {count}",
        timeout=TIMEOUT_MS,
    )


def wait_for_output(page, labels: int, previous: str | None) -> str:
    """Wait until the output shows a new image coloured with `labels` hints; its src."""
    page.wait_for_function(
        """([labels, previous]) => {
            const text = document.querySelector('#latency').innerText;
            const img = document.querySelector('#output img');
            return text.includes(`${labels} hint label(s)`) && img && img.src !== previous;
        }""",
        arg=[labels, previous],
        timeout=TIMEOUT_MS,
    )
    page.wait_for_load_state("networkidle")
    return page.locator("#output img").get_attribute("src")


def fetch_image(page, src: str) -> np.ndarray:
    body = page.request.get(src).body()
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB")).astype(np.float64)


def set_hint_colour(page, hex_colour: str) -> None:
    page.click("#hint-color button.dialog-button")
    field = page.locator("#hint-color .input-wrap input")
    field.fill(hex_colour)
    field.press("Enter")
    page.keyboard.press("Escape")
    page.locator("#run-info").click()  # closes the dialog; the value is committed on close


def window(image: np.ndarray, x: int, y: int, radius: int = 6) -> np.ndarray:
    return image[y - radius : y + radius, x - radius : x + radius]


def test_upload_hints_download_and_recolour(browser, serve_url, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1100}, accept_downloads=True)
    page.goto(serve_url)
    page.wait_for_selector("#sketch input[type=file]", state="attached", timeout=TIMEOUT_MS)
    assert "colour control hints" in page.locator("#run-info").inner_text()
    sketch = write_sketch(tmp_path / "sketch.png")
    page.locator("#sketch input[type=file]").set_input_files(str(sketch))
    page.wait_for_selector("#canvas img", timeout=TIMEOUT_MS)

    set_hint_colour(page, "#ff0000")
    click_sketch_pixel(page, *HINT_A)
    wait_for_labels(page, 1)
    set_hint_colour(page, "#0000ff")
    click_sketch_pixel(page, *HINT_B)
    wait_for_labels(page, 2)
    labels = hint_labels(page)
    assert [(label["x"], label["y"]) for label in labels] == [HINT_A, HINT_B]
    assert [label["color"] for label in labels] == ["#ff0000", "#0000ff"]
    first_src = wait_for_output(page, 2, None)
    first = fetch_image(page, first_src)
    assert first.shape == (SKETCH_SIZE[1], SKETCH_SIZE[0], 3)

    # The canvas shows the labels in their colours where they were clicked.
    canvas = fetch_image(page, page.locator("#canvas img").get_attribute("src"))
    assert np.allclose(canvas[HINT_A[1], HINT_A[0]], (255, 0, 0))
    assert np.allclose(canvas[HINT_B[1], HINT_B[0]], (0, 0, 255))

    with page.expect_download(timeout=TIMEOUT_MS) as download:
        page.click("#download")
    saved = tmp_path / "download.png"
    download.value.save_as(saved)
    with Image.open(saved) as image:
        assert image.format == "PNG" and image.size == SKETCH_SIZE
        assert np.array_equal(np.asarray(image.convert("RGB")), first.astype(np.uint8))

    # Change the second hint's colour: undo it, pick green, click the same place again.
    page.click("#undo")
    wait_for_labels(page, 1)
    set_hint_colour(page, "#00ff00")
    click_sketch_pixel(page, *HINT_B)
    wait_for_labels(page, 2)
    assert hint_labels(page)[1] == {"x": HINT_B[0], "y": HINT_B[1], "color": "#00ff00"}
    second = fetch_image(page, wait_for_output(page, 2, first_src))
    changed_at_b = np.abs(window(second, *HINT_B) - window(first, *HINT_B)).mean()
    changed_at_a = np.abs(window(second, *HINT_A) - window(first, *HINT_A)).mean()
    assert changed_at_b > 1.0, changed_at_b  # mean 8-bit levels
    assert changed_at_b > 2 * changed_at_a, (changed_at_b, changed_at_a)

    update_docs = os.environ.get("SKETCHCOLOR_UPDATE_DOCS") == "1"
    screenshot = DOCS_SCREENSHOT if update_docs else tmp_path / "ui.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert Image.open(screenshot).size[0] >= 800  # the whole page, not an empty capture

    # A palette run: the hint controls go, the swatches come, and the output uses them.
    page.click("#run input")
    page.get_by_role("option", name="palette").click()
    page.wait_for_function(
        "() => document.querySelector('#latency').innerText.includes('with palette')",
        timeout=TIMEOUT_MS,
    )
    assert page.locator("#swatch-0").is_visible()
    assert not page.locator("#hints").is_visible() and not page.locator("#canvas").is_visible()
    assert "colour control palette" in page.locator("#run-info").inner_text()
    page.close()
