"""Several sketches at once in the web app: uploaded files or a folder, the page's controls for
all of them, the results as one zip (STEM-colorized.png each), progress shown as it goes.

Every file's header is read before the first is coloured, so a file that is no image stops
the batch with a one-line error naming it, and the zip is written whole or not at all.

Usage: colorize_all = batch_handler(gr, handlers)   # then button.click(colorize_all, ...)
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from PIL import Image

from sketchcolor.errors import SketchcolorError
from sketchcolor.inference.colorize import IMAGE_SUFFIXES
from sketchcolor.serve.handlers import sketch_size
from sketchcolor.util.files import atomic_output
from sketchcolor.util.images import to_uint8


def batch_paths(files: list | None, folder: list | None) -> list[Path]:
    """Uploaded files and a folder's files -> the images among them (by suffix), in order."""
    paths = [Path(item) for item in [*(files or []), *(folder or [])]]
    sketches = [path for path in paths if path.suffix.lower() in IMAGE_SUFFIXES]
    if not sketches:
        kinds = ", ".join(IMAGE_SUFFIXES)
        raise SketchcolorError(f"no sketches to colour; upload images ({kinds})")
    for path in sketches:
        if sketch_size(str(path)) is None:
            raise SketchcolorError(f"{path.name}: cannot read sketch (not an image)")
    return sketches


def archive_names(paths: list[Path]) -> list[str]:
    """STEM-colorized.png for each sketch; a repeated stem (one per folder) gets -2, -3..."""
    names, seen = [], {}
    for path in paths:
        seen[path.stem] = seen.get(path.stem, 0) + 1
        suffix = "" if seen[path.stem] == 1 else f"-{seen[path.stem]}"
        names.append(f"{path.stem}{suffix}-colorized.png")
    return names


def png_bytes(image) -> bytes:
    """(1, 3, H, W) in [-1, 1] -> PNG file bytes."""
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image)[0]).save(buffer, format="PNG")
    return buffer.getvalue()


def batch_handler(gr, handlers):
    """The "Colorize all" handler: (files, folder, sketch, run, hints, editor, flat, *swatches)
    -> (zip path, status line). Gradio fills `progress`, shown over the zip's box."""

    progress_bar = gr.Progress()  # Gradio finds the parameter by this default

    def colorize_all(files, folder, sketch, run, hints, editor, flat, progress=progress_bar,
                     *swatches):  # fmt: skip
        paths = batch_paths(files, folder)
        request = handlers.batch_request(sketch, run, hints, editor, swatches)
        target = handlers.outputs.new_path("sketchcolor-colorized.zip")
        steps = progress.tqdm(list(zip(paths, archive_names(paths), strict=True)),
                              desc="colorize", unit="sketch")  # fmt: skip
        with atomic_output(target) as temporary, zipfile.ZipFile(temporary, "w") as archive:
            for path, name in steps:
                try:
                    output = handlers.colorize_one(path, run, request, flat)
                except SketchcolorError as error:
                    raise SketchcolorError(f"{path.name}: {error}") from None
                archive.writestr(name, png_bytes(output))  # PNG: already compressed
        return str(target), f"{len(paths)} sketch(es) coloured with {run}"

    return colorize_all
