"""Setting a run up: the Accelerator, seeds, the loader backend, SyncBatchNorm, the generator loss.

Usage: accelerator = create_accelerator(config); ...; release_accelerator(accelerator)
"""

from __future__ import annotations

import contextlib
import importlib.util

import torch

from sketchcolor.config import TrainConfig
from sketchcolor.training.run_folder import LOGS_FOLDER


def create_accelerator(config: TrainConfig):
    """An Accelerator for this run; None options fall back to `accelerate launch`'s settings."""
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration

    project = ProjectConfiguration(
        project_dir=str(config.out), logging_dir=str(config.out / LOGS_FOLDER)
    )
    return Accelerator(
        # Without a GPU, Accelerate only turns torchrun's environment into a (gloo) process
        # group when told to use the CPU; with cpu=False each rank would train on its own.
        cpu=not has_gpu(),
        mixed_precision=config.mixed_precision,
        gradient_accumulation_steps=config.grad_accum,
        log_with="tensorboard",
        project_config=project,
        dynamo_backend="inductor" if config.compile else None,
    )


def has_gpu() -> bool:
    """A CUDA, XPU or Apple MPS device is there for Accelerate to use."""
    xpu = getattr(torch, "xpu", None)
    return (
        torch.cuda.is_available()
        or (xpu is not None and xpu.is_available())
        or torch.backends.mps.is_available()
    )


def release_accelerator(accelerator) -> None:
    """Close the trackers; in a single process, also forget Accelerate's process-wide state.

    Accelerate keeps its state in singletons that refuse a second Accelerator with another
    mixed precision; resetting them (Accelerate's own tests do the same) lets one process
    train several runs in a row, as the quickstart and the tests do.
    """
    from accelerate.state import AcceleratorState, GradientState

    # A tracker whose writer never opened (a full disk at start) fails to close with an
    # AttributeError; the error that stopped the run is the one the user must see.
    with contextlib.suppress(AttributeError, OSError):
        accelerator.end_training()
    if accelerator.num_processes == 1:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()


def hint_options(config: TrainConfig) -> dict:
    """`HintConfig.for_size` options from the run config; unset ones keep the module's defaults."""
    options = {
        "grid": config.hint_grid,
        "label_size": config.hint_label_size,
        "max_labels": config.hint_max_labels,
        "zero_fraction": config.hint_zero_fraction,
        "encoding": config.hint_encoding,
    }
    return {name: value for name, value in options.items() if value is not None}


def resolve_backend(name: str) -> str:
    """auto: DALI when it is installed and a GPU is there to decode on, else the torch loader."""
    if name != "auto":
        return name
    has_dali = (
        importlib.util.find_spec("nvidia") is not None
        and importlib.util.find_spec("nvidia.dali") is not None
    )
    return "dali" if has_dali and torch.cuda.is_available() else "torch"


def maybe_sync_batchnorm(config: TrainConfig, accelerator, generator, discriminator):
    """SyncBatchNorm for multi-GPU runs when asked (torch supports it on GPUs only)."""
    from accelerate.utils import DistributedType

    if not config.sync_batchnorm or accelerator.num_processes == 1:
        return generator, discriminator
    if accelerator.distributed_type != DistributedType.MULTI_GPU:
        accelerator.print("sync_batchnorm: ignored, SyncBatchNorm needs CUDA devices")
        return generator, discriminator
    convert = torch.nn.SyncBatchNorm.convert_sync_batchnorm
    return convert(generator), convert(discriminator)


def build_generator_loss(config: TrainConfig):
    from sketchcolor.losses import GeneratorLoss, LossWeights, VGG16Features

    weights = LossWeights(
        adversarial=config.adversarial_weight,
        pixel=config.pixel_weight,
        feature=config.feature_weight,
        total_variation=config.total_variation_weight,
    )
    features = VGG16Features.pretrained(config.vgg_weights) if config.feature_loss else None
    return GeneratorLoss(weights, features=features)
