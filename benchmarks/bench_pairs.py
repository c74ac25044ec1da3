"""How many pairs/s does `sketchcolor pairs` make, and where does its time go?

Writes JPEG photographs (scikit-image's astronaut, chelsea, coffee and rocket, at several
crops and scales, the shorter side 1.25 to 1.5 times S) into a source folder, then times `make_pairs` into a fresh
folder with 1 and N decode/encode threads on the CPU, and reports pairs/s and the share of
worker time in decode (read + crop + antialiased resize), extraction (line art) and encode
(PNG + atomic write). It also times the extractor alone per method and batch size (pairs/s of
line art from tensors already in memory). On a CUDA machine the same rows are added with the
extractor on the GPU.

Usage: python benchmarks/bench_pairs.py --quick --json benchmarks/results/bench_pairs-cpu.json
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import skimage.data
import torch
from common import base_parser, median_time, write_result
from PIL import Image

from sketchcolor.data.sources.line_art import LineArtConfig, extract_line_art
from sketchcolor.data.sources.make_pairs import PairsConfig, make_pairs

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def write_source(folder: Path, count: int, size: int) -> None:
    """`count` JPEGs: crops and rescalings of the sample photographs, each a distinct file.

    Every shorter side is 1.25 to 1.5 times `size`, so every image is shrunk (as real
    photographs are) and none is skipped as too small.
    """
    rng = np.random.default_rng(0)
    photos = [np.asarray(getattr(skimage.data, name)()) for name in PHOTOS]
    for index in range(count):
        photo = photos[index % len(photos)]
        height, width = photo.shape[:2]
        top, left = rng.integers(0, height // 8), rng.integers(0, width // 8)
        crop = Image.fromarray(photo[top:, left:])
        scale = size * rng.uniform(1.25, 1.5) / min(crop.size)
        crop = crop.resize((round(crop.width * scale), round(crop.height * scale)))
        crop.save(folder / f"photo-{index:05d}.jpg", quality=92)


def run_once(source: Path, config: PairsConfig) -> tuple[float, dict]:
    """Wall seconds of one make_pairs into a fresh folder, and its per-stage seconds."""
    out = Path(tempfile.mkdtemp(prefix="bench-pairs-out-")) / "pairs"
    started = time.perf_counter()
    result = make_pairs(source, out, config, progress=False)
    assert not result.skipped, result.skipped[:3]
    seconds = time.perf_counter() - started
    shutil.rmtree(out.parent)
    return seconds, result.seconds


def end_to_end_rows(source: Path, count: int, size: int, devices, workers, repeats) -> list[dict]:
    rows = []
    for device in devices:
        for threads in workers:
            config = PairsConfig(size=size, workers=threads, device=device, batch_size=16)
            run_once(source, config)  # warm-up: imports, file cache, kernels
            runs = sorted((run_once(source, config) for _ in range(repeats)), key=lambda r: r[0])
            seconds, stages = runs[len(runs) // 2]
            total = sum(stages.values())
            rows.append(
                {
                    "device": device,
                    "workers": threads,
                    "pairs_per_s": round(count / seconds, 1),
                    "stage_share": {
                        name: round(value / total, 3) for name, value in stages.items()
                    },
                    "stage_ms_per_pair": {
                        name: round(1000 * value / count, 2) for name, value in stages.items()
                    },
                }
            )
    return rows


def extractor_rows(size: int, devices, batch_sizes, repeats) -> list[dict]:
    """Line art alone: pairs/s from an in-memory uint8 batch to uint8 line art on the CPU."""
    rows = []
    for device in devices:
        synchronize = torch.cuda.synchronize if device == "cuda" else None
        for method in ("xdog", "sobel"):
            config = LineArtConfig(method=method)
            for batch_size in batch_sizes:
                colours = torch.randint(0, 256, (batch_size, 3, size, size), dtype=torch.uint8)

                def work(colours=colours, config=config, device=device):
                    batch = colours.to(device).float() / 255
                    with torch.inference_mode():
                        lines = extract_line_art(batch, config)
                    return (lines * 255).round().to(torch.uint8).cpu()

                seconds = median_time(work, warmup=1, repeats=repeats, synchronize=synchronize)
                rows.append(
                    {
                        "device": device,
                        "method": method,
                        "batch_size": batch_size,
                        "pairs_per_s": round(batch_size / seconds, 1),
                    }
                )
    return rows


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, help="source images (default 64 quick, 512 full)")
    parser.add_argument("--size", type=int, help="half size S (default 256 quick, 512 full)")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: the decode/encode threads need the other cores)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    count = args.count or (64 if args.quick else 512)
    size = args.size or (256 if args.quick else 512)
    repeats = 3
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    load_at_start = os.getloadavg()[0]  # a shared machine's other work slows every row
    source = Path(tempfile.mkdtemp(prefix="bench-pairs-src-"))
    write_source(source, count, size)
    rows = end_to_end_rows(source, count, size, devices, sorted({1, args.workers}), repeats)
    shutil.rmtree(source)
    for row in rows:
        row["speedup_vs_1_worker_cpu"] = round(row["pairs_per_s"] / rows[0]["pairs_per_s"], 2)
    batch_sizes = (1, 4, 16) if args.quick else (1, 4, 16, 64)
    extractor = extractor_rows(size, devices, batch_sizes, repeats)
    write_result(
        "bench_pairs",
        {
            "source_images": count,
            "source_format": "jpeg quality 92, shorter side 1.25-1.5 x S",
            "half_size": size,
            "torch_threads": torch.get_num_threads(),
            "load_average_1min": {
                "start": round(load_at_start, 2),
                "end": round(os.getloadavg()[0], 2),
            },
            "rows": rows,
            "extractor_rows": extractor,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
