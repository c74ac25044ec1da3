"""Colorize sketches with a trained run: any size, grayscale or RGB, one file or a whole folder.

A sketch is scaled so its longer side is the run's training size (the scale its strokes were
learnt at), padded with white to a size the generator accepts, coloured, then cropped and
scaled back to its own size (sketchcolor.inference.placement). Palette and hint labels come
from the user (hex colours, a reference image, a hints PNG or JSON drawn on the sketch's own
pixel grid) and must match the colour control the run was trained with
(sketchcolor.inference.controls). Sketches that share a canvas are coloured together, batch by
batch (sketchcolor.inference.colorizer); every output is written to a temporary name and
renamed (sketchcolor.inference.sketch_files), so an interrupted call leaves only whole files.

The steps (`plan_sketches`, then `colorize_jobs`) are the web app's batch path too: it writes
their colours into a zip instead of files.

With a reference picture (the reference control) the sketches are frames: each is coloured on
its own, in natural name order; `chain` makes each coloured frame the reference of the next
(flattening keeps taking the keyframe's own colours), and an unreadable frame is named at the
end while the others are written (`colorize_frames`).

Usage: colorize(["sketch.png"], "runs/m21-hints", "out.png", hints_png="hints.png")
       colorize("frames/", "runs/reference", "coloured/", reference="key.png", chain=True)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from sketchcolor.config import MAX_SKETCH_PIXELS, ColorizeConfig
from sketchcolor.errors import SketchcolorError
from sketchcolor.inference.colorizer import (
    Colorizer,
    colorize_batch,
    colorize_hints_cached,
    load_colorizer,
    sketch_layers,
)
from sketchcolor.inference.controls import UserControls, user_controls
from sketchcolor.inference.layers import write_layers
from sketchcolor.inference.placement import Placement, group_by_canvas
from sketchcolor.inference.sketch_files import (
    layer_paths,
    list_sketches,
    output_paths,
    probe_sketch,
    read_sketch,
    refuse_overwriting_sketches,
    write_png,
)
from sketchcolor.util.files import create_output_folder
from sketchcolor.util.images import from_uint8, to_uint8


@dataclass(kw_only=True)
class BatchOptions:
    """How a batched call colours its sketches (`colorize`'s and the web app's batch)."""

    batch_size: int = 8
    """Sketches per generator call (those sharing a canvas size)."""

    resize: bool = True
    """Scale to the run's training size (else keep the sketch's size and only pad)."""

    max_pixels: int = MAX_SKETCH_PIXELS
    """Larger sketches are refused."""

    flatten: bool = False
    """One colour per line region (sketchcolor.inference.flattening)."""

    def __post_init__(self):
        if self.batch_size < 1:
            raise SketchcolorError(f"batch size must be at least 1, got {self.batch_size}")


@dataclass
class SketchJob:
    """One sketch of a batched call: its place in the caller's list, its file, its canvas."""

    index: int
    path: Path
    placement: Placement


def plan_sketch(colorizer: Colorizer, index: int, path: Path, controls: UserControls,
                options: BatchOptions, hints_cache: dict) -> SketchJob:  # fmt: skip
    """One sketch decoded (a bad file fails here, before any colouring; only its size is kept)
    and placed; the user's hints fitted to it, which checks them against its size."""
    placement = colorizer.place(probe_sketch(path, options.max_pixels), options.resize)
    if controls.has_hints:
        colorize_hints_cached(colorizer, controls, placement, hints_cache)
    return SketchJob(index, path, placement)


def plan_sketches(colorizer: Colorizer, paths: list[Path], controls: UserControls,
                  options: BatchOptions, hints_cache: dict) -> list[SketchJob]:  # fmt: skip
    """Every sketch planned (plan_sketch) before any is coloured, so a bad file fails the call
    with nothing written and a large folder does not fill the memory."""
    return [plan_sketch(colorizer, index, path, controls, options, hints_cache)
            for index, path in enumerate(paths)]  # fmt: skip


def colorize_jobs(colorizer: Colorizer, jobs: list[SketchJob], controls: UserControls,
                  options: BatchOptions,
                  hints_cache: dict) -> Iterator[tuple[SketchJob, torch.Tensor, torch.Tensor]]:  # fmt: skip
    """Planned sketches coloured in batches of one canvas size (so not in the jobs' order),
    each read only when its batch is: yields (job, colours (1, 3, H, W), sketch (1, 3, H, W)),
    both in [-1, 1] on the CPU at the sketch's own size, flattened when options.flatten."""
    for batch in group_by_canvas(jobs, options.batch_size):
        sketches = [read_sketch(job.path, options.max_pixels) for job in batch]
        placements = [job.placement for job in batch]
        outputs = colorize_batch(colorizer, sketches, placements, controls, hints_cache,
                                 options.flatten)  # fmt: skip
        yield from zip(batch, outputs, sketches, strict=True)


def colorize(
    sketches: str | Path | list[str | Path],
    run_dir: str | Path,
    out: str | Path,
    *,
    palette: list[str] | str | None = None,
    palette_from: str | Path | None = None,
    hints_png: str | Path | None = None,
    hints_json: str | Path | None = None,
    batch_size: int = 8,
    resize: bool = True,
    max_pixels: int = MAX_SKETCH_PIXELS,
    device: torch.device | str | None = None,
    flatten: bool = False,
    engine: str = "torch",
    onnx: str | Path | None = None,
    layers: str | Path | None = None,
    reference: str | Path | None = None,
    chain: bool = False,
) -> list[Path]:
    """Colour sketches with the run's generator; returns the written PNG paths.

    sketches: a file, a folder or a list of files. out: OUT.png for one sketch, else a folder
    (OUT/<stem>.png). palette: hex colours ("#ff0000,#00ff00" or a list); palette_from: a
    reference image (its 9 k-means colours); hints_png / hints_json: labels on the sketch's
    own pixel grid (one set for every sketch). batch_size, resize, max_pixels, flatten: see
    BatchOptions. engine: "torch" or "onnxruntime" (sketchcolor.inference.engines; onnx: an
    exported file of the run). layers: also a layered file per sketch
    (sketchcolor.inference.layers; `layer_paths` names them). reference: a coloured picture of
    the same character (the reference control); chain: each coloured frame becomes the next
    one's reference (see `colorize_frames`). Everything is checked before the first image is
    coloured (with a reference, each frame is checked when its turn comes).
    """
    if chain and reference is None:
        raise SketchcolorError("--chain needs --reference KEYFRAME")
    options = BatchOptions(batch_size=batch_size, resize=resize, max_pixels=max_pixels,
                           flatten=flatten)  # fmt: skip
    colorizer = load_colorizer(run_dir, device, engine=engine, onnx=onnx)
    controls = user_controls(colorizer.config.color_control, Path(run_dir), palette=palette,
                             palette_from=palette_from, hints_png=hints_png,
                             hints_json=hints_json, reference=reference)  # fmt: skip
    paths = list_sketches(sketches)
    targets = output_paths(paths, Path(out))
    layered = layer_paths(targets, layers)
    refuse_overwriting_sketches(paths, [path for path in layered if path is not None])
    if controls.reference is not None:
        return colorize_frames(colorizer, paths, controls, options, targets, layered, chain)
    hints_cache: dict = {}
    jobs = plan_sketches(colorizer, paths, controls, options, hints_cache)
    for folder in dict.fromkeys(target.parent for target in targets):
        create_output_folder(folder)  # an unwritable output fails before any colouring
    write_outputs(colorizer, jobs, controls, options, hints_cache, targets, layered)
    return targets


def colouring_options(options: BatchOptions, layered: list[Path | None]) -> BatchOptions:
    """The options the colouring runs with: with layers, the flat colours are computed once,
    for the layers and the PNG alike, so the colouring itself does not flatten."""
    with_layers = any(path is not None for path in layered)
    return dataclasses.replace(options, flatten=options.flatten and not with_layers)


def write_outputs(colorizer: Colorizer, jobs: list[SketchJob], controls: UserControls,
                  options: BatchOptions, hints_cache: dict, targets: list[Path],
                  layered: list[Path | None]) -> None:  # fmt: skip
    """Every planned sketch coloured and written to its target (and its layered file), with a
    progress bar for several."""
    colouring = colouring_options(options, layered)
    coloured = colorize_jobs(colorizer, jobs, controls, colouring, hints_cache)
    bar = tqdm(coloured, total=len(jobs), desc="colorize", unit="img", disable=len(jobs) == 1)
    for job, output, sketch in bar:
        write_one(colorizer, job, output, sketch, controls, options, targets, layered)


def write_one(colorizer: Colorizer, job: SketchJob, output: torch.Tensor, sketch: torch.Tensor,
              controls: UserControls, options: BatchOptions, targets: list[Path],
              layered: list[Path | None]) -> None:  # fmt: skip
    """One coloured sketch written to its target, and its layered file when asked."""
    target, layer_path = targets[job.index], layered[job.index]
    if layer_path is None:
        write_png(output, target)
        return
    layers_of_one = sketch_layers(colorizer, output, sketch, job.placement, controls)
    write_png(from_uint8(layers_of_one.picture[None]) if options.flatten else output, target)
    write_layers(layer_path, layers_of_one)


def colorize_frames(colorizer: Colorizer, paths: list[Path], controls: UserControls,
                    options: BatchOptions, targets: list[Path], layered: list[Path | None],
                    chain: bool) -> list[Path]:  # fmt: skip
    """Frames coloured one at a time from the controls' reference, in order; with `chain`, each
    coloured frame is the next one's reference (the keyframe's colours kept for flattening). An
    unreadable frame is skipped (a chain goes on from the last written frame) and named in
    one line at the end, after the others are written."""
    failed, written = [], []
    for folder in dict.fromkeys(target.parent for target in targets):
        create_output_folder(folder)
    colouring = colouring_options(options, layered)
    for index, path in enumerate(tqdm(paths, desc="colorize", unit="frame",
                                      disable=len(paths) == 1)):  # fmt: skip
        hints_cache: dict = {}
        try:  # a frame that does not read is skipped; nothing of it is written
            job = plan_sketch(colorizer, index, path, controls, options, hints_cache)
            sketch = read_sketch(path, options.max_pixels)
        except SketchcolorError as error:
            failed.append(str(error))
            continue
        output = colorize_batch(colorizer, [sketch], [job.placement], controls, hints_cache,
                                colouring.flatten)[0]  # fmt: skip
        write_one(colorizer, job, output, sketch, controls, options, targets, layered)
        written.append(targets[index])
        if chain and index + 1 < len(paths):  # the frame as written: flattened when asked
            coloured = to_uint8(read_sketch(targets[index], options.max_pixels))[0]
            controls = controls.with_reference(coloured, keep_colors=True)
    if failed:
        raise SketchcolorError(f"{len(failed)} of {len(paths)} frames not coloured, the other "
                               f"{len(written)} written: {'; '.join(failed)}")  # fmt: skip
    return written


def colorize_files(config: ColorizeConfig) -> list[Path]:
    """`sketchcolor colorize`: `colorize` with a ColorizeConfig's options (its --palette-file
    read here); returns the written PNG paths."""
    palette = config.palette
    if config.palette_file is not None:
        from sketchcolor.inference.palette_files import load_palette

        palette = load_palette(config.palette_file).colors
    return colorize(list(config.sketches), config.run, config.out, palette=palette,
                    palette_from=config.palette_from, hints_png=config.hints,
                    hints_json=config.hints_json, batch_size=config.batch_size,
                    resize=not config.keep_size, max_pixels=config.max_pixels,
                    device=config.device, flatten=config.flatten, engine=config.engine,
                    onnx=config.onnx, layers=config.layers, reference=config.reference,
                    chain=config.chain)  # fmt: skip
