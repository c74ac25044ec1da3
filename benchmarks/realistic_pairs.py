"""Photograph-like sketch/colour pairs at the Kaggle size, for timing loaders on real content.

Flat synthetic shapes decode unusually fast (PNG's filters and zlib love flat areas), so
loader timings on them flatter the PNG baseline. These pairs are crops of scikit-image's
sample photographs (astronaut, coffee, chelsea, rocket, motorcycle, retina, hubble, ...), randomly
scaled, flipped and hue-shifted, with a line sketch drawn from their edges (Sobel magnitude,
dark lines on white, like the Kaggle sketches) on the right half. Written as PNG pairs
(colour left, sketch right, zlib level 6 like most PNG writers) in the Kaggle layout, so
`prepare_shards` and the naive folder loader read them as they read the real set.

Usage: python benchmarks/realistic_pairs.py OUT --count 256 --half-size 512
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png",
          "retina.jpg", "ihc.png", "hubble_deep_field.jpg")  # fmt: skip


def sample_photos() -> list[np.ndarray]:
    """scikit-image's bundled colour photographs as (H, W, 3) uint8 (files in its package)."""
    import skimage.data

    folder = Path(skimage.data.__file__).parent
    photos = []
    for name in PHOTOS:
        with Image.open(folder / name) as image:
            photos.append(np.asarray(image.convert("RGB")))
    return photos


def colour_half(photo: np.ndarray, half_size: int, rng: np.random.Generator) -> Image.Image:
    """A random crop of `photo`, resized to half_size, flipped and hue-shifted at random."""
    height, width = photo.shape[:2]
    side = int(min(height, width) * rng.uniform(0.5, 1.0))
    top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
    crop = Image.fromarray(photo[top : top + side, left : left + side])
    crop = crop.resize((half_size, half_size), Image.Resampling.BICUBIC)
    if rng.random() < 0.5:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    hsv = np.asarray(crop.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(int) + int(rng.integers(0, 256))) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


def sketch_half(colour: Image.Image) -> Image.Image:
    """Dark lines on white where the colour image has edges (Sobel magnitude of its luminance)."""
    from skimage.filters import sobel

    edges = sobel(np.asarray(colour.convert("L"), dtype=np.float32) / 255.0)
    lines = np.clip(edges / max(float(np.percentile(edges, 99)), 1e-6), 0, 1)
    grey = (255 * (1 - lines)).astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")


def write_pairs(out: Path, count: int, half_size: int, seed: int = 0) -> Path:
    """Write OUT/data/train/{i}.png pairs (half_size x 2*half_size); returns the train folder."""
    folder = out / "data" / "train"
    folder.mkdir(parents=True, exist_ok=True)
    (out / "data" / "val").mkdir(exist_ok=True)  # the Kaggle layout has both; this one is empty
    rng = np.random.default_rng(seed)
    photos = sample_photos()
    for index in tqdm(range(count), desc="realistic pairs", unit="pair"):
        colour = colour_half(photos[index % len(photos)], half_size, rng)
        pair = Image.new("RGB", (2 * half_size, half_size))
        pair.paste(colour, (0, 0))
        pair.paste(sketch_half(colour), (half_size, 0))
        pair.save(folder / f"{index}.png", compress_level=6)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=256)
    parser.add_argument("--half-size", type=int, default=512)
    args = parser.parse_args()
    write_pairs(args.out, args.count, args.half_size)


if __name__ == "__main__":
    main()
