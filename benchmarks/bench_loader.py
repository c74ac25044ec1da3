"""How many training pairs per second does each loader deliver to the device?

Compares, in one run on the same pairs and worker count: DALI on the GPU (when there is one),
DALI on the CPU, the torch fallback, torchvision's batched nvJPEG decode (`decode_jpeg(device=
"cuda")`, the GPU row a user would try instead of DALI; CUDA only), and a naive baseline (PIL
reading the folder of PNG pairs in a DataLoader). Each loader runs full training epochs
(shuffle + flip), delivered to the device and synchronised, for at least `--seconds` after a
warm-up epoch: the steady rate. The time to the first batch (pipeline build, worker start) is
reported apart. Ratios are against the naive baseline.

Content: `--content realistic` (default) times photograph-like pairs (benchmarks/
realistic_pairs.py) stored at `--source-size` (512: the Kaggle 1024x512 pairs); flat synthetic
shapes (`synthetic`) decode unusually fast and flatter the PNG baseline. With a GPU it also
times a training step of the largest generator at the same size, to show whether the GPU would
wait on data (loader batch time < step time means it does not).

`--data s3` answers a second question: how fast is training from s3:// shards (data/storage/s3.py)
with the node's cache cold (every tar downloaded during the first epoch) and warm (a new run
over the cached tars), against the same shards on local disk, for the torch loader and the
DALI loader (CPU), and how does DALI's own s3:// reader (the tars opened as URLs, nothing
staged) compare? It starts moto's S3 server on 127.0.0.1 in its own process (sharing this
machine's cores with the loader; its CPU seconds per row are recorded) and uploads the shards
there; `--data s3://BUCKET/PREFIX` uploads them to that store instead (credentials and
endpoint from the AWS_* environment). Each row times loader creation plus one whole epoch
(cold: downloads included), in rounds that take the rows in turn (--rounds; medians, and each
round's ratio to its own local row); then the steady rates of local, warm and direct, whose
epochs also take turns (`alternating_steady`).
It also records what DALI's reader does with a flipped byte in a stored tar and with a store
that stops (benchmarks/s3_store.py).

Usage: python benchmarks/bench_loader.py --quick --json benchmarks/results/bench_loader-cpu.json
       python benchmarks/bench_loader.py --data s3 --pairs 256 --size 256 --source-size 256 \
           --shard-size 32 --batch-size 8 --workers 2 --seconds 8 \
           --json benchmarks/results/bench_loader_s3-cpu.json
       python benchmarks/bench_loader.py --pairs 96 --size 512 --batch-size 8 --workers 2 \
           --seconds 20 --json benchmarks/results/bench_loader_1024-cpu.json
       python benchmarks/bench_loader.py --pairs 96 --size 256 --stored-size 256 --batch-size 8 \
           --workers 2 --seconds 20 --json benchmarks/results/bench_loader_1024to256stored-cpu.json
"""

from __future__ import annotations

import contextlib
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).parent))
from common import base_parser, median_time, write_result  # noqa: E402
from realistic_pairs import write_pairs  # noqa: E402

from sketchcolor.data.loading.loader import create_loader, read_split  # noqa: E402
from sketchcolor.data.loading.torch_loader import stop_workers_at_exit  # noqa: E402
from sketchcolor.data.shards.write import ShardConfig, prepare_shards  # noqa: E402
from sketchcolor.data.sources.synth import SynthConfig, write_synthetic_dataset  # noqa: E402


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


def naive_epoch(folder: Path, image_size: int, batch_size: int, workers: int, device):
    """One epoch of the naive loader; yields the pairs of each delivered batch."""
    loader = DataLoader(
        NaivePairs(folder, image_size),
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )
    for color, sketch in loader:
        color = color.to(device, non_blocking=True).float() / 127.5 - 1
        sketch = sketch.to(device, non_blocking=True).float() / 127.5 - 1
        yield color.shape[0]


def loader_epochs(shards: Path, backend: str, device, delivery, args, size: int, workers: int):
    """epoch -> that training epoch of one `create_loader`, batches moved on to `delivery`."""
    loader = create_loader(
        shards, image_size=size, batch_size=args.batch_size, device=device,
        backend=backend, num_workers=workers,
    )  # fmt: skip

    def epoch(number: int) -> Iterator[int]:
        for batch in loader.epoch(number):
            batch["color"].to(delivery, non_blocking=True)
            batch["sketch"].to(delivery, non_blocking=True)
            yield len(batch["key"])

    return epoch


def torchvision_gpu_epochs(shards: Path, size: int, batch_size: int, device):
    """epoch -> batches decoded by torchvision's batched nvJPEG (`decode_jpeg(device="cuda")`).

    The JPEG bytes are read through the shards' index in the main process; the batch is
    decoded on the GPU in one call, split and resized there (antialiased bilinear), flipped.
    """
    import torch.nn.functional as F
    import torchvision.io

    from sketchcolor.data.loading.loader import read_split
    from sketchcolor.data.loading.torch_loader import read_samples

    split = read_split(shards, "train")
    samples = read_samples(split.tar_paths, split.index_paths)
    files = {tar: open(tar, "rb") for tar in split.tar_paths}  # noqa: SIM115 (benchmark's life)

    def encoded(sample) -> torch.Tensor:
        handle = files[sample.tar]
        handle.seek(sample.image_offset)
        return torch.frombuffer(bytearray(handle.read(sample.image_size)), dtype=torch.uint8)

    def epoch(number: int) -> Iterator[int]:
        order = torch.randperm(len(samples), generator=torch.Generator().manual_seed(number))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            batch = [encoded(samples[i]) for i in order[start : start + batch_size].tolist()]
            pairs = torch.stack(torchvision.io.decode_jpeg(batch, device=device))  # (B, 3, S, 2S)
            half = pairs.shape[-1] // 2
            halves = [
                F.interpolate(part.float(), size=(size, size), mode="bilinear", antialias=True)
                for part in (pairs[..., :half], pairs[..., half:])
            ]
            flips = torch.rand(batch_size, device=device)[:, None, None, None] < 0.5
            color, _ = (torch.where(flips, h.flip(-1), h) / 127.5 - 1 for h in halves)
            yield color.shape[0]

    return epoch


def steady_rate(epochs: Callable[[int], Iterator[int]], seconds: float, synchronize) -> dict:
    """Time to the first batch, then whole epochs for at least `seconds`: pairs per second.

    Epoch 0 is the warm-up (imports, worker start, page cache) and its first batch the build
    time; the steady rate counts every later epoch whole, per-epoch set-up included, as a
    training run pays it.
    """
    start = time.perf_counter()
    warmup = epochs(0)
    first = next(warmup)
    first_batch_seconds = time.perf_counter() - start
    for _ in warmup:
        pass
    pairs, number, start = 0, 1, time.perf_counter()
    while time.perf_counter() - start < seconds:
        pairs += sum(epochs(number))
        number += 1
    if synchronize:
        synchronize()
    elapsed = time.perf_counter() - start
    return {
        "first_batch_seconds": first_batch_seconds,
        "first_batch_pairs": first,
        "epochs": number - 1,
        "pairs": pairs,
        "seconds": elapsed,
        "pairs_per_second": pairs / elapsed,
    }


def alternating_steady(loaders: dict, seconds: float, synchronize, meter=None) -> dict:
    """Steady pairs/s of several loaders: a warm-up epoch each, then whole epochs in turn
    until each has run `seconds`. meter() -> (store CPU seconds, store requests), per loader."""
    runs = {}
    for name, loader in loaders.items():
        start = time.perf_counter()
        batches = loader.epoch(0)
        runs[name] = {"first_batch_pairs": len(next(batches)["key"]),
                      "first_batch_seconds": time.perf_counter() - start,
                      "epochs": 0, "pairs": 0, "seconds": 0.0}  # fmt: skip
        for _ in batches:
            pass
        if meter:
            runs[name] |= {"store_cpu_seconds": 0.0, "store_requests": 0}
    number = 1
    while any(run["seconds"] < seconds for run in runs.values()):
        for name, loader in loaders.items():
            before = meter() if meter else None
            start = time.perf_counter()
            runs[name]["pairs"] += sum(len(batch["key"]) for batch in loader.epoch(number))
            if synchronize:
                synchronize()
            runs[name]["seconds"] += time.perf_counter() - start
            runs[name]["epochs"] += 1
            if meter:
                after = meter()
                runs[name]["store_cpu_seconds"] += after[0] - before[0]
                runs[name]["store_requests"] += after[1] - before[1]
        number += 1
    for run in runs.values():
        run["pairs_per_second"] = run["pairs"] / run["seconds"]
    return runs


def hints_seconds(image_size: int, batch_size: int, device, synchronize) -> float:
    """Simulated hint labels + the mixed generator input for one batch, on the device."""
    from sketchcolor.config import HintConfig
    from sketchcolor.data.controls.conditioning import build_generator_input, sample_hints

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


def first_epoch(make_loader, synchronize) -> dict:
    """Loader creation (manifest, indexes) plus one whole training epoch: pairs per second."""
    start = time.perf_counter()
    loader = make_loader()
    pairs = sum(len(batch["key"]) for batch in loader.epoch(0))
    if synchronize:
        synchronize()
    elapsed = time.perf_counter() - start
    # The DALI loader builds the next epoch's pipeline while one runs; let it finish outside
    # the timing, so it does not run into the next row's.
    builder = getattr(loader, "_pipelines", None) or getattr(loader, "builder", None)
    if builder is not None and builder._ahead is not None:
        builder._ahead[1].result()
    # Likewise the torch loader's persistent workers: stopped here, not during the next row.
    del loader, builder
    stop_workers_at_exit()
    gc.collect()
    return {"pairs": pairs, "seconds": elapsed, "pairs_per_second": pairs / elapsed}


def s3_comparison(shards: Path, scratch: Path, target: str, args, size: int, workers: int,
                  delivery, synchronize) -> dict:  # fmt: skip
    """Local disk, s3:// with a cold and a warm node cache, for the torch and DALI loaders, and
    DALI's own s3:// reader, on the same shards (see the module docstring)."""
    from s3_store import DirectEpochs, direct_reader_safety, stopped_store_error, store_process

    from sketchcolor.data.storage import s3 as remote
    from sketchcolor.util.locations import split_url

    remote.PREFETCH_THREADS = args.prefetch_threads
    with contextlib.ExitStack() as stack:
        store = None
        if target == "s3":
            store = stack.enter_context(store_process(scratch / "store.log"))
            remote._clients.clear()
            remote.s3_client().create_bucket(Bucket="bench")
            target = "s3://bench/shards"
        remote.upload_folder(shards, target, progress=False)

        def make(location, backend):
            return lambda: create_loader(
                location, image_size=size, batch_size=args.batch_size, device=delivery,
                backend=backend, num_workers=workers,
            )  # fmt: skip

        def direct():
            return DirectEpochs(target, image_size=size, batch_size=args.batch_size,
                                device=delivery, num_workers=workers)  # fmt: skip

        def new_process(cache: Path) -> None:  # what a new run on this node starts from
            remote._staged.clear()
            remote.use_shard_cache(cache)

        backends = ["torch", "dali"] if args.s3_loaders == "both" else [args.s3_loaders]
        # name -> (make the loader, the node cache it starts from: None for local disk, "empty"
        # for a new one, "kept" for the one the cold row before it filled).
        rows = {}
        for backend in backends:
            prefix = "" if backend == "torch" else "dali-"
            rows[f"{prefix}local"] = (make(shards, backend), None)
            rows[f"{prefix}s3-cold"] = (make(target, backend), "empty")
            rows[f"{prefix}s3-warm"] = (make(target, backend), "kept")
            if backend == "dali":
                rows["dali-s3-direct"] = (direct, "kept")  # reads the .idx files staged there
        # A warm-up per backend (imports, first worker start, page cache), then rounds that
        # take the rows in turn, each cold one on an empty cache: medians, so the machine's
        # load hits all alike, and each round's ratios to its own local row.
        for backend in backends:
            first_epoch(make(shards, backend), synchronize)
        rounds = {name: [] for name in rows}
        loads = [os.getloadavg()[0]]
        for number in range(args.rounds):
            for name, (make_loader, cache) in rows.items():
                if cache == "empty":
                    new_process(scratch / f"node-cache-{number}-{name}")
                elif cache == "kept":
                    new_process(remote.shard_cache_root())
                before = (store.cpu_seconds(), store.requests()) if store else None
                measured = first_epoch(make_loader, synchronize)
                if store:
                    measured["store_cpu_seconds"] = store.cpu_seconds() - before[0]
                    measured["store_requests"] = store.requests() - before[1]
                measured["load_average"] = os.getloadavg()[0]
                rounds[name].append(measured)
                print(f"round {number} {name}: {measured['pairs_per_second']:.1f} pairs/s",
                      file=sys.stderr)  # fmt: skip
        runs = {}
        for name, measured in rounds.items():
            local = "local" if not name.startswith("dali") else "dali-local"
            ratios = [run["pairs_per_second"] / base["pairs_per_second"]
                      for run, base in zip(measured, rounds[local], strict=True)]  # fmt: skip
            rates = [run["pairs_per_second"] for run in measured]
            runs[name] = {"pairs_per_second": statistics.median(rates),
                          "vs_local_per_round": ratios, "vs_local": statistics.median(ratios),
                          "rounds": measured}  # fmt: skip
        # Steady rates: the loaders of one backend take whole epochs in turn until each has
        # run `--seconds`, so a change in the machine's load hits them alike.
        # DALI's own reader, ten times slower here, runs alone after them.
        groups = [("torch", {"local": shards, "s3-warm": target}),
                  ("dali", {"dali-local": shards, "dali-s3-warm": target}),
                  ("dali", {"dali-s3-direct": None})]  # fmt: skip
        new_process(scratch / "node-cache-0-s3-cold")  # every train tar staged there
        for backend, group in groups:
            if backend not in backends:
                continue
            loaders = {name: direct() if location is None else make(location, backend)()
                       for name, location in group.items()}  # fmt: skip
            meter = (lambda: (store.cpu_seconds(), store.requests())) if store else None
            for name, steady in alternating_steady(loaders, args.seconds or 10.0, synchronize,
                                                   meter).items():  # fmt: skip
                runs[name]["steady"] = steady
            del loaders
            stop_workers_at_exit()
        loads.append(os.getloadavg()[0])
        result = {"store": "moto in its own process on 127.0.0.1 (same machine)" if store
                  else target, "prefetch_threads": args.prefetch_threads,
                  "load_average_start_end": loads, "runs": runs}  # fmt: skip
        result["first_epoch_vs_local"] = {name: run["vs_local"] for name, run in runs.items()}
        result["steady_vs_local"] = {}
        for name, run in runs.items():
            if "steady" in run:
                local = runs["dali-local" if name.startswith("dali") else "local"]["steady"]
                rate = run["steady"]["pairs_per_second"] / local["pairs_per_second"]
                result["steady_vs_local"][name] = rate
        if store and "dali" in backends:
            bucket, prefix = split_url(target)
            folder = remote.local_folder(target)
            result["dali_s3_reader_safety"] = direct_reader_safety(
                remote.s3_client(), bucket, prefix, folder, "train-000000.tar"
            )
            split = read_split(target, "train")
            urls = [split.remote.object_url(Path(path).name) for path in split.tar_paths]
            result["dali_s3_reader_safety"]["stopped_store"] = stopped_store_error(
                urls, split.index_paths, store
            )
    for name, run in runs.items():
        print(f"{name}: first epoch {run['pairs_per_second']:.1f} pairs/s, "
              f"{run['vs_local']:.2f}x local", file=sys.stderr)  # fmt: skip
    return result


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=None, help="synthetic pairs (train split)")
    parser.add_argument("--size", type=int, default=None, help="half size of the pairs and batches")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--workers", type=int, default=None, help="DALI threads / DataLoader workers"
    )
    parser.add_argument("--seconds", type=float, default=None,
                        help="steady-state seconds per loader (default 20; quick 3)")  # fmt: skip
    parser.add_argument("--content", choices=("realistic", "synthetic"), default=None,
                        help="photograph-like pairs (default) or flat shapes (quick)")  # fmt: skip
    parser.add_argument("--source-size", type=int, default=None,
                        help="half size of the stored pairs (default 512: 1024x512 pairs; "
                        "quick: --size)")  # fmt: skip
    parser.add_argument("--stored-size", type=int, default=None,
                        help="half size the shards store (default --source-size); the training "
                        "size makes the shard loaders skip the resize, as `sketchcolor shards "
                        "--size S` does once at preparation")  # fmt: skip
    parser.add_argument("--loaders", default=None,
                        help="comma-separated subset of naive-pil,torch,dali-cpu,dali-gpu,"
                        "torchvision-gpu")  # fmt: skip
    parser.add_argument("--shard-size", type=int, default=256, help="pairs per tar")
    parser.add_argument("--rounds", type=int, default=3, help="--data s3: first-epoch rounds")
    parser.add_argument("--prefetch-threads", type=int, default=4,
                        help="--data s3: tars staged at once ahead of the loader")  # fmt: skip
    parser.add_argument("--s3-loaders", choices=("torch", "dali", "both"), default="both",
                        help="--data s3: the loaders compared (dali adds DALI's own s3:// "
                        "reader)")  # fmt: skip
    parser.add_argument("--data", default=None,
                        help="s3 (a moto server on 127.0.0.1) or s3://BUCKET/PREFIX: compare "
                        "s3:// cold and warm cache with local disk instead")  # fmt: skip
    args = parser.parse_args()
    cuda = torch.cuda.is_available() and not args.quick
    pairs = args.pairs or (160 if args.quick else 2048)
    size = args.size or (128 if args.quick else 512)
    source_size = args.source_size or (size if args.quick else 512)
    stored_size = args.stored_size or source_size
    workers = args.workers or (2 if args.quick else 8)
    seconds = args.seconds or (3.0 if args.quick else 20.0)
    content = args.content or ("synthetic" if args.quick else "realistic")

    with tempfile.TemporaryDirectory() as scratch:
        root, shards = Path(scratch) / "pairs", Path(scratch) / "shards"
        if content == "realistic":
            write_pairs(root, pairs, source_size)
        else:
            write_synthetic_dataset(
                root, SynthConfig(count=pairs, size=source_size, val_fraction=0.0), progress=False
            )
        # Stored at --stored-size (default the source half size, as `sketchcolor shards --size
        # 512` writes the Kaggle pairs): the loaders skip resizing when it is the training size.
        prepare_shards(
            root, shards, ShardConfig(size=stored_size, shard_size=args.shard_size, workers=workers),
            progress=False,
        )  # fmt: skip
        delivery = torch.device("cuda", 0) if cuda else torch.device("cpu")
        if args.data is not None:
            synchronize = torch.cuda.synchronize if cuda else None
            result = s3_comparison(shards, Path(scratch), args.data, args, size, workers,
                                   delivery, synchronize)  # fmt: skip
            result["settings"] = {"pairs": pairs, "size": size, "content": content,
                                  "shards_store": f"{2 * stored_size}x{stored_size}",
                                  "batch_size": args.batch_size, "workers": workers,
                                  "loaders": args.s3_loaders, "delivered_to": str(delivery)}  # fmt: skip
            write_result("bench_loader_s3", result, args.json)
            return
        cpu = torch.device("cpu")
        loaders = {
            "naive-pil": lambda: (
                lambda number: naive_epoch(
                    root / "data" / "train", size, args.batch_size, workers, delivery
                )
            ),
            "torch": lambda: loader_epochs(
                shards, "torch", delivery, delivery, args, size, workers
            ),
            "dali-cpu": lambda: loader_epochs(shards, "dali", cpu, delivery, args, size, workers),
        }
        if cuda:
            loaders["dali-gpu"] = lambda: loader_epochs(
                shards, "dali", delivery, delivery, args, size, workers
            )
            loaders["torchvision-gpu"] = lambda: torchvision_gpu_epochs(
                shards, size, args.batch_size, delivery
            )
        if args.loaders:
            loaders = {name: loaders[name] for name in args.loaders.split(",") if name in loaders}
        synchronize = torch.cuda.synchronize if cuda else None
        runs = {}
        for name, make in loaders.items():
            runs[name] = steady_rate(make(), seconds, synchronize)
            runs[name]["seconds_per_batch"] = args.batch_size / runs[name]["pairs_per_second"]
            print(f"{name}: {runs[name]['pairs_per_second']:.1f} pairs/s", file=sys.stderr)

    baseline = runs["naive-pil"]["pairs_per_second"] if "naive-pil" in runs else float("nan")
    result = {
        "settings": {
            "pairs": pairs,
            "size": size,
            "source_pair": f"{2 * source_size}x{source_size}",
            "shards_store": f"{2 * stored_size}x{stored_size}",
            "content": content,
            "batch_size": args.batch_size,
            "workers": workers,
            "steady_seconds": seconds,
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
    if cuda and "dali-gpu" in runs:
        step = generator_step_seconds(size, args.batch_size, delivery)
        if step is not None:
            result["generator3_step_seconds"] = step
            result["gpu_waits_on_data"] = runs["dali-gpu"]["seconds_per_batch"] > step
    write_result("bench_loader", result, args.json)


if __name__ == "__main__":
    main()
