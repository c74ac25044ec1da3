"""Which palette engine is fastest per device? Images/s of each engine on the same images.

Every engine solves the same 9-colour k-means problems (64x64 pixel sample per image, the same
greedy k-means++ start); the batched torch engine gets the images in batches. The ratio is each
engine's images/s over faiss-cpu's, measured in the same run; the mean quantisation error
shows they find equally good palettes.

Usage: python benchmarks/bench_palette.py --quick --json benchmarks/results/bench_palette-cpu.json
"""

from __future__ import annotations

import numpy as np
from common import base_parser, median_time, write_result

from sketchcolor.data.controls.kmeans import extract_palettes, quantisation_error
from sketchcolor.data.sources.synth import make_pair


def color_halves(count: int, size: int) -> np.ndarray:
    """Colour halves of synthetic pairs: uint8 (N, S, S, 3)."""
    halves = [np.asarray(make_pair(size, seed=0, index=i))[:, :size] for i in range(count)]
    return np.ascontiguousarray(np.stack(halves))


def engines_to_measure() -> list[tuple[str, str, int]]:
    """(label, engine, batch size) for every engine this machine can run."""
    import faiss
    import torch

    runs = [("faiss-cpu", "faiss-cpu", 1), ("torch-cpu batch 1", "torch", 1)]
    runs.append(("torch-cpu batch 64", "torch", 64))
    if torch.cuda.is_available():
        runs += [("torch-cuda batch 1", "torch", 1), ("torch-cuda batch 256", "torch", 256)]
        if hasattr(faiss, "StandardGpuResources"):
            runs.append(("faiss-gpu", "faiss-gpu", 1))
    return runs


def measure(images: np.ndarray, engine: str, batch: int, device: str | None) -> tuple[float, float]:
    """(images per second, mean quantisation error) of one engine over `images`."""
    import torch

    def work():
        results = []
        for start in range(0, len(images), batch):
            if engine == "torch" and device == "cpu":
                with _cpu_only():
                    results.append(extract_palettes(images[start : start + batch], engine=engine))
            else:
                results.append(extract_palettes(images[start : start + batch], engine=engine))
        return results

    sync = torch.cuda.synchronize if device == "cuda" else None
    seconds = median_time(work, warmup=1, repeats=3, synchronize=sync)
    palettes = np.concatenate([palette for palette, _ in work()])
    error = float(
        np.mean([quantisation_error(i, p) for i, p in zip(images, palettes, strict=True)])
    )
    return len(images) / seconds, error


class _cpu_only:
    """Make the torch engine pick the CPU even on a GPU machine (it picks CUDA when present)."""

    def __enter__(self):
        import torch

        self.original = torch.cuda.is_available
        torch.cuda.is_available = lambda: False

    def __exit__(self, *exc_info):
        import torch

        torch.cuda.is_available = self.original


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, help="images (default 128 quick, 1024 full)")
    args = parser.parse_args()
    count = args.count or (128 if args.quick else 1024)
    import faiss
    import torch

    faiss.omp_set_num_threads(1)  # as in the shard workers: one thread per process
    torch.set_num_threads(1)
    images = color_halves(count, 256)
    rows = []
    for label, engine, batch in engines_to_measure():
        device = "cuda" if "cuda" in label else ("cpu" if "cpu" in label else None)
        images_per_s, error = measure(images, engine, batch, device)
        rows.append(
            {
                "engine": label,
                "batch": batch,
                "images_per_s": round(images_per_s, 1),
                "mean_quantisation_error": round(error, 6),
            }
        )
    baseline = rows[0]["images_per_s"]
    for row in rows:
        row["ratio_vs_faiss_cpu"] = round(row["images_per_s"] / baseline, 2)
    fastest = max(rows, key=lambda row: row["images_per_s"])
    write_result(
        "bench_palette",
        {
            "images": count,
            "image_size": 256,
            "threads": 1,
            "rows": rows,
            "fastest": fastest["engine"],
        },
        args.json,
    )


if __name__ == "__main__":
    main()
