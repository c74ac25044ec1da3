"""The fallback loader: the same batches as the DALI path, from a torch DataLoader with workers.

Samples are read by random access through the DALI `.idx` files that sit beside every tar
(member offsets and sizes), decoded with torchvision in the workers, and finished on the
device (normalise) as whole-batch tensor ops; the paired flip is done in the workers.

The tars are read by random access through those indexes rather than streamed with the
`webdataset` library, because the contract needs DALI's sample-level rank parts, a seeded order
over the whole split and free `skip_batches` on resume, which tar-level streaming cannot give.

Usage:
    samples = read_samples(tar_paths, index_paths)
    config = LoaderConfig(image_size=256, batch_size=16, device=torch.device("cpu"), backend="torch")
    for batch in TorchEpochs(samples, config).epoch(0):
        ...
"""

from __future__ import annotations

import atexit
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torchvision.io
import torchvision.transforms.v2.functional as functional
from torch.utils.data import DataLoader, Dataset

from sketchcolor.data.loading.options import LoaderConfig
from sketchcolor.data.shards.dali_index import INDEX_VERSION
from sketchcolor.data.shards.region_maps import REGIONS_MEMBER
from sketchcolor.errors import SketchcolorError
from sketchcolor.util.images import pixels_to_images
from sketchcolor.util.seeding import mixed_seed
from sketchcolor.util.stop_signals import ignore_stop_signals

IMAGE_EXTENSIONS = ("jpg", "png")


class Sample(NamedTuple):
    """Where one pair's members lie in its tar."""

    key: str
    tar: str
    image_offset: int
    image_size: int
    palette_offset: int
    palette_size: int
    regions_offset: int = -1
    """Where the sample's region map (KEY.regions.png) lies; -1 when it has none."""
    regions_size: int = 0


def read_samples(tar_paths: list[str], index_paths: list[str]) -> list[Sample]:
    """Every sample of the tars, in stored order, from their DALI index files."""
    samples = []
    for tar, index in zip(tar_paths, index_paths, strict=True):
        samples.extend(_read_index(Path(tar), Path(index)))
    return samples


def _read_index(tar: Path, index: Path) -> list[Sample]:
    lines = index.read_text().splitlines()
    if not lines or not lines[0].startswith(INDEX_VERSION):
        raise SketchcolorError(f"{index}: not a DALI webdataset index (expected a 'v1.2 N' header)")
    samples = []
    for line_number, line in enumerate(lines[1:], start=2):
        fields = line.split()
        members = {}
        for position in range(0, len(fields) - 3, 4):
            extension, offset, size, name = fields[position : position + 4]
            members[extension] = (int(offset), int(size), name)
        image = next((members[e] for e in IMAGE_EXTENSIONS if e in members), None)
        if image is None or "palette" not in members:
            raise SketchcolorError(f"{index}:{line_number}: sample lacks an image or a palette")
        key = image[2].split(".", 1)[0]
        regions = members.get(REGIONS_MEMBER, (-1, 0))
        samples.append(Sample(key, str(tar), image[0], image[1], *members["palette"][:2],
                              *regions[:2]))  # fmt: skip
    return samples


class PairDataset(Dataset):
    """Reads, decodes, splits and resizes pair `index`: uint8 halves, float palette, key."""

    def __init__(self, samples: list[Sample], image_size: int, remote=None, regions=False):
        self.samples = samples
        self.image_size = image_size
        self.regions = regions  # read each sample's stored region map too
        self.remote = remote  # s3:// shards: RemoteShards stages a tar before its first read
        self._files: dict[str, object] = {}  # opened lazily, once per worker process

    def __len__(self) -> int:
        return len(self.samples)

    def _read(self, tar: str, offset: int, size: int) -> bytes:
        handle = self._files.get(tar)
        if handle is None:
            if self.remote is not None:
                self.remote.ensure(tar)  # normally prefetched already; else fetched now
            handle = self._files[tar] = open(tar, "rb")  # noqa: SIM115 (kept open for the worker's life)
        handle.seek(offset)
        return handle.read(size)

    def __getitem__(self, item: tuple[int, bool]) -> dict:
        """item: (sample index, flip); the paired flip is done here, on the small uint8 halves."""
        index, flip = item
        sample = self.samples[index]
        encoded = torch.frombuffer(
            bytearray(self._read(sample.tar, sample.image_offset, sample.image_size)),
            dtype=torch.uint8,
        )
        pair = torchvision.io.decode_image(encoded, mode=torchvision.io.ImageReadMode.RGB)
        half = pair.shape[-1] // 2  # (3, S, 2S): colour left, sketch right
        size = [self.image_size, self.image_size]
        halves = []
        for part in (pair[:, :, :half], pair[:, :, half : 2 * half]):
            resized = functional.resize(part, size, antialias=True)  # (3, H, W) uint8
            halves.append(resized.flip(-1) if flip else resized)
        raw = self._read(sample.tar, sample.palette_offset, sample.palette_size)
        palette = torch.from_numpy(np.frombuffer(raw, dtype="<f4").copy()).view(9, 3)
        item = {"color": halves[0], "sketch": halves[1], "palette": palette, "key": sample.key}
        if self.regions:
            item["regions"] = self._regions(sample, flip)
        return item

    def _regions(self, sample: Sample, flip: bool) -> torch.Tensor:
        """The stored region map, resized nearest-neighbour and flipped with the pair: (S, S)
        int32."""
        if sample.regions_offset < 0:
            raise SketchcolorError(f"{sample.tar}: sample {sample.key} has no region map")
        encoded = torch.frombuffer(
            bytearray(self._read(sample.tar, sample.regions_offset, sample.regions_size)),
            dtype=torch.uint8,
        )
        mode = torchvision.io.ImageReadMode.UNCHANGED
        regions = nearest_resize(torchvision.io.decode_image(encoded, mode=mode)[0].to(torch.int32),
                                 self.image_size)  # fmt: skip
        return regions.flip(-1) if flip else regions


def nearest_resize(ids: torch.Tensor, size: int) -> torch.Tensor:
    """(H, W) ids -> (size, size), each output pixel the id under its centre (as DALI's
    INTERP_NN: no id is blended or invented)."""
    height, width = ids.shape[-2:]
    if (height, width) == (size, size):
        return ids
    rows = ((torch.arange(size) + 0.5) * (height / size)).long().clamp(max=height - 1)
    columns = ((torch.arange(size) + 0.5) * (width / size)).long().clamp(max=width - 1)
    return ids[..., rows[:, None], columns[None, :]]


def epoch_order(count: int, config: LoaderConfig, epoch: int) -> tuple[list[int], torch.Tensor]:
    """This rank's sample indices for `epoch`, and a flip flag for each position.

    Training permutes all samples with a generator seeded by (seed, epoch), identical on every
    rank, then takes this rank's contiguous part, so ranks stay disjoint.
    """
    generator = torch.Generator().manual_seed(mixed_seed(config.seed, epoch, bits=31))
    order = torch.randperm(count, generator=generator) if config.training else torch.arange(count)
    part_range = config.part(count)
    part = order[part_range.start : part_range.stop]
    flips = torch.rand(len(part), generator=generator) < 0.5
    if not config.training:
        flips = torch.zeros(len(part), dtype=torch.bool)
    return part.tolist(), flips


def batch_positions(count: int, part_size: int, config: LoaderConfig) -> list[list[int]]:
    """Positions in this rank's order, grouped into batches.

    Training keeps only full batches, and only as many as the smallest rank part fills, so
    every rank takes the same number of steps.
    """
    if config.training:
        steps = (count // config.world_size) // config.batch_size
        part_size = steps * config.batch_size
    return [
        list(range(start, min(start + config.batch_size, part_size)))
        for start in range(0, part_size, config.batch_size)
    ]


def finish_batch(batch: dict, device: torch.device) -> dict:
    """uint8 halves (already flipped in the workers) -> float [-1, 1] on the device."""
    finished = {"key": list(batch["key"])}
    for name in ("color", "sketch"):
        finished[name] = pixels_to_images(batch[name], device)  # (B, 3, H, W)
    finished["palette"] = batch["palette"].to(device, non_blocking=True) * 2.0 - 1.0  # (B, 9, 3)
    if "regions" in batch:
        finished["regions"] = batch["regions"].to(device, non_blocking=True)  # (B, H, W) int32
    return finished


class EpochBatches:
    """A batch sampler whose batches are set before each epoch (the DataLoader outlives it)."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


# The live worker-backed epoch iterators of this process, stopped before the interpreter exits.
_WORKER_ITERATORS: weakref.WeakSet = weakref.WeakSet()


def stop_workers_at_exit() -> None:
    """Stop every persistent worker while this process can still do so.

    Without this, exit hangs: torch skips its own worker shutdown once the interpreter is
    exiting, and multiprocessing then only terminate()s its daemonic children with SIGTERM,
    which these workers ignore (`ignore_stop_signals`), and waits for them forever. torch has
    no public close for persistent workers; `_shutdown_workers` is what its iterator's own
    `__del__` calls. A worker that does not leave within a second is killed (SIGKILL).
    """
    for iterator in list(_WORKER_ITERATORS):
        iterator._shutdown_workers()
        for worker in getattr(iterator, "_workers", ()):
            worker.join(timeout=1.0)
            if worker.is_alive():
                worker.kill()


def _track_workers(iterator) -> None:
    if not _WORKER_ITERATORS:
        # (Re-)registered after torch's and multiprocessing's exit hooks, so it runs before them.
        atexit.unregister(stop_workers_at_exit)
        atexit.register(stop_workers_at_exit)
    _WORKER_ITERATORS.add(iterator)


class TorchEpochs:
    """The epochs of one split for one rank, served by one DataLoader (one per PairLoader).

    Its worker processes outlive each epoch and keep their tars open: restarting them every
    epoch cost more than a short epoch's decoding (0.3-1 s on 2 cores).
    """

    def __init__(self, samples: list[Sample], config: LoaderConfig, remote=None, regions=False):
        self.samples = samples
        self.config = config
        self.remote = remote
        workers = config.num_workers > 0
        self.loader = DataLoader(
            PairDataset(samples, config.image_size, remote, regions),
            batch_sampler=EpochBatches(),
            num_workers=config.num_workers,
            # prefetch_factor and persistent workers are only valid with worker processes
            prefetch_factor=config.prefetch if workers else None,
            pin_memory=config.device.type == "cuda",
            persistent_workers=workers,
            # A stop signal sent to every process must reach the training loop, not kill a worker.
            worker_init_fn=ignore_stop_signals if workers else None,
        )

    def epoch(self, epoch: int, skip_batches: int = 0) -> Iterator[dict]:
        """Yield the batches of `epoch` for this rank, starting after `skip_batches`."""
        order, flips = epoch_order(len(self.samples), self.config, epoch)
        batches = batch_positions(len(self.samples), len(order), self.config)[skip_batches:]
        if not batches:
            return
        # Read by the DataLoader in this process when the epoch's iterator starts; an epoch left
        # early is drained by the persistent workers' reset at the next one.
        if self.remote is not None:
            # s3:// shards: stage this epoch's tars in the order its batches first open them.
            needed = (self.samples[order[position]].tar for batch in batches for position in batch)
            self.remote.prefetch(list(dict.fromkeys(needed)))
        flips = flips.tolist()
        self.loader.batch_sampler.batches = [
            [(order[position], flips[position]) for position in batch] for batch in batches
        ]
        batch_iterator = iter(self.loader)
        if self.config.num_workers > 0:
            _track_workers(batch_iterator)
        try:
            for batch in batch_iterator:
                yield finish_batch(batch, self.config.device)
        except SketchcolorError as error:
            raise SketchcolorError(worker_message(error)) from None


def worker_message(error: SketchcolorError) -> str:
    """The one line of an error raised in a worker (torch re-raises it with the worker's
    traceback folded into the message), e.g. a tar of s3:// shards that could not be staged."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Caught "):
        return lines[-1].split("SketchcolorError: ", 1)[-1]
    return str(error)
