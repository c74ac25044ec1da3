"""Colour controls: hint labels sit on grid nodes with the right colours, palette planes, channels."""

from __future__ import annotations

import pytest
import torch

from sketchcolor.config import COLOR_CONTROLS, HintConfig, scaled_label_size
from sketchcolor.data.controls.conditioning import (
    build_generator_input,
    input_channels,
    node_starts,
    sample_hints,
)
from sketchcolor.errors import SketchcolorError


def smooth_colors(batch: int, size: int, seed: int = 0) -> torch.Tensor:
    """Random colour images with varied local means, (B, 3, size, size) in [-1, 1]."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, 3, size // 8, size // 8, generator=generator) * 2 - 1
    fine = torch.rand(batch, 3, size, size, generator=generator) * 0.2 - 0.1
    return (torch.nn.functional.interpolate(coarse, size=size, mode="bilinear") + fine).clamp(-1, 1)


@pytest.mark.parametrize(("size", "grid"), [(128, 8), (512, 40)])
def test_labels_are_squares_on_grid_nodes_with_the_mean_color(size, grid):
    config = HintConfig(grid=grid, label_size=10, max_labels=30, zero_fraction=0.0)
    color = smooth_colors(3, size)
    hints = sample_hints(color, config, torch.Generator().manual_seed(1))
    starts = node_starts(size, grid, 10).tolist()
    # At these sizes the node spacing (16, 12.8 px) exceeds the label, so labels cannot touch.
    for sample in range(3):
        mask = hints.mask[sample, 0]
        labels = 0
        for top in starts:
            for left in starts:
                square = mask[top : top + 10, left : left + 10]
                if square.sum() == 0:
                    continue
                assert square.all(), "a label is not a full 10x10 square"
                expected = color[sample, :, top : top + 10, left : left + 10].mean(dim=(1, 2))
                got = hints.rgb[sample, :, top : top + 10, left : left + 10]
                torch.testing.assert_close(got, expected[:, None, None].expand_as(got))
                labels += 1
        assert 1 <= labels <= 30
        assert mask.sum() == labels * 100, "mask pixels outside the node squares"
        # Outside labels the hint image is the paper's white background.
        assert (hints.rgb[sample][:, mask == 0] == 1).all()


def test_label_size_scales_with_the_training_size():
    # The paper's 10x10 labels at 512, the same share of the image at other sizes.
    assert [scaled_label_size(size) for size in (512, 256, 128, 64, 32, 1024)] == [
        10, 5, 3, 1, 1, 20,
    ]  # fmt: skip
    assert HintConfig.for_size(256).label_size == 5
    assert HintConfig.for_size(512) == HintConfig()
    # Explicit options win; None means "not given" (unset run options).
    config = HintConfig.for_size(256, label_size=7, grid=8, max_labels=None, encoding="channels")
    assert (config.label_size, config.grid, config.max_labels) == (7, 8, HintConfig().max_labels)
    assert config.encoding == "channels"
    assert HintConfig.for_size(128, label_size=None).label_size == 3
    hints = sample_hints(
        torch.zeros(2, 3, 256, 256),
        HintConfig.for_size(256, zero_fraction=0.0),
        torch.Generator().manual_seed(0),
        counts=torch.tensor([3, 1]),
    )
    assert hints.mask.sum(dim=(1, 2, 3)).tolist() == [3 * 25, 25]
    with pytest.raises(SketchcolorError, match="image size"):
        scaled_label_size(0)


def test_zero_label_fraction_and_count_range():
    config = HintConfig(grid=4, max_labels=12, zero_fraction=0.3)
    color = torch.zeros(1000, 3, 48, 48)  # node spacing 12 px: labels never overlap
    hints = sample_hints(color, config, torch.Generator().manual_seed(0))
    counts = hints.mask.sum(dim=(1, 2, 3)) / 100  # (B,) labels per sample
    zero_fraction = (counts == 0).float().mean().item()
    assert 0.25 < zero_fraction < 0.35
    labelled = counts[counts > 0]
    assert labelled.min() == 1 and labelled.max() == 12
    assert 6.0 < labelled.mean().item() < 7.0  # uniform on 1..12 has mean 6.5


def test_count_override_gives_exact_counts():
    config = HintConfig(grid=8, max_labels=5, zero_fraction=0.5)
    color = smooth_colors(4, 128)
    counts = torch.tensor([0, 1, 7, 64])
    hints = sample_hints(color, config, torch.Generator().manual_seed(0), counts=counts)
    assert (hints.mask.sum(dim=(1, 2, 3)) / 100).tolist() == [0, 1, 7, 64]


def test_same_seed_same_hints_other_seed_other_hints():
    config = HintConfig(grid=8, zero_fraction=0.0)
    color = smooth_colors(4, 128)
    first = sample_hints(color, config, torch.Generator().manual_seed(5))
    again = sample_hints(color, config, torch.Generator().manual_seed(5))
    other = sample_hints(color, config, torch.Generator().manual_seed(6))
    assert torch.equal(first.mask, again.mask) and torch.equal(first.rgb, again.rgb)
    assert not torch.equal(first.mask, other.mask)


def test_palette_planes_equal_the_palette():
    sketch = torch.rand(2, 3, 16, 24) * 2 - 1
    palette = torch.rand(2, 9, 3) * 2 - 1
    inputs = build_generator_input("palette", sketch, palette=palette)
    assert inputs.shape == (2, 30, 16, 24)
    assert torch.equal(inputs[:, :3], sketch)
    planes = inputs[:, 3:].reshape(2, 9, 3, 16, 24)
    assert torch.equal(planes, palette[:, :, :, None, None].expand_as(planes))


@pytest.mark.parametrize("encoding", ["overlay", "channels"])
@pytest.mark.parametrize("color_control", COLOR_CONTROLS)
def test_input_channels_match_built_inputs(color_control, encoding):
    config = HintConfig(grid=4, encoding=encoding, zero_fraction=0.0)
    sketch = torch.rand(2, 3, 32, 32) * 2 - 1
    hints = sample_hints(smooth_colors(2, 32), config, torch.Generator().manual_seed(0))
    inputs = build_generator_input(
        color_control, sketch, palette=torch.zeros(2, 9, 3), hints=hints, hint_config=config,
        reference=torch.zeros_like(sketch),  # taken by the reference control only
    )  # fmt: skip
    assert inputs.shape[1] == input_channels(color_control, config)


def test_overlay_and_channel_encodings_place_the_labels():
    sketch = torch.rand(2, 3, 64, 64) * 2 - 1
    config = HintConfig(grid=4, zero_fraction=0.0, max_labels=3)
    hints = sample_hints(smooth_colors(2, 64), config, torch.Generator().manual_seed(0))
    inside = hints.mask.expand(-1, 3, -1, -1) > 0
    overlay = build_generator_input("hints", sketch, hints=hints, hint_config=config)
    assert torch.equal(overlay[inside], hints.rgb[inside])
    assert torch.equal(overlay[~inside], sketch[~inside])
    channels = build_generator_input(
        "hints", sketch, hints=hints, hint_config=HintConfig(encoding="channels")
    )
    assert torch.equal(channels[:, :3], sketch)
    assert torch.equal(channels[:, 3:6], hints.rgb)
    assert torch.equal(channels[:, 6:], hints.mask)


def test_hints_control_without_hints_is_the_bare_sketch():
    sketch = torch.rand(1, 3, 32, 32) * 2 - 1
    assert torch.equal(build_generator_input("hints", sketch), sketch)


def test_bad_inputs_raise_clear_errors():
    sketch = torch.zeros(1, 3, 8, 8)
    with pytest.raises(SketchcolorError, match="unknown colour control"):
        build_generator_input("rainbow", sketch)
    with pytest.raises(SketchcolorError, match="needs a palette"):
        build_generator_input("palette", sketch)
    with pytest.raises(SketchcolorError, match="encoding"):
        HintConfig(encoding="sideways")


@pytest.mark.gpu
def test_hints_are_built_on_the_gpu_with_the_right_colors():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    config = HintConfig(grid=8, max_labels=10, zero_fraction=0.0)
    color = smooth_colors(4, 128).cuda()
    hints = sample_hints(color, config, torch.Generator(device="cuda").manual_seed(0))
    assert hints.rgb.device.type == hints.mask.device.type == "cuda"
    starts = node_starts(128, 8, 10).tolist()
    assert starts  # a loop over nothing would pass
    for top in starts:
        for left in starts:
            square = hints.mask[:, 0, top : top + 10, left : left + 10]
            on = square.flatten(1).all(dim=1)  # (B,) samples with a label at this node
            expected = color[:, :, top : top + 10, left : left + 10].mean(dim=(2, 3))
            got = hints.rgb[:, :, top + 5, left + 5]
            # Loose enough for TF32 matmuls, should a caller turn them on.
            torch.testing.assert_close(got[on], expected[on], atol=3e-3, rtol=0)
    assert (hints.mask.sum(dim=(1, 2, 3)) % 100 == 0).all()


def test_dot_labels_stay_off_the_lines_and_take_the_truth_under_their_centre():
    from sketchcolor.data.controls.conditioning import sample_hints as draw

    sketch = torch.ones(2, 3, 32, 32)
    sketch[:, :, :, 14:18] = -1.0  # a thick vertical line
    color = torch.zeros(2, 3, 32, 32)
    color[:, 0, :, :16] = 0.5  # left region red-ish, right black
    config = HintConfig(placement="dots", label_size=3, grid=8, max_labels=10, zero_fraction=0)
    counts = torch.tensor([10, 3])
    hints = draw(color, config, torch.Generator().manual_seed(0), counts=counts, sketch=sketch)
    assert hints.mask[:, :, :, 14:18].sum() == 0  # no label on the line
    covered = hints.mask[:, 0] > 0
    assert torch.equal(hints.rgb[:, 0][covered], color[:, 0][covered])  # the truth's colour
    assert 10 * 9 >= hints.mask[0].sum() >= 9 and hints.mask[1].sum() <= 3 * 9
