"""The web app's canvases without a browser: brush layers as a hints image, the region map, and
a hints image with hint dots on top through the colorize path."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from sketchcolor.data.regions import line_mask, segment_regions
from sketchcolor.errors import SketchcolorError
from sketchcolor.inference.controls import hints_for, user_controls
from sketchcolor.inference.placement import Placement
from sketchcolor.serve.canvas import region_colors, region_picture, strokes_rgba


def layer(height, width, box, rgb, alpha=255) -> np.ndarray:
    out = np.zeros((height, width, 4), np.uint8)
    top, left, bottom, right = box
    out[top:bottom, left:right] = (*rgb, alpha)
    return out


def test_painted_pixels_become_opaque_hints_later_layers_on_top():
    first = layer(20, 30, (2, 2, 10, 20), (255, 0, 0))
    second = layer(20, 30, (5, 15, 15, 25), (0, 0, 255), alpha=40)  # a soft brush edge counts
    rgba = strokes_rgba([first, second], (20, 30))
    assert rgba.shape == (20, 30, 4) and rgba.dtype == np.uint8
    assert (rgba[..., 3] > 0).sum() == 8 * 18 + 10 * 10 - 5 * 5
    assert tuple(rgba[3, 3]) == (255, 0, 0, 255) and tuple(rgba[8, 18]) == (0, 0, 255, 255)
    assert (rgba[0, 0] == 0).all()
    assert strokes_rgba([np.zeros((20, 30, 4), np.uint8)], (20, 30)) is None  # nothing painted


def test_a_layer_of_another_size_is_scaled_to_the_sketch():
    rgba = strokes_rgba([layer(10, 15, (0, 0, 5, 15), (0, 255, 0))], (20, 30))
    assert rgba.shape == (20, 30, 4)
    assert (rgba[:10, :, 3] == 255).all() and (rgba[10:, :, 3] == 0).all()


def test_region_colours_differ_and_stay_light():
    colors = region_colors(20_000)[1:]
    assert len({tuple(c) for c in colors}) == 20_000 and colors.min() >= 96


def test_the_region_map_gives_each_closed_region_its_colour():
    sketch = np.full((60, 80, 3), 255, np.uint8)
    sketch[:, 39:41] = 0  # a wall: two regions
    sketch[20:40, 10:30] = 0
    sketch[25:35, 15:25] = 255  # a closed pocket inside the left square's ink
    picture, count = region_picture(sketch)
    regions = segment_regions(line_mask(sketch))
    assert count == regions.max() == 3
    free = ~line_mask(sketch)
    shown = {tuple(picture[y, x]) for y, x in zip(*np.nonzero(free), strict=True)}
    assert len(shown) == 3
    for region in range(1, count + 1):
        colours = {tuple(c) for c in picture[(regions == region) & free]}
        assert len(colours) == 1
    assert (picture[~free] == 0).all()  # the lines drawn on top, black


def test_hints_png_and_hints_json_together_dots_over_strokes(tmp_path):
    strokes = layer(40, 60, (10, 0, 20, 60), (255, 0, 0))  # a red band across
    Image.fromarray(strokes, "RGBA").save(tmp_path / "strokes.png")
    dots = json.dumps([{"x": 30, "y": 15, "color": "#0000ff"}])
    controls = user_controls("hints", tmp_path, palette=None, palette_from=None,
                             hints_png=tmp_path / "strokes.png", hints_json=None, hints_text=dots)  # fmt: skip
    place = Placement((40, 60), (40, 60), (40, 64))  # padded on the right
    hints = hints_for(controls, place, label_size=4)
    assert hints.rgb.shape == (1, 3, 40, 64) and hints.mask.shape == (1, 1, 40, 64)
    mask = hints.mask[0, 0]
    assert mask[10:20, :60].all() and mask.sum() == 10 * 60  # the dot lies inside the band
    assert torch.equal(hints.rgb[0, :, 15, 30], torch.tensor([-1.0, -1.0, 1.0]))  # the dot
    assert torch.equal(hints.rgb[0, :, 11, 5], torch.tensor([1.0, -1.0, -1.0]))  # the stroke
    assert not mask[:, 60:].any()  # nothing in the padding


@pytest.mark.parametrize(
    ("given", "message"),
    [({"hints_png": "a.png", "hints_json": "h.json"}, "not both"),
     ({"hints_json": "h.json", "hints_text": "[]"}, "not both")],
)  # fmt: skip
def test_the_cli_pairs_stay_refused(tmp_path, given, message):
    options = {"hints_png": None, "hints_json": None, "hints_text": None, **given}
    with pytest.raises(SketchcolorError, match=message):
        user_controls("hints", tmp_path, palette=None, palette_from=None, **options)
