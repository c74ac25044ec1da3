"""Writing the interactive benchmark's results into its output folder: results.json,
results.md (one table per metric, colorizers by label counts), results-labels.png (colour
accuracy and L1 against the number of labels, one line per colorizer), results-steps.png
(when a run was measured at several training steps, as RUN/checkpoints/step-N: colour
accuracy against the step, a panel per label count), examples.png (sketches with their labels,
the truth, the paint bucket and each run) and a section of each run's MODEL_CARD.md; each says
whether the labels were dots or strokes.

Usage: write_interactive(interactive_benchmark(runs, shards), Path("evaluation/"))
       interactive_evaluation(EvaluateConfig(runs=runs, data=shards, hint_counts="0,4,16"))
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from sketchcolor.config import EvaluateConfig
from sketchcolor.errors import SketchcolorError
from sketchcolor.evaluation.interactive import (
    ACCURACY_TOLERANCE,
    BUCKET,
    FLATTEN_SUFFIX,
    WHITE_GROUND,
    Benchmark,
    interactive_benchmark,
)
from sketchcolor.runs import is_checkpoint_folder, run_folder_of
from sketchcolor.util.files import atomic_output, create_output_folder, write_text_atomically

INTERACTIVE_JSON = "results.json"
INTERACTIVE_TABLE = "results.md"
INTERACTIVE_CURVE = "results-labels.png"
INTERACTIVE_STEPS = "results-steps.png"
INTERACTIVE_EXAMPLES = "examples.png"
MODEL_CARD_FILE = "MODEL_CARD.md"
CARD_HEADING = "## Interactive colorization"
METRICS = (
    ("accuracy", "colour accuracy (higher is better)", 3),
    ("l1", "L1 (lower is better)", 4),
    ("psnr", "PSNR dB (higher is better)", 2),
    ("ssim", "SSIM (higher is better)", 4),
)


def names_in_order(benchmark: Benchmark) -> list[str]:
    """Colorizers in the order first measured (the paint bucket first)."""
    return list(dict.fromkeys(r["name"] for r in benchmark.rows))


def value(benchmark: Benchmark, name: str, count: int, metric: str) -> float | None:
    for r in benchmark.rows:
        if r["name"] == name and r["labels"] == count:
            return r[metric]
    return None


def metric_table(benchmark: Benchmark, metric: str, title: str, digits: int,
                 names: list[str]) -> list[str]:  # fmt: skip
    counts = benchmark.hint_counts
    lines = [f"{title}:", "", "| colorizer | " + " | ".join(f"{c} labels" for c in counts) + " |",
             "|---|" + "---|" * len(counts)]  # fmt: skip
    for name in names:
        cells = [value(benchmark, name, count, metric) for count in counts]
        text = ["-" if v is None or not math.isfinite(v) else f"{v:.{digits}f}" for v in cells]
        lines.append(f"| {name} | " + " | ".join(text) + " |")
    return lines + [""]


def accuracy_table(benchmark: Benchmark) -> str:
    """The colour-accuracy table alone, as the quickstart prints it."""
    metric, title, digits = METRICS[0]
    names = names_in_order(benchmark)
    return "\n".join(metric_table(benchmark, metric, title, digits, names)).rstrip("\n")


def markdown(benchmark: Benchmark, names: list[str] | None = None) -> str:
    """The tables (one per metric) and the checkerboard ratios, with what they measure."""
    names = names or names_in_order(benchmark)
    lines = [
        f"Interactive colorization on {benchmark.images} images: labels ({benchmark.hint_shape}) "
        f"placed inside the truth's coloured regions, off the lines, in the truth's colour. "
        f"Colour accuracy: the "
        f"share of coloured pixels (truth's smallest channel below {WHITE_GROUND}, not line) "
        f"within {ACCURACY_TOLERANCE}/255 in every channel.",
        "",
    ]
    if benchmark.options:
        lines += ["Runs:", "", "| run | options |", "|---|---|"]
        lines += [f"| {name} | {text} |" for name, text in benchmark.options.items()] + [""]
    for metric, title, digits in METRICS:
        lines += metric_table(benchmark, metric, title, digits, names)
    if benchmark.checkerboard:
        lines += [
            f"Checkerboard (output's power at periods 2 and 4 over the truth's, at "
            f"{benchmark.example_count} labels; about 1 is clean):",
            "",
            "| run | ratio |",
            "|---|---|",
        ]
        lines += [f"| {name} | {ratio:.2f} |" for name, ratio in benchmark.checkerboard.items()]
    return "\n".join(lines) + "\n"


def write_curve(benchmark: Benchmark, path: Path) -> None:
    """Colour accuracy and L1 against the number of labels, one line per colorizer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = benchmark.hint_counts
    positions = np.arange(len(counts))  # evenly spaced: the counts grow geometrically
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for axis, (metric, title, _) in zip(axes, METRICS[:2], strict=True):
        for name in names_in_order(benchmark):
            values = [value(benchmark, name, count, metric) for count in counts]
            style = {"color": "black", "linestyle": "--"} if name == BUCKET else {}
            axis.plot(positions, [np.nan if v is None else v for v in values], marker="o",
                      label=name, **style)  # fmt: skip
        axis.set_xticks(positions, [str(count) for count in counts])
        axis.set_xlabel("hint labels per image")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper center", ncol=min(len(labels), 3), frameon=False)
    figure.tight_layout(rect=(0, 0, 1, 0.84))
    with atomic_output(path) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)


def step_series(benchmark: Benchmark) -> dict[tuple[str, bool], dict[int, dict[int, float]]]:
    """(run folder name, flattened) -> label count -> step -> colour accuracy, for every run
    measured at two or more known steps (its checkpoints, and the run folder itself)."""
    series = {}
    for r in benchmark.rows:
        if r.get("step") is None:
            continue
        key = (run_folder_of(r["run"]).name, r["name"].endswith(FLATTEN_SUFFIX))
        series.setdefault(key, {}).setdefault(r["labels"], {})[r["step"]] = r["accuracy"]
    return {key: counts for key, counts in series.items()
            if len({step for steps in counts.values() for step in steps}) > 1}  # fmt: skip


def write_step_curve(benchmark: Benchmark, path: Path) -> bool:
    """Colour accuracy against the training step, a panel per label count: a line per run
    (solid: the network alone, dashed: flattened), the paint bucket as a flat line. Written
    only when some run was measured at several steps; returns whether it was."""
    series = step_series(benchmark)
    if not series:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = benchmark.hint_counts
    figure, axes = plt.subplots(1, len(counts), figsize=(3.6 * len(counts), 3.8), squeeze=False)
    colours = {}
    for axis, count in zip(axes[0], counts, strict=True):
        for (run, flat), by_count in series.items():
            steps = sorted(by_count.get(count, {}))
            colour = colours.setdefault(run, f"C{len(colours) % 10}")
            axis.plot(steps, [by_count[count][s] for s in steps], marker="o", color=colour,
                      linestyle="--" if flat else "-",
                      label=f"{run}{FLATTEN_SUFFIX if flat else ''}")  # fmt: skip
        bucket = value(benchmark, BUCKET, count, "accuracy")
        if bucket is not None:
            axis.axhline(bucket, color="black", linestyle=":", label=BUCKET)
        axis.set_title(f"{count} labels")
        axis.set_xlabel("training step")
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("colour accuracy")
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper center", ncol=min(len(labels), 4), frameon=False)
    figure.tight_layout(rect=(0, 0, 1, 0.84))
    with atomic_output(path) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)
    return True


def labelled_sketch(benchmark: Benchmark, index: int) -> np.ndarray:
    """The sketch with its labels drawn as dots ringed in black, or as strokes edged in
    black, as a user would see them."""
    image = Image.fromarray(benchmark.split.sketch_u8[index])
    draw = ImageDraw.Draw(image)
    truth = benchmark.split.truth_u8[index]
    count = benchmark.example_count
    strokes = benchmark.labels.strokes
    for number, (y, x) in enumerate(benchmark.centres[index][:count]):
        fill = tuple(int(v) for v in truth[y, x])
        if strokes is None:
            draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=fill, outline=(0, 0, 0))
            continue
        line = [(float(px), float(py)) for py, px in strokes[index][number]]
        for width, colour in ((7, (0, 0, 0)), (5, fill)):
            draw.line(line, fill=colour, width=width, joint="curve")
            for px, py in (line[0], line[-1]):
                half = width / 2
                draw.ellipse((px - half, py - half, px + half, py + half), fill=colour)
    return np.asarray(image)


HEADER = 16  # pixels of column titles above the tiles


def save_tile_grid(path: Path, titles: list[str], rows: list[list[np.ndarray]]) -> None:
    """Equal-sized uint8 tiles as a PNG, a row of `rows` per sketch under one line of column
    titles; written under a temporary name and renamed."""
    height, width = rows[0][0].shape[:2]
    canvas = Image.new("RGB", (width * len(titles), HEADER + height * len(rows)), "white")
    draw = ImageDraw.Draw(canvas)
    for column, title in enumerate(titles):
        draw.text((column * width + 4, 2), title, fill=(0, 0, 0))
    for index, tiles in enumerate(rows):
        for column, tile in enumerate(tiles):
            canvas.paste(Image.fromarray(tile), (column * width, HEADER + index * height))
    with atomic_output(path) as temporary:
        canvas.save(temporary, format="PNG")


def write_examples(benchmark: Benchmark, path: Path) -> None:
    """Rows of examples: labelled sketch | truth | paint bucket | each run (and flattened)."""
    names = names_in_order(benchmark)
    shown = len(next(iter(benchmark.examples.values())))
    width = benchmark.split.sketch_u8.shape[2]
    titles = [title[: width // 6] for title in ["sketch + labels", "truth", *names]]
    rows = [[labelled_sketch(benchmark, index), benchmark.split.truth_u8[index],
             *(benchmark.examples[name][index] for name in names)]
            for index in range(shown)]  # fmt: skip
    save_tile_grid(path, titles, rows)


FRONT_COLUMNS = ("sketch + labels", "network", "flat colours", "paint bucket", "truth")


def write_front_picture(benchmark: Benchmark, run: str, path: Path) -> None:
    """One run's examples as a person would want to see them first, a row per sketch:
    sketch with its labels | network | flat colours | paint bucket | truth (at the example
    count of labels; the flat column needs the benchmark measured with flatten)."""
    flat = f"{run}{FLATTEN_SUFFIX}"
    if run not in benchmark.examples or flat not in benchmark.examples:
        raise SketchcolorError(f"{run}: no examples (and flattened ones) in this benchmark")
    titles = [f"{FRONT_COLUMNS[0]} ({benchmark.example_count})", *FRONT_COLUMNS[1:]]
    rows = [[labelled_sketch(benchmark, index), benchmark.examples[run][index],
             benchmark.examples[flat][index], benchmark.examples[BUCKET][index],
             benchmark.split.truth_u8[index]]
            for index in range(len(benchmark.examples[run]))]  # fmt: skip
    save_tile_grid(path, titles, rows)


def card_section(benchmark: Benchmark, run: str) -> str:
    """The model card's interactive section: this run's rows beside the paint bucket."""
    mine = (Path(run).name, f"{Path(run).name}{FLATTEN_SUFFIX}")
    names = [BUCKET] + [name for name in names_in_order(benchmark) if name in mine]
    return f"{CARD_HEADING}\n\n{markdown(benchmark, names)}"


def update_model_card(path: Path, section: str, heading: str = CARD_HEADING) -> None:
    """Replace the card's section under `heading` (or add it), leaving the rest as it is."""
    text = path.read_text() if path.is_file() else ""
    if heading in text:
        before, _, after = text.partition(heading)
        rest = after.split("\n## ", 1)
        text = before + (("## " + rest[1]) if len(rest) > 1 else "")
    write_text_atomically(path, text.rstrip("\n") + "\n\n" + section)


def write_interactive(benchmark: Benchmark, out_dir: Path) -> dict:
    """All the outputs; returns the JSON payload."""
    create_output_folder(out_dir)
    payload = {
        "images": benchmark.images,
        "hint_shape": benchmark.hint_shape,
        "hint_counts": list(benchmark.hint_counts),
        "accuracy_tolerance": ACCURACY_TOLERANCE,
        "white_ground": WHITE_GROUND,
        "rows": benchmark.rows,
        "checkerboard": benchmark.checkerboard,
        "options": benchmark.options,
    }
    write_text_atomically(out_dir / INTERACTIVE_JSON, json.dumps(payload, indent=2) + "\n")
    write_text_atomically(out_dir / INTERACTIVE_TABLE, markdown(benchmark))
    write_curve(benchmark, out_dir / INTERACTIVE_CURVE)
    write_step_curve(benchmark, out_dir / INTERACTIVE_STEPS)
    write_examples(benchmark, out_dir / INTERACTIVE_EXAMPLES)
    for run in dict.fromkeys(r["run"] for r in benchmark.rows if "run" in r):
        if not is_checkpoint_folder(run):  # a checkpoint's folder holds what training saved
            update_model_card(Path(run) / MODEL_CARD_FILE, card_section(benchmark, run))
    return payload


def interactive_evaluation(config: EvaluateConfig) -> Path:
    """`sketchcolor evaluate --hint-counts`: `interactive_benchmark` with an EvaluateConfig's
    options (--all-checkpoints: each run folder's checkpoints, a curve over steps), its outputs
    written into config.out; returns the table it wrote (results.md)."""
    from sketchcolor.data.storage.s3 import use_shard_cache
    from sketchcolor.evaluation.evaluate import expand_checkpoints

    use_shard_cache(config.shard_cache)
    runs = expand_checkpoints(config.runs) if config.all_checkpoints else list(config.runs)
    benchmark = interactive_benchmark(
        runs, config.data, split=config.split, hint_counts=config.label_counts,
        flatten=config.flatten, seed=config.seed, max_images=config.max_images,
        batch_size=config.batch_size, backend=config.backend, hint_shape=config.hint_shape,
        engine=config.engine, onnx=config.onnx,
    )  # fmt: skip
    write_interactive(benchmark, config.out)
    return config.out / INTERACTIVE_TABLE
