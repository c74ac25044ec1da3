"""How fast is shard preparation, and where does its time go?

Prepares shards from synthetic pairs with 1 and with N worker processes and reports pairs/s,
pairs/s per worker, the N-worker speed-up as a ratio over 1 worker (same run), and the share
of worker time spent in decode (PNG read + validate), k-means palettes, JPEG encode and tar
writing. It also measures the synthetic pair generator itself (pairs/s on one core), which
must reach 50 pairs/s at S=256.

Usage: python benchmarks/bench_shards.py --quick --json benchmarks/results/bench_shards-cpu.json
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from common import base_parser, median_time, write_result

from sketchcolor.data.shards.write import ShardConfig, prepare_shards
from sketchcolor.data.sources.synth import (
    SynthConfig,
    encode_png,
    make_pair,
    write_synthetic_dataset,
)


def synth_rate(size: int, count: int) -> float:
    """Pairs/s of drawing + PNG-encoding synthetic pairs in this process (one core)."""
    seconds = median_time(
        lambda: [encode_png(make_pair(size, seed=0, index=i)) for i in range(count)],
        warmup=1,
        repeats=3,
    )
    return count / seconds


def prepare_once(source: Path, workers: int, shard_size: int) -> tuple[float, dict]:
    """Seconds for one full preparation into a fresh folder, and its per-stage seconds."""
    out = Path(tempfile.mkdtemp(prefix="bench-shards-"))
    shutil.rmtree(out)
    config = ShardConfig(shard_size=shard_size, workers=workers)
    started = time.perf_counter()
    result = prepare_shards(source, out, config, progress=False)
    seconds = time.perf_counter() - started
    shutil.rmtree(out)
    return seconds, result.seconds


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, help="pairs (default 192 quick, 2000 full)")
    parser.add_argument("--size", type=int, default=256, help="half size S (default 256)")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    args = parser.parse_args()
    count = args.count or (192 if args.quick else 2000)
    synth_per_s = synth_rate(args.size, 32 if args.quick else 200)

    source = Path(tempfile.mkdtemp(prefix="bench-synth-"))
    write_synthetic_dataset(source, SynthConfig(count=count, size=args.size), progress=False)
    shard_size = max(1, count // (4 * args.workers))  # enough shards to keep every worker busy
    rows = []
    for workers in sorted({1, args.workers}):
        prepare_once(source, workers, shard_size)  # warm-up: imports, file cache
        runs = [prepare_once(source, workers, shard_size) for _ in range(1 if args.quick else 3)]
        seconds = sorted(run[0] for run in runs)[len(runs) // 2]
        stages = runs[0][1]
        total = sum(stages.values())
        rows.append(
            {
                "workers": workers,
                "pairs_per_s": round(count / seconds, 1),
                "pairs_per_s_per_worker": round(count / seconds / workers, 1),
                "stage_share": {stage: round(value / total, 3) for stage, value in stages.items()},
            }
        )
    shutil.rmtree(source)
    for row in rows:
        row["speedup_vs_1_worker"] = round(row["pairs_per_s"] / rows[0]["pairs_per_s"], 2)
    write_result(
        "bench_shards",
        {
            "pairs": count,
            "half_size": args.size,
            "shard_size": shard_size,
            "image_format": "jpeg",
            "synth_pairs_per_s_one_core": round(synth_per_s, 1),
            "rows": rows,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
