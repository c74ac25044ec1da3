"""The paper's discriminator: classifies (sketch, colour) pairs as real or generated.

Six blocks Conv(3x3)-BN-ReLU-MaxPool(2)-Dropout(0.5) with widths (64, 128, 256, 512, 512, 512),
then Linear(512)-BN-ReLU-Dropout(0.5)-Linear(1) giving one logit per pair.

Usage: logits = Discriminator(in_channels=6)(torch.cat([sketch, color], dim=1))   # (B, 1)
"""

from __future__ import annotations

import torch
from torch import nn

from sketchcolor.errors import SketchcolorError
from sketchcolor.models.blocks import conv3x3, scaled_channels

PAPER_WIDTHS = (64, 128, 256, 512, 512, 512)
PAPER_HIDDEN = 512


def discriminator_block(in_channels: int, out_channels: int, dropout: float) -> nn.Sequential:
    """Conv(3x3)-BN-ReLU-MaxPool(2)-Dropout."""
    return nn.Sequential(
        conv3x3(in_channels, out_channels),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.Dropout(dropout),
    )


class Discriminator(nn.Module):
    """The paper's CNN discriminator, for any input size of at least 1x1.

    Our readings: the head has a ReLU after its BatchNorm (two stacked linear maps would
    otherwise be one); an adaptive average pool to `pooled_size` x `pooled_size` before the
    head makes it accept any input size (512 gives 8x8 after the six pools, pooled to 4x4).
    The head's BatchNorm1d needs a batch of at least 2 in training mode.
    """

    def __init__(
        self,
        *,
        in_channels: int = 6,
        width: float = 1.0,
        dropout: float = 0.5,
        pooled_size: int = 4,
    ) -> None:
        super().__init__()
        self.config = {
            "in_channels": in_channels,
            "width": width,
            "dropout": dropout,
            "pooled_size": pooled_size,
        }
        widths = [scaled_channels(channels, width) for channels in PAPER_WIDTHS]
        hidden = scaled_channels(PAPER_HIDDEN, width)
        blocks = []
        previous = in_channels
        for channels in widths:
            blocks.append(discriminator_block(previous, channels, dropout))
            previous = channels
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(pooled_size)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(previous * pooled_size * pooled_size, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        if self.training and pair.shape[0] < 2:
            raise SketchcolorError(
                "the discriminator's BatchNorm needs a batch of at least 2 in training mode"
            )
        features = self.pool(self.features(pair))  # (B, C, pooled, pooled)
        return self.head(features)  # (B, 1) logits
