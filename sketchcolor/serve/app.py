"""`sketchcolor serve`: a Gradio web app (and API) that colours sketches with trained runs.

Every run is loaded once at start and stays on its device. The page takes a sketch, a run,
hints (brush strokes painted over the sketch, dots clicked on it, or labels sampled from a
reference image), a palette of 9 swatches (typed as hex, loaded from a palette file, or a
reference image's k-means colours) and "flat colours"; controls a run does not take are
hidden. Several sketches or a folder are coloured at once into a zip. The named endpoint
`/colorize` takes (sketch file, run name, hints JSON, palette hex list[, hints image,
flatten]) and returns the colorized image at the sketch's size. Both go through
`sketchcolor.inference.colorizer.colorize_sketch`, the path `sketchcolor colorize` uses; the
batch goes through `sketchcolor colorize`'s own batched steps.

The page is laid out in serve_layout.py, its handlers are serve_handlers.py (serve_batch.py
for several files); here they are connected. Usage:
launch(ServeConfig(runs=[Path("runs/m21-hints")], port=7860))
"""

from __future__ import annotations

import dataclasses
import functools
import os
import tempfile
from pathlib import Path

import torch

from sketchcolor.config import ServeConfig  # there, not here: `serve --help` imports no torch
from sketchcolor.errors import SketchcolorError
from sketchcolor.inference.colorizer import Colorizer, load_colorizer
from sketchcolor.inference.sketch_files import write_png
from sketchcolor.serve.access import login_accounts, login_limits, parse_file_size
from sketchcolor.serve.controls import rgb_hex  # noqa: F401 (its old home; tests import it here)
from sketchcolor.serve.logins import LoginLimits, LoginRateLimit
from sketchcolor.serve.request import (  # noqa: F401 (colorize_request: the API's path, used here by callers)
    OutputFiles,
    colorize_request,
    describe_run,
    find_run,
)
from sketchcolor.serve.url_inputs import guard_url_inputs
from sketchcolor.util.devices import choose_device

INSTALL_HINT = "pip install -e '.[ui]'"
PRIVATE = {"api_visibility": "private"}  # page events: not part of the API
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


def user_errors(gr, function):
    """`function` with SketchcolorError shown as gr.Error: one line in the UI, no traceback."""

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
    from sketchcolor.data.loading.loader import create_loader

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
    from sketchcolor.serve.handlers import Handlers
    from sketchcolor.serve.layout import api_block, build_page

    gr = require_gradio()
    names = list(models)
    handlers = Handlers(gr, config, models, OutputFiles())
    control = models[names[0]].config.color_control
    # Gradio's cache keeps every upload and output; files older than an hour are deleted.
    with gr.Blocks(title="sketchcolor", delete_cache=(1800, 3600)) as app:
        page = build_page(gr, names, describe_run(names[0], models[names[0]]), control)
        if config.data is not None:
            size = models[names[0]].image_size
            gr.Examples(val_examples(config.data, size, config.examples), inputs=[page.sketch],
                        label="Val sketches")  # fmt: skip
        # The API: hidden components, so the endpoint takes exactly its own inputs.
        api_inputs, api_output, api_button = api_block(gr)
        api_button.click(user_errors(gr, handlers.api_colorize), api_inputs, api_output,
                         api_name="colorize")  # fmt: skip
        for connect in (connect_hints, connect_palette, connect_output, connect_batch):
            connect(gr, page, handlers)
        app.load(user_errors(gr, handlers.palette_file), [page.palette_name, *page.swatches],
                 page.palette_download, **PRIVATE)  # the palette download is ready at once  # fmt: skip
    app.queue(default_concurrency_limit=config.concurrency)
    guard_url_inputs(
        app, enabled=config.url_inputs, max_bytes=parse_file_size(config.max_file_size)
    )
    return app


def connect_hints(gr, page, handlers) -> None:
    """Run choice, the brush canvas, the dots canvas and reference hints."""
    handle = functools.partial(user_errors, gr)
    page.run.change(handle(handlers.show_run), page.run,
                    [page.info, page.hints_box, page.palette_box, page.reference_box], **PRIVATE)  # fmt: skip
    page.sketch.change(handle(handlers.editor_value), page.sketch, page.editor, **PRIVATE)
    redraw = dict(inputs=[page.sketch, page.run, page.hints, page.editor], outputs=page.canvas,
                  trigger_mode="always_last", **PRIVATE)  # fmt: skip
    gr.on([page.sketch.change, page.hints.change, page.editor.change],
          handle(handlers.draw_hints), **redraw)  # fmt: skip

    def add_hint(hints, color, evt):
        return handlers.add_hint(hints, color, evt)

    # Gradio passes the click only to a parameter annotated with the real class; the string
    # annotation `from __future__ import annotations` leaves would not resolve here.
    add_hint.__annotations__["evt"] = gr.SelectData
    page.canvas.select(handle(add_hint), [page.hints, page.color], page.hints, **PRIVATE)
    page.undo.click(handle(handlers.undo_hint), page.hints, page.hints, **PRIVATE)
    page.clear.click(lambda: "", None, page.hints, **PRIVATE)
    page.sample.click(handle(handlers.hints_from_reference),
                      [page.sketch, page.run, page.hint_reference, page.count], page.hints,
                      **PRIVATE)  # fmt: skip


def connect_palette(gr, page, handlers) -> None:
    """Swatches <-> hex text, palette files in and out, a reference image's colours."""
    handle = functools.partial(user_errors, gr)
    swatches = page.swatches
    # The text follows the user's picks (input, release, blur: not .change, which the page's
    # own updates fire too and which would race with typing); whoever sets the swatches sets
    # the text too. A typo is reported on the text box (the first step), swatches unchanged.
    quiet = dict(show_progress="hidden", **PRIVATE)
    picked = [event for swatch in swatches for event in (swatch.input, swatch.release, swatch.blur)]
    gr.on(picked, handle(handlers.swatches_to_text), swatches, page.palette_text,
          trigger_mode="always_last", **quiet)  # fmt: skip
    # Typed text applies on Enter only: applying it on leaving the box as well would race
    # with the swatch picked next and undo it.
    typed = page.palette_text.submit(handle(handlers.check_palette_text), page.palette_text,
                                     page.palette_text, **quiet)  # fmt: skip
    typed.success(handle(handlers.text_to_swatches), page.palette_text, swatches, **quiet)
    gr.on([page.palette_name.change, *[swatch.change for swatch in swatches]],
          handle(handlers.palette_file), [page.palette_name, *swatches], page.palette_download,
          trigger_mode="always_last", **quiet)  # fmt: skip
    page.palette_upload.upload(handle(handlers.load_palette_file), page.palette_upload,
                               [page.palette_name, *swatches, page.palette_text], **PRIVATE)  # fmt: skip
    page.take.click(handle(handlers.palette_from_reference), page.palette_reference,
                    [*swatches, page.palette_text], **PRIVATE)  # fmt: skip


def connect_output(gr, page, handlers) -> None:
    """Any change re-colours ("always_last" drops stale queued requests); the region map
    and the layered file on request."""
    inputs = [page.sketch, page.run, page.hints, page.editor, page.flat, page.reference,
              *page.swatches]  # fmt: skip
    triggers = [page.button.click, page.sketch.change, page.run.change, page.hints.change,
                page.editor.change, page.flat.change, page.reference.change,
                *[swatch.change for swatch in page.swatches]]  # fmt: skip
    gr.on(triggers, user_errors(gr, handlers.colorize), inputs,
          [page.output, page.latency, page.download], trigger_mode="always_last", **PRIVATE)  # fmt: skip
    page.show_regions.click(user_errors(gr, handlers.show_regions), page.sketch, page.regions,
                            **PRIVATE)  # fmt: skip
    page.make_layers.click(user_errors(gr, handlers.layered_file),
                           [*inputs[:4], page.layers_kind, page.reference, *page.swatches],
                           page.layers_file,
                           **PRIVATE)  # fmt: skip
    hide = [page.regions, page.layers_file]  # stale once the sketch changes
    page.sketch.change(lambda: [gr.update(visible=False)] * len(hide), None, hide, **PRIVATE)


def connect_batch(gr, page, handlers) -> None:
    """The "Colorize all" button: the uploaded files and folder with the page's controls, into a zip."""
    from sketchcolor.serve.batch import batch_handler

    inputs = [page.batch_files, page.batch_folder, page.sketch, page.run, page.hints,
              page.editor, page.flat, page.reference, *page.swatches]  # fmt: skip
    page.batch_button.click(user_errors(gr, batch_handler(gr, handlers)), inputs,
                            [page.batch_zip, page.batch_status], **PRIVATE)  # fmt: skip


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
    limits = login_limits(config)
    max_file_size = parse_file_size(config.max_file_size)
    if config.data is not None:
        from sketchcolor.data.storage.s3 import local_folder, use_shard_cache
        from sketchcolor.util.locations import data_location

        use_shard_cache(config.shard_cache)
        folder = local_folder(data_location(config.data))  # s3://: staged on this machine
        config = dataclasses.replace(config, data=folder)
        if not (config.data / "manifest.json").is_file():
            raise SketchcolorError(f"{config.data}: no manifest.json; not a shard folder")
    device = choose_device(config.device)
    models = load_models(config.runs, device, config.engine)
    app = build_app(config, models)
    # share and mcp_server are pinned: GRADIO_SHARE or GRADIO_MCP_SERVER in the environment
    # would open a public tunnel or routes past the host and login checks made above; so is
    # ssr_mode: GRADIO_SSR_MODE would put a Node proxy in front, and every client would reach
    # the login bound (serve/logins.py) from the proxy's address.
    app.launch(server_name=config.host, server_port=config.port, prevent_thread_lock=not block,
               theme=theme(gr), show_error=True, quiet=not block, auth=accounts,
               auth_message=login_message(limits) if accounts else None,
               max_file_size=max_file_size, share=False, mcp_server=False, ssr_mode=False,
               app_kwargs=login_middleware(limits) if accounts else None)  # fmt: skip
    return app


def login_message(limits: LoginLimits) -> str:
    """The login page's note: who may log in, and the bound on failures (the page itself
    shows nothing when a login is refused for it)."""
    if limits.failures <= 0:
        return LOGIN_MESSAGE
    return (
        f"{LOGIN_MESSAGE} After {limits.failures} failed logins within {limits.window:g} s, "
        f"logins from your address are refused for up to {limits.window:g} s."
    )


def login_middleware(limits: LoginLimits) -> dict:
    """The FastAPI arguments that put `LoginRateLimit` in front of Gradio's /login."""
    from starlette.middleware import Middleware

    return {"middleware": [Middleware(LoginRateLimit, limits=limits)]}
