"""The colour-class codebook from the shards' palettes, its cell table and class weights
(data/controls/color_classes.py), and the cross-entropy built on them."""

from __future__ import annotations

import pytest
import torch

from sketchcolor.config.training import LossConfig
from sketchcolor.data.controls.color_classes import (
    class_table,
    color_codebook,
    color_targets,
    palette_colors,
    rebalancing_weights,
)
from sketchcolor.errors import SketchcolorError
from sketchcolor.training.losses import color_class_loss
from sketchcolor.util.images import cell_centres, color_cells


def test_cells_and_centres_by_hand():
    colors = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.99, 0.5, 0.1]]).numpy()
    cells = color_cells(colors)
    assert cells.tolist() == [0, 511, (7 * 8 + 4) * 8 + 0]
    centres = cell_centres(cells)
    assert abs(centres - colors).max() <= 1 / 16 + 1e-6  # 16/255 at most, inside 24/255


def test_the_codebook_holds_the_palettes_commonest_cells(shard_dir):
    colors, shares = palette_colors(shard_dir)
    assert colors.shape == (len(shares), 3) and len(shares) % 9 == 0
    codebook, priors = color_codebook(shard_dir, count=8)
    assert codebook.shape == (8, 3) and priors.shape == (8,)
    assert abs(float(priors.sum()) - 1) < 1e-5 and bool((priors > 0).all())
    totals = torch.zeros(512, dtype=torch.float64).index_add_(
        0, torch.from_numpy(color_cells(colors)), torch.from_numpy(shares).double()
    )
    top = set(totals.argsort(descending=True)[:8].tolist())
    assert set(color_cells((codebook.numpy() + 1) / 2).tolist()) == top
    first = color_cells(colors) == int(totals.argmax())  # the commonest cell, at its mean
    mean = (colors[first] * shares[first, None]).sum(0) / shares[first].sum()
    assert torch.allclose(codebook[0], torch.from_numpy(mean).float() * 2 - 1, atol=1e-5)


def test_each_codebook_colour_is_its_own_class_and_targets_look_it_up():
    codebook = torch.tensor([[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0], [0.9, 0.8, -0.7]])
    table = class_table(codebook)
    assert table.shape == (512,)
    image = codebook.T[None, :, :, None].expand(2, 3, 3, 5)  # (2, 3, 3 rows, 5 columns)
    targets = color_targets(image, table)
    assert targets[:, :, 0].tolist() == [[0, 1, 2]] * 2
    grey = torch.full((1, 3, 1, 1), 0.6)  # nearer white than black
    assert color_targets(grey, table).item() == 0


def test_rebalancing_favours_rare_colours_with_expectation_one():
    priors = torch.tensor([0.7, 0.2, 0.1])
    weights = rebalancing_weights(priors)
    assert bool(weights[2] > weights[1] > weights[0])
    assert abs(float((priors * weights).sum()) - 1) < 1e-6
    mean_only = 1 / (0.5 * priors + 0.5 / 3)
    assert torch.allclose(weights, mean_only / (priors * mean_only).sum())


def test_class_rebalance_sets_the_training_weights(shard_dir, tmp_path):
    from sketchcolor.training.presets import tiny_config
    from sketchcolor.training.setup import build_color_classes

    config = tiny_config(shard_dir, tmp_path, color_classes=8)

    def weights(mix=None):
        if mix is not None:
            config.loss.class_rebalance = mix
        return build_color_classes(config).weights

    _, priors = color_codebook(shard_dir, count=8)
    assert torch.allclose(weights(), rebalancing_weights(priors, 0.5))  # Zhang's lambda
    assert torch.allclose(weights(1.0), torch.ones(8))  # no rebalancing
    inverse = weights(0.0)
    assert torch.allclose(inverse / inverse[0], priors[0] / priors)
    with pytest.raises(SketchcolorError, match="class_rebalance must be in"):
        LossConfig(class_rebalance=1.5)


def test_the_cross_entropy_rewards_the_true_colour_and_weighs_by_class():
    codebook = torch.tensor([[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0], [0.9, 0.8, -0.7]])
    table = class_table(codebook)
    real = codebook[2].view(1, 3, 1, 1).expand(1, 3, 4, 4)
    right = torch.zeros(1, 3, 4, 4)
    right[:, 2] = 5.0
    wrong = torch.zeros(1, 3, 4, 4)
    wrong[:, 0] = 5.0
    ones = torch.ones(3)
    assert (
        color_class_loss(right, real, table, ones)
        < 0.02
        < color_class_loss(wrong, real, table, ones)
    )
    twice = torch.tensor([1.0, 1.0, 2.0])
    assert torch.isclose(color_class_loss(wrong, real, table, twice),
                         2 * color_class_loss(wrong, real, table, ones))  # fmt: skip
