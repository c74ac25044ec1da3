"""The reference control's data: augmented-self warps, warped pairs, a reference's own colours,
and the generator input with a reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sketchcolor.config import HintConfig
from sketchcolor.data.controls.conditioning import build_generator_input, input_channels
from sketchcolor.data.controls.reference import (
    WARP_STRENGTHS,
    augmented_reference,
    fixed_reference,
    orbit_grids,
    random_grid,
    reference_colors,
    warp,
    warp_pair,
)
from sketchcolor.data.regions import snap_to_colors
from sketchcolor.errors import SketchcolorError
from sketchcolor.training.inputs import step_inputs


def squares(batch: int = 2, size: int = 32) -> torch.Tensor:
    """(B, 3, size, size) in [-1, 1]: a red square on white, a blue one in the second sample."""
    images = torch.ones(batch, 3, size, size)
    images[0, :, 8:24, 8:24] = torch.tensor([1.0, -1.0, -1.0])[:, None, None]
    images[1:, :, 4:20, 12:28] = torch.tensor([-1.0, -1.0, 1.0])[:, None, None]
    return images


def test_no_warp_returns_the_image_and_leaving_it_is_white():
    image = squares()
    identity = random_grid(2, 32, 32, WARP_STRENGTHS["small"], torch.Generator().manual_seed(0),
                           amount=torch.zeros(2))  # fmt: skip
    assert torch.allclose(warp(image, identity), image, atol=1e-5)
    outside = torch.full((2, 32, 32, 2), 5.0)  # every sample point far off the picture
    assert torch.equal(warp(image, outside), torch.ones_like(image))


def test_augmented_references_move_each_sample_its_own_way_and_repeat_with_the_seed():
    image = squares(4)
    image[2:] = image[:2]
    first = augmented_reference(image, torch.Generator().manual_seed(3))
    again = augmented_reference(image, torch.Generator().manual_seed(3))
    other = augmented_reference(image, torch.Generator().manual_seed(4))
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.shape == image.shape and first.min() >= -1 - 1e-5 and first.max() <= 1 + 1e-5
    assert ((first - image).abs().flatten(1).mean(1) > 1e-3).all()  # every sample moved
    assert (first[0] - first[2]).abs().mean() > 1e-3  # the same picture, another warp
    # The colours are the picture's own: red stays red, nothing else appears.
    red = (first[0, 0] > 0.9) & (first[0, 1] < -0.9)
    assert red.sum() > 100


def test_the_reference_path_of_a_training_step_reads_nothing_back_off_the_host():
    """The meta device holds no data: any readback (.item(), a boolean index) raises there."""
    meta = torch.device("meta")
    batch = {name: torch.empty(2, 3, 64, 64, device=meta) for name in ("color", "sketch")}
    batch["regions"] = torch.empty(2, 64, 64, dtype=torch.int32, device=meta)
    config = HintConfig.for_size(64, placement="dots", shape="strokes", spread="regions",
                                 max_labels=16, encoding="channels")  # fmt: skip
    inputs, _ = step_inputs(batch, color_control="reference", hint_config=config, seed=5,
                            hint_device="cpu")  # fmt: skip
    assert inputs.generator_input.shape == (2, 10, 64, 64)
    assert inputs.generator_input.device == meta


def test_warped_pairs_move_sketch_and_colours_together():
    image = squares()
    sketch, color = warp_pair(image, image.clone(), "medium", seed=1)
    assert torch.equal(sketch, color)
    again, _ = warp_pair(image, image, "medium", seed=1)
    assert torch.equal(sketch, again)
    with pytest.raises(SketchcolorError, match="unknown warp strength 'huge'"):
        warp_pair(image, image, "huge", seed=1)


def test_stronger_warps_move_the_picture_further():
    image = squares(8, 64)
    moved = [(warp_pair(image, image, name, seed=0)[1] - image).abs().mean().item()
             for name in ("small", "medium", "large")]  # fmt: skip
    assert moved[0] < moved[1] < moved[2], moved


def test_a_held_out_samples_reference_depends_on_its_seed_not_on_its_batch():
    image = squares(4)
    image[2:] = image[:2]
    together = fixed_reference(image, [7, 8, 9, 10])
    alone = fixed_reference(image[1:2], [8])
    assert torch.equal(together[1:2], alone)  # the same seed: the same warp, in any batch
    assert not torch.equal(together[0], together[2])  # the same picture, another seed


def test_orbit_frames_are_equally_far_from_the_keyframe_and_close_to_their_neighbours():
    grids = orbit_grids(24, 64, 64, "medium", seed=0)
    identity = torch.nn.functional.affine_grid(torch.eye(2, 3)[None], [1, 1, 64, 64],
                                               align_corners=False)  # fmt: skip
    from_key = (grids - identity).abs().mean(dim=(1, 2, 3))
    neighbours = (grids - grids.roll(1, 0)).abs().mean(dim=(1, 2, 3))
    # Measured: 0.070-0.140 from the keyframe, 0.019-0.036 between neighbours.
    assert from_key.min() > 0.4 * from_key.max()
    assert neighbours.max() < 0.6 * from_key.min()


def test_reference_colours_of_flat_art_are_its_exact_colours():
    picture = np.full((64, 64, 3), 255, np.uint8)
    picture[10:40, 10:40] = (200, 30, 40)
    picture[40:60, 20:50] = (20, 90, 200)
    picture[39:41, 10:50] = (110, 60, 120)  # an anti-aliased seam, 80 px: 2% of the picture
    picture[0, :5] = np.arange(5)[:, None]  # five stray pixels of their own colours
    colours = {tuple(c) for c in reference_colors(picture)}
    assert {(255, 255, 255), (200, 30, 40), (20, 90, 200)} <= colours
    assert not any(c[0] < 5 and c[1] < 5 for c in colours)  # rare colours are not its own


def test_reference_colours_of_a_shaded_picture_are_its_palette():
    ramp = np.linspace(0, 255, 64 * 64 * 3).reshape(64, 64, 3).astype(np.uint8)
    assert reference_colors(ramp).shape == (9, 3)


def test_snapping_takes_the_nearest_allowed_colour():
    allowed = np.array([[255, 255, 255], [200, 30, 40]], np.uint8)
    colours = np.array([[250, 240, 245], [180, 60, 60], [190, 10, 10]], np.uint8)
    assert snap_to_colors(colours, allowed).tolist() == [[255, 255, 255], [200, 30, 40],
                                                          [200, 30, 40]]  # fmt: skip


def test_the_reference_is_the_inputs_last_three_channels():
    sketch, reference = torch.zeros(2, 3, 16, 16), squares(2, 16)
    config = HintConfig(encoding="channels")
    inputs = build_generator_input("reference", sketch, hint_config=config, reference=reference)
    assert inputs.shape[1] == input_channels("reference", config) == 10
    assert torch.equal(inputs[:, -3:], reference)
    assert input_channels("reference", HintConfig()) == 6
    with pytest.raises(SketchcolorError, match="needs a reference of the sketch's shape"):
        build_generator_input("reference", sketch, hint_config=config, reference=reference[:1])


def test_training_draws_the_hints_a_hints_run_draws_then_the_reference():
    torch.manual_seed(0)
    batch = {"sketch": squares(), "color": squares().flip(0)}
    config = HintConfig(encoding="channels", max_labels=8, placement="dots")
    hints_run, hints = step_inputs(batch, color_control="hints", hint_config=config, seed=5)
    reference_run, same_hints = step_inputs(batch, color_control="reference", hint_config=config,
                                            seed=5)  # fmt: skip
    assert torch.equal(hints.mask, same_hints.mask) and torch.equal(hints.rgb, same_hints.rgb)
    assert torch.equal(reference_run.generator_input[:, :7], hints_run.generator_input)
    again, _ = step_inputs(batch, color_control="reference", hint_config=config, seed=5)
    assert torch.equal(again.generator_input, reference_run.generator_input)


def boxes_picture(boxes, colours, size=128) -> tuple[np.ndarray, np.ndarray]:
    """(sketch, colours) uint8 (H, W, 3): outlined boxes, filled in the colour picture."""
    sketch = np.full((size, size, 3), 255, np.uint8)
    color = sketch.copy()
    for (y0, x0, y1, x1), fill in zip(boxes, colours, strict=True):
        color[y0:y1, x0:x1] = fill
        for picture in (sketch, color):
            picture[y0:y1, (x0, x0 + 1, x1 - 2, x1 - 1)] = 0
            picture[(y0, y0 + 1, y1 - 2, y1 - 1), x0:x1] = 0
    return sketch, color


def test_flat_colours_match_each_region_to_the_reference_region_in_its_place():
    from sketchcolor.data.controls.reference import reference_layout
    from sketchcolor.data.regions import flatten_colors, line_mask, segment_regions

    colours = [(214, 48, 49), (9, 132, 227), (253, 203, 110)]
    _, reference = boxes_picture([(10, 10, 60, 60), (10, 70, 60, 120), (70, 10, 120, 120)],
                                 colours)  # fmt: skip
    # The frame: the same boxes moved down-right and shrunk, coloured a uniform grey by a
    # network that painted nothing useful: the layout alone must bring each colour back.
    frame, _ = boxes_picture([(20, 16, 64, 60), (20, 70, 64, 114), (74, 16, 118, 114)], colours)
    grey = np.full_like(frame, 128)
    flat = flatten_colors(grey, frame, segment_regions(line_mask(frame)), (),
                          reference_colors(reference), reference_layout(reference))  # fmt: skip
    assert [tuple(int(v) for v in flat[y, x]) for y, x in ((40, 38), (40, 92), (96, 64))] == colours
    assert tuple(flat[5, 5]) == (255, 255, 255)  # the ground stays the reference's white
    assert reference_layout(np.full((32, 32, 3), 200, np.uint8)) is None  # no lines to match
