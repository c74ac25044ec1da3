"""What the stored region maps cost and buy: shard size and preparation time with the maps, and
training images/s of the best recipe (small-run: strokes spread over their regions, now from the
stored maps on the device) against the same run with `--hint-spread none --hint-shape dots`.

Training speed is measured as a difference of two runs (STEPS_SHORT and STEPS_LONG steps) per
recipe, so start-up, export and BatchNorm statistics cancel; both recipes run in this process,
one after the other, on the same shards.

Usage: python benchmarks/bench_regions.py --pairs om256 --json benchmarks/results/bench_regions-cpu.json
"""

from __future__ import annotations

import json
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import base_parser, write_result  # noqa: E402

RECIPES = {
    "best": {},  # the small-run preset as it is
    "plain": {"hint_spread": "none", "hint_shape": "dots"},
}


def shard_costs(pairs: Path, out: Path) -> dict:
    """Prepare the shards; the maps' share of the bytes and of the preparation time."""
    from sketchcolor.config import ShardConfig
    from sketchcolor.data.shards.write import prepare_shards

    started = time.perf_counter()
    result = prepare_shards(pairs, out, ShardConfig(shard_size=100), progress=False)
    seconds = time.perf_counter() - started
    total = map_bytes = 0
    for split in result.manifest["splits"].values():
        for entry in split["shards"]:
            total += entry["bytes"]
            with tarfile.open(out / entry["tar"]) as archive:
                map_bytes += sum(m.size for m in archive if m.name.endswith(".regions.png"))
    regions = result.seconds.get("regions", 0.0)
    return {
        "pairs": result.written_now, "seconds": seconds, "stage_seconds": result.seconds,
        "tar_bytes": total, "region_map_bytes": map_bytes,
        "size_overhead": map_bytes / max(total - map_bytes, 1),
        "time_overhead": regions / max(seconds - regions, 1e-9),
    }  # fmt: skip


def train_seconds(shards: Path, root: Path, recipe: str, steps: int, size: int | None) -> float:
    from sketchcolor.train import train
    from sketchcolor.training.presets import small_run_config

    sized = {} if size is None else {"size": size}
    config = small_run_config(shards, root / f"{recipe}-{steps}", max_steps=steps,
                              color_control="hints", **RECIPES[recipe], **sized)  # fmt: skip
    started = time.perf_counter()
    train(config)
    return time.perf_counter() - started


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, required=True)
    parser.add_argument("--steps", type=int, nargs=2, default=(5, 25))
    parser.add_argument("--size", type=int, help="training size (default: the recipe's 256)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-regions-"))
    load_before = os.getloadavg()
    shards = shard_costs(args.pairs, root / "shards")
    short, long = args.steps
    rates = {}
    for recipe in RECIPES:
        times = [train_seconds(root / "shards", root, recipe, steps, args.size)
                 for steps in (short, long)]  # fmt: skip
        rates[recipe] = (long - short) * 8 / (times[1] - times[0])  # small-run batches of 8
    result = {
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "shards": shards, "steps": [short, long], "size": args.size or 256,
        "images_per_second": rates,
        "best_over_plain": rates["best"] / rates["plain"],
        "recipes": json.loads(json.dumps(RECIPES)),
    }  # fmt: skip
    write_result("bench_regions", result, args.json)


if __name__ == "__main__":
    main()
