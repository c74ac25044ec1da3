"""What the web app's components do: one short method per event, over the loaded runs.

Every method takes the plain values Gradio hands over (file paths, JSON text, colour picker
values, the brush editor's {"background", "layers", "composite"}) and returns what the page
shows; serve.py connects them to the components of serve_layout.py. Bad input is a
SketchcolorError, which serve.user_errors turns into one line on the page.

Usage: handlers = Handlers(gr, config, models, OutputFiles()); handlers.colorize(sketch, ...)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from PIL import Image

from sketchcolor.data.controls.conditioning import uses_hints, uses_palette, uses_reference
from sketchcolor.errors import SketchcolorError
from sketchcolor.inference.colorizer import colorize_layers
from sketchcolor.inference.layers import write_layers
from sketchcolor.inference.palette_files import (
    Palette,
    colors_to_text,
    file_name,
    fill_swatches,
    load_palette,
    parse_colors,
    save_palette,
)
from sketchcolor.serve.canvas import region_picture, strokes_rgba
from sketchcolor.serve.controls import (
    hex_palette,
    hint_overlay,
    labels_from_reference,
    labels_to_text,
    parse_labels,
    rgb_hex,
    shown_label_size,
)
from sketchcolor.serve.layout import DEFAULT_SWATCHES
from sketchcolor.serve.request import (
    colorize_request,
    describe_run,
    find_run,
    read_uploaded_sketch,
    request_controls,
    request_inputs,
)
from sketchcolor.util.images import from_uint8, to_uint8


def sketch_size(path: str) -> tuple[int, int] | None:
    """(height, width) from an image file's header, None for a file that is no image (the
    colorize path says so in its own words)."""
    try:
        with Image.open(path) as image:
            return image.size[::-1]
    except (OSError, ValueError):
        return None


class Handlers:
    """The page's event handlers over already-loaded runs (`models`) and the result files."""

    def __init__(self, gr, config, models: dict, outputs):
        self.gr, self.config, self.models, self.outputs = gr, config, models, outputs

    # ------------------------------------------------------------------------- colours

    def flatten(self, asked) -> bool:
        """Flat colours for a request: the server's --flatten, or the page's switch / API flag."""
        return self.config.flatten or bool(asked)

    def request(self, sketch: str, run: str, hints: str, editor, reference, swatches) -> dict:
        """The controls the run takes, as colorize_request's keywords (hidden ones not sent):
        hints JSON, a hints image of the painted strokes, the swatches' palette, the
        reference picture."""
        control = find_run(self.models, run).config.color_control
        takes_hints = uses_hints(control)
        return {
            "hints": (hints or "") if takes_hints else "",
            "hints_image": self.strokes_file(editor, sketch) if takes_hints else None,
            "palette": ",".join(hex_palette(swatches)) if uses_palette(control) else "",
            "reference": (reference or None) if uses_reference(control) else None,
        }

    def strokes_file(self, editor, sketch: str) -> Path | None:
        """The brush layers as a hints PNG at the sketch's size (None: nothing painted)."""
        size = sketch_size(sketch) if sketch else None
        layers = (editor or {}).get("layers") or []
        rgba = strokes_rgba(layers, size) if size and layers else None
        if rgba is None:
            return None
        target = self.outputs.new_path("strokes.png")
        Image.fromarray(rgba, "RGBA").save(target)
        return target

    def colorize(self, sketch, run, hints, editor, flat, reference, *swatches):
        """The page's picture: -> (output file, latency line, download button)."""
        gr = self.gr
        if not sketch:
            return None, "Upload a sketch to start.", gr.update(value=None, interactive=False)
        if uses_reference(find_run(self.models, run).config.color_control) and not reference:
            return (
                None,
                "Upload a reference: the same character, coloured.",
                gr.update(value=None, interactive=False),
            )
        request = self.request(sketch, run, hints, editor, reference, swatches)
        flatten = self.flatten(flat)
        start = time.perf_counter()
        output = colorize_request(self.models, sketch, run, **request,
                                  max_pixels=self.config.max_pixels, flatten=flatten)  # fmt: skip
        seconds = time.perf_counter() - start
        target = self.outputs.write(output, Path(sketch).stem)
        height, width = output.shape[-2:]
        line = f"**{seconds:.2f} s**: {width}x{height} with {run}"
        if uses_hints(find_run(self.models, run).config.color_control):
            line += f", {len(parse_labels(request['hints']))} hint label(s)"
            line += ", brush strokes" if request["hints_image"] else ""
        line += ", from the reference" if request["reference"] else ""
        line += ", flat colours" if flatten else ""
        return str(target), line, gr.update(value=str(target), interactive=True)

    def layered_file(self, sketch, run, hints, editor, kind, reference, *swatches):
        """The page's picture as a layered file (kind "psd" or "ora"), as `colorize --layers`
        writes it: line art, flat colours, shaded output, hints; -> the file component."""
        if not sketch:
            raise SketchcolorError("upload a sketch first")
        if uses_reference(find_run(self.models, run).config.color_control) and not reference:
            raise SketchcolorError("upload a reference first: the same character, coloured")
        request = self.request(sketch, run, hints, editor, reference, swatches)
        colorizer, image, controls = request_inputs(self.models, sketch, run,
                                                    max_pixels=self.config.max_pixels, **request)  # fmt: skip
        layers = colorize_layers(colorizer, image, controls)
        target = self.outputs.new_path(f"{Path(sketch).stem}-layers.{kind}")
        return self.gr.update(value=str(write_layers(target, layers)), visible=True)

    def api_colorize(self, sketch, run, hints, palette, hints_image=None, flatten=False,
                     reference=None):  # fmt: skip
        """`/colorize`: (sketch, run, hints JSON, palette[, hints image, flatten, reference])
        -> PNG path."""
        output = colorize_request(self.models, sketch, run, hints or "", palette or "",
                                  hints_image=hints_image, max_pixels=self.config.max_pixels,
                                  flatten=self.flatten(flatten), reference=reference)  # fmt: skip
        return str(self.outputs.write(output, Path(sketch).stem))

    def show_run(self, run):
        """A run chosen: its line, and the hint / palette controls it takes shown."""
        colorizer = find_run(self.models, run)
        control = colorizer.config.color_control
        return (describe_run(run, colorizer), self.gr.update(visible=uses_hints(control)),
                self.gr.update(visible=uses_palette(control)),
                self.gr.update(visible=uses_reference(control)))  # fmt: skip

    def show_regions(self, sketch):
        """The region map flat colours use: each region the lines close in its own colour."""
        if not sketch:
            raise SketchcolorError("upload a sketch first")
        image = read_uploaded_sketch(sketch, self.config.max_pixels)
        picture, count = region_picture(to_uint8(image)[0])
        return self.gr.update(value=picture, visible=True, label=f"Regions: {count}")

    # ------------------------------------------------------------------------- hints

    def editor_value(self, sketch):
        """A new sketch: the brush canvas shows it, with no strokes, and a brush sized to it
        (1/32 of its shorter side across: 8 px on a 256 px sketch)."""
        size = sketch_size(sketch) if sketch else None
        if size is None:
            return None
        brush = self.gr.Brush(colors=list(DEFAULT_SWATCHES), default_color=DEFAULT_SWATCHES[0],
                              color_mode="defaults", default_size=max(2, round(min(size) / 64)))  # fmt: skip
        value = {"background": sketch, "layers": [], "composite": sketch}
        return self.gr.update(value=value, brush=brush)

    def draw_hints(self, sketch, run, hints, editor):
        """The dots canvas: the sketch with the painted strokes and the dots on it."""
        if not sketch:
            return None
        colorizer = find_run(self.models, run)
        image = read_uploaded_sketch(sketch, self.config.max_pixels)
        takes_hints = uses_hints(colorizer.config.color_control)
        layers = (editor or {}).get("layers") or []
        rgba = strokes_rgba(layers, tuple(image.shape[-2:])) if takes_hints and layers else None
        if rgba is not None:
            strokes = from_uint8(rgba[None])  # (1, 4, H, W): colour and alpha
            image = torch.where(strokes[:, 3:] > 0, strokes[:, :3], image)
        labels = parse_labels(hints) if takes_hints else []
        return hint_overlay(image, labels, shown_label_size(colorizer, image.shape[-2:]))

    def add_hint(self, hints, color, evt):
        """A click on the dots canvas: one more label there, in the dot colour."""
        labels = parse_labels(hints)
        x, y = evt.index[:2]
        labels.append({"x": int(x), "y": int(y), "color": hex_palette([color])[0]})
        return labels_to_text(labels)

    def undo_hint(self, hints):
        """The last dot removed."""
        return labels_to_text(parse_labels(hints)[:-1])

    def hints_from_reference(self, sketch, run, reference, count):
        """`sketchcolor hints`' labels for a reference image, on the sketch's pixels."""
        if not sketch or not reference:
            raise SketchcolorError("upload a sketch and a reference image first")
        colorizer = find_run(self.models, run)
        size = read_uploaded_sketch(sketch, self.config.max_pixels).shape[-2:]
        label_size = shown_label_size(colorizer, size)
        return labels_to_text(labels_from_reference(Path(reference), colorizer.hint_config,
                                                    size, label_size, int(count)))  # fmt: skip

    # ------------------------------------------------------------------------- palettes

    def palette_from_reference(self, reference):
        """A reference image's 9 k-means colours, into the swatches and the hex text."""
        from sketchcolor.data.controls.user_controls import palette_from_image

        if not reference:
            raise SketchcolorError("upload a reference image first")
        colors = [rgb_hex(color) for color in palette_from_image(Path(reference))[0]]
        return [*colors, colors_to_text(colors)]

    def swatches_to_text(self, *swatches):
        """The swatches as the hex text beside them."""
        return colors_to_text(hex_palette(swatches))

    def check_palette_text(self, text):
        """Typed hex colours, checked and written out tidily ('#AB0 ...' is an error)."""
        return colors_to_text(parse_colors(text))

    def text_to_swatches(self, text):
        """Typed hex colours (1 to 9, repeated to fill) into the swatches; one-line errors."""
        return fill_swatches(parse_colors(text))

    def palette_file(self, name, *swatches):
        """The swatches as NAME.json, for the palette download button."""
        palette = Palette(name=(name or "").strip() or "palette", colors=hex_palette(swatches))
        return str(save_palette(self.outputs.new_path(file_name(palette.name)), palette))

    def load_palette_file(self, path):
        """An uploaded palette JSON: its name, and its colours into the swatches and text."""
        if not path:
            return [self.gr.update()] * 11  # the upload was cleared: keep the palette
        palette = load_palette(Path(path))
        colors = fill_swatches(palette.colors)
        return [palette.name, *colors, colors_to_text(colors)]

    # ------------------------------------------------------------------------- several files

    def batch_request(self, sketch, run, hints, editor, reference, swatches) -> dict:
        """The page's controls for other sketches: the dots in the current sketch's frame, so
        that they, like the strokes image, scale to each sketch."""
        request = self.request(sketch, run, hints, editor, reference, swatches)
        labels = parse_labels(request["hints"])
        size = sketch_size(sketch) if sketch else None
        if labels and size:
            request["hints"] = json.dumps({"width": size[1], "height": size[0], "labels": labels})
        return request

    def batch_inputs(self, sketch, run, hints, editor, reference, swatches):
        """The run and the page's controls (batch_request's, the one reference shared by every
        sketch), checked once for every sketch of a batch: -> (Colorizer, UserControls)."""
        request = self.batch_request(sketch, run, hints, editor, reference, swatches)
        colorizer = find_run(self.models, run)
        return colorizer, request_controls(colorizer, run, request["hints"], request["palette"],
                                           request["hints_image"], request["reference"])  # fmt: skip
