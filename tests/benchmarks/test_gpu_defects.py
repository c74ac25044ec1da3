"""The defects a GPU would hit first, reached on a CPU: channels-last checkpoints, the fp16
scaler under accumulation, the loader probe, --deterministic, the NaN guard's cadence.

Runs use tiny_config (256 px, width 1/16, batches of 2-4) on the session's synthetic shards.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import safetensors.torch
import torch

from sketchcolor.train import train
from sketchcolor.training.checkpoints import state as checkpoints
from sketchcolor.training.presets import tiny_config

# Tolerances: the CPU parts compare fp32 gradients with 1e-6 (same ops, same order); checked
# with the CPU capped at AVX2 and at the default path as well.
pytestmark = pytest.mark.precision


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


class L1MinusLogits:
    """A generator loss with an adversarial part, so train_step updates D, then G."""

    weights = SimpleNamespace(adversarial=1.0)

    def __call__(self, logits, fake, real):
        return (fake - real).abs().mean() - logits.mean(), {}


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
                generator_loss=L1MinusLogits(),
                scaler_g=scaler_g,
            )  # fmt: skip
    return accelerator.unwrap_model(generator).weight.detach().clone()


def test_fp16_scaler_keeps_the_generators_scale_fixed_across_its_accumulation():
    from accelerate import Accelerator

    from sketchcolor.training.accelerators import release_accelerator

    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=2)
    try:
        unscaled = sgd_step_weights(accelerator, own_scaler=False, shared_scaler=False)
        shared = sgd_step_weights(accelerator, own_scaler=False, shared_scaler=True)
        own = sgd_step_weights(accelerator, own_scaler=True, shared_scaler=True)
    finally:
        release_accelerator(accelerator)
    assert not torch.allclose(shared, unscaled, atol=1e-4)  # the defect: mis-scaled gradients
    torch.testing.assert_close(own, unscaled, rtol=1e-6, atol=1e-6)


def test_auto_loader_falls_back_to_torch_in_one_line_when_dali_cannot_run(monkeypatch, capsys):
    from sketchcolor.data.loading import dali_loader
    from sketchcolor.training import accelerators

    monkeypatch.setattr(accelerators, "has_dali", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    problem = "RuntimeError: CUDA driver version is insufficient for CUDA runtime version"
    monkeypatch.setattr(dali_loader, "dali_gpu_problem", lambda device_id: problem)
    assert accelerators.resolve_backend("auto") == "torch"
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed == [
        f"loader auto: DALI cannot run on this GPU ({problem}); using the torch loader"
    ]
    monkeypatch.setattr(dali_loader, "dali_gpu_problem", lambda device_id: None)
    assert accelerators.resolve_backend("auto") == "dali"
    assert accelerators.resolve_backend("torch") == "torch"


def test_the_dali_probe_names_the_failure_without_a_gpu():
    pytest.importorskip("nvidia.dali")
    from sketchcolor.data.loading.dali_loader import dali_gpu_problem

    if torch.cuda.is_available():
        assert dali_gpu_problem(0) is None
    else:  # no GPU: the probe's GPU operator cannot run, and the reason is one line
        problem = dali_gpu_problem(0)
        assert problem is not None and "\n" not in problem and ":" in problem


@pytest.fixture
def restore_kernel_flags():
    yield
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.deterministic = False
    torch.backends.cudnn.benchmark = False


def test_deterministic_sets_the_kernel_flags_and_benchmark_otherwise(
    shard_dir, tmp_path, monkeypatch, restore_kernel_flags
):
    from sketchcolor.training.setup import configure_kernels

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    configure_kernels(False)
    assert torch.backends.cudnn.benchmark and not torch.are_deterministic_algorithms_enabled()
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    run = train(tiny_config(shard_dir, tmp_path / "run", max_steps=1, deterministic=True))
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert json.loads((run / "train_config.json").read_text())["deterministic"] is True


@pytest.mark.gpu
def test_cuda_resume_is_bit_identical_with_deterministic(shard_dir, tmp_path, restore_kernel_flags):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    settings = dict(
        model="1", color_control="hints", batch_size=4, grad_accum=2, save_every=2,
        sample_every=0, deterministic=True, mixed_precision="bf16",
    )  # fmt: skip
    straight = train(tiny_config(shard_dir, tmp_path / "straight", max_steps=4, **settings))
    halves = tmp_path / "halves"
    train(tiny_config(shard_dir, halves, max_steps=2, **settings))
    train(tiny_config(shard_dir, halves, max_steps=4, resume=True, **settings))
    first = safetensors.torch.load_file(str(straight / "generator.safetensors"))
    second = safetensors.torch.load_file(str(halves / "generator.safetensors"))
    assert first.keys() == second.keys()
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_the_guard_names_the_first_bad_step_when_checked_later():
    from sketchcolor.errors import SketchcolorError
    from sketchcolor.training.guard import FiniteGuard

    class OneProcess:
        num_processes = 1

    guard = FiniteGuard()
    for step, loss_d in [(1, 0.5), (2, 0.25), (3, float("nan")), (4, float("inf"))]:
        guard.observe({"loss_d": torch.tensor(loss_d), "loss_g": torch.tensor(1.0)}, step=step)
        if step == 2:
            guard.check(accelerator=OneProcess(), step=2, last_checkpoint=None)  # all finite
    with pytest.raises(SketchcolorError) as error:
        guard.check(accelerator=OneProcess(), step=4, last_checkpoint=Path("run/step-2"))
    assert str(error.value) == (
        "non-finite loss at step 3 (loss_d=nan, loss_g=1); stopped at step 4 without saving; "
        "the last good checkpoint is run/step-2 (continue with --resume, perhaps with a lower --lr)"
    )


def test_the_guard_reads_the_device_only_when_the_run_logs_or_saves(
    shard_dir, tmp_path, monkeypatch
):
    from sketchcolor.training.guard import FiniteGuard

    checked_at, observed = [], []
    real_check, real_observe = FiniteGuard.check, FiniteGuard.observe

    def check(self, *, step, **rest):
        checked_at.append(step)
        return real_check(self, step=step, **rest)

    def observe(self, losses, *, step):
        observed.append(step)
        return real_observe(self, losses, step=step)

    monkeypatch.setattr(FiniteGuard, "check", check)
    monkeypatch.setattr(FiniteGuard, "observe", observe)
    train(tiny_config(shard_dir, tmp_path / "run", max_steps=5, batch_size=2, grad_accum=2,
                      log_every=2, save_every=5, sample_every=0))  # fmt: skip
    assert observed == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]  # every micro-batch is watched
    assert checked_at == [2, 4, 5]  # read at the log steps and the final save only


def test_validation_hints_are_drawn_on_the_cpu(shard_dir, tmp_path, monkeypatch):
    from sketchcolor.config import HintConfig
    from sketchcolor.training import inputs, samples

    devices = []
    real_generator = inputs.seeded_generator
    monkeypatch.setattr(
        inputs, "seeded_generator",
        lambda device, seed: devices.append(device) or real_generator(device, seed),
    )  # fmt: skip
    config = tiny_config(shard_dir, tmp_path / "run", color_control="hints")
    loaded = samples.load_sample_batch(config, HintConfig.for_size(256), torch.device("cpu"))
    assert devices == [torch.device("cpu")] and loaded["hints"] is not None


@pytest.mark.gpu
def test_validation_hints_on_the_gpu_equal_the_cpus(shard_dir):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    from sketchcolor.config import HintConfig
    from sketchcolor.data.loading.loader import create_loader
    from sketchcolor.training.inputs import step_inputs

    loader = create_loader(shard_dir, split="val", image_size=256, batch_size=4, backend="torch",
                           training=False, num_workers=0)  # fmt: skip
    batch = next(iter(loader.epoch(0)))
    on_gpu = {**batch, "sketch": batch["sketch"].cuda(), "color": batch["color"].cuda()}
    options = dict(color_control="hints", hint_config=HintConfig.for_size(256), seed=7,
                   hint_device="cpu")  # fmt: skip
    _, cpu_hints = step_inputs(batch, **options)
    _, gpu_hints = step_inputs(on_gpu, **options)
    assert torch.equal(cpu_hints.mask, gpu_hints.mask.cpu())
    torch.testing.assert_close(cpu_hints.rgb, gpu_hints.rgb.cpu(), atol=1e-5, rtol=0)
