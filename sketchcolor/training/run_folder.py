"""What a run writes besides checkpoints: train_config.json, config.json + generator.safetensors,
sample grids, TensorBoard hyper-parameters and the per-rank audit (see docs/interfaces.md).

Usage: resume_from = prepare_run_folder(config, accelerator)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import torch

from sketchcolor.config import TrainConfig
from sketchcolor.errors import SketchcolorError
from sketchcolor.training import checkpoint as checkpoints
from sketchcolor.training.disk import write_errors

TRAIN_CONFIG_FILE = "train_config.json"
SAMPLES_FOLDER = "samples"
LOGS_FOLDER = "logs"
AUDIT_FOLDER = "audit"
EXPORT_STAGING_FOLDER = ".partial-export"


def prepare_run_folder(config: TrainConfig, accelerator) -> Path | None:
    """Check the run folder against --resume, write train_config.json; returns the checkpoint to resume."""
    checkpoint_root = config.out / "checkpoints"
    resume_from = checkpoints.latest_checkpoint(checkpoint_root)
    if resume_from is not None and not config.resume:
        raise SketchcolorError(
            f"{config.out} already holds checkpoints (latest {resume_from.name}); "
            "pass --resume to continue it, or choose another --out"
        )
    saved_config = config.out / TRAIN_CONFIG_FILE
    previous = readable_config(saved_config, accelerator) if resume_from is not None else None
    if previous is not None:
        conflicts = config.resume_conflicts(previous)
        if conflicts:
            raise SketchcolorError(
                f"cannot resume {config.out} with other settings: {'; '.join(conflicts)}"
            )
    accelerator.wait_for_everyone()  # every rank has chosen its checkpoint before any clean-up
    if accelerator.is_main_process:
        try:
            config.out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SketchcolorError(
                f"{config.out}: cannot create the run folder ({error.strerror or error})"
            ) from error
        checkpoints.remove_partial_checkpoints(checkpoint_root)
        safe = f"the checkpoints in {checkpoint_root} are untouched"
        with write_errors(saved_config, safe=safe):
            config.save(saved_config)
    accelerator.wait_for_everyone()
    return resume_from


def readable_config(path: Path, accelerator) -> TrainConfig | None:
    """The run's saved config, or None when absent or unreadable (a kill mid-write, before
    writes were atomic): then this run's flags are written in its place, with a note."""
    if not path.is_file():
        return None
    try:
        return TrainConfig.load(path)
    except SketchcolorError as error:
        if accelerator.is_main_process:
            print(f"sketchcolor train: note: {error}; rewriting it from this run's flags")
        return None


def load_sample_batch(config: TrainConfig, hint_config, device) -> dict:
    """A fixed set of validation pairs (training pairs when there is no val split) and their inputs."""
    from sketchcolor.data.loader import create_loader
    from sketchcolor.data.verify import read_manifest
    from sketchcolor.training.inputs import step_inputs

    manifest = read_manifest(config.data)
    has_val = manifest.get("splits", {}).get("val", {}).get("count", 0) > 0
    loader = create_loader(
        config.data, split="val" if has_val else "train", image_size=config.size,
        batch_size=config.sample_count, device=device, backend="torch", training=False,
        rank=0, world_size=1, seed=config.seed, num_workers=0,
    )  # fmt: skip
    batch = next(iter(loader.epoch(0)))
    inputs, hints = step_inputs(
        batch, color_control=config.color_control, hint_config=hint_config,
        seed=config.seed, channels_last=config.channels_last,
    )  # fmt: skip
    return {"inputs": inputs, "hints": hints, "palette": batch.get("palette")}


def write_samples(config: TrainConfig, accelerator, model, sample: dict, step: int) -> Path:
    """samples/step-N.png: sketch | colour control | output | target, the model in eval mode."""
    from sketchcolor.training.samples import control_image, save_sample_grid

    inputs = sample["inputs"]
    was_training = model.training
    model.eval()
    with torch.no_grad(), accelerator.autocast():
        output = model(inputs.generator_input)  # (B, 3, H, W)
    model.train(was_training)
    control = control_image(
        config.color_control, inputs.sketch, palette=sample["palette"], hints=sample["hints"]
    )
    path = config.out / SAMPLES_FOLDER / f"step-{step}.png"
    return save_sample_grid(
        path, sketch=inputs.sketch, control=control, output=output, target=inputs.color
    )


def export_generator(config: TrainConfig, model, hint_config, step: int) -> None:
    """generator.safetensors + config.json in the run folder, what evaluate and colorize load."""
    from sketchcolor.models import save_generator
    from sketchcolor.models.saving import CONFIG_FILE, WEIGHTS_FILE

    metadata = {
        "color_control": config.color_control,
        "hint_config": hint_config.to_dict(),
        "image_size": config.size,
        "ema": config.ema,
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
    (folder / f"rank-{accelerator.process_index}.json").write_text(
        json.dumps(record, indent=1) + "\n"
    )


def tracker_hparams(config: TrainConfig) -> dict:
    """The config as TensorBoard hyper-parameters (only numbers, strings and booleans)."""
    return {
        name: value if isinstance(value, (int, float, str, bool)) else json.dumps(value)
        for name, value in config.to_dict().items()
    }
