"""Retake docs/ui.png on trained runs: a val sketch, hint labels clicked in its truth's colours,
and what the model made of them.

Serves the quickstart's hints and palette runs (`sketchcolor quickstart` first), uploads the
sketch half of a val pair, clicks one hint label on each flat colour region of the colour half
(up to `--hints`), waits for the output and photographs the page. Needs Playwright and Debian's
chromium, as the browser test does.

Usage: python docs/ui_screenshot.py quickstart [--pair 0] [--hints 6] [--out docs/ui.png]
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
    add_hint,
    chromium_path,
    open_app,
    upload_sketch,
    wait_for_output,
)
from tests.conftest import free_port  # noqa: E402


def flat_region_points(truth: np.ndarray, count: int, step: int = 24) -> list[tuple[int, int, str]]:
    """(x, y, "#rrggbb") at the centres of flat 9x9 windows, one per distinct colour, the largest
    regions first (by how many grid points share the colour)."""
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
        points.append((x, y, "#{:02x}{:02x}{:02x}".format(*truth[y, x])))
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("quickstart", type=Path, help="the folder `sketchcolor quickstart` wrote")
    parser.add_argument("--pair", type=int, default=0, help="which val pair (sorted by name)")
    parser.add_argument("--hints", type=int, default=6, help="hint labels to click, at most")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "ui.png")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from sketchcolor.serve import ServeConfig, start

    runs = [args.quickstart / "runs" / f"model-1-{control}" for control in ("hints", "palette")]
    pairs = sorted((args.quickstart / "synth" / "data" / "val").glob("*.png"))
    with Image.open(pairs[args.pair]) as image:
        pair = np.asarray(image.convert("RGB"))
    half = pair.shape[1] // 2
    truth, sketch = pair[:, :half], pair[:, half:]
    points = flat_region_points(truth, args.hints)
    executable = chromium_path()
    if executable is None:
        raise SystemExit("ui_screenshot.py: no chromium executable (apt-get install chromium)")

    port = free_port()
    app = start(ServeConfig(runs=runs, data=args.quickstart / "shards", device="cpu", port=port),
                block=False)  # fmt: skip
    try:
        with tempfile.TemporaryDirectory() as scratch, sync_playwright() as playwright:
            sketch_file = Path(scratch) / "sketch.png"
            Image.fromarray(sketch).save(sketch_file)
            browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
            page = open_app(browser, f"http://127.0.0.1:{port}/")
            upload_sketch(page, sketch_file)
            for number, (x, y, colour) in enumerate(points, start=1):
                add_hint(page, x, y, colour, count=number)
            wait_for_output(page, len(points), None)
            page.screenshot(path=str(args.out), full_page=True)
            browser.close()
    finally:
        app.close()
    print(f"ui_screenshot.py: {args.out} ({pairs[args.pair].name}, {len(points)} hint labels)")


if __name__ == "__main__":
    main()
