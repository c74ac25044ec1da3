"""Several sketches at once (sketchcolor.serve.batch) without a browser: which files count,
the names in the zip, progress by sketch, one-line errors naming the file, and the batched
colorize path giving each sketch what the page gives it."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from sketchcolor.errors import SketchcolorError
from sketchcolor.inference.colorizer import Colorizer
from sketchcolor.runs import RunConfig
from sketchcolor.serve.batch import archive_names, batch_handler, batch_paths
from sketchcolor.serve.handlers import Handlers


def sketch(path: Path, size=(30, 20)) -> Path:
    Image.new("L", size, 255).save(path)
    return path


def test_images_count_in_order_other_files_do_not(tmp_path):
    files = [sketch(tmp_path / "b.png"), sketch(tmp_path / "a.JPG")]
    (tmp_path / "notes.txt").write_text("no")
    folder = [str(tmp_path / "notes.txt"), str(sketch(tmp_path / "c.webp"))]
    assert [p.name for p in batch_paths([str(f) for f in files], folder)] == ["b.png", "a.JPG",
                                                                             "c.webp"]  # fmt: skip
    with pytest.raises(SketchcolorError, match="no sketches to colour; upload images"):
        batch_paths(None, [str(tmp_path / "notes.txt")])
    (tmp_path / "broken.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(
        SketchcolorError, match=r"^broken.png: cannot read sketch \(not an image\)$"
    ):
        batch_paths([str(tmp_path / "broken.png")], None)


def test_repeated_names_get_numbers():
    paths = [Path("x/cat.png"), Path("y/cat.png"), Path("dog.jpg"), Path("z/cat.png")]
    assert archive_names(paths) == ["cat-colorized.png", "cat-2-colorized.png",
                                    "dog-colorized.png", "cat-3-colorized.png"]  # fmt: skip


class Progress:
    """gr.Progress's tqdm, recorded."""

    def __init__(self):
        self.calls = []

    def tqdm(self, items, **options):
        self.calls.append(options)
        return items


class Outputs:
    def __init__(self, folder: Path):
        self.folder = folder

    def new_path(self, name: str) -> Path:
        return self.folder / name


class ConstantEngine:
    """A generator stand-in: every canvas coloured one grey; its calls' batch shapes recorded."""

    size_multiple = 8

    def __init__(self, value: float):
        self.value, self.calls = value, []

    def __call__(self, canvas, palette, hints):
        self.calls.append(tuple(canvas.shape))
        return torch.full_like(canvas, self.value)


def handlers_for(models: dict, folder: Path, max_pixels: int = 10**6) -> Handlers:
    config = SimpleNamespace(flatten=False, max_pixels=max_pixels)
    return Handlers(SimpleNamespace(Progress=Progress), config, models, Outputs(folder))


def test_the_batch_is_coloured_by_canvas_size_into_a_zip_and_a_bad_sketch_names_itself(tmp_path):
    engine = ConstantEngine(0.5)
    config = RunConfig(model="2.1", color_control="none", in_channels=1, image_size=32)
    colorizer = Colorizer(engine, config, None, torch.device("cpu"))
    handlers = handlers_for({"plain": colorizer}, tmp_path, max_pixels=900)
    colorize_all = batch_handler(SimpleNamespace(Progress=Progress), handlers)
    files = [str(sketch(tmp_path / "cat.png", (30, 20))), str(sketch(tmp_path / "owl.png", (8, 9))),
             str(sketch(tmp_path / "fox.png", (30, 20)))]  # fmt: skip
    progress = Progress()
    path, status = colorize_all(files, None, None, "plain", "", None, True, None, progress)
    assert status == "3 sketch(es) coloured with plain"
    assert progress.calls == [{"total": 3, "desc": "colorize", "unit": "sketch"}]
    # cat and fox share a canvas (32x24 after scaling to 32 px): one generator call for both
    assert engine.calls == [(2, 3, 24, 32), (1, 3, 32, 32)]
    with zipfile.ZipFile(path) as archive:
        # in upload order, though owl was coloured last
        assert archive.namelist() == ["cat-colorized.png", "owl-colorized.png",
                                      "fox-colorized.png"]  # fmt: skip
        with archive.open("owl-colorized.png") as file:
            pixels = np.asarray(Image.open(file))
    assert pixels.shape == (9, 8, 3) and (pixels == 191).all()  # 0.5 -> 191, flat on white

    files.insert(1, str(sketch(tmp_path / "bad.png", (31, 30))))  # 930 pixels: over 900
    with pytest.raises(SketchcolorError, match=r"^bad.png: sketch: 31x30 is 0.0 MP, over the "
                       r"limit of 900 pixels \(raise it with --max-pixels\)$"):  # fmt: skip
        colorize_all(files, None, None, "plain", "", None, False, None, Progress())
    assert len(engine.calls) == 2  # refused before any colouring
    assert [p.name for p in tmp_path.glob("*.zip")] == ["sketchcolor-colorized.zip"]  # the old one


def test_the_zip_holds_what_the_page_gives_each_sketch(served_runs, tmp_path):
    """The batch path (colorize's batched steps, two sketches in one generator call) gives
    each sketch the colours the page's own request gives it: dots, brush strokes, flat."""
    from sketchcolor.inference.colorizer import load_colorizer
    from sketchcolor.serve.request import colorize_request
    from sketchcolor.util.images import tensor_to_image

    rng = np.random.default_rng(0)
    files = []
    for name, size in (("a", (120, 200)), ("b", (120, 200)), ("c", (90, 60))):
        lines = np.where(rng.random(size) < 0.1, 0, 255).astype(np.uint8)
        Image.fromarray(lines, "L").save(tmp_path / f"{name}.png")
        files.append(str(tmp_path / f"{name}.png"))
    stroke = np.zeros((120, 200, 4), np.uint8)
    stroke[20:40, 10:190] = (255, 0, 0, 255)
    editor = {"layers": [stroke]}
    dots = json.dumps([{"x": 40, "y": 30, "color": "#0000ff"}])
    handlers = handlers_for({"hints": load_colorizer(served_runs["hints"], "cpu")}, tmp_path)
    colorize_all = batch_handler(SimpleNamespace(Progress=Progress), handlers)
    path, _ = colorize_all(files, None, files[0], "hints", dots, editor, True, None, Progress())
    request = handlers.batch_request(files[0], "hints", dots, editor, None, ())
    assert request["hints_image"] is not None and request["hints"]
    with zipfile.ZipFile(path) as archive:
        for file, name in zip(files, archive_names([Path(f) for f in files]), strict=True):
            expected = colorize_request(handlers.models, file, "hints", **request, flatten=True)
            with archive.open(name) as member:
                assert np.array_equal(np.asarray(Image.open(member)), tensor_to_image(expected))
