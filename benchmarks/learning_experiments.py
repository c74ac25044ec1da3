"""Small CPU experiments behind docs/learning.md: why hints did not help, and what fixes it.

Trains one generator on in-memory synthetic pairs with the real pieces (generator registry,
discriminator, GeneratorLoss, train_step, hint simulation), then scores the val split several
ways: eval mode with the running BatchNorm statistics, eval mode after recomputing them
(`recompute_batchnorm_statistics`), and batch statistics without dropout. One JSON line per run.

Usage: python benchmarks/learning_experiments.py --synth /tmp/synth --control hints --steps 300
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sketchcolor.data.controls.conditioning import HintConfig, build_generator_input, input_channels
from sketchcolor.data.controls.kmeans import extract_palettes
from sketchcolor.models import Discriminator, create_generator
from sketchcolor.models.batchnorm import recompute_batchnorm_statistics
from sketchcolor.runs import sample_fixed_hints
from sketchcolor.training.inputs import step_inputs
from sketchcolor.training.losses import GeneratorLoss, LossWeights
from sketchcolor.training.step import train_step


class PlainBackward:
    """What train_step needs of an Accelerator on one CPU process."""

    @staticmethod
    def backward(loss):
        loss.backward()


def load_split(folder: Path, limit: int | None = None) -> dict:
    """Kaggle-layout pairs (colour left, sketch right) -> tensors in [-1, 1] plus palettes."""
    paths = sorted(folder.glob("*.png"), key=lambda path: int(path.stem))[:limit]
    pairs = np.stack([np.asarray(Image.open(path).convert("RGB")) for path in paths])
    half = pairs.shape[2] // 2
    colour, sketch = pairs[:, :, :half], pairs[:, :, half:]
    palettes, _ = extract_palettes(list(colour), seed=0)

    def to_tensor(images):
        return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1

    return {
        "sketch": to_tensor(sketch),
        "color": to_tensor(colour),
        "palette": torch.from_numpy(palettes) * 2 - 1,
        "key": [path.stem for path in paths],
    }


def batch_at(data: dict, indices) -> dict:
    return {
        name: [value[i] for i in indices] if name == "key" else value[indices]
        for name, value in data.items()
    }


def generator_input(args, hint_config, batch, *, seed: int, fixed: bool) -> torch.Tensor:
    """Training-style input; `fixed` draws evaluate's per-sample seeded hints instead."""
    if fixed and args.control in ("hints", "mixed"):
        hints = sample_fixed_hints(batch["color"], batch["key"], hint_config, seed)
        return build_generator_input(
            args.control, batch["sketch"], palette=batch["palette"], hints=hints,
            hint_config=hint_config,
        )  # fmt: skip
    inputs, _ = step_inputs(batch, color_control=args.control, hint_config=hint_config, seed=seed)
    return inputs.generator_input


@torch.no_grad()
def mean_l1(generator, args, hint_config, data, *, mode: str, batch_size=10) -> float:
    """Mean L1 over `data`: mode eval (running stats), batch (batch stats, no dropout) or train."""
    generator.eval()
    if mode in ("batch", "train"):
        for module in generator.modules():
            if isinstance(module, torch.nn.BatchNorm2d) or (
                mode == "train" and isinstance(module, torch.nn.Dropout)
            ):
                module.train()
    saved = {
        name: buffer.clone() for name, buffer in generator.named_buffers() if "running" in name
    }
    total, count = 0.0, 0
    for start in range(0, len(data["key"]), batch_size):
        batch = batch_at(data, list(range(start, min(start + batch_size, len(data["key"])))))
        inputs = generator_input(args, hint_config, batch, seed=1234, fixed=True)
        fake = generator(inputs)
        total += (fake - batch["color"]).abs().mean(dim=(1, 2, 3)).sum().item()
        count += len(batch["key"])
    # Batch-statistics passes must not move the running statistics under test.
    for name, buffer in generator.named_buffers():
        if name in saved:
            buffer.copy_(saved[name])
    generator.train()
    return total / count


def training_batches(args, train: dict):
    """(step, batch) without end: the training pairs in a new seeded order each pass."""
    rng = np.random.default_rng(args.seed)
    step = 0
    while True:
        order = rng.permutation(len(train["key"]))
        for start in range(0, len(order) - args.batch + 1, args.batch):
            batch = batch_at(train, torch.from_numpy(order[start : start + args.batch]))
            yield step, batch
            step += 1


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    synth = Path(args.synth)
    train = load_split(synth / "data" / "train", args.train_count)
    val = load_split(synth / "data" / "val")
    hint_options = {
        "encoding": args.encoding,
        "max_labels": args.max_labels,
        "zero_fraction": args.zero_fraction,
        "grid": args.grid,
        "label_size": args.label_size,
    }
    hint_config = HintConfig.for_size(train["color"].shape[-1], **hint_options)
    generator = create_generator(
        args.model, in_channels=input_channels(args.control, hint_config), width=args.width
    )
    for module in generator.modules():
        if isinstance(module, torch.nn.BatchNorm2d) and args.bn_momentum is not None:
            module.momentum = args.bn_momentum
    discriminator = Discriminator(in_channels=6, width=args.width)
    loss = GeneratorLoss(
        LossWeights(adversarial=args.adversarial, pixel=100.0, feature=0.0, total_variation=1e-4)
    )
    optimizer_g = torch.optim.Adam(generator.parameters(), lr=args.lr, betas=(0.5, 0.999))
    optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=args.lr, betas=(0.5, 0.999))
    generator.train()
    discriminator.train()
    started = time.perf_counter()
    first_l1 = last_l1 = None
    for step, batch in training_batches(args, train):
        if step >= args.steps:
            break
        torch.manual_seed(args.seed * 100003 + step)
        inputs, _ = step_inputs(
            batch, color_control=args.control, hint_config=hint_config, seed=step
        )
        losses = train_step(
            inputs, generator=generator, discriminator=discriminator, optimizer_g=optimizer_g,
            optimizer_d=optimizer_d, generator_loss=loss, accelerator=PlainBackward(),
        )  # fmt: skip
        last_l1 = float(losses["loss_g_pixel"])
        first_l1 = first_l1 if first_l1 is not None else last_l1
    train_seconds = time.perf_counter() - started
    probe = batch_at(train, list(range(min(40, len(train["key"])))))
    result = {
        "settings": vars(args),
        "train_seconds": round(train_seconds, 1),
        "train_l1_first": round(first_l1, 4),
        "train_l1_last": round(last_l1, 4),
        "val_l1_eval": mean_l1(generator, args, hint_config, val, mode="eval"),
        "val_l1_batchstats": mean_l1(generator, args, hint_config, val, mode="batch"),
        "train_l1_eval": mean_l1(generator, args, hint_config, probe, mode="eval"),
        "train_l1_trainmode": mean_l1(generator, args, hint_config, probe, mode="train"),
    }
    before = {name: buffer.clone() for name, buffer in generator.named_buffers()}
    batches = training_batches(args, train)
    recompute_batchnorm_statistics(
        generator,
        (
            generator_input(args, hint_config, batch, seed=10_000 + step, fixed=False)
            for step, batch in itertools.islice(batches, args.recompute_batches)
        ),
    )
    result["drift"] = batchnorm_drift(generator, before)
    result["val_l1_recomputed"] = mean_l1(generator, args, hint_config, val, mode="eval")
    result["train_l1_eval_recomputed"] = mean_l1(generator, args, hint_config, probe, mode="eval")
    return {
        name: round(value, 4) if isinstance(value, float) else value
        for name, value in result.items()
    }


def batchnorm_drift(generator, before: dict) -> list[list[float]]:
    """Per BatchNorm layer: [mean shift in recomputed std units, log ratio of variances]."""
    drift = []
    for name, module in generator.named_modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            std = module.running_var.sqrt() + 1e-5
            shift = ((before[f"{name}.running_mean"] - module.running_mean).abs() / std).mean()
            ratio = (before[f"{name}.running_var"] / module.running_var).log().abs().mean()
            drift.append([round(float(shift), 2), round(float(ratio), 2)])
    return drift


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--synth", required=True)
    parser.add_argument("--model", default="1")
    parser.add_argument("--control", default="none")
    parser.add_argument("--encoding", default="overlay")
    parser.add_argument("--width", type=float, default=1 / 16)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--adversarial", type=float, default=1.0)
    parser.add_argument("--max-labels", type=int, default=None)
    parser.add_argument("--zero-fraction", type=float, default=None)
    parser.add_argument("--grid", type=int, default=None)
    parser.add_argument("--label-size", type=int, default=None)
    parser.add_argument("--bn-momentum", type=float, default=None)
    parser.add_argument("--train-count", type=int, default=None)
    parser.add_argument("--recompute-batches", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default="")
    print(json.dumps(run(parser.parse_args())), flush=True)


if __name__ == "__main__":
    main()
