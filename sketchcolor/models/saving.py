"""Save a generator as `generator.safetensors` + `config.json`, and load it from that folder alone.

`config.json` is flat: the generator's config (`model`, `in_channels`, `width`, ...) plus the
caller's metadata (`color_control`, `hint_config`, `image_size`, ...). `read_generator_config`
is the one parser of the file; a run folder's is typed by `sketchcolor.runs.read_run_config`
(a `RunConfig`), which is what everything past this package reads.

Usage: save_generator(generator, "runs/a", metadata={"color_control": "palette"});
       generator, config = load_generator("runs/a")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch

from sketchcolor.errors import SketchcolorError
from sketchcolor.models.registry import Generator, create_generator, generator_options

WEIGHTS_FILE = "generator.safetensors"
CONFIG_FILE = "config.json"
FORMAT = "sketchcolor-generator/1"


def save_generator(
    generator: Generator, folder: str | Path, *, metadata: dict[str, Any] | None = None
) -> Path:
    """Write `folder/generator.safetensors` and `folder/config.json`; returns the folder.

    The weights are written first and the config last, so a folder with a config.json is
    complete. Metadata may not override the generator's own config keys.
    """
    folder = Path(folder)
    generator = getattr(generator, "_orig_mod", generator)  # a torch.compile wrapper's module
    config = dict(getattr(generator, "config", {}))
    if "model" not in config:
        raise SketchcolorError("save_generator needs a generator built by create_generator")
    clashes = sorted(set(config) & set(metadata or {}))
    if clashes:
        raise SketchcolorError(f"metadata keys {clashes} clash with the generator config")
    config.update(metadata or {})
    config["format"] = FORMAT
    text = json.dumps(config, indent=2, sort_keys=True)  # fails early if not JSON-serialisable

    folder.mkdir(parents=True, exist_ok=True)
    # contiguous copies: safetensors refuses views that share memory
    state = {
        key: value.detach().contiguous().cpu() for key, value in generator.state_dict().items()
    }
    safetensors.torch.save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": FORMAT})
    (folder / CONFIG_FILE).write_text(text + "\n")
    return folder


def read_generator_config(folder: str | Path) -> dict[str, Any]:
    """The parsed `config.json` of a saved generator; SketchcolorError when missing or broken."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise SketchcolorError(f"{path}: not found; is {folder} a saved generator or run folder?")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SketchcolorError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(config, dict) or "model" not in config:
        raise SketchcolorError(f"{path}: has no 'model' entry; not a sketchcolor generator config")
    return config


def load_generator(folder: str | Path) -> tuple[Generator, dict[str, Any]]:
    """Rebuild the generator saved in `folder` and load its weights (CPU, train mode).

    Returns (generator, config), where config is the whole `config.json` (metadata included).
    """
    folder = Path(folder)
    config = read_generator_config(folder)
    options = {key: config[key] for key in generator_options(config["model"]) if key in config}
    generator = create_generator(config["model"], head=config.get("head"), **options)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise SketchcolorError(f"{weights}: not found; the folder holds a config but no weights")
    try:
        state = safetensors.torch.load_file(str(weights), device="cpu")
    except (safetensors.SafetensorError, OSError) as error:
        raise SketchcolorError(f"{weights}: cannot be read ({error})") from None
    try:
        generator.load_state_dict(state)
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[0]
        raise SketchcolorError(f"{weights}: does not match {CONFIG_FILE} ({first_line})") from None
    return generator, config
