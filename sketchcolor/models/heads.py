"""What a generator's last layer predicts, and how that becomes the (B, 3, H, W) picture.

- RGB (the paper's): 3 channels through tanh, trained by the pixel loss.
- Colour classes (Zhang et al. 2016): one logit per colour of a codebook drawn from the
  training set, trained by a class-rebalanced cross-entropy (training/losses.py) and decoded
  by the annealed mean (softmax at a temperature, then the expected colour). An L1-trained
  network paints an unsure region the median of its possible colours, a brown no fill has; a
  distribution keeps the possible colours apart and the decoding picks among them.
- Label copy: one more channel, a gate g in (0, 1) per pixel, and where the input carries a
  spread label colour the picture becomes g * that colour + (1 - g) * the predicted colour. A U-Net
  blurs a colour it has to carry through its bottleneck; the gate lets the network say where a
  label's colour holds (its region) and pass it through exactly.

Usage: generator.set_head(HeadConfig(classes=64, copy_channels=(3, 4, 5, 6)))
       generator.head.codebook.copy_(codebook)   # (64, 3) in [-1, 1]
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

DECODE_TEMPERATURE = 0.02
"""The annealed mean's temperature: near the mode. Zhang et al. take 0.38 for photographs,
where a blend reads as a muted colour; on line art it paints a region unsure between fills a
blend none has: at 0 labels the network alone scored 0.076 at 0.38, 0.201 at 0.1 and 0.237
at 0.02 on OpenMoji val (docs/learning.md)."""


@dataclass(frozen=True, kw_only=True)
class HeadConfig:
    """The output head's settings, as a generator's config.json keeps them."""

    classes: int = 0
    """How many colours the codebook holds (the codebook itself is a buffer of the weights,
    set by training from its data: data/controls/color_classes.py); 0: the paper's RGB."""
    temperature: float = DECODE_TEMPERATURE
    """The annealed mean's temperature (colour classes only)."""
    copy_channels: tuple[int, ...] = ()
    """The 4 input channels holding the spread label colours (3) and their mask (1); empty:
    no copy gate."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "copy_channels", tuple(int(c) for c in self.copy_channels))
        if self.copy_channels and len(self.copy_channels) != 4:
            raise ValueError(
                f"copy_channels names 4 channels (RGB, mask), got {self.copy_channels}"
            )
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")

    @property
    def classifies(self) -> bool:
        return self.classes > 0

    @property
    def channels(self) -> int:
        """How many channels the generator's last layer makes for this head."""
        return (self.classes or 3) + (1 if self.copy_channels else 0)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict | None) -> HeadConfig:
        return cls(**(values or {}))


class OutputHead(nn.Module):
    """The last layer's raw channels (and the generator's input, for the copy gate) -> RGB."""

    def __init__(self, config: HeadConfig | None = None) -> None:
        super().__init__()
        self.config = config or HeadConfig()
        if self.config.classifies:  # (K, 3) RGB in [-1, 1], saved with the weights
            self.register_buffer("codebook", torch.zeros(self.config.classes, 3))

    def forward(self, raw: torch.Tensor, generator_input: torch.Tensor, *,
                with_logits: bool = False):  # fmt: skip
        """raw: (B, channels, H, W); generator_input: (B, C, H, W). Returns the picture
        (B, 3, H, W) in [-1, 1], or with `with_logits` (picture, logits or None). The picture
        returned with logits carries no gradient to them: the cross-entropy alone trains the
        classes, the pixel loss only the copy gate (an L1 on the decoded mean would pull the
        colours back to the median)."""
        count = self.config.classes or 3
        values = raw[:, :count]
        logits = values if self.config.classifies else None
        if logits is None:
            picture = torch.tanh(values)
        elif with_logits:  # training: the picture is only logged and gated, no gradient
            picture = mode_colors(logits.detach(), self.codebook)
        else:
            picture = decode_colors(logits, self.codebook, self.config.temperature)
        if self.config.copy_channels:
            # Only where a label's colour lies (the mask) can the gate open: with no labels the
            # picture is the network's own.
            labels = generator_input[:, list(self.config.copy_channels)].to(picture)
            gate = torch.sigmoid(raw[:, count : count + 1]).to(picture) * labels[:, 3:]
            picture = torch.lerp(picture, labels[:, :3], gate)
        return (picture, logits) if with_logits else picture


def decode_colors(logits: torch.Tensor, codebook: torch.Tensor, temperature: float) -> torch.Tensor:
    """The annealed mean: (B, K, H, W) logits, (K, 3) codebook -> (B, 3, H, W) colours."""
    probabilities = torch.softmax(logits.float() / temperature, dim=1)
    # A 1x1 convolution is the weighted sum over K, and several times faster on a CPU than
    # einsum's permute-and-matmul.
    return torch.nn.functional.conv2d(probabilities, codebook.float().T[:, :, None, None])


def mode_colors(logits: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Each pixel's most probable codebook colour: (B, K, H, W), (K, 3) -> (B, 3, H, W)."""
    return codebook.float()[logits.argmax(1)].permute(0, 3, 1, 2)
