"""Driving the web app's page in a browser (Playwright): shared by tests/test_serve_browser.py
and docs/ui_screenshot.py.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

TIMEOUT_MS = 60_000


def chromium_path() -> str | None:
    """Debian's chromium (or $CHROMIUM), None where there is none."""
    found = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    return found if found and Path(found).exists() else None


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


def open_app(browser, url: str, **page_options):
    """A page of the app at `url` (1280 x 1100), once its sketch upload is there."""
    page = browser.new_page(viewport={"width": 1280, "height": 1100}, **page_options)
    page.goto(url)
    page.wait_for_selector("#sketch input[type=file]", state="attached", timeout=TIMEOUT_MS)
    return page


def upload_sketch(page, path: Path) -> None:
    """Upload the sketch at `path` and wait for the hint canvas to show it."""
    page.locator("#sketch input[type=file]").set_input_files(str(path))
    page.wait_for_selector("#canvas img", timeout=TIMEOUT_MS)


def add_hint(page, x: int, y: int, hex_colour: str, count: int) -> None:
    """Click a hint label of `hex_colour` at sketch pixel (x, y); `count` labels after it."""
    set_hint_colour(page, hex_colour)
    click_sketch_pixel(page, x, y)
    wait_for_labels(page, count)
