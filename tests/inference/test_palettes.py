"""Named palette files (sketchcolor.inference.palette_files) and `sketchcolor colorize --palette-file`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from sketchcolor.cli import main
from sketchcolor.errors import SketchcolorError
from sketchcolor.inference.palette_files import (
    Palette,
    file_name,
    fill_swatches,
    load_palette,
    parse_colors,
    save_palette,
)

NINE = ["#112233", "#445566", "#778899", "#aabbcc", "#ddeeff", "#ff0000", "#00ff00", "#0000ff",
        "#ffffff"]  # fmt: skip


def test_a_palette_round_trips_through_its_file(tmp_path):
    path = save_palette(
        tmp_path / "sub" / "autumn.json", Palette("autumn", [c.upper() for c in NINE])
    )
    assert json.loads(path.read_text()) == {"name": "autumn", "colors": NINE}
    assert load_palette(path) == Palette("autumn", NINE)
    assert [p.name for p in tmp_path.joinpath("sub").iterdir()] == ["autumn.json"]  # no temporary


def test_typed_colours_are_parsed_and_fill_the_swatches():
    assert parse_colors("#AA3300, ffcc00\n#102030;#405060") == ["#aa3300", "#ffcc00", "#102030",
                                                               "#405060"]  # fmt: skip
    assert fill_swatches(["#aa3300", "#ffcc00"]) == ["#aa3300", "#ffcc00"] * 4 + ["#aa3300"]
    assert file_name(" My autumn! ") == "My-autumn.json" and file_name("///") == "palette.json"


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "a palette takes 1 to 9 colours, got 0"),
     (", ".join(NINE + ["#000000"]), "a palette takes 1 to 9 colours, got 10"),
     ("#ff000, #00ff00", "'#ff000' is not a colour like #ff8800"),
     ("red", "'red' is not a colour like #ff8800")],
)  # fmt: skip
def test_bad_typed_colours_are_one_line_errors(text, message):
    with pytest.raises(SketchcolorError, match=message) as caught:
        parse_colors(text)
    assert len(str(caught.value).splitlines()) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such palette file"),
     ("{", "cannot read palette JSON"),
     ('["#ff0000"]', 'expected {"name": ..., "colors"'),
     ('{"name": "x"}', 'expected {"name": ..., "colors"'),
     ('{"name": 3, "colors": ["#ff0000"]}', '"name" must be text, got 3'),
     ('{"colors": ["#ff0000", "#gg0000"]}', "'#gg0000' is not a colour"),
     ('{"colors": []}', "a palette takes 1 to 9 colours, got 0")],
)  # fmt: skip
def test_bad_palette_files_are_one_line_errors_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SketchcolorError, match=message) as caught:
        load_palette(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert len(str(caught.value).splitlines()) == 1


def test_a_palette_file_without_a_name_is_named_by_its_stem(tmp_path):
    (tmp_path / "sea.json").write_text('{"colors": ["#003366"]}')
    assert load_palette(tmp_path / "sea.json") == Palette("sea", ["#003366"])


def test_saving_refuses_bad_colours_and_leaves_nothing(tmp_path):
    with pytest.raises(SketchcolorError, match="'blue' is not a colour"):
        save_palette(tmp_path / "p.json", Palette("p", ["blue"]))
    assert list(tmp_path.iterdir()) == []


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_colorize_palette_file_is_the_same_as_palette(served_runs, tmp_path, capsys):
    sketch = tmp_path / "sketch.png"
    rng = np.random.default_rng(0)
    Image.fromarray(np.where(rng.random((70, 90)) < 0.1, 0, 255).astype(np.uint8)).save(sketch)
    save_palette(tmp_path / "warm.json", Palette("warm", ["#ff0000", "#ffcc00"]))
    run = str(served_runs["palette"])
    common = ["colorize", str(sketch), "--run", run, "--device", "cpu", "-o"]
    assert main([*common, str(tmp_path / "file.png"), "--palette-file",
                 str(tmp_path / "warm.json")]) == 0  # fmt: skip
    assert main([*common, str(tmp_path / "hex.png"), "--palette", "#ff0000,#ffcc00"]) == 0
    assert np.array_equal(pixels(tmp_path / "file.png"), pixels(tmp_path / "hex.png"))
    assert main([*common, str(tmp_path / "blue.png"), "--palette", "#0000ff"]) == 0
    assert not np.array_equal(pixels(tmp_path / "file.png"), pixels(tmp_path / "blue.png"))
    capsys.readouterr()

    assert main([*common, str(tmp_path / "x.png"), "--palette-file", str(tmp_path / "warm.json"),
                 "--palette", "#ff0000"]) == 2  # fmt: skip
    assert "give --palette or --palette-file, not both" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('{"colors": ["#12345"]}')
    assert main([*common, str(tmp_path / "x.png"), "--palette-file",
                 str(tmp_path / "bad.json")]) == 2  # fmt: skip
    error = capsys.readouterr().err.strip()
    assert error.endswith("bad.json: '#12345' is not a colour like #ff8800")
    assert len(error.splitlines()) == 1 and not (tmp_path / "x.png").exists()
