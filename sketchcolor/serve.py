"""`sketchcolor serve`: a Gradio web app (and API) that colours sketches with trained runs.

Every run is loaded once at start and stays on its device. The page takes a sketch, a run,
hint labels clicked on the sketch (or sampled from a reference image) and a palette of 9
swatches (or the k-means colours of a reference image); controls a run does not take are
hidden. The named endpoint `/colorize` takes (sketch file, run name, hints JSON, palette hex
list) and returns the colorized image at the sketch's size. Both go through
`sketchcolor.colorize.colorize_sketch`, the path `sketchcolor colorize` uses.

Usage: launch(ServeConfig(runs=[Path("runs/m21-hints")], port=7860))
"""

from __future__ import annotations

import atexit
import collections
import dataclasses
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import torch

from sketchcolor.colorize import (
    MAX_SKETCH_PIXELS,
    Colorizer,
    colorize_sketch,
    load_colorizer,
    read_sketch,
    user_controls,
    write_png,
)
from sketchcolor.config import ServeConfig  # there, not here: `serve --help` imports no torch
from sketchcolor.data.conditioning import PALETTE_SIZE, uses_hints, uses_palette
from sketchcolor.errors import SketchcolorError
from sketchcolor.serve_access import login_accounts, parse_file_size
from sketchcolor.serve_controls import (
    hex_palette,
    hint_overlay,
    labels_from_reference,
    labels_to_text,
    parse_labels,
    rgb_hex,
    shown_label_size,
)

INSTALL_HINT = "pip install -e '.[ui]'"
DEFAULT_SWATCHES = ("#d94f4f", "#f2c14e", "#4f86d9", "#5fb36b", "#8e5fd9",
                    "#f28e4e", "#4ed9d0", "#7a5230", "#f5e6d3")  # fmt: skip
LOGIN_MESSAGE = "sketchcolor: log in with an account this server was started with."


# ----------------------------------------------------------------------------- models


def require_gradio():
    """The gradio module, or a one-line error that names the command installing it."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home at run time
    try:
        import gradio
    except ImportError as error:
        raise SketchcolorError(
            f"the web app needs gradio, an optional extra: {INSTALL_HINT}"
        ) from error
    return gradio


def load_models(
    runs: list[Path], device: torch.device, engine: str = "torch"
) -> dict[str, Colorizer]:
    """Every run's generator, loaded once, by its folder name (names must differ)."""
    if not runs:
        raise SketchcolorError("serve needs at least one run folder")
    models: dict[str, Colorizer] = {}
    for run_dir in map(Path, runs):
        name = run_dir.resolve().name
        if name in models:
            raise SketchcolorError(f"{run_dir}: two runs are named {name!r}; rename one folder")
        models[name] = load_colorizer(run_dir, device, engine=engine)
    return models


def describe_run(name: str, colorizer: Colorizer) -> str:
    """One line about a run: its model, colour control and training size."""
    config = colorizer.config
    control = config["color_control"]
    text = f"**{name}**: Model {config.get('model', '?')}, colour control `{control}`, "
    text += f"trained at {colorizer.image_size} px"
    if uses_hints(control):
        text += f", hint labels {colorizer.hint_config.label_size} px"
    return text


def find_run(models: dict[str, Colorizer], name: str) -> Colorizer:
    if name not in models:
        raise SketchcolorError(f"unknown run {name!r}; this server has: {', '.join(models)}")
    return models[name]


# ----------------------------------------------------------------------------- the request


def colorize_request(
    models: dict[str, Colorizer],
    sketch_path: str | None,
    run: str,
    hints: str,
    palette: str,
    *,
    max_pixels: int = MAX_SKETCH_PIXELS,
    flatten: bool = False,
) -> torch.Tensor:
    """What `/colorize` does: a sketch file + run name + hints JSON + hex palette ("" for
    none) -> the colours (1, 3, H, W) in [-1, 1] at the sketch's size (flattened along its
    lines when `flatten`). One-line errors."""
    colorizer = find_run(models, run)
    if not sketch_path:
        raise SketchcolorError("no sketch given; upload an image")
    controls = user_controls(
        colorizer.config["color_control"],
        Path(run),
        palette=palette.strip() or None,
        palette_from=None,
        hints_png=None,
        hints_json=None,
        hints_text=hints.strip() or None,
    )
    sketch = read_uploaded_sketch(sketch_path, max_pixels)
    return colorize_sketch(colorizer, sketch, controls, flatten=flatten)


def read_uploaded_sketch(path: str, max_pixels: int) -> torch.Tensor:
    """read_sketch, with the upload's temporary path replaced by "sketch" in its messages."""
    try:
        return read_sketch(Path(path), max_pixels)
    except SketchcolorError as error:
        raise SketchcolorError(str(error).replace(str(path), "sketch")) from None


class OutputFiles:
    """Each result as its own PNG file, the latest `keep` of them kept.

    Results are handed to Gradio as files, not arrays: Gradio stores an array under a name made
    from its content and rewrites that file in place, so two identical results at once (the
    same request twice) could be read half-written; a file is copied under a temporary name
    and renamed. Gradio copies the file as the request ends, so older ones can go.
    """

    def __init__(self, keep: int = 64):
        self.folder = Path(tempfile.mkdtemp(prefix="sketchcolor-serve-"))
        atexit.register(shutil.rmtree, self.folder, ignore_errors=True)
        self.keep = keep
        self.written: collections.deque[Path] = collections.deque()
        self.lock = threading.Lock()

    def write(self, image: torch.Tensor, stem: str) -> Path:
        """(1, 3, H, W) in [-1, 1] -> a new PNG, STEM-colorized.png in a folder of its own."""
        target = Path(tempfile.mkdtemp(dir=self.folder)) / f"{stem}-colorized.png"
        write_png(image, target)
        with self.lock:
            self.written.append(target)
            while len(self.written) > self.keep:
                shutil.rmtree(self.written.popleft().parent, ignore_errors=True)
        return target


def user_errors(gr, function):
    """`function` with SketchcolorError shown as gr.Error: one line in the UI, no traceback."""
    import functools

    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except SketchcolorError as error:
            raise gr.Error(str(error), print_exception=False) from None

    return wrapped


# ----------------------------------------------------------------------------- the app


def val_examples(shard_dir: Path, image_size: int, count: int) -> list[str]:
    """The first `count` val sketches of a shard folder, written as PNGs for gr.Examples."""
    from sketchcolor.data.loader import create_loader

    loader = create_loader(shard_dir, split="val", image_size=image_size, batch_size=count,
                           device="cpu", backend="torch", training=False, num_workers=0)  # fmt: skip
    batch = next(iter(loader.epoch(0)))
    folder = Path(tempfile.mkdtemp(prefix="sketchcolor-examples-"))
    paths = []
    for index, sketch in enumerate(batch["sketch"][:count]):
        paths.append(folder / f"val-{index}.png")
        write_png(sketch[None].float(), paths[-1])
    return [str(path) for path in paths]


def build_app(config: ServeConfig, models: dict[str, Colorizer]):
    """The Gradio Blocks app (queued, bounded concurrency) over already-loaded models."""
    gr = require_gradio()
    names = list(models)
    outputs = OutputFiles()

    def api_colorize(sketch, run, hints, palette):
        output = colorize_request(models, sketch, run, hints or "", palette or "",
                                  max_pixels=config.max_pixels, flatten=config.flatten)  # fmt: skip
        return str(outputs.write(output, Path(sketch).stem))

    def ui_colorize(sketch, run, hints, *swatches):
        if not sketch:
            return None, "Upload a sketch to start.", gr.update(value=None, interactive=False)
        control = find_run(models, run).config["color_control"]
        hints = hints if uses_hints(control) else ""  # hidden controls are not sent
        palette = ",".join(hex_palette(swatches)) if uses_palette(control) else ""
        start = time.perf_counter()
        output = colorize_request(models, sketch, run, hints, palette,
                                  max_pixels=config.max_pixels, flatten=config.flatten)  # fmt: skip
        seconds = time.perf_counter() - start
        target = outputs.write(output, Path(sketch).stem)
        height, width = output.shape[-2:]
        labels = f", {len(parse_labels(hints))} hint label(s)" if uses_hints(control) else ""
        latency = f"**{seconds:.2f} s**: {width}x{height} with {run}{labels}"
        return str(target), latency, gr.update(value=str(target), interactive=True)

    def show_run(run):
        colorizer = find_run(models, run)
        control = colorizer.config["color_control"]
        hints_visible = gr.update(visible=uses_hints(control))
        return (describe_run(run, colorizer), hints_visible,
                gr.update(visible=uses_palette(control)), hints_visible)  # fmt: skip

    def draw_hints(sketch, run, hints):
        if not sketch:
            return None
        colorizer = find_run(models, run)
        image = read_uploaded_sketch(sketch, config.max_pixels)
        labels = parse_labels(hints) if uses_hints(colorizer.config["color_control"]) else []
        return hint_overlay(image, labels, shown_label_size(colorizer, image.shape[-2:]))

    def add_hint(hints, color, evt: gr.SelectData):
        labels = parse_labels(hints)
        x, y = evt.index[:2]
        labels.append({"x": int(x), "y": int(y), "color": hex_palette([color])[0]})
        return labels_to_text(labels)

    # Gradio passes the click only to a parameter annotated with the real class; the string
    # annotation `from __future__ import annotations` leaves would not resolve here.
    add_hint.__annotations__["evt"] = gr.SelectData

    def undo_hint(hints):
        return labels_to_text(parse_labels(hints)[:-1])

    def hints_from_reference(sketch, run, reference, count):
        if not sketch or not reference:
            raise SketchcolorError("upload a sketch and a reference image first")
        colorizer = find_run(models, run)
        size = read_uploaded_sketch(sketch, config.max_pixels).shape[-2:]
        label_size = shown_label_size(colorizer, size)
        return labels_to_text(labels_from_reference(Path(reference), colorizer.hint_config,
                                                    size, label_size, int(count)))  # fmt: skip

    def palette_from_reference(reference):
        from sketchcolor.data.user_controls import palette_from_image

        if not reference:
            raise SketchcolorError("upload a reference image first")
        colors = palette_from_image(Path(reference))[0]  # (9, 3) in [-1, 1]
        return [rgb_hex(color) for color in colors]

    first = models[names[0]].config["color_control"]
    # Gradio's cache keeps every upload and output; files older than an hour are deleted.
    with gr.Blocks(title="sketchcolor", delete_cache=(1800, 3600)) as app:
        gr.Markdown("## sketchcolor: colorize a sketch\nUpload a sketch, pick a run, click on "
                    "the sketch to place hint labels or set the palette.")  # fmt: skip
        with gr.Row():
            run = gr.Dropdown(names, value=names[0], label="Run", elem_id="run", scale=1)
            info = gr.Markdown(describe_run(names[0], models[names[0]]), elem_id="run-info")
        with gr.Row(equal_height=False):
            with gr.Column():
                sketch = gr.Image(label="Sketch (upload or paste)", type="filepath",
                                  image_mode=None, sources=["upload", "clipboard"], height=220,
                                  elem_id="sketch")  # fmt: skip
                canvas = gr.Image(label="Click to place a hint label", interactive=False,
                                  format="png", elem_id="canvas", visible=uses_hints(first))  # fmt: skip
                with gr.Group(visible=uses_hints(first)) as hints_box:
                    with gr.Row():
                        color = gr.ColorPicker("#ff0000", label="Hint colour",
                                               elem_id="hint-color")  # fmt: skip
                        undo = gr.Button("Undo hint", elem_id="undo")
                        clear = gr.Button("Clear hints", elem_id="clear")
                    hints = gr.Textbox(label="Hints (JSON, sketch pixels)", lines=2,
                                       elem_id="hints")  # fmt: skip
                    with gr.Accordion("Hints from a reference image", open=False):
                        hint_reference = gr.Image(label="Reference", type="filepath", height=200)
                        count = gr.Slider(1, 100, value=20, step=1, label="Labels")
                        sample = gr.Button("Sample hints")
            with gr.Column():
                output = gr.Image(label="Colorized", interactive=False, format="png",
                                  elem_id="output")  # fmt: skip
                latency = gr.Markdown("Upload a sketch to start.", elem_id="latency")
                with gr.Row():
                    button = gr.Button("Colorize", variant="primary", elem_id="colorize")
                    download = gr.DownloadButton("Download PNG", interactive=False,
                                                 elem_id="download")  # fmt: skip
                with gr.Group(visible=uses_palette(first)) as palette_box:
                    with gr.Row():
                        swatches = [gr.ColorPicker(value, label=f"Colour {i + 1}", min_width=60,
                                                   elem_id=f"swatch-{i}")
                                    for i, value in enumerate(DEFAULT_SWATCHES[:PALETTE_SIZE])]  # fmt: skip
                    with gr.Accordion("Palette from a reference image", open=False):
                        palette_reference = gr.Image(label="Reference", type="filepath",
                                                     height=200)  # fmt: skip
                        take = gr.Button("Take its 9 colours")
        if config.data is not None:
            size = models[names[0]].image_size
            gr.Examples(val_examples(config.data, size, config.examples), inputs=[sketch],
                        label="Val sketches")  # fmt: skip
        # The API: hidden components, so the endpoint takes exactly (sketch, run, hints, palette).
        with gr.Column(visible=False):
            api_inputs = [gr.File(label="sketch"), gr.Textbox(label="run"),
                          gr.Textbox(label="hints"), gr.Textbox(label="palette")]  # fmt: skip
            api_output = gr.Image(label="colorized", format="png")
            api_button = gr.Button()

        api_button.click(user_errors(gr, api_colorize), api_inputs, api_output,
                         api_name="colorize")  # fmt: skip
        run.change(user_errors(gr, show_run), run, [info, hints_box, palette_box, canvas],
                   api_visibility="private")  # fmt: skip
        redraw = dict(inputs=[sketch, run, hints], outputs=canvas, api_visibility="private",
                      trigger_mode="always_last")  # fmt: skip
        sketch.change(user_errors(gr, draw_hints), **redraw)
        hints.change(user_errors(gr, draw_hints), **redraw)
        canvas.select(user_errors(gr, add_hint), [hints, color], hints, api_visibility="private")
        undo.click(user_errors(gr, undo_hint), hints, hints, api_visibility="private")
        clear.click(lambda: "", None, hints, api_visibility="private")
        sample.click(user_errors(gr, hints_from_reference),
                     [sketch, run, hint_reference, count], hints, api_visibility="private")  # fmt: skip
        take.click(user_errors(gr, palette_from_reference), palette_reference, swatches,
                   api_visibility="private")  # fmt: skip
        # Any change re-colours; "always_last" drops the stale requests queued meanwhile.
        refresh = dict(fn=user_errors(gr, ui_colorize), inputs=[sketch, run, hints, *swatches],
                       outputs=[output, latency, download], api_visibility="private",
                       trigger_mode="always_last")  # fmt: skip
        gr.on([button.click, sketch.change, run.change, hints.change,
               *[swatch.change for swatch in swatches]], **refresh)  # fmt: skip
    app.queue(default_concurrency_limit=config.concurrency)
    return app


def theme(gr):
    """The default look with system fonts: the page must not fetch fonts from the internet."""
    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                             font_mono=["ui-monospace", "monospace"])  # fmt: skip


def start(config: ServeConfig, *, block: bool = True):
    """Load every run, build the app and serve it; returns the app (when not blocking)."""
    gr = require_gradio()
    if config.concurrency < 1:
        raise SketchcolorError(f"concurrency must be at least 1, got {config.concurrency}")
    if config.max_pixels < 1:
        raise SketchcolorError(f"max pixels must be at least 1, got {config.max_pixels}")
    accounts = login_accounts(config)  # before any model loads: a refused set-up costs nothing
    max_file_size = parse_file_size(config.max_file_size)
    if config.data is not None:
        from sketchcolor.data.remote import data_location, local_folder, use_shard_cache

        use_shard_cache(config.shard_cache)
        folder = local_folder(data_location(config.data))  # s3://: staged on this machine
        config = dataclasses.replace(config, data=folder)
        if not (config.data / "manifest.json").is_file():
            raise SketchcolorError(f"{config.data}: no manifest.json; not a shard folder")
    device = torch.device(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    models = load_models(config.runs, device, config.engine)
    app = build_app(config, models)
    # share and mcp_server are pinned: GRADIO_SHARE or GRADIO_MCP_SERVER in the environment
    # would open a public tunnel or routes past the host and login checks made above.
    app.launch(server_name=config.host, server_port=config.port, prevent_thread_lock=not block,
               theme=theme(gr), show_error=True, quiet=not block, auth=accounts,
               auth_message=LOGIN_MESSAGE if accounts else None, max_file_size=max_file_size,
               share=False, mcp_server=False)  # fmt: skip
    return app
