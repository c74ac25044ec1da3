"""The generator contract (`Generator`) and the name registry that builds generators by name.

Each variant is a small function decorated with `@register_generator("2.1", aliases=(...))`
that sets the constructor arguments of a generator class; `create_generator` resolves a
paper name or alias, builds it and records its arguments in `generator.config`.

Usage: generator = create_generator("2.1", in_channels=30, width=1 / 16)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from sketchcolor.errors import SketchcolorError
from sketchcolor.models.blocks import upsample3x3
from sketchcolor.models.heads import HeadConfig, OutputHead

_FACTORIES: dict[str, Callable[..., Generator]] = {}
_ALIASES: dict[str, str] = {}
_DESCRIPTIONS: dict[str, str] = {}


class Generator(nn.Module):
    """Base of every generator: (B, in_channels, H, W) -> (B, 3, H, W) in [-1, 1].

    Every generator is a U-Net: subclasses set `depth` (how many times the encoder halves the
    size), `config`, the modules `encoder` (`depth` blocks, each halving the size), `decoder`
    (`depth - 1` blocks, each doubling it) and `output` (to 3 channels), and say in
    `decode_level` how a decoder block meets its skip; `forward` is shared. What `output`'s
    channels mean is the `head`'s business (models/heads.py): the paper's RGB by default.
    """

    depth: int
    config: dict[str, Any]
    encoder: nn.ModuleList
    decoder: nn.ModuleList
    output: nn.Module

    def __init__(self) -> None:
        super().__init__()
        self.head = OutputHead()

    def set_head(self, config: HeadConfig) -> None:
        """Predict what `config` says (colour classes, a label copy gate): the last layer is
        rebuilt with the head's channel count, from fresh weights."""
        conv = [m for m in self.output.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
        upsampling = self.config.get("upsampling", "transposed")
        self.output = upsample3x3(conv[-1].in_channels, config.channels, bias=True,
                                  upsampling=upsampling)  # fmt: skip
        self.head = OutputHead(config)

    def decode_level(self, block: nn.Module, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """One decoder level: `x` (B, C, h, w) and the encoder output `skip` of size (2h, 2w)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, with_logits: bool = False):
        """(B, in_channels, H, W) -> (B, 3, H, W); with `with_logits`, (picture, colour
        logits or None) for the training step (OutputHead.forward)."""
        self.check_size(x.shape[-2], x.shape[-1])
        generator_input = x
        features = []
        for block in self.encoder:
            x = block(x)
            features.append(x)
        skips = features[-2::-1]  # encoder outputs from 2x the bottleneck size upwards
        for block, skip in zip(self.decoder, skips, strict=True):
            x = self.decode_level(block, x, skip)
        return self.head(self.output(x), generator_input, with_logits=with_logits)

    @property
    def size_multiple(self) -> int:
        """Height and width must be multiples of this (2 ** depth)."""
        return 2**self.depth

    def check_size(self, height: int, width: int) -> None:
        """Raise SketchcolorError unless (height, width) is a size this generator accepts."""
        multiple = self.size_multiple
        if height % multiple == 0 and width % multiple == 0 and height > 0 and width > 0:
            return
        name = self.config.get("model", type(self).__name__)
        examples = ", ".join(str(multiple * factor) for factor in (1, 2, 3, 4))
        raise SketchcolorError(
            f"generator {name!r} (depth {self.depth}) needs height and width divisible by "
            f"{multiple} (e.g. {examples}); got {height}x{width}"
        )


def register_generator(
    name: str, *, aliases: tuple[str, ...] = (), description: str = ""
) -> Callable[[Callable[..., Generator]], Callable[..., Generator]]:
    """Decorator registering a generator factory under `name` and its `aliases`."""

    def decorate(factory: Callable[..., Generator]) -> Callable[..., Generator]:
        for key in (name, *aliases):
            if key in _FACTORIES or key in _ALIASES:
                raise ValueError(f"generator name {key!r} is registered twice")
        _FACTORIES[name] = factory
        _DESCRIPTIONS[name] = description or (inspect.getdoc(factory) or "").split("\n")[0]
        for alias in aliases:
            _ALIASES[alias] = name
        return factory

    return decorate


def list_generators() -> list[str]:
    """The registered generator names (the paper's names), sorted: ["1", "2.1", "2.2", "3"]."""
    return sorted(_FACTORIES)


def generator_aliases(name: str) -> list[str]:
    """The aliases of the registered generator `name`."""
    return [alias for alias, target in _ALIASES.items() if target == canonical_name(name)]


def generator_description(name: str) -> str:
    """One line describing the registered generator `name`."""
    return _DESCRIPTIONS[canonical_name(name)]


def canonical_name(name: str) -> str:
    """The registered name for `name` or one of its aliases; SketchcolorError when unknown."""
    name = str(name)
    if name in _FACTORIES:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    valid = ", ".join(
        f"{key} ({', '.join(generator_aliases(key))})" if generator_aliases(key) else key
        for key in list_generators()
    )
    raise SketchcolorError(f"unknown generator {name!r}; valid names (aliases): {valid}")


def generator_options(name: str) -> dict[str, Any]:
    """The keyword arguments the generator `name` accepts, with their defaults."""
    signature = inspect.signature(_FACTORIES[canonical_name(name)])
    return {key: parameter.default for key, parameter in signature.parameters.items()}


def create_generator(name: str, head: dict | None = None, **options: Any) -> Generator:
    """Build the generator `name` (paper name or alias) with `options` (in_channels, width, ...)
    and an output head (a HeadConfig as a dict; None: the paper's RGB).

    `generator.config` records the registered name and every option, defaults included (and
    the head where it is not the default), so that rebuilding from it (see
    `saving.load_generator`) is exact.
    """
    canonical = canonical_name(name)
    factory = _FACTORIES[canonical]
    try:
        bound = inspect.signature(factory).bind(**options)
    except TypeError as error:
        accepted = ", ".join(generator_options(canonical))
        raise SketchcolorError(
            f"generator {canonical!r}: {error}; accepted options: {accepted}"
        ) from None
    bound.apply_defaults()
    generator = factory(**bound.arguments)
    generator.config = {"model": canonical, **bound.arguments}
    head_config = HeadConfig.from_dict(head)
    if head_config != HeadConfig():
        generator.set_head(head_config)
        generator.config["head"] = head_config.to_dict()
    return generator
