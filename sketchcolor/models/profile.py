"""Measure a model's size and cost: parameter count and forward GFLOPs at a given image size.

FLOPs come from `torch.utils.flop_counter.FlopCounterMode` (2 FLOPs per multiply-add, counted
for convolutions and matrix products) on a forward pass of one sample. The models are built
on the "meta" device, so measuring the full-width models at 512x512 takes no memory or time.
A generator that does not accept the size (the 9-level Models 2.2 and 3 need multiples of 512)
still gets its row, with its parameter count, `gflops=None` and the sizes that work in `note`.

Usage: rows = profile_models(size=512)   # one ModelProfile per generator + the discriminator
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from sketchcolor.config import ModelsCommandConfig
from sketchcolor.models.discriminator import Discriminator
from sketchcolor.models.registry import (
    create_generator,
    generator_aliases,
    generator_description,
    generator_options,
    list_generators,
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelProfile:
    """One row of the model table."""

    name: str
    """Registered name ("1", "2.1", ...) or "discriminator"."""
    aliases: tuple[str, ...]
    """Other names the registry accepts."""
    description: str
    """One line saying what the model is."""
    in_channels: int
    """Input channels used for the measurement."""
    size: int
    """Square input size used for the measurement."""
    parameters: int
    """Trainable parameter count."""
    gflops: float | None
    """Forward GFLOPs for one sample (2 FLOPs per multiply-add); None when `size` is not accepted."""
    available: bool = True
    """False when the model does not accept `size` (then `gflops` is None)."""
    note: str = ""
    """Why the model is not available at `size`, naming the sizes that work; empty otherwise."""


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


def forward_gflops(model: nn.Module, sample: torch.Tensor) -> float:
    """GFLOPs of one forward pass of `model` on `sample` (eval mode, no autograd)."""
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(sample)
    return counter.get_total_flops() / 1e9


def measure(
    build: Callable[[], nn.Module], in_channels: int, size: int
) -> tuple[int, float | None, str]:
    """(parameters, GFLOPs, note) of the model `build()` makes, built and run on the meta device.

    A generator that rejects `size` gives GFLOPs None and a note naming the sizes that work
    (the parameter count does not depend on the size).
    """
    with torch.device("meta"):
        model = build()
        sample = torch.empty(1, in_channels, size, size)  # (1, C, size, size)
    multiple = getattr(model, "size_multiple", 1)
    if size % multiple:
        examples = ", ".join(str(multiple * factor) for factor in (1, 2, 3))
        note = f"not available at {size}: needs a multiple of {multiple} ({examples}, ...)"
        return count_parameters(model), None, note
    return count_parameters(model), forward_gflops(model, sample), ""


def profile_generator(
    name: str, *, size: int = 512, in_channels: int = 3, width: float = 1.0
) -> ModelProfile:
    """Parameter count and forward GFLOPs of the generator `name`."""
    parameters, gflops, note = measure(
        lambda: create_generator(name, in_channels=in_channels, width=width), in_channels, size
    )
    return ModelProfile(
        name=name,
        aliases=tuple(generator_aliases(name)),
        description=generator_description(name),
        in_channels=in_channels,
        size=size,
        parameters=parameters,
        gflops=gflops,
        available=gflops is not None,
        note=note,
    )


def profile_discriminator(
    *, size: int = 512, in_channels: int = 6, width: float = 1.0
) -> ModelProfile:
    """Parameter count and forward GFLOPs of the discriminator."""
    parameters, gflops, _ = measure(
        lambda: Discriminator(in_channels=in_channels, width=width), in_channels, size
    )
    return ModelProfile(
        name="discriminator",
        aliases=(),
        description="6 x Conv-BN-ReLU-MaxPool-Dropout, Linear head",
        in_channels=in_channels,
        size=size,
        parameters=parameters,
        gflops=gflops,
    )


def profile_models(*, size: int = 512, width: float = 1.0) -> list[ModelProfile]:
    """One profile per registered generator (its default input: the sketch alone, Model R's
    with a reference) and one for the discriminator.

    Every generator gets a row; one that rejects `size` is marked `available=False`.
    """
    rows = [profile_generator(name, size=size, width=width,
                              in_channels=generator_options(name)["in_channels"])
            for name in list_generators()]  # fmt: skip
    rows.append(profile_discriminator(size=size, width=width))
    return rows


def markdown_table(rows: list[ModelProfile]) -> str:
    """A markdown table of model profiles, then a note for each size a model refuses."""
    lines = [
        "| model | aliases | in | params (M) | GFLOPs | description |",
        "|---|---|---|---:|---:|---|",
    ]
    notes = []
    for row in rows:
        aliases = ", ".join(row.aliases) or "-"
        gflops = f"{row.gflops:.1f}" if row.available else "n/a"
        if not row.available:
            notes.append(f"{row.name}: {row.note}")
        lines.append(
            f"| {row.name} | {aliases} | {row.in_channels} | {row.parameters / 1e6:.2f} "
            f"| {gflops} | {row.description} |"
        )
    if notes:
        lines.append("")
        lines.extend(notes)
    return "\n".join(lines)


def models_report(config: ModelsCommandConfig) -> str:
    """`sketchcolor models`: every profile at config.size and config.width, as JSON or as a
    markdown table under a line saying what is counted."""
    import json

    rows = profile_models(size=config.size, width=config.width)
    if config.json:
        return json.dumps([dataclasses.asdict(row) for row in rows], indent=2)
    header = f"forward cost of one {config.size}x{config.size} image (2 FLOPs per multiply-add)"
    return f"{header}\n{markdown_table(rows)}"
