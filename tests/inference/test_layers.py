"""Layered files (`colorize --layers`): PSD and OpenRaster read back by ImageMagick, the reader
artists' tools share, and for PSD by psd-tools too; layers in order with their names,
visibility and blend modes, their pixels as written, and the visible layers composited by
ImageMagick equal to the `--flatten` picture within 1/255.

ImageMagick 6 has no OpenRaster reader, so for .ora the test reads stack.xml itself and hands
each layer's PNG to ImageMagick, which composites them with the blend modes stack.xml names.
"""

from __future__ import annotations

import json
import re
import shlex
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sketchcolor.cli import main
from sketchcolor.data.regions import draw_lines, line_mask, segment_regions
from sketchcolor.errors import SketchcolorError
from sketchcolor.inference.colorizer import colorize_layers, colorize_sketch, load_colorizer
from sketchcolor.inference.controls import user_controls
from sketchcolor.inference.layers import (
    Layers,
    default_layer_kind,
    hints_layer,
    line_layer,
    write_layers,
)
from sketchcolor.inference.sketch_files import read_sketch
from sketchcolor.util.images import to_uint8
from tests.support.magick import identify, magick_rgba, needs_magick, psd_layers_by_magick

REPO = Path(__file__).resolve().parents[2]
NAMES = ["hints", "line art", "flat colours", "shaded (network output)"]  # top to bottom


# ----------------------------------------------------------------------------- pictures


def draw_sketch(height: int, width: int, *, tinted: bool = False) -> np.ndarray:
    """Closed shapes in antialiased lines (drawn at 4x, scaled down): (H, W, 3) uint8. tinted:
    one shape in dark red lines, where multiply and a plain "over" blend differ."""
    big = Image.new("RGB", (width * 4, height * 4), "white")
    draw = ImageDraw.Draw(big)
    draw.ellipse((8, 8, width * 2 - 8, height * 4 - 8), outline="black", width=9)
    tint = (150, 20, 20) if tinted else "black"
    draw.rectangle((width * 2 + 8, 12, width * 4 - 12, height * 2), outline=tint, width=7)
    draw.line((width * 2, height * 3, width * 4, height * 3), fill="black", width=6)
    return np.asarray(big.resize((width, height), Image.Resampling.LANCZOS))


def synthetic_layers(height=40, width=56) -> Layers:
    """Layers with known pixels: random shading, two flat colours, tinted line art, one label."""
    rng = np.random.default_rng(0)
    sketch = draw_sketch(height, width, tinted=True)
    flat = np.zeros((height, width, 3), np.uint8)
    flat[:, : width // 2] = (230, 180, 60)
    flat[:, width // 2 :] = (40, 120, 220)
    mask = np.zeros((height, width), bool)
    mask[10:16, 30:36] = True
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[mask] = (255, 0, 255)  # magenta: nowhere in the picture, so a shown hint would tell
    return Layers(shaded=rng.integers(0, 256, (height, width, 3), dtype=np.uint8), flat=flat,
                  lines=line_layer(sketch), hints=hints_layer(mask, rgb),
                  picture=draw_lines(flat, sketch))  # fmt: skip


def max_difference(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


def ora_stack(path: Path) -> tuple[list[dict], zipfile.ZipFile]:
    archive = zipfile.ZipFile(path)
    image = ElementTree.fromstring(archive.read("stack.xml"))
    return [dict(layer.attrib) for layer in image.find("stack")], archive


# ----------------------------------------------------------------------------- the line layer


def test_a_grey_sketch_is_black_lines_whose_alpha_is_their_darkness():
    sketch = draw_sketch(40, 56)
    grey = sketch[..., 0]
    assert (sketch == grey[..., None]).all() and len(np.unique(grey)) > 20  # antialiased
    rgba = line_layer(sketch)
    assert (rgba[..., :3] == 0).all()
    np.testing.assert_array_equal(rgba[..., 3], 255 - grey)


def test_the_line_layer_multiplied_over_colours_is_draw_lines_for_any_sketch():
    rng = np.random.default_rng(1)
    sketch = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)  # coloured, every value
    below = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    rgba = line_layer(sketch).astype(float) / 255
    alpha, color = rgba[..., 3:], rgba[..., :3]
    blended = np.round(below * (1 - alpha) + below * color * alpha)  # multiply, with alpha
    assert max_difference(blended, draw_lines(below, sketch)) <= 1


# ----------------------------------------------------------------------------- PSD


@needs_magick
def test_psd_layers_read_back_by_imagemagick_and_psd_tools(tmp_path):
    psd_tools = pytest.importorskip("psd_tools", reason="PSD needs the layers extra")
    layers = synthetic_layers()
    size = layers.picture.shape[:2]
    path = write_layers(tmp_path / "out.psd", layers)

    seen = psd_layers_by_magick(path)[::-1]  # top to bottom
    assert [layer["name"] for layer in seen] == NAMES
    assert [layer["compose"] for layer in seen] == ["None", "Multiply", "Over", "Over"]
    assert {layer["geometry"] for layer in seen} == {(size[1], size[0], "+0", "+0")}
    written = [layers.hints, layers.lines, layers.flat, layers.shaded]
    for layer, pixels in zip(seen, written, strict=True):
        read = magick_rgba(f"{path}[{layer['index']}]", size=size)
        assert_same_layer(read, pixels)

    document = psd_tools.PSDImage.open(path)
    assert [layer.name for layer in document][::-1] == NAMES
    assert [layer.visible for layer in document][::-1] == [False, True, True, True]
    assert [layer.blend_mode.name for layer in document][::-1] == [
        "NORMAL", "MULTIPLY", "NORMAL", "NORMAL"]  # fmt: skip
    for layer, pixels in zip(list(document)[::-1], written, strict=True):
        assert_same_layer(layer.numpy(), pixels)


def assert_same_layer(read: np.ndarray, written: np.ndarray) -> None:
    """Same alpha (opaque for RGB), same colour wherever a pixel is not fully clear."""
    if read.dtype != np.uint8:  # psd-tools reads floats in [0, 1]
        read = np.round(read * 255).astype(np.uint8)
    if written.shape[2] == 3:
        written = np.concatenate([written, np.full(written.shape[:2] + (1,), 255, np.uint8)], 2)
    np.testing.assert_array_equal(read[..., 3], written[..., 3])
    shown = written[..., 3] > 0
    np.testing.assert_array_equal(read[..., :3][shown], written[..., :3][shown])


@needs_magick
def test_psd_composite_by_imagemagick_is_the_flattened_picture(tmp_path):
    pytest.importorskip("psd_tools", reason="PSD needs the layers extra")
    layers = synthetic_layers()
    size = layers.picture.shape[:2]
    path = write_layers(tmp_path / "out.psd", layers)
    # ImageMagick composites the layers (not the merged image, deleted first) with each
    # layer's blend mode, leaving hidden ones out.
    composite = magick_rgba(str(path), "-delete", "0", "-background", "none", "-layers",
                            "flatten", size=size)  # fmt: skip
    assert (composite[..., 3] == 255).all()
    assert max_difference(composite[..., :3], layers.picture) <= 1
    merged = magick_rgba(f"{path}[0]", size=size)  # what viewers show without layers
    assert max_difference(merged[..., :3], layers.picture) <= 1
    # The check can fail: the hidden hints would show magenta, a plain blend would miss the tint.
    labelled = layers.hints[..., 3] > 0
    assert max_difference(composite[..., :3][labelled], layers.hints[..., :3][labelled]) > 100
    over = magick_rgba(str(path), "-delete", "0", "-background", "none", "-compose", "over",
                       "-layers", "flatten", size=size)  # fmt: skip
    assert max_difference(over[..., :3], layers.picture) > 20


# ----------------------------------------------------------------------------- OpenRaster


@needs_magick
def test_ora_is_a_zip_of_pngs_and_stack_xml_as_the_spec_says(tmp_path):
    layers = synthetic_layers()
    height, width = layers.picture.shape[:2]
    path = write_layers(tmp_path / "out.ora", layers)
    stack, archive = ora_stack(path)
    first = archive.infolist()[0]
    assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
    assert archive.read("mimetype") == b"image/openraster"
    assert path.read_bytes()[30:54] == b"mimetypeimage/openraster"  # at its fixed offset
    image = ElementTree.fromstring(archive.read("stack.xml"))
    assert (image.get("w"), image.get("h")) == (str(width), str(height))

    assert [layer["name"] for layer in stack] == NAMES
    assert [layer["visibility"] for layer in stack] == ["hidden", "visible", "visible", "visible"]
    assert [layer["composite-op"] for layer in stack] == [
        "svg:src-over", "svg:multiply", "svg:src-over", "svg:src-over"]  # fmt: skip
    written = [layers.hints, layers.lines, layers.flat, layers.shaded]
    for layer, pixels in zip(stack, written, strict=True):
        (tmp_path / "layer.png").write_bytes(archive.read(layer["src"]))
        assert_same_layer(magick_rgba(str(tmp_path / "layer.png"), size=(height, width)), pixels)

    (tmp_path / "merged.png").write_bytes(archive.read("mergedimage.png"))
    merged = magick_rgba(str(tmp_path / "merged.png"), size=(height, width))
    np.testing.assert_array_equal(merged[..., :3], layers.picture)
    (tmp_path / "thumbnail.png").write_bytes(archive.read("Thumbnails/thumbnail.png"))
    assert identify("-format", "%w %h", str(tmp_path / "thumbnail.png")) == f"{width} {height}"


@needs_magick
def test_ora_composite_by_imagemagick_is_the_flattened_picture(tmp_path):
    layers = synthetic_layers()
    size = layers.picture.shape[:2]
    composite = ora_composite(write_layers(tmp_path / "out.ora", layers), tmp_path, size)
    assert (composite[..., 3] == 255).all()
    assert max_difference(composite[..., :3], layers.picture) <= 1


def ora_composite(path: Path, folder: Path, size: tuple[int, int]) -> np.ndarray:
    """ImageMagick's composite of an .ora's visible layers, blended as stack.xml says."""
    stack, archive = ora_stack(path)
    compose = {"svg:src-over": "Over", "svg:multiply": "Multiply"}
    arguments = []
    for index, layer in enumerate(reversed(stack)):  # bottom first
        if layer["visibility"] == "hidden":
            continue
        png = folder / f"ora-layer{index}.png"
        png.write_bytes(archive.read(layer["src"]))
        arguments += ["(", str(png), "-set", "compose", compose[layer["composite-op"]], ")"]
    return magick_rgba(*arguments, "-background", "none", "-layers", "flatten", size=size)


# ----------------------------------------------------------------------------- end to end


SKETCH_SIZE = (72, 96)  # (height, width): scaled to the run's 256 px and back


@pytest.fixture
def sketch_and_hints(tmp_path):
    sketch = tmp_path / "sketch.png"
    Image.fromarray(draw_sketch(*SKETCH_SIZE)).save(sketch)
    hints = tmp_path / "h.json"
    hints.write_text(json.dumps([{"x": 24, "y": 36, "color": "#e03020"},
                                 {"x": 72, "y": 14, "color": "#2050e0"}]))  # fmt: skip
    return sketch, hints


@needs_magick
@pytest.mark.parametrize("suffix", [".psd", ".ora"])
def test_colorize_layers_end_to_end(served_runs, sketch_and_hints, tmp_path, capsys, suffix):
    if suffix == ".psd":
        pytest.importorskip("psd_tools", reason="PSD needs the layers extra")
    sketch, hints = sketch_and_hints
    run = str(served_runs["hints"])
    common = [str(sketch), "--run", run, "--hints-json", str(hints), "--device", "cpu"]
    layered = tmp_path / f"out{suffix}"
    assert main(["colorize", *common, "-o", str(tmp_path / "out.png"), "--flatten",
                 "--layers", str(layered)]) == 0  # fmt: skip
    assert "wrote 1 image(s) and their layered files" in capsys.readouterr().out
    assert main(["colorize", *common, "-o", str(tmp_path / "flat.png"), "--flatten"]) == 0
    assert main(["colorize", *common, "-o", str(tmp_path / "shaded.png")]) == 0
    flattened = np.asarray(Image.open(tmp_path / "flat.png"))
    # --layers computes the flat colours once for both: the PNG is --flatten's, exactly.
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out.png")), flattened)

    if suffix == ".psd":
        composite = magick_rgba(str(layered), "-delete", "0", "-background", "none", "-layers",
                                "flatten", size=SKETCH_SIZE)  # fmt: skip
        read = {layer["name"]: magick_rgba(f"{layered}[{layer['index']}]", size=SKETCH_SIZE)
                for layer in psd_layers_by_magick(layered)}  # fmt: skip
    else:
        composite = ora_composite(layered, tmp_path, SKETCH_SIZE)
        stack, archive = ora_stack(layered)
        read = {}
        for layer in stack:
            (tmp_path / "layer.png").write_bytes(archive.read(layer["src"]))
            read[layer["name"]] = magick_rgba(str(tmp_path / "layer.png"), size=SKETCH_SIZE)
    assert list(read) == (NAMES[::-1] if suffix == ".psd" else NAMES)
    assert max_difference(composite[..., :3], flattened) <= 1

    # Bottom: the network's own output; then one colour per region; lines; the labels.
    shaded = np.asarray(Image.open(tmp_path / "shaded.png"))
    np.testing.assert_array_equal(read["shaded (network output)"][..., :3], shaded)
    sketch_pixels = np.asarray(Image.open(sketch).convert("RGB"))
    regions = segment_regions(line_mask(sketch_pixels))
    flat = read["flat colours"][..., :3]
    colours_per_region = [len(np.unique(flat[regions == r], axis=0)) for r in np.unique(regions)]
    assert max(colours_per_region) == 1 and len(colours_per_region) >= 3
    assert tuple(flat[36, 24]) == (0xE0, 0x30, 0x20) and tuple(flat[14, 72]) == (0x20, 0x50, 0xE0)
    np.testing.assert_array_equal(read["line art"][..., 3], 255 - sketch_pixels[..., 0])
    label = read["hints"][..., 3] == 255
    assert label[36, 24] and label[14, 72] and not label[0, 0]
    assert set(np.unique(read["hints"][..., 3])) == {0, 255}
    assert tuple(read["hints"][36, 24, :3]) == (0xE0, 0x30, 0x20)


def test_colorize_layers_is_the_apps_call(served_runs, sketch_and_hints):
    """colorize_layers (the web app's call): the layers of colorize_sketch's own output."""
    sketch_path, hints = sketch_and_hints
    colorizer = load_colorizer(served_runs["hints"], "cpu")
    controls = user_controls("hints", served_runs["hints"], palette=None, palette_from=None,
                             hints_png=None, hints_json=hints)  # fmt: skip
    sketch = read_sketch(sketch_path)
    layers = colorize_layers(colorizer, sketch, controls)
    shaded = to_uint8(colorize_sketch(colorizer, sketch, controls))[0]
    flattened = to_uint8(colorize_sketch(colorizer, sketch, controls, flatten=True))[0]
    np.testing.assert_array_equal(layers.shaded, shaded)
    np.testing.assert_array_equal(layers.picture, flattened)
    assert layers.flat.shape == (*SKETCH_SIZE, 3) and layers.lines.shape == (*SKETCH_SIZE, 4)
    assert layers.hints.shape == (*SKETCH_SIZE, 4)
    assert [layer.name for layer in layers.stack()] == NAMES

    no_hints = user_controls("hints", served_runs["hints"], palette=None, palette_from=None,
                             hints_png=None, hints_json=None)  # fmt: skip
    assert colorize_layers(colorizer, sketch, no_hints).hints is None  # no empty hints layer


def test_several_sketches_get_a_layered_file_beside_each_png(served_runs, tmp_path, capsys):
    folder = tmp_path / "sketches"
    folder.mkdir()
    for index, size in enumerate([(40, 64), (64, 48)]):
        Image.fromarray(draw_sketch(*size)).save(folder / f"s{index}.png")
    out = tmp_path / "colored"
    assert main(["colorize", str(folder), "--run", str(served_runs["hints"]), "-o", str(out),
                 "--device", "cpu", "--layers", "ora"]) == 0  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == ["s0.ora", "s0.png", "s1.ora", "s1.png"]
    stack, _ = ora_stack(out / "s1.ora")
    assert [layer["name"] for layer in stack] == NAMES[1:]  # no hints given: no hints layer
    # The format word for one sketch: OUT.psd beside OUT.png.
    assert main(["colorize", str(folder / "s0.png"), "--run", str(served_runs["hints"]), "-o",
                 str(tmp_path / "one.png"), "--device", "cpu", "--layers", "PSD"]) == 0  # fmt: skip
    assert (tmp_path / "one.psd").is_file() and (tmp_path / "one.png").is_file()
    capsys.readouterr()  # the progress bar

    assert main(["colorize", str(folder), "--run", str(served_runs["hints"]), "-o",
                 str(tmp_path / "two"), "--layers", str(tmp_path / "both.psd")]) == 2  # fmt: skip
    error = capsys.readouterr().err
    assert "2 sketches need --layers psd or --layers ora" in error and error.count("\n") == 1
    assert not (tmp_path / "two").exists() and not (tmp_path / "both.psd").exists()


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ("out.tiff", "out.tiff: a layered file is FILE.psd or FILE.ora, not '.tiff'"),
        ("out", "out: a layered file is FILE.psd or FILE.ora, not 'no suffix'"),
        ("nowhere/out.ora", "nowhere/out.ora: no folder nowhere to write it in"),
    ],
)  # fmt: skip
def test_refusals_are_one_line_and_write_nothing(served_runs, sketch_and_hints, tmp_path,
                                                 monkeypatch, capsys, layers, message):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    sketch, _ = sketch_and_hints
    assert main(["colorize", str(sketch), "--run", str(served_runs["hints"]), "-o", "out.png",
                 "--layers", layers]) == 2  # fmt: skip
    error = capsys.readouterr().err
    assert error == f"sketchcolor colorize: error: {message}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.json", "sketch.png"]


def test_psd_without_psd_tools_is_one_line_naming_the_install(served_runs, sketch_and_hints,
                                                              tmp_path, monkeypatch, capsys):  # fmt: skip
    import builtins

    real_import = builtins.__import__

    def no_psd_tools(name, *arguments, **options):
        if name.startswith("psd_tools"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *arguments, **options)

    monkeypatch.setattr(builtins, "__import__", no_psd_tools)
    sketch, _ = sketch_and_hints
    assert main(["colorize", str(sketch), "--run", str(served_runs["hints"]), "-o",
                 str(tmp_path / "out.png"), "--layers", str(tmp_path / "out.psd")]) == 2  # fmt: skip
    error = capsys.readouterr().err
    assert error == ("sketchcolor colorize: error: writing PSD needs psd-tools: "
                     "pip install 'sketchcolor[layers]'\n")  # fmt: skip
    assert not (tmp_path / "out.png").exists()


def test_the_app_offers_ora_first_where_psd_tools_is_missing(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    installed = real_find_spec("psd_tools") is not None
    assert default_layer_kind() == ("psd" if installed else "ora")
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *rest: None if name == "psd_tools" else real_find_spec(name, *rest))  # fmt: skip
    assert default_layer_kind() == "ora"


@pytest.mark.parametrize("suffix", [".psd", ".ora"])
def test_a_failed_write_leaves_no_partial_file(tmp_path, monkeypatch, suffix):
    if suffix == ".psd":
        pytest.importorskip("psd_tools", reason="PSD needs the layers extra")
    import sketchcolor.inference.layers as layering

    writer = "write_psd" if suffix == ".psd" else "write_ora"
    real_writer = getattr(layering, writer)

    def half_then_full_disk(path, *arguments):
        real_writer(path, *arguments)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(layering, writer, half_then_full_disk)
    (tmp_path / f"out{suffix}").write_bytes(b"an earlier file")
    with pytest.raises(SketchcolorError, match="No space left on device"):
        write_layers(tmp_path / f"out{suffix}", synthetic_layers())
    assert [p.name for p in tmp_path.iterdir()] == [f"out{suffix}"]  # no temporary left
    assert (tmp_path / f"out{suffix}").read_bytes() == b"an earlier file"


# ----------------------------------------------------------------------------- docs


def docs_layers_commands() -> list[str]:
    section = (
        (REPO / "docs" / "colorize-and-app.md").read_text().split("## Colorize your sketches")[1]
    )
    return re.findall(r"^sketchcolor colorize .*--layers.*$", section.split("\n## ")[0], re.M)


def test_the_docs_layers_commands_run_as_written(served_runs, tmp_path, monkeypatch):
    pytest.importorskip("psd_tools", reason="PSD needs the layers extra")
    commands = docs_layers_commands()
    assert len(commands) == 2
    # What the commands name, where they name it: a sketch, hints, a folder (the user's
    # files, under the placeholder path/to/), the run.
    monkeypatch.chdir(tmp_path)
    Path("path/to/sketches").mkdir(parents=True)
    Image.fromarray(draw_sketch(*SKETCH_SIZE)).save("path/to/sketch.png")
    Path("path/to/hints.json").write_text(json.dumps([{"x": 24, "y": 36, "color": "#e03020"}]))
    Image.fromarray(draw_sketch(48, 40)).save("path/to/sketches/a.png")
    Path("runs").mkdir()
    (tmp_path / "runs" / "model-2.1-hints").symlink_to(served_runs["hints"])
    for command in commands:
        assert main(shlex.split(command, comments=True)[1:] + ["--device", "cpu"]) == 0
    assert Path("out.psd").is_file() and Path("colored/a.ora").is_file()
