"""How fast does one GAN training step run, and how much memory does it take, per generator and size?

Times the real `train_step` (generate, D update, G update with the full loss) under Accelerate
on random batches already on the device, so the number is the models' throughput, not the
loader's (see bench_loader.py for that). Reports per generator and size: training images/s,
peak memory, model FLOPs per image (torch's FlopCounterMode over one step, forward + backward)
and, on a GPU, the model FLOPs utilisation against the GPU's dense bf16 peak. Each is measured
in fp32 and bf16, on a CPU too, and the table gives bf16's speed against fp32 from the same run:
a CPU without native bf16 (no AVX512-BF16 or AMX) emulates it, and the ratio shows the cost
there; the JSON records whether the CPU runs bf16 natively (`cpu_has_native_bf16`).

The VGG16 of the feature loss has random weights here: the same computation as the
pretrained one, with nothing to download.

Usage: python benchmarks/bench_train.py --quick --json benchmarks/results/bench_train-cpu.json
       ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/bench_train.py --quick ...   (as an AVX2-only CPU)
       python benchmarks/bench_train.py --json benchmarks/results/bench_train-h100.json   (GPU, bf16 + fp32)
"""

from __future__ import annotations

import contextlib
import resource
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import base_parser, median_time, write_result  # noqa: E402

# Dense (no sparsity) bf16 tensor-core peaks from the vendors' data sheets, in FLOP/s.
GPU_BF16_PEAKS = (
    ("H200", 989e12),
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),  # SXM
    ("A100", 312e12),
    ("L40S", 362e12),
    ("A10", 125e12),
)


def gpu_bf16_peak(name: str) -> float | None:
    for pattern, peak in GPU_BF16_PEAKS:
        if pattern in name:
            return peak
    return None


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    else:
        # Writing 5 to clear_refs resets the process's peak RSS (VmHWM) on Linux, so each
        # measurement gets its own peak instead of the largest one so far.
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(model: str, size: int, precision: str, args) -> dict:
    """One generator at one size and precision: images/s, peak memory, FLOPs."""
    from accelerate import Accelerator
    from torch.utils.flop_counter import FlopCounterMode

    from sketchcolor.models import Discriminator, create_generator
    from sketchcolor.training.accelerators import has_gpu, release_accelerator
    from sketchcolor.training.losses import GeneratorLoss, VGG16Features
    from sketchcolor.training.step import StepInputs, train_step

    accelerator = Accelerator(cpu=not has_gpu(), mixed_precision=precision)
    device = accelerator.device
    result = {"model": model, "size": size, "precision": precision, "batch_size": args.batch_size,
              "channels_last": args.channels_last, "compile": args.compile}  # fmt: skip
    try:
        torch.manual_seed(0)
        generator = create_generator(model, in_channels=3, width=args.width)
        generator.check_size(size, size)
        discriminator = Discriminator(in_channels=6, width=args.width)
        if args.channels_last:
            generator.to(memory_format=torch.channels_last)
            discriminator.to(memory_format=torch.channels_last)
        optimizers = [
            torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999))
            for m in (generator, discriminator)
        ]
        generator, discriminator, optimizer_g, optimizer_d = accelerator.prepare(
            generator, discriminator, *optimizers
        )
        features = VGG16Features.random_stand_in() if args.feature_loss else None
        generator_loss = GeneratorLoss(features=features).to(device)
        sketch = torch.rand(args.batch_size, 3, size, size, device=device) * 2 - 1  # (B, 3, H, W)
        color = torch.rand(args.batch_size, 3, size, size, device=device) * 2 - 1  # (B, 3, H, W)
        if args.channels_last:
            sketch = sketch.contiguous(memory_format=torch.channels_last)
            color = color.contiguous(memory_format=torch.channels_last)
        inputs = StepInputs(generator_input=sketch, sketch=sketch, color=color)

        def step() -> None:
            with accelerator.autocast():
                train_step(
                    inputs, generator=generator, discriminator=discriminator, optimizer_g=optimizer_g,
                    optimizer_d=optimizer_d, generator_loss=generator_loss, accelerator=accelerator,
                )  # fmt: skip

        synchronize = torch.cuda.synchronize if device.type == "cuda" else None
        step()  # first step outside the clock and the memory peak: lazy inits, Adam state
        # FLOPs of the eager step (the counter does not see inside compiled graphs)
        counter = FlopCounterMode(display=False)
        with counter:
            step()
        flops = counter.get_total_flops()
        if args.compile:
            for module in (generator, discriminator):
                module.compile()  # in place: the optimizers and Accelerate keep their objects
            step()  # compilation outside the clock
        reset_peak_memory(device)
        seconds = median_time(
            step, warmup=args.warmup, repeats=args.repeats, synchronize=synchronize
        )
        result["peak_memory_mib"] = round(peak_memory_mib(device), 1)
        result["seconds_per_step"] = seconds
        result["images_per_second"] = args.batch_size / seconds
        result["model_gflops_per_image"] = flops / args.batch_size / 1e9
        result["generator_parameters"] = sum(
            p.numel() for p in accelerator.unwrap_model(generator).parameters()
        )
        peak = args.peak_tflops * 1e12 if args.peak_tflops else None
        if device.type == "cuda":
            peak = peak or gpu_bf16_peak(torch.cuda.get_device_name(device))
        # Only bf16 rows: an fp32 step against the bf16 tensor-core peak is no utilisation figure.
        if peak and device.type == "cuda" and precision == "bf16":
            result["mfu_vs_bf16_peak"] = flops / seconds / peak
    except torch.cuda.OutOfMemoryError:
        result["error"] = "out of memory"
    except Exception as error:  # a size a generator refuses is a result to record, not a crash
        result["error"] = f"{type(error).__name__}: {str(error).splitlines()[0]}"
    finally:
        release_accelerator(accelerator)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return result


def add_ratios(rows: list[dict]) -> list[dict]:
    """bf16 speed-up over fp32 ("no") for each (model, size) measured both ways."""
    by_key = {(r["model"], r["size"], r["precision"]): r for r in rows if "images_per_second" in r}
    ratios = []
    for (model, size, precision), row in by_key.items():
        baseline = by_key.get((model, size, "no"))
        if precision != "no" and baseline:
            ratios.append({
                "model": model, "size": size, "precision": precision,
                "speedup_vs_fp32": row["images_per_second"] / baseline["images_per_second"],
                "memory_ratio_vs_fp32": row["peak_memory_mib"] / baseline["peak_memory_mib"],
            })  # fmt: skip
    return ratios


def print_table(rows: list[dict], ratios: list[dict] = ()) -> None:
    """One line per measurement; `x fp32` is its images/s over fp32's (from `add_ratios`)."""
    speedups = {(r["model"], r["size"], r["precision"]): r["speedup_vs_fp32"] for r in ratios}
    print(
        f"{'model':>5} {'size':>5} {'precision':>9} {'img/s':>9} {'x fp32':>7} {'peak MiB':>9} "
        f"{'GFLOP/img':>10} {'MFU':>6}"
    )
    for row in rows:
        key = (row["model"], row["size"], row["precision"])
        if "error" in row:
            print(f"{row['model']:>5} {row['size']:>5} {row['precision']:>9}  {row['error']}")
            continue
        mfu = f"{row['mfu_vs_bf16_peak']:.1%}" if "mfu_vs_bf16_peak" in row else "-"
        speedup = f"{speedups[key]:.2f}" if key in speedups else "-"
        print(
            f"{row['model']:>5} {row['size']:>5} {row['precision']:>9} {row['images_per_second']:>9.2f} "
            f"{speedup:>7} {row['peak_memory_mib']:>9.0f} {row['model_gflops_per_image']:>10.2f} {mfu:>6}"
        )


def main() -> None:
    from sketchcolor.training.accelerators import cpu_has_native_bf16

    parser = base_parser(__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["1", "2.1", "2.2", "3"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[256, 512])
    parser.add_argument("--width", type=float, help="width multiplier (default 1; --quick: 1/16)")
    parser.add_argument("--batch-size", type=int, help="pairs per step (default 16; --quick: 2)")
    parser.add_argument(
        "--precisions", nargs="+", default=["no", "bf16"], help="default: no bf16 (fp32, bf16)"
    )
    parser.add_argument("--repeats", type=int, help="timed steps (default 10; --quick: 3)")
    parser.add_argument("--warmup", type=int, help="untimed steps (default 3; --quick: 1)")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile G and D (in place)")
    parser.add_argument(
        "--feature-loss", choices=("on", "off"),
        help="VGG16 feature loss in the step (default on; --quick: off, as the full-width VGG16 "
        "would dwarf the 1/16-width generators being compared)",
    )  # fmt: skip
    parser.add_argument(
        "--peak-tflops", type=float, help="override the GPU's bf16 peak for the MFU"
    )
    args = parser.parse_args()
    args.width = args.width or (1 / 16 if args.quick else 1.0)
    args.batch_size = args.batch_size or (2 if args.quick else 16)
    args.repeats = args.repeats or (3 if args.quick else 10)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    args.feature_loss = (args.feature_loss or ("off" if args.quick else "on")) == "on"

    rows = []
    for model in args.models:
        for size in args.sizes:
            for precision in args.precisions:
                rows.append(measure(model, size, precision, args))
                print_table(rows[-1:])
    ratios = add_ratios(rows)
    print_table(rows, ratios)
    settings = {key: value for key, value in vars(args).items() if key != "json"}
    write_result(
        "bench_train",
        {
            "settings": settings,
            "torch_threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cpu_has_native_bf16": cpu_has_native_bf16(),
            "rows": rows,
            "ratios": ratios,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
