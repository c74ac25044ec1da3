"""Does a reference cost much? colorize on the CPU with a reference (model R, the reference
control) against colorize without one (Model 1, hints), on a 512 x 512 sketch.

Both runs are width 1/16 and trained at 256 px (random weights: speed depends on the
architecture and the size, not on what was learnt). Rows: the sketch scaled to the training
size (colorize's default) or coloured at 512 (`--keep-size`), with and without `--flatten`;
each times the whole `colorize` call (run loading, reading, colouring, writing) and the
colouring alone (`colorize_sketch` with the run loaded), medians over repeats, and the
reference's ratio in the same run. The target: within 1.5x.

Usage: python benchmarks/bench_reference.py --json benchmarks/results/bench_reference-cpu.json
"""

from __future__ import annotations

import sys
import tempfile
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import base_parser, median_time, write_result  # noqa: E402

SIZE = 512
TRAINED = 256


def make_run(folder: Path, model: str, control: str) -> Path:
    """A run folder (config.json + generator.safetensors) with random weights."""
    import torch

    from sketchcolor.config import HintConfig
    from sketchcolor.data.controls.conditioning import input_channels
    from sketchcolor.models import create_generator, save_generator

    torch.manual_seed(0)
    hint_config = HintConfig.for_size(TRAINED, encoding="channels", spread="none")
    generator = create_generator(model, in_channels=input_channels(control, hint_config),
                                 width=1 / 16, upsampling="resize")  # fmt: skip
    metadata = {"color_control": control, "hint_config": hint_config.to_dict(),
                "image_size": TRAINED, "ema": False, "step": 1}  # fmt: skip
    return save_generator(generator, folder, metadata=metadata)


def write_pictures(folder: Path) -> tuple[Path, Path]:
    """A 512 px sketch of outlined boxes and a coloured reference of them."""
    from PIL import Image, ImageDraw

    sketch = Image.new("RGB", (SIZE, SIZE), "white")
    reference = sketch.copy()
    rng = np.random.default_rng(0)
    for draw, fill in ((ImageDraw.Draw(sketch), None), (ImageDraw.Draw(reference), True)):
        boxes = np.random.default_rng(0).integers(0, SIZE - 60, (12, 2))
        for (x, y), colour in zip(boxes, rng.integers(0, 255, (12, 3)), strict=True):
            draw.rectangle((int(x), int(y), int(x) + 60, int(y) + 60), outline="black", width=4,
                           fill=tuple(int(v) for v in colour) if fill else None)  # fmt: skip
    sketch.save(folder / "sketch.png")
    reference.save(folder / "reference.png")
    return folder / "sketch.png", folder / "reference.png"


def measure(folder: Path, repeats: int) -> list[dict]:
    from sketchcolor.inference.colorize import colorize
    from sketchcolor.inference.colorizer import colorize_sketch, load_colorizer
    from sketchcolor.inference.controls import user_controls
    from sketchcolor.inference.sketch_files import read_sketch

    sketch, reference = write_pictures(folder)
    runs = {"without a reference (Model 1, hints)": (make_run(folder / "hints", "1", "hints"), None),
            "with a reference (model R)": (make_run(folder / "ref", "R", "reference"), reference)}  # fmt: skip
    rows = []
    for keep_size in (False, True):
        for flatten in (False, True):
            for name, (run, given) in runs.items():
                colorizer = load_colorizer(run, "cpu")
                controls = user_controls(colorizer.config.color_control, run, palette=None,
                                         palette_from=None, hints_png=None, hints_json=None,
                                         reference=given)  # fmt: skip
                image = read_sketch(sketch)
                whole = median_time(partial(colorize, sketch, run, folder / "out.png",
                                            reference=given, flatten=flatten,
                                            resize=not keep_size, device="cpu"),
                                    repeats=repeats)  # fmt: skip
                colouring = median_time(partial(colorize_sketch, colorizer, image, controls,
                                                resize=not keep_size, flatten=flatten),
                                        repeats=repeats)  # fmt: skip
                rows.append({"canvas": SIZE if keep_size else TRAINED, "flatten": flatten,
                             "run": name, "colorize_s": whole, "colouring_s": colouring})  # fmt: skip
            base, mine = rows[-2], rows[-1]
            mine["ratio_colorize"] = mine["colorize_s"] / base["colorize_s"]
            mine["ratio_colouring"] = mine["colouring_s"] / base["colouring_s"]
    return rows


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        rows = measure(Path(folder), repeats=3 if args.quick else 7)
    for row in rows:
        ratio = (
            f"  x{row['ratio_colorize']:.2f} / x{row['ratio_colouring']:.2f}"
            if "ratio_colorize" in row
            else ""
        )
        print(
            f"canvas {row['canvas']} flatten {row['flatten']!s:5} {row['run']:38} "
            f"colorize {row['colorize_s']:.3f} s, colouring {row['colouring_s']:.3f} s{ratio}"
        )
    write_result("bench_reference", {"sketch_size": SIZE, "trained_size": TRAINED,
                                     "target_ratio": 1.5, "rows": rows}, args.json)  # fmt: skip


if __name__ == "__main__":
    main()
