"""Model R: Model 1's U-Net that reads colours from a reference picture by cross-attention."""

from __future__ import annotations

import pytest
import torch

from sketchcolor.models import create_generator
from sketchcolor.models.reference_unet import coordinates
from tests.models.test_models import TEST_WIDTH, assert_every_parameter_learns


@pytest.mark.parametrize("in_channels", (6, 10))
def test_model_r_trains_every_parameter(in_channels):
    torch.manual_seed(0)
    generator = create_generator("R", in_channels=in_channels, width=TEST_WIDTH)
    x = torch.randn(2, in_channels, 256, 512)  # not square: the attention's shapes both ways
    y = generator(x)
    assert y.shape == (2, 3, 256, 512) and y.abs().max() <= 1.0
    (y * torch.randn_like(y)).sum().backward()
    assert_every_parameter_learns(generator)


def test_the_output_depends_on_the_reference_and_on_its_placement():
    torch.manual_seed(0)
    generator = create_generator("R", width=TEST_WIDTH).eval()
    sketch, reference = torch.randn(1, 3, 256, 256), torch.rand(1, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        first = generator(torch.cat([sketch, reference], 1))
        recoloured = generator(torch.cat([sketch, -reference], 1))
        moved = generator(torch.cat([sketch, reference.roll(64, dims=3)], 1))
    # Untrained, the reference moves the output little (5e-5 on average), but it does: a model
    # that ignored it would give the same output exactly.
    assert (first - recoloured).abs().max() > 1e-5
    assert (first - moved).abs().max() > 1e-5


def test_attention_levels_and_the_sizes_model_r_takes():
    generator = create_generator("R", width=TEST_WIDTH, attention_level=3)
    assert generator.attention_levels == (3, 4) and generator.size_multiple == 256
    assert generator.config["attention_level"] == 3
    with pytest.raises(ValueError, match="attention level must be in 0..5"):
        create_generator("R", attention_level=6)
    with pytest.raises(ValueError, match="in_channels must exceed"):
        create_generator("R", in_channels=3)


def test_coordinates_run_from_corner_to_corner():
    grid = coordinates(torch.zeros(2, 1, 3, 5))
    assert grid.shape == (2, 2, 3, 5)
    assert torch.allclose(grid[0, 0, 0], torch.linspace(-1, 1, 5))
    assert torch.allclose(grid[0, 1, :, 0], torch.linspace(-1, 1, 3))
