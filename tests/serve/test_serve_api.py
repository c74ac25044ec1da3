"""The `/colorize` endpoint through gradio_client: the colorize path, and bad input as errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from sketchcolor.inference.colorize import colorize
from tests.support.sizes import SERVED_MAX_PIXELS

gradio_client = pytest.importorskip("gradio_client", reason="needs the test extra")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

HINTS = [{"x": 40, "y": 30, "color": "#ff0000"}, {"x": 150, "y": 90, "color": "#0000ff"}]
STROKE = {"points": [[20, 100], [90, 80], [110, 20]], "width": 9, "color": "#00c080"}
BAD_STROKE = '[{"points": [[3, 3]], "width": 0, "color": "#ff0000"}]'


@pytest.fixture(scope="module")
def client(serve_url):
    # A generous timeout: six engineers share this 2-core machine, and an upload can wait.
    return Client(serve_url, verbose=False, httpx_kwargs={"timeout": 120})


@pytest.fixture(scope="module")
def sketch(tmp_path_factory):
    path = tmp_path_factory.mktemp("api") / "sketch.png"
    rng = np.random.default_rng(0)
    pixels = np.where(rng.random((120, 200)) < 0.1, 0, 255).astype(np.uint8)  # not square
    Image.fromarray(pixels, "L").save(path)
    return path


def call(client, sketch, run, hints="", palette=""):
    return client.predict(handle_file(str(sketch)), run, hints, palette, api_name="/colorize")


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_the_endpoint_takes_sketch_run_hints_palette_then_three_optional_inputs(client):
    parameters = client.view_api(print_info=False, return_format="dict")["named_endpoints"][
        "/colorize"]["parameters"]  # fmt: skip
    assert [p["label"] for p in parameters] == ["sketch", "run", "hints", "palette",
                                                "hints_image", "flatten", "reference"]  # fmt: skip
    # So a call with only the first four, as before, still works: the client fills these in.
    assert [p["parameter_has_default"] for p in parameters] == [False] * 4 + [True] * 3
    assert [p["parameter_default"] for p in parameters[4:]] == [None, False, None]


@pytest.fixture(scope="module")
def strokes_png(tmp_path_factory):
    """A painted stroke as the page sends it: a red band, transparent elsewhere."""
    rgba = np.zeros((120, 200, 4), np.uint8)
    rgba[20:40, 10:190] = (255, 0, 0, 255)
    path = tmp_path_factory.mktemp("strokes") / "strokes.png"
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def test_a_hints_image_is_what_colorize_hints_writes(client, sketch, served_runs, strokes_png,
                                                     tmp_path):  # fmt: skip
    out = client.predict(handle_file(str(sketch)), "hints", "", "", handle_file(str(strokes_png)),
                         api_name="/colorize")  # fmt: skip
    (expected,) = colorize(sketch, served_runs["hints"], tmp_path / "cli.png", device="cpu",
                           hints_png=strokes_png)  # fmt: skip
    assert np.array_equal(pixels(out), pixels(expected))
    plain = pixels(call(client, sketch, "hints")).astype(int)
    change = np.abs(pixels(out).astype(int) - plain).mean(axis=-1)
    assert change[20:40, 10:190].mean() > 4 * change[70:, :].mean()  # along the stroke


def test_strokes_and_dots_together_and_flatten(client, sketch, served_runs, strokes_png, tmp_path):
    from sketchcolor.inference.colorizer import colorize_sketch, load_colorizer
    from sketchcolor.inference.controls import user_controls
    from sketchcolor.inference.sketch_files import read_sketch
    from sketchcolor.util.images import tensor_to_image

    dots = json.dumps(HINTS)
    out = client.predict(handle_file(str(sketch)), "hints", dots, "",
                         handle_file(str(strokes_png)), True, api_name="/colorize")  # fmt: skip
    colorizer = load_colorizer(served_runs["hints"], "cpu")
    controls = user_controls("hints", served_runs["hints"], palette=None, palette_from=None,
                             hints_png=strokes_png, hints_json=None, hints_text=dots)  # fmt: skip
    expected = colorize_sketch(colorizer, read_sketch(sketch), controls, flatten=True)
    assert np.array_equal(pixels(out), tensor_to_image(expected))
    unflattened = client.predict(handle_file(str(sketch)), "hints", dots, "",
                                 handle_file(str(strokes_png)), api_name="/colorize")  # fmt: skip
    assert not np.array_equal(pixels(out), pixels(unflattened))
    assert not np.array_equal(pixels(unflattened), pixels(call(client, sketch, "hints", dots)))


@pytest.mark.parametrize(
    ("run", "hints", "palette", "options"),
    [
        ("hints", json.dumps(HINTS), "", {"hints_json": "hints.json"}),
        ("hints", json.dumps([*HINTS, STROKE]), "", {"hints_json": "hints.json"}),
        ("hints", "", "", {}),
        ("palette", "", "#ff0000,#00ff00", {"palette": "#ff0000,#00ff00"}),
    ],
)
def test_output_is_what_sketchcolor_colorize_writes(
    client, sketch, served_runs, tmp_path, run, hints, palette, options
):
    out = call(client, sketch, run, hints, palette)
    if "hints_json" in options:
        (tmp_path / "hints.json").write_text(hints)
        options = {"hints_json": tmp_path / "hints.json"}
    expected = colorize(sketch, served_runs[run], tmp_path / "cli.png", device="cpu", **options)
    assert pixels(out).shape == (120, 200, 3)  # the sketch's own size
    assert np.array_equal(pixels(out), pixels(expected[0]))


def test_hints_change_the_output(client, sketch):
    plain = pixels(call(client, sketch, "hints")).astype(int)
    hinted = pixels(call(client, sketch, "hints", json.dumps(HINTS))).astype(int)
    change = np.abs(plain - hinted).mean(axis=-1)  # (H, W) in 8-bit levels
    near_first_label = change[24:37, 34:47].mean()  # around (x=40, y=30)
    assert near_first_label > 1.0, near_first_label
    assert near_first_label > 4 * change.mean()  # the labels steer where they are


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    (folder / "notes.txt").write_text("not an image")
    # Just over the served limit (608 x 608 > 600 x 600); white compresses to almost nothing.
    side = int(SERVED_MAX_PIXELS**0.5) + 8
    Image.new("L", (side, side), 255).save(folder / "huge.png")
    return folder


@pytest.mark.parametrize(
    ("file", "run", "hints", "palette", "message"),
    [
        ("notes.txt", "hints", "", "", "sketch: cannot read sketch"),
        ("huge.png", "hints", "", "", r"608x608 is 0\.4 MP, over the limit of 360000 pixels"),
        (None, "hints", '[{"x": NaN, "y": 3, "color": "#ff0000"}]', "", '"x" must be a finite'),
        (None, "hints", '[{"x": 3, "color": "#ff0000"}]', "", 'hint 0: needs "y"'),
        (None, "hints", '[{"x": 500, "y": 3, "color": "#ff0000"}]', "", "outside the 200x120"),
        (None, "hints", "[{", "", "cannot read hints JSON"),
        (None, "hints", BAD_STROKE, "", "hint 0: stroke width 0 must be 1 to 200 px"),
        (None, "nope", "", "", "unknown run 'nope'; this server has: hints, palette"),
        (None, "palette", "", "", "give --palette"),
        (None, "palette", "", "#ff0000,blue", "'blue' is not a colour"),
        (None, "hints", "", "#ff0000", "takes no palette"),
    ],
)
def test_bad_input_is_an_error_and_the_server_keeps_serving(
    client, sketch, bad_files, file, run, hints, palette, message
):
    with pytest.raises(AppError, match=message) as caught:
        call(client, bad_files / file if file else sketch, run, hints, palette)
    assert "Traceback" not in str(caught.value)
    assert pixels(call(client, sketch, "hints")).shape == (120, 200, 3)


def test_requests_do_not_load_models(client, sketch, monkeypatch):
    """The server loaded its runs at start; a request that loaded one would call load_run."""
    import sketchcolor.runs

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded during a request")

    monkeypatch.setattr(sketchcolor.runs, "load_run", refuse)
    monkeypatch.setattr(sketchcolor.runs, "load_generator", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    assert pixels(call(client, sketch, "palette", "", "#336699")).shape == (120, 200, 3)
