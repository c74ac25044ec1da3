"""MODEL_CARD.md per run: what a trained generator is, on what it was trained, and how it scored.

`sketchcolor evaluate` writes one into each run folder it evaluated (beside
generator.safetensors, the way model hubs present a checkpoint): the data and the hash of its
shard manifest, the model and its color control, the steps and images seen, the metrics with
the split, the number of images and the hint seed they were measured with, and known limits.
When several steps of a run were evaluated (checkpoints), the card describes the latest and
lists the others.

Usage: write_model_cards(results_payload, run_results, shard_dir)
"""

from __future__ import annotations

from pathlib import Path

from sketchcolor.config import TrainConfig
from sketchcolor.data.shards.manifest import read_manifest, shards_sha256, split_counts
from sketchcolor.evaluation.report import RunResult, format_number, run_name
from sketchcolor.runs import images_seen_at, read_train_config
from sketchcolor.util.files import write_text_atomically

MODEL_CARD_FILE = "MODEL_CARD.md"

KNOWN_LIMITS = (
    "Trained and measured on one dataset; the numbers say nothing about other drawing styles.",
    "Hints at evaluation are simulated as in training (region mean colors on a grid), not "
    "drawn by a person; real strokes may be sparser or differently placed.",
    "FID here is dataset-level (one distance between all generated and all real images of the "
    "split); the paper's FID is an average of per-pair FIDs and is not comparable in scale.",
    "FID on a few hundred images is biased upwards; compare runs only at the same image count.",
    "Model 1 uses BatchNorm: its statistics are recomputed from training batches at export, so "
    "it expects inputs like the training set's.",
)


def model_card(payload: dict, rows: list[RunResult], shard_dir: Path) -> str:
    """The card's markdown for one run; `rows` are its results, the last one described."""
    latest = max(rows, key=lambda row: (row.step or 0, not row.checkpoint))
    run_dir = Path(latest.run_folder or latest.run)
    train_config = read_train_config(run_dir)
    control = latest.color_control + (
        f" ({latest.hint_encoding} encoding)" if latest.hint_encoding else ""
    )
    lines = [
        f"# Model card: {run_dir.name}",
        "",
        f"A sketchcolor generator: Model {latest.model}, color control {control}.",
        *data_lines(payload, Path(shard_dir), train_config),
        *model_lines(latest, control, train_config),
        *training_lines(latest, run_dir, train_config),
        *metrics_lines(payload, rows, latest),
        "",
        "## Known limits",
        "",
    ]
    lines += [f"- {limit}" for limit in KNOWN_LIMITS]
    return "\n".join(lines) + "\n"


def data_lines(payload: dict, shard_dir: Path, train_config: TrainConfig | None) -> list[str]:
    """## Data: the shards evaluated on (their manifest's hash and pairs per split) and the
    data the run was trained on."""
    split_sizes = ", ".join(
        f"{name} {count}" for name, count in split_counts(read_manifest(shard_dir)).items()
    )
    data = "unknown" if train_config is None else train_config.data
    lines = [
        "",
        "## Data",
        "",
        f"- shards: `{payload['shards']}` (manifest sha256 `{shards_sha256(shard_dir)}`)",
        f"- training data: `{data}`",
    ]
    if split_sizes:
        lines.append(f"- pairs per split: {split_sizes}")
    return lines


def model_lines(latest: RunResult, control: str, train_config: TrainConfig | None) -> list[str]:
    """## Model: the generator, its size, color control and which weights."""
    width = "?" if train_config is None else train_config.model.width
    ema = train_config is not None and train_config.model.ema
    return [
        "",
        "## Model",
        "",
        f"- generator: Model {latest.model}, {latest.parameters:,} parameters, "
        f"width {width}, {latest.image_size} x {latest.image_size} px",
        f"- color control: {control}",
        f"- weights: {'EMA of the generator' if ema else 'the generator'}"
        + (f" (checkpoint `{latest.run}`)" if latest.checkpoint else " (`generator.safetensors`)"),
    ]


def training_lines(latest: RunResult, run_dir: Path, train_config: TrainConfig | None) -> list[str]:
    """## Training: steps, images seen (from the step's checkpoint) and the optimizer."""
    seen = images_seen_at(run_dir, latest.step)
    if train_config is None:
        batch_size = grad_accum = lr = seed = "?"
    else:
        optim = train_config.optim
        batch_size, grad_accum, lr = optim.batch_size, optim.grad_accum, optim.lr
        seed = train_config.seed
    return [
        "",
        "## Training",
        "",
        f"- steps: {latest.step if latest.step is not None else 'unknown'}",
        f"- images seen: {seen if seen is not None else 'unknown (no checkpoint at this step)'}",
        f"- batch size {batch_size} per process x grad accumulation {grad_accum}, lr {lr}, "
        f"seed {seed}",
    ]


def metrics_lines(payload: dict, rows: list[RunResult], latest: RunResult) -> list[str]:
    """## Metrics: the latest result's, and a table of the other evaluated steps."""
    lines = [
        "",
        "## Metrics",
        "",
        f"Measured on split `{payload['split']}`: {latest.images} images, hint seed "
        f"{payload['seed']}, {payload['processes']} process(es).",
        "",
        "| metric | value |",
        "|---|---|",
        f"| FID (dataset-level) | {format_number(latest.fid, 2)} |",
        f"| PSNR (dB) | {format_number(latest.psnr, 2)} |",
        f"| SSIM | {format_number(latest.ssim, 4)} |",
        f"| L1 (on [-1, 1]) | {format_number(latest.l1, 4)} |",
    ]
    if payload.get("fid_unavailable"):
        lines += ["", f"FID not computed: {payload['fid_unavailable']}"]
    if len(rows) > 1:
        lines += ["", "### Other evaluated steps", "", "| weights | step | L1 | PSNR (dB) | FID |"]
        lines.append("|---|---|---|---|---|")
        for row in sorted(rows, key=lambda row: (row.step or 0, not row.checkpoint)):
            if row is not latest:
                lines.append(
                    f"| {run_name(row)} | {row.step} | {format_number(row.l1, 4)} "
                    f"| {format_number(row.psnr, 2)} | {format_number(row.fid, 2)} |"
                )
    return lines


def write_model_cards(payload: dict, results: list[RunResult], shard_dir: Path) -> list[Path]:
    """RUN/MODEL_CARD.md for every run folder among `results`; returns the files written."""
    by_run: dict[str, list[RunResult]] = {}
    for result in results:
        by_run.setdefault(result.run_folder or result.run, []).append(result)
    written = []
    for run, rows in by_run.items():
        path = Path(run) / MODEL_CARD_FILE
        write_text_atomically(path, model_card(payload, rows, Path(shard_dir)))
        written.append(path)
    return written
