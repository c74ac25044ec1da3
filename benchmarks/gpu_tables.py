"""Markdown tables from the GPU benchmark results, ready to paste into benchmarks/README.md.

Reads whichever of results/*-gpu.json exist (gpu_check.sh writes them) and writes one
markdown file with a table per benchmark; a missing file is a line saying so.

Usage: python benchmarks/gpu_tables.py --results benchmarks/results
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def load(folder: Path, name: str) -> dict | None:
    path = folder / f"{name}-gpu.json"
    return json.loads(path.read_text()) if path.is_file() else None


def table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def loader_section(result: dict) -> list[str]:
    settings = result["settings"]
    lines = [f"**Loaders** ({settings['source_pair']} {settings['content']} pairs -> "
             f"{settings['size']}, batch {settings['batch_size']}, {settings['workers']} workers, "
             f"steady state over {settings['steady_seconds']} s):", ""]  # fmt: skip
    rows = [[name, f"{run['pairs_per_second']:.0f}",
             f"{result['speedup_vs_naive'][name]:.2f}", f"{run['first_batch_seconds']:.2f}"]
            for name, run in result["runs"].items()]  # fmt: skip
    return lines + table(["loader", "pairs/s", "vs naive PIL", "first batch s"], rows)


def train_section(results: list[dict]) -> list[str]:
    rows = []
    for result in results:
        for row in result["rows"]:
            if "error" in row:
                rows.append([row["model"], row["size"], row["precision"], row.get("channels_last"),
                             row.get("compile"), row["error"], "", ""])  # fmt: skip
                continue
            mfu = f"{row['mfu_vs_bf16_peak']:.1%}" if "mfu_vs_bf16_peak" in row else "-"
            rows.append([row["model"], row["size"], row["precision"], row.get("channels_last"),
                         row.get("compile"), f"{row['images_per_second']:.1f}",
                         f"{row['peak_memory_mib']:.0f}", mfu])  # fmt: skip
    header = ["model", "size", "precision", "channels-last", "compile", "images/s",
              "peak MiB", "MFU (bf16 peak)"]  # fmt: skip
    return ["**Training** (full width, batch 16, one GPU):", "", *table(header, rows)]


def eval_section(result: dict) -> list[str]:
    rows = [[name, f"{value:.1f}"] for name, value in result["images_per_second"].items()]
    lines = ["**Evaluation** (images/s per part):", "", *table(["part", "images/s"], rows)]
    frechet = result.get("frechet_distance", {})
    if frechet:
        rows = [[name, f"{t['seconds_ours']:.2f}", f"{t['seconds_pytorch_fid']:.2f}",
                 f"{t['speedup']:.1f}", t["device"]] for name, t in frechet.items()]  # fmt: skip
        header = ["statistics", "ours s", "pytorch-fid s", "speed-up", "device"]
        lines += ["", "**Fréchet distance** (2048-d):", "", *table(header, rows)]
    return lines


def palette_section(result: dict) -> list[str]:
    rows = [[row["engine"], row["images_per_s"], row["ratio_vs_faiss_cpu"]]
            for row in result["rows"]]  # fmt: skip
    return ["**Palettes**:", "", *table(["engine", "images/s", "vs faiss-cpu"], rows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    sections = []
    environment = load(args.results, "gpu_env")
    if environment:
        sections.append([f"Machine: {environment.get('gpu')}, driver {environment.get('driver')}, "
                         f"torch {environment.get('torch')}, DALI {environment.get('dali')}, "
                         f"faiss {environment.get('faiss')}."])  # fmt: skip
    loaders = load(args.results, "bench_loader_1024")
    sections.append(loader_section(loaders) if loaders else ["(no loader results)"])
    trains = [load(args.results, name) for name in
              ("bench_train", "bench_train_channels_last", "bench_train_compile")]  # fmt: skip
    trains = [result for result in trains if result]
    sections.append(train_section(trains) if trains else ["(no training results)"])
    evaluation = load(args.results, "bench_eval")
    sections.append(eval_section(evaluation) if evaluation else ["(no evaluation results)"])
    palettes = load(args.results, "bench_palette")
    sections.append(palette_section(palettes) if palettes else ["(no palette results)"])
    text = "# GPU results\n\n" + "\n\n".join("\n".join(section) for section in sections) + "\n"
    out = args.results / "gpu-tables.md"
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
