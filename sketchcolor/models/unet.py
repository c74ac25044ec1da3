"""Model 1 of the paper: a pix2pix / Auto-painter U-Net with 8 encoder and 8 decoder blocks.

Encoder block: Conv(3x3, stride 2)-BN-LReLU. Decoder block: ConvT(3x3, stride 2)-BN-DR-LReLU;
the decoder output of each level is concatenated with the encoder output of the same size.

Usage: generator = create_generator("1", in_channels=3)   # 512x512 -> 2x2 at the bottleneck
"""

from __future__ import annotations

import torch
from torch import nn

from sketchcolor.models.blocks import LEAKY_SLOPE, conv3x3, scaled_channels, upsample3x3
from sketchcolor.models.registry import Generator, register_generator

PAPER_ENCODER_WIDTHS = (64, 128, 256, 512, 512, 512, 512, 512)
PAPER_DECODER_WIDTHS = (512, 512, 512, 512, 256, 128, 64)
"""Decoder widths before the final 3-channel block (the paper lists (512, ..., 64, 3))."""


def encoder_block(in_channels: int, out_channels: int, *, norm: bool) -> nn.Sequential:
    """Conv(3x3, stride 2)-BN-LReLU; halves the size."""
    layers: list[nn.Module] = [conv3x3(in_channels, out_channels, stride=2, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.LeakyReLU(LEAKY_SLOPE))
    return nn.Sequential(*layers)


def decoder_block(
    in_channels: int, out_channels: int, *, dropout: float, upsampling: str = "transposed"
) -> nn.Sequential:
    """ConvT(3x3, stride 2)-BN-DR-LReLU (or resize-conv in place of ConvT); doubles the size."""
    return nn.Sequential(
        upsample3x3(in_channels, out_channels, upsampling=upsampling),
        nn.BatchNorm2d(out_channels),
        nn.Dropout(dropout),
        nn.LeakyReLU(LEAKY_SLOPE),
    )


class UNetGenerator(Generator):
    """U-Net with skip concatenation, BatchNorm and decoder dropout (the paper's Model 1).

    Our readings: stride 2 everywhere; the last decoder block is ConvT to 3 channels and tanh
    (no BN, no dropout); as in pix2pix, the innermost encoder block has no BatchNorm, so a
    batch of one whose bottleneck is 1x1 still trains.
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        width: float = 1.0,
        encoder_widths: tuple[int, ...] = PAPER_ENCODER_WIDTHS,
        decoder_widths: tuple[int, ...] = PAPER_DECODER_WIDTHS,
        dropout: float = 0.5,
        upsampling: str = "transposed",
    ) -> None:
        super().__init__()
        if len(decoder_widths) != len(encoder_widths) - 1:
            raise ValueError("need one decoder width fewer than encoder widths (the last is 3)")
        self.depth = len(encoder_widths)
        self.config = {"in_channels": in_channels, "width": width, "dropout": dropout,
                       "upsampling": upsampling}  # fmt: skip
        encoder = [scaled_channels(channels, width) for channels in encoder_widths]
        decoder = [scaled_channels(channels, width) for channels in decoder_widths]

        self.encoder = nn.ModuleList()
        previous = in_channels
        for level, channels in enumerate(encoder):
            innermost = level == len(encoder) - 1
            self.encoder.append(encoder_block(previous, channels, norm=not innermost))
            previous = channels

        # Decoder level i doubles the size and meets encoder level depth-2-i of the same size.
        skips = encoder[-2::-1]
        self.decoder = nn.ModuleList()
        for channels, skip_channels in zip(decoder, skips, strict=True):
            self.decoder.append(
                decoder_block(previous, channels, dropout=dropout, upsampling=upsampling)
            )
            previous = channels + skip_channels
        self.output = upsample3x3(previous, 3, bias=True, upsampling=upsampling)

    def decode_level(self, block: nn.Module, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return torch.cat([block(x), skip], dim=1)  # (B, decoder + skip channels, 2h, 2w)


@register_generator("1", aliases=("unet",), description="U-Net 8+8, BatchNorm, decoder dropout")
def model_1(
    *,
    in_channels: int = 3,
    width: float = 1.0,
    dropout: float = 0.5,
    upsampling: str = "transposed",
) -> UNetGenerator:
    """Model 1: U-Net, 8 + 8 blocks, BatchNorm, LeakyReLU, dropout 0.5 in the decoder."""
    return UNetGenerator(
        in_channels=in_channels, width=width, dropout=dropout, upsampling=upsampling
    )
