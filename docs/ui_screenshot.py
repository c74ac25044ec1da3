"""Retake docs/ui.png on trained runs: a val sketch, brush strokes painted on it in its truth's
colours, flat colours on, the region map, and what the model made of them.

Serves the runs (by default the quickstart's hints and palette runs: `sketchcolor quickstart`
first), uploads the sketch half of a val pair, paints one short stroke inside each of the
largest flat colour regions of the colour half (up to `--strokes`), in that region's colour,
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
from tests.browser_page import (  # noqa: E402
    TIMEOUT_MS,
    chromium_path,
    open_app,
    paint_stroke,
    upload_sketch,
    wait_for_latency,
)
from tests.conftest import free_port  # noqa: E402


def flat_region_points(truth: np.ndarray, count: int, step: int = 24) -> list[tuple[int, int, str]]:
    """(x, y, "#rrggbb") at the centres of flat 9x9 windows, one per distinct colour (not white
    or black), the largest regions first (by how many grid points share the colour)."""
    found: dict[tuple[int, ...], list[tuple[int, int]]] = {}
    height, width, _ = truth.shape
    for y in range(step // 2, height - 4, step):
        for x in range(step // 2, width - 4, step):
            window = truth[y - 4 : y + 5, x - 4 : x + 5].reshape(-1, 3).astype(int)
            if np.ptp(window, axis=0).max() <= 6:  # flat: no line or edge inside
                found.setdefault(tuple(window[40] // 16), []).append((x, y))
    largest = sorted(found.values(), key=len, reverse=True)[:count]
    points = []
    for places in largest:
        x, y = places[len(places) // 2]
        if truth[y, x].min() >= 235 or truth[y, x].max() <= 30:
            continue  # the white ground and the black lines: nothing to paint
        points.append((x, y, "#{:02x}{:02x}{:02x}".format(*truth[y, x])))
    return points


def stroke_through(truth: np.ndarray, x: int, y: int, reach: int = 14) -> list[tuple[int, int]]:
    """A short horizontal stroke through (x, y) that stays where the truth keeps (x, y)'s
    colour (brush width kept clear of the region's edge)."""
    row = truth[y].astype(int)
    same = np.abs(row - row[x]).max(axis=1) <= 6
    left = right = x
    while left - 1 >= 0 and same[left - 1] and x - left < reach + 6:
        left -= 1
    while right + 1 < len(row) and same[right + 1] and right - x < reach + 6:
        right += 1
    return [(min(x, left + 6), y), (x, y), (max(x, right - 6), y)]


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
    takes_hints = page.get_by_role("tab", name="Brush strokes").is_visible()
    for x, y, colour in points if takes_hints else []:
        paint_stroke(page, stroke_through(np.asarray(Image.open(truth_file)), x, y), size, colour)
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

    from sketchcolor.serve import ServeConfig, start

    pairs = sorted((args.pairs / "data" / "val").glob("*.png"))
    with Image.open(pairs[args.pair]) as image:
        pair = np.asarray(image.convert("RGB"))
    half = pair.shape[1] // 2
    truth, sketch = pair[:, :half], pair[:, half:]
    points = flat_region_points(truth, args.strokes)
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
