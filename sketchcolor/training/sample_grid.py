"""Sample grids written during training: one row per pair, sketch | colour control | output | target.

The colour-control column shows what the generator was given besides the sketch: nothing
(white), the 9 palette colours as stripes, the hint labels over a faded sketch, or both.

Usage: save_sample_grid(run_dir / "samples" / "step-100.png", sketch=s, control=c, output=o, target=t)
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision

from sketchcolor.util.files import atomic_output


def palette_stripes(palette: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, 9, 3) colours in [-1, 1] -> (B, 3, height, width): one vertical stripe per colour."""
    colors = palette.permute(0, 2, 1).unsqueeze(2)  # (B, 3, 1, 9)
    return torch.nn.functional.interpolate(colors, size=(height, width), mode="nearest")


def hints_over_sketch(sketch: torch.Tensor, rgb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Hint labels painted on a faded sketch, so a label's place in the drawing is visible."""
    faded = sketch * 0.3 + 0.7  # (B, 3, H, W), lines turn light grey on white
    return mask * rgb + (1 - mask) * faded


def control_image(
    color_control: str, sketch: torch.Tensor, *, palette=None, hints=None
) -> torch.Tensor:
    """(B, 3, H, W) picture of the colour control in [-1, 1]."""
    batch, _, height, width = sketch.shape
    if color_control == "none":
        return torch.ones_like(sketch)
    if color_control == "palette":
        return palette_stripes(palette, height, width)
    painted = hints_over_sketch(sketch, hints.rgb, hints.mask)
    if color_control == "hints":
        return painted
    # mixed: hints above, the palette as a band along the bottom quarter
    band = height // 4
    stripes = palette_stripes(palette, band, width)
    return torch.cat([painted[:, :, : height - band], stripes], dim=2)


def save_sample_grid(
    path: Path,
    *,
    sketch: torch.Tensor,
    control: torch.Tensor,
    output: torch.Tensor,
    target: torch.Tensor,
) -> Path:
    """Write the 4-column grid as PNG; every input is (B, 3, H, W) in [-1, 1]."""
    columns = torch.stack([sketch, control, output, target], dim=1)  # (B, 4, 3, H, W)
    tiles = columns.flatten(0, 1).float().cpu().clamp(-1, 1) * 0.5 + 0.5  # (4B, 3, H, W) in [0, 1]
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as temporary:  # a viewer never sees half a grid
        torchvision.utils.save_image(tiles, temporary, nrow=4, padding=2, pad_value=1.0)
    return path
