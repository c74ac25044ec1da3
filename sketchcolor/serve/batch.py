"""Several sketches at once in the web app: uploaded files or a folder, the page's controls for
all of them, the results as one zip (STEM-colorized.png each), progress shown as it goes.

The sketches go through `sketchcolor colorize`'s batched steps (sketchcolor.inference.colorize:
plan_sketches, then colorize_jobs): those that share a canvas size are coloured in one
generator call, at most BATCH_SIZE at a time. Every file is decoded, and the controls fitted
to it, before the first is coloured, so a bad file stops the batch with a one-line error
naming it; the zip is written whole or not at all, its entries in upload order, each under
its own sketch's name.

Usage: colorize_all = batch_handler(gr, handlers)   # then button.click(colorize_all, ...)
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

from sketchcolor.errors import SketchcolorError
from sketchcolor.inference.colorize import BatchOptions, SketchJob, colorize_jobs, plan_sketch
from sketchcolor.inference.colorizer import Colorizer
from sketchcolor.inference.controls import UserControls
from sketchcolor.inference.sketch_files import IMAGE_SUFFIXES
from sketchcolor.serve.handlers import sketch_size
from sketchcolor.util.files import atomic_output
from sketchcolor.util.images import tensor_to_image

BATCH_SIZE = 8  # sketches of one canvas size per generator call (`sketchcolor colorize`'s default)


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


def plan_uploads(colorizer: Colorizer, paths: list[Path], controls: UserControls,
                 options: BatchOptions, hints_cache: dict) -> list[SketchJob]:  # fmt: skip
    """Every uploaded sketch planned (inference.colorize.plan_sketch) before any is coloured;
    an error names the file, with its temporary upload path as "sketch"."""
    jobs = []
    for index, path in enumerate(paths):
        try:
            jobs.append(plan_sketch(colorizer, index, path, controls, options, hints_cache))
        except SketchcolorError as error:
            message = str(error).replace(str(path), "sketch")
            raise SketchcolorError(f"{path.name}: {message}") from None
    return jobs


def png_bytes(image) -> bytes:
    """(1, 3, H, W) in [-1, 1] -> PNG file bytes."""
    buffer = io.BytesIO()
    Image.fromarray(tensor_to_image(image)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_zip(target: Path, coloured: Iterable, names: list[str]) -> None:
    """colorize_jobs' (job, colours, sketch) as a zip, each under names[job.index] and in upload
    order; written to a temporary name and renamed, so a failed batch leaves no zip."""
    pictures = {job.index: png_bytes(output) for job, output, _ in coloured}
    with atomic_output(target) as temporary, zipfile.ZipFile(temporary, "w") as archive:
        for index in sorted(pictures):
            archive.writestr(names[index], pictures[index])  # PNG: already compressed


def batch_handler(gr, handlers):
    """The "Colorize all" handler: (files, folder, sketch, run, hints, editor, flat, reference,
    *swatches) -> (zip path, status line). Gradio fills `progress`, shown over the zip's box."""

    progress_bar = gr.Progress()  # Gradio finds the parameter by this default

    def colorize_all(files, folder, sketch, run, hints, editor, flat, reference,
                     progress=progress_bar, *swatches):  # fmt: skip
        paths = batch_paths(files, folder)
        colorizer, controls = handlers.batch_inputs(sketch, run, hints, editor, reference,
                                                    swatches)  # fmt: skip
        options = BatchOptions(batch_size=BATCH_SIZE, max_pixels=handlers.config.max_pixels,
                               flatten=handlers.flatten(flat))  # fmt: skip
        hints_cache: dict = {}
        jobs = plan_uploads(colorizer, paths, controls, options, hints_cache)
        coloured = colorize_jobs(colorizer, jobs, controls, options, hints_cache)
        steps = progress.tqdm(coloured, total=len(jobs), desc="colorize", unit="sketch")
        target = handlers.outputs.new_path("sketchcolor-colorized.zip")
        write_zip(target, steps, archive_names(paths))
        return str(target), f"{len(paths)} sketch(es) coloured with {run}"

    return colorize_all
