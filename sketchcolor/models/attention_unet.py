"""Models 2.1, 2.2 and 3 of the paper: residual Attention U-Nets with GroupNorm.

Encoder block: a residual block with stride 2 (Model 3: its shortcut passes through an
attention gate). Decoder block: upsample (ConvT-GN-LReLU), gate the skip with the upsampled
features (attention gate), concatenate, residual block. A final ConvT to 3 channels and tanh.

Usage: generator = create_generator("2.2", in_channels=30)   # 512x512 -> 1x1 at the bottleneck
"""

from __future__ import annotations

import torch
from torch import nn

from sketchcolor.models.blocks import (
    AttentionGate,
    ResidualBlock,
    UpsampleBlock,
    scaled_channels,
    upsample3x3,
)
from sketchcolor.models.registry import Generator, register_generator

WIDTHS_8 = (64, 128, 256, 512, 512, 512, 512, 512)
WIDTHS_9 = (64, 128, 256, 512, 512, 512, 512, 512, 512)
"""Encoder widths; each decoder mirrors its encoder without the bottleneck and ends in 3."""


class DecoderBlock(nn.Module):
    """Upsample, attention-gate the skip with the upsampled features, concatenate, residual."""

    def __init__(
        self, in_channels: int, skip_channels: int, out_channels: int, upsampling: str
    ) -> None:
        super().__init__()
        self.upsample = UpsampleBlock(in_channels, out_channels, upsampling)
        self.gate = AttentionGate(skip_channels, out_channels)
        self.residual = ResidualBlock(out_channels + skip_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        upsampled = self.upsample(x)  # (B, out, 2h, 2w)
        gated_skip = self.gate(skip, upsampled)  # (B, skip, 2h, 2w)
        return self.residual(torch.cat([upsampled, gated_skip], dim=1))  # (B, out, 2h, 2w)


class AttentionUNetGenerator(Generator):
    """Residual Attention U-Net (Models 2.1, 2.2, 3; see the module docstring)."""

    def __init__(
        self,
        *,
        in_channels: int = 3,
        width: float = 1.0,
        encoder_widths: tuple[int, ...] = WIDTHS_8,
        encoder_attention: bool = False,
        upsampling: str = "transposed",
    ) -> None:
        super().__init__()
        self.depth = len(encoder_widths)
        self.config = {
            "in_channels": in_channels,
            "width": width,
            "encoder_widths": list(encoder_widths),
            "encoder_attention": encoder_attention,
            "upsampling": upsampling,
        }
        encoder = [scaled_channels(channels, width) for channels in encoder_widths]

        self.encoder = nn.ModuleList()
        previous = in_channels
        for channels in encoder:
            self.encoder.append(
                ResidualBlock(previous, channels, stride=2, attention=encoder_attention)
            )
            previous = channels

        # The decoder mirrors the encoder: level i returns to the size of encoder level
        # depth-2-i and takes its width (512, ..., 128, 64 for the paper's widths).
        skips = encoder[-2::-1]
        self.decoder = nn.ModuleList()
        for skip_channels in skips:
            self.decoder.append(DecoderBlock(previous, skip_channels, skip_channels, upsampling))
            previous = skip_channels
        self.output = upsample3x3(previous, 3, bias=True, upsampling=upsampling)

    def decode_level(self, block: nn.Module, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return block(x, skip)  # (B, skip channels, 2h, 2w)


@register_generator(
    "2.1", aliases=("res-attention-unet",), description="residual Attention U-Net 8+8, GroupNorm"
)
def model_2_1(
    *, in_channels: int = 3, width: float = 1.0, upsampling: str = "transposed"
) -> AttentionUNetGenerator:
    """Model 2.1: residual encoder, residual + attention-gate decoder, GroupNorm, 8 + 8 blocks."""
    return AttentionUNetGenerator(
        in_channels=in_channels, width=width, encoder_widths=WIDTHS_8, upsampling=upsampling
    )


@register_generator(
    "2.2",
    aliases=("res-attention-unet-deep",),
    description="residual Attention U-Net 9+9, GroupNorm",
)
def model_2_2(
    *, in_channels: int = 3, width: float = 1.0, upsampling: str = "transposed"
) -> AttentionUNetGenerator:
    """Model 2.2: Model 2.1 with 9 + 9 blocks (512x512 reaches 1x1 at the bottleneck)."""
    return AttentionUNetGenerator(
        in_channels=in_channels, width=width, encoder_widths=WIDTHS_9, upsampling=upsampling
    )


@register_generator(
    "3",
    aliases=("attention-everywhere",),
    description="Model 2.2 with attention gates in the encoder too",
)
def model_3(
    *, in_channels: int = 3, width: float = 1.0, upsampling: str = "transposed"
) -> AttentionUNetGenerator:
    """Model 3 (the paper's next step): Model 2.2 with attention gates in the encoder too."""
    return AttentionUNetGenerator(
        in_channels=in_channels,
        width=width,
        encoder_widths=WIDTHS_9,
        encoder_attention=True,
        upsampling=upsampling,
    )
