"""The run folder, both sides of its contract (docs/interfaces.md).

Written by training: train_config.json, config.json + generator.safetensors, sample grids,
TensorBoard hyper-parameters and the per-rank audit. Read by evaluation and colorize: the
run's config, its generator, hint config and image size, and the generator call itself.

Usage: generator, config, hint_config = load_run_generator("runs/m21-hints", torch.device("cpu"))
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch

from sketchcolor.config import HintConfig, TrainConfig, flatten
from sketchcolor.data.controls.conditioning import (
    Hints,
    build_generator_input,
    sample_hints,
    uses_hints,
)
from sketchcolor.data.shards.manifest import read_manifest
from sketchcolor.errors import SketchcolorError
from sketchcolor.models import load_generator, read_generator_config, save_generator
from sketchcolor.models.saving import CONFIG_FILE, WEIGHTS_FILE
from sketchcolor.util.disk import write_errors
from sketchcolor.util.files import file_sha256, write_text_atomically

TRAIN_CONFIG_FILE = "train_config.json"
SAMPLES_FOLDER = "samples"
LOGS_FOLDER = "logs"
AUDIT_FOLDER = "audit"
EXPORT_STAGING_FOLDER = ".partial-export"


def samples_path(run_dir: Path, step: int) -> Path:
    """Where the sample grid of `step` goes: RUN_DIR/samples/step-N.png."""
    return run_dir / SAMPLES_FOLDER / f"step-{step}.png"


def export_generator(config: TrainConfig, model, hint_config, step: int) -> None:
    """generator.safetensors + config.json in the run folder, what evaluate and colorize load."""
    metadata = {
        "color_control": config.model.color_control,
        "hint_config": hint_config.to_dict(),
        "image_size": config.model.size,
        "ema": config.model.ema,
        "step": step,
    }
    # save_generator writes in place; a crash in the middle of a later export would spoil the
    # good weights already there. So write beside them, then move each file in with one rename
    # (the weights first, the config last, as save_generator orders them).
    staging = config.out / EXPORT_STAGING_FOLDER
    shutil.rmtree(staging, ignore_errors=True)
    safe = f"{config.out / WEIGHTS_FILE} still holds the previous export, and the checkpoints are intact"
    try:
        with write_errors(staging, safe=safe):
            save_generator(model, staging, metadata=metadata)
    except SketchcolorError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        os.replace(staging / name, config.out / name)
    staging.rmdir()


def parameters_sha256(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for parameter in model.parameters():
        digest.update(parameter.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def write_rank_audit(
    config: TrainConfig, accelerator, generator, discriminator, keys: list[str]
) -> None:
    """audit/rank-R.json: the keys this rank trained on and hashes of its parameters."""
    folder = config.out / AUDIT_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "rank": accelerator.process_index,
        "world_size": accelerator.num_processes,
        "keys": keys,
        "generator_sha256": parameters_sha256(
            accelerator.unwrap_model(generator, keep_torch_compile=False)
        ),
        "discriminator_sha256": parameters_sha256(
            accelerator.unwrap_model(discriminator, keep_torch_compile=False)
        ),
    }
    write_text_atomically(
        folder / f"rank-{accelerator.process_index}.json", json.dumps(record, indent=1) + "\n"
    )


def tracker_hparams(config: TrainConfig) -> dict:
    """The config as TensorBoard hyper-parameters (only numbers, strings and booleans)."""
    return {
        name: value if isinstance(value, (int, float, str, bool)) else json.dumps(value)
        for name, value in flatten(config.to_dict()).items()
    }


# --- the read side: what evaluation and colorize load


def read_run_config(run_dir: str | Path) -> dict:
    """A run folder's config.json; one-line errors for a missing or foreign folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SketchcolorError(f"{run_dir}: no such run folder")
    config = read_generator_config(run_dir)
    if "color_control" not in config:
        raise SketchcolorError(f"{run_dir}/config.json: has no 'color_control'; not a run folder")
    return config


def load_run(run_dir: str | Path, device: torch.device) -> tuple[torch.nn.Module, dict]:
    """The run's generator (eval mode, on device) and its config.json."""
    read_run_config(run_dir)
    generator, config = load_generator(run_dir)
    bad = [name for name, value in generator.state_dict().items() if not value.isfinite().all()]
    if bad:
        raise SketchcolorError(
            f"{run_dir}: the generator's weights contain NaN/inf ({len(bad)} tensors, first "
            f"{bad[0]}); export a checkpoint from before the divergence"
        )
    return generator.eval().to(device), config


def check_run(run_dir: str | Path) -> dict:
    """Load a run's generator once (CPU) to prove it is usable; returns its config."""
    generator, config = load_run(run_dir, torch.device("cpu"))
    del generator
    return config


def hint_config_of(config: dict):
    """The run's HintConfig (defaults when the run recorded none)."""
    return HintConfig(**(config.get("hint_config") or {}))


def image_size_of(config: dict, shard_dir: Path) -> int:
    """The size the run was trained at, else the shards' half size."""
    if config.get("image_size"):
        return int(config["image_size"])
    manifest = read_manifest(shard_dir)
    if manifest.get("half_size"):
        return int(manifest["half_size"])
    raise SketchcolorError(f"{shard_dir}: the run records no image_size and the shards keep sizes")


def sample_seed(key: str, seed: int) -> int:
    """A per-sample seed from the sample key, independent of batching and process count."""
    return (zlib.crc32(key.encode()) + 1_000_003 * seed) % (2**63)


def sample_fixed_hints(
    color: torch.Tensor, keys: list[str], hint_config, seed: int, sketch: torch.Tensor | None = None
):
    """Training-style hint labels, each sample's drawn from its own seeded generator.

    The generator is a CPU one whatever the data's device: CPU and CUDA generators give
    different streams, and a GPU evaluation must score the same hints as a CPU one.
    sketch: needed by the "dots" placement (labels kept off the lines).
    """
    parts = []
    for index, key in enumerate(keys):
        generator = torch.Generator("cpu").manual_seed(sample_seed(key, seed))
        one_sketch = None if sketch is None else sketch[index : index + 1]
        parts.append(
            sample_hints(color[index : index + 1], hint_config, generator, sketch=one_sketch)
        )
    return Hints(
        rgb=torch.cat([part.rgb for part in parts]), mask=torch.cat([part.mask for part in parts])
    )


def run_hints(config: dict, batch: dict, seed: int):
    """The fixed-seed hint labels a run's colour control takes for a batch; None without hints."""
    if not uses_hints(config["color_control"]):
        return None
    return sample_fixed_hints(
        batch["color"], batch["key"], hint_config_of(config), seed, sketch=batch["sketch"]
    )


def load_run_generator(run_dir: str | Path, device: torch.device):
    """The run's generator (eval, on device), its config and hint config; one-line errors."""
    generator, config = load_run(run_dir, device)
    return generator, config, hint_config_of(config)


@torch.no_grad()
def generate(generator, config: dict, hint_config, sketch, palette, hints) -> torch.Tensor:
    """One batch on the canvas: (B, 3, H, W) sketch -> (B, 3, H, W) colours in [-1, 1]."""
    inputs = build_generator_input(
        config["color_control"], sketch, palette=palette, hints=hints, hint_config=hint_config
    )
    return generator(inputs).clamp(-1, 1)


# --- intermediate checkpoints (RUN/checkpoints/step-N): Accelerate state, not an export

CHECKPOINTS_FOLDER = "checkpoints"
CHECKPOINT_PREFIX = "step-"
CHECKPOINT_PROGRESS_FILE = "progress.json"
CHECKPOINT_GENERATOR_FILE = "model.safetensors"  # Accelerate's name for the first model: G
CHECKPOINT_EMA_FILE = "custom_checkpoint_0.pkl"  # the EMA copy, registered for checkpointing


def is_checkpoint_folder(path: str | Path) -> bool:
    """True for RUN/checkpoints/step-N (whether or not it is complete)."""
    path = Path(path)
    name = path.name
    return (
        path.parent.name == CHECKPOINTS_FOLDER
        and name.startswith(CHECKPOINT_PREFIX)
        and name[len(CHECKPOINT_PREFIX) :].isdigit()
    )


def run_checkpoints(run_dir: str | Path) -> list[Path]:
    """The run's complete checkpoints (weights and progress.json), oldest step first."""
    folder = Path(run_dir) / CHECKPOINTS_FOLDER
    found = [
        path
        for path in (folder.iterdir() if folder.is_dir() else [])
        if is_checkpoint_folder(path)
        and (path / CHECKPOINT_GENERATOR_FILE).is_file()
        and (path / CHECKPOINT_PROGRESS_FILE).is_file()
    ]
    return sorted(found, key=lambda path: int(path.name[len(CHECKPOINT_PREFIX) :]))


def checkpoint_run_folder(checkpoint_dir: Path) -> Path:
    return Path(checkpoint_dir).parent.parent


def read_checkpoint_config(checkpoint_dir: str | Path) -> dict:
    """A checkpoint's config in config.json's form (model, color_control, hint_config,
    image_size, ema, step, images_seen, width), from its run's train_config.json and its own
    progress.json; one-line errors for a missing or incomplete folder."""
    checkpoint_dir = Path(checkpoint_dir)
    if not checkpoint_dir.is_dir():
        raise SketchcolorError(f"{checkpoint_dir}: no such checkpoint folder")
    for name in (CHECKPOINT_GENERATOR_FILE, CHECKPOINT_PROGRESS_FILE):
        if not (checkpoint_dir / name).is_file():
            raise SketchcolorError(f"{checkpoint_dir}: has no {name}; not a complete checkpoint")
    run_dir = checkpoint_run_folder(checkpoint_dir)
    train_config_path = run_dir / TRAIN_CONFIG_FILE
    if not train_config_path.is_file():
        raise SketchcolorError(f"{train_config_path}: not found; the checkpoint's run is unknown")
    train_config = TrainConfig.load(train_config_path)
    try:
        progress = json.loads((checkpoint_dir / CHECKPOINT_PROGRESS_FILE).read_text())
    except ValueError as error:
        raise SketchcolorError(
            f"{checkpoint_dir}/progress.json: not valid JSON ({error})"
        ) from None
    model = train_config.model
    hint_config = HintConfig.for_size(model.size, **train_config.hints.to_dict())
    return {
        "model": model.name,
        "width": model.width,
        "upsampling": model.upsampling,
        "color_control": model.color_control,
        "hint_config": hint_config.to_dict(),
        "image_size": model.size,
        "ema": model.ema,
        "step": int(progress["step"]),
        "images_seen": int(progress.get("images_seen", 0)),
        "train_config": train_config,
    }


def load_checkpoint_generator(
    checkpoint_dir: str | Path,
    device: torch.device,
    *,
    shard_dir: str | Path,
    backend: str = "torch",
) -> tuple[torch.nn.Module, dict]:
    """The generator of RUN/checkpoints/step-N as its export would be (eval mode, on device).

    The weights are the EMA copy's when the run kept one, else the generator's; BatchNorm
    statistics are recomputed as the export recomputes them (`output.batchnorm_batches`
    training batches of `shard_dir`'s train split; sketchcolor/models/batchnorm.py), so the final
    checkpoint scores what the run's generator.safetensors scores. Returns (generator, config).
    """
    import safetensors.torch

    from sketchcolor.data.controls.conditioning import input_channels, statistics_inputs
    from sketchcolor.data.loading.loader import create_loader
    from sketchcolor.models import create_generator
    from sketchcolor.models.batchnorm import with_recomputed_statistics

    checkpoint_dir = Path(checkpoint_dir)
    config = read_checkpoint_config(checkpoint_dir)
    train_config = config["train_config"]
    hint_config = hint_config_of(config)
    generator = create_generator(
        config["model"],
        in_channels=input_channels(config["color_control"], hint_config),
        width=config["width"],
        upsampling=config["upsampling"],
    )
    state = safetensors.torch.load_file(str(checkpoint_dir / CHECKPOINT_GENERATOR_FILE))
    if config["ema"]:
        # AveragedModel's state: the averaged generator under "module." plus n_averaged.
        ema = torch.load(checkpoint_dir / CHECKPOINT_EMA_FILE, map_location="cpu")
        state = {
            key[len("module.") :]: value for key, value in ema.items() if key.startswith("module.")
        }
    try:
        generator.load_state_dict(state)
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[0]
        raise SketchcolorError(
            f"{checkpoint_dir}: weights do not match its train_config.json ({first_line})"
        ) from None
    generator.eval().to(device)
    loader = create_loader(
        shard_dir, split="train", image_size=config["image_size"],
        batch_size=train_config.optim.batch_size, device=device, backend=backend,
        training=True, seed=train_config.seed, num_workers=0,
    )  # fmt: skip
    inputs = statistics_inputs(
        loader, color_control=config["color_control"], hint_config=hint_config,
        seed=train_config.seed, batches=train_config.output.batchnorm_batches,
    )  # fmt: skip
    generator = with_recomputed_statistics(generator, inputs).eval()
    return generator, config


# ----------------------------------------------------------------------------- inference weights


@dataclass
class InferenceRun:
    """A run folder's or checkpoint's inference generator and what the ONNX metadata says."""

    generator: torch.nn.Module
    config: dict
    train_config: dict
    weights_sha256: str
    source: Path

    def source_train_config_path(self) -> Path:
        """The train_config.json of the run this came from."""
        folder = (
            checkpoint_run_folder(self.source) if is_checkpoint_folder(self.source) else self.source
        )
        return folder / TRAIN_CONFIG_FILE


def load_inference_run(run_dir: str | Path, data: str | Path | None = None) -> InferenceRun:
    """The inference weights (eval mode, CPU) of a run folder or RUN/checkpoints/step-N.

    A run folder's generator.safetensors already has its BatchNorm statistics recomputed and
    EMA applied; a checkpoint gets both as its export would (`runs.load_checkpoint_generator`,
    on `data` or the shards the run was trained on).
    """
    run_dir = Path(run_dir)
    if is_checkpoint_folder(run_dir):
        train_config_path = checkpoint_run_folder(run_dir) / TRAIN_CONFIG_FILE
        shard_dir = Path(data) if data else training_data(train_config_path)
        generator, config = load_checkpoint_generator(run_dir, torch.device("cpu"),
                                                      shard_dir=shard_dir)  # fmt: skip
        train_config = config.pop("train_config").to_dict()
        weights = run_dir / CHECKPOINT_GENERATOR_FILE
    else:
        generator, config = load_run(run_dir, torch.device("cpu"))
        train_config = read_json_if_any(run_dir / TRAIN_CONFIG_FILE)
        weights = run_dir / "generator.safetensors"
    return InferenceRun(generator.eval(), config, train_config, file_sha256(weights), run_dir)


def training_data(train_config_path: Path) -> Path:
    """The shard folder a run was trained on, from its train_config.json."""
    data = read_json_if_any(train_config_path).get("data")
    if not data or not Path(data).is_dir():
        raise SketchcolorError(
            f"{train_config_path}: its data folder {data!r} is gone; give --data SHARDS"
        )
    return Path(data)


def read_json_if_any(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
