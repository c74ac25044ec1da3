"""Train a sketch colorizer: the pix2pix GAN loop over shards, with HuggingFace Accelerate.

Accelerate reads the launcher's environment (`accelerate launch`, `torchrun`) and owns device
placement, autocast, gradient scaling and DDP. `train` reads top to bottom: build (models,
optimizers, resumed state), then the loop; the checkpointer, the sample writer and the logger
each decide when they are due.

Usage: run_dir = train(TrainConfig(data=Path("shards"), out=Path("runs/m1-none")))
"""

from __future__ import annotations

import itertools
from pathlib import Path

import torch
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from sketchcolor.config import HintConfig, TrainConfig
from sketchcolor.data.controls.conditioning import input_channels
from sketchcolor.data.loading.loader import create_loader
from sketchcolor.data.shards.verify import verify_before_use
from sketchcolor.data.storage.s3 import use_shard_cache
from sketchcolor.errors import SketchcolorError
from sketchcolor.runs import tracker_hparams, write_rank_audit
from sketchcolor.training.accelerators import release_accelerator, resolve_backend
from sketchcolor.training.checkpoints import state as checkpoints
from sketchcolor.training.checkpoints.checkpointer import Checkpointer, prepare_run_folder
from sketchcolor.training.checkpoints.preemption import StopSignals
from sketchcolor.training.checkpoints.state import TrainingProgress
from sketchcolor.training.ema import averaged_generator, create_ema
from sketchcolor.training.guard import FiniteGuard
from sketchcolor.training.inputs import step_inputs
from sketchcolor.training.logger import TrainingLogger
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
    try:
        run = build_run(config, accelerator)
        run.precision = precision
        run_loop(config, accelerator, run, stop)
        if config.output.write_rank_audit:
            write_rank_audit(config, accelerator, run.generator, run.discriminator, run.keys_seen)
        accelerator.wait_for_everyone()
        return config.out
    finally:
        stop.restore()
        release_accelerator(accelerator)


class Run:
    """What the loop works with, built by `build_run` (plain attributes, no behaviour)."""


def build_run(config: TrainConfig, accelerator) -> Run:
    """Data, loss, models, optimizers and the resumed state, in the order that keeps runs exact."""
    run = Run()
    run.hint_config = HintConfig.for_size(config.model.size, **config.hints.to_dict())
    # Where s3:// shards are staged on this node, and how much of them it keeps.
    use_shard_cache(config.loader.shard_cache, config.loader.shard_cache_max_gb)
    if config.loader.verify:  # before the run folder exists: a refused run leaves none
        verify_before_use(config.data, accelerator=accelerator)
    run.backend = resolve_backend(config.loader.backend)
    # Every rank reads its own part of the shards, directly onto its device.
    run.loader = create_loader(
        config.data, split="train", image_size=config.model.size,
        batch_size=config.optim.batch_size, device=accelerator.device, backend=run.backend,
        training=True, rank=accelerator.process_index, world_size=accelerator.num_processes,
        seed=config.seed, num_workers=config.loader.num_workers,
        dont_use_mmap=config.loader.dont_use_mmap,
    )  # fmt: skip
    run.steps_per_epoch = len(run.loader) // config.optim.grad_accum
    if run.steps_per_epoch == 0:
        raise SketchcolorError(
            f"{config.data}: {len(run.loader)} batches of {config.optim.batch_size} per rank per "
            f"epoch, fewer than --grad-accum {config.optim.grad_accum}; lower the batch size or add data"
        )
    run.total_steps = config.optim.max_steps or config.optim.epochs * run.steps_per_epoch
    # Built before the seed is set (loading VGG16 draws random numbers) and before the run
    # folder is written, so missing weights fail the run with nothing written.
    run.generator_loss = build_generator_loss(config).to(accelerator.device)
    set_seed(config.seed)  # identical initial weights on every rank
    generator = build_generator(config, input_channels(config.model.color_control, run.hint_config))
    # Only now, with data, model, size and loss weights checked, is the run folder touched.
    resume_from = prepare_run_folder(config, accelerator)
    generator, discriminator = prepare_models(
        config, accelerator, generator, build_discriminator(config)
    )
    # The EMA copy is made before `prepare`, which patches the live model's forward for autocast.
    run.ema = (
        create_ema(generator, decay=config.model.ema_decay).to(accelerator.device)
        if config.model.ema
        else None
    )
    optimizers = build_optimizers(config, generator, discriminator)
    run.generator, run.discriminator, run.optimizer_g, run.optimizer_d = accelerator.prepare(
        generator, discriminator, *optimizers
    )
    if run.ema is not None:
        accelerator.register_for_checkpointing(run.ema)
    # Registered after the EMA, so the EMA stays custom_checkpoint_0 in every precision.
    run.scaler_g = generator_scaler(accelerator, run.optimizer_g)
    if run.scaler_g is not None:
        accelerator.register_for_checkpointing(run.scaler_g)
    # The generator itself, without DDP or torch.compile wrappers: what EMA, samples and export use.
    run.plain_generator = accelerator.unwrap_model(run.generator, keep_torch_compile=False)
    inference_model = averaged_generator(run.ema) if run.ema is not None else run.plain_generator
    run.progress = TrainingProgress()
    if resume_from is not None:
        accelerator.load_state(str(resume_from))
        run.progress = TrainingProgress.from_file(resume_from / checkpoints.PROGRESS_FILE)
        # The saved optimizer state carries the old lr and betas; this run's flags win, so
        # `--resume --lr 1e-5` after a diverged run really lowers the rate.
        apply_optimizer_settings(
            (run.optimizer_g, run.optimizer_d), lr=config.optim.lr, betas=config.optim.betas
        )
    run.checkpointer = Checkpointer(
        config, accelerator, inference_model, run.hint_config, loader=run.loader, last=resume_from
    )
    accelerator.init_trackers("tensorboard", config=tracker_hparams(config))
    run.validation = ValidationLogger(
        config, accelerator, run.checkpointer, run.hint_config, backend=run.backend
    )
    run.samples = SampleWriter(config, run.hint_config, accelerator, inference_model)
    run.images_per_step = (
        config.optim.batch_size * config.optim.grad_accum * accelerator.num_processes
    )
    run.logger = TrainingLogger(
        accelerator, every=config.output.log_every, images_per_step=run.images_per_step,
        start_step=run.progress.step,
    )  # fmt: skip
    run.keys_seen = []
    return run


def run_loop(config: TrainConfig, accelerator, run: Run, stop: StopSignals) -> None:
    """One optimizer step per grad_accum batches until total_steps, then the final export;
    on a stop signal, a checkpoint of the step reached and `TrainingStopped`."""
    progress, rank = run.progress, accelerator.process_index
    if accelerator.is_main_process:
        tqdm.write(describe_run(config, accelerator, run))
        if run.precision.warning is not None:
            tqdm.write(f"sketchcolor train: warning: {run.precision.warning}")
    progress_bar = tqdm(
        total=run.total_steps * run.images_per_step, initial=progress.step * run.images_per_step,
        unit="img", unit_scale=True, dynamic_ncols=True, disable=not accelerator.is_main_process,
        desc=f"model {config.model.name} / {config.model.color_control}",
    )  # fmt: skip
    run.generator.train()
    run.discriminator.train()
    batches_per_epoch = run.steps_per_epoch * config.optim.grad_accum
    batches = training_batches(run.loader, progress, batches_per_epoch, run.total_steps)
    guard = FiniteGuard()
    with progress_bar as bar:  # `with` closes the bar before an error is printed under it
        for batch in batches:
            micro_batch = (progress.batch_in_epoch - 1) % config.optim.grad_accum
            # Dropout and hints depend only on (seed, step, micro-batch, rank), so a resumed
            # run draws exactly what the uninterrupted run drew, whatever ran in between.
            torch.manual_seed(mixed_seed(config.seed, progress.step, micro_batch, rank))
            inputs, _ = step_inputs(
                batch, color_control=config.model.color_control, hint_config=run.hint_config,
                seed=mixed_seed(config.seed, progress.step, micro_batch, rank, 1),
                channels_last=config.model.channels_last,
            )  # fmt: skip
            with accelerator.accumulate(run.generator, run.discriminator), accelerator.autocast():
                losses = train_step(
                    inputs, generator=run.generator, discriminator=run.discriminator,
                    optimizer_g=run.optimizer_g, optimizer_d=run.optimizer_d,
                    generator_loss=run.generator_loss, accelerator=accelerator,
                    scaler_g=run.scaler_g,
                )  # fmt: skip
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
            bar.update(run.images_per_step)
            logged = run.logger.maybe_log(
                progress.step, losses, run.optimizer_g, last_step=last_step
            )
            if logged is not None:
                bar.set_postfix(
                    step=progress.step,
                    loss_g=logged["train/loss_g"],
                    loss_d=logged["train/loss_d"],
                )
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
