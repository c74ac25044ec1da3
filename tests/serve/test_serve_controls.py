"""The web app's hint and colour helpers: picker values, label text, overlays, reference hints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from sketchcolor.data.controls.conditioning import HintConfig
from sketchcolor.errors import SketchcolorError
from sketchcolor.serve.app import rgb_hex
from sketchcolor.serve.controls import (
    hint_overlay,
    labels_from_reference,
    labels_to_text,
    normalise_color,
    parse_labels,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("#FF8800", "#ff8800"), ("ff8800", "#ff8800"), ("#f80", "#ff8800"),
     ("rgb(255, 136, 0)", "#ff8800"), ("rgba(255, 136, 0, 1)", "#ff8800")],
)  # fmt: skip
def test_picker_values_become_hex(value, expected):
    assert normalise_color(value) == expected


def test_a_non_colour_is_refused():
    with pytest.raises(SketchcolorError, match="'blue' is not a colour"):
        normalise_color("blue")


def test_label_text_round_trips_and_empty_is_none():
    labels = [{"x": 3, "y": 4, "color": "#ff0000"}, {"x": 9, "y": 1, "color": "#00ff00"}]
    assert parse_labels(labels_to_text(labels)) == labels
    assert labels_to_text([]) == "" and parse_labels("  ") == []
    assert parse_labels(json.dumps({"width": 9, "height": 9, "labels": labels})) == labels
    with pytest.raises(SketchcolorError, match="cannot read hints JSON"):
        parse_labels("[{")


def test_overlay_paints_labels_over_the_sketch():
    sketch = torch.full((1, 3, 20, 30), 1.0)  # white
    overlay = hint_overlay(sketch, [{"x": 10, "y": 5, "color": "#0000ff"}], 4)
    assert overlay.shape == (20, 30, 3) and overlay.dtype == np.uint8
    blue = (overlay == (0, 0, 255)).all(axis=-1)
    assert blue.sum() == 16 and blue[3:7, 8:12].all()
    assert (overlay[~blue] == 255).all()


def test_reference_hints_take_the_references_colours(tmp_path):
    reference = np.zeros((60, 80, 3), np.uint8)
    reference[:, :40] = (200, 30, 30)  # left half red, right half blue
    reference[:, 40:] = (30, 30, 200)
    Image.fromarray(reference).save(tmp_path / "ref.png")
    labels = labels_from_reference(tmp_path / "ref.png", HintConfig(grid=8), (120, 160), 6, 12)
    assert len(labels) == 12
    for label in labels:
        assert 0 <= label["x"] < 160 and 0 <= label["y"] < 120
        # Labels well inside a half have its colour (the sketch is twice the reference's size).
        if label["x"] < 70:
            assert label["color"] == "#c81e1e"
        elif label["x"] > 90:
            assert label["color"] == "#1e1ec8"


def test_palette_swatches_are_hex_of_the_tensor():
    assert rgb_hex(torch.tensor([1.0, -1.0, 0.0])) == "#ff0080"
