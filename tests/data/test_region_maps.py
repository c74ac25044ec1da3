"""Region maps in the shards: stored as a fresh segmentation gives them, delivered by both loaders
aligned with the pair, checked by verify, and added in place to old shards (folder and s3://)."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sketchcolor.data.loading.loader import create_loader
from sketchcolor.data.loading.torch_loader import nearest_resize
from sketchcolor.data.shards.region_maps import (
    decode_region_map,
    region_parameters,
    sketch_regions,
)
from tests.support.old_shards import strip_regions


def stored_samples(shard_dir: Path, split: str = "train") -> dict[str, dict[str, bytes]]:
    manifest = json.loads((shard_dir / "manifest.json").read_text())
    samples: dict[str, dict[str, bytes]] = {}
    for entry in manifest["splits"][split]["shards"]:
        with tarfile.open(shard_dir / entry["tar"]) as archive:
            for member in archive:
                key, extension = member.name.split(".", 1)
                samples.setdefault(key, {})[extension] = archive.extractfile(member).read()
    return samples


def decoded_halves(pair: bytes) -> tuple[np.ndarray, np.ndarray]:
    image = np.asarray(Image.open(io.BytesIO(pair)).convert("RGB"))
    half = image.shape[1] // 2
    return image[:, :half], image[:, half : 2 * half]


def test_stored_maps_equal_a_fresh_segmentation_of_the_decoded_sketch(shard_dir):
    manifest = json.loads((shard_dir / "manifest.json").read_text())
    assert manifest["regions"] == region_parameters()
    for split in ("train", "val"):
        for entry in manifest["splits"][split]["shards"]:
            assert entry["regions"] == entry["count"]
        samples = stored_samples(shard_dir, split)
        assert samples
        for key, members in samples.items():
            _, sketch = decoded_halves(members["jpg"])
            stored = decode_region_map(members["regions.png"])
            np.testing.assert_array_equal(stored, sketch_regions(sketch), err_msg=key)
            assert stored.min() >= 1 and stored.max() > 1


@pytest.mark.parametrize("backend", ["dali", "torch"])
@pytest.mark.parametrize("image_size", [40, 64, 96])
def test_maps_are_aligned_with_the_pair_after_resize_and_flip(shard_dir, backend, image_size):
    samples = stored_samples(shard_dir)
    loader = create_loader(shard_dir, split="train", image_size=image_size, batch_size=4,
                           backend=backend, training=True, seed=3, num_workers=1)  # fmt: skip
    flips, batches = 0, list(loader.epoch(0))
    assert batches
    for batch in batches:
        assert batch["regions"].shape == (4, image_size, image_size)
        assert batch["regions"].dtype == torch.int32
        for index, key in enumerate(batch["key"]):
            _, sketch = decoded_halves(samples[key]["jpg"])
            stored = torch.from_numpy(decode_region_map(samples[key]["regions.png"]))
            expected = nearest_resize(stored, image_size)
            loaded_sketch = batch["sketch"][index].mean(0)
            plain = torch.from_numpy(sketch.copy()).float().mean(-1)[None, None] / 127.5 - 1
            plain = torch.nn.functional.interpolate(plain, size=image_size, mode="area")[0, 0]
            flipped = (loaded_sketch - plain.flip(-1)).abs().mean() < (
                loaded_sketch - plain
            ).abs().mean()
            expected = expected.flip(-1) if flipped else expected
            flips += int(flipped)
            agree = (batch["regions"][index] == expected).float().mean()
            # torch: exact; DALI's nearest neighbour breaks exact half-pixel ties its own way.
            assert agree >= (1.0 if backend == "torch" else 0.97), (key, float(agree))
    assert 0 < flips < len(loader) * 4


def flip_byte(tar: Path, member_suffix: str, at: int) -> str:
    """Flip one byte `at` bytes into the first member ending in member_suffix; its key."""
    with tarfile.open(tar) as archive:
        member = next(m for m in archive if m.name.endswith(member_suffix))
    with open(tar, "r+b") as file:
        file.seek(member.offset_data + at)
        value = file.read(1)[0]
        file.seek(member.offset_data + at)
        file.write(bytes([value ^ 0x40]))
    return member.name.split(".", 1)[0]


@pytest.mark.parametrize("at", [18, -20])  # in the PNG header, and in its pixel data
def test_verify_names_the_sample_whose_map_was_damaged(shard_dir, tmp_path, at):
    from sketchcolor.data.shards.verify import verify_shards

    damaged = tmp_path / "shards"
    shutil.copytree(shard_dir, damaged)
    manifest = json.loads((damaged / "manifest.json").read_text())
    tar = damaged / manifest["splits"]["train"]["shards"][1]["tar"]
    with tarfile.open(tar) as archive:
        size = next(m for m in archive if m.name.endswith(".regions.png")).size
    key = flip_byte(tar, ".regions.png", at % size)
    problems = verify_shards(damaged)
    assert len(problems) == 1 and problems[0].tar == tar
    assert f"sample {key}: region map damaged" in problems[0].reason


def test_verify_counts_the_maps(shard_dir, tmp_path):
    from sketchcolor.data.shards.verify import verify_shards

    shards = tmp_path / "shards"
    shutil.copytree(shard_dir, shards)
    manifest = json.loads((shards / "manifest.json").read_text())
    manifest["splits"]["val"]["shards"][0]["regions"] += 1
    (shards / "manifest.json").write_text(json.dumps(manifest))
    problems = verify_shards(shards)
    assert [problem.reason for problem in problems] == ["6 region maps, the manifest says 7"]


def test_old_shards_give_the_notice_and_add_regions_upgrades_them(shard_dir, tmp_path, capsys,
                                                                  monkeypatch):  # fmt: skip
    from sketchcolor.cli import main
    from sketchcolor.config import HintConfig
    from sketchcolor.data.controls import region_spread
    from sketchcolor.data.shards import add_regions as upgrade
    from sketchcolor.data.shards.verify import verify_shards
    from sketchcolor.training.inputs import step_inputs

    old = strip_regions(shard_dir, tmp_path / "old")
    batch = next(iter(create_loader(old, split="train", image_size=64, batch_size=4,
                                    backend="torch", num_workers=0).epoch(0)))  # fmt: skip
    assert "regions" not in batch
    monkeypatch.setattr(region_spread, "_noticed", set())
    hints = HintConfig.for_size(64, placement="dots", spread="regions", zero_fraction=0.0)
    for _ in range(2):
        step_inputs(batch, color_control="hints", hint_config=hints, seed=0)
    notice = capsys.readouterr().err
    assert notice.count("sketchcolor shards --add-regions SHARDS") == 1

    # Stopped after two tars: a re-run upgrades only the others, and the old folder stays whole.
    real, calls = upgrade.upgrade_tar, []

    def stop_after_two(*args):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(args[0])
        return real(*args)

    monkeypatch.setattr(upgrade, "upgrade_tar", stop_after_two)
    with pytest.raises(KeyboardInterrupt):
        upgrade.add_regions(old, progress=False)
    assert verify_shards(old) == [] and "regions" not in json.loads(
        (old / "manifest.json").read_text()
    )
    monkeypatch.setattr(upgrade, "upgrade_tar", lambda *args: calls.append(args[0]) or real(*args))
    assert main(["shards", "--add-regions", str(old)]) == 0
    assert len(calls) == 6  # 6 tars: 2 before the stop, the other 4 after it

    fresh = json.loads((shard_dir / "manifest.json").read_text())
    upgraded = json.loads((old / "manifest.json").read_text())
    assert upgraded["regions"] == fresh["regions"]
    for name in ("train", "val"):
        pairs = zip(
            fresh["splits"][name]["shards"], upgraded["splits"][name]["shards"], strict=True
        )
        for before, after in pairs:  # byte for byte what a fresh write gives
            assert after["sha256"] == before["sha256"] and after["regions"] == before["regions"]
            assert after["tar"] == before["tar"].replace(".tar", "-regions.tar")
    assert verify_shards(old) == []
    assert sorted(p.name for p in old.iterdir() if p.suffix == ".tar") == sorted(
        e["tar"] for s in upgraded["splits"].values() for e in s["shards"])  # fmt: skip
    assert "regions" in next(iter(create_loader(old, split="val", image_size=32, batch_size=2,
                                                backend="torch", training=False).epoch(0)))  # fmt: skip
    assert "nothing to do" in upgrade.add_regions(old, progress=False)


def stored_keys(bucket: str) -> set[str]:
    from sketchcolor.data.storage.s3 import s3_client

    listing = s3_client().list_objects_v2(Bucket=bucket)
    return {item["Key"] for item in listing.get("Contents", [])}


def test_add_regions_upgrades_s3_shards(shard_dir, tmp_path, monkeypatch):
    pytest.importorskip("boto3")
    pytest.importorskip("moto.server")
    from tests.data.test_s3 import forget_clients, make_bucket, start_server

    server, environment = start_server()
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SKETCHCOLOR_SHARD_CACHE", str(tmp_path / "cache"))
    forget_clients()
    try:
        from sketchcolor.data.shards.add_regions import add_regions
        from sketchcolor.data.shards.verify import verify_shards
        from sketchcolor.data.storage.s3 import remote_manifest, upload_folder

        make_bucket("old")
        upload_folder(strip_regions(shard_dir, tmp_path / "old"), "s3://old/synth", progress=False)
        before = stored_keys("old")
        assert "region maps added" in add_regions("s3://old/synth", progress=False)
        after = stored_keys("old")
        assert not before - {"synth/manifest.json"} & after  # the replaced objects are gone
        assert len(after) == len(before) and all("-regions." in k for k in after - before)
        upgraded = remote_manifest("s3://old/synth")
        fresh = json.loads((shard_dir / "manifest.json").read_text())
        assert upgraded["regions"] == fresh["regions"]
        assert [e["sha256"] for e in upgraded["splits"]["train"]["shards"]] == [
            e["sha256"] for e in fresh["splits"]["train"]["shards"]]  # fmt: skip
        forget_clients()  # a new process: stages the new manifest
        monkeypatch.setenv("SKETCHCOLOR_SHARD_CACHE", str(tmp_path / "cache2"))
        assert verify_shards("s3://old/synth") == []
    finally:
        server.stop()
        forget_clients()
