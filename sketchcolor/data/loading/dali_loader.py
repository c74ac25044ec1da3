"""The DALI backend of the loader: one fresh pipeline per epoch, batches as the loader contract says.

Each epoch's pipeline depends only on (seed, epoch, rank), which makes resuming exact; so that
its build is not paid inside the epoch, the next epoch's pipeline is built in a background
thread while this one runs (`PipelineBuilder`).

Usage: for batch in dali_epoch(PipelineBuilder(shards, config), epoch=0, skip_batches=0,
                               length=len(loader)): ...
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from sketchcolor.data.loading.options import LoaderConfig
from sketchcolor.data.shards.manifest import SplitShards
from sketchcolor.util.images import pixels_to_images
from sketchcolor.util.seeding import mixed_seed


class PipelineBuilder:
    """Built pipelines by epoch; `ahead(epoch)` starts building one in a background thread.

    DALI keeps its current-pipeline context per thread, so a build on the worker thread does
    not disturb the pipeline running on this one. A pipeline built ahead is the one a fresh
    build would give, so which epoch a run starts at never changes its batches.
    """

    def __init__(self, shards: SplitShards, config: LoaderConfig) -> None:
        self.shards, self.config = shards, config
        self._executor: ThreadPoolExecutor | None = None
        self._ahead: tuple[int, Future] | None = None

    def build(self, epoch: int):
        from sketchcolor.data.loading.dali_pipeline import build_pipeline

        pipeline_config = dali_pipeline_config(self.shards, self.config, epoch)
        if self.shards.remote is not None:
            # DALI's reader opens every listed tar when it is built: stage this rank's first.
            self.shards.remote.ensure_all(pipeline_config.paths)
        pipeline = build_pipeline(pipeline_config)
        pipeline.build()
        return pipeline

    def ahead(self, epoch: int) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dali-build")
        self._ahead = (epoch, self._executor.submit(self.build, epoch))

    def take(self, epoch: int):
        """Epoch `epoch`'s pipeline: the one built ahead when it is that epoch's, else a new one."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            built_for, future = ahead
            pipeline = future.result()  # a build error surfaces here, in the training thread
            if built_for == epoch:
                return pipeline
            del pipeline  # built for another epoch (a resume, or an evaluation re-read)
        return self.build(epoch)


def dali_epoch(
    builder: PipelineBuilder, epoch: int, skip_batches: int, length: int
) -> Iterator[dict]:
    """The batches of `epoch` from its own DALI pipeline; `length` batches at most.

    builder: keeps pipelines across epochs; in training it builds epoch + 1's while this
    epoch runs.
    """
    from nvidia.dali.plugin.pytorch import DALIGenericIterator, LastBatchPolicy

    from sketchcolor.data.loading.dali_pipeline import OUTPUT_NAMES, READER_NAME, REGIONS_OUTPUT

    config = builder.config
    # Each epoch has its own pipeline, seeded from (seed, epoch, rank): the epoch's batches do
    # not depend on what ran before, which is what makes resuming exact.
    pipeline = builder.take(epoch)
    if config.training:
        builder.ahead(epoch + 1)
    names = [*OUTPUT_NAMES, REGIONS_OUTPUT] if builder.shards.regions else list(OUTPUT_NAMES)
    iterator = DALIGenericIterator(
        [pipeline],
        names,
        reader_name=READER_NAME,
        last_batch_policy=LastBatchPolicy.DROP if config.training else LastBatchPolicy.PARTIAL,
    )
    try:
        for index, outputs in enumerate(iterator):
            if index >= length:
                break  # ranks with one extra sample stop with the others
            if index >= skip_batches:
                yield dali_batch(outputs[0], config.device)
    finally:
        del iterator, pipeline


def dali_pipeline_config(shards: SplitShards, config: LoaderConfig, epoch: int):
    """This rank's pipeline options for `epoch`: the tars of its part, in this epoch's order
    (training visits them in a new order each epoch), and its seed."""
    from sketchcolor.data.loading.dali_pipeline import DaliPipelineConfig

    tar_paths, index_paths = shards.tar_paths, shards.index_paths
    if config.training:
        # Visit the tars in a new order each epoch (the same on every rank, so the ranks'
        # contiguous parts stay disjoint); the reader's buffer shuffles within them.
        order = np.random.default_rng(mixed_seed(config.seed, epoch, bits=31)).permutation(
            len(tar_paths)
        )
        tar_paths = [tar_paths[i] for i in order]
        index_paths = [index_paths[i] for i in order]
    tar_paths, index_paths = rank_tars(tar_paths, index_paths, config)
    return DaliPipelineConfig(
        loader=config,
        paths=tar_paths,
        index_paths=index_paths,
        seed=mixed_seed(config.seed, epoch, config.rank, bits=31),
        stored_half_size=shards.half_size,
        regions=shards.regions,
    )


def rank_tars(
    tar_paths: list[str], index_paths: list[str], config: LoaderConfig
) -> tuple[list[str], list[str]]:
    """The tars that hold this rank's contiguous part (`config.part`) of the samples in this
    tar order, and their indexes: a tar the part covers only in part gets an index of just
    those samples, so the reader, given these alone, reads exactly the part.

    Why not hand DALI every tar with its `shard_id`: its reader opens every tar it is given
    when it is built, so on s3:// shards each node would stage the whole split.
    """
    part, start = config.part(sum(map(index_count, index_paths))), 0
    tars, indexes = [], []
    for tar, index in zip(tar_paths, index_paths, strict=True):
        count = index_count(index)
        first, stop = max(part.start - start, 0), min(part.stop - start, count)
        start += count
        if first < stop:
            tars.append(tar)
            indexes.append(index if stop - first == count else trimmed_index(index, first, stop))
    return tars, indexes


@functools.cache
def index_count(index: str) -> int:
    """Samples listed in a DALI index (its header says "v1.2 COUNT")."""
    with open(index) as file:
        return int(file.readline().split()[1])


def trimmed_index(index: str, first: int, stop: int) -> str:
    """A copy of `index` listing only samples [first, stop), in this process's temp folder."""
    path = trimmed_index_folder() / f"{Path(index).stem}.{first}-{stop}.idx"
    if not path.is_file():
        lines = Path(index).read_text().splitlines()[1 + first : 1 + stop]
        path.write_text("".join(f"{line}\n" for line in [f"v1.2 {stop - first}", *lines]))
    return str(path)


@functools.cache
def trimmed_index_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="sketchcolor-dali-index-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def dali_batch(outputs: dict, device: torch.device) -> dict:
    # The only per-sample Python on the DALI path: the contract's `key` is a list of B
    # strings, so B short byte strings are decoded here; every pixel is DALI's work.
    keys = []
    for row in outputs["source"].numpy():  # (B, L) uint8 "tar:offset:KEY.ext", zero-padded
        name = bytes(row[row > 0]).decode().rsplit(":", 1)[-1]
        keys.append(name.split(".", 1)[0])
    batch = {
        "sketch": pixels_to_images(outputs["sketch"], device),  # (B, 3, H, W)
        "color": pixels_to_images(outputs["color"], device),  # (B, 3, H, W)
        "palette": outputs["palette"].view(-1, 9, 3).to(device, non_blocking=True),
        "key": keys,
    }
    if "regions" in outputs:  # (B, H, W) int32 region ids, aligned with the pair
        batch["regions"] = outputs["regions"].to(device, non_blocking=True)
    return batch


@functools.cache
def dali_gpu_problem(device_id: int) -> str | None:
    """None when a one-operator DALI pipeline builds and runs on GPU `device_id`, else why not
    in one line (a DALI build for a newer CUDA than the driver's fails here, not mid-run).
    Probed once per process."""
    try:
        from nvidia.dali import fn, pipeline_def

        @pipeline_def(batch_size=1, num_threads=1, device_id=device_id)
        def probe():
            return fn.random.uniform(device="gpu", range=[0.0, 1.0], shape=[1])

        pipeline = probe()
        pipeline.build()
        pipeline.run()
        del pipeline
    except Exception as error:  # any failure means: do not train on DALI here
        lines = str(error).strip().splitlines() or [""]
        return f"{type(error).__name__}: {lines[0][:200]}"
    return None
