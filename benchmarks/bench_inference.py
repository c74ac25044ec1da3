"""How fast does a generator colour 512x512 sketches on the CPU: torch eager, torch.compile,
onnxruntime fp32, onnxruntime int8?

For Model 1 and Model 2.1 at width 1/16 and full width (a hints run, overlay encoding, random
weights: speed depends on the architecture and the size, not on what was learnt), times the
engine call colorize makes (sketchcolor.inference.engines: input encoding, generator, clamp) on batches
of 1 and 8 synthetic val sketches at 512x512, with 1 and 2 threads. Reports latency p50/p95
per call, sketches/s from the median, and every engine's ratio against torch eager in the same
run. int8 is calibrated on the synthetic shards' val sketches; its mean |int8 - fp32| on them
is reported too. torch.compile (inductor on the CPU) is skipped with a note where it fails.

Each row runs a warm-up call, then repeats until --seconds per row have passed (at least
--min-repeats calls, at most --max-repeats), so full width stays at 512 px with fewer repeats.

Usage: python benchmarks/bench_inference.py --json benchmarks/results/bench_inference-cpu.json
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import base_parser, write_result  # noqa: E402

SIZE = 512
ENGINES = ("torch eager", "torch.compile", "onnxruntime fp32", "onnxruntime int8")


def make_shards(folder: Path) -> Path:
    """8 synthetic pairs at 512 px as shards: the val sketches to time and calibrate on."""
    from sketchcolor.data.shards.write import ShardConfig, prepare_shards
    from sketchcolor.data.sources.synth import SynthConfig, write_synthetic_dataset

    write_synthetic_dataset(folder / "synth", SynthConfig(count=8, size=SIZE, seed=0,
                                                          val_fraction=0.25), progress=False)  # fmt: skip
    prepare_shards(folder / "synth", folder / "shards", ShardConfig(shard_size=8), progress=False)
    return folder / "shards"


def make_run(folder: Path, model: str, width: float, shard_dir: Path) -> Path:
    """A hints run folder (config.json + generator.safetensors, random weights) whose
    train_config names the shards, as training would write it."""
    import torch

    from sketchcolor.config import HintConfig, TrainConfig
    from sketchcolor.data.controls.conditioning import input_channels
    from sketchcolor.models import create_generator, save_generator
    from sketchcolor.runs import TRAIN_CONFIG_FILE

    torch.manual_seed(0)
    hint_config = HintConfig.for_size(SIZE)
    generator = create_generator(model, in_channels=input_channels("hints", hint_config),
                                 width=width)  # fmt: skip
    metadata = {"color_control": "hints", "hint_config": hint_config.to_dict(),
                "image_size": SIZE, "ema": False, "step": 1}  # fmt: skip
    save_generator(generator, folder, metadata=metadata)
    train_config = TrainConfig.from_flat(data=shard_dir, out=folder, model=model, size=SIZE,
                                         color_control="hints", width=width)  # fmt: skip
    train_config.save(folder / TRAIN_CONFIG_FILE)
    return folder


def val_sketches(shard_dir: Path, batch: int):
    """`batch` val sketches (B, 3, 512, 512), the two val pairs repeated."""
    import torch

    from sketchcolor.data.loading.loader import create_loader

    loader = create_loader(shard_dir, split="val", image_size=SIZE, batch_size=2,
                           backend="torch", training=False, num_workers=0)  # fmt: skip
    sketch = next(iter(loader.epoch(0)))["sketch"]
    return torch.cat([sketch] * ((batch + 1) // 2))[:batch].contiguous()


def time_calls(work, seconds: float, min_repeats: int, max_repeats: int) -> list[float]:
    """Seconds per call: one warm-up call, then calls until `seconds` have passed."""
    work()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < max_repeats and (
        len(times) < min_repeats or time.perf_counter() - started < seconds
    ):
        begin = time.perf_counter()
        work()
        times.append(time.perf_counter() - begin)
    return times


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def build_engines(run: Path, threads: int, notes: list[str]) -> dict:
    """Every engine of one run at one thread count (None where it cannot be built)."""
    import torch

    from sketchcolor.inference.engines import TorchEngine, load_engine

    torch.set_num_threads(threads)
    engines: dict = {}
    eager, config, hint_config = load_engine(run, "torch")
    engines["torch eager"] = eager
    try:
        compiled = torch.compile(eager.generator, backend="inductor")
        engines["torch.compile"] = TorchEngine(compiled, config, hint_config)
    except Exception as error:  # noqa: BLE001 - reported as a note, the row is skipped
        notes.append(f"torch.compile unavailable: {str(error).splitlines()[0]}")
        engines["torch.compile"] = None
    engines["onnxruntime fp32"], _, _ = load_engine(
        run, "onnxruntime", onnx=run / "generator.onnx", threads=threads
    )
    engines["onnxruntime int8"], _, _ = load_engine(
        run, "onnxruntime", onnx=run / "generator.int8.onnx", threads=threads
    )
    return engines


def measure_run(run: Path, label: dict, sketches: dict, args, notes: list[str]) -> list[dict]:
    """Rows for one run: threads x batch x engine, with ratios against torch eager."""
    import torch

    rows = []
    for threads in args.threads:
        engines = build_engines(run, threads, notes)
        for batch in args.batches:
            sketch = sketches[batch]
            eager_p50 = None
            for name in ENGINES:
                engine = engines.get(name)
                if name not in args.engines or engine is None:
                    continue
                torch.set_num_threads(threads)

                def work(engine=engine, sketch=sketch):
                    with torch.no_grad():
                        return engine(sketch, None, None)

                try:
                    times = time_calls(work, args.seconds, args.min_repeats, args.max_repeats)
                except Exception as error:  # noqa: BLE001 - a failing engine is a note
                    notes.append(f"{label} {name} batch {batch}: {str(error).splitlines()[0]}")
                    if name == "torch.compile":
                        engines[name] = None
                    traceback.print_exc()
                    continue
                p50 = statistics.median(times)
                eager_p50 = p50 if name == "torch eager" else eager_p50
                row = {**label, "engine": name, "threads": threads, "batch": batch,
                       "repeats": len(times), "p50_ms": 1000 * p50,
                       "p95_ms": 1000 * percentile(times, 95), "sketches_per_s": batch / p50,
                       "speedup_vs_eager": (eager_p50 / p50) if eager_p50 else None}  # fmt: skip
                rows.append(row)
                print(f"{label['model']:>4} w{label['width']:<6} {name:<17} threads {threads} "
                      f"batch {batch}: p50 {row['p50_ms']:9.1f} ms  {row['sketches_per_s']:6.2f}/s "
                      f"x{row['speedup_vs_eager'] or 0:.2f} ({len(times)} calls)", flush=True)  # fmt: skip
    return rows


def int8_difference(run: Path, shard_dir: Path) -> float:
    """Mean |onnxruntime int8 - torch fp32| on the val sketches (on [-1, 1])."""
    import torch

    from sketchcolor.inference.engines import load_engine

    fp32, _, _ = load_engine(run, "torch")
    int8, _, _ = load_engine(run, "onnxruntime", onnx=run / "generator.int8.onnx")
    sketch = val_sketches(shard_dir, 2)
    with torch.no_grad():
        return float((int8(sketch, None, None) - fp32(sketch, None, None)).abs().mean())


def markdown_table(rows: list[dict]) -> str:
    """The rows as the README's table: one line per model, width, threads, batch and engine."""
    lines = ["| model | width | threads | batch | engine | p50 ms | p95 ms | sketches/s | vs eager |",
             "|---|---|---:|---:|---|---:|---:|---:|---:|"]  # fmt: skip
    for row in rows:
        width = "1/16" if row["width"] == 1 / 16 else f"{row['width']:g}"
        ratio = row["speedup_vs_eager"]
        lines.append(f"| {row['model']} | {width} | {row['threads']} | {row['batch']} | "
                     f"{row['engine']} | {row['p50_ms']:.0f} | {row['p95_ms']:.0f} | "
                     f"{row['sketches_per_s']:.2f} | {f'{ratio:.2f}' if ratio else '-'} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["1", "2.1"])
    parser.add_argument("--widths", nargs="+", type=float, default=[1 / 16, 1.0])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per row")
    parser.add_argument("--min-repeats", type=int, default=2)
    parser.add_argument("--max-repeats", type=int, default=20)
    args = parser.parse_args()
    if args.quick:
        args.widths, args.batches, args.seconds = [1 / 16], [1], 1.0

    from sketchcolor.export.onnx import export_onnx

    notes: list[str] = []
    rows, exports = [], []
    with tempfile.TemporaryDirectory(prefix="bench-inference-") as folder:
        shard_dir = make_shards(Path(folder))
        sketches = {batch: val_sketches(shard_dir, batch) for batch in args.batches}
        for model in args.models:
            for width in args.widths:
                run = make_run(Path(folder) / f"m{model}-w{width}", model, width, shard_dir)
                fp32 = export_onnx(run)
                int8 = export_onnx(run, int8=True, check=False, calibration_images=2)
                label = {"model": model, "width": width}
                difference = int8_difference(run, shard_dir)
                exports.append({**label, "export_s": fp32.seconds, "int8_export_s": int8.seconds,
                                "fp32_max_error": fp32.max_error,
                                "int8_mean_abs_difference": difference})  # fmt: skip
                rows += measure_run(run, label, sketches, args, notes)
    write_result("bench_inference", {"size": SIZE, "control": "hints (overlay), no labels",
                                     "rows": rows, "exports": exports,
                                     "notes": notes}, args.json)  # fmt: skip
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
