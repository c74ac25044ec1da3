"""`sketchcolor pairs`: layout, bytes, bad files, resume, pairs -> shards, and the line art itself."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from scipy.ndimage import binary_dilation
from skimage.color import rgb2gray
from skimage.filters import sobel

from sketchcolor.cli import main, pairs
from sketchcolor.cli.options import parse_options
from sketchcolor.data.sources.line_art import LineArtConfig, extract_line_art
from sketchcolor.data.sources.make_pairs import PairsConfig, make_pairs, square_and_resize
from sketchcolor.data.sources.pairs import InvalidPair, hash_split, list_pairs
from sketchcolor.errors import SketchcolorError

SIZE = 64
PHOTOS = ("astronaut", "chelsea", "coffee")  # scikit-image's bundled colour photographs


def _config(**changes) -> PairsConfig:
    return PairsConfig(size=SIZE, **changes)


@pytest.fixture(scope="module")
def image_folder(synth_root, tmp_path_factory) -> Path:
    """Colour images of every kind the command meets, good and bad, in nested folders."""
    root = tmp_path_factory.mktemp("images")
    (root / "synth").mkdir()
    for path in sorted((synth_root / "data" / "train").glob("*.png"))[:12]:
        colour = Image.open(path).convert("RGB").crop((0, 0, SIZE, SIZE))
        colour.save(root / "synth" / path.name)
    photos = root / "photos" / "2024"
    photos.mkdir(parents=True)
    Image.fromarray(skimage.data.chelsea()).save(photos / "chelsea.jpg", quality=90)
    Image.fromarray(skimage.data.coffee()).save(photos / "coffee.webp", lossless=True)
    Image.fromarray(skimage.data.logo()).save(root / "logo-rgba.png")  # RGBA
    Image.fromarray(skimage.data.camera()).save(root / "camera-grey.png")  # mode L
    Image.fromarray(skimage.data.astronaut()[:40, :40]).save(root / "tiny.png")
    Image.fromarray(skimage.data.astronaut()).save(root / "clash.png")
    Image.fromarray(skimage.data.astronaut()).save(root / "clash.jpg")
    (root / "not-an-image.png").write_bytes(b"this is text")
    good = (root / "logo-rgba.png").read_bytes()
    (root / "truncated.png").write_bytes(good[: len(good) // 2])
    return root


EXPECTED_SKIPPED = {
    "camera-grey.png": "grayscale image (mode L); --allow-grayscale keeps it",
    "clash.png": "output name clash.png already taken by clash.jpg",
    "not-an-image.png": "not an image (cannot identify the file format)",
    "tiny.png": "too small: 40x40, its square side 40 is under 64 (--min-size)",
}


@pytest.fixture(scope="module")
def pair_folder(image_folder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pairs") / "my-pairs"
    make_pairs(image_folder, out, _config(), progress=False)
    return out


def _pair_files(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted((folder / "data").rglob("*"))
        if path.is_file()
    }


def test_layout_names_split_and_pair_images(pair_folder):
    files = _pair_files(pair_folder)
    names = sorted(Path(name).name for name in files)
    assert "photos__2024__chelsea.png" in names and "photos__2024__coffee.png" in names
    assert "logo-rgba.png" in names and "clash.png" in names  # clash.jpg came first
    assert len(names) == 12 + 4
    assert {relative.split("/")[1] for relative in files} == {"train", "val"}
    for relative in files:
        split, name = relative.split("/")[1:]
        assert split == hash_split(name)  # what `shards` does with a flat folder
        pixels = np.asarray(Image.open(pair_folder / relative))
        assert pixels.shape == (SIZE, 2 * SIZE, 3)
        sketch = pixels[:, SIZE:]
        assert (sketch[..., 0] == sketch[..., 1]).all() and (sketch[..., 0] == sketch[..., 2]).all()
    assert not list(pair_folder.rglob("*.partial"))


def test_bad_files_are_skipped_with_reasons(pair_folder):
    report = json.loads((pair_folder / "pairs-report.json").read_text())
    reasons = {item["file"]: item["reason"] for item in report["skipped"]}
    assert reasons.keys() == EXPECTED_SKIPPED.keys() | {"truncated.png"}
    for name, reason in EXPECTED_SKIPPED.items():
        assert reasons[name] == reason
    assert reasons["truncated.png"].startswith(("truncated or corrupt image", "cannot decode"))
    assert sum(report["counts"].values()) == 16


def test_same_input_same_bytes_whatever_batch_and_workers(image_folder, pair_folder, tmp_path):
    other = tmp_path / "again"
    make_pairs(image_folder, other, _config(batch_size=3, workers=2), progress=False)
    assert _pair_files(other) == _pair_files(pair_folder)
    assert (other / "pairs.json").read_bytes() == (pair_folder / "pairs.json").read_bytes()


def test_resume_writes_only_what_is_missing(image_folder, pair_folder, tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(pair_folder, out)
    before = _pair_files(out)
    victim = out / "data" / "train" / "photos__2024__chelsea.png"
    if not victim.exists():
        victim = out / "data" / "val" / victim.name
    victim.unlink()
    (victim.parent / "half-written.png.partial").write_bytes(b"cut short")
    result = make_pairs(image_folder, out, _config(), progress=False)
    assert result.written_now == 1 and sum(result.counts.values()) == 16
    assert _pair_files(out) == before
    again = make_pairs(image_folder, out, _config(), progress=False)
    assert again.written_now == 0 and again.orphans == []
    reduced = tmp_path / "reduced-source"
    shutil.copytree(image_folder, reduced)
    (reduced / "logo-rgba.png").unlink()
    without_logo = make_pairs(reduced, out, _config(), progress=False)
    logo_pair = f"data/{hash_split('logo-rgba.png')}/logo-rgba.png"
    assert without_logo.orphans == [logo_pair] and (out / logo_pair).exists()
    assert "1 without a source image" in without_logo.summary()


def test_other_options_or_foreign_folder_refused(image_folder, pair_folder, tmp_path):
    out = tmp_path / "changed"
    shutil.copytree(pair_folder, out)
    with pytest.raises(SketchcolorError, match="other options"):
        make_pairs(image_folder, out, _config(fit="pad"), progress=False)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(SketchcolorError, match="not empty"):
        make_pairs(image_folder, foreign, _config(), progress=False)
    assert (foreign / "notes.txt").read_text() == "mine"


def test_output_folder_inside_the_source_is_not_read_as_input(tmp_path):
    source = tmp_path / "images"
    source.mkdir()
    Image.fromarray(skimage.data.coffee()).save(source / "coffee.png")
    first = make_pairs(source, source / "my-pairs", _config(), progress=False)
    second = make_pairs(source, source / "my-pairs", _config(), progress=False)
    assert first.written_now == 1 and second.written_now == 0
    assert sum(second.counts.values()) == 1 and second.skipped == []


def test_pad_keeps_the_whole_picture_on_white_and_crop_keeps_the_middle():
    wide = np.zeros((50, 100, 3), np.uint8)
    wide[:, :25] = (255, 0, 0)  # red left quarter, black elsewhere
    image = Image.fromarray(wide)
    padded = np.asarray(square_and_resize(image, PairsConfig(size=20, fit="pad")))
    assert (padded[:4] == 255).all() and (padded[-4:] == 255).all()  # white bands
    assert padded[10, 1, 0] > 200 and padded[10, 1, 1] < 50  # the red quarter is kept
    cropped = np.asarray(square_and_resize(image, PairsConfig(size=20, fit="crop")))
    assert cropped.max() < 40  # the middle square is black: the red quarter is cut off


def test_transparency_is_composited_on_white(tmp_path):
    rgba = np.zeros((80, 80, 4), np.uint8)
    rgba[20:60, 20:60] = (0, 120, 255, 255)  # an opaque blue square on a transparent ground
    source = tmp_path / "src"
    source.mkdir()
    Image.fromarray(rgba).save(source / "square.png")
    result = make_pairs(source, tmp_path / "out", _config(), progress=False)
    split = hash_split("square.png")
    pixels = np.asarray(Image.open(tmp_path / "out" / "data" / split / "square.png"))
    assert result.counts[split] == 1
    assert (pixels[:8, :8] == 255).all()  # transparent ground -> white
    assert tuple(pixels[32, 32]) == (0, 120, 255)
    assert pixels[:, SIZE:].min() < 100  # the square's outline is drawn


def test_exif_rotation_is_applied_and_grayscale_kept_on_request(tmp_path):
    from sketchcolor.data.sources.make_pairs import load_colour

    landscape = np.zeros((40, 80, 3), np.uint8)
    landscape[:, :40] = (255, 0, 0)  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(landscape).save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    upright = load_colour(tmp_path / "rotated.jpg", PairsConfig(size=20, fit="pad"))
    assert upright[1, 10, 0] > 200 and upright[-2, 10, 0] < 60  # red on top after rotation
    assert (upright[:, :4] > 240).all()  # portrait now: white margins left and right

    grey16 = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16).astype(np.uint16)
    Image.fromarray(grey16).save(tmp_path / "grey16.png")
    with pytest.raises(InvalidPair, match="grayscale image"):
        load_colour(tmp_path / "grey16.png", PairsConfig(size=32))
    kept = load_colour(tmp_path / "grey16.png", PairsConfig(size=32, allow_grayscale=True))
    assert kept.shape == (32, 32, 3) and kept[0, 0, 0] < 10 and kept[-1, -1, 0] > 240


def test_shards_take_the_pairs_unchanged(pair_folder, tmp_path):
    import webdataset as wds

    from sketchcolor.data.shards.write import ShardConfig, prepare_shards

    result = prepare_shards(pair_folder, tmp_path / "my-shards", ShardConfig(), progress=False)
    manifest = result.manifest
    assert manifest["rejected"] == []
    listed = list_pairs(pair_folder)
    for split in ("train", "val"):
        assert manifest["splits"][split]["count"] == len(listed[split])
        urls = [str(tmp_path / "my-shards" / s["tar"]) for s in manifest["splits"][split]["shards"]]
        samples = list(wds.WebDataset(urls, shardshuffle=False, empty_check=False)) if urls else []
        assert sorted(s["id"].decode() for s in samples) == sorted(p.stem for p in listed[split])
        for sample in samples:
            decoded = np.asarray(Image.open(io.BytesIO(sample["jpg"])), np.float64)
            original = np.asarray(
                Image.open(pair_folder / "data" / split / f"{sample['id'].decode()}.png"),
                np.float64,
            )
            assert np.abs(decoded - original).mean() < 4  # JPEG 95 of the very same pair


def test_cli_writes_pairs_and_its_defaults_are_the_library_defaults(image_folder, tmp_path, capsys):
    args = parse_options(pairs.options(), ["src", "out"], prog="sketchcolor pairs", description="")
    assert args.pairs == PairsConfig() and (args.source, args.out) == (Path("src"), Path("out"))
    flags = ["src", "out", "--method", "sobel", "--sigma", "1.5", "--allow-grayscale"]
    args = parse_options(pairs.options(), flags, prog="sketchcolor pairs", description="")
    assert args.pairs.line_art == LineArtConfig(method="sobel", sigma=1.5)
    assert args.pairs.allow_grayscale and args.pairs.size == PairsConfig().size
    out = tmp_path / "cli-pairs"
    assert (
        main(["pairs", str(image_folder), str(out), "--size", str(SIZE), "--method", "sobel"]) == 0
    )
    printed = capsys.readouterr().out
    assert (
        "16 pairs" in printed
        and "5 skipped" in printed
        and "skipped tiny.png: too small" in printed
    )
    options = json.loads((out / "pairs.json").read_text())["options"]
    assert options["line_art"]["method"] == "sobel" and options["size"] == SIZE


def test_cli_bad_options_and_folders_are_one_line_errors(image_folder, tmp_path, capsys):
    assert main(["pairs", str(image_folder), str(tmp_path / "a"), "--sigma", "0"]) == 2
    assert main(["pairs", str(tmp_path / "missing"), str(tmp_path / "b")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert (
        errors[0]
        == "sketchcolor pairs: error: --sigma must be > 0 and --k > 1, got sigma=0.0 k=1.6"
    )
    assert errors[1].endswith("missing: not a folder") and len(errors) == 2
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_line_art_of_an_image_does_not_depend_on_its_batch():
    generator = torch.Generator().manual_seed(0)
    batch = torch.rand(5, 3, 40, 48, generator=generator)
    for method in ("xdog", "sobel"):
        config = LineArtConfig(method=method)
        together = extract_line_art(batch, config)
        alone = torch.cat([extract_line_art(batch[i : i + 1], config) for i in range(5)])
        assert torch.equal(together, alone)
        assert together.shape == (5, 1, 40, 48) and together.min() >= 0 and together.max() <= 1


def test_hysteresis_by_labels_equals_hysteresis_by_growth():
    """The CPU path (scipy labels) and the GPU path (max-pool growth) keep the same pixels."""
    from sketchcolor.data.sources.line_art import _hysteresis_by_growth, _hysteresis_by_labels

    values = torch.rand(3, 1, 64, 80, generator=torch.Generator().manual_seed(1))
    strong, weak = values > 0.97, values > 0.62  # weak below the percolation threshold
    by_labels = _hysteresis_by_labels(strong, weak)
    assert torch.equal(by_labels, _hysteresis_by_growth(strong, weak))
    kept, possible = int(by_labels.sum()), int(weak.sum())
    assert int((strong & weak).sum()) < kept < possible  # growth happened, and stopped


def test_xdog_recovers_the_synthetic_sketches(synth_root):
    """On `sketchcolor synth` pairs the true sketch is known: XDoG of the colour half finds it.

    Measured on these 64 px pairs with the defaults: 98.4-100% of the true line pixels lie
    within 1 px of an extracted one (recall) and 89.2-98.8% of the extracted line pixels lie
    within 1 px of a true line (precision; the rest draw the cel shadows, which the true
    sketch leaves out).
    """
    pairs = [
        np.asarray(Image.open(p).convert("RGB")) for p in sorted(synth_root.rglob("*.png"))[:8]
    ]
    colours = torch.from_numpy(np.stack([p[:, :SIZE] for p in pairs])).permute(0, 3, 1, 2)
    lines = extract_line_art(colours.float() / 255, LineArtConfig())[:, 0].numpy()
    assert pairs  # a loop over nothing would pass
    for pair, line in zip(pairs, lines, strict=True):
        truth, found = pair[:, SIZE:, 0] < 128, line < 0.5
        recall = (truth & binary_dilation(found)).sum() / truth.sum()
        precision = (found & binary_dilation(truth)).sum() / found.sum()
        assert recall >= 0.97 and precision >= 0.85


def _photo_line_art(method: str) -> tuple[list[np.ndarray], np.ndarray]:
    config = PairsConfig(size=256, line_art=LineArtConfig(method=method))
    colours = [
        np.asarray(square_and_resize(Image.fromarray(getattr(skimage.data, name)()), config))
        for name in PHOTOS
    ]
    batch = torch.from_numpy(np.stack(colours)).permute(0, 3, 1, 2).float() / 255
    lines = (extract_line_art(batch, config.line_art)[:, 0] * 255).round().numpy()
    return colours, lines


def _darkness_edge_correlation(line: np.ndarray, colour: np.ndarray) -> float:
    return float(np.corrcoef((255 - line).ravel(), sobel(rgb2gray(colour)).ravel())[0, 1])


@pytest.mark.parametrize(
    ("method", "dark_band", "min_correlation"),
    [("xdog", (0.03, 0.25), 0.12), ("sobel", (0.02, 0.35), 0.4)],
)
def test_line_art_of_photographs_is_dark_lines_on_the_edges(method, dark_band, min_correlation):
    """Astronaut, chelsea and coffee from scikit-image, centre-cropped to 256 px, defaults.

    Measured share of pixels darker than 128: XDoG 0.168 / 0.064 / 0.093, Sobel 0.200 / 0.033
    / 0.094 (mostly white, dark lines). Pearson correlation of the line art's darkness with
    skimage's Sobel edge map of the same photograph: XDoG 0.188 / 0.182 / 0.174 (XDoG's lines
    are thin and lie on the dark side of an edge, beside the edge map's ridge), Sobel 0.839 /
    0.551 / 0.832; with another photograph's edge map every method gives |r| <= 0.041, so the
    thresholds (0.12 and 0.4, against 0.08 for a wrong photograph) separate matching from
    non-matching edges.
    """
    colours, lines = _photo_line_art(method)
    assert colours  # a loop over nothing would pass
    for index, (colour, line) in enumerate(zip(colours, lines, strict=True)):
        dark_share = float((line < 128).mean())
        assert dark_band[0] <= dark_share <= dark_band[1], (PHOTOS[index], dark_share)
        assert _darkness_edge_correlation(line, colour) >= min_correlation, PHOTOS[index]
        other = colours[(index + 1) % len(colours)]
        assert abs(_darkness_edge_correlation(line, other)) < 0.08, PHOTOS[index]


@pytest.mark.gpu
def test_line_art_on_the_gpu_matches_the_cpu_and_repeats_exactly():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    colours, _ = _photo_line_art("xdog")
    batch = torch.from_numpy(np.stack(colours)).permute(0, 3, 1, 2).float() / 255
    for method in ("xdog", "sobel"):
        config = LineArtConfig(method=method)
        first = extract_line_art(batch.cuda(), config)
        assert torch.equal(first, extract_line_art(batch.cuda(), config))
        on_gpu = (first[:, 0] * 255).round().cpu().numpy()
        on_cpu = (extract_line_art(batch, config)[:, 0] * 255).round().numpy()
        differing = np.abs(on_gpu - on_cpu) > 1
        assert differing.mean() < 0.001, (method, differing.mean())
