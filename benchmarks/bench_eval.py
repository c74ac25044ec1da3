"""How many images per second does evaluation colour and score, and where does the time go?

Times the two per-batch halves of `sketchcolor evaluate` on random batches already on the
device: the generator (Model 2.1 under the palette control) and the Inception-v3 pool3
features FID needs (pytorch-fid's network; random stand-in weights, the same computation as
the real ones), then both together, plus the per-image metrics (PSNR, SSIM, L1). Also times
one Fréchet distance between 2048-d statistics, paid once per run whatever the number of
images: ours (`sketchcolor.evaluation.frechet`, symmetric eigenvalues) against pytorch-fid's own (scipy
`sqrtm`), on full-rank (4096 images) and rank-deficient (500 images) statistics, interleaved so
machine load hits both alike. `--fid-command` times `sketchcolor fid A.npz B.npz` as a whole
process (start, imports, reading, distance) against `python -m pytorch_fid A.npz B.npz` on the
same two files, interleaved; pytorch-fid builds and loads Inception-v3 even for statistics
files, so it reads a random-weight stand-in from a temporary TORCH_HOME (it would download
the real file; no network is needed). Ratios are measured in the same run.

Usage: python benchmarks/bench_eval.py --quick --json benchmarks/results/bench_eval-cpu.json
       python benchmarks/bench_eval.py --frechet-only --json benchmarks/results/frechet-cpu.json
       python benchmarks/bench_eval.py --fid-command --json benchmarks/results/fid-command-cpu.json
       python benchmarks/bench_eval.py --json benchmarks/results/bench_eval-h100.json   (GPU)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import base_parser, median_time, write_result  # noqa: E402

from sketchcolor.data.controls.conditioning import build_generator_input, input_channels  # noqa: E402
from sketchcolor.evaluation import fid
from sketchcolor.evaluation.frechet import default_device as frechet_device  # noqa: E402
from sketchcolor.models import create_generator  # noqa: E402
from sketchcolor.util import metrics  # noqa: E402


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


def timed_process(command: list[str], env: dict) -> tuple[float, float]:
    """(wall-clock seconds, the FID it printed) of one whole process."""
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return seconds, float(result.stdout.rsplit("FID:", 1)[1])


def fid_command_timings(repeats: int) -> dict:
    """`sketchcolor fid A.npz B.npz` vs `python -m pytorch_fid A.npz B.npz`, whole processes.

    Full-rank 2048-d statistics of 4096 images, as `frechet_timings`; one warm-up each (file
    cache, bytecode), then `repeats` interleaved runs.
    """
    rng = np.random.default_rng(0)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        paths = []
        for name in "ab":
            mu, sigma = fid.feature_statistics(np.abs(rng.normal(size=(4096, 2048))))
            paths.append(str(folder / f"{name}.npz"))
            np.savez_compressed(paths[-1], mu=mu, sigma=sigma)
        # pytorch-fid loads Inception from torch hub's cache (else it downloads): a stand-in.
        checkpoints = folder / "torch" / "hub" / "checkpoints"
        checkpoints.mkdir(parents=True)
        torch.save(fid.build_fid_inception().state_dict(), checkpoints / fid.WEIGHTS_FILE_NAME)
        env = {**os.environ, "TORCH_HOME": str(folder / "torch")}
        repository = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [repository, env.get("PYTHONPATH")]))
        commands = {
            "sketchcolor": [sys.executable, "-m", "sketchcolor", "fid", *paths],
            "pytorch_fid": [sys.executable, "-m", "pytorch_fid", *paths],
        }
        seconds = {name: [] for name in commands}
        values = {}
        for round_index in range(1 + repeats):  # the first round is the warm-up
            for name, command in commands.items():
                elapsed, values[name] = timed_process(command, env)
                if round_index:
                    seconds[name].append(elapsed)
    ours = float(np.median(seconds["sketchcolor"]))
    theirs = float(np.median(seconds["pytorch_fid"]))
    return {
        "inputs": "two .npz statistics files, 2048-d, full rank (4096 images)",
        "repeats": repeats,
        "seconds_sketchcolor": ours,
        "seconds_pytorch_fid": theirs,
        "speedup": theirs / ours,
        "all_seconds": seconds,
        "relative_difference": abs(values["sketchcolor"] - values["pytorch_fid"])
        / abs(values["pytorch_fid"]),
        "device": str(frechet_device()),  # each command's own default: the GPU when there is one
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
    }


def main() -> None:
    parser = base_parser(__doc__.split("\n")[0])
    parser.add_argument(
        "--size", type=int, default=None, help="image side (default 512; quick 256)"
    )
    parser.add_argument("--batch-size", type=int, default=None, help="default 32; quick 4")
    parser.add_argument("--frechet-only", action="store_true", help="only the distance timings")
    parser.add_argument("--width", type=float, default=None, help="generator width (quick 1/8)")
    parser.add_argument(
        "--fid-command",
        action="store_true",
        help="only `sketchcolor fid A.npz B.npz` vs `python -m pytorch_fid A.npz B.npz`",
    )
    args = parser.parse_args()
    if args.fid_command:
        question = "seconds of `fid A.npz B.npz` as a whole process: sketchcolor vs pytorch-fid"
        timings = fid_command_timings(1 if args.quick else 3)
        write_result("bench_eval", {"question": question, "fid_command": timings}, args.json)
        return
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
