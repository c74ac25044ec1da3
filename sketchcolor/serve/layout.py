"""The web app's page: which components there are and where they sit, nothing they do.

Each panel is one short function that places its components inside the current gr.Blocks and
files them on a `Page` by name; serve_handlers.py says what they do. Components the browser
tests and docs/ui_screenshot.py drive have an elem_id (#sketch, #strokes, #canvas, #hints,
#output, #flat, #regions, #make-layers, #layers-file, #palette-text, #batch-files, ...).

Usage: with gr.Blocks() as app: page = build_page(gr, names, first_run_info, first_control)
"""

from __future__ import annotations

from types import SimpleNamespace

from sketchcolor.data.controls.conditioning import (
    PALETTE_SIZE,
    uses_hints,
    uses_palette,
    uses_reference,
)
from sketchcolor.inference.layers import LAYER_KINDS, default_layer_kind
from sketchcolor.inference.palette_files import colors_to_text

DEFAULT_SWATCHES = ("#d94f4f", "#f2c14e", "#4f86d9", "#5fb36b", "#8e5fd9",
                    "#f28e4e", "#4ed9d0", "#7a5230", "#f5e6d3")  # fmt: skip
INTRO = ("## sketchcolor: colorize a sketch\nUpload a sketch, pick a run, paint hint strokes "
         "or click hint dots on it, or set the palette.")  # fmt: skip


class Page(SimpleNamespace):
    """The page's components by name (run, sketch, editor, canvas, hints, output, swatches...)."""


def build_page(gr, names: list[str], info: str, control: str) -> Page:
    """Every panel of the app, for runs `names` (the first, with `info` and colour control
    `control`, is shown first)."""
    page = Page()
    gr.Markdown(INTRO)
    with gr.Row():
        page.run = gr.Dropdown(names, value=names[0], label="Run", elem_id="run", scale=1)
        page.info = gr.Markdown(info, elem_id="run-info")
    with gr.Row(equal_height=False):
        with gr.Column():
            page.sketch = gr.Image(label="Sketch (upload or paste)", type="filepath",
                                   image_mode=None, sources=["upload", "clipboard"], height=220,
                                   elem_id="sketch")  # fmt: skip
            hints_panel(gr, page, uses_hints(control))
        with gr.Column():
            output_panel(gr, page)
            palette_panel(gr, page, uses_palette(control))
            reference_panel(gr, page, uses_reference(control))
    batch_panel(gr, page)
    return page


def hints_panel(gr, page: Page, visible: bool) -> None:
    """Brush strokes and clicked dots over the sketch, the hints JSON, reference hints."""
    with gr.Group(visible=visible) as page.hints_box:
        with gr.Tabs():
            with gr.Tab("Brush strokes", id="brush", elem_id="brush-tab"):
                page.editor = gr.ImageEditor(
                    label="Paint hint strokes (brush, colour, size, eraser, undo)",
                    type="numpy", image_mode="RGBA", format="png", sources=(), transforms=(),
                    layers=False, height=380, elem_id="strokes", buttons=["fullscreen"],
                    brush=gr.Brush(colors=list(DEFAULT_SWATCHES), default_color=DEFAULT_SWATCHES[0],
                                   color_mode="defaults"),  # sized to each sketch on upload
                )  # fmt: skip
            with gr.Tab("Dots", id="dots", elem_id="dots-tab"):
                page.canvas = gr.Image(label="Click to place a hint dot", interactive=False,
                                       format="png", elem_id="canvas")  # fmt: skip
                with gr.Row():
                    page.color = gr.ColorPicker("#ff0000", label="Dot colour",
                                                elem_id="hint-color")  # fmt: skip
                    page.undo = gr.Button("Undo dot", elem_id="undo")
                    page.clear = gr.Button("Clear dots", elem_id="clear")
        page.hints = gr.Textbox(label="Hint dots (JSON, sketch pixels)", lines=2,
                                elem_id="hints")  # fmt: skip
        with gr.Accordion("Hints from a reference image", open=False):
            page.hint_reference = gr.Image(label="Reference", type="filepath", height=200)
            page.count = gr.Slider(1, 100, value=20, step=1, label="Labels")
            page.sample = gr.Button("Sample hints")


def output_panel(gr, page: Page) -> None:
    """The result, its latency and download, flat colours, the region map and a layered
    file of the result."""
    page.output = gr.Image(label="Colorized", interactive=False, format="png", elem_id="output")
    page.latency = gr.Markdown("Upload a sketch to start.", elem_id="latency")
    with gr.Row():
        page.button = gr.Button("Colorize", variant="primary", elem_id="colorize")
        page.download = gr.DownloadButton("Download PNG", interactive=False, elem_id="download")
    with gr.Row():
        page.flat = gr.Checkbox(False, label="Flat colours (one per region the lines close)",
                                elem_id="flat")  # fmt: skip
        page.show_regions = gr.Button("Show regions", size="sm", elem_id="show-regions")
    page.regions = gr.Image(label="Regions", interactive=False, format="png", visible=False,
                            elem_id="regions")  # fmt: skip
    with gr.Row(equal_height=True):
        page.layers_kind = gr.Radio(list(LAYER_KINDS), value=default_layer_kind(),
                                    label="Layered file", elem_id="layers-kind")  # fmt: skip
        page.make_layers = gr.Button("Make layered file", elem_id="make-layers")
    page.layers_file = gr.File(label="Layers for Krita, GIMP or Photoshop: line art (multiply), "
                               "flat colours, shaded output, hints (hidden)", interactive=False,
                               visible=False, elem_id="layers-file")  # fmt: skip


def palette_panel(gr, page: Page, visible: bool) -> None:
    """9 swatches, the same as typed hex text, palette files and a reference's colours."""
    with gr.Group(visible=visible) as page.palette_box:
        with gr.Row():
            page.swatches = [gr.ColorPicker(value, label=f"Colour {i + 1}", min_width=60,
                                            elem_id=f"swatch-{i}")
                             for i, value in enumerate(DEFAULT_SWATCHES[:PALETTE_SIZE])]  # fmt: skip
        page.palette_text = gr.Textbox(colors_to_text(list(DEFAULT_SWATCHES)),
                                       label="Palette (hex, Enter to apply)",
                                       elem_id="palette-text")  # fmt: skip
        with gr.Accordion("Palette files and reference images", open=False):
            with gr.Row():
                page.palette_name = gr.Textbox("my palette", label="Palette name",
                                               elem_id="palette-name")  # fmt: skip
                page.palette_download = gr.DownloadButton("Download palette",
                                                          elem_id="palette-download")  # fmt: skip
            page.palette_upload = gr.File(label="Load a palette (.json)", file_types=[".json"],
                                          elem_id="palette-upload")  # fmt: skip
            page.palette_reference = gr.Image(label="Reference", type="filepath", height=200,
                                              elem_id="palette-reference")  # fmt: skip
            page.take = gr.Button("Take its 9 colours")


def reference_panel(gr, page: Page, visible: bool) -> None:
    """A coloured picture of the same character, for runs of the reference control; every
    sketch of the page and of "Several sketches at once" is coloured from it."""
    with gr.Group(visible=visible) as page.reference_box:
        page.reference = gr.Image(label="Reference: the same character, coloured (any size)",
                                  type="filepath", image_mode=None, height=200,
                                  sources=["upload", "clipboard"], elem_id="reference")  # fmt: skip


def batch_panel(gr, page: Page) -> None:
    """Several sketches or a folder at once, with the page's controls; the results as a zip."""
    with gr.Accordion("Several sketches at once", open=False, elem_id="batch"):
        gr.Markdown("Each file is coloured with the run, hints (scaled to each sketch), "
                    "palette and flat colours set above.")  # fmt: skip
        with gr.Row():
            page.batch_files = gr.File(label="Sketches", file_count="multiple",
                                       file_types=["image"], elem_id="batch-files")  # fmt: skip
            page.batch_folder = gr.File(label="A folder of sketches", file_count="directory",
                                        elem_id="batch-folder")  # fmt: skip
        page.batch_button = gr.Button("Colorize all", elem_id="batch-colorize")
        page.batch_zip = gr.File(label="Results (zip)", interactive=False, elem_id="batch-zip")
        page.batch_status = gr.Markdown("", elem_id="batch-status")


def api_block(gr) -> tuple[list, object, object]:
    """Hidden components for `/colorize`: (sketch, run, hints, palette) and, optional, a hints
    image, flatten and a reference picture; -> (inputs, output, button)."""
    with gr.Column(visible=False):
        inputs = [gr.File(label="sketch"), gr.Textbox(label="run"), gr.Textbox(label="hints"),
                  gr.Textbox(label="palette"), gr.File(label="hints_image"),
                  gr.Checkbox(False, label="flatten"), gr.File(label="reference")]  # fmt: skip
        output = gr.Image(label="colorized", format="png")
        button = gr.Button()
    return inputs, output, button
