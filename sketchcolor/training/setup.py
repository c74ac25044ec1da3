"""Building a run: its mixed precision, the Accelerator, the models, their optimizers,
SyncBatchNorm, the generator loss.

Usage: accelerator = training_accelerator(config); generator, discriminator = build_models(config, in_channels)
"""

from __future__ import annotations

import dataclasses
import os

import torch

from sketchcolor.config import TrainConfig
from sketchcolor.errors import SketchcolorError
from sketchcolor.runs import LOGS_FOLDER, head_config
from sketchcolor.training.accelerators import (
    PrecisionChoice,
    create_accelerator,
    launcher_precision,
    resolve_mixed_precision,
    trains_on_cpu,
)
from sketchcolor.training.checkpoints.checkpointer import recorded_precision


def configure_kernels(deterministic: bool) -> None:
    """cuDNN/cuBLAS kernel choice for this process; call before CUDA is first used.

    deterministic: the same kernels and reduction orders every run (bit-identical resume on
    CUDA). Otherwise cudnn.benchmark: the shapes are fixed, so autotuning once pays off.
    """
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic
    # warn_only: two backward ops have no deterministic CUDA kernel (see the config field);
    # torch names them in a warning instead of stopping the run.
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    if deterministic:
        # cuBLAS reads this when it creates its handle (the first GEMM), so setting it here,
        # before any model touches CUDA, is in time. A user's own value wins.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def run_precision(config: TrainConfig) -> tuple[TrainConfig, PrecisionChoice]:
    """The mixed precision this run trains in (`resolve_mixed_precision`: the flag, else
    `accelerate launch`'s, else a resumed run's, else by the device), and the config holding
    it, so that train_config.json records it and a resume keeps it."""
    choice = resolve_mixed_precision(
        config.optim.mixed_precision, on_cpu=trains_on_cpu(), launcher=launcher_precision(),
        recorded=recorded_precision(config),
    )  # fmt: skip
    optim = dataclasses.replace(config.optim, mixed_precision=choice.mode)
    return dataclasses.replace(config, optim=optim), choice


def training_accelerator(config: TrainConfig):
    """An Accelerator for this run (its mixed precision resolved by `run_precision`)."""
    from accelerate.utils import ProjectConfiguration

    project = ProjectConfiguration(
        project_dir=str(config.out), logging_dir=str(config.out / LOGS_FOLDER)
    )
    from accelerate.utils import DistributedDataParallelKwargs

    # broadcast_buffers=False: D runs twice (real, fake) before one backward, and DDP's in-place
    # buffer broadcast at each forward can break autograd on CUDA (pytorch#175024, cuDNN
    # BatchNorm). What it means for running statistics: each rank's BatchNorm running mean and
    # variance follow its own data only (they start equal, from the same seed). Training
    # normalizes with batch statistics, so the step is unchanged; D's running statistics are
    # never used; the exported G (and sample grids) are rank 0's, so inference uses statistics
    # averaged over rank 0's part of the data, an estimate from 1/N of it rather than all of it.
    # --sync-batchnorm synchronizes the batch statistics themselves.
    ddp = DistributedDataParallelKwargs(broadcast_buffers=False)
    return create_accelerator(
        init_timeout=config.distributed.init_timeout,
        kwargs_handlers=[ddp],
        mixed_precision=config.optim.mixed_precision,
        gradient_accumulation_steps=config.optim.grad_accum,
        log_with="tensorboard",
        project_config=project,
        dynamo_backend="inductor" if config.model.compile else None,
    )


def build_generator(config: TrainConfig, in_channels: int, color_classes=None):
    """The generator (weights from the current seed), checked against the training size;
    color_classes: the loss's ColorClasses, whose codebook the colour-class head decodes to."""
    from sketchcolor.models import canonical_name, create_generator

    if canonical_name(config.model.name) == "R" and config.model.color_control != "reference":
        raise SketchcolorError(f"model R reads a reference picture: train it with --color "
                               f"reference, not {config.model.color_control!r}")  # fmt: skip
    generator = create_generator(
        config.model.name,
        in_channels=in_channels,
        width=config.model.width,
        upsampling=config.model.upsampling,
        head=head_config(config).to_dict(),
    )
    if color_classes is not None:
        generator.head.codebook.copy_(color_classes.codebook)
    generator.check_size(config.model.size, config.model.size)
    return generator


def build_discriminator(config: TrainConfig):
    from sketchcolor.models import Discriminator

    return Discriminator(in_channels=6, width=config.model.width)


def prepare_models(config: TrainConfig, accelerator, generator, discriminator):
    """Channels-last and SyncBatchNorm as the config asks."""
    if config.model.channels_last:
        for model in (generator, discriminator):
            model.to(memory_format=torch.channels_last)
            model.register_state_dict_post_hook(contiguous_state_dict)
    return maybe_sync_batchnorm(config, accelerator, generator, discriminator)


def contiguous_state_dict(module, state_dict, prefix, local_metadata) -> None:
    """state_dict post-hook: channels-last conv weights are not contiguous and safetensors
    refuses them. Accelerate 1.15's save_state packs them itself, but not every version and
    not every other writer (safetensors.torch.save_file on a state_dict) does."""
    for name, tensor in state_dict.items():
        if isinstance(tensor, torch.Tensor) and not tensor.is_contiguous():
            state_dict[name] = tensor.contiguous()


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


def generator_scaler(accelerator, optimizer_g) -> torch.amp.GradScaler | None:
    """Under fp16, a GradScaler of G's own, given to G's prepared optimizer; else None.

    Accelerate shares one scaler between the optimizers and updates its scale at every real
    step. D steps before G's last micro-batch of an accumulation is backpropagated, so with one
    scaler G's earlier micro-batches were scaled by the old scale and unscaled by the new one.
    With its own scaler, G's scale changes only at G's step, after all its micro-batches.
    """
    if accelerator.scaler is None:
        return None
    scaler = torch.amp.GradScaler(accelerator.device.type)
    optimizer_g.scaler = scaler  # AcceleratedOptimizer.step steps and updates this one
    return scaler


def build_generator_loss(config: TrainConfig):
    from sketchcolor.training.losses import GeneratorLoss, VGG16Features

    loss = config.loss
    features = VGG16Features.pretrained(loss.vgg_weights) if loss.feature_loss else None
    return GeneratorLoss(loss.weights, features=features, color_classes=build_color_classes(config))


def build_color_classes(config: TrainConfig):
    """The colour-class head's codebook and class weights, from the training palettes; None
    for the paper's RGB output."""
    from sketchcolor.data.controls.color_classes import color_codebook, rebalancing_weights
    from sketchcolor.training.losses import ColorClasses

    if config.model.color_classes == 0:
        return None
    codebook, priors = color_codebook(config.data, config.model.color_classes)
    return ColorClasses(codebook, rebalancing_weights(priors, config.loss.class_rebalance))
