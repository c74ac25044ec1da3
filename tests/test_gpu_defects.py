"""The defects a GPU would hit first, reached on a CPU: channels-last checkpoints, the fp16
scaler under accumulation, the loader probe, --deterministic, the NaN guard's cadence.

Runs use tiny_config (256 px, width 1/16, batches of 2-4) on the session's synthetic shards.
"""

from __future__ import annotations

import safetensors.torch
import torch

from sketchcolor.train import train
from sketchcolor.training import checkpoint as checkpoints
from sketchcolor.training.presets import tiny_config


def test_channels_last_run_saves_and_resumes(shard_dir, tmp_path):
    run = tmp_path / "run"
    settings = dict(model="1", batch_size=2, save_every=1, sample_every=0, channels_last=True)
    train(tiny_config(shard_dir, run, max_steps=1, **settings))
    train(tiny_config(shard_dir, run, max_steps=2, resume=True, **settings))
    assert [step for step, _ in checkpoints.list_checkpoints(run / "checkpoints")] == [2]
    saved = safetensors.torch.load_file(str(run / "checkpoints/step-2/model.safetensors"))
    assert any(tensor.dim() == 4 for tensor in saved.values())
    exported = safetensors.torch.load_file(str(run / "generator.safetensors"))
    assert all(torch.isfinite(tensor).all() for tensor in exported.values())


def test_channels_last_models_give_contiguous_state_dicts(tmp_path):
    from accelerate import Accelerator

    from sketchcolor.training.setup import build_discriminator, prepare_models

    config = tiny_config(tmp_path, tmp_path / "run", channels_last=True)
    discriminator = build_discriminator(config)
    conv = next(m for m in discriminator.modules() if isinstance(m, torch.nn.Conv2d))
    _, prepared = prepare_models(config, Accelerator(cpu=True), torch.nn.Identity(), discriminator)
    assert not conv.weight.is_contiguous()  # really channels-last in memory
    state = prepared.state_dict()
    assert all(tensor.is_contiguous() for tensor in state.values())
    safetensors.torch.save_file(state, str(tmp_path / "d.safetensors"))  # refuses strided tensors


def sgd_step_weights(accelerator, *, own_scaler: bool, shared_scaler: bool) -> torch.Tensor:
    """G's weight after one optimizer step of 2 accumulated micro-batches (SGD, lr 1)."""
    from sketchcolor.training.setup import generator_scaler
    from sketchcolor.training.step import StepInputs, train_step

    torch.manual_seed(0)
    generator = torch.nn.Conv2d(3, 3, 1)
    discriminator = torch.nn.Sequential(
        torch.nn.Conv2d(6, 1, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
    )
    optimizers = [torch.optim.SGD(m.parameters(), lr=1.0) for m in (generator, discriminator)]
    # Growth every step: a shared scale doubles at D's step, inside G's accumulation.
    accelerator.scaler = (
        torch.amp.GradScaler("cpu", init_scale=2.0**8, growth_interval=1) if shared_scaler else None
    )
    generator, discriminator, optimizer_g, optimizer_d = accelerator.prepare(
        generator, discriminator, *optimizers
    )
    scaler_g = generator_scaler(accelerator, optimizer_g) if own_scaler else None
    for micro_batch in range(2):
        data = torch.Generator().manual_seed(micro_batch)
        sketch, color = torch.rand(2, 2, 3, 8, 8, generator=data) * 2 - 1
        inputs = StepInputs(generator_input=sketch, sketch=sketch, color=color)
        with accelerator.accumulate(generator, discriminator):
            train_step(
                inputs, generator=generator, discriminator=discriminator,
                optimizer_g=optimizer_g, optimizer_d=optimizer_d, accelerator=accelerator,
                generator_loss=lambda logits, fake, real: (
                    (fake - real).abs().mean() - logits.mean(), {}
                ),
                scaler_g=scaler_g,
            )  # fmt: skip
    return accelerator.unwrap_model(generator).weight.detach().clone()


def test_fp16_scaler_keeps_the_generators_scale_fixed_across_its_accumulation():
    from accelerate import Accelerator

    from sketchcolor.accelerators import release_accelerator

    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=2)
    try:
        unscaled = sgd_step_weights(accelerator, own_scaler=False, shared_scaler=False)
        shared = sgd_step_weights(accelerator, own_scaler=False, shared_scaler=True)
        own = sgd_step_weights(accelerator, own_scaler=True, shared_scaler=True)
    finally:
        release_accelerator(accelerator)
    assert not torch.allclose(shared, unscaled, atol=1e-4)  # the defect: mis-scaled gradients
    torch.testing.assert_close(own, unscaled, rtol=1e-6, atol=1e-6)
