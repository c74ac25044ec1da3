"""The one loader API: batches of sketch, colour and palette on the device, per rank and epoch.

The DALI backend (default) decodes on the GPU when the device is CUDA and on the CPU otherwise;
the torch backend is the fallback. Both read a split of a shard folder and give the same
batch dictionaries (see docs/interfaces.md). An epoch's batches depend only on
(seed, epoch, rank, world_size), so a resumed run continues with `skip_batches`.

Usage:
    loader = create_loader("shards", split="train", image_size=256, batch_size=16)
    for batch in loader.epoch(0):
        batch["sketch"], batch["color"], batch["palette"], batch["key"]
        batch["regions"]  # (B, H, W) int32 region ids, when the shards carry region maps
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from sketchcolor.data.loading.options import LoaderConfig
from sketchcolor.data.shards.manifest import SplitShards, read_split
from sketchcolor.errors import SketchcolorError


class PairLoader:
    """Batches of one split for one rank; `epoch(n)` iterates epoch n (see module docstring)."""

    def __init__(self, shards: SplitShards, config: LoaderConfig):
        self.shards = shards
        self.config = config
        self._torch_epochs = None  # the torch backend's DataLoader (workers outlive epochs)
        self._pipelines = None  # the DALI backend's pipeline builder (builds epochs ahead)
        if len(self) == 0:
            raise SketchcolorError(
                f"split has {shards.count} samples: too few for batch size {config.batch_size} "
                f"on {config.world_size} process(es)"
            )

    def part_size(self) -> int:
        """Samples this rank reads per epoch (ranks differ by at most one)."""
        return len(self.config.part(self.shards.count))

    def __len__(self) -> int:
        """Batches per epoch for this rank; in training the same on every rank."""
        if self.config.training:
            return (self.shards.count // self.config.world_size) // self.config.batch_size
        return -(-self.part_size() // self.config.batch_size)

    def epoch(self, epoch: int, skip_batches: int = 0) -> Iterator[dict]:
        """The batches of `epoch`, starting after the first `skip_batches`."""
        if not 0 <= skip_batches <= len(self):
            raise SketchcolorError(f"skip_batches {skip_batches} is outside 0..{len(self)}")
        if self.config.backend == "dali":
            return self._dali_epoch(epoch, skip_batches)
        return self._torch_epoch(epoch, skip_batches)

    def _dali_epoch(self, epoch: int, skip_batches: int) -> Iterator[dict]:
        from sketchcolor.data.loading.dali_loader import PipelineBuilder, dali_epoch

        if self._pipelines is None:
            self._pipelines = PipelineBuilder(self.shards, self.config)
        yield from dali_epoch(self._pipelines, epoch, skip_batches, len(self))

    def _torch_epoch(self, epoch: int, skip_batches: int) -> Iterator[dict]:
        from sketchcolor.data.loading.torch_loader import TorchEpochs, read_samples

        if self._torch_epochs is None:
            samples = read_samples(self.shards.tar_paths, self.shards.index_paths)
            self._torch_epochs = TorchEpochs(samples, self.config, self.shards.remote,
                                             self.shards.regions)  # fmt: skip
        yield from self._torch_epochs.epoch(epoch, skip_batches)


def create_loader(
    shard_dir: str | Path,
    *,
    split: str = "train",
    image_size: int = 512,
    batch_size: int = 16,
    device: torch.device | str = "cpu",
    backend: str = "dali",
    training: bool = True,
    rank: int = 0,
    world_size: int = 1,
    seed: int = 0,
    num_workers: int = 2,
    prefetch: int = 2,
    dont_use_mmap: bool = False,
) -> PairLoader:
    """A loader over `split` of `shard_dir` for this rank; see docs/interfaces.md.

    training=True: shuffled (the same order for the same seed, epoch, rank and world size),
    a random horizontal flip applied to both halves alike, only full batches.
    training=False: in order, no flip, every sample of this rank's part exactly once.
    prefetch: batches prepared ahead (DALI queue depth; torch: per worker); never changes
    which batches come out. dont_use_mmap: DALI reads instead of memory-mapping (network file
    systems).
    """
    config = LoaderConfig(
        image_size=image_size,
        batch_size=batch_size,
        device=torch.device(device),
        backend=backend,
        training=training,
        rank=rank,
        world_size=world_size,
        seed=seed,
        num_workers=num_workers,
        prefetch=prefetch,
        dont_use_mmap=dont_use_mmap,
    )
    return PairLoader(read_split(shard_dir, split), config)
