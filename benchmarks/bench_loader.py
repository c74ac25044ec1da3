"""How many training pairs per second does each loader deliver to the device?

Compares, in one run on the same synthetic data and worker count: DALI on the GPU (when there
is one), DALI on the CPU, the torch fallback, and a naive baseline (PIL reading the folder of
PNG pairs in a DataLoader). One epoch of full training batches (shuffle + flip) per timing,
delivered to the device and synchronised; ratios are against the naive baseline. With a GPU it
also times a training step of the largest generator at the same size, to show whether the GPU
would wait on data (loader batch time < step time means it does not).

Usage: python benchmarks/bench_loader.py --quick --json benchmarks/results/bench_loader-cpu.json
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).parent))
from common import base_parser, median_time, write_result  # noqa: E402

from sketchcolor.data.loader import create_loader  # noqa: E402
from sketchcolor.data.shards import ShardConfig, prepare_shards  # noqa: E402
from sketchcolor.data.synth import SynthConfig, write_synthetic_dataset  # noqa: E402


class NaivePairs(Dataset):
    """The baseline: PIL opens each PNG pair, splits, resizes; no shards, no GPU decode."""

    def __init__(self, folder: Path, image_size: int):
        self.paths = sorted(folder.glob("*.png"))
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        with Image.open(self.paths[index]) as image:
            pair = image.convert("RGB")
        width, height = pair.size
        size = (self.image_size, self.image_size)
        halves = [
            pair.crop(box).resize(size, Image.Resampling.BILINEAR)
            for box in ((0, 0, width // 2, height), (width // 2, 0, width, height))
        ]
        color, sketch = (
            torch.from_numpy(np.asarray(half).copy()).permute(2, 0, 1) for half in halves
        )
        if torch.rand(()) < 0.5:  # paired flip
            color, sketch = color.flip(-1), sketch.flip(-1)
        return color, sketch


def naive_epoch(folder: Path, image_size: int, batch_size: int, workers: int, device) -> int:
    loader = DataLoader(
        NaivePairs(folder, image_size),
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )
    pairs = 0
    for color, sketch in loader:
        color = color.to(device, non_blocking=True).float() / 127.5 - 1
        sketch = sketch.to(device, non_blocking=True).float() / 127.5 - 1
        pairs += color.shape[0]
    return pairs


def loader_epoch(
    shards: Path, backend: str, device, delivery, args, size: int, workers: int
) -> int:
    """One training epoch of `create_loader`, every batch moved on to `delivery`."""
    loader = create_loader(
        shards, image_size=size, batch_size=args.batch_size, device=device,
        backend=backend, num_workers=workers,
    )  # fmt: skip
    pairs = 0
    for batch in loader.epoch(0):
        batch["color"].to(delivery, non_blocking=True)
        batch["sketch"].to(delivery, non_blocking=True)
        pairs += len(batch["key"])
    return pairs


def hints_seconds(image_size: int, batch_size: int, device, synchronize) -> float:
    """Simulated hint labels + the mixed generator input for one batch, on the device."""
    from sketchcolor.config import HintConfig
    from sketchcolor.data.conditioning import build_generator_input, sample_hints

    color = torch.rand(batch_size, 3, image_size, image_size, device=device) * 2 - 1
    palette = torch.rand(batch_size, 9, 3, device=device) * 2 - 1
    config = HintConfig()
    generator = torch.Generator(device=device).manual_seed(0)

    def build():
        hints = sample_hints(color, config, generator)
        return build_generator_input(
            "mixed", color, palette=palette, hints=hints, hint_config=config
        )

    return median_time(build, warmup=1, repeats=5, synchronize=synchronize)


def generator_step_seconds(image_size: int, batch_size: int, device) -> float | None:
    """Forward + backward of the largest generator ("3") on one batch, bf16 autocast."""
    try:
        from sketchcolor.models import create_generator
    except ImportError:
        return None
    from sketchcolor.errors import SketchcolorError

    generator = create_generator("3", in_channels=30).to(device)
    try:
        generator.check_size(image_size, image_size)
    except SketchcolorError:
        return None  # model 3 needs sizes divisible by 512
    optimizer = torch.optim.Adam(generator.parameters())
    inputs = torch.randn(batch_size, 30, image_size, image_size, device=device)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = generator(inputs).float().abs().mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return median_time(step, warmup=2, repeats=5, synchronize=torch.cuda.synchronize)


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=None, help="synthetic pairs (train split)")
    parser.add_argument("--size", type=int, default=None, help="half size of the pairs and batches")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--workers", type=int, default=None, help="DALI threads / DataLoader workers"
    )
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    cuda = torch.cuda.is_available() and not args.quick
    pairs = args.pairs or (160 if args.quick else 2048)
    size = args.size or (128 if args.quick else 512)
    workers = args.workers or (2 if args.quick else 8)
    repeats = args.repeats or (3 if args.quick else 5)

    with tempfile.TemporaryDirectory() as scratch:
        root, shards = Path(scratch) / "synth", Path(scratch) / "shards"
        write_synthetic_dataset(
            root, SynthConfig(count=pairs, size=size, val_fraction=0.0), progress=False
        )
        prepare_shards(root, shards, ShardConfig(shard_size=256, workers=workers), progress=False)
        delivery = torch.device("cuda", 0) if cuda else torch.device("cpu")
        epochs = {
            "torch": lambda: loader_epoch(shards, "torch", delivery, delivery, args, size, workers),
            "dali-cpu": lambda: loader_epoch(
                shards, "dali", torch.device("cpu"), delivery, args, size, workers
            ),
            "naive-pil": lambda: naive_epoch(
                root / "data" / "train", size, args.batch_size, workers, delivery
            ),
        }
        if cuda:
            epochs["dali-gpu"] = lambda: loader_epoch(
                shards, "dali", delivery, delivery, args, size, workers
            )
        synchronize = torch.cuda.synchronize if cuda else None
        runs = {}
        for name, epoch in epochs.items():
            count = epoch()  # warm-up: imports, worker start, page cache
            seconds = median_time(epoch, warmup=0, repeats=repeats, synchronize=synchronize)
            runs[name] = {
                "pairs": count,
                "epoch_seconds": seconds,
                "pairs_per_second": count / seconds,
                "seconds_per_batch": seconds * args.batch_size / count,
            }

    baseline = runs["naive-pil"]["pairs_per_second"]
    result = {
        "settings": {
            "pairs": pairs,
            "size": size,
            "batch_size": args.batch_size,
            "workers": workers,
            "repeats": repeats,
            "delivered_to": str(delivery),
        },
        "runs": runs,
        "speedup_vs_naive": {
            name: run["pairs_per_second"] / baseline for name, run in runs.items()
        },
    }
    result["hints_mixed_seconds_per_batch"] = hints_seconds(
        size, args.batch_size, delivery, synchronize
    )
    if cuda:
        step = generator_step_seconds(size, args.batch_size, delivery)
        if step is not None:
            result["generator3_step_seconds"] = step
            result["gpu_waits_on_data"] = runs["dali-gpu"]["seconds_per_batch"] > step
    write_result("bench_loader", result, args.json)


if __name__ == "__main__":
    main()
