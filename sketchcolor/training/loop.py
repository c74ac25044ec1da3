"""Train a sketch colorizer: the pix2pix GAN loop over shards, with HuggingFace Accelerate.

Accelerate reads the launcher's environment (`accelerate launch`, `torchrun`) and owns device
placement, autocast, gradient scaling and DDP. `train` reads top to bottom: build (models,
optimizers, resumed state), then the loop; the checkpointer, the sample writer and the logger
each decide when they are due.

Usage: run_dir = train(TrainConfig(data=Path("shards"), out=Path("runs/m1-none")))
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import torch
from accelerate.utils import set_seed
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from sketchcolor.config import HintConfig, TrainConfig
from sketchcolor.data.controls.conditioning import input_channels
from sketchcolor.data.loading.loader import PairLoader, create_loader
from sketchcolor.data.shards.verify import verify_before_use
from sketchcolor.data.storage.s3 import use_shard_cache
from sketchcolor.errors import SketchcolorError
from sketchcolor.runs import tracker_hparams, write_rank_audit
from sketchcolor.training.accelerators import (
    PrecisionChoice,
    release_accelerator,
    report_rank_failure,
    resolve_backend,
    set_collective_timeout,
)
from sketchcolor.training.checkpoints import state as checkpoints
from sketchcolor.training.checkpoints.checkpointer import Checkpointer, prepare_run_folder
from sketchcolor.training.checkpoints.preemption import StopSignals
from sketchcolor.training.checkpoints.state import TrainingProgress
from sketchcolor.training.ema import averaged_generator, create_ema
from sketchcolor.training.guard import FiniteGuard
from sketchcolor.training.inputs import step_inputs
from sketchcolor.training.logger import TrainingLogger
from sketchcolor.training.losses import GeneratorLoss
from sketchcolor.training.samples import SampleWriter
from sketchcolor.training.setup import (
    apply_optimizer_settings,
    build_discriminator,
    build_generator,
    build_generator_loss,
    build_optimizers,
    configure_kernels,
    generator_scaler,
    prepare_models,
    run_precision,
    training_accelerator,
)
from sketchcolor.training.step import train_step
from sketchcolor.training.validation import ValidationLogger
from sketchcolor.util.seeding import mixed_seed


def train(config: TrainConfig) -> Path:
    """Train one generator as `config` says; returns the run folder (see docs/interfaces.md)."""
    configure_kernels(config.deterministic)
    config, precision = run_precision(config)
    accelerator = training_accelerator(config)
    stop = StopSignals(accelerator).install()  # SIGTERM/SIGUSR1/SIGINT: save, then stop
    run = None
    try:
        run = build_run(config, accelerator, precision)
        # Set-up waits (the shard check, a checkpoint load) had init_timeout; steps wait less.
        set_collective_timeout(accelerator, config.distributed.collective_timeout)
        run_loop(config, accelerator, run, stop)
        if config.output.write_rank_audit:
            write_rank_audit(config, accelerator, run.generator, run.discriminator, run.keys_seen)
        accelerator.wait_for_everyone()
        return config.out
    except Exception as error:
        if not isinstance(error, SketchcolorError):  # those are one line already
            step = run.progress.step if run is not None else None  # the last step done
            report_rank_failure(accelerator, error, step, config.distributed.collective_timeout)
        raise
    finally:
        stop.restore()
        release_accelerator(accelerator)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """What the loop works with, built once by `build_run` (fields only, no behaviour)."""

    precision: PrecisionChoice
    """The mixed precision the run trains in, and why (`run_precision`)."""
    hint_config: HintConfig
    """The hint settings at the run's image size."""
    backend: str
    """The loader backend in use: "torch" or "dali"."""
    loader: PairLoader
    """This rank's part of the training split."""
    steps_per_epoch: int
    """Optimizer steps per epoch (whole accumulation groups)."""
    total_steps: int
    """Optimizer steps the run ends at."""
    images_per_step: int
    """Training images per optimizer step, all processes together."""
    generator_loss: GeneratorLoss
    generator: torch.nn.Module
    """Prepared by Accelerate (DDP, torch.compile); what the loop trains."""
    discriminator: torch.nn.Module
    plain_generator: torch.nn.Module
    """The generator without DDP or torch.compile wrappers: what EMA, samples and export use."""
    ema: AveragedModel | None
    """The generator's EMA copy, when the run keeps one."""
    optimizer_g: torch.optim.Optimizer
    optimizer_d: torch.optim.Optimizer
    scaler_g: torch.amp.GradScaler | None
    """G's own GradScaler under fp16 (`generator_scaler`), else None."""
    progress: TrainingProgress
    """Steps done and the data position; the loop advances it in place."""
    checkpointer: Checkpointer
    validation: ValidationLogger
    samples: SampleWriter
    logger: TrainingLogger
    keys_seen: list[str] = dataclasses.field(default_factory=list)
    """The sample keys this rank trained on, for --write-rank-audit."""


def build_run(config: TrainConfig, accelerator, precision: PrecisionChoice) -> Run:
    """Data, loss, models, optimizers and the resumed state, in the order that keeps runs exact."""
    hint_config = HintConfig.for_size(config.model.size, **config.hints.to_dict())
    backend, loader = training_loader(config, accelerator)
    steps_per_epoch = optimizer_steps_per_epoch(config, len(loader))
    # Built before the seed is set (loading VGG16 draws random numbers) and before the run
    # folder is written, so missing weights fail the run with nothing written.
    generator_loss = build_generator_loss(config).to(accelerator.device)
    set_seed(config.seed)  # identical initial weights on every rank
    in_channels = input_channels(config.model.color_control, hint_config)
    generator = build_generator(config, in_channels, generator_loss.color_classes)
    # Only now, with data, model, size and loss weights checked, is the run folder touched.
    resume_from = prepare_run_folder(config, accelerator)
    generator, discriminator = prepare_models(
        config, accelerator, generator, build_discriminator(config)
    )
    # The EMA copy is made before `prepare`, which patches the live model's forward for autocast.
    ema = training_ema(config, generator, accelerator.device)
    optimizers = build_optimizers(config, generator, discriminator)
    generator, discriminator, optimizer_g, optimizer_d = accelerator.prepare(
        generator, discriminator, *optimizers
    )
    scaler_g = register_training_state(accelerator, ema, optimizer_g)
    plain_generator = accelerator.unwrap_model(generator, keep_torch_compile=False)
    inference_model = averaged_generator(ema) if ema is not None else plain_generator
    progress = resumed_progress(config, accelerator, resume_from, (optimizer_g, optimizer_d))
    checkpointer = Checkpointer(
        config, accelerator, inference_model, hint_config, loader=loader, last=resume_from
    )
    accelerator.init_trackers("tensorboard", config=tracker_hparams(config))
    validation = ValidationLogger(config, accelerator, checkpointer, hint_config, backend=backend)
    samples = SampleWriter(config, hint_config, accelerator, inference_model)
    images_per_step = config.optim.batch_size * config.optim.grad_accum * accelerator.num_processes
    logger = TrainingLogger(
        accelerator, every=config.output.log_every, images_per_step=images_per_step,
        start_step=progress.step,
    )  # fmt: skip
    return Run(
        precision=precision, hint_config=hint_config, backend=backend, loader=loader,
        steps_per_epoch=steps_per_epoch,
        total_steps=config.optim.max_steps or config.optim.epochs * steps_per_epoch,
        images_per_step=images_per_step, generator_loss=generator_loss, generator=generator,
        discriminator=discriminator, plain_generator=plain_generator, ema=ema,
        optimizer_g=optimizer_g, optimizer_d=optimizer_d, scaler_g=scaler_g, progress=progress,
        checkpointer=checkpointer, validation=validation, samples=samples, logger=logger,
    )  # fmt: skip


def training_loader(config: TrainConfig, accelerator) -> tuple[str, PairLoader]:
    """The loader backend and this rank's loader of the training split, the shards verified
    first when the config asks."""
    # Where s3:// shards are staged on this node, and how much of them it keeps.
    use_shard_cache(config.loader.shard_cache, config.loader.shard_cache_max_gb)
    if config.loader.verify:  # before the run folder exists: a refused run leaves none
        verify_before_use(config.data, accelerator=accelerator)
    backend = resolve_backend(config.loader.backend)
    # Every rank reads its own part of the shards, directly onto its device.
    loader = create_loader(
        config.data, split="train", image_size=config.model.size,
        batch_size=config.optim.batch_size, device=accelerator.device, backend=backend,
        training=True, rank=accelerator.process_index, world_size=accelerator.num_processes,
        seed=config.seed, num_workers=config.loader.num_workers,
        dont_use_mmap=config.loader.dont_use_mmap,
    )  # fmt: skip
    return backend, loader


def optimizer_steps_per_epoch(config: TrainConfig, batches: int) -> int:
    """Optimizer steps in an epoch of `batches` batches per rank; at least one, else refused."""
    steps = batches // config.optim.grad_accum
    if steps == 0:
        raise SketchcolorError(
            f"{config.data}: {batches} batches of {config.optim.batch_size} per rank per "
            f"epoch, fewer than --grad-accum {config.optim.grad_accum}; lower the batch size or add data"
        )
    return steps


def training_ema(config: TrainConfig, generator, device) -> AveragedModel | None:
    """The generator's EMA copy on `device` when the config keeps one, else None."""
    if not config.model.ema:
        return None
    return create_ema(generator, decay=config.model.ema_decay).to(device)


def register_training_state(accelerator, ema, optimizer_g) -> torch.amp.GradScaler | None:
    """Register the EMA copy and G's own GradScaler (under fp16) for checkpointing; returns
    that scaler, or None."""
    if ema is not None:
        accelerator.register_for_checkpointing(ema)
    # Registered after the EMA, so the EMA stays custom_checkpoint_0 in every precision.
    scaler_g = generator_scaler(accelerator, optimizer_g)
    if scaler_g is not None:
        accelerator.register_for_checkpointing(scaler_g)
    return scaler_g


def resumed_progress(
    config: TrainConfig, accelerator, resume_from: Path | None, optimizers
) -> TrainingProgress:
    """Where the run stands: loaded with the checkpoint's state when resuming, else the start."""
    if resume_from is None:
        return TrainingProgress()
    accelerator.load_state(str(resume_from))
    progress = TrainingProgress.from_file(resume_from / checkpoints.PROGRESS_FILE)
    # The saved optimizer state carries the old lr and betas; this run's flags win, so
    # `--resume --lr 1e-5` after a diverged run really lowers the rate.
    apply_optimizer_settings(optimizers, lr=config.optim.lr, betas=config.optim.betas)
    return progress


def run_loop(config: TrainConfig, accelerator, run: Run, stop: StopSignals) -> None:
    """One optimizer step per grad_accum batches until total_steps, then the final export;
    on a stop signal, a checkpoint of the step reached and `TrainingStopped`."""
    progress = run.progress
    announce_run(config, accelerator, run)
    progress_bar = images_progress_bar(config, accelerator, run)
    run.generator.train()
    run.discriminator.train()
    batches_per_epoch = run.steps_per_epoch * config.optim.grad_accum
    batches = training_batches(run.loader, progress, batches_per_epoch, run.total_steps)
    guard = FiniteGuard()
    with progress_bar as bar:  # `with` closes the bar before an error is printed under it
        for batch in batches:
            losses = micro_batch_step(config, accelerator, run, batch)
            if config.output.write_rank_audit:
                run.keys_seen.extend(batch["key"])
            guard.observe(losses, step=progress.step + 1)
            if not accelerator.sync_gradients:
                continue  # more micro-batches to accumulate before this optimizer step

            progress.step += 1
            progress.images_seen += run.images_per_step
            last_step = progress.step == run.total_steps
            if writes_due(config, progress.step, last_step):  # nothing bad may be logged or saved
                guard.check(
                    accelerator=accelerator, step=progress.step,
                    last_checkpoint=run.checkpointer.last,
                )  # fmt: skip
            if run.ema is not None:
                run.ema.update_parameters(run.plain_generator)
            log_step(run, bar, losses, last_step=last_step)
            run.samples.maybe_write(progress.step, last_step=last_step)
            # A signal is agreed by every rank (one tiny all-reduce per optimizer step under
            # several processes, none in one), so all save the same step and stop together.
            stopping = stop.should_stop() and not last_step
            run.checkpointer.save(progress, last_step=last_step or stopping)
            if stopping:
                raise stop.stopped(progress.step, run.checkpointer.last)
            run.validation.maybe_log(progress.step, last_step=last_step)
            if last_step:
                break
    # The inference weights, also when resuming a run that had already finished.
    run.checkpointer.export(progress.step)


def announce_run(config: TrainConfig, accelerator, run: Run) -> None:
    """The run's one-line description, and the precision's warning if any (main process)."""
    if accelerator.is_main_process:
        tqdm.write(describe_run(config, accelerator, run))
        if run.precision.warning is not None:
            tqdm.write(f"sketchcolor train: warning: {run.precision.warning}")


def images_progress_bar(config: TrainConfig, accelerator, run: Run) -> tqdm:
    """A bar of training images (main process only), starting where the run resumes."""
    return tqdm(
        total=run.total_steps * run.images_per_step,
        initial=run.progress.step * run.images_per_step,
        unit="img", unit_scale=True, dynamic_ncols=True, disable=not accelerator.is_main_process,
        desc=f"model {config.model.name} / {config.model.color_control}",
    )  # fmt: skip


def micro_batch_step(config: TrainConfig, accelerator, run: Run, batch: dict) -> dict:
    """One micro-batch through `train_step` (the optimizers step on the last of each
    accumulation group); its losses."""
    progress, rank = run.progress, accelerator.process_index
    micro_batch = (progress.batch_in_epoch - 1) % config.optim.grad_accum
    # Dropout and hints depend only on (seed, step, micro-batch, rank), so a resumed
    # run draws exactly what the uninterrupted run drew, whatever ran in between.
    torch.manual_seed(mixed_seed(config.seed, progress.step, micro_batch, rank))
    inputs, _ = step_inputs(
        batch, color_control=config.model.color_control, hint_config=run.hint_config,
        seed=mixed_seed(config.seed, progress.step, micro_batch, rank, 1),
        channels_last=config.model.channels_last, region_borders=config.loss.region_borders,
    )  # fmt: skip
    with accelerator.accumulate(run.generator, run.discriminator), accelerator.autocast():
        losses = train_step(
            inputs, generator=run.generator, discriminator=run.discriminator,
            optimizer_g=run.optimizer_g, optimizer_d=run.optimizer_d,
            generator_loss=run.generator_loss, accelerator=accelerator,
            scaler_g=run.scaler_g,
        )  # fmt: skip
    return losses


def log_step(run: Run, bar: tqdm, losses: dict, *, last_step: bool) -> None:
    """Advance the bar by one optimizer step; when the logger logs, show the losses on it."""
    step = run.progress.step
    bar.update(run.images_per_step)
    logged = run.logger.maybe_log(step, losses, run.optimizer_g, last_step=last_step)
    if logged is not None:
        bar.set_postfix(step=step, loss_g=logged["train/loss_g"], loss_d=logged["train/loss_d"])


def writes_due(config: TrainConfig, step: int, last_step: bool) -> bool:
    """Whether `step` logs, writes samples or saves a checkpoint."""
    output = config.output
    sampled = output.sample_every > 0 and step % output.sample_every == 0
    return last_step or sampled or step % output.log_every == 0 or step % output.save_every == 0


def training_batches(loader, progress: TrainingProgress, batches_per_epoch: int, total_steps: int):
    """Batches from the saved data position on, epoch after epoch, counting them in `progress`.

    Each epoch is cut to whole accumulation groups (`batches_per_epoch`), so an optimizer step
    never spans two epochs. Stops by itself only if the run is already complete.
    """
    while progress.step < total_steps:
        skipped = progress.batch_in_epoch
        batches_read = 0
        for batch in itertools.islice(
            loader.epoch(progress.epoch, skip_batches=skipped), batches_per_epoch - skipped
        ):
            batches_read += 1
            progress.batch_in_epoch += 1  # counted before use: a checkpoint after it includes it
            yield batch
        if batches_read == 0 and skipped == 0:
            raise SketchcolorError(f"the loader gave no batches for epoch {progress.epoch}")
        progress.epoch += 1
        progress.batch_in_epoch = 0


def describe_run(config: TrainConfig, accelerator, run: Run) -> str:
    start = f"resuming at step {run.progress.step}" if run.progress.step else "starting"
    return (
        f"sketchcolor train: model {config.model.name}, color control {config.model.color_control}, "
        f"{config.model.size}px, width {config.model.width}; {accelerator.num_processes} process(es) on "
        f"{accelerator.device.type}, mixed precision {run.precision.describe()}, loader {run.backend}; "
        f"{run.total_steps} steps ({run.steps_per_epoch} per epoch); {start}; run folder {config.out}"
    )
