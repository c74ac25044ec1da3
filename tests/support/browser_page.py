"""Driving the web app's page in a browser (Playwright): shared by tests/serve/test_serve_browser.py
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
    """Click the hint canvas where sketch pixel (x, y) is shown (the image is scaled to fit),
    once it is redrawn: a click on its loading overlay would be lost."""
    page.wait_for_function(
        "() => document.querySelector('#canvas [data-testid=status-tracker]')"
        ".classList.contains('hide')",
        timeout=TIMEOUT_MS,
    )
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


def set_hint_colour(page, hex_colour: str, picker: str = "#hint-color") -> None:
    """Type a colour into a colour picker's dialog (the dots' colour, or a palette swatch)."""
    page.click(f"{picker} button.dialog-button")
    field = page.locator(f"{picker} .input-wrap input")
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
    """Upload the sketch at `path` and wait for its first colorized output."""
    page.locator("#sketch input[type=file]").set_input_files(str(path))
    page.wait_for_function(
        "() => !document.querySelector('#latency').innerText.includes('Upload a sketch')"
        " && document.querySelector('#output img')",
        timeout=TIMEOUT_MS,
    )


def show_dots(page) -> None:
    """Open the Dots tab and wait for its canvas to show the sketch."""
    show_tab(page, "Dots")
    page.wait_for_selector("#canvas img", timeout=TIMEOUT_MS)


def add_hint(page, x: int, y: int, hex_colour: str, count: int) -> None:
    """Click a hint label of `hex_colour` at sketch pixel (x, y); `count` labels after it."""
    show_dots(page)
    set_hint_colour(page, hex_colour)
    click_sketch_pixel(page, x, y)
    wait_for_labels(page, count)


# ----------------------------------------------------------------------------- brush strokes


def show_tab(page, name: str) -> None:
    """Open the hint tab `name` ("Brush strokes" or "Dots")."""
    page.get_by_role("tab", name=name).click()


def editor_point(page, x: float, y: float, size: tuple[int, int]) -> tuple[float, float]:
    """Where sketch pixel (x, y) of a (width, height) sketch is on the brush canvas: Gradio's
    editor fits the image inside the canvas less 30 px each side, centred (its zoom shows)."""
    box = page.locator("#strokes canvas").first.bounding_box()
    width, height = size
    scale = min((box["width"] - 60) / width, (box["height"] - 60) / height)
    zoom = float(page.locator("#strokes .zoom-number").inner_text().strip().rstrip("%"))
    assert abs(100 * scale - zoom) < 1, (scale, zoom)  # the fit we assume is the one shown
    left = box["x"] + (box["width"] - width * scale) / 2
    top = box["y"] + (box["height"] - height * scale) / 2
    return left + (x + 0.5) * scale, top + (y + 0.5) * scale


def set_brush_colour(page, hex_colour: str) -> None:
    """The brush's colour, typed into its colour picker."""
    page.locator("#strokes button[aria-label=Color]").click()
    page.locator("#strokes .swatch-wrap button").first.click()  # the custom colour picker
    field = page.locator("#strokes .color_picker input[type=text]")
    field.fill(hex_colour)
    field.press("Enter")
    page.locator("#strokes button[aria-label=Brush]").click()  # closes the menu, brush on


def paint_stroke(page, points: list[tuple[float, float]], size: tuple[int, int],
                 hex_colour: str | None = None) -> None:  # fmt: skip
    """Drag the mouse through sketch pixels `points` on the brush canvas (the brush tool on)."""
    show_tab(page, "Brush strokes")
    page.wait_for_selector("#strokes canvas", timeout=TIMEOUT_MS)
    if hex_colour:
        set_brush_colour(page, hex_colour)
    page.locator("#strokes button[aria-label=Brush]").click()
    screen = [editor_point(page, x, y, size) for x, y in points]
    page.mouse.move(*screen[0], steps=5)  # the editor draws only once the pointer is over it
    page.mouse.down()
    for point in screen[1:]:
        page.mouse.move(*point, steps=10)
    page.mouse.up()


def wait_for_latency(page, text: str, previous: str | None) -> str:
    """Wait until the latency line says `text` and the output is a new image; its src."""
    page.wait_for_function(
        """([text, previous]) => {
            const line = document.querySelector('#latency').innerText;
            const img = document.querySelector('#output img');
            return line.includes(text) && img && img.src !== previous;
        }""",
        arg=[text, previous],
        timeout=TIMEOUT_MS,
    )
    page.wait_for_load_state("networkidle")
    return page.locator("#output img").get_attribute("src")


def swatch_colours(page) -> list[str]:
    """The 9 palette swatches' colours as '#rrggbb'."""
    styles = page.locator("[id^=swatch-] button.dialog-button").evaluate_all(
        "buttons => buttons.map(b => getComputedStyle(b).backgroundColor)"
    )
    return ["#" + "".join(f"{int(v):02x}" for v in style[4:-1].split(",")[:3]) for style in styles]
