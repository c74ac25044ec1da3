"""Colorize end to end on tiny trained runs: palettes, hints, any size, folders, every error."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from sketchcolor.cli import main
from sketchcolor.data.controls.conditioning import Hints, build_generator_input
from sketchcolor.data.controls.user_controls import palette_from_hex
from sketchcolor.errors import SketchcolorError
from sketchcolor.evaluation.grid import colorize_validation_grid
from sketchcolor.inference.colorize import colorize
from sketchcolor.runs import load_run, read_run_config
from tests.support.runs import SIZE, train_tiny_run


@pytest.fixture(scope="module")
def runs(shard_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("colorize_runs")
    return {control: train_tiny_run(shard_dir, root / control, "1", control)
            for control in ("none", "palette", "hints", "mixed")}  # fmt: skip


def write_sketch(path, height, width, *, mode="L", seed=0):
    rng = np.random.default_rng(seed)
    pixels = np.full((height, width), 255, np.uint8)
    pixels[rng.random((height, width)) < 0.1] = 0  # dark strokes on white
    image = Image.fromarray(pixels)
    image.convert(mode).save(path)
    return path


def read_output(path) -> torch.Tensor:
    pixels = np.asarray(Image.open(path))
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1


def direct_output(run_dir, sketch_path, *, palette=None, hints=None) -> torch.Tensor:
    """The generator called by hand on a sketch already at the training size."""
    generator, config = load_run(run_dir, torch.device("cpu"))
    pixels = np.asarray(Image.open(sketch_path).convert("RGB"))
    sketch = torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
    inputs = build_generator_input(config.color_control, sketch, palette=palette, hints=hints,
                                   hint_config=config.hint_config)  # fmt: skip
    with torch.no_grad():
        return generator(inputs).clamp(-1, 1)


def test_palette_output_is_the_generators_and_follows_the_palette(runs, tmp_path):
    sketch = write_sketch(tmp_path / "sketch.png", SIZE, SIZE)
    red = colorize(sketch, runs["palette"], tmp_path / "red.png", palette="#ff0000,#ffcc00",
                   device="cpu")  # fmt: skip
    assert red == [tmp_path / "red.png"]
    expected = direct_output(
        runs["palette"], sketch, palette=palette_from_hex(["#ff0000", "#ffcc00"])
    )
    assert torch.allclose(read_output(red[0]), expected, atol=1.01 / 127.5)  # 8-bit rounding

    colorize(sketch, runs["palette"], tmp_path / "blue.png", palette="#0000ff", device="cpu")
    assert not torch.equal(read_output(tmp_path / "blue.png"), read_output(red[0]))

    reference = tmp_path / "reference.png"
    Image.fromarray(np.full((32, 32, 3), (255, 0, 0), np.uint8)).save(reference)
    colorize(sketch, runs["palette"], tmp_path / "from.png", palette_from=reference, device="cpu")
    from_red = direct_output(runs["palette"], sketch, palette=palette_from_hex(["#ff0000"]))
    assert torch.allclose(read_output(tmp_path / "from.png"), from_red, atol=1.01 / 127.5)


def test_hints_from_png_and_json_are_the_same_labels(runs, tmp_path):
    sketch = write_sketch(tmp_path / "sketch.png", SIZE, SIZE)
    label_size = read_run_config(runs["hints"]).hint_config.label_size
    top, left = 58, 98  # a label centred on (x=100, y=60)
    (tmp_path / "hints.json").write_text(json.dumps([{"x": 100, "y": 60, "color": "#00ff00"}]))
    rgba = np.zeros((SIZE, SIZE, 4), np.uint8)
    rgba[top : top + label_size, left : left + label_size] = (0, 255, 0, 255)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "hints.png")

    from_json = colorize(sketch, runs["hints"], tmp_path / "json.png",
                         hints_json=tmp_path / "hints.json", device="cpu")  # fmt: skip
    from_png = colorize(sketch, runs["hints"], tmp_path / "png.png",
                        hints_png=tmp_path / "hints.png", device="cpu")  # fmt: skip
    assert torch.equal(read_output(from_json[0]), read_output(from_png[0]))

    mask = torch.zeros(1, 1, SIZE, SIZE)
    mask[..., top : top + label_size, left : left + label_size] = 1
    rgb = torch.where(mask > 0, torch.tensor([-1.0, 1.0, -1.0]).view(1, 3, 1, 1), 1.0)
    expected = direct_output(runs["hints"], sketch, hints=Hints(rgb=rgb, mask=mask))
    assert torch.allclose(read_output(from_png[0]), expected, atol=1.01 / 127.5)

    plain = colorize(sketch, runs["hints"], tmp_path / "plain.png", device="cpu")
    assert not torch.equal(read_output(plain[0]), read_output(from_png[0]))


def test_any_size_and_mode_in_a_folder_keeps_each_size(runs, tmp_path):
    folder = tmp_path / "sketches"
    folder.mkdir()
    write_sketch(folder / "wide.png", 90, 200, mode="L")
    write_sketch(folder / "tall.jpg", 300, 120, mode="RGB", seed=1)
    write_sketch(folder / "tiny.png", 30, 30, mode="RGBA", seed=2)
    write_sketch(folder / "tiny2.png", 30, 30, mode="LA", seed=3)
    written = colorize(folder, runs["mixed"], tmp_path / "out", palette="#ff0000",
                       hints_json=None, batch_size=2, device="cpu")  # fmt: skip
    assert [path.name for path in written] == ["tall.png", "tiny.png", "tiny2.png", "wide.png"]
    sizes = {path.name: Image.open(path).size for path in written}
    assert sizes == {"wide.png": (200, 90), "tall.png": (120, 300), "tiny.png": (30, 30),
                     "tiny2.png": (30, 30)}  # fmt: skip
    assert all(Image.open(path).mode == "RGB" for path in written)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(sizes)  # no temp files


def test_keep_size_pads_without_scaling(runs, tmp_path):
    sketch = write_sketch(tmp_path / "sketch.png", 200, 260)
    (written,) = colorize(sketch, runs["none"], tmp_path / "o.png", resize=False, device="cpu")
    assert Image.open(written).size == (260, 200)


def test_16_bit_sketches_jpeg_outputs_and_a_zero_batch(runs, tmp_path):
    sketch8 = write_sketch(tmp_path / "eight.png", 70, 90)
    pixels = np.asarray(Image.open(sketch8)).astype(np.uint16) * 257  # 0..255 -> 0..65535
    Image.fromarray(pixels).save(tmp_path / "sixteen.png")
    assert Image.open(tmp_path / "sixteen.png").mode.startswith("I")
    (from8,) = colorize(sketch8, runs["none"], tmp_path / "from8.png", device="cpu")
    (from16,) = colorize(tmp_path / "sixteen.png", runs["none"], tmp_path / "from16.png",
                         device="cpu")  # fmt: skip
    # Pillow alone would clip 16-bit greys at 255 (a white sketch); scaled, they are the same.
    assert torch.equal(read_output(from8), read_output(from16))

    (jpeg,) = colorize(sketch8, runs["none"], tmp_path / "out.jpg", device="cpu")
    with Image.open(jpeg) as image:
        assert image.format == "JPEG" and image.size == (90, 70)
    with pytest.raises(SketchcolorError, match="batch size must be at least 1"):
        colorize(sketch8, runs["none"], tmp_path / "zero.png", batch_size=0, device="cpu")


def test_cli_colorizes_and_reports(runs, tmp_path, capsys):
    sketch = write_sketch(tmp_path / "sketch.png", 100, 70)
    out = tmp_path / "out.png"
    assert main(["colorize", str(sketch), "--run", str(runs["palette"]), "-o", str(out),
                 "--palette", "#ff0000,#00ff00,#0000ff"]) == 0  # fmt: skip
    assert "wrote 1 image(s)" in capsys.readouterr().out
    assert Image.open(out).size == (70, 100)


@pytest.mark.parametrize(
    ("run", "options", "message"),
    [
        ("missing", {}, "no such run folder"),
        ("none", {"palette": "#ff0000"}, "trained with colour control 'none'; it takes no palette"),
        ("none", {"hints_json": "h.json"}, "it takes no hints"),
        ("palette", {"hints_json": "h.json"}, "it takes no hints"),
        ("palette", {}, "give --palette COLOURS or --palette-from IMAGE"),
        ("mixed", {"hints_json": "h.json"}, "give --palette"),
        ("palette", {"palette": "#ff0000", "palette_from": "x.png"}, "not both"),
        ("hints", {"hints_json": "h.json", "hints_png": "h.png"}, "not both"),
        ("hints", {"hints_png": "nowhere.png"}, "nowhere.png: no such hints file"),
        ("hints", {"hints_png": "broken.png"}, "broken.png: cannot read hints image"),
        ("palette", {"palette": "#zz0000"}, "is not a colour like #ff8800"),
        ("palette", {"palette_from": "nowhere.png"}, "nowhere.png: no such reference image"),
    ],
)
def test_wrong_controls_and_files_are_one_line_errors(runs, tmp_path, monkeypatch, run, options,
                                                      message):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    (tmp_path / "h.json").write_text("[]")
    (tmp_path / "h.png").write_bytes(b"")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG broken")
    sketch = write_sketch(tmp_path / "sketch.png", 64, 64)
    run_dir = runs.get(run, tmp_path / "missing")
    with pytest.raises(SketchcolorError, match=message.replace("(", r"\(")) as error:
        colorize(sketch, run_dir, tmp_path / "out.png", device="cpu", **options)
    assert len(str(error.value).splitlines()) == 1
    assert not (tmp_path / "out.png").exists()


def test_a_bad_sketch_in_a_folder_fails_before_anything_is_written(runs, tmp_path, capsys):
    folder = tmp_path / "sketches"
    folder.mkdir()
    write_sketch(folder / "a.png", 64, 64)
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "out"
    assert main(["colorize", str(folder), "--run", str(runs["none"]), "-o", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "b.png: cannot read sketch" in error
    assert not out.exists()

    assert main(["colorize", str(folder / "a.png"), str(folder / "a.png"), "--run",
                 str(runs["none"]), "-o", str(tmp_path / "one.png")]) == 2  # fmt: skip
    assert "need an output folder" in capsys.readouterr().err
    assert main(["colorize", str(tmp_path / "nope.png"), "--run", str(runs["none"]), "-o",
                 str(out)]) == 2  # fmt: skip
    assert "nope.png: no such sketch file or folder" in capsys.readouterr().err

    # An output onto a sketch would destroy the input: refused, the sketch left as it was.
    before = (folder / "a.png").read_bytes()
    assert main(["colorize", str(folder / "a.png"), "--run", str(runs["none"]), "-o",
                 str(folder)]) == 2  # fmt: skip
    assert "a.png: is one of the sketches" in capsys.readouterr().err
    assert main(["colorize", str(folder / "a.png"), "--run", str(runs["none"]), "-o",
                 str(folder / "a.png")]) == 2  # fmt: skip
    assert "is one of the sketches" in capsys.readouterr().err
    assert (folder / "a.png").read_bytes() == before

    # An output place that cannot be made is one line too, before anything is coloured.
    (tmp_path / "a-file").write_text("")
    assert main(["colorize", str(folder / "a.png"), "--run", str(runs["none"]), "-o",
                 str(tmp_path / "a-file" / "out.png")]) == 2  # fmt: skip
    assert "cannot create the output folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("hints", "message"),
    [
        (
            '[{"x": NaN, "y": 3, "color": "#ff0000"}]',
            'hint 0: "x" must be a finite number, got nan',
        ),
        ('[{"x": 3, "color": "#ff0000"}]', 'hint 0: needs "y"'),
        ('[{"x": 3, "y": 4}]', 'hint 0: needs a "color"'),
        ('{"width": 64, "labels": []}', 'hints: needs "height"'),
        ('[{"x": 70, "y": 3, "color": "#ff0000"}]', "hint 0: (70, 3) is outside the 70x100 image"),
        ('[{"x": 3, "y": -2, "color": "#ff0000"}]', "hint 0: (3, -2) is outside"),
    ],
)
def test_cli_refuses_bad_hints_json_in_one_line(runs, tmp_path, capsys, hints, message):
    sketch = write_sketch(tmp_path / "sketch.png", 100, 70)
    (tmp_path / "hints.json").write_text(hints)
    out = tmp_path / "out.png"
    assert main(["colorize", str(sketch), "--run", str(runs["hints"]), "-o", str(out),
                 "--hints-json", str(tmp_path / "hints.json")]) == 2  # fmt: skip
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert f"{tmp_path / 'hints.json'}: {message}" in error
    assert not out.exists()


def test_cli_refuses_sketches_over_the_pixel_limit_and_the_flag_raises_it(runs, tmp_path, capsys):
    sketch = write_sketch(tmp_path / "sketch.png", 100, 70)  # 7000 pixels
    out = tmp_path / "out.png"
    command = ["colorize", str(sketch), "--run", str(runs["none"]), "-o", str(out)]
    assert main([*command, "--max-pixels", "6999"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.endswith("70x100 is 0.0 MP, over the limit of 6999 pixels (raise it with "
                          "--max-pixels)")  # fmt: skip
    assert len(error.splitlines()) == 1 and not out.exists()
    assert main([*command, "--max-pixels", "7000"]) == 0
    assert Image.open(out).size == (70, 100)


def test_the_default_pixel_limit_refuses_a_small_file_claiming_17_mp(runs, tmp_path, capsys):
    sketch = tmp_path / "huge.png"
    Image.new("L", (4112, 4112), 255).save(sketch)  # a few kB on disk
    assert sketch.stat().st_size < 100_000
    out = tmp_path / "out.png"
    assert main(["colorize", str(sketch), "--run", str(runs["none"]), "-o", str(out)]) == 2
    assert "4112x4112 is 16.9 MP, over the limit of 16777216 pixels" in capsys.readouterr().err
    assert not out.exists()


def test_validation_grid_shows_sketch_control_output_truth(runs, shard_dir, tmp_path):
    picture = colorize_validation_grid(runs["hints"], shard_dir, tmp_path / "grid.png", count=3,
                                       device="cpu")  # fmt: skip
    width, height = Image.open(picture).size
    padding = 2  # torchvision.utils.save_image's
    assert (width, height) == (4 * (SIZE + padding) + padding, 3 * (SIZE + padding) + padding)
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]
