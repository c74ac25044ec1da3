"""The colour codebook of the colour-class output (models/heads.py) and its training targets.

The codebook is the cells of an 8-level RGB grid that the training set's palettes (stored in
the shards, 9 colours and their shares per image) cover most, each at the mean of the
palette colours in it: a cell is 32/255 wide, so a right class is within about the 24/255
the interactive benchmark accepts of the right colour. Zhang et al. 2016 do the
same with a grid over Lab's ab plane. The class prior (each cell's share of the training
pixels) sets the rebalancing weights: rare colours weigh more, so the cross-entropy is not
won by painting the white ground and the lines.

Usage: codebook, priors = color_codebook("shards", count=64)   # (64, 3) in [-1, 1], (64,)
       targets = color_targets(color, class_table(codebook))      # (B, H, W) class indices
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import torch

from sketchcolor.data.shards.manifest import read_split
from sketchcolor.util.images import COLOR_GRID_LEVELS, cell_centres, color_cells

REBALANCE_MIX = 0.5
"""Zhang et al.'s lambda: the prior is mixed half with the uniform before it is inverted."""


def palette_colors(shard_dir: str | Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Every palette colour of `split` with its share of its image: ((N, 3) in [0, 1], (N,)).
    Reads only the small palette and share members of each tar, no image."""
    shards = read_split(shard_dir, split)
    colors, shares = [], []
    for tar_path in shards.tar_paths:
        local = shards.remote.ensure(tar_path) if shards.remote is not None else tar_path
        with tarfile.open(local) as tar:
            for member in tar:
                if member.name.endswith((".palette", ".share")):
                    values = np.frombuffer(tar.extractfile(member).read(), "<f4")
                    (colors if member.name.endswith(".palette") else shares).append(values)
    return np.concatenate(colors).reshape(-1, 3), np.concatenate(shares)


def color_codebook(shard_dir: str | Path, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The `count` grid cells the training palettes cover most, each at the share-weighted
    mean of its palette colours (white stays white, not its cell's centre): (K, 3) colours in
    [-1, 1] and (K,) priors summing to 1 (the uncovered cells' shares given to the nearest)."""
    colors, shares = palette_colors(shard_dir)
    cells = color_cells(colors)
    totals = np.bincount(cells, weights=shares, minlength=COLOR_GRID_LEVELS**3)
    kept = np.argsort(-totals, kind="stable")[:count]
    sums = np.stack([np.bincount(cells, weights=shares * colors[:, channel],
                                 minlength=COLOR_GRID_LEVELS**3) for channel in range(3)], 1)  # fmt: skip
    means = sums[kept] / np.maximum(totals[kept], 1e-12)[:, None]
    means = np.where(totals[kept, None] > 0, means, cell_centres(kept))
    codebook = torch.from_numpy(means).float() * 2 - 1
    priors = torch.zeros(len(kept), dtype=torch.float64)
    priors.index_add_(0, class_table(codebook), torch.from_numpy(totals))
    return codebook, (priors / priors.sum()).float()


def class_table(codebook: torch.Tensor) -> torch.Tensor:
    """(512,) the class of each colour-grid cell: the codebook colour nearest its centre.
    Training's targets are a lookup in it (color_targets), not a distance per pixel."""
    centres = torch.from_numpy(cell_centres(np.arange(COLOR_GRID_LEVELS**3))).float() * 2 - 1
    return torch.cdist(centres, codebook.float().cpu()).argmin(1)


def color_targets(color: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) colours in [-1, 1] -> (B, H, W) their classes, through the cell table
    (util/images.py color_cells, on the colours' device)."""
    levels = ((color.float() + 1) * (COLOR_GRID_LEVELS / 2)).long().clamp(0, COLOR_GRID_LEVELS - 1)
    cells = (levels[:, 0] * COLOR_GRID_LEVELS + levels[:, 1]) * COLOR_GRID_LEVELS + levels[:, 2]
    return table.to(color.device)[cells]


def rebalancing_weights(priors: torch.Tensor, mix: float = REBALANCE_MIX) -> torch.Tensor:
    """Zhang et al.'s class weights: 1 / ((1 - mix) * prior + mix / K), scaled so that their
    expectation under the prior is 1."""
    weights = 1.0 / ((1 - mix) * priors + mix / len(priors))
    return weights / (priors * weights).sum()
