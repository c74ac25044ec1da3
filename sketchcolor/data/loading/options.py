"""What a loader was asked for, shared by both backends (torch_loader.py, dali_loader.py).

Usage: config = LoaderConfig(image_size=256, batch_size=16, device=torch.device("cpu"), backend="torch")
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sketchcolor.errors import SketchcolorError

BACKENDS = ("dali", "torch")


@dataclass(kw_only=True)
class LoaderConfig:
    """What `create_loader` was asked for (see its docstring); both backends read their
    options from it, so each option and each check is written here once."""

    image_size: int
    """Side of the square training image each half is resized to."""

    batch_size: int
    """Samples per batch."""

    device: torch.device
    """Where batches are delivered; CUDA also moves DALI's decoding to that GPU."""

    backend: str = "dali"
    """"dali" (default) or "torch" (the fallback)."""

    training: bool = True
    """Shuffle + paired flip + full batches only; False: in order, no flip, every sample once."""

    rank: int = 0
    """This process's rank: which contiguous part of the split it reads (`part`)."""

    world_size: int = 1
    """Number of processes sharing the split."""

    seed: int = 0
    """Base seed of shuffles and flips; the same (seed, epoch, rank, world size) gives the
    same batches."""

    num_workers: int = 2
    """DALI CPU threads (at least 1), or torch DataLoader worker processes (0: none)."""

    prefetch: int = 2
    """Batches prepared ahead of the one in use: DALI's `prefetch_queue_depth`, or the torch
    DataLoader's `prefetch_factor` (batches per worker), so the GPU never waits on data."""

    dont_use_mmap: bool = False
    """DALI reads the tars with plain reads instead of memory-mapping them: faster on network
    file systems (NFS, Lustre), where page faults on a mapping are slow. No effect on torch."""

    def part(self, count: int) -> range:
        """This rank's contiguous part of `count` samples (the split of DALI's `shard_id`; the
        DALI loader hands its reader only this part's tars, dali_loader.rank_tars)."""
        return range(
            count * self.rank // self.world_size, count * (self.rank + 1) // self.world_size
        )

    def __post_init__(self) -> None:
        if self.prefetch < 1:
            raise SketchcolorError(f"prefetch must be at least 1, got {self.prefetch}")
        if self.backend not in BACKENDS:
            raise SketchcolorError(
                f"unknown loader {self.backend!r}; choose one of {', '.join(BACKENDS)}"
            )
        if self.image_size < 1 or self.batch_size < 1 or self.num_workers < 0:
            raise SketchcolorError("image_size and batch_size must be positive, num_workers >= 0")
        if not 0 <= self.rank < self.world_size:
            raise SketchcolorError(f"rank {self.rank} is outside world size {self.world_size}")
