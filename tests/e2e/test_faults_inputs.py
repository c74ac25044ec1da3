"""Bad user files: a malformed hints JSON and a sketch over the pixel limit, each refused in one
line naming the file."""

from __future__ import annotations

import pytest

from sketchcolor.errors import SketchcolorError
from tests.support.runs import constant_run


def test_bad_hints_json_is_one_line_naming_the_file(tmp_path):
    from sketchcolor.data.controls.user_controls import load_hints

    cases = {
        '{"width": 100, "labels": []}': 'hints: needs "height"',
        '[{"x": NaN, "y": 3, "color": "#ff0000"}]': 'hint 0: "x" must be a finite number',
        '{"width": 100, "height": 50, "labels": [{"x": 120, "y": 10, "color": "#ff0000"}]}': (
            "hint 0: (120, 10) is outside the 100x50 image"
        ),
        '{"labels": {"x": 1}}': "hints: expected a list of",
        '[{"x": 1, "y": 1, "color": "red"}]': "hint 0: 'red' is not a colour like #ff8800",
    }
    for number, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"hints-{number}.json"
        path.write_text(text)
        with pytest.raises(SketchcolorError) as caught:
            load_hints(path, size=(20, 40))
        assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)
    path.write_text(
        '{"width": 100, "height": 50, "labels": [{"x": 99.5, "y": 49.5, "color": "#ff0000"}]}'
    )
    assert load_hints(path, size=(20, 40)).mask.sum() > 0  # the last pixel is still inside


def test_a_sketch_over_the_pixel_limit_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    import numpy as np
    from PIL import Image

    from sketchcolor.cli import main
    from sketchcolor.inference.sketch_files import read_sketch

    sketch = tmp_path / "big.png"
    Image.fromarray(np.full((100, 120), 255, np.uint8)).save(sketch)
    run_dir = constant_run(tmp_path / "run", 0.0)
    out = tmp_path / "out.png"
    arguments = ["colorize", str(sketch), "--run", str(run_dir), "-o", str(out), "--device", "cpu"]
    assert main([*arguments, "--max-pixels", "11999"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        f"sketchcolor colorize: error: {sketch}: 120x100 is 0.0 MP, over the limit of 11999 "
        "pixels (raise it with --max-pixels)"
    )
    assert not out.exists()
    # Pillow's own bomb check (an error at twice its limit) gives way to a raised --max-pixels.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert read_sketch(sketch, max_pixels=12000).shape == (1, 3, 100, 120)
    assert Image.MAX_IMAGE_PIXELS == 1000
    assert main([*arguments, "--max-pixels", "12000"]) == 0 and out.is_file()
