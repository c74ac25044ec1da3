"""How long do the best recipe's hint labels take per batch: label sampling (strokes) plus the
spread over regions, before (host: scipy segmentation and fill per sample, `spread_hints`)
against after (the stored region maps, scatter/gather on the device, `spread_over_regions`)?

Also the cheaper rule ("mean": every filled pixel takes its region's mean label colour)
against the exact one ("nearest"), in time and in how far apart their colours land.

Pairs come from an OpenMoji pair folder (`sketchcolor datasets openmoji OUT --size 512`), the
region maps are segmented once up front, as `sketchcolor shards` stores them.

Usage: python benchmarks/bench_spread.py --pairs om512 --size 512 --batch 16 \\
           --json benchmarks/results/bench_spread-cpu.json
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import base_parser, median_time, write_result  # noqa: E402

TOLERANCE = 24 / 127.5  # the interactive benchmark's "within 24/255 of the truth"


def load_batch(pairs: Path, size: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 3, S, S) colour and sketch in [-1, 1] from the folder's train pairs (repeated)."""
    from sketchcolor.data.sources.pairs import read_pair

    files = sorted((pairs / "data" / "train").glob("*.png"))[:batch]
    halves = [read_pair(path, size=size) for path in files]
    halves = [halves[i % len(halves)] for i in range(batch)]

    def as_unit(images):
        return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1

    return as_unit([c for c, _ in halves]), as_unit([s for _, s in halves])


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, required=True)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--shape", default="strokes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--label-size", type=int, help="default: scaled to the size")
    parser.add_argument("--max-labels", type=int, default=40)
    args = parser.parse_args()
    from sketchcolor.config import HintConfig
    from sketchcolor.data.controls.conditioning import sample_hints, spread_hints
    from sketchcolor.data.controls.region_spread import host_regions, spread_over_regions

    color, sketch = load_batch(args.pairs, args.size, args.batch)
    regions = host_regions(sketch)  # what the shards store (here at the training size)
    config = HintConfig.for_size(args.size, placement="dots", shape=args.shape,
                                 spread="regions", label_size=args.label_size,
                                 max_labels=args.max_labels)  # fmt: skip

    def before():
        hints = sample_hints(color, config, torch.Generator().manual_seed(0), sketch=sketch)
        return spread_hints(sketch, hints)

    def after(rule: str):
        hints = sample_hints(color, config, torch.Generator().manual_seed(0), sketch=sketch,
                             regions=regions)  # fmt: skip
        return spread_over_regions(sketch, hints, regions, rule=rule)

    def sampling_only():
        return sample_hints(color, config, torch.Generator().manual_seed(0), sketch=sketch,
                            regions=regions)  # fmt: skip

    seconds = {
        "before_host_spread": median_time(before, repeats=args.repeats),
        "after_nearest": median_time(lambda: after("nearest"), repeats=args.repeats),
        "after_mean": median_time(lambda: after("mean"), repeats=args.repeats),
        "label_sampling_alone": median_time(sampling_only, repeats=args.repeats),
    }
    exact, mean = after("nearest"), after("mean")
    filled = exact.mask[:, 0] > 0.5
    gap = (exact.rgb - mean.rgb).abs().amax(dim=1)[filled]
    result = {
        "size": args.size, "batch": args.batch, "shape": args.shape,
        "label_size": config.label_size, "max_labels": config.max_labels,
        "threads": torch.get_num_threads(), "load_average": os.getloadavg(),
        "seconds_per_batch": seconds,
        "speedup_nearest": seconds["before_host_spread"] / seconds["after_nearest"],
        "speedup_mean": seconds["before_host_spread"] / seconds["after_mean"],
        "mean_vs_nearest": {
            "filled_pixels": int(filled.sum()),
            "share_differing_over_24_255": float((gap > TOLERANCE).float().mean()),
            "mean_abs_difference_255": float(gap.mean() * 127.5),
        },
    }  # fmt: skip
    write_result("bench_spread", result, args.json)


if __name__ == "__main__":
    main()
