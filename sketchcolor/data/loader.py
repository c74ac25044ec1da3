"""The one loader API: batches of sketch, colour and palette on the device, per rank and epoch.

The DALI backend (default) decodes on the GPU when the device is CUDA and on the CPU otherwise;
the torch backend is the fallback. Both read a split of a shard folder and give the same
batch dictionaries (see docs/interfaces.md). An epoch's batches depend only on
(seed, epoch, rank, world_size), so a resumed run continues with `skip_batches`.

Usage:
    loader = create_loader("shards", split="train", image_size=256, batch_size=16)
    for batch in loader.epoch(0):
        batch["sketch"], batch["color"], batch["palette"], batch["key"]
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sketchcolor.errors import SketchcolorError
from sketchcolor.seeding import mixed_seed

BACKENDS = ("dali", "torch")
MANIFEST_FORMAT = "sketchcolor-shards/1"


@dataclass(kw_only=True)
class SplitShards:
    """The tars of one split, their index files and the sample count."""

    tar_paths: list[str]
    """Tar files in manifest order."""

    index_paths: list[str]
    """The DALI `.idx` beside each tar."""

    count: int
    """Samples in the split."""

    def __post_init__(self) -> None:
        for path in [*self.tar_paths, *self.index_paths]:
            if not Path(path).is_file():
                raise SketchcolorError(f"{path}: missing shard file (re-run `sketchcolor shards`)")


def read_split(shard_dir: str | Path, split: str) -> SplitShards:
    """The tars of `split` from `shard_dir/manifest.json`."""
    shard_dir = Path(shard_dir)
    manifest_path = shard_dir / "manifest.json"
    if not manifest_path.is_file():
        raise SketchcolorError(f"{manifest_path}: no manifest; is {shard_dir} a shard folder?")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != MANIFEST_FORMAT:
        raise SketchcolorError(f"{manifest_path}: format is not {MANIFEST_FORMAT!r}")
    splits = manifest.get("splits", {})
    if split not in splits or not splits[split].get("shards"):
        raise SketchcolorError(
            f"{manifest_path}: no split {split!r} (has {', '.join(sorted(splits)) or 'none'})"
        )
    shards = splits[split]["shards"]
    return SplitShards(
        tar_paths=[str(shard_dir / shard["tar"]) for shard in shards],
        index_paths=[str(shard_dir / shard["idx"]) for shard in shards],
        count=sum(int(shard["count"]) for shard in shards),
    )


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
    """This process's rank: which contiguous part of the split it reads (DALI `shard_id`)."""

    world_size: int = 1
    """Number of processes sharing the split (DALI `num_shards`)."""

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


class PairLoader:
    """Batches of one split for one rank; `epoch(n)` iterates epoch n (see module docstring)."""

    def __init__(self, shards: SplitShards, config: LoaderConfig):
        self.shards = shards
        self.config = config
        self._samples = None  # the torch backend's per-sample index, read once
        if len(self) == 0:
            raise SketchcolorError(
                f"split has {shards.count} samples: too few for batch size {config.batch_size} "
                f"on {config.world_size} process(es)"
            )

    def part_size(self) -> int:
        """Samples this rank reads per epoch (ranks differ by at most one)."""
        count, rank, world = self.shards.count, self.config.rank, self.config.world_size
        return count * (rank + 1) // world - count * rank // world

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
        from nvidia.dali.plugin.pytorch import DALIGenericIterator, LastBatchPolicy

        from sketchcolor.data.dali_pipeline import OUTPUT_NAMES, READER_NAME, build_pipeline

        # A fresh pipeline per epoch, seeded from (seed, epoch, rank): the epoch's batches do
        # not depend on what ran before, which is what makes resuming exact.
        pipeline = build_pipeline(self._dali_config(epoch))
        pipeline.build()
        iterator = DALIGenericIterator(
            [pipeline],
            list(OUTPUT_NAMES),
            reader_name=READER_NAME,
            last_batch_policy=LastBatchPolicy.DROP
            if self.config.training
            else LastBatchPolicy.PARTIAL,
        )
        try:
            for index, outputs in enumerate(iterator):
                if index >= len(self):
                    break  # ranks with one extra sample stop with the others
                if index >= skip_batches:
                    yield self._dali_batch(outputs[0])
        finally:
            del iterator, pipeline

    def _dali_config(self, epoch: int):
        from sketchcolor.data.dali_pipeline import DaliPipelineConfig

        config = self.config
        tar_paths, index_paths = self.shards.tar_paths, self.shards.index_paths
        if config.training:
            # Visit the tars in a new order each epoch (the same on every rank, so the ranks'
            # contiguous parts stay disjoint); the reader's buffer shuffles within them.
            order = np.random.default_rng(mixed_seed(config.seed, epoch, bits=31)).permutation(
                len(tar_paths)
            )
            tar_paths = [tar_paths[i] for i in order]
            index_paths = [index_paths[i] for i in order]
        return DaliPipelineConfig(
            loader=config,
            paths=tar_paths,
            index_paths=index_paths,
            seed=mixed_seed(config.seed, epoch, config.rank, bits=31),
        )

    def _dali_batch(self, outputs: dict) -> dict:
        device = self.config.device
        # The only per-sample Python on the DALI path: the contract's `key` is a list of B
        # strings, so B short byte strings are decoded here; every pixel is DALI's work.
        keys = []
        for row in outputs["source"].numpy():  # (B, L) uint8 "tar:offset:KEY.ext", zero-padded
            name = bytes(row[row > 0]).decode().rsplit(":", 1)[-1]
            keys.append(name.split(".", 1)[0])
        return {
            "sketch": outputs["sketch"].to(device, non_blocking=True),  # (B, 3, H, W)
            "color": outputs["color"].to(device, non_blocking=True),  # (B, 3, H, W)
            "palette": outputs["palette"].view(-1, 9, 3).to(device, non_blocking=True),
            "key": keys,
        }

    def _torch_epoch(self, epoch: int, skip_batches: int) -> Iterator[dict]:
        from sketchcolor.data.torch_loader import iterate_epoch, read_samples

        if self._samples is None:
            self._samples = read_samples(self.shards.tar_paths, self.shards.index_paths)
        yield from iterate_epoch(self._samples, self.config, epoch, skip_batches)


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
