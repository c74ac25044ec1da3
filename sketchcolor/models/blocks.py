"""Building blocks of the generators: channel scaling, norms, conv blocks, the residual block
(paper Fig. 4) and the attention gate of Attention U-Net (paper Fig. 6, Oktay et al. 2018).

Usage: block = ResidualBlock(64, 128, stride=2); gated_skip = AttentionGate(128, 128)(skip, gate)
"""

from __future__ import annotations

import torch
from torch import nn

LEAKY_SLOPE = 0.2
"""Negative slope of every LeakyReLU (pix2pix's value; the paper does not give one)."""


def scaled_channels(channels: int, width: float, *, floor: int = 4, multiple: int = 4) -> int:
    """`channels * width`, rounded to a multiple of `multiple` and at least `floor`.

    Rounding to a multiple of 4 keeps GroupNorm's groups whole at every width multiplier.
    """
    return max(floor, multiple * round(channels * width / multiple))


def group_count(channels: int, *, max_groups: int = 32, min_group_size: int = 4) -> int:
    """The most GroupNorm groups (at most `max_groups`, Wu & He's default) that divide `channels`
    while keeping at least `min_group_size` channels per group.

    A group of one channel at the 1x1 bottleneck of Models 2.2 and 3 would normalise a single
    value to zero and block every gradient, hence the minimum group size.
    """
    for groups in range(min(max_groups, channels // min_group_size), 0, -1):
        if channels % groups == 0:
            return groups
    return 1


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with `group_count(channels)` groups."""
    return nn.GroupNorm(group_count(channels), channels)


def conv3x3(
    in_channels: int, out_channels: int, *, stride: int = 1, bias: bool = False
) -> nn.Conv2d:
    """3x3 convolution that keeps the size (stride 1) or halves it (stride 2, even sizes)."""
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=bias)


def conv_transpose3x3(
    in_channels: int, out_channels: int, *, bias: bool = False
) -> nn.ConvTranspose2d:
    """3x3 transposed convolution that doubles the size exactly."""
    return nn.ConvTranspose2d(
        in_channels, out_channels, 3, stride=2, padding=1, output_padding=1, bias=bias
    )


def upsample3x3(
    in_channels: int, out_channels: int, *, bias: bool = False, upsampling: str = "transposed"
) -> nn.Module:
    """Double the size: the paper's 3x3 transposed convolution, or ("resize") nearest-neighbour
    resize then a 3x3 convolution, which cannot leave the checkerboard that a stride-2
    transposed convolution's uneven overlap does (Odena et al. 2016)."""
    if upsampling == "transposed":
        return conv_transpose3x3(in_channels, out_channels, bias=bias)
    if upsampling == "resize":
        return nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            conv3x3(in_channels, out_channels, bias=bias),
        )
    raise ValueError(f"unknown upsampling {upsampling!r}; choose transposed or resize")


class ResidualBlock(nn.Module):
    """Conv(3x3)-GN-LReLU-Conv(3x3)-GN plus a shortcut, summed, then LReLU (our reading of Fig. 4).

    The shortcut is a 1x1 projection when the shape changes. With `attention=True` (Model 3's
    encoder) the shortcut is multiplied by an attention gate driven by the residual branch, so
    the block learns where to pass its input through.
    """

    def __init__(
        self, in_channels: int, out_channels: int, *, stride: int = 1, attention: bool = False
    ) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            conv3x3(in_channels, out_channels, stride=stride),
            group_norm(out_channels),
            nn.LeakyReLU(LEAKY_SLOPE),
            conv3x3(out_channels, out_channels),
            group_norm(out_channels),
        )
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                group_norm(out_channels),
            )
        else:
            self.shortcut = nn.Identity()
        self.gate = AttentionGate(out_channels, out_channels) if attention else None
        self.activation = nn.LeakyReLU(LEAKY_SLOPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.branch(x)  # (B, out, H/stride, W/stride)
        shortcut = self.shortcut(x)  # (B, out, H/stride, W/stride)
        if self.gate is not None:
            shortcut = self.gate(shortcut, residual)
        return self.activation(residual + shortcut)


class AttentionGate(nn.Module):
    """Attention gate of Attention U-Net: scales the skip features by a coefficient in (0, 1)
    per pixel, computed from the skip and a gating signal of the same size.

    alpha = sigmoid(psi(relu(W_x skip + W_g gate))); output = skip * alpha.
    """

    def __init__(
        self, skip_channels: int, gate_channels: int, inner_channels: int | None = None
    ) -> None:
        super().__init__()
        inner_channels = inner_channels or max(1, skip_channels // 2)
        self.skip_projection = nn.Conv2d(skip_channels, inner_channels, 1, bias=False)
        self.gate_projection = nn.Conv2d(gate_channels, inner_channels, 1)
        self.coefficient = nn.Conv2d(inner_channels, 1, 1)

    def forward(self, skip: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        joint = torch.relu(self.skip_projection(skip) + self.gate_projection(gate))  # (B, I, H, W)
        alpha = torch.sigmoid(self.coefficient(joint))  # (B, 1, H, W)
        return skip * alpha


class UpsampleBlock(nn.Module):
    """ConvT(3x3, stride 2)-GN-LReLU (or resize-conv): opens a Model 2/3 decoder block."""

    def __init__(self, in_channels: int, out_channels: int, upsampling: str = "transposed") -> None:
        super().__init__()
        self.layers = nn.Sequential(
            upsample3x3(in_channels, out_channels, upsampling=upsampling),
            group_norm(out_channels),
            nn.LeakyReLU(LEAKY_SLOPE),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
