"""Building a run: the Accelerator, the models, their optimizers, SyncBatchNorm, the generator loss.

Usage: accelerator = training_accelerator(config); generator, discriminator = build_models(config, in_channels)
"""

from __future__ import annotations

import torch

from sketchcolor.accelerators import create_accelerator
from sketchcolor.config import TrainConfig
from sketchcolor.runs import LOGS_FOLDER


def training_accelerator(config: TrainConfig):
    """An Accelerator for this run; None options fall back to `accelerate launch`'s settings."""
    from accelerate.utils import ProjectConfiguration

    project = ProjectConfiguration(
        project_dir=str(config.out), logging_dir=str(config.out / LOGS_FOLDER)
    )
    return create_accelerator(
        mixed_precision=config.optim.mixed_precision,
        gradient_accumulation_steps=config.optim.grad_accum,
        log_with="tensorboard",
        project_config=project,
        dynamo_backend="inductor" if config.model.compile else None,
    )


def build_generator(config: TrainConfig, in_channels: int):
    """The generator (weights from the current seed), checked against the training size."""
    from sketchcolor.models import create_generator

    generator = create_generator(
        config.model.name, in_channels=in_channels, width=config.model.width
    )
    generator.check_size(config.model.size, config.model.size)
    return generator


def build_discriminator(config: TrainConfig):
    from sketchcolor.models import Discriminator

    return Discriminator(in_channels=6, width=config.model.width)


def prepare_models(config: TrainConfig, accelerator, generator, discriminator):
    """Channels-last and SyncBatchNorm as the config asks."""
    if config.model.channels_last:
        generator.to(memory_format=torch.channels_last)
        discriminator.to(memory_format=torch.channels_last)
    return maybe_sync_batchnorm(config, accelerator, generator, discriminator)


def build_optimizers(config: TrainConfig, generator, discriminator):
    """Adam for each model, with the run's learning rate and betas."""
    optim = config.optim
    return (
        torch.optim.Adam(generator.parameters(), lr=optim.lr, betas=optim.betas),
        torch.optim.Adam(discriminator.parameters(), lr=optim.lr, betas=optim.betas),
    )


def apply_optimizer_settings(optimizers, *, lr: float, betas: tuple[float, float]) -> None:
    """Set every parameter group's learning rate and Adam betas (after loading a checkpoint)."""
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group["lr"], group["betas"] = lr, betas


def maybe_sync_batchnorm(config: TrainConfig, accelerator, generator, discriminator):
    """SyncBatchNorm for multi-GPU runs when asked (torch supports it on GPUs only)."""
    from accelerate.utils import DistributedType

    if not config.model.sync_batchnorm or accelerator.num_processes == 1:
        return generator, discriminator
    if accelerator.distributed_type != DistributedType.MULTI_GPU:
        accelerator.print("sync_batchnorm: ignored, SyncBatchNorm needs CUDA devices")
        return generator, discriminator
    convert = torch.nn.SyncBatchNorm.convert_sync_batchnorm
    return convert(generator), convert(discriminator)


def build_generator_loss(config: TrainConfig):
    from sketchcolor.losses import GeneratorLoss, VGG16Features

    loss = config.loss
    features = VGG16Features.pretrained(loss.vgg_weights) if loss.feature_loss else None
    return GeneratorLoss(loss.weights, features=features)
