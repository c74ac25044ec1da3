"""Train a sketch colorizer: the pix2pix GAN loop over shards, with HuggingFace Accelerate.

The same module runs under `python -m sketchcolor.train`, `accelerate launch -m sketchcolor.train`
and `torchrun --nproc_per_node N -m sketchcolor.train`: Accelerate reads the launcher's
environment and owns device placement, autocast, gradient scaling and DDP. `train` reads top
to bottom: set-up, resume, the loop, the end; the pieces live in `sketchcolor.training`.

Usage: python -m sketchcolor.train --data shards --model 2.1 --color hints --out runs/m21-hints
"""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from sketchcolor.config import TrainConfig
from sketchcolor.errors import SketchcolorError
from sketchcolor.seeding import mixed_seed
from sketchcolor.training import checkpoint as checkpoints
from sketchcolor.training.checkpoint import TrainingProgress
from sketchcolor.training.preemption import StopSignals, TrainingStopped, report_stop
from sketchcolor.training.setup import has_gpu, release_accelerator, resolve_backend

__all__ = ["has_gpu", "main", "release_accelerator", "resolve_backend", "train"]


def train(config: TrainConfig) -> Path:
    """Train one generator as `config` says; returns the run folder (see docs/interfaces.md)."""
    from accelerate.utils import set_seed

    from sketchcolor.data.conditioning import HintConfig, input_channels
    from sketchcolor.data.loader import create_loader
    from sketchcolor.data.verify import verify_before_use
    from sketchcolor.models import Discriminator, create_generator
    from sketchcolor.training.ema import averaged_generator, create_ema
    from sketchcolor.training.guard import check_finite
    from sketchcolor.training.inputs import step_inputs
    from sketchcolor.training.run_folder import (
        export_generator,
        load_sample_batch,
        prepare_run_folder,
        tracker_hparams,
        write_rank_audit,
        write_samples,
    )
    from sketchcolor.training.setup import (
        build_generator_loss,
        create_accelerator,
        hint_options,
        maybe_sync_batchnorm,
    )
    from sketchcolor.training.step import train_step

    accelerator = create_accelerator(config)
    stop = StopSignals(accelerator).install()  # SIGTERM/SIGUSR1/SIGINT: save, then stop
    try:
        main_process = accelerator.is_main_process
        checkpoint_root = config.out / "checkpoints"
        hint_config = HintConfig.for_size(config.size, **hint_options(config))

        # --- data: checked against the manifest (before any run folder exists), then every
        # rank reads its own part of the shards, directly onto its device
        if config.verify_shards:
            verify_before_use(config.data, accelerator=accelerator)
        backend = resolve_backend(config.loader_backend)
        loader = create_loader(
            config.data, split="train", image_size=config.size, batch_size=config.batch_size,
            device=accelerator.device, backend=backend, training=True,
            rank=accelerator.process_index, world_size=accelerator.num_processes,
            seed=config.seed, num_workers=config.num_workers,
        )  # fmt: skip
        steps_per_epoch = len(loader) // config.grad_accum
        if steps_per_epoch == 0:
            raise SketchcolorError(
                f"{config.data}: {len(loader)} batches of {config.batch_size} per rank per epoch, fewer "
                f"than --grad-accum {config.grad_accum}; lower the batch size or add data"
            )
        total_steps = config.max_steps or config.epochs * steps_per_epoch

        # Built before the seed is set (loading VGG16 draws random numbers) and before the run
        # folder is written, so missing weights fail the run with nothing written.
        generator_loss = build_generator_loss(config).to(accelerator.device)

        # --- models and optimizers (identical initial weights on every rank, from the seed)
        set_seed(config.seed)
        generator = create_generator(
            config.model,
            in_channels=input_channels(config.color_control, hint_config),
            width=config.width,
        )
        generator.check_size(config.size, config.size)
        # Only now, with data, model, size and loss weights checked, is the run folder touched.
        resume_from = prepare_run_folder(config, accelerator)
        discriminator = Discriminator(in_channels=6, width=config.width)
        if config.channels_last:
            generator.to(memory_format=torch.channels_last)
            discriminator.to(memory_format=torch.channels_last)
        generator, discriminator = maybe_sync_batchnorm(
            config, accelerator, generator, discriminator
        )
        # The EMA copy is made before `prepare`, which patches the live model's forward for autocast.
        ema = (
            create_ema(generator, decay=config.ema_decay).to(accelerator.device)
            if config.ema
            else None
        )
        optimizer_g = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=config.betas)
        optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr, betas=config.betas)
        generator, discriminator, optimizer_g, optimizer_d = accelerator.prepare(
            generator, discriminator, optimizer_g, optimizer_d
        )
        if ema is not None:
            accelerator.register_for_checkpointing(ema)
        # The generator itself, without DDP or torch.compile wrappers: what EMA, samples and export use.
        plain_generator = accelerator.unwrap_model(generator, keep_torch_compile=False)
        inference_model = averaged_generator(ema) if ema is not None else plain_generator

        # --- resume: weights, optimizers, scaler, EMA, then the step and the data position
        progress = TrainingProgress()
        if resume_from is not None:
            accelerator.load_state(str(resume_from))
            progress = TrainingProgress.from_file(resume_from / checkpoints.PROGRESS_FILE)
            # The saved optimizer state carries the old lr and betas; this run's flags win, so
            # `--resume --lr 1e-5` after a diverged run really lowers the rate.
            apply_optimizer_settings((optimizer_g, optimizer_d), lr=config.lr, betas=config.betas)
        last_checkpoint = resume_from

        accelerator.init_trackers("tensorboard", config=tracker_hparams(config))
        sample = (
            load_sample_batch(config, hint_config, accelerator.device) if main_process else None
        )
        images_per_step = config.batch_size * config.grad_accum * accelerator.num_processes
        keys_seen: list[str] = []
        if main_process:
            tqdm.write(
                describe_run(config, accelerator, backend, total_steps, steps_per_epoch, progress)
            )
        progress_bar = tqdm(
            total=total_steps * images_per_step, initial=progress.step * images_per_step,
            unit="img", unit_scale=True, dynamic_ncols=True, disable=not main_process,
            desc=f"model {config.model} / {config.color_control}",
        )  # fmt: skip
        meter = Throughput(progress.step)
        generator.train()
        discriminator.train()
        batches_per_epoch = steps_per_epoch * config.grad_accum

        # --- the loop: one optimizer step per grad_accum batches, until total_steps
        with progress_bar as bar:  # `with` closes the bar before an error is printed under it
            for batch in training_batches(loader, progress, batches_per_epoch, total_steps):
                micro_batch = (progress.batch_in_epoch - 1) % config.grad_accum
                rank = accelerator.process_index
                # Dropout and hints depend only on (seed, step, micro-batch, rank), so a resumed
                # run draws exactly what the uninterrupted run drew, whatever ran in between.
                torch.manual_seed(mixed_seed(config.seed, progress.step, micro_batch, rank))
                inputs, _ = step_inputs(
                    batch, color_control=config.color_control, hint_config=hint_config,
                    seed=mixed_seed(config.seed, progress.step, micro_batch, rank, 1),
                    channels_last=config.channels_last,
                )  # fmt: skip
                with accelerator.accumulate(generator, discriminator), accelerator.autocast():
                    losses = train_step(
                        inputs, generator=generator, discriminator=discriminator,
                        optimizer_g=optimizer_g, optimizer_d=optimizer_d,
                        generator_loss=generator_loss, accelerator=accelerator,
                    )  # fmt: skip
                if config.write_rank_audit:
                    keys_seen.extend(batch["key"])
                check_finite(
                    losses,
                    accelerator=accelerator,
                    step=progress.step + 1,
                    last_checkpoint=last_checkpoint,
                )
                if not accelerator.sync_gradients:
                    continue  # more micro-batches to accumulate before this optimizer step

                progress.step += 1
                progress.images_seen += images_per_step
                if ema is not None:
                    ema.update_parameters(plain_generator)
                bar.update(images_per_step)
                final = progress.step == total_steps
                if progress.step % config.log_every == 0 or final:
                    values = log_metrics(
                        accelerator, losses, optimizer_g, meter, progress.step, images_per_step
                    )
                    bar.set_postfix(
                        step=progress.step,
                        loss_g=values["train/loss_g"],
                        loss_d=values["train/loss_d"],
                    )
                if (
                    main_process
                    and config.sample_every
                    and (progress.step % config.sample_every == 0 or final)
                ):
                    write_samples(config, accelerator, inference_model, sample, progress.step)
                stopping = not final and stop.should_stop()  # all ranks agree
                if progress.step % config.save_every == 0 or final or stopping:
                    last_checkpoint = checkpoints.save_checkpoint(
                        accelerator, checkpoint_root, progress, keep=config.keep_checkpoints
                    )
                    if main_process:
                        export_generator(config, inference_model, hint_config, progress.step)
                if stopping:
                    raise stop.stopped(progress.step, last_checkpoint)
                if final:
                    break

        # --- the end: inference weights (also when resuming a run that had already finished)
        if main_process:
            export_generator(config, inference_model, hint_config, progress.step)
        if config.write_rank_audit:
            write_rank_audit(config, accelerator, generator, discriminator, keys_seen)
        accelerator.wait_for_everyone()
        return config.out
    finally:
        stop.restore()
        release_accelerator(accelerator)


def apply_optimizer_settings(optimizers, *, lr: float, betas: tuple[float, float]) -> None:
    """Set every parameter group's learning rate and Adam betas (after loading a checkpoint)."""
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group["lr"], group["betas"] = lr, betas


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


class Throughput:
    """Images per second between two log points (wall clock, all processes together)."""

    def __init__(self, step: int) -> None:
        self.step, self.time = step, time.perf_counter()

    def images_per_second(self, step: int, images_per_step: int) -> float:
        now = time.perf_counter()
        rate = (step - self.step) * images_per_step / max(now - self.time, 1e-9)
        self.step, self.time = step, now
        return rate


def log_metrics(
    accelerator, losses: dict, optimizer_g, meter: Throughput, step: int, images_per_step: int
) -> dict:
    """Losses averaged over processes, learning rate and images/s, to TensorBoard."""
    names = list(losses)
    stacked = torch.stack([losses[name].float() for name in names])  # (L,)
    averaged = (
        accelerator.reduce(stacked, reduction="mean") if accelerator.num_processes > 1 else stacked
    )
    values = {f"train/{name}": value for name, value in zip(names, averaged.tolist(), strict=True)}
    values["train/lr"] = optimizer_g.param_groups[0]["lr"]
    values["train/images_per_second"] = meter.images_per_second(step, images_per_step)
    accelerator.log(values, step=step)
    return values


def describe_run(config, accelerator, backend, total_steps, steps_per_epoch, progress) -> str:
    start = f"resuming at step {progress.step}" if progress.step else "starting"
    return (
        f"sketchcolor train: model {config.model}, colour control {config.color_control}, "
        f"{config.size}px, width {config.width}; {accelerator.num_processes} process(es) on "
        f"{accelerator.device.type}, mixed precision {accelerator.mixed_precision}, loader {backend}; "
        f"{total_steps} steps ({steps_per_epoch} per epoch); {start}; run folder {config.out}"
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m sketchcolor.train ...` (also under accelerate launch and torchrun)."""
    import argparse

    from sketchcolor.cli.train import add_arguments, config_from_arguments

    parser = argparse.ArgumentParser(
        prog="python -m sketchcolor.train", description=__doc__.split("\n")[0]
    )
    add_arguments(parser)
    config = None
    try:
        config = config_from_arguments(parser.parse_args(argv))
        train(config)
    except TrainingStopped as stopped:
        return report_stop(stopped, "sketchcolor train")
    except SketchcolorError as error:
        print(f"sketchcolor train: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
