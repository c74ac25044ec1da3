"""The web app as an artist uses it, in a real browser: brush strokes on a val sketch, flat
colours and the region map, the layered file (read back by ImageMagick), hex palettes and
palette files, several sketches into a zip.

Uses the shared `serve_url` (the two 2-step runs) and `browser` fixtures of tests/conftest.py;
skipped, with the reason, where Playwright or chromium is missing.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

from sketchcolor.data.regions import line_mask, segment_regions
from sketchcolor.inference.colorize import colorize
from tests.support.browser_page import (
    TIMEOUT_MS,
    fetch_image,
    open_app,
    paint_stroke,
    set_hint_colour,
    swatch_colours,
    upload_sketch,
    wait_for_latency,
)
from tests.support.magick import magick_rgba, needs_magick, psd_layers_by_magick

STROKE = "#2060ff"


@pytest.fixture(scope="module")
def val_sketch(shard_dir, tmp_path_factory) -> Path:
    """The first val sketch the app shows as an example (256 px, the runs' size)."""
    from sketchcolor.serve.app import val_examples

    return Path(val_examples(shard_dir, 256, 1)[0])


def inner_region(regions: np.ndarray, lines: np.ndarray) -> tuple[int, int, int, float]:
    """(region, x, y, radius): the region not touching the border with the widest free disk
    inside it, and that disk's centre and radius."""
    border = set(np.unique(np.concatenate([regions[0], regions[-1], regions[:, 0],
                                           regions[:, -1]])).tolist())  # fmt: skip
    best = (0, 0, 0, 0.0)
    for region in range(1, int(regions.max()) + 1):
        if region in border:
            continue
        depth = ndimage.distance_transform_edt((regions == region) & ~lines)
        y, x = np.unravel_index(np.argmax(depth), depth.shape)
        if depth[y, x] > best[3]:
            best = (region, int(x), int(y), float(depth[y, x]))
    return best


def distance_to_segment(shape, start, end) -> np.ndarray:
    """(H, W) distance of every pixel to the segment start-end ((x, y) points)."""
    ys, xs = np.mgrid[: shape[0], : shape[1]]
    (x0, y0), (x1, y1) = start, end
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((xs - x0) * dx + (ys - y0) * dy) / max(dx * dx + dy * dy, 1e-9), 0, 1)
    return np.hypot(xs - (x0 + t * dx), ys - (y0 + t * dy))


def colours_per_region(image: np.ndarray, regions: np.ndarray, white: np.ndarray) -> dict:
    """{region: set of colours} over the pixels where the sketch is pure white (no line, not
    even a faint one, so the lines drawn over flat colours do not count)."""
    found: dict[int, set] = {}
    for region, colour in zip(regions[white], image[white].astype(int), strict=True):
        found.setdefault(int(region), set()).add(tuple(colour))
    return found


def test_a_stroke_steers_its_region_flat_colours_fill_it_and_the_regions_show(
    browser, serve_url, val_sketch
):
    page = open_app(browser, serve_url)
    upload_sketch(page, val_sketch)
    before_src = wait_for_latency(page, "0 hint label(s)", None)
    before = fetch_image(page, before_src)
    sketch = np.asarray(Image.open(val_sketch).convert("RGB"))
    height, width = sketch.shape[:2]
    lines = line_mask(sketch)
    regions = segment_regions(lines)
    region, x, y, radius = inner_region(regions, lines)
    assert radius >= 15, radius  # room for a stroke inside one region
    start, end = (x - 0.6 * radius, y), (x + 0.6 * radius, y)

    paint_stroke(page, [start, (x, y), end], (width, height), STROKE)
    after_src = wait_for_latency(page, "brush strokes", before_src)
    after = fetch_image(page, after_src)
    change = np.abs(after - before).mean(axis=-1)  # (H, W) in 8-bit levels
    distance = distance_to_segment((height, width), start, end)
    near, far = change[distance <= 12].mean(), change[distance >= 48].mean()
    assert near > 2.0, near
    assert near > 3 * far, (near, far)

    # Flat colours: one colour per region, the stroke's where it was painted.
    page.locator("#flat input").check()
    flat = fetch_image(page, wait_for_latency(page, "flat colours", after_src))
    white = (sketch == 255).all(axis=-1)
    found = colours_per_region(flat, regions, white)
    assert len(found) >= 10  # most regions have pure white pixels to look at
    assert all(len(colours) == 1 for colours in found.values()), found
    assert found[region] == {(0x20, 0x60, 0xFF)}

    # The region map: each region one colour, no two regions the same.
    page.click("#show-regions")
    page.wait_for_selector("#regions img", timeout=TIMEOUT_MS)
    page.wait_for_load_state("networkidle")
    shown = fetch_image(page, page.locator("#regions img").get_attribute("src"))
    colours = colours_per_region(shown, regions, white)
    assert all(len(colour) == 1 for colour in colours.values()), colours
    assert len({next(iter(colour)) for colour in colours.values()}) == len(colours)
    assert f"Regions: {regions.max()}" in page.locator("#regions").inner_text()
    page.close()


@needs_magick
def test_the_layered_file_download_reads_back_and_composites_to_the_flat_picture(
    browser, serve_url, val_sketch, tmp_path
):
    pytest.importorskip("psd_tools", reason="PSD needs the layers extra")
    page = open_app(browser, serve_url)
    upload_sketch(page, val_sketch)
    first = wait_for_latency(page, "0 hint label(s)", None)
    sketch = np.asarray(Image.open(val_sketch).convert("RGB"))
    lines = line_mask(sketch)
    _, x, y, _ = inner_region(segment_regions(lines), lines)
    hints = page.locator("#hints textarea")
    hints.fill(json.dumps([{"x": x, "y": y, "color": STROKE}]))
    hints.press("Enter")
    page.locator("#flat input").check()
    flat = fetch_image(page, wait_for_latency(page, "1 hint label(s), flat colours", first))

    page.click("#make-layers")
    page.wait_for_selector("#layers-file a", timeout=TIMEOUT_MS)
    link = page.locator("#layers-file a").first
    assert f"{val_sketch.stem}-layers\n.psd" in page.locator("#layers-file").inner_text()
    path = tmp_path / "page.psd"
    path.write_bytes(page.request.get(link.get_attribute("href")).body())
    size = sketch.shape[:2]
    read = {layer["name"]: magick_rgba(f"{path}[{layer['index']}]", size=size)
            for layer in psd_layers_by_magick(path)}  # fmt: skip
    assert list(read)[::-1] == ["hints", "line art", "flat colours", "shaded (network output)"]
    composite = magick_rgba(str(path), "-delete", "0", "-background", "none", "-layers",
                            "flatten", size=size)  # fmt: skip
    assert np.abs(composite[..., :3] - flat).max() <= 1  # the page's flat picture, within 1/255
    assert read["hints"][y, x, 3] == 255 and tuple(read["hints"][y, x, :3]) == (0x20, 0x60, 0xFF)
    np.testing.assert_array_equal(read["line art"][..., 3], 255 - sketch.min(axis=2))
    page.close()


def choose_run(page, name: str) -> None:
    page.click("#run input")
    page.get_by_role("option", name=name).click()
    page.wait_for_selector("#swatch-0", timeout=TIMEOUT_MS)


def type_palette(page, text: str) -> None:
    field = page.locator("#palette-text textarea")
    field.fill(text)
    field.press("Enter")


def download_palette(page, target: Path, name: str, seconds: float = 120) -> Path:
    """The palette download, once the button holds the file written after the name was typed.

    The page writes that file in the background, on the name's change event; on a loaded
    machine the answer can lag the click (once in CI it had not come after 20 tries), so each
    try types the name again, firing the event anew, until a deadline rather than a count.
    """
    deadline = time.monotonic() + seconds
    field = page.locator("#palette-name textarea")
    while True:
        with page.expect_download(timeout=TIMEOUT_MS) as download:
            page.click("#palette-download")
        download.value.save_as(target)
        if json.loads(target.read_text())["name"] == name or time.monotonic() > deadline:
            return target
        field.fill("")
        field.fill(name)
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(500)


def test_hex_palettes_and_palette_files(browser, serve_url, tmp_path):
    page = open_app(browser, serve_url, accept_downloads=True)
    choose_run(page, "palette")
    type_palette(page, "#112233, #445566 #FF0000")
    expected = ["#112233", "#445566", "#ff0000"] * 3  # 3 colours fill the 9 in order
    page.wait_for_function("() => document.querySelector('#swatch-0 button.dialog-button')"
                           ".style.background === 'rgb(17, 34, 51)'", timeout=TIMEOUT_MS)  # fmt: skip
    page.wait_for_load_state("networkidle")
    assert swatch_colours(page) == expected
    # A swatch picked by hand shows in the text.
    set_hint_colour(page, "#00aa55", picker="#swatch-4")
    expected[4] = "#00aa55"
    page.wait_for_function("() => document.querySelector('#palette-text textarea').value"
                           ".includes('#00aa55')", timeout=TIMEOUT_MS)  # fmt: skip
    assert page.locator("#palette-text textarea").input_value() == ", ".join(expected)

    type_palette(page, "#112233, #12345")
    toast = page.get_by_test_id("toast-text").first
    toast.wait_for(timeout=TIMEOUT_MS)
    assert toast.inner_text().strip() == "'#12345' is not a colour like #ff8800"
    assert swatch_colours(page) == expected  # nothing changed

    page.get_by_text("Palette files and reference images").click()
    page.locator("#palette-name textarea").fill("autumn")
    saved = download_palette(page, tmp_path / "saved.json", "autumn")
    assert json.loads(saved.read_text()) == {"name": "autumn", "colors": expected}

    (tmp_path / "sea.json").write_text(
        json.dumps({"name": "sea", "colors": ["#003366", "#66CCFF"]})
    )
    page.locator("#palette-upload input[type=file]").set_input_files(str(tmp_path / "sea.json"))
    page.wait_for_function("() => document.querySelector('#palette-name textarea').value"
                           " === 'sea'", timeout=TIMEOUT_MS)  # fmt: skip
    page.wait_for_load_state("networkidle")
    assert swatch_colours(page) == ["#003366", "#66ccff"] * 4 + ["#003366"]
    assert page.locator("#palette-text textarea").input_value().startswith("#003366, #66ccff")
    page.close()


def write_sketch(path: Path, size: tuple[int, int]) -> Path:
    image = Image.new("L", size, 255)
    ImageDraw.Draw(image).ellipse((10, 10, size[0] - 10, size[1] - 10), outline=0, width=3)
    image.save(path)
    return path


def test_several_sketches_and_a_folder_become_a_zip_of_pngs(
    browser, serve_url, served_runs, tmp_path
):
    sketches = [write_sketch(tmp_path / f"{name}.png", size)
                for name, size in (("cat", (120, 90)), ("dog", (200, 160)), ("owl", (64, 64)))]  # fmt: skip
    folder = tmp_path / "folder"
    folder.mkdir()
    sketches.append(write_sketch(folder / "fox.png", (100, 140)))
    (folder / "notes.txt").write_text("not a sketch: left out")
    page = open_app(browser, serve_url)
    page.get_by_text("Several sketches at once").click()
    page.locator("#batch-files input[type=file]").set_input_files([str(p) for p in sketches[:3]])
    page.locator("#batch-folder input[type=file]").set_input_files(str(folder))
    for name in ("#batch-files [aria-label='owl.png']", "#batch-folder [aria-label='fox.png']"):
        page.wait_for_selector(name, timeout=TIMEOUT_MS)
    page.click("#batch-colorize")
    page.wait_for_function("() => document.querySelector('#batch-status').innerText"
                           ".includes('4 sketch(es)')", timeout=TIMEOUT_MS)  # fmt: skip
    link = page.locator("#batch-zip a").first.get_attribute("href")
    with zipfile.ZipFile(io.BytesIO(page.request.get(link).body())) as archive:
        names = archive.namelist()
        images = {name: Image.open(io.BytesIO(archive.read(name))) for name in names}
    assert names == ["cat-colorized.png", "dog-colorized.png", "owl-colorized.png",
                     "fox-colorized.png"]  # fmt: skip
    assert sketches  # a loop over nothing would pass
    for path in sketches:
        image = images[f"{path.stem}-colorized.png"]
        assert image.format == "PNG" and image.size == Image.open(path).size
    # What `sketchcolor colorize` writes for the same sketch (no hints drawn on the page).
    (expected,) = colorize(sketches[0], served_runs["hints"], tmp_path / "cli.png", device="cpu")
    assert np.array_equal(np.asarray(images["cat-colorized.png"].convert("RGB")),
                          np.asarray(Image.open(expected).convert("RGB")))  # fmt: skip

    (tmp_path / "broken.png").write_bytes(b"\x89PNG broken")
    page.locator("#batch-files input[type=file]").set_input_files(
        [str(sketches[0]), str(tmp_path / "broken.png")]
    )
    page.wait_for_selector("#batch-files [aria-label='broken.png']", timeout=TIMEOUT_MS)
    page.click("#batch-colorize")
    toast = page.get_by_test_id("toast-text").first
    toast.wait_for(timeout=TIMEOUT_MS)
    assert toast.inner_text().strip() == "broken.png: cannot read sketch (not an image)"
    page.close()
