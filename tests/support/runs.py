"""Tiny real run folders and stand-in FID weights for tests that need a trained run.

Usage: run = train_tiny_run(shard_dir, tmp_path / "run", "1", "hints")
"""

from __future__ import annotations

from pathlib import Path

import torch

from sketchcolor.evaluation import fid

SIZE = 256  # the smallest size Models 1 and 2.1 (8 levels) accept


def train_tiny_run(shard_dir: Path, out: Path, model: str, color_control: str) -> Path:
    """A real run folder from 2 training steps."""
    from sketchcolor.config import TrainConfig
    from sketchcolor.training.loop import train

    config = TrainConfig.from_flat(
        data=shard_dir, out=out, model=model, color_control=color_control, size=SIZE,
        width=1 / 16, max_steps=2, batch_size=2, feature_loss=False, loader_backend="torch",
        sample_every=0, num_workers=0, log_every=1,
    )  # fmt: skip
    return train(config)


def write_standin_weights(path):
    """A seeded random-weight file in the layout of pt_inception-2015-12-05-6726825d.pth.

    Kaiming-normal convolutions keep the activations at a sensible scale through ~90 layers,
    so the stand-in's FIDs are ordinary numbers rather than ~1e-9 (PyTorch's default init
    shrinks activations layer by layer).
    """
    torch.manual_seed(1234)
    network = fid.build_fid_inception()
    for module in network.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    torch.save(network.state_dict(), path)
    return path


def constant_run(folder: Path, value: float) -> Path:
    """A run folder whose Model 1 generator has every weight set to `value` (0: grey output)."""
    import torch

    from sketchcolor.models import create_generator, save_generator

    generator = create_generator("1", in_channels=3, width=1 / 16)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.fill_(value)
    save_generator(generator, folder, metadata={"color_control": "none", "image_size": 256})
    return folder


def logged_scalars(run_dir: Path, tag: str) -> dict[int, float]:
    """A run's logged values of one scalar (its tensorboard events), by step."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    values = {}
    for events in run_dir.rglob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        if tag in accumulator.Tags()["scalars"]:
            values.update({event.step: event.value for event in accumulator.Scalars(tag)})
    return values
