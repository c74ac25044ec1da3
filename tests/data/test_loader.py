"""The loader on real shards from `sketchcolor synth`: DALI CPU pipelines and the torch fallback."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sketchcolor.data.loading.loader import create_loader
from sketchcolor.errors import SketchcolorError

BACKENDS = ["dali", "torch"]


def split_members(shard_dir: Path, split: str) -> dict[str, dict[str, bytes]]:
    """key -> {"id": ..., "palette": ...} read straight from the split's tars."""
    manifest = json.loads((shard_dir / "manifest.json").read_text())
    members: dict[str, dict[str, bytes]] = {}
    for shard in manifest["splits"][split]["shards"]:
        with tarfile.open(shard_dir / shard["tar"]) as tar:
            for member in tar.getmembers():
                key, extension = member.name.split(".", 1)
                members.setdefault(key, {})[extension] = tar.extractfile(member).read()
    return members


def source_halves(
    synth_root: Path, split: str, source_id: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """The source PNG's colour (left) and sketch (right) halves, (3, S, S) in [-1, 1]."""
    pair = np.asarray(Image.open(synth_root / "data" / split / f"{source_id}.png").convert("RGB"))
    image = torch.from_numpy(pair.copy()).permute(2, 0, 1).float() / 127.5 - 1
    half = image.shape[-1] // 2
    return image[:, :, :half], image[:, :, half:]


def make_loader(shard_dir: Path, **options):
    """`create_loader` with the tests' usual options (val split, 32 px, batch 4, evaluation
    order, one worker), each overridden by `options`."""
    usual = {
        "split": "val",
        "image_size": 32,
        "batch_size": 4,
        "training": False,
        "num_workers": 1,
    }
    return create_loader(shard_dir, **{**usual, **options})


def collect(loader, epoch: int = 0, skip_batches: int = 0) -> list[dict]:
    return list(loader.epoch(epoch, skip_batches=skip_batches))


def samples_of(batches: list[dict]) -> Iterator[tuple[dict, int, str]]:
    """(batch, index in the batch, key) for every sample of `batches`."""
    for batch in batches:
        for index, key in enumerate(batch["key"]):
            yield batch, index, key


def train_halves_with_sources(shard_dir: Path, synth_root: Path, **options):
    """A 64 px train loader and, per sample it gives: key, loaded colour and sketch halves,
    the source PNG's colour and sketch halves."""
    members = split_members(shard_dir, "train")
    loader = make_loader(shard_dir, split="train", image_size=64, **options)
    halves = []
    for batch, index, key in samples_of(collect(loader)):
        color, sketch = source_halves(synth_root, "train", members[key]["id"].decode())
        halves.append((key, batch["color"][index], batch["sketch"][index], color, sketch))
    return loader, halves


def keys_of(batches: list[dict]) -> list[str]:
    return [key for batch in batches for key in batch["key"]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_batches_have_the_contract_shapes(shard_dir, backend):
    loader = make_loader(shard_dir, batch_size=3, backend=backend)
    batches = collect(loader)
    assert len(loader) == len(batches) == 3  # 8 samples: 3 + 3 + 2
    assert [len(batch["key"]) for batch in batches] == [3, 3, 2]
    first = batches[0]
    assert first["sketch"].shape == first["color"].shape == (3, 3, 32, 32)
    assert first["palette"].shape == (3, 9, 3)
    for name in ("sketch", "color", "palette"):
        assert first[name].dtype == torch.float32
        assert first[name].min() >= -1 and first[name].max() <= 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_halves_are_not_swapped_and_match_the_source(shard_dir, synth_root, backend):
    _, halves = train_halves_with_sources(shard_dir, synth_root, backend=backend)
    assert halves  # a loop over nothing would pass
    for _, got_color, got_sketch, color, sketch in halves:
        # JPEG costs a little; the other half is far away.
        assert (got_color - color).abs().mean() < 0.06
        assert (got_sketch - sketch).abs().mean() < 0.06
        assert (got_color - sketch).abs().mean() > 0.2
        # Synthetic colour halves are colourful; sketches are gray/white line art.
        assert got_color.std(dim=0).mean() > 3 * got_sketch.std(dim=0).mean()


@pytest.mark.parametrize("backend", BACKENDS)
def test_palette_is_the_stored_palette(shard_dir, backend):
    members = split_members(shard_dir, "val")
    samples = list(samples_of(collect(make_loader(shard_dir, backend=backend))))
    assert samples  # a loop over nothing would pass
    for batch, index, key in samples:
        stored = np.frombuffer(members[key]["palette"], dtype="<f4").reshape(9, 3)
        expected = torch.from_numpy(stored.copy()) * 2 - 1
        torch.testing.assert_close(batch["palette"][index], expected)


@pytest.mark.parametrize("backend", BACKENDS)
def test_flip_hits_both_halves_alike(shard_dir, synth_root, backend):
    loader, halves = train_halves_with_sources(
        shard_dir, synth_root, backend=backend, training=True, seed=3
    )
    flipped_count = 0
    assert halves  # a loop over nothing would pass
    for key, got_color, got_sketch, color, sketch in halves:
        color_flipped = (got_color - color.flip(-1)).abs().mean() < (got_color - color).abs().mean()
        sketch_flipped = (got_sketch - sketch.flip(-1)).abs().mean() < (
            got_sketch - sketch
        ).abs().mean()
        assert color_flipped == sketch_flipped, f"{key}: only one half was flipped"
        reference = color.flip(-1) if color_flipped else color
        assert (got_color - reference).abs().mean() < 0.06
        flipped_count += int(color_flipped)
    assert 0 < flipped_count < len(loader) * 4, "the flip never (or always) happened"


# (world size, batch size): 2 ranks of equal parts; 3 ranks of val's 8 samples get 2, 3, 3 (the
# short rank's last batch is padded by DALI and the padding cut off), and 5 ranks get 4 or 5
# of train's 24 with batch 2, so some ranks end on a partial batch and some on a full one.
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("split", "world_size", "batch_size"),
    [("train", 2, 5), ("val", 2, 5), ("val", 3, 2), ("train", 5, 2)],
)
def test_ranks_are_disjoint_and_cover_the_split_once_in_evaluation(
    shard_dir, backend, split, world_size, batch_size
):
    all_keys = set(split_members(shard_dir, split))
    seen = []
    for rank in range(world_size):
        loader = make_loader(
            shard_dir,
            split=split,
            batch_size=batch_size,
            backend=backend,
            rank=rank,
            world_size=world_size,
        )
        batches = collect(loader)
        keys = keys_of(batches)
        assert len(keys) == len(set(keys)) == loader.part_size(), "a sample seen twice or missed"
        assert len(batches) == len(loader)
        assert all(batch["color"].shape[0] == len(batch["key"]) for batch in batches)
        seen.append(keys)
    # Contiguous parts in tar order, the way DALI's reader shards: rank r holds samples
    # count*r//world .. count*(r+1)//world.
    count = len(all_keys)
    assert [len(keys) for keys in seen] == [
        count * (rank + 1) // world_size - count * rank // world_size for rank in range(world_size)
    ]
    everything = [key for keys in seen for key in keys]
    assert len(everything) == len(set(everything)) == count
    assert set(everything) == all_keys


# 24 train samples: 3 ranks get 8 each; 5 ranks get 4 or 5, and the ranks with 5 must still
# stop after the same number of steps as the others.
@pytest.mark.parametrize(("world_size", "batch_size", "steps"), [(3, 5, 1), (5, 2, 2), (5, 1, 4)])
@pytest.mark.parametrize("backend", BACKENDS)
def test_training_ranks_are_disjoint_with_equal_full_batches(
    shard_dir, backend, world_size, batch_size, steps
):
    loaders = [
        make_loader(
            shard_dir,
            split="train",
            batch_size=batch_size,
            backend=backend,
            training=True,
            rank=rank,
            world_size=world_size,
            seed=1,
        )
        for rank in range(world_size)
    ]
    batches = [collect(loader, epoch=2) for loader in loaders]
    assert [len(b) for b in batches] == [len(loader) for loader in loaders] == [steps] * world_size
    assert all(
        len(batch["key"]) == batch_size for rank_batches in batches for batch in rank_batches
    )
    key_sets = [set(keys_of(rank_batches)) for rank_batches in batches]
    total = world_size * steps * batch_size
    assert sum(len(keys) for keys in key_sets) == len(set().union(*key_sets)) == total


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_seed_and_epoch_repeat_and_skip_batches_resumes(shard_dir, backend):
    def make(seed):
        return make_loader(shard_dir, split="train", backend=backend, training=True, seed=seed)

    loader = make(7)
    first = collect(loader, epoch=1)
    again = collect(make(7), epoch=1)
    assert keys_of(first) == keys_of(again)
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a["color"], b["color"]) and torch.equal(a["sketch"], b["sketch"])
    resumed = collect(loader, epoch=1, skip_batches=2)
    assert keys_of(resumed) == keys_of(first[2:])
    assert torch.equal(resumed[0]["color"], first[2]["color"])
    assert keys_of(collect(loader, epoch=2)) != keys_of(first), "epochs should differ in order"
    assert keys_of(collect(make(8), epoch=1)) != keys_of(first), "seeds should differ in order"


@pytest.mark.parametrize("image_size", [64, 32])
def test_dali_and_torch_batches_agree_without_augmentation(shard_dir, image_size):
    loaders = {
        backend: make_loader(
            shard_dir, image_size=image_size, backend=backend, rank=1, world_size=2
        )
        for backend in BACKENDS
    }
    dali_batches, torch_batches = (collect(loaders[backend]) for backend in BACKENDS)
    assert keys_of(dali_batches) == keys_of(torch_batches)
    for dali_batch, torch_batch in zip(dali_batches, torch_batches, strict=True):
        torch.testing.assert_close(dali_batch["palette"], torch_batch["palette"])
        for name in ("color", "sketch"):
            difference = (dali_batch[name] - torch_batch[name]).abs()
            if image_size == 64:  # no resize: only the JPEG decoders could differ
                assert difference.max() <= 4 / 127.5
            else:  # two antialiased resize kernels differ a little at hard line edges
                assert difference.mean() < 0.01


@pytest.mark.parametrize("backend", BACKENDS)
def test_prefetch_depth_never_changes_the_batches(shard_dir, backend):
    def keys_and_colors(prefetch: int, num_workers: int):
        loader = make_loader(
            shard_dir,
            split="train",
            backend=backend,
            training=True,
            seed=3,
            num_workers=num_workers,
            prefetch=prefetch,
        )
        batches = collect(loader, epoch=1)
        return keys_of(batches), torch.cat([batch["color"] for batch in batches])

    shallow_keys, shallow_colors = keys_and_colors(prefetch=1, num_workers=1)
    deep_keys, deep_colors = keys_and_colors(prefetch=4, num_workers=2)
    assert shallow_keys == deep_keys and len(set(deep_keys)) == 24
    assert torch.equal(shallow_colors, deep_colors)
    with pytest.raises(SketchcolorError, match="prefetch"):
        create_loader(shard_dir, split="train", image_size=32, batch_size=4, prefetch=0)


def test_bad_requests_raise_clear_errors(shard_dir, tmp_path):
    with pytest.raises(SketchcolorError, match="no manifest"):
        create_loader(tmp_path, split="train", image_size=32, batch_size=4)
    with pytest.raises(SketchcolorError, match="no split 'test'"):
        create_loader(shard_dir, split="test", image_size=32, batch_size=4)
    with pytest.raises(SketchcolorError, match="unknown loader"):
        create_loader(shard_dir, split="train", image_size=32, batch_size=4, backend="pil")
    with pytest.raises(SketchcolorError, match="too few"):
        create_loader(shard_dir, split="val", image_size=32, batch_size=16)


@pytest.mark.gpu
def test_dali_gpu_decode_matches_cpu(shard_dir):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    batches = {
        device: collect(make_loader(shard_dir, image_size=64, device=device))
        for device in ("cpu", "cuda:0")
    }
    assert batches["cpu"]  # a loop over nothing would pass
    for cpu_batch, gpu_batch in zip(batches["cpu"], batches["cuda:0"], strict=True):
        assert cpu_batch["key"] == gpu_batch["key"]
        assert gpu_batch["color"].device.type == "cuda"
        # nvJPEG and libjpeg-turbo round the chroma a little differently.
        assert (cpu_batch["color"] - gpu_batch["color"].cpu()).abs().mean() < 0.01
        assert (cpu_batch["sketch"] - gpu_batch["sketch"].cpu()).abs().mean() < 0.01


def test_torch_workers_outlive_an_epoch_and_an_abandoned_epoch_changes_nothing(shard_dir):
    """The torch backend keeps its DataLoader (persistent workers) between epochs."""

    def open_loader():
        return create_loader(shard_dir, image_size=32, batch_size=4, backend="torch",
                             num_workers=2)  # fmt: skip

    loader = open_loader()
    first = [batch["key"] for batch in loader.epoch(1)]
    workers = loader._torch_epochs.loader
    next(iter(loader.epoch(0)))  # left after one batch: its prefetched batches must not leak
    assert [batch["key"] for batch in loader.epoch(1)] == first
    assert loader._torch_epochs.loader is workers
    assert [batch["key"] for batch in open_loader().epoch(1)] == first


def test_a_process_left_with_live_persistent_workers_exits(shard_dir):
    """Workers ignore stop signals, and at exit multiprocessing only SIGTERMs them: without
    the loader's exit hook this process would wait for them forever."""
    script = (
        "import sys\n"
        "from sketchcolor.data.loading.loader import create_loader\n"
        "loader = create_loader(sys.argv[1], image_size=32, batch_size=4, backend='torch',\n"
        "                       num_workers=2)\n"
        "list(loader.epoch(0))\n"  # a whole epoch: the workers stay for the next one
        "next(iter(loader.epoch(1)))\n"  # and one left after a batch, its prefetch in flight
        "print('left', flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(shard_dir)], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "left\n"), done.stderr


def test_dont_use_mmap_reads_the_same_batches(shard_dir):
    """The network-file-system option only changes how DALI reads the tars."""

    def keys(**options):
        loader = create_loader(shard_dir, image_size=32, batch_size=4, backend="dali", **options)
        return [batch["key"] for batch in loader.epoch(0)], loader.config.dont_use_mmap

    mapped, mapped_flag = keys()
    read, read_flag = keys(dont_use_mmap=True)
    assert read == mapped and (mapped_flag, read_flag) == (False, True)


def test_dali_builds_the_next_epoch_ahead_and_gives_the_same_batches(shard_dir, monkeypatch):
    """Epoch n + 1's pipeline is built on a background thread while epoch n runs; its batches
    equal a fresh loader's (what a resume at epoch n + 1 builds)."""
    import threading

    from sketchcolor.data.loading import dali_loader

    built_on = []
    real_build = dali_loader.PipelineBuilder.build

    def build(self, epoch):
        built_on.append((epoch, threading.current_thread().name.startswith("dali-build")))
        return real_build(self, epoch)

    monkeypatch.setattr(dali_loader.PipelineBuilder, "build", build)

    def open_loader():
        return create_loader(shard_dir, image_size=32, batch_size=4, backend="dali")

    loader = open_loader()
    epochs = [[batch["key"] for batch in loader.epoch(number)] for number in (0, 1, 2)]
    assert sorted(built_on)[:3] == [(0, False), (1, True), (2, True)]
    fresh = [batch["key"] for batch in open_loader().epoch(2)]
    assert epochs[2] == fresh and epochs[1] != epochs[2]
    assert [batch["key"] for batch in loader.epoch(1, skip_batches=1)] == epochs[1][1:]


def test_shards_at_the_training_size_skip_dali_resize_with_the_same_pixels(
    synth_root, shard_dir, tmp_path
):
    """A manifest half_size equal to the training size drops the resize from the pipeline;
    the 64 px synthetic halves then come out as with the resize (an identity), within JPEG
    decoder rounding of the torch loader's."""
    from sketchcolor.data.loading.dali_loader import dali_pipeline_config
    from sketchcolor.data.shards.write import ShardConfig, prepare_shards

    sized = tmp_path / "sized"
    prepare_shards(synth_root, sized, ShardConfig(size=64, shard_size=8, seed=0), progress=False)
    loader = create_loader(sized, image_size=64, batch_size=4, backend="dali", training=False)
    assert loader.shards.half_size == 64
    assert dali_pipeline_config(loader.shards, loader.config, 0).stored_half_size == 64
    native = create_loader(shard_dir, image_size=64, batch_size=4, backend="dali", training=False)
    assert native.shards.half_size is None
    fallback = create_loader(sized, image_size=64, batch_size=4, backend="torch", training=False)
    for skipped, reference in zip(loader.epoch(0), fallback.epoch(0), strict=True):
        assert skipped["key"] == reference["key"]
        assert skipped["color"].shape == (4, 3, 64, 64)
        assert (skipped["color"] - reference["color"]).abs().max() <= 4 / 127.5
        assert (skipped["sketch"] - reference["sketch"]).abs().max() <= 4 / 127.5
    # Training: the crop path flips both halves alike (compared with the unflipped pixels).
    reference = {}
    for batch in fallback.epoch(0):
        for index, key in enumerate(batch["key"]):
            reference[key] = (batch["color"][index], batch["sketch"][index])
    training = create_loader(sized, image_size=64, batch_size=4, backend="dali", seed=3)
    flipped = []
    batches = list(training.epoch(0))
    assert batches  # a loop over nothing would pass
    for batch in batches:
        for index, key in enumerate(batch["key"]):
            color, sketch = reference[key]
            is_flipped = (batch["color"][index] - color.flip(-1)).abs().max() <= 4 / 127.5
            assert is_flipped or (batch["color"][index] - color).abs().max() <= 4 / 127.5
            target = sketch.flip(-1) if is_flipped else sketch
            assert (batch["sketch"][index] - target).abs().max() <= 4 / 127.5
            flipped.append(bool(is_flipped))
    assert any(flipped) and not all(flipped)
