"""The web app in a real browser (Debian's chromium via Playwright): upload, hints, download.

Saves a screenshot of the app in the test's temporary folder (docs/ui.png comes from
docs/ui_screenshot.py, on trained runs). Skipped, with the reason, where Playwright or a chromium
executable is missing (the `browser` fixture, tests/conftest.py). Strokes, flat colours,
palettes and several files: tests/serve/test_serve_artist.py. A reference run with an uploaded
reference picture: the last test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sketchcolor.data.controls.reference import reference_colors
from tests.inference.test_reference_colorize import BOXES, write_frame, write_reference
from tests.support.browser_page import (
    TIMEOUT_MS,
    add_hint,
    fetch_image,
    hint_labels,
    open_app,
    upload_sketch,
    wait_for_labels,
    wait_for_latency,
    wait_for_output,
)
from tests.support.processes import free_port
from tests.support.runs import train_tiny_run

SKETCH_SIZE = (320, 256)  # width, height: not square, so coordinates are checked both ways
HINT_A, HINT_B = (80, 90), (230, 170)  # (x, y) in sketch pixels


def write_sketch(path: Path) -> Path:
    """Dark outlines on white: two shapes, one under each hint."""
    image = Image.new("L", SKETCH_SIZE, 255)
    draw = ImageDraw.Draw(image)
    draw.ellipse((30, 40, 140, 150), outline=0, width=3)
    draw.rectangle((180, 110, 290, 230), outline=0, width=3)
    draw.line((10, 240, 310, 200), fill=0, width=2)
    image.save(path)
    return path


def window(image: np.ndarray, x: int, y: int, radius: int = 6) -> np.ndarray:
    return image[y - radius : y + radius, x - radius : x + radius]


def test_upload_hints_download_and_recolour(browser, serve_url, tmp_path):
    page = open_app(browser, serve_url, accept_downloads=True)
    assert "colour control hints" in page.locator("#run-info").inner_text()
    upload_sketch(page, write_sketch(tmp_path / "sketch.png"))

    add_hint(page, *HINT_A, "#ff0000", count=1)
    add_hint(page, *HINT_B, "#0000ff", count=2)
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
    add_hint(page, *HINT_B, "#00ff00", count=2)
    assert hint_labels(page)[1] == {"x": HINT_B[0], "y": HINT_B[1], "color": "#00ff00"}
    second = fetch_image(page, wait_for_output(page, 2, first_src))
    changed_at_b = np.abs(window(second, *HINT_B) - window(first, *HINT_B)).mean()
    changed_at_a = np.abs(window(second, *HINT_A) - window(first, *HINT_A)).mean()
    assert changed_at_b > 1.0, changed_at_b  # mean 8-bit levels
    assert changed_at_b > 2 * changed_at_a, (changed_at_b, changed_at_a)

    screenshot = tmp_path / "ui.png"
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


@pytest.fixture(scope="module")
def reference_url(shard_dir, served_runs, tmp_path_factory):
    """`sketchcolor serve` on a tiny reference run and the hints run."""
    pytest.importorskip("gradio", reason="the web app needs the ui extra: pip install -e '.[ui]'")
    from sketchcolor.serve.app import ServeConfig, start

    run = train_tiny_run(shard_dir, tmp_path_factory.mktemp("served") / "reference", "R",
                         "reference")  # fmt: skip
    port = free_port()
    app = start(ServeConfig(runs=[run, served_runs["hints"]], port=port, device="cpu"),
                block=False)  # fmt: skip
    yield f"http://127.0.0.1:{port}/"
    app.close()


def test_a_reference_run_colours_from_an_uploaded_reference(browser, reference_url, tmp_path):
    page = open_app(browser, reference_url)
    assert "colour control reference" in page.locator("#run-info").inner_text()
    assert page.locator("#reference").is_visible() and page.locator("#hints").is_visible()
    page.locator("#sketch input[type=file]").set_input_files(str(write_frame(tmp_path / "s.png")))
    page.wait_for_function(
        "() => document.querySelector('#latency').innerText.includes('Upload a reference')",
        timeout=TIMEOUT_MS,
    )
    reference = write_reference(tmp_path / "key.png", (300, 200))  # another size and shape
    page.locator("#reference input[type=file]").set_input_files(str(reference))
    first = wait_for_latency(page, "from the reference", None)
    page.locator("#flat input").check()
    flat = fetch_image(page, wait_for_latency(page, "from the reference, flat colours", first))
    assert flat.shape == (256, 256, 3)
    allowed = {tuple(int(v) for v in colour)
               for colour in reference_colors(np.asarray(Image.open(reference).convert("RGB")))}  # fmt: skip
    centres = {tuple(int(v) for v in flat[(y0 + y1) // 2, (x0 + x1) // 2])
               for x0, y0, x1, y1 in BOXES}  # fmt: skip
    assert centres <= allowed, (centres, allowed)
    # A hints run: the reference input goes.
    page.click("#run input")
    page.get_by_role("option", name="hints").click()
    page.wait_for_function(
        "() => document.querySelector('#run-info').innerText.includes('control hints')",
        timeout=TIMEOUT_MS,
    )
    assert not page.locator("#reference").is_visible()
    page.close()
