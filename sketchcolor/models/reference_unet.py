"""Model R (ours, not the paper's): Model 1's U-Net that reads colours from a reference picture.

The reference control's input ends with a coloured picture of the same character that is not
aligned with the sketch (data/controls/reference.py). A second encoder, the U-Net's own first
levels, reads it; at chosen encoder levels (1/8 and 1/16 of the size by default), each
sketch position attends to every reference position (scaled dot-product cross-attention,
queries from the sketch's features, keys from the reference's, both with their coordinates)
and reads back the reference's features and its colours pooled to that level. What it read
joins the skip of that level, so the decoder paints with the reference's colours where the
sketch matches it. Attention is written as two batched matmuls and a softmax, which every
ONNX runtime runs; its cost is fixed by the attended levels' sizes (32x32 and 16x16 at 256 px).

Usage: generator = create_generator("R", in_channels=10)   # 7 hint channels + 3 reference
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sketchcolor.models.blocks import scaled_channels, upsample3x3
from sketchcolor.models.registry import Generator, register_generator
from sketchcolor.models.unet import (
    PAPER_DECODER_WIDTHS,
    PAPER_ENCODER_WIDTHS,
    decoder_block,
    encoder_block,
)

REFERENCE_CHANNELS = 3
"""The reference's RGB: the input's last channels."""
MIN_KEY_CHANNELS = 16
"""Queries and keys are at least this wide, even at 1/16 width (matching needs room)."""


def coordinates(like: torch.Tensor) -> torch.Tensor:
    """(B, 2, h, w) x and y in [-1, 1] at `like`'s size: where a feature sits."""
    batch, _, height, width = like.shape
    # The corners' coordinates, resized: linspace along both axes, and a Resize of a dynamic
    # size in ONNX (a linspace of a dynamic length does not export).
    corners = torch.tensor([[[-1.0, 1.0], [-1.0, 1.0]], [[-1.0, -1.0], [1.0, 1.0]]])
    grid = F.interpolate(corners[None].to(like), size=(height, width), mode="bilinear",
                         align_corners=True)  # fmt: skip
    return grid.expand(batch, -1, -1, -1)


class ReferenceAttention(nn.Module):
    """Cross-attention from sketch features to reference features at one level: -> (B,
    channels + 3, h, w), the reference's features and colours each sketch position reads."""

    def __init__(self, channels: int, level: int) -> None:
        super().__init__()
        self.pool = 2 ** (level + 1)  # the level's size is the input's over this
        keys = max(channels, MIN_KEY_CHANNELS)
        self.query = nn.Conv2d(channels + 2, keys, 1)
        self.key = nn.Conv2d(channels + 2, keys, 1)
        self.scale = 1 / math.sqrt(keys)

    def forward(self, sketch_features, reference_features, reference_rgb) -> torch.Tensor:
        batch, _, height, width = sketch_features.shape
        where = coordinates(sketch_features)
        queries = self.query(torch.cat([sketch_features, where], 1)).flatten(2)  # (B, K, N)
        keys = self.key(torch.cat([reference_features, where], 1)).flatten(2)  # (B, K, M)
        colours = F.avg_pool2d(reference_rgb, self.pool)  # a fixed kernel: exports cleanly
        values = torch.cat([reference_features, colours], 1).flatten(2)  # (B, V, M)
        weights = torch.softmax(queries.transpose(1, 2) @ keys * self.scale, dim=-1)  # (B, N, M)
        read = values @ weights.transpose(1, 2)  # (B, V, N)
        return read.reshape(batch, -1, height, width)


class ReferenceUNet(Generator):
    """Model 1's U-Net (BatchNorm, decoder dropout, skip concatenation) with a reference
    encoder and cross-attention into the skips of encoder levels `attention_level` and the
    one below it (levels count from 0, each halving the size: 2 and 3 are 1/8 and 1/16)."""

    def __init__(
        self,
        *,
        in_channels: int = 6,
        width: float = 1.0,
        dropout: float = 0.5,
        upsampling: str = "transposed",
        attention_level: int = 2,
    ) -> None:
        super().__init__()
        encoder = [scaled_channels(channels, width) for channels in PAPER_ENCODER_WIDTHS]
        decoder = [scaled_channels(channels, width) for channels in PAPER_DECODER_WIDTHS]
        self.depth = len(encoder)
        if in_channels <= REFERENCE_CHANNELS:
            raise ValueError(f"in_channels must exceed the reference's {REFERENCE_CHANNELS}")
        if not 0 <= attention_level < self.depth - 2:
            raise ValueError(
                f"attention level must be in 0..{self.depth - 3}, got {attention_level}"
            )
        self.attention_levels = (attention_level, attention_level + 1)
        self.config = {"in_channels": in_channels, "width": width, "dropout": dropout,
                       "upsampling": upsampling, "attention_level": attention_level}  # fmt: skip
        self.encoder = self._encoder(in_channels - REFERENCE_CHANNELS, encoder)
        self.reference_encoder = self._encoder(REFERENCE_CHANNELS, encoder[: attention_level + 2])
        self.attention = nn.ModuleDict({str(level): ReferenceAttention(encoder[level], level)
                                        for level in self.attention_levels})  # fmt: skip
        # A skip carries the encoder's features and, at an attended level, what it read.
        skips = [channels + (channels + REFERENCE_CHANNELS) * (level in self.attention_levels)
                 for level, channels in enumerate(encoder)]  # fmt: skip
        self.decoder = nn.ModuleList()
        previous = encoder[-1]
        for channels, skip_channels in zip(decoder, skips[-2::-1], strict=True):
            self.decoder.append(
                decoder_block(previous, channels, dropout=dropout, upsampling=upsampling)
            )
            previous = channels + skip_channels
        self.output = upsample3x3(previous, 3, bias=True, upsampling=upsampling)

    @staticmethod
    def _encoder(in_channels: int, widths: list[int]) -> nn.ModuleList:
        blocks, previous = nn.ModuleList(), in_channels
        for level, channels in enumerate(widths):
            innermost = level == len(PAPER_ENCODER_WIDTHS) - 1
            blocks.append(encoder_block(previous, channels, norm=not innermost))
            previous = channels
        return blocks

    def decode_level(self, block: nn.Module, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return torch.cat([block(x), skip], dim=1)

    def forward(self, x: torch.Tensor, with_logits: bool = False):
        self.check_size(x.shape[-2], x.shape[-1])
        generator_input = x
        x, reference = x[:, :-REFERENCE_CHANNELS], x[:, -REFERENCE_CHANNELS:]
        reference_features, r = [], reference
        for block in self.reference_encoder:
            r = block(r)
            reference_features.append(r)
        features = []
        for level, block in enumerate(self.encoder):
            x = block(x)
            skip = x
            if level in self.attention_levels:
                read = self.attention[str(level)](x, reference_features[level], reference)
                skip = torch.cat([x, read], dim=1)
            features.append(skip)
        for block, skip in zip(self.decoder, features[-2::-1], strict=True):
            x = self.decode_level(block, x, skip)
        return self.head(self.output(x), generator_input, with_logits=with_logits)


@register_generator(
    "R", aliases=("reference-unet",),
    description="Model 1 + a reference encoder and cross-attention (the reference control)",
)  # fmt: skip
def model_r(
    *,
    in_channels: int = 6,
    width: float = 1.0,
    dropout: float = 0.5,
    upsampling: str = "transposed",
    attention_level: int = 2,
) -> ReferenceUNet:
    """Model R: Model 1's U-Net reading colours from a reference picture (colour control
    "reference"; the input's last 3 channels), by cross-attention at encoder levels 2 and 3."""
    return ReferenceUNet(in_channels=in_channels, width=width, dropout=dropout,
                         upsampling=upsampling, attention_level=attention_level)  # fmt: skip
