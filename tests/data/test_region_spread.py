"""The device spread over region ids equals the host spread (spread_hints), and strokes drawn on
region ids stay inside their start's region."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from sketchcolor.config import HintConfig
from sketchcolor.data.controls.conditioning import Hints, sample_hints, spread_hints
from sketchcolor.data.controls.region_spread import (
    host_regions,
    nearest_labelled,
    spread_over_regions,
)
from sketchcolor.data.controls.strokes import paint_strokes, stroke_draws, walk_strokes
from sketchcolor.data.loading.loader import create_loader
from tests.support.sketches import boxed_sketch


def unit(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1


@pytest.fixture(scope="module")
def batch(shard_dir):
    loader = create_loader(shard_dir, split="train", image_size=64, batch_size=8,
                           backend="torch", training=False, num_workers=0)  # fmt: skip
    return next(iter(loader.epoch(0)))


@pytest.mark.parametrize("shape", ["dots", "strokes", "both"])
def test_device_spread_equals_spread_hints(batch, shape):
    config = HintConfig.for_size(64, placement="dots", shape=shape, spread="regions",
                                 max_labels=12, zero_fraction=0.0)  # fmt: skip
    regions = host_regions(batch["sketch"])  # what spread_hints segments, at this size
    hints = sample_hints(batch["color"], config, torch.Generator().manual_seed(2),
                         sketch=batch["sketch"], regions=regions)  # fmt: skip
    before = spread_hints(batch["sketch"], hints)
    after = spread_over_regions(batch["sketch"], hints, regions)
    assert after.mask.sum() > 2 * hints.mask.sum()  # the labels did spread
    torch.testing.assert_close(after.mask, before.mask, rtol=0, atol=0)
    torch.testing.assert_close(after.rgb, before.rgb, rtol=0, atol=1e-5)


def test_two_labels_of_different_colours_in_one_region_each_keep_their_side():
    sketch = boxed_sketch(0)  # two regions split by a line; labels in the left one only
    rgb, mask = torch.ones(1, 3, 64, 64), torch.zeros(1, 1, 64, 64)
    for top, colour in ((8, (1.0, -1.0, -1.0)), (48, (-1.0, -1.0, 1.0))):  # red above, blue below
        rgb[0, :, top : top + 5, 10:15] = torch.tensor(colour)[:, None, None]
        mask[0, :, top : top + 5, 10:15] = 1.0
    hints = Hints(rgb=rgb, mask=mask)
    regions = host_regions(unit(sketch))
    after = spread_over_regions(unit(sketch), hints, regions)
    before = spread_hints(unit(sketch), hints)
    torch.testing.assert_close(after.rgb, before.rgb, rtol=0, atol=1e-6)
    torch.testing.assert_close(after.mask, before.mask, rtol=0, atol=0)
    red, blue = after.rgb[0, :, 12, 20], after.rgb[0, :, 52, 20]
    assert red.tolist() == [1.0, -1.0, -1.0] and blue.tolist() == [-1.0, -1.0, 1.0]
    assert after.mask[0, 0, 30, 40] == 0  # the right region holds no label
    mean = spread_over_regions(unit(sketch), hints, regions, rule="mean")
    torch.testing.assert_close(mean.rgb[0, :, 12, 20], torch.tensor([0.0, -1.0, 0.0]))


def test_nearest_labelled_pixel_is_as_far_as_scipys():
    generator = torch.Generator().manual_seed(0)
    mask = torch.rand(3, 37, 53, generator=generator) < 0.01
    mask[2] = False  # an empty sample gives each pixel itself
    nearest = nearest_labelled(mask).view(3, 37, 53)
    for sample in range(2):
        distance = ndimage.distance_transform_edt(~mask[sample].numpy())
        found = nearest[sample] - sample * 37 * 53
        rows, columns = found // 53, found % 53
        y, x = torch.meshgrid(torch.arange(37), torch.arange(53), indexing="ij")
        ours = ((rows - y) ** 2 + (columns - x) ** 2).double().sqrt()
        assert mask[sample].view(-1)[found.view(-1)].all()
        np.testing.assert_allclose(ours.numpy(), distance)
    assert (nearest[2].view(-1) == torch.arange(2 * 37 * 53, 3 * 37 * 53)).all()


def test_strokes_stay_inside_their_region():
    # Two regions with no line between them (left and right halves): only the ids keep a stroke
    # that starts on the left from walking into the right.
    batch, size = 24, 48
    regions = torch.ones(batch, size, size, dtype=torch.int32)
    regions[:, :, size // 2 :] = 2
    color = torch.zeros(batch, 3, size, size)  # one colour: the colour rule cuts nothing
    allowed = torch.ones(batch, size, size, dtype=torch.bool)
    starts = torch.tensor([[size // 2, size // 2 - 3]] * batch)
    owner = torch.arange(batch)
    draws = stroke_draws(torch.rand(batch, 7, generator=torch.Generator().manual_seed(0)), 5)
    crossed = 0
    for use_regions in (False, True):
        ids = regions if use_regions else None
        vertices = walk_strokes(starts, owner, draws, allowed, color, regions=ids)
        start_regions = regions[owner, starts[:, 0], starts[:, 1]] if use_regions else None
        _, mask = paint_strokes(vertices, owner, color[:, :, 0, 0], torch.full((batch,), 5.0),
                                (batch, size, size), regions=ids,
                                stroke_regions=start_regions)  # fmt: skip
        right = mask[:, 0, :, size // 2 :].sum()
        if use_regions:
            assert right == 0 and mask.sum() > 0
        else:
            crossed = int(right)
    assert crossed > 0  # without the ids, some strokes do cross


def test_sampled_strokes_with_regions_stay_in_their_start_region(batch):
    config = HintConfig.for_size(64, placement="dots", shape="strokes", max_labels=6,
                                 zero_fraction=0.0)  # fmt: skip
    regions = host_regions(batch["sketch"])
    hints = sample_hints(batch["color"], config, torch.Generator().manual_seed(4),
                         sketch=batch["sketch"], regions=regions)  # fmt: skip
    for sample in range(len(regions)):
        labels, count = ndimage.label(hints.mask[sample, 0].numpy() > 0.5)
        for label in range(1, count + 1):  # a painted piece never spans two regions
            assert len(np.unique(regions[sample].numpy()[labels == label])) == 1
