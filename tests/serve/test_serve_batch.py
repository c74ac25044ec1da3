"""Several sketches at once (sketchcolor.serve.batch) without a browser: which files count,
the names in the zip, progress by sketch and one-line errors naming the file."""

from __future__ import annotations

import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from sketchcolor.errors import SketchcolorError
from sketchcolor.serve.batch import archive_names, batch_handler, batch_paths


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
        self.calls.append((len(items), options))
        return items


class Outputs:
    def __init__(self, folder: Path):
        self.folder = folder

    def new_path(self, name: str) -> Path:
        return self.folder / name


def test_every_sketch_in_the_zip_with_progress_and_a_bad_one_names_itself(tmp_path):
    def colorize_one(path, run, request, flat):
        if path.stem == "bad":
            raise SketchcolorError("sketch: too many pixels")
        width, height = Image.open(path).size
        return torch.full((1, 3, height, width), 0.5 if flat else -0.5)

    handlers = SimpleNamespace(outputs=Outputs(tmp_path), colorize_one=colorize_one,
                               batch_request=lambda *values: {"hints": "", "palette": ""})  # fmt: skip
    gr = SimpleNamespace(Progress=Progress)
    colorize_all = batch_handler(gr, handlers)
    files = [str(sketch(tmp_path / "cat.png", (30, 20))), str(sketch(tmp_path / "owl.png", (8, 9)))]
    progress = Progress()
    path, status = colorize_all(files, None, None, "hints", "", None, True, progress)
    assert status == "2 sketch(es) coloured with hints"
    assert progress.calls == [(2, {"desc": "colorize", "unit": "sketch"})]
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["cat-colorized.png", "owl-colorized.png"]
        with archive.open("owl-colorized.png") as file:
            pixels = np.asarray(Image.open(file))
    assert pixels.shape == (9, 8, 3) and (pixels == 191).all()  # flat: 0.5 -> 191

    files.append(str(sketch(tmp_path / "bad.png")))
    with pytest.raises(SketchcolorError, match="^bad.png: sketch: too many pixels$"):
        colorize_all(files, None, None, "hints", "", None, False, Progress())
    assert [p.name for p in tmp_path.glob("*.zip")] == ["sketchcolor-colorized.zip"]  # the old one
