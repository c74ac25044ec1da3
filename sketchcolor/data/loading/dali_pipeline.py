"""The DALI pipeline: read shards, decode each pair once, split it, resize, flip; uint8 CHW halves.

Kept as a small processing function over a reader (as in NVIDIA's examples), so the same
transforms serve any source of encoded pairs. Decoding is "mixed" (nvJPEG on the GPU) when the
loader's device is CUDA and CPU otherwise (`device_id=None`), which is how the tests run it.

Usage:
    pipeline = build_pipeline(DaliPipelineConfig(loader=loader_config, paths=tars, index_paths=idxs))
    pipeline.build()
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from nvidia.dali import fn, pipeline_def, types

from sketchcolor.data.loading.options import LoaderConfig
from sketchcolor.data.shards.region_maps import REGIONS_MEMBER
from sketchcolor.errors import SketchcolorError

READER_NAME = "Reader"
OUTPUT_NAMES = ("color", "sketch", "palette", "source")
REGIONS_OUTPUT = "regions"


@dataclass(kw_only=True)
class DaliPipelineConfig:
    """One DALI pipeline (one rank, one epoch): the loader's options plus this epoch's tars and seed."""

    loader: LoaderConfig
    """Image size, batch size, training, rank, world size, threads, prefetch and device."""

    paths: list[str]
    """This rank's tar files, in the order to read them this epoch."""

    index_paths: list[str]
    """The DALI index (`wds2idx` format) of each tar, same order as `paths`; for a tar this
    rank shares with a neighbour, one that lists only this rank's samples."""

    seed: int
    """This epoch's seed of the reader's shuffle and the flips (derived from the loader's seed,
    the epoch and the rank); the same seed gives the same batches."""

    stored_half_size: int | None = None
    """Side of every stored half (the manifest's half_size), None for mixed sizes: when it is
    the training size the resize is skipped (on a CPU it was half of the pipeline's time)."""

    regions: bool = False
    """The shards carry region maps (KEY.regions.png): read, decode, resize and flip them with
    the pair, as the output "regions" (S, S) int32."""

    shuffle_buffer: int = 1024
    """Samples held for shuffling (DALI `initial_fill`); the shards are also globally shuffled."""

    extra: dict = field(default_factory=dict)
    """Extra keyword arguments for the DALI Pipeline (for experiments)."""

    def __post_init__(self) -> None:
        if not self.paths or len(self.paths) != len(self.index_paths):
            raise SketchcolorError(
                "DALI pipeline needs one index file per tar, and at least one tar"
            )

    @property
    def output_names(self) -> tuple[str, ...]:
        return (*OUTPUT_NAMES, REGIONS_OUTPUT) if self.regions else OUTPUT_NAMES

    @property
    def device_id(self) -> int | None:
        """CUDA device for decoding and processing when the loader's device is CUDA; None
        (everything on the CPU) otherwise."""
        device = self.loader.device
        if device.type != "cuda":
            return None
        return device.index if device.index is not None else torch.cuda.current_device()


def read_shards(config: DaliPipelineConfig):
    """The webdataset reader: encoded pair bytes, palette floats (27,), source-info bytes, and
    the encoded region map when the shards carry them (else None)."""
    extensions, dtypes = ["jpg;png", "palette"], [types.UINT8, types.FLOAT]
    if config.regions:
        extensions, dtypes = [*extensions, REGIONS_MEMBER], [*dtypes, types.UINT8]
    encoded, palette, *regions = fn.readers.webdataset(
        paths=config.paths,
        index_paths=config.index_paths,
        ext=extensions,
        dtypes=dtypes,  # the palette member is raw little-endian float32
        missing_component_behavior="error",
        # `paths` hold this rank's part alone (dali_loader.rank_tars), so the reader reads
        # them all rather than sharding them again.
        shard_id=0,
        num_shards=1,
        random_shuffle=config.loader.training,
        initial_fill=config.shuffle_buffer,
        seed=config.seed,
        # Evaluation pads this rank's last batch with the last sample (the iterator cuts the
        # padding off), so no sample of the next epoch slips in.
        pad_last_batch=not config.loader.training,
        dont_use_mmap=config.loader.dont_use_mmap,
        name=READER_NAME,
    )
    # "tar:offset:KEY.jpg", padded with zeros to the batch's longest, decoded to keys in Python.
    source = fn.pad(fn.get_property(encoded, key="source_info"), axes=(0,), fill_value=0)
    return encoded, palette, source, (regions[0] if regions else None)


def process_regions(encoded, flip, config: DaliPipelineConfig):
    """A stored 16-bit region map -> (S, S) int32 ids at the training size, flipped with the
    pair (the same coin). Resized nearest-neighbour (ids are not blended); decoded on the CPU
    (PNG has no GPU decoder) in the pipeline that decodes the pair, then moved to its GPU."""
    decode = {"device": "cpu", "output_type": types.ANY_DATA, "dtype": types.UINT16}
    regions = fn.decoders.image(encoded, **decode)  # (S, S, 1) uint16
    if config.device_id is not None:
        regions = regions.gpu()
    size = config.loader.image_size
    if config.stored_half_size != size:
        regions = fn.resize(regions, size=[size, size], interp_type=types.INTERP_NN,
                            antialias=False)  # fmt: skip
    regions = fn.flip(regions, horizontal=flip)
    return fn.cast(fn.reshape(regions, layout="HW", rel_shape=[1, 1]), dtype=types.INT32)


def process_pairs(encoded, palette, config: DaliPipelineConfig):
    """Decode, split (colour left, sketch right), resize, paired flip: uint8 CHW halves."""
    device_id = config.device_id
    decode_device = "mixed" if device_id is not None else "cpu"
    pair = fn.decoders.image(encoded, device=decode_device, output_type=types.RGB)  # (H, 2W, 3)
    size = config.loader.image_size
    # One coin per sample feeds both flips, so the colour and sketch halves stay aligned; the
    # flip is crop_mirror_normalize's `mirror`, done in the same pass as the HWC -> CHW
    # transpose. The output stays uint8 (a quarter of float32's bytes through the iterator's
    # copy and to the device); `dali_batch` scales it to [-1, 1] in place.
    flip = fn.random.coin_flip(probability=0.5, dtype=types.INT32) if config.loader.training else 0
    if config.stored_half_size == size:
        # Stored at the training size: each half is cropped in that same pass (x = 0 or S of
        # the S x 2S pair); no slice copy, no resize (an identity resize was half the time).
        color, sketch = (
            fn.crop_mirror_normalize(
                pair,
                crop=(size, size),
                crop_pos_x=position,
                crop_pos_y=0.0,
                dtype=types.UINT8,
                output_layout="CHW",
                mirror=flip,
            )  # fmt: skip
            for position in (0.0, 1.0)
        )
    else:
        # Each half is cut out before resizing: resizing a region of the whole pair would let
        # the filter reach across the seam and bleed sketch pixels into the colour edge.
        color, sketch = (
            fn.crop_mirror_normalize(
                fn.resize(
                    fn.slice(pair, rel_start=[start, 0.0], rel_shape=[0.5, 1.0], axis_names="WH"),
                    size=[size, size],
                    antialias=True,
                ),
                dtype=types.UINT8,
                output_layout="CHW",
                mirror=flip,
            )  # fmt: skip
            for start in (0.0, 0.5)
        )
    if device_id is not None:
        palette = palette.gpu()
    return color, sketch, palette * 2.0 - 1.0, flip


def build_pipeline(config: DaliPipelineConfig):
    """A DALI pipeline whose outputs are `config.output_names`: color, sketch (3, S, S) uint8,
    palette (27,) in [-1, 1], source, and regions (S, S) int32 when the shards carry them."""

    @pipeline_def(
        batch_size=config.loader.batch_size,
        # num_workers 0 means "no worker processes" to torch; DALI needs at least one thread.
        num_threads=max(1, config.loader.num_workers),
        device_id=config.device_id,
        seed=config.seed,
        prefetch_queue_depth=config.loader.prefetch,
        **config.extra,
    )
    def pairs_pipeline():
        encoded, palette, source, encoded_regions = read_shards(config)
        color, sketch, palette, flip = process_pairs(encoded, palette, config)
        if encoded_regions is None:
            return color, sketch, palette, source
        return color, sketch, palette, source, process_regions(encoded_regions, flip, config)

    return pairs_pipeline()
