"""How many images per second does evaluation colour and score, and where does the time go?

Times the two per-batch halves of `sketchcolor evaluate` on random batches already on the
device: the generator (Model 2.1 under the palette control) and the Inception-v3 pool3
features FID needs (pytorch-fid's network; random stand-in weights, the same computation as
the real ones), then both together, plus the per-image metrics (PSNR, SSIM, L1). Also times
one Fréchet distance between 2048-d statistics, paid once per run whatever the number of
images: ours (`sketchcolor.evaluation.frechet`, symmetric eigenvalues) against pytorch-fid's own (scipy
`sqrtm`), on full-rank (4096 images) and rank-deficient (500 images) statistics, interleaved so
machine load hits both alike. Ratios are measured in the same run.

Usage: python benchmarks/bench_eval.py --quick --json benchmarks/results/bench_eval-cpu.json
       python benchmarks/bench_eval.py --frechet-only --json benchmarks/results/frechet-cpu.json
       python benchmarks/bench_eval.py --json benchmarks/results/bench_eval-h100.json   (GPU)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import base_parser, median_time, write_result  # noqa: E402

from sketchcolor.data.conditioning import build_generator_input, input_channels  # noqa: E402
from sketchcolor.evaluation import fid, metrics  # noqa: E402
from sketchcolor.evaluation.frechet import default_device as frechet_device  # noqa: E402
from sketchcolor.models import create_generator  # noqa: E402


def standin_inception(device: torch.device) -> torch.nn.Module:
    """pytorch-fid's InceptionV3 with random weights, loaded through the real loader."""
    path = Path("/tmp/bench_eval_inception.pth")
    if not path.exists():
        torch.save(fid.build_fid_inception().state_dict(), path)
    return fid.load_inception(path, device)


def frechet_timings(repeats: int) -> dict:
    """Seconds of one 2048-d Fréchet distance, ours vs pytorch-fid's, and their values."""
    rng = np.random.default_rng(0)
    timings = {}
    for name, images in (("full_rank", 4096), ("rank_deficient", 500)):
        stats = [fid.feature_statistics(np.abs(rng.normal(size=(images, 2048)))) for _ in "ab"]
        ours, theirs, values = [], [], {}
        for _ in range(repeats):  # interleaved: a load spike hits both
            start = time.perf_counter()
            values["ours"] = fid.frechet_distance(*stats[0], *stats[1])
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            values["pytorch_fid"] = fid.reference_frechet_distance(*stats[0], *stats[1])
            theirs.append(time.perf_counter() - start)
        timings[name] = {
            "images": images,
            "seconds_ours": float(np.median(ours)),
            "seconds_pytorch_fid": float(np.median(theirs)),
            "speedup": float(np.median(theirs) / np.median(ours)),
            "relative_difference": abs(values["ours"] - values["pytorch_fid"])
            / abs(values["pytorch_fid"]),
            "device": str(frechet_device()),
        }
    return timings


def main() -> None:
    parser = base_parser(__doc__.split("\n")[0])
    parser.add_argument(
        "--size", type=int, default=None, help="image side (default 512; quick 256)"
    )
    parser.add_argument("--batch-size", type=int, default=None, help="default 32; quick 4")
    parser.add_argument("--frechet-only", action="store_true", help="only the distance timings")
    parser.add_argument("--width", type=float, default=None, help="generator width (quick 1/8)")
    args = parser.parse_args()
    if args.frechet_only:
        question = "seconds of one 2048-d Fréchet distance: ours vs pytorch-fid's"
        timings = frechet_timings(1 if args.quick else 3)
        write_result("bench_eval", {"question": question, "frechet_distance": timings},
                     args.json)  # fmt: skip
        return
    device = torch.device("cuda" if torch.cuda.is_available() and not args.quick else "cpu")
    size = args.size or (256 if args.quick else 512)
    batch = args.batch_size or (4 if args.quick else 32)
    width = args.width or (0.125 if args.quick else 1.0)
    repeats = 3 if args.quick else 10
    synchronize = torch.cuda.synchronize if device.type == "cuda" else None
    torch.manual_seed(0)

    generator = create_generator("2.1", in_channels=input_channels("palette"), width=width)
    generator = generator.eval().to(device)
    inception = standin_inception(device)
    sketch = torch.rand(batch, 3, size, size, device=device) * 2 - 1
    palette = torch.rand(batch, 9, 3, device=device) * 2 - 1
    real = torch.rand(batch, 3, size, size, device=device) * 2 - 1

    @torch.no_grad()
    def generate():
        return generator(build_generator_input("palette", sketch, palette=palette)).clamp(-1, 1)

    fake = generate()

    def features():
        return fid.inception_features(inception, fid.to_inception_input(fake))

    def scores():
        return metrics.psnr(fake, real), metrics.ssim(fake, real), metrics.l1(fake, real)

    def whole_batch():
        output = generate()
        fid.inception_features(inception, fid.to_inception_input(output))
        metrics.ssim(output, real)

    timing = {"warmup": 1, "repeats": repeats, "synchronize": synchronize}
    seconds = {
        "generate": median_time(generate, **timing),
        "inception": median_time(features, **timing),
        "metrics": median_time(scores, **timing),
        "total": median_time(whole_batch, **timing),
    }
    frechet = frechet_timings(repeats=1 if args.quick else 3)

    result = {
        "question": "evaluation images/s: generation vs Inception features vs metrics",
        "device": str(device),
        "size": size,
        "batch_size": batch,
        "generator": {"model": "2.1", "color_control": "palette", "width": width},
        "images_per_second": {name: batch / value for name, value in seconds.items()},
        "inception_over_generation_time": seconds["inception"] / seconds["generate"],
        "frechet_distance": frechet,
        "note": "Inception weights are a random stand-in (same computation); float32.",
    }
    write_result("bench_eval", result, args.json)


if __name__ == "__main__":
    main()
