"""Training on CPU: exact resume, the run folder, the NaN guard, bf16 autocast, checkpoints, CLI, launch/.

Runs use the smallest settings the generators accept (256 px, width 1/16, a few steps of 2-4
pairs) on the session's synthetic shards; no pretrained weights are needed (feature loss off).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import safetensors.torch
import torch

from sketchcolor import cli
from sketchcolor.config import OptimConfig, TrainConfig
from sketchcolor.errors import SketchcolorError
from sketchcolor.runs import TrainingProgress, read_progress, read_run_config, read_train_config
from sketchcolor.train import train
from sketchcolor.training.checkpoints import state as checkpoints
from sketchcolor.training.presets import quickstart_configs, tiny_config

REPO = Path(__file__).resolve().parents[2]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return safetensors.torch.load_file(str(path))


def assert_same_weights(first: dict, second: dict) -> None:
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


@pytest.fixture(scope="module")
def resume_runs(shard_dir, tmp_path_factory):
    """Model 1 (BatchNorm + dropout: sensitive to every RNG draw) with hints, EMA and
    accumulation, 4 steps straight vs 2 + resume + 2. 24 train pairs / batch 4 / accumulation 2
    = 3 steps per epoch, so the resumed half starts mid-epoch and crosses into epoch 1."""
    root = tmp_path_factory.mktemp("resume")
    settings = dict(
        model="1", color_control="hints", batch_size=4, grad_accum=2, ema=True, ema_decay=0.9,
        save_every=2, sample_every=2, log_every=1, sample_count=3,
    )  # fmt: skip
    straight = train(tiny_config(shard_dir, root / "straight", max_steps=4, **settings))
    halves = root / "halves"
    train(tiny_config(shard_dir, halves, max_steps=2, **settings))
    half_way = weights(halves / "generator.safetensors")
    train(tiny_config(shard_dir, halves, max_steps=4, resume=True, **settings))
    return {"straight": straight, "halves": halves, "half_way": half_way}


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(resume_runs):
    straight, halves = resume_runs["straight"], resume_runs["halves"]
    # generator.safetensors holds the EMA weights; the checkpoint holds the live G and D too
    assert_same_weights(
        weights(straight / "generator.safetensors"), weights(halves / "generator.safetensors")
    )
    for name in ("model.safetensors", "model_1.safetensors"):
        assert_same_weights(
            weights(straight / "checkpoints/step-4" / name),
            weights(halves / "checkpoints/step-4" / name),
        )
    # and training did move the weights after the resume
    final = weights(halves / "generator.safetensors")
    assert any(not torch.equal(final[name], resume_runs["half_way"][name]) for name in final)
    progress = read_progress(halves / "checkpoints/step-4")
    assert progress == TrainingProgress(step=4, epoch=1, batch_in_epoch=2, images_seen=32)


def test_resume_is_exact_with_the_dali_loader(shard_dir, tmp_path):
    """The real DALI CPU pipeline: Model 2.1 (GroupNorm, attention gates) with the palette control."""
    settings = dict(
        model="2.1", color_control="palette", batch_size=2, loader_backend="dali", num_workers=1,
        sample_every=0, save_every=2,
    )  # fmt: skip
    straight = train(tiny_config(shard_dir, tmp_path / "straight", max_steps=4, **settings))
    halves = tmp_path / "halves"
    train(tiny_config(shard_dir, halves, max_steps=2, **settings))
    train(tiny_config(shard_dir, halves, max_steps=4, resume=True, **settings))
    assert_same_weights(
        weights(straight / "generator.safetensors"), weights(halves / "generator.safetensors")
    )
    assert json.loads((halves / "config.json").read_text())["in_channels"] == 30


def test_run_folder_holds_what_evaluate_and_colorize_read(resume_runs):
    from PIL import Image
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = resume_runs["halves"]
    config = read_run_config(run)
    assert config.model == "1" and config.color_control == "hints"
    assert config.image_size == 256 and config.hint_config.grid == 40
    assert config.hint_config.label_size == 5  # the paper's 10 px at 512, scaled to 256
    assert config.ema is True and config.step == 4 and config.in_channels == 3
    assert config.to_dict() == json.loads((run / "config.json").read_text())
    saved = read_train_config(run)
    assert saved.optim.max_steps == 4 and saved.resume and saved.optim.grad_accum == 2
    found = checkpoints.list_checkpoints(run / "checkpoints")
    assert [folder.name for _, folder in found] == [
        "step-4"
    ]  # keep_checkpoints=1 in the tiny preset
    # Every sample grid is whole (written under a temporary name, then renamed), none left over.
    assert sorted(path.name for path in (run / "samples").iterdir()) == ["step-2.png", "step-4.png"]
    grid = Image.open(run / "samples/step-4.png")
    assert grid.size == (
        4 * 256 + 5 * 2,
        3 * 256 + 4 * 2,
    )  # 4 columns x sample_count rows, 2 px padding
    event_files = sorted((run / "logs").rglob("events.out.tfevents.*"))
    tags = set()
    for path in event_files:
        accumulator = EventAccumulator(str(path))
        accumulator.Reload()
        tags |= set(accumulator.Tags()["scalars"])
    assert {
        "train/loss_d",
        "train/loss_g",
        "train/loss_g_pixel",
        "train/lr",
        "train/images_per_second",
    } <= tags


def test_resume_refuses_other_settings_and_fresh_runs_refuse_old_checkpoints(
    resume_runs, shard_dir
):
    run = resume_runs["halves"]
    with pytest.raises(SketchcolorError, match=r"width: 0\.0625 -> 0\.125"):
        train(tiny_config(shard_dir, run, model="1", color_control="hints", batch_size=4,
                          grad_accum=2, ema=True, width=0.125, resume=True))  # fmt: skip
    with pytest.raises(SketchcolorError, match="already holds checkpoints.*--resume"):
        train(tiny_config(shard_dir, run, model="1", color_control="hints"))


def test_nan_loss_stops_the_run_naming_the_step_and_keeps_the_checkpoint(
    shard_dir, tmp_path, monkeypatch, capsys
):
    from sketchcolor.training import losses

    real_loss = losses.discriminator_loss
    calls = {"count": 0}

    def loss_turning_nan(real_logits, fake_logits):
        calls["count"] += 1
        value = real_loss(real_logits, fake_logits)
        return value * float("nan") if calls["count"] == 3 else value

    monkeypatch.setattr(losses, "discriminator_loss", loss_turning_nan)
    run = tmp_path / "run"

    def arguments(max_steps: int, *extra: str) -> list[str]:
        return [
            "train", "--data", str(shard_dir), "--out", str(run), "--model", "2.1", "--size", "256",
            "--width", "0.0625", "--batch-size", "2", "--max-steps", str(max_steps), "--save-every", "2",
            "--sample-every", "0", "--no-feature-loss", "--loader", "torch", "--num-workers", "0",
            "--mixed-precision", "no", *extra,
        ]  # fmt: skip

    assert cli.main(arguments(5)) == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert "non-finite loss at step 3" in message and "loss_d=nan" in message
    assert f"last good checkpoint is {run / 'checkpoints' / 'step-2'}" in message
    assert [step for step, _ in checkpoints.list_checkpoints(run / "checkpoints")] == [2]

    # The checkpoint loads and training continues from it once the loss is healthy again,
    # at the lower learning rate the message suggests (not the one saved in the checkpoint).
    monkeypatch.setattr(losses, "discriminator_loss", real_loss)
    assert cli.main(arguments(3, "--resume", "--lr", "1e-5", "--betas", "0.9", "0.99")) == 0
    assert [step for step, _ in checkpoints.list_checkpoints(run / "checkpoints")] == [2, 3]
    for name in ("optimizer.bin", "optimizer_1.bin"):
        saved = torch.load(run / "checkpoints/step-3" / name, weights_only=True)
        assert [(g["lr"], tuple(g["betas"])) for g in saved["param_groups"]] == [
            (1e-5, (0.9, 0.99))
        ]
    assert all(
        torch.isfinite(value).all() for value in weights(run / "generator.safetensors").values()
    )


def test_bf16_autocast_step_on_cpu():
    from accelerate import Accelerator

    from sketchcolor.models import Discriminator, create_generator
    from sketchcolor.training.accelerators import release_accelerator
    from sketchcolor.training.losses import GeneratorLoss
    from sketchcolor.training.step import StepInputs, train_step

    torch.manual_seed(0)
    generator = create_generator("2.1", in_channels=3, width=1 / 16)
    discriminator = Discriminator(in_channels=6, width=1 / 16)
    before = {name: value.clone() for name, value in generator.state_dict().items()}
    accelerator = Accelerator(cpu=True, mixed_precision="bf16")
    try:
        prepared = accelerator.prepare(
            generator, discriminator,
            torch.optim.Adam(generator.parameters(), lr=1e-3), torch.optim.Adam(discriminator.parameters(), lr=1e-3),
        )  # fmt: skip
        dtypes = []
        first_conv = next(
            module for module in generator.modules() if isinstance(module, torch.nn.Conv2d)
        )
        first_conv.register_forward_hook(lambda module, args, output: dtypes.append(output.dtype))
        sketch, color = torch.rand(2, 3, 256, 256) * 2 - 1, torch.rand(2, 3, 256, 256) * 2 - 1
        with accelerator.autocast():
            losses = train_step(
                StepInputs(generator_input=sketch, sketch=sketch, color=color),
                generator=prepared[0], discriminator=prepared[1], optimizer_g=prepared[2],
                optimizer_d=prepared[3], generator_loss=GeneratorLoss(), accelerator=accelerator,
            )  # fmt: skip
    finally:
        release_accelerator(accelerator)
    assert dtypes and set(dtypes) == {torch.bfloat16}  # the convolutions really ran in bf16
    assert all(torch.isfinite(value) and value.dtype == torch.float32 for value in losses.values())
    assert losses["loss_g"] > losses["loss_g_pixel"] * 99  # c2 = 100 dominates the total
    changed = [
        name
        for name, value in generator.state_dict().items()
        if not torch.equal(value, before[name])
    ]
    assert changed and all(
        value.dtype == torch.float32 for value in generator.state_dict().values()
    )


class _CrashingSave(Exception):
    pass


def test_checkpoints_rotate_and_a_crash_mid_save_keeps_the_last_good_one(tmp_path):
    from accelerate import Accelerator

    from sketchcolor.training.accelerators import release_accelerator

    model = torch.nn.Linear(3, 2)
    accelerator = Accelerator(cpu=True)
    try:
        model, optimizer = accelerator.prepare(model, torch.optim.Adam(model.parameters()))
        root = tmp_path / "checkpoints"
        for step in range(1, 6):
            with torch.no_grad():
                model.weight.fill_(step)
            progress = checkpoints.TrainingProgress(step=step, epoch=0, batch_in_epoch=step)
            checkpoints.save_checkpoint(accelerator, root, progress, keep=2)
        assert sorted(path.name for path in root.iterdir()) == ["step-4", "step-5"]

        # A save that dies half-way leaves a partial folder that nobody mistakes for a checkpoint.
        original_save = accelerator.save_state

        def save_then_crash(output_dir, **kwargs):
            original_save(output_dir, **kwargs)
            raise _CrashingSave

        accelerator.save_state = save_then_crash
        with pytest.raises(_CrashingSave):
            checkpoints.save_checkpoint(
                accelerator, root, checkpoints.TrainingProgress(step=6), keep=2
            )
        accelerator.save_state = original_save
        assert (root / ".partial-step-6").is_dir() and not (root / "step-6").exists()
        (root / "step-7").mkdir()  # a foreign or half-copied folder without progress.json
        latest = checkpoints.latest_checkpoint(root)
        assert latest == root / "step-5"
        assert read_progress(latest).batch_in_epoch == 5
        assert torch.equal(weights(latest / "model.safetensors")["weight"], torch.full((2, 3), 5.0))
        checkpoints.remove_partial_checkpoints(root)
        assert not (root / ".partial-step-6").exists()
    finally:
        release_accelerator(accelerator)


def test_a_crash_while_exporting_keeps_the_last_exported_generator(tmp_path, monkeypatch):
    from sketchcolor.config import HintConfig
    from sketchcolor.models import create_generator
    from sketchcolor.runs import export_generator

    config = tiny_config(tmp_path / "shards", tmp_path / "run")
    generator = create_generator("1", in_channels=3, width=1 / 16)
    export_generator(config, generator, HintConfig.for_size(256), step=1)
    good = weights(config.out / "generator.safetensors")

    def crash_half_way(state, path, metadata=None):
        Path(path).write_bytes(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.torch, "save_file", crash_half_way)
    with torch.no_grad():
        next(generator.parameters()).add_(1.0)
    with pytest.raises(KeyboardInterrupt):
        export_generator(config, generator, HintConfig.for_size(256), step=2)
    monkeypatch.undo()
    assert_same_weights(weights(config.out / "generator.safetensors"), good)
    assert read_run_config(config.out).step == 1
    export_generator(config, generator, HintConfig.for_size(256), step=3)
    assert read_run_config(config.out).step == 3
    assert sorted(path.name for path in config.out.iterdir()) == [
        "config.json", "generator.safetensors"
    ]  # fmt: skip


def test_cli_flags_fill_the_config_and_keep_its_defaults():
    from sketchcolor.cli.train import parse_train_config

    config = parse_train_config(
        shlex.split(
            "--data s --out r --model 2.2 --color mixed --size 384 --betas 0.4 0.99 --mixed-precision bf16 "
            "--grad-accum 4 --ema --no-feature-loss --hint-encoding channels --max-steps 7 --resume"
        )
    )
    assert (config.model.name, config.model.color_control, config.model.size) == (
        "2.2",
        "mixed",
        384,
    )
    optim = config.optim
    assert optim.betas == (0.4, 0.99) and optim.mixed_precision == "bf16" and optim.grad_accum == 4
    assert (
        config.model.ema and not config.loss.feature_loss and config.resume and optim.max_steps == 7
    )
    assert config.hints.encoding == "channels"
    defaults = parse_train_config(["--data", "s", "--out", "r"])
    assert defaults == TrainConfig(data=Path("s"), out=Path("r"))
    assert (
        defaults.model.size,
        defaults.optim.epochs,
        defaults.optim.lr,
        defaults.optim.betas,
    ) == (
        512,
        100,
        2e-4,
        (0.5, 0.999),
    )
    with pytest.raises(SketchcolorError, match="batch_size must be at least 1"):
        TrainConfig(data=Path("s"), out=Path("r"), optim=OptimConfig(batch_size=0))


def test_a_generator_the_size_does_not_fit_is_refused_before_training(shard_dir, tmp_path):
    with pytest.raises(SketchcolorError, match="divisible by 256"):
        train(tiny_config(shard_dir, tmp_path / "run", size=128))
    # Refused runs write nothing: no run folder half-made from a typo.
    with pytest.raises(SketchcolorError, match="unknown generator '7'"):
        train(tiny_config(shard_dir, tmp_path / "run", model="7"))
    with pytest.raises(SketchcolorError, match="VGG16 weights"):
        train(tiny_config(shard_dir, tmp_path / "run", feature_loss=True,
                          vgg_weights=tmp_path / "missing.pth"))  # fmt: skip
    assert not (tmp_path / "run").exists()
    (tmp_path / "a-file").write_text("")
    with pytest.raises(SketchcolorError, match="a-file/run: cannot create the run folder"):
        train(tiny_config(shard_dir, tmp_path / "a-file" / "run"))


def test_quickstart_configs_are_the_recipe_under_hints_and_mixed(tmp_path):
    configs = quickstart_configs("shards", tmp_path, steps=10)
    assert [(c.model.name, c.model.color_control) for c in configs] == [
        ("1", "hints"), ("1", "mixed")
    ]  # fmt: skip
    assert all(
        c.optim.max_steps == 10 and c.model.size == 256 and not c.loss.feature_loss for c in configs
    )
    # The small-run preset's documented departures from the paper's defaults.
    assert all(c.optim.lr == 1e-3 and c.loss.weights.adversarial == 0 for c in configs)
    assert all(c.hints.encoding == "channels" and c.hints.grid == 16 for c in configs)
    assert all(c.output.batchnorm_batches == 8 for c in configs)
    # The recipe's labels and upsampling (docs/learning.md section 6).
    assert all(c.hints.placement == "dots" and c.hints.shape == "strokes" for c in configs)
    assert all(c.hints.spread == "regions" and c.model.upsampling == "resize" for c in configs)
    assert len({c.out for c in configs}) == 2


def test_launch_configs_are_valid_accelerate_configs():
    from accelerate.commands.config.config_args import ClusterConfig

    expected = {"one-gpu": 1, "eight-gpus": 8, "multi-node": 16, "cpu": 1}
    for name, processes in expected.items():
        config = ClusterConfig.from_yaml_file(str(REPO / "launch" / f"{name}.yaml"))
        assert config.num_processes == processes


def test_sweep_covers_every_model_and_color_control():
    result = subprocess.run(
        ["bash", str(REPO / "launch/sweep.sh"), "shards", "runs", "--epochs", "3"],
        env={**os.environ, "DRY_RUN": "1", "LAUNCHER": "accelerate launch --config_file launch/eight-gpus.yaml"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    lines = result.stdout.strip().splitlines()
    pairs = set()
    assert lines  # a loop over nothing would pass
    for line in lines:
        words = line.split()
        assert words[:5] == [
            "accelerate",
            "launch",
            "--config_file",
            "launch/eight-gpus.yaml",
            "-m",
        ]
        assert words[-2:] == ["--epochs", "3"] and "--resume" in words
        pairs.add((words[words.index("--model") + 1], words[words.index("--color") + 1]))
    paper = {(m, c) for m in ("1", "2.1", "2.2") for c in ("none", "palette", "hints")}
    assert len(lines) == 16 and paper <= pairs and ("3", "mixed") in pairs


def test_slurm_script_defines_what_it_uses(tmp_path):
    """Run launch/slurm.sh under `set -u` with stand-ins for srun, scontrol and accelerate."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text("#!/bin/bash\nprintf 'gpu-node-07\\ngpu-node-08\\n'\n")
    # srun runs its command once per node, with SLURM_NODEID set as SLURM does
    (bin_dir / "srun").write_text(
        '#!/bin/bash\nshift\nfor node in 0 1; do SLURM_NODEID=$node "$@"; done\n'
    )
    (bin_dir / "accelerate").write_text('#!/bin/bash\necho "accelerate $*"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    environment = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path),
        "SLURM_NNODES": "2", "SLURM_JOB_NODELIST": "gpu-node-[07-08]", "SLURM_GPUS_ON_NODE": "4",
        "SLURM_SUBMIT_DIR": str(REPO),
    }  # fmt: skip
    result = subprocess.run(
        ["bash", "-u", str(REPO / "launch/slurm.sh"), "--data", "/shared/shards", "--out", "/shared/run"],
        env=environment, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    launches = [line for line in result.stdout.splitlines() if line.startswith("accelerate")]
    assert len(launches) == 2
    for node, line in enumerate(launches):
        assert f"--machine_rank {node}" in line
        assert "--num_machines 2 --num_processes 8" in line
        assert "--main_process_ip gpu-node-07 --main_process_port 29500" in line
        assert line.endswith(
            "-m sketchcolor.train --data /shared/shards --out /shared/run --resume"
        )
        assert f"--config_file {REPO}/launch/multi-node.yaml" in line


def test_slurm_script_says_to_use_sbatch_outside_slurm(tmp_path):
    environment = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    result = subprocess.run(
        ["bash", str(REPO / "launch/slurm.sh"), "--data", "x"],
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "sbatch" in result.stderr
    assert shutil.which("bash")
