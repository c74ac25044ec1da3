"""Training the output heads (models/heads.py): colour classes with their codebook from the
shards' palettes, and the label copy gate; the run resumes exactly and its folder and
checkpoints load with the head. Tiny runs on the session's synthetic shards."""

from __future__ import annotations

import safetensors.torch
import torch

from sketchcolor.data.controls.color_classes import color_codebook
from sketchcolor.models import load_generator
from sketchcolor.runs import load_checkpoint_generator, read_run_config
from sketchcolor.train import train
from sketchcolor.training.presets import tiny_config
from tests.support.runs import logged_scalars

SETTINGS = dict(model="1", color_control="hints", hint_encoding="channels", hint_spread="regions",
                color_classes=8, copy_labels=True, upsampling="resize", batch_size=4,
                save_every=2, sample_every=2, log_every=1)  # fmt: skip


def test_colour_classes_and_the_copy_gate_train_resume_exactly_and_load(shard_dir, tmp_path):
    straight = train(tiny_config(shard_dir, tmp_path / "straight", max_steps=4, **SETTINGS))
    halves = tmp_path / "halves"
    train(tiny_config(shard_dir, halves, max_steps=2, **SETTINGS))
    train(tiny_config(shard_dir, halves, max_steps=4, resume=True, **SETTINGS))
    first = safetensors.torch.load_file(str(straight / "generator.safetensors"))
    second = safetensors.torch.load_file(str(halves / "generator.safetensors"))
    assert first.keys() == second.keys() and "head.codebook" in first
    assert all(torch.equal(first[name], second[name]) for name in first)

    generator, config = load_generator(straight)
    assert config["head"] == {"classes": 8, "temperature": 0.02, "copy_channels": [3, 4, 5, 6]}
    assert torch.equal(generator.head.codebook, color_codebook(shard_dir, 8)[0])
    assert read_run_config(straight).head == config["head"]
    checkpoint, _ = load_checkpoint_generator(straight / "checkpoints" / "step-4",
                                              torch.device("cpu"), shard_dir=shard_dir)  # fmt: skip
    assert torch.equal(checkpoint.head.codebook, generator.head.codebook)
    assert len(logged_scalars(straight, "train/loss_g_color_classes")) == 4


def test_region_borders_weigh_the_losses_of_a_run(shard_dir, tmp_path):
    """The same first step (same weights, batch and labels) with and without the weighting:
    only the weighted losses differ."""
    logged = {}
    for name, weight in (("plain", 0.0), ("borders", 4.0)):
        config = tiny_config(shard_dir, tmp_path / name, max_steps=1, **SETTINGS)
        config.loss.region_borders = weight
        run = train(config)
        logged[name] = {tag: logged_scalars(run, f"train/loss_g_{tag}")[1]
                        for tag in ("pixel", "color_classes", "total_variation")}  # fmt: skip
    plain, borders = logged["plain"], logged["borders"]
    assert borders["total_variation"] == plain["total_variation"]  # same picture
    assert borders["pixel"] != plain["pixel"]
    assert borders["color_classes"] != plain["color_classes"]
