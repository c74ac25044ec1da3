"""The DALI pipeline: read shards, decode each pair once, split it, resize, flip, normalise.

Kept as a small processing function over a reader (as in NVIDIA's examples), so the same
transforms serve any source of encoded pairs. Decoding is "mixed" (nvJPEG on the GPU) when a
device id is given and CPU otherwise (`device_id=None`), which is how the tests run it.

Usage:
    pipeline = build_pipeline(DaliPipelineConfig(paths=tars, index_paths=idxs, image_size=256))
    pipeline.build()
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nvidia.dali import fn, pipeline_def, types

from sketchcolor.errors import SketchcolorError

READER_NAME = "Reader"
OUTPUT_NAMES = ("color", "sketch", "palette", "source")


@dataclass(kw_only=True)
class DaliPipelineConfig:
    """Everything one DALI pipeline (one rank, one epoch) needs."""

    paths: list[str]
    """The split's tar files, in the order to read them."""

    index_paths: list[str]
    """The DALI index (`wds2idx` format) beside each tar, same order as `paths`."""

    image_size: int
    """Side of the square training image each half is resized to."""

    batch_size: int = 16
    """Samples per batch."""

    training: bool = True
    """Shuffle and flip when True; read in order, pad the shard end, no flip when False."""

    rank: int = 0
    """This process's shard of the samples (DALI `shard_id`)."""

    world_size: int = 1
    """Number of shards (DALI `num_shards`)."""

    seed: int = 0
    """Seeds the reader's shuffle and the flips; the same seed gives the same batches."""

    device_id: int | None = None
    """CUDA device for decoding and processing; None runs everything on the CPU."""

    num_threads: int = 2
    """CPU worker threads of the pipeline."""

    shuffle_buffer: int = 1024
    """Samples held for shuffling (DALI `initial_fill`); the shards are also globally shuffled."""

    prefetch: int = 2
    """Batches prepared ahead, so the GPU does not wait on data."""

    extra: dict = field(default_factory=dict)
    """Extra keyword arguments for the DALI Pipeline (for experiments)."""

    def __post_init__(self) -> None:
        if not self.paths or len(self.paths) != len(self.index_paths):
            raise SketchcolorError(
                "DALI pipeline needs one index file per tar, and at least one tar"
            )
        if self.image_size < 1 or self.batch_size < 1:
            raise SketchcolorError("image_size and batch_size must be positive")
        if not 0 <= self.rank < self.world_size:
            raise SketchcolorError(f"rank {self.rank} is outside world size {self.world_size}")


def read_shards(config: DaliPipelineConfig):
    """The webdataset reader: encoded pair bytes, palette floats (27,), source-info bytes."""
    encoded, palette = fn.readers.webdataset(
        paths=config.paths,
        index_paths=config.index_paths,
        ext=["jpg;png", "palette"],
        dtypes=[types.UINT8, types.FLOAT],  # the palette member is raw little-endian float32
        missing_component_behavior="error",
        shard_id=config.rank,
        num_shards=config.world_size,
        random_shuffle=config.training,
        initial_fill=config.shuffle_buffer,
        seed=config.seed,
        # Evaluation pads this rank's last batch with the last sample (the iterator cuts the
        # padding off), so no sample of the next epoch slips in.
        pad_last_batch=not config.training,
        name=READER_NAME,
    )
    # "tar:offset:KEY.jpg", padded with zeros to the batch's longest, decoded to keys in Python.
    source = fn.pad(fn.get_property(encoded, key="source_info"), axes=(0,), fill_value=0)
    return encoded, palette, source


def process_pairs(encoded, palette, config: DaliPipelineConfig):
    """Decode, split (colour left, sketch right), resize, paired flip, normalise to [-1, 1]."""
    decode_device = "mixed" if config.device_id is not None else "cpu"
    pair = fn.decoders.image(encoded, device=decode_device, output_type=types.RGB)  # (H, 2W, 3)
    size = config.image_size
    # Each half is cut out before resizing: resizing a region of the whole pair would let the
    # filter reach across the seam and bleed sketch pixels into the colour edge (and back).
    halves = [
        fn.resize(
            fn.slice(pair, rel_start=[start, 0.0], rel_shape=[0.5, 1.0], axis_names="WH"),
            size=[size, size],
            antialias=True,
        )
        for start in (0.0, 0.5)
    ]
    if config.training:
        # One coin per sample feeds both flips, so the colour and sketch halves stay aligned.
        flip = fn.random.coin_flip(probability=0.5, dtype=types.INT32)
        halves = [fn.flip(half, horizontal=flip) for half in halves]
    color, sketch = (
        fn.crop_mirror_normalize(
            half, dtype=types.FLOAT, output_layout="CHW", mean=[127.5] * 3, std=[127.5] * 3
        )
        for half in halves
    )
    if config.device_id is not None:
        palette = palette.gpu()
    return color, sketch, palette * 2.0 - 1.0


def build_pipeline(config: DaliPipelineConfig):
    """A DALI pipeline whose outputs are OUTPUT_NAMES: color, sketch (3, S, S), palette (27,), source."""

    @pipeline_def(
        batch_size=config.batch_size,
        num_threads=config.num_threads,
        device_id=config.device_id,
        seed=config.seed,
        prefetch_queue_depth=config.prefetch,
        **config.extra,
    )
    def pairs_pipeline():
        encoded, palette, source = read_shards(config)
        color, sketch, palette = process_pairs(encoded, palette, config)
        return color, sketch, palette, source

    return pairs_pipeline()
