"""Writing the reference benchmark's results into its output folder: reference.json,
reference.md (a table per case, each naming its case), reference-curves.png (accuracy
against the deformation's strength; the chained sequence's accuracy frame by frame),
reference-examples.png (medium frames: frame, reference, truth, bucket, each run) and a
"Reference colorization" section of each reference run's MODEL_CARD.md.

Usage: reference_evaluation(EvaluateConfig(runs=runs, data=shards, reference_benchmark=True))
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sketchcolor.config import EvaluateConfig
from sketchcolor.data.controls.reference import WARP_STRENGTHS
from sketchcolor.evaluation.interactive import ACCURACY_TOLERANCE, FLATTEN_SUFFIX
from sketchcolor.evaluation.interactive_report import save_tile_grid, update_model_card
from sketchcolor.evaluation.reference_benchmark import (
    REFERENCE_BUCKET,
    SEQUENCE_FRAMES,
    SEQUENCE_STRENGTH,
    ReferenceBenchmark,
    reference_benchmark,
)
from sketchcolor.util.files import atomic_output, create_output_folder, write_text_atomically

REFERENCE_JSON = "reference.json"
REFERENCE_TABLE = "reference.md"
REFERENCE_CURVES = "reference-curves.png"
REFERENCE_EXAMPLES = "reference-examples.png"
CARD_HEADING = "## Reference colorization"


def names_of(rows: list[dict]) -> list[str]:
    """Row names in first-seen order."""
    return list(dict.fromkeys(row["name"] for row in rows))


def warped_table(benchmark: ReferenceBenchmark, names: list[str] | None = None) -> str:
    """Case 1, warped frames: colour accuracy by colorizer and strength."""
    strengths = list(WARP_STRENGTHS)
    names = names or names_of(benchmark.rows)
    lines = ["**Warped frames** (each sketch under a seeded deformation, its unwarped colours "
             f"the reference; colour accuracy, {benchmark.images} images, no labels)", "",
             "| colorizer | " + " | ".join(strengths) + " |",
             "|---|" + "---|" * len(strengths)]  # fmt: skip
    for name in names:
        cells = [next((f"{r['accuracy']:.3f}" for r in benchmark.rows
                       if r["name"] == name and r["strength"] == s), "") for s in strengths]  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def sequence_table(benchmark: ReferenceBenchmark) -> str:
    """Case 2, the chained sequence: first and last frames' accuracy and the drift."""
    lines = [f"**Chained sequence** ({SEQUENCE_FRAMES} frames of a {SEQUENCE_STRENGTH} "
             "deformation in a loop, each frame the next one's reference; flattened colour "
             "accuracy)", "", "| run | first frame | last frame | drift | lowest |",
             "|---|---|---|---|---|"]  # fmt: skip
    for name, curve in benchmark.sequence.items():
        lines.append(f"| {name} | {curve[0]:.3f} | {curve[-1]:.3f} | "
                     f"{curve[0] - curve[-1]:+.3f} | {min(curve):.3f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def same_character_table(benchmark: ReferenceBenchmark, names: list[str] | None = None) -> str:
    """Case 3, same character: accuracy on the reference's colours and the skin share."""
    rows = [r for r in benchmark.same_character if names is None or r["name"] in names]
    if not rows:
        return "**Same character, another drawing**: no pairs in this split\n"
    lines = [f"**Same character, another drawing** ({rows[0]['pairs']} OpenMoji people, each "
             "coloured from another drawing of the same person and skin tone)", "",
             "| colorizer | accuracy on the reference's colours | skin share |",
             "|---|---|---|"]  # fmt: skip
    lines += [f"| {r['name']} | {r['accuracy']:.3f} | {r['skin_share']:.3f} |" for r in rows]
    return "\n".join(lines) + "\n"


def markdown(benchmark: ReferenceBenchmark, names: list[str] | None = None) -> str:
    """The three cases' tables."""
    note = (f"A pixel is right when every channel is within {ACCURACY_TOLERANCE}/255 of the "
            "truth; the bucket fills each region with the reference's colour at the same place.")  # fmt: skip
    parts = [warped_table(benchmark, names), sequence_table(benchmark),
             same_character_table(benchmark, names), note + "\n"]  # fmt: skip
    return "\n".join(parts)


def write_curves(benchmark: ReferenceBenchmark, path: Path) -> None:
    """Accuracy against the strength per colorizer, and the chained accuracy per frame."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strengths = list(WARP_STRENGTHS)
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in names_of(benchmark.rows):
        values = [next(r["accuracy"] for r in benchmark.rows
                       if r["name"] == name and r["strength"] == s) for s in strengths]  # fmt: skip
        style = {"color": "black", "linestyle": "--"} if name == REFERENCE_BUCKET else {}
        left.plot(strengths, values, marker="o", label=name, **style)
    left.set(title="warped frames: colour accuracy", xlabel="deformation")
    for name, curve in benchmark.sequence.items():
        right.plot(np.arange(1, len(curve) + 1), curve, marker=".", label=name)
    right.set(title="chained sequence: flattened accuracy", xlabel="frame")
    for axis in (left, right):
        axis.grid(alpha=0.3)
    handles, labels = left.get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper center", ncol=min(len(labels), 3), frameon=False)
    figure.tight_layout(rect=(0, 0, 1, 0.84))
    with atomic_output(path) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)


def write_examples(benchmark: ReferenceBenchmark, path: Path) -> None:
    """Medium frames, a row each: frame | reference | truth | bucket | each colorizer."""
    titles = list(benchmark.examples)
    width = benchmark.examples[titles[0]].shape[2]
    rows = [[benchmark.examples[title][index] for title in titles]
            for index in range(len(benchmark.examples[titles[0]]))]  # fmt: skip
    save_tile_grid(path, [title[: width // 6] for title in titles], rows)


def write_reference(benchmark: ReferenceBenchmark, out_dir: Path) -> dict:
    """All the outputs, and each reference run's model card section; returns the payload."""
    create_output_folder(out_dir)
    payload = {"images": benchmark.images, "accuracy_tolerance": ACCURACY_TOLERANCE,
               "warped_frames": benchmark.rows, "chained_sequence": benchmark.sequence,
               "same_character": benchmark.same_character}  # fmt: skip
    write_text_atomically(out_dir / REFERENCE_JSON, json.dumps(payload, indent=2) + "\n")
    write_text_atomically(out_dir / REFERENCE_TABLE, markdown(benchmark))
    write_curves(benchmark, out_dir / REFERENCE_CURVES)
    write_examples(benchmark, out_dir / REFERENCE_EXAMPLES)
    for run, name in benchmark.reference_runs.items():
        mine = [REFERENCE_BUCKET, name, name + FLATTEN_SUFFIX]
        section = f"{CARD_HEADING}\n\n{markdown(benchmark, mine)}"
        update_model_card(Path(run) / "MODEL_CARD.md", section, CARD_HEADING)
    return payload


def reference_evaluation(config: EvaluateConfig) -> Path:
    """`sketchcolor evaluate --reference-benchmark`: the benchmark with an EvaluateConfig's
    options, written into config.out; returns the table it wrote (reference.md)."""
    from sketchcolor.data.storage.s3 import use_shard_cache

    use_shard_cache(config.shard_cache)
    benchmark = reference_benchmark(
        list(config.runs), config.data, split=config.split, seed=config.seed,
        max_images=config.max_images, batch_size=config.batch_size, backend=config.backend,
        engine=config.engine,
    )  # fmt: skip
    write_reference(benchmark, config.out)
    return config.out / REFERENCE_TABLE
