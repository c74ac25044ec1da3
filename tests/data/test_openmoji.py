"""`sketchcolor datasets openmoji`: real pairs from OpenMoji's SVGs, split by emoji, resumable."""

import json

import numpy as np
from PIL import Image

from sketchcolor.cli import main
from sketchcolor.data.sources.openmoji import base_hexcode, line_layer_svg, split_of

SVG = """<svg id="emoji" viewBox="0 0 72 72" xmlns="http://www.w3.org/2000/svg">
<g id="color"><circle cx="36" cy="36" r="23" fill="#FCEA2B"/></g>
<g id="line"><circle cx="36" cy="36" r="23" fill="none" stroke="#000000" stroke-width="2"/></g>
</svg>"""


def test_skin_tone_variants_share_their_split():
    assert base_hexcode("1F44B-1F3FD") == "1F44B"
    for tone in ("1F3FB", "1F3FC", "1F3FD", "1F3FE", "1F3FF"):
        assert split_of(f"1F44B-{tone}") == split_of("1F44B")


def test_the_line_layer_is_kept_alone():
    line = line_layer_svg(SVG)
    assert 'id="line"' in line and 'id="color"' not in line and "FCEA2B" not in line
    assert line_layer_svg(SVG.replace('id="line"', 'id="other"')) is None


def test_datasets_openmoji_writes_pairs_and_resumes(tmp_path, capsys):
    out = tmp_path / "pairs"
    assert main(["datasets", "openmoji", str(out), "--size", "64", "--limit", "40"]) == 0
    report = json.loads((out / "openmoji-report.json").read_text())
    pairs = sorted((out / "data").glob("*/*.png"))
    assert len(pairs) == report["written"] == 40 - len(report["skipped"]) > 20
    assert "CC BY-SA 4.0" in (out / "LICENSE.md").read_text()
    pixels = np.asarray(Image.open(pairs[0]))
    assert pixels.shape == (64, 128, 3)
    color, sketch = pixels[:, :64].astype(int), pixels[:, 64:].astype(int)
    assert (color.max(2) - color.min(2)).max() > 3  # the colour half has colour
    assert (sketch.max(2) - sketch.min(2)).max() < 40 and sketch.min() < 100  # black lines
    assert main(["datasets", "openmoji", str(out), "--size", "64", "--limit", "40"]) == 0
    again = json.loads((out / "openmoji-report.json").read_text())
    assert again["written"] == 0 and again["existing"] == report["written"]
