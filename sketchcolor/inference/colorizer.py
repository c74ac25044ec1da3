"""A run's generator loaded once, colouring in-memory sketches: a batch whose placements share
a canvas in one generator call (sketchcolor.inference.placement), optionally flattened along
the sketch's lines (sketchcolor.inference.flattening), or one sketch as the layers of a
layered file (sketchcolor.inference.layers).

Usage: colorizer = load_colorizer("runs/m21-hints", "cpu")
       colours = colorize_sketch(colorizer, read_sketch(path), controls, flatten=True)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from sketchcolor.errors import SketchcolorError
from sketchcolor.inference.controls import UserControls, hints_for, reference_for
from sketchcolor.inference.layers import Layers, hints_layer, line_layer
from sketchcolor.inference.placement import Placement, from_canvas, place, to_canvas
from sketchcolor.runs import RunConfig, image_size_of
from sketchcolor.util.devices import choose_device
from sketchcolor.util.images import to_uint8


@dataclass
class Colorizer:
    """A run's engine loaded once (sketchcolor.inference.engines: its PyTorch generator in eval
    mode on its device, or an onnxruntime session), with what the run was trained with."""

    engine: object
    config: RunConfig
    hint_config: object
    device: torch.device

    @property
    def image_size(self) -> int:
        """The size the run was trained at (runs.image_size_of: 512 for a hand-made folder
        whose config.json records none)."""
        return image_size_of(self.config)

    def place(self, size: tuple[int, int], resize: bool = True) -> Placement:
        """Where a (height, width) sketch sits in this generator's canvas."""
        return place(*size, self.image_size, self.engine.size_multiple, resize)


def load_colorizer(
    run_dir: str | Path,
    device: torch.device | str | None,
    *,
    engine: str = "torch",
    onnx: str | Path | None = None,
) -> Colorizer:
    """The run's engine ("torch" or "onnxruntime", sketchcolor.inference.engines), its config
    and hint config; one-line errors. device: as choose_device takes it (None: cuda if any).
    onnx: an exported file of the run, for onnxruntime."""
    from sketchcolor.inference.engines import load_engine

    device = choose_device(device)
    return Colorizer(*load_engine(run_dir, engine, device, onnx=onnx), device)


def colorize_batch(
    colorizer: Colorizer,
    sketches: list[torch.Tensor],
    placements: list[Placement],
    controls: UserControls,
    hints_cache: dict | None = None,
    flatten: bool = False,
) -> list[torch.Tensor]:
    """Sketches (each (1, 3, H, W) in [-1, 1]) whose placements share a canvas -> their colours,
    each (1, 3, H, W) on the CPU at its sketch's own size.

    hints_cache: fitted hints by placement, kept by a caller that colours many sketches.
    flatten: one colour per line region (sketchcolor.inference.flattening), the labels' where
    they sit.
    """
    device = colorizer.device
    canvas = torch.cat([to_canvas(sketch, p, fill=1.0, mode="bicubic")
                        for sketch, p in zip(sketches, placements, strict=True)])  # fmt: skip
    hints = batch_hints(colorizer, controls, placements, hints_cache)
    palette = None
    if controls.palette is not None:
        palette = controls.palette.expand(len(sketches), -1, -1).to(device)
    given = []  # the reference, for the reference control only: other engines take three
    if controls.reference is not None:
        given.append(torch.cat([reference_for(controls, p) for p in placements]).to(device))
    output = colorizer.engine(canvas.to(device), palette, hints, *given).cpu()  # the call
    if not torch.isfinite(output).all():  # NaN would be written as a black picture
        raise SketchcolorError("the generator's output is NaN/inf; nothing written")
    outputs = [from_canvas(output[i : i + 1], p) for i, p in enumerate(placements)]
    if flatten:
        outputs = [flattened(colorizer, out, sketch, p, controls)
                   for out, sketch, p in zip(outputs, sketches, placements, strict=True)]  # fmt: skip
    return outputs


def batch_hints(colorizer: Colorizer, controls: UserControls, placements: list[Placement],
                hints_cache: dict | None):  # fmt: skip
    """The user's hints fitted to each placement, stacked on the colorizer's device (None:
    no hints given)."""
    if not controls.has_hints:
        return None
    cache = {} if hints_cache is None else hints_cache
    parts = [colorize_hints_cached(colorizer, controls, p, cache) for p in placements]
    return type(parts[0])(
        rgb=torch.cat([h.rgb for h in parts]).to(colorizer.device),
        mask=torch.cat([h.mask for h in parts]).to(colorizer.device),
    )


def flattened(colorizer: Colorizer, output: torch.Tensor, sketch: torch.Tensor,
              placement: Placement, controls: UserControls) -> torch.Tensor:  # fmt: skip
    """The output flattened along the sketch at the sketch's own size, with the user's labels
    (for the reference control: the colours of the reference regions they match, snapped
    to the reference's own colours)."""
    from sketchcolor.inference.flattening import flatten_picture

    return flatten_picture(output, sketch, own_size_hints(colorizer, controls, placement),
                           colors=controls.reference_colors,
                           reference=controls.reference_layout)  # fmt: skip


def own_size_hints(colorizer: Colorizer, controls: UserControls, placement: Placement):
    """The user's labels at the sketch's own size (no scaling, no padding), or None."""
    if not controls.has_hints:
        return None
    original = Placement(placement.original, placement.original, placement.original)
    return hints_for(controls, original, colorizer.hint_config.label_size)


def colorize_hints_cached(colorizer: Colorizer, controls: UserControls, placement: Placement,
                          cache: dict):  # fmt: skip
    """The user's hints fitted to one placement, computed once per placement."""
    key = (placement.original, placement.scaled, placement.canvas)
    if key not in cache:
        cache[key] = hints_for(controls, placement, colorizer.hint_config.label_size)
    return cache[key]


def colorize_sketch(
    colorizer: Colorizer,
    sketch: torch.Tensor,
    controls: UserControls,
    *,
    resize: bool = True,
    flatten: bool = False,
) -> torch.Tensor:
    """One in-memory sketch (1, 3, H, W) in [-1, 1] -> its colours (1, 3, H, W), on the CPU."""
    placement = colorizer.place(tuple(sketch.shape[-2:]), resize)
    return colorize_batch(colorizer, [sketch], [placement], controls, flatten=flatten)[0]


def colorize_layers(
    colorizer: Colorizer, sketch: torch.Tensor, controls: UserControls, *, resize: bool = True
) -> Layers:
    """One in-memory sketch (1, 3, H, W) in [-1, 1] -> its layers for a layered file
    (sketchcolor.inference.layers.write_layers): shaded output, flat colours, line art, hints;
    their `picture` is what `colorize_sketch(..., flatten=True)` returns, as uint8."""
    placement = colorizer.place(tuple(sketch.shape[-2:]), resize)
    output = colorize_batch(colorizer, [sketch], [placement], controls)[0]
    return sketch_layers(colorizer, output, sketch, placement, controls)


def sketch_layers(colorizer: Colorizer, output: torch.Tensor, sketch: torch.Tensor,
                  placement: Placement, controls: UserControls) -> Layers:  # fmt: skip
    """One sketch's unflattened colours (colorize_batch's) -> its layers, at its own size."""
    from sketchcolor.data.regions import draw_lines
    from sketchcolor.inference.flattening import flat_colors

    hints = own_size_hints(colorizer, controls, placement)
    sketch_u8 = to_uint8(sketch)[0]
    flat = flat_colors(output, sketch, hints, colors=controls.reference_colors,
                       reference=controls.reference_layout)  # fmt: skip
    labels = None
    if hints is not None:
        labels = hints_layer(hints.mask[0, 0].cpu().numpy() > 0.5, to_uint8(hints.rgb)[0])
    return Layers(shaded=to_uint8(output)[0], flat=flat, lines=line_layer(sketch_u8),
                  hints=labels, picture=draw_lines(flat, sketch_u8))  # fmt: skip
