"""Shard preparation: format, read-back (webdataset + DALI CPU), bad input, re-runs, the split."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sketchcolor.cli import main
from sketchcolor.data.controls.kmeans import extract_palette
from sketchcolor.data.shards import write as shards_module
from sketchcolor.data.sources.pairs import hash_split, list_pairs


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _tars(folder: Path, split: str) -> list[Path]:
    return [folder / shard["tar"] for shard in _manifest(folder)["splits"][split]["shards"]]


def _read_webdataset(folder: Path, split: str) -> list[dict]:
    import webdataset as wds

    urls = [str(path) for path in _tars(folder, split)]
    return list(wds.WebDataset(urls, shardshuffle=False, empty_check=False))


def _source_halves(synth_root: Path, split: str, source_id: str):
    pixels = np.asarray(Image.open(synth_root / "data" / split / f"{source_id}.png").convert("RGB"))
    half = pixels.shape[1] // 2
    return pixels[:, :half], pixels[:, half:]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _tree_bytes(folder: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in (".tar", ".idx")
    }


def test_manifest_counts_shards_and_checksums(shard_dir):
    manifest = _manifest(shard_dir)
    assert manifest["format"] == "sketchcolor-shards/1"
    assert manifest["image_format"] == "jpeg" and manifest["half_size"] is None
    assert manifest["rejected"] == []
    assert manifest["splits"]["train"]["count"] == 24
    assert [s["count"] for s in manifest["splits"]["train"]["shards"]] == [6, 6, 6, 6]
    assert [s["count"] for s in manifest["splits"]["val"]["shards"]] == [6, 2]
    assert manifest["options"]["shard_size"] == 6 and "numpy" in manifest["versions"]
    for split in manifest["splits"].values():
        for shard in split["shards"]:
            data = (shard_dir / shard["tar"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == shard["sha256"]
            assert shard["idx"] == shard["tar"].replace(".tar", ".idx")
    assert not list(shard_dir.glob("*.partial")) and not (shard_dir / ".parts").exists()


def test_index_is_what_dali_wds2idx_writes(shard_dir, tmp_path):
    from wds2idx import IndexCreator

    tars = sorted(shard_dir.glob("*.tar"))
    assert tars  # a loop over nothing would pass
    for tar in tars:
        reference = tmp_path / f"{tar.stem}.idx"
        with IndexCreator(str(tar), str(reference), verbose=False) as creator:
            creator.create_index()
        assert (shard_dir / f"{tar.stem}.idx").read_text() == reference.read_text()


@pytest.mark.parametrize("split", ["train", "val"])
def test_every_sample_reads_back_with_webdataset(shard_dir, synth_root, split):
    samples = _read_webdataset(shard_dir, split)
    source_ids = sorted(p.stem for p in (synth_root / "data" / split).glob("*.png"))
    assert sorted(s["id"].decode() for s in samples) == source_ids
    keys = [s["__key__"] for s in samples]
    assert len(set(keys)) == len(keys) and all("." not in key for key in keys)
    assert all(key.startswith(f"{split}_") for key in keys)
    for sample in samples:
        pair = np.asarray(Image.open(io.BytesIO(sample["jpg"])).convert("RGB"))
        color, sketch = _source_halves(synth_root, split, sample["id"].decode())
        assert pair.shape == (64, 128, 3)
        assert _psnr(pair[:, :64], color) >= 35
        assert _psnr(pair[:, 64:], sketch) >= 35
        palette = np.frombuffer(sample["palette"], "<f4").reshape(9, 3)
        share = np.frombuffer(sample["share"], "<f4")
        assert palette.min() >= 0 and palette.max() <= 1
        assert np.all(np.diff(share) <= 0) and share.sum() == pytest.approx(1, abs=1e-5)
        # The palette is that of the source colour half (not of the JPEG), with the seed.
        expected, expected_share = extract_palette(color, engine="faiss-cpu", seed=0)
        np.testing.assert_allclose(palette, expected, atol=1e-5)
        np.testing.assert_allclose(share, expected_share, atol=1e-6)


def test_samples_are_shuffled_across_shards(shard_dir):
    ids = [int(s["id"]) for s in _read_webdataset(shard_dir, "train")]
    keys = [s["__key__"] for s in _read_webdataset(shard_dir, "train")]
    assert keys == sorted(keys)  # keys follow the written (shuffled) order
    assert ids != sorted(ids)
    first_shard = ids[:6]
    assert max(first_shard) - min(first_shard) > 6  # not a run of neighbouring files


def test_every_sample_reads_back_with_dali_cpu_pipeline(shard_dir):
    from nvidia.dali import fn, pipeline_def, types

    manifest = _manifest(shard_dir)
    shard_list = manifest["splits"]["train"]["shards"]

    @pipeline_def(batch_size=5, num_threads=1, device_id=None, seed=0)
    def pipeline():
        image, palette, source_id = fn.readers.webdataset(
            paths=[str(shard_dir / s["tar"]) for s in shard_list],
            index_paths=[str(shard_dir / s["idx"]) for s in shard_list],
            ext=["jpg", "palette", "id"],
            missing_component_behavior="error",
            random_shuffle=False,
            name="Reader",
        )
        return fn.decoders.image(image, device="cpu", output_type=types.RGB), palette, source_id

    dali = pipeline()
    dali.build()
    assert dali.epoch_size("Reader") == 24
    by_id = {s["id"].decode(): s for s in _read_webdataset(shard_dir, "train")}
    seen = []
    for _ in range(5):  # 25 >= 24 samples: the last batch wraps around to the first
        images, palettes, ids = dali.run()
        for i in range(len(images)):
            source_id = bytes(np.array(ids.at(i))).decode()
            seen.append(source_id)
            reference = np.asarray(Image.open(io.BytesIO(by_id[source_id]["jpg"])).convert("RGB"))
            assert _psnr(np.array(images.at(i)), reference) >= 40  # two JPEG decoders agree
            palette = np.array(palettes.at(i)).view("<f4").reshape(9, 3)
            np.testing.assert_array_equal(
                palette, np.frombuffer(by_id[source_id]["palette"], "<f4").reshape(9, 3)
            )
    assert set(seen) == set(by_id) and len(seen) == 25


def test_png_is_lossless_and_size_resizes(synth_root, tmp_path):
    out = tmp_path / "png"
    assert main(["shards", str(synth_root), str(out), "--format", "png", "--size", "32"]) == 0
    manifest = _manifest(out)
    assert manifest["image_format"] == "png" and manifest["half_size"] == 32
    sample = _read_webdataset(out, "val")[0]
    pair = np.asarray(Image.open(io.BytesIO(sample["png"])))
    assert pair.shape == (32, 64, 3)
    out_full = tmp_path / "png-full"
    assert main(["shards", str(synth_root), str(out_full), "--format", "png"]) == 0
    for sample in _read_webdataset(out_full, "val"):
        pair = np.asarray(Image.open(io.BytesIO(sample["png"])))
        color, sketch = _source_halves(synth_root, "val", sample["id"].decode())
        np.testing.assert_array_equal(pair, np.concatenate([color, sketch], axis=1))


def _bad_source(synth_root: Path, folder: Path) -> Path:
    """Six good pairs plus the four bad kinds in data/train."""
    shutil.copytree(synth_root / "data" / "val", folder / "data" / "val")
    train = folder / "data" / "train"
    train.mkdir(parents=True)
    for path in sorted((synth_root / "data" / "train").glob("*.png"))[:6]:
        shutil.copy(path, train / path.name)
    good = (synth_root / "data" / "train" / "0.png").read_bytes()
    (train / "truncated.png").write_bytes(good[: len(good) // 2])
    (train / "notimage.png").write_text("this is not a picture")
    Image.new("RGB", (100, 64), (200, 30, 30)).save(train / "wrongsize.png")
    Image.open(synth_root / "data" / "train" / "1.png").convert("L").save(train / "gray.png")
    return folder


def test_bad_input_is_rejected_with_reasons(synth_root, tmp_path, capsys):
    source = _bad_source(synth_root, tmp_path / "bad")
    out = tmp_path / "out"
    assert main(["shards", str(source), str(out), "--shard-size", "4"]) == 0
    printed = capsys.readouterr().out
    assert "14 pairs written (train 6, val 8), 4 rejected" in printed
    reasons = {item["file"]: item["reason"] for item in _manifest(out)["rejected"]}
    assert set(reasons) == {
        "data/train/truncated.png",
        "data/train/notimage.png",
        "data/train/wrongsize.png",
        "data/train/gray.png",
    }
    assert "truncated" in reasons["data/train/truncated.png"]
    assert "not an image" in reasons["data/train/notimage.png"]
    assert "100x64" in reasons["data/train/wrongsize.png"]
    assert "grayscale" in reasons["data/train/gray.png"]
    good = sorted(p.stem for p in (source / "data" / "train").glob("*.png") if p.stem.isdigit())
    assert sorted(s["id"].decode() for s in _read_webdataset(out, "train")) == good


def test_crash_leaves_no_whole_looking_tar_and_rerun_completes(
    synth_root, shard_dir, tmp_path, monkeypatch
):
    out = tmp_path / "crashed"
    real_encode = shards_module.encode_pair
    calls = {"count": 0}

    def failing_encode(pair, config):
        calls["count"] += 1
        if calls["count"] == 15:  # in the third train shard
            raise RuntimeError("simulated crash")
        return real_encode(pair, config)

    monkeypatch.setattr(shards_module, "encode_pair", failing_encode)
    with pytest.raises(RuntimeError, match="simulated crash"):
        main(["shards", str(synth_root), str(out), "--shard-size", "6"])
    assert sorted(p.name for p in out.glob("*.tar")) == ["train-000000.tar", "train-000001.tar"]
    assert (out / "train-000002.tar.partial").exists() and not (out / "manifest.json").exists()

    monkeypatch.setattr(shards_module, "encode_pair", real_encode)
    assert main(["shards", str(synth_root), str(out), "--shard-size", "6"]) == 0
    assert _tree_bytes(out) == _tree_bytes(shard_dir)  # identical to an uninterrupted run
    assert not list(out.glob("*.partial"))


def test_rerun_is_a_no_op_or_refuses(synth_root, shard_dir, tmp_path, capsys):
    out = tmp_path / "copy"
    shutil.copytree(shard_dir, out)
    assert main(["shards", str(synth_root), str(out), "--shard-size", "6"]) == 0
    assert "already complete" in capsys.readouterr().out
    assert main(["shards", str(synth_root), str(out), "--shard-size", "5"]) == 2
    assert "another source or other options" in capsys.readouterr().err
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert main(["shards", str(synth_root), str(foreign)]) == 2
    assert "not empty" in capsys.readouterr().err


@pytest.mark.slow
def test_workers_write_the_same_bytes(synth_root, shard_dir, tmp_path):
    out = tmp_path / "parallel"
    assert main(["shards", str(synth_root), str(out), "--shard-size", "6", "--workers", "2"]) == 0
    assert _tree_bytes(out) == _tree_bytes(shard_dir)


def test_flat_folder_is_split_by_name_hash(synth_root, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for path in (synth_root / "data").rglob("*.png"):
        shutil.copy(path, flat / f"pair{path.name}")
    splits = list_pairs(flat)
    assert len(splits["train"]) + len(splits["val"]) == 32
    assert all(hash_split(p.name) == "val" for p in splits["val"])
    # The split of a file never depends on the other files in the folder.
    for path in list(flat.iterdir())[:10]:
        path.unlink()
    smaller = list_pairs(flat)
    assert set(smaller["val"]) == {p for p in splits["val"] if p.exists()}
    # About 10 % go to val over many names.
    share = np.mean([hash_split(f"{i}.png") == "val" for i in range(5000)])
    assert 0.08 < share < 0.12
    out = tmp_path / "flat-shards"
    assert main(["shards", str(flat), str(out)]) == 0
    manifest = _manifest(out)
    assert manifest["splits"]["val"]["count"] == len(smaller["val"])
    assert manifest["splits"]["train"]["count"] == len(smaller["train"])


def test_rgb_file_with_a_grey_color_half_is_a_grayscale_pair(tmp_path):
    from sketchcolor.data.sources.pairs import InvalidPair, read_pair

    pair = np.full((16, 32, 3), 128, np.uint8)
    pair[:, 16:] = 255
    Image.fromarray(pair).save(tmp_path / "grey.png")
    with pytest.raises(InvalidPair, match="grayscale pair"):
        read_pair(tmp_path / "grey.png")
    pair[3, 3] = (200, 40, 40)  # one coloured pixel is enough to count as colour
    Image.fromarray(pair).save(tmp_path / "colour.png")
    color, sketch = read_pair(tmp_path / "colour.png", size=8)
    assert color.shape == sketch.shape == (8, 8, 3)


@pytest.mark.slow
def test_prepare_script_is_the_shards_command(synth_root, shard_dir, tmp_path):
    # `python shards/prepare.py SRC OUT` in a fresh process writes the very same bytes and says
    # the same summary line as `sketchcolor shards SRC OUT`.
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "shards" / "prepare.py"
    out = tmp_path / "script"
    done = subprocess.run(
        [sys.executable, str(script), str(synth_root), str(out), "--shard-size", "6"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "32 pairs written (train 24, val 8), 0 rejected" in done.stdout
    assert "pair" in done.stderr  # the tqdm progress bar
    assert _tree_bytes(out) == _tree_bytes(shard_dir)
    assert _manifest(out)["splits"] == _manifest(shard_dir)["splits"]
    refused = subprocess.run(
        [sys.executable, str(script), str(synth_root), str(out), "--shard-size", "5"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2 and "another source or other options" in refused.stderr


def test_seed_and_quality_options(synth_root, shard_dir, tmp_path, capsys):
    out = tmp_path / "seed1-q50"
    arguments = ["--shard-size", "6", "--seed", "1", "--quality", "50"]
    assert main(["shards", str(synth_root), str(out), *arguments]) == 0
    assert "pair" in capsys.readouterr().err  # the progress bar
    manifest = _manifest(out)
    assert manifest["options"]["seed"] == 1 and manifest["options"]["quality"] == 50
    samples, reference = _read_webdataset(out, "train"), _read_webdataset(shard_dir, "train")
    assert samples and reference  # the loops below would pass on nothing
    # Another seed: the same pairs in another global order, with other k-means seeding.
    ids, reference_ids = [s["id"] for s in samples], [s["id"] for s in reference]
    assert sorted(ids) == sorted(reference_ids) and ids != reference_ids
    for sample in samples[:4]:
        expected, _ = extract_palette(
            _source_halves(synth_root, "train", sample["id"].decode())[0], seed=1
        )
        np.testing.assert_allclose(
            np.frombuffer(sample["palette"], "<f4").reshape(9, 3), expected, atol=1e-5
        )
    # Quality 50 makes smaller, lossier JPEGs than the default 95.
    by_id = {s["id"]: s for s in reference}
    assert sum(len(s["jpg"]) for s in samples) < 0.7 * sum(len(s["jpg"]) for s in reference)
    for sample in samples[:4]:
        color, _ = _source_halves(synth_root, "train", sample["id"].decode())
        low = np.asarray(Image.open(io.BytesIO(sample["jpg"])).convert("RGB"))[:, :64]
        high = np.asarray(Image.open(io.BytesIO(by_id[sample["id"]]["jpg"])).convert("RGB"))
        assert _psnr(low, color) < _psnr(high[:, :64], color)


def test_rerun_rewrites_deleted_shard_files(synth_root, shard_dir, tmp_path, capsys):
    out = tmp_path / "damaged"
    shutil.copytree(shard_dir, out)
    (out / "train-000001.tar").unlink()
    (out / "val-000001.idx").unlink()
    assert main(["shards", str(synth_root), str(out), "--shard-size", "6"]) == 0
    printed = capsys.readouterr().out
    assert "already complete" not in printed and "32 pairs written" in printed
    assert _tree_bytes(out) == _tree_bytes(shard_dir)
    assert _manifest(out) | {"versions": None} == _manifest(shard_dir) | {"versions": None}
    assert not (out / ".parts").exists()
