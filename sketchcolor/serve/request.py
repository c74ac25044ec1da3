"""One request of the web app or its API: a sketch file and controls -> colours, and the
files handed back to Gradio.

Both the page and `/colorize` go through `colorize_request`, which calls
`sketchcolor.inference.colorizer.colorize_sketch`, the path `sketchcolor colorize` uses; the
page's layered file takes `request_inputs` to `colorize_layers`, as `colorize --layers` does;
the page's batch takes `request_controls` to the batched steps of `sketchcolor colorize`
(sketchcolor.serve.batch).

Usage: colours = colorize_request(models, "sketch.png", "m21-hints", hints_json, "", flatten=True)
"""

from __future__ import annotations

import atexit
import collections
import shutil
import tempfile
import threading
from pathlib import Path

import torch

from sketchcolor.config import MAX_SKETCH_PIXELS
from sketchcolor.data.controls.conditioning import uses_hints
from sketchcolor.errors import SketchcolorError
from sketchcolor.inference.colorizer import Colorizer, colorize_sketch
from sketchcolor.inference.controls import UserControls, user_controls
from sketchcolor.inference.sketch_files import read_sketch, write_png


def describe_run(name: str, colorizer: Colorizer) -> str:
    """One line about a run: its model, colour control and training size."""
    config = colorizer.config
    control = config.color_control
    text = f"**{name}**: Model {config.model}, colour control `{control}`, "
    text += f"trained at {colorizer.image_size} px"
    if uses_hints(control):
        text += f", hint labels {colorizer.hint_config.label_size} px"
    return text


def find_run(models: dict[str, Colorizer], name: str) -> Colorizer:
    """The loaded run called `name`, or a one-line error listing the server's runs."""
    if name not in models:
        raise SketchcolorError(f"unknown run {name!r}; this server has: {', '.join(models)}")
    return models[name]


def colorize_request(
    models: dict[str, Colorizer],
    sketch_path: str | None,
    run: str,
    hints: str,
    palette: str,
    *,
    hints_image: str | Path | None = None,
    max_pixels: int = MAX_SKETCH_PIXELS,
    flatten: bool = False,
    reference: str | Path | None = None,
) -> torch.Tensor:
    """What `/colorize` does: a sketch file + run name + hints JSON + hex palette ("" for
    none) -> the colours (1, 3, H, W) in [-1, 1] at the sketch's size (flattened along its
    lines when `flatten`). hints_image: a hints PNG on the sketch's pixels (painted strokes,
    alpha the mask), the JSON's labels drawn over it; reference: a coloured picture of the
    same character (reference runs). One-line errors."""
    colorizer, sketch, controls = request_inputs(models, sketch_path, run, hints, palette,
                                                 hints_image, max_pixels, reference)  # fmt: skip
    return colorize_sketch(colorizer, sketch, controls, flatten=flatten)


def request_inputs(models: dict[str, Colorizer], sketch_path: str | None, run: str, hints: str,
                   palette: str, hints_image: str | Path | None, max_pixels: int,
                   reference: str | Path | None = None,
                   ) -> tuple[Colorizer, torch.Tensor, UserControls]:  # fmt: skip
    """A request's run, sketch (1, 3, H, W) and controls, checked: one-line errors. The
    page's layered file hands them to colorize_layers, as `colorize --layers` does."""
    colorizer = find_run(models, run)
    if not sketch_path:
        raise SketchcolorError("no sketch given; upload an image")
    controls = request_controls(colorizer, run, hints, palette, hints_image, reference)
    return colorizer, read_uploaded_sketch(sketch_path, max_pixels), controls


def request_controls(colorizer: Colorizer, run: str, hints: str, palette: str,
                     hints_image: str | Path | None = None,
                     reference: str | Path | None = None) -> UserControls:  # fmt: skip
    """A request's hints JSON and hex palette ("" for none), hints image and reference picture,
    checked against the run's colour control: one-line errors. One set serves a whole batch."""
    return user_controls(
        colorizer.config.color_control,
        Path(run),
        palette=palette.strip() or None,
        palette_from=None,
        hints_png=hints_image or None,
        hints_json=None,
        hints_text=hints.strip() or None,
        reference=reference or None,
    )


def read_uploaded_sketch(path: str, max_pixels: int) -> torch.Tensor:
    """read_sketch, with the upload's temporary path replaced by "sketch" in its messages."""
    try:
        return read_sketch(Path(path), max_pixels)
    except SketchcolorError as error:
        raise SketchcolorError(str(error).replace(str(path), "sketch")) from None


class OutputFiles:
    """Each result as its own file (PNG, hints image, palette, zip), the latest `keep` kept.

    Results are handed to Gradio as files, not arrays: Gradio stores an array under a name made
    from its content and rewrites that file in place, so two identical results at once (the
    same request twice) could be read half-written; a file is written under a temporary name
    and renamed, in a folder of its own. Gradio copies the file as the request ends, so older
    ones can go.
    """

    def __init__(self, keep: int = 64):
        self.folder = Path(tempfile.mkdtemp(prefix="sketchcolor-serve-"))
        atexit.register(shutil.rmtree, self.folder, ignore_errors=True)
        self.keep = keep
        self.written: collections.deque[Path] = collections.deque()
        self.lock = threading.Lock()

    def new_path(self, name: str) -> Path:
        """A path NAME in a new folder of its own; the oldest folders beyond `keep` go."""
        target = Path(tempfile.mkdtemp(dir=self.folder)) / name
        with self.lock:
            self.written.append(target)
            while len(self.written) > self.keep:
                shutil.rmtree(self.written.popleft().parent, ignore_errors=True)
        return target

    def write(self, image: torch.Tensor, stem: str) -> Path:
        """(1, 3, H, W) in [-1, 1] -> a new PNG, STEM-colorized.png in a folder of its own."""
        target = self.new_path(f"{stem}-colorized.png")
        write_png(image, target)
        return target
