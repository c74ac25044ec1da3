"""`sketchcolor datasets openmoji`: real pairs from OpenMoji's SVGs, split by emoji, resumable."""

import json

import numpy as np
from PIL import Image

from sketchcolor.cli import main
from sketchcolor.data.sources.openmoji import base_hexcode, line_layer_svg, split_of

WRESTLERS = "1F93C"  # "people wrestling", whose family OpenMoji's hash puts in val

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


def test_the_split_follows_the_skintone_base_hexcode_metadata():
    """OpenMoji's metadata puts mixed-tone variants written with another sequence under the
    emoji they vary (issue 36): the modifier rule alone sent these to train, 1F93C to val."""
    assert split_of(WRESTLERS) == "val"
    for tones in ("1F3FB-200D-1FAEF-200D-1F9D1-1F3FC", "1F3FF-200D-1FAEF-200D-1F9D1-1F3FE"):
        assert split_of(f"1F9D1-{tones}") == split_of(WRESTLERS)
    assert split_of("1F469-1F3FB-200D-1FAEF-200D-1F469-1F3FC") == split_of("1F93C-200D-2640-FE0F")
    # An emoji the metadata does not list keeps the modifier rule.
    assert split_of("FFFF0-1F3FD") == split_of("FFFF0")


def test_no_metadata_family_straddles_the_splits():
    from sketchcolor.data.sources.openmoji import metadata_families, openmoji_svg_folder

    families: dict[str, set[str]] = {}
    for hexcode, base in metadata_families().items():
        families.setdefault(base, set()).add(split_of(hexcode))
    assert len(families) > 300
    straddling = sorted(base for base, splits in families.items() if len(splits) > 1)
    assert straddling == []
    # Every skin-tone variant the installed package draws is in the metadata or has its base
    # emoji beside it: a newer OpenMoji with new mixed-tone sequences fails here, not silently.
    hexcodes = {path.name.split(".")[0] for path in openmoji_svg_folder().iterdir()}
    variants = [code for code in hexcodes if base_hexcode(code) not in ("", code)]  # not 1F3FB
    assert len(variants) > 1000
    unlisted = [code for code in variants
                if code not in metadata_families() and base_hexcode(code) not in hexcodes]  # fmt: skip
    assert unlisted == []


def test_a_pair_written_in_the_other_split_moves_to_its_familys(tmp_path, monkeypatch):
    from sketchcolor.data.sources import openmoji

    hexcode = "1F9D1-1F3FB-200D-1FAEF-200D-1F9D1-1F3FC"  # train by the modifier rule alone
    svgs = tmp_path / "svg"
    svgs.mkdir()
    (svgs / f"{hexcode}.svg").write_text(SVG)
    monkeypatch.setattr(openmoji, "openmoji_svg_folder", lambda: svgs)
    out = tmp_path / "pairs"
    (out / "data" / "train").mkdir(parents=True)
    Image.new("RGB", (128, 64), "white").save(out / "data" / "train" / f"{hexcode}.png")
    result = openmoji.write_openmoji_pairs(out, size=64, progress=False)
    assert (result.moved, result.existing, result.written) == (1, 1, 0)
    assert sorted(p.relative_to(out).as_posix() for p in out.glob("data/*/*.png")) == [
        f"data/val/{hexcode}.png"
    ]
