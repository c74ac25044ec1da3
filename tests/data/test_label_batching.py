"""Training's simulated labels are drawn batched, with static shapes and nothing read back to
the host: they equal the per-sample drawing they replaced, the accelerator's stroke painter
equals the host's, and the whole hint path runs on the meta device (which holds no data, so
any readback - .item(), .tolist(), nonzero, a boolean index - raises there)."""

from __future__ import annotations

import pytest
import torch

from sketchcolor.config import HintConfig
from sketchcolor.data.controls.conditioning import (
    Centres,
    draw_dot_centres,
    off_line_centres,
    pad_centres,
    paint_dots,
    sample_hints,
)
from sketchcolor.data.controls.region_spread import spread_over_regions
from sketchcolor.data.controls.strokes import (
    _winners_in_fixed_windows,
    _winners_in_sized_windows,
    segments_of,
    stroke_draws,
    stroke_window,
    walk_strokes,
)
from sketchcolor.training.inputs import step_inputs


def per_sample_centres(allowed, counts, generator) -> list[torch.Tensor]:
    """The drawing the batched one replaced: one top-k per sample, of its own count."""
    batch, height, width = allowed.shape
    scores = torch.rand(batch, height * width, generator=generator)
    scores = scores.masked_fill(~allowed.view(batch, -1), -1.0)
    centres = []
    for index in range(batch):
        count = int(min(int(counts[index]), int(allowed[index].sum())))
        flat = scores[index].topk(count).indices
        centres.append(torch.stack([flat // width, flat % width], dim=1))
    return centres


def per_sample_dots(color, centres: list[torch.Tensor], dot_size: int):
    """The painting the batched one replaced: a square per dot, later dots over earlier."""
    rgb, mask = torch.ones_like(color), torch.zeros_like(color[:, :1])
    low, high = dot_size // 2, dot_size - dot_size // 2
    for index, points in enumerate(centres):
        for y, x in points.tolist():
            top, left = max(y - low, 0), max(x - low, 0)
            rgb[index, :, top : y + high, left : x + high] = color[index, :, y, x][:, None, None]
            mask[index, :, top : y + high, left : x + high] = 1.0
    return rgb, mask


def noisy_batch(batch=4, size=48, seed=0):
    generator = torch.Generator().manual_seed(seed)
    color = torch.rand(batch, 3, size, size, generator=generator) * 2 - 1
    sketch = torch.ones(batch, 3, size, size)
    sketch[:, :, :, size // 2 : size // 2 + 2] = -1.0  # a vertical line
    sketch[1, :, size // 3] = -1.0  # and a horizontal one in sample 1
    return color, sketch


@pytest.mark.parametrize("dot_size", [1, 4, 5])
def test_batched_dots_equal_the_per_sample_drawing_and_painting(dot_size):
    color, sketch = noisy_batch()
    allowed = off_line_centres(sketch, dot_size)
    allowed[3] = False
    allowed[3, 5, 7] = True  # one allowed pixel for three wanted labels: one label
    counts = torch.tensor([0, 7, 40, 3])
    batched = draw_dot_centres(allowed, counts, torch.Generator().manual_seed(3), most=40)
    expected = per_sample_centres(allowed, counts, torch.Generator().manual_seed(3))
    assert batched.valid.sum(dim=1).tolist() == [0, 7, 40, 1]
    assert [len(points) for points in expected] == [0, 7, 40, 1]
    for index, points in enumerate(expected):
        assert torch.equal(batched.points[index][batched.valid[index]], points)
    hints = paint_dots(color, batched, dot_size)
    rgb, mask = per_sample_dots(color, expected, dot_size)
    assert torch.equal(hints.mask, mask) and torch.equal(hints.rgb, rgb)
    assert torch.equal(paint_dots(color, pad_centres(expected), dot_size).rgb, rgb)


def test_overlapping_dots_keep_the_later_one_and_borders_clip():
    color = torch.zeros(1, 3, 8, 8)
    color[0, 0, 1, 1], color[0, 1, 2, 2] = 1.0, 1.0  # red at (1, 1), green at (2, 2)
    centres = Centres(torch.tensor([[[1, 1], [2, 2], [0, 7]]]), torch.tensor([[True, True, False]]))
    hints = paint_dots(color, centres, 3)
    assert hints.rgb[0, :, 1, 1].tolist() == [0.0, 1.0, 0.0]  # the later (green) dot covers it
    assert hints.rgb[0, :, 0, 0].tolist() == [1.0, 0.0, 0.0]  # only the red one reaches here
    assert hints.mask[0, 0].sum() == 9 + 9 - 4  # two 3x3 squares sharing a 2x2 corner
    assert hints.mask[0, 0, 0, 6:].sum() == 0  # the padding entry is not painted


def test_fixed_windows_paint_what_sized_windows_paint():
    color, sketch = noisy_batch(seed=1)
    width = 5
    allowed = off_line_centres(sketch, width)
    centres = draw_dot_centres(allowed, torch.tensor([6, 0, 12, 9]), torch.Generator(), most=12)
    starts, owner, valid = centres.flat()
    draws = stroke_draws(
        torch.rand(len(starts), 7, generator=torch.Generator().manual_seed(4)), width
    )
    vertices = walk_strokes(starts, owner, draws, allowed, color, tolerance=3.0)
    assert (vertices[:, -1] != vertices[:, 0]).any(dim=1).sum() > 10  # real strokes, not dots
    segments, kept = segments_of(vertices, owner, torch.full((len(owner),), 5.0), valid)
    size = (4, 48, 48)
    sized = _winners_in_sized_windows(segments, kept, size)
    fixed = _winners_in_fixed_windows(segments, kept, size, stroke_window(width))
    assert sized.count_nonzero() > 300
    assert torch.equal(fixed, sized)


@pytest.mark.parametrize("shape", ["dots", "strokes", "both"])
def test_the_training_hint_path_reads_nothing_back_off_the_host(shape):
    """On the meta device every op runs on shapes alone; a readback there raises."""
    meta = torch.device("meta")
    batch = {
        "color": torch.empty(2, 3, 64, 64, device=meta),
        "sketch": torch.empty(2, 3, 64, 64, device=meta),
        "regions": torch.empty(2, 64, 64, dtype=torch.int32, device=meta),
        "palette": torch.empty(2, 9, 3, device=meta),
    }
    config = HintConfig.for_size(64, placement="dots", shape=shape, spread="regions",
                                 max_labels=16, encoding="channels")  # fmt: skip
    inputs, hints = step_inputs(batch, color_control="mixed", hint_config=config, seed=5,
                                hint_device="cpu")  # fmt: skip
    assert inputs.generator_input.shape == (2, 34, 64, 64) and hints.rgb.device == meta
    with pytest.raises(NotImplementedError):  # the check itself: a readback does raise
        torch.empty(3, device=meta).tolist()


def test_the_spread_of_batched_labels_reads_nothing_back_either():
    meta = torch.device("meta")
    config = HintConfig.for_size(64, placement="dots", shape="strokes", max_labels=8)
    color, sketch = torch.empty(2, 3, 64, 64, device=meta), torch.empty(2, 3, 64, 64, device=meta)
    regions = torch.empty(2, 64, 64, dtype=torch.int32, device=meta)
    hints = sample_hints(color, config, torch.Generator(), sketch=sketch, regions=regions)
    assert spread_over_regions(sketch, hints, regions).mask.shape == (2, 1, 64, 64)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_training_hint_path_does_not_synchronise_a_gpu():
    device = torch.device("cuda")
    generator = torch.Generator(device).manual_seed(0)
    batch = {
        "color": torch.rand(4, 3, 256, 256, device=device, generator=generator) * 2 - 1,
        "sketch": torch.ones(4, 3, 256, 256, device=device),
        "regions": torch.randint(1, 9, (4, 256, 256), device=device, dtype=torch.int32),
        "palette": torch.rand(4, 9, 3, device=device) * 2 - 1,
    }
    batch["sketch"][:, :, :, 100:102] = -1.0
    config = HintConfig.for_size(256, placement="dots", shape="strokes", spread="regions",
                                 max_labels=128, label_size=16, encoding="channels")  # fmt: skip
    step_inputs(batch, color_control="mixed", hint_config=config, seed=0)  # warm-up
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        inputs, hints = step_inputs(batch, color_control="mixed", hint_config=config, seed=1)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert float(hints.mask.mean()) > 0.01  # labels were drawn and spread
