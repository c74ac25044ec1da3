"""Retake docs/ui.png on trained runs: a val sketch, brush strokes painted on it in its truth's
colours, flat colours on, the region map, and what the model made of them.

Serves the runs (by default the quickstart's hints and palette runs: `sketchcolor quickstart`
first), uploads the sketch half of a val pair, paints one short stroke inside each of the
largest regions its lines close (up to `--strokes`), in the colour half's colour there,
takes the palette from the colour half when the first run takes one, turns "Flat colours" on,
shows the regions and photographs the page. Needs Playwright and Debian's chromium, as the
browser tests do.

Usage:
    python docs/ui_screenshot.py quickstart [--pair 0] [--strokes 6] [--out docs/ui.png]
    python docs/ui_screenshot.py --run runs/m1-mixed --pairs openmoji-pairs --data openmoji-shards
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.support.browser_page import (  # noqa: E402
    TIMEOUT_MS,
    chromium_path,
    open_app,
    paint_stroke,
    upload_sketch,
    wait_for_latency,
)
from tests.support.processes import free_port  # noqa: E402


def region_points(truth: np.ndarray, sketch: np.ndarray, count: int) -> list[tuple[int, int, str]]:
    """(x, y, "#rrggbb"): the deepest point of each region the sketch's lines close (not the
    one around the picture), in the truth's colour there (not white or black), the largest
    regions first."""
    from scipy import ndimage

    from sketchcolor.data.regions import line_mask, segment_regions

    lines = line_mask(sketch)
    regions = segment_regions(lines)
    edges = np.concatenate([regions[0], regions[-1], regions[:, 0], regions[:, -1]])
    sizes = np.bincount(regions.ravel())
    points = []
    for region in np.argsort(sizes)[::-1]:
        if region == 0 or region in edges or sizes[region] < 200:
            continue
        depth = ndimage.distance_transform_edt((regions == region) & ~lines)
        y, x = np.unravel_index(np.argmax(depth), depth.shape)
        if truth[y, x].min() >= 235 or truth[y, x].max() <= 30:
            continue  # the white ground and the black lines: nothing to paint
        points.append((int(x), int(y), "#{:02x}{:02x}{:02x}".format(*truth[y, x])))
    return points[:count]


def stroke_through(truth: np.ndarray, x: int, y: int, reach: int = 16) -> list | None:
    """A short horizontal stroke through (x, y), [(x, y), ...], that stays where the truth
    keeps (x, y)'s colour with the brush (the app's: 1/32 of the shorter side across) clear
    of the region's edge; None where the region is too thin for it."""
    clear = max(2, round(min(truth.shape[:2]) / 64)) + 3
    same = np.abs(truth.astype(int) - truth[y, x].astype(int)).max(axis=2) <= 6
    free = same[y - clear : y + clear + 1].all(axis=0)  # columns with room above and below
    if y < clear or not free[x]:
        return None
    left = right = x
    while left - 1 >= 0 and free[left - 1] and x - left < reach + clear:
        left -= 1
    while right + 1 < len(free) and free[right + 1] and right - x < reach + clear:
        right += 1
    return [(min(x, left + clear), y), (x, y), (max(x, right - clear), y)]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("quickstart", type=Path, nargs="?",
                        help="the folder `sketchcolor quickstart` wrote (its runs, pairs, shards)")  # fmt: skip
    parser.add_argument("--run", type=Path, action="append", help="a run to serve (repeat)")
    parser.add_argument("--pairs", type=Path, help="a pair folder (data/val/*.png)")
    parser.add_argument("--data", type=Path, help="shards for the page's val examples")
    parser.add_argument("--pair", type=int, default=0, help="which val pair (sorted by name)")
    parser.add_argument("--strokes", type=int, default=6, help="strokes to paint, at most")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "ui.png")
    args = parser.parse_args()
    if args.quickstart is not None:
        args.run = args.run or [args.quickstart / "runs" / f"model-1-{control}"
                                for control in ("hints", "palette")]  # fmt: skip
        args.pairs = args.pairs or args.quickstart / "synth"
        args.data = args.data or args.quickstart / "shards"
    if not args.run or args.pairs is None:
        parser.error("give a quickstart folder, or --run and --pairs")
    return args


def photograph(page, sketch_file: Path, truth_file: Path, points: list, size: tuple[int, int],
               out: Path) -> None:  # fmt: skip
    """Upload, paint, take the palette, flatten, show the regions, photograph."""
    upload_sketch(page, sketch_file)
    previous = page.locator("#output img").get_attribute("src")
    if page.locator("#swatch-0").count():  # the run takes a palette: the truth's
        page.get_by_text("Palette files and reference images").click()
        page.locator("#palette-reference input[type=file]").set_input_files(str(truth_file))
        page.get_by_role("button", name="Take its 9 colours").click()
        previous = wait_for_latency(page, "with", previous)
        page.get_by_text("Palette files and reference images").click()  # closed again
    takes_hints = page.get_by_role("tab", name="Brush strokes").is_visible()
    truth = np.asarray(Image.open(truth_file).convert("RGB"))
    for x, y, colour in points if takes_hints else []:
        if (stroke := stroke_through(truth, x, y)) is not None:
            paint_stroke(page, stroke, size, colour)
            previous = wait_for_latency(page, "brush strokes", previous)
    page.locator("#flat input").check()
    wait_for_latency(page, "flat colours", previous)
    page.click("#show-regions")
    page.wait_for_selector("#regions img", timeout=TIMEOUT_MS)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(out), full_page=True)


def main() -> None:
    args = parse_args()
    from playwright.sync_api import sync_playwright

    from sketchcolor.serve.app import ServeConfig, start

    pairs = sorted((args.pairs / "data" / "val").glob("*.png"))
    with Image.open(pairs[args.pair]) as image:
        pair = np.asarray(image.convert("RGB"))
    half = pair.shape[1] // 2
    truth, sketch = pair[:, :half], pair[:, half:]
    points = region_points(truth, sketch, args.strokes)
    executable = chromium_path()
    if executable is None:
        raise SystemExit("ui_screenshot.py: no chromium executable (apt-get install chromium)")

    port = free_port()
    app = start(ServeConfig(runs=args.run, data=args.data, device="cpu", port=port), block=False)
    try:
        with tempfile.TemporaryDirectory() as scratch, sync_playwright() as playwright:
            sketch_file, truth_file = Path(scratch) / "sketch.png", Path(scratch) / "truth.png"
            Image.fromarray(sketch).save(sketch_file)
            Image.fromarray(truth).save(truth_file)
            browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
            page = open_app(browser, f"http://127.0.0.1:{port}/")
            size = (sketch.shape[1], sketch.shape[0])
            photograph(page, sketch_file, truth_file, points, size, args.out)
            browser.close()
    finally:
        app.close()
    print(f"ui_screenshot.py: {args.out} ({pairs[args.pair].name}, {len(points)} strokes)")


if __name__ == "__main__":
    main()
