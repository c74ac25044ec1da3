"""Write evaluation results: results.json, the paper-form markdown tables and the bar chart.

`sketchcolor.evaluation.evaluate` computes a `RunResult` per run; this module turns a list of them into
the files a user reads: results.json (every number, NaN as null), results.md (FID, PSNR and
SSIM as models x colour controls like the paper's table, the paper's FID ratios beside ours,
every run on its own row) and results.png (grouped bars). Each file is written whole under a
temporary name and then renamed, so a reader never sees half a file.

Usage: write_outputs(results_payload(results, shard_dir, "val", 0, None, 1), results, out_dir)
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sketchcolor.util.files import atomic_output, create_output_folder, write_text_atomically

RESULTS_JSON = "results.json"
RESULTS_TABLE = "results.md"
RESULTS_CHART = "results.png"
RESULTS_CURVE = "results-curve.png"

# The paper's FID table (models x colour controls) and its "growth of colorization quality".
PAPER_FID = {
    "1": {"none": 112.63, "palette": 103.58, "hints": 99.09},
    "2.1": {"none": 98.29, "palette": 89.20, "hints": 83.44},
    "2.2": {"none": 96.41, "palette": 84.28, "hints": 79.86},
}
CONTROL_ORDER = ("none", "palette", "hints", "mixed", "reference")


@dataclass(kw_only=True)
class RunResult:
    """One run's numbers, as written to results.json."""

    run: str
    """The run folder, or the checkpoint folder (RUN/checkpoints/step-N) evaluated."""

    run_folder: str = ""
    """The run folder (the checkpoint's run for a checkpoint)."""

    step: int | None = None
    """The optimizer step of the weights (None for exports written before steps were recorded)."""

    checkpoint: bool = False
    """True when `run` is an intermediate checkpoint rather than the run's export."""

    parameters: int = 0
    """Generator parameters."""

    model: str
    """Generator name ("1", "2.1", "2.2", "3")."""

    color_control: str
    """The colour control the run was trained with (and evaluated under)."""

    hint_encoding: str | None
    """"overlay" or "channels" for hints and mixed runs, else None."""

    image_size: int
    """Side of the square images the run was evaluated at."""

    fid: float | None
    """Dataset-level FID against the split's real images; None when the weights are missing."""

    psnr: float
    """Mean PSNR in dB over the images (on [-1, 1], peak-to-peak 2)."""

    ssim: float
    """Mean SSIM over the images (Gaussian window 11, sigma 1.5)."""

    l1: float
    """Mean absolute error on [-1, 1]."""

    images: int
    """How many images were coloured."""

    @property
    def control_label(self) -> str:
        """Column name in the table: the colour control, marked when hints use channels."""
        if self.hint_encoding == "channels":
            return f"{self.color_control} (channels)"
        return self.color_control


# ----------------------------------------------------------------------------- results.json


def results_payload(
    results: list[RunResult],
    shard_dir: Path,
    split: str,
    seed: int,
    fid_message: str | None,
    processes: int,
) -> dict[str, Any]:
    """The content of results.json."""
    return {
        "shards": str(shard_dir),
        "split": split,
        "seed": seed,
        "processes": processes,
        "fid": "dataset-level FID, Inception-v3 pool3 (2048-d), pytorch-fid's weights",
        "fid_unavailable": fid_message,
        "runs": [json_safe(asdict(result)) for result in results],
    }


def json_safe(record: dict) -> dict:
    """NaN and infinities become null (strict JSON has neither)."""
    return {
        key: None if isinstance(value, float) and not math.isfinite(value) else value
        for key, value in record.items()
    }


# ----------------------------------------------------------------------------- outputs


def summary_text(payload: dict, out_dir: Path, command: str) -> str:
    """What a command prints after evaluating: the FID caveat, the results table, where it is."""
    lines = []
    if payload["fid_unavailable"]:
        lines.append(f"{command}: FID not computed: {payload['fid_unavailable']}")
    lines.append((out_dir / RESULTS_TABLE).read_text().rstrip("\n"))
    lines.append(f"{command}: results in {out_dir}")
    return "\n".join(lines)


def write_outputs(payload: dict, results: list[RunResult], out_dir: Path) -> None:
    """results.json, the markdown table and the bar chart, each written whole then renamed."""
    create_output_folder(out_dir)
    write_text_atomically(out_dir / RESULTS_JSON, json.dumps(payload, indent=2) + "\n")
    write_text_atomically(
        out_dir / RESULTS_TABLE, results_markdown(results, payload["fid_unavailable"])
    )
    write_chart(results, out_dir / RESULTS_CHART)
    if curves(results):
        write_curve(results, out_dir / RESULTS_CURVE)


def curves(results: list[RunResult]) -> dict[str, list[RunResult]]:
    """Run folder -> its results in step order, for runs evaluated at two steps or more."""
    by_run: dict[str, list[RunResult]] = {}
    for result in results:
        if result.step is not None:
            by_run.setdefault(result.run_folder or result.run, []).append(result)
    return {
        run: sorted(rows, key=lambda row: row.step)
        for run, rows in by_run.items()
        if len({row.step for row in rows}) > 1
    }


def step_table(results: list[RunResult]) -> list[str]:
    """One row per (run, step): how the metrics move as a run trains."""
    lines = [
        "| run | step | images | FID | PSNR (dB) | SSIM | L1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for run, rows in curves(results).items():
        for r in rows:
            lines.append(
                f"| {Path(run).name} | {r.step} | {r.images} | {format_number(r.fid, 2)} "
                f"| {format_number(r.psnr, 2)} | {format_number(r.ssim, 4)} "
                f"| {format_number(r.l1, 4)} |"
            )
    return lines


def write_curve(results: list[RunResult], path: Path) -> None:
    """Val L1, PSNR (and FID when computed) against the step, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = curves(results)
    panels = [("l1", "val L1 (lower is better)"), ("psnr", "PSNR (dB, higher is better)")]
    if any(r.fid is not None for rows in runs.values() for r in rows):
        panels.append(("fid", "FID (lower is better)"))
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for axis, (metric, title) in zip(axes[0], panels, strict=True):
        for run, rows in runs.items():
            points = [(r.step, getattr(r, metric)) for r in rows]
            points = [(x, y) for x, y in points if y is not None and math.isfinite(y)]
            axis.plot(*zip(*points, strict=True), marker="o", label=Path(run).name)
        axis.set_xlabel("step")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper center", ncol=min(len(runs), 4), frameon=False)
    figure.tight_layout(rect=(0, 0, 1, 0.88))  # room for the legend above the panels
    with atomic_output(path) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)


def model_order(results: list[RunResult]) -> list[str]:
    """The models present, in registry order (1, 2.1, 2.2, 3)."""
    from sketchcolor.models import list_generators

    known = list_generators()
    present = {result.model for result in results}
    return [name for name in known if name in present] + sorted(present - set(known))


def control_order(results: list[RunResult]) -> list[str]:
    """The colour-control columns present, in the paper's order."""
    present = {result.control_label for result in results}
    return sorted(present, key=lambda label: (CONTROL_ORDER.index(label.split(" ")[0]), label))


def grid(results: list[RunResult], metric: str) -> dict[tuple[str, str], float | None]:
    """(model, control label) -> the metric (the last run wins when two share a cell)."""
    return {(r.model, r.control_label): getattr(r, metric) for r in results}


def format_number(value: float | None, digits: int) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def models_by_controls_table(results: list[RunResult], metric: str, digits: int) -> list[str]:
    """A markdown table in the paper's form: one row per model, one column per colour control."""
    models, controls = model_order(results), control_order(results)
    cells = grid(results, metric)
    lines = ["| model | " + " | ".join(controls) + " |", "|---" * (len(controls) + 1) + "|"]
    for model in models:
        values = [format_number(cells.get((model, control)), digits) for control in controls]
        lines.append(f"| {model} | " + " | ".join(values) + " |")
    return lines


def ratio_table(results: list[RunResult]) -> list[str]:
    """The paper's "growth of colorization quality": FIDa/FIDb per colour control, > 1 = b better.

    Every ordered pair of models present (earlier model over later), with the paper's own ratio
    beside ours where the paper has one.
    """
    models, controls = model_order(results), control_order(results)
    if len(models) < 2:
        return [f"Ratios compare two models; only model {models[0]} was evaluated."]
    cells = grid(results, "fid")
    lines = ["| ratio | " + " | ".join(controls) + " |", "|---" * (len(controls) + 1) + "|"]
    for position, first in enumerate(models):
        for second in models[position + 1 :]:
            values = []
            for control in controls:
                ours_a, ours_b = cells.get((first, control)), cells.get((second, control))
                ours = ours_a / ours_b if ours_a and ours_b else None
                paper_a = PAPER_FID.get(first, {}).get(control)
                paper_b = PAPER_FID.get(second, {}).get(control)
                text = format_number(ours, 3)
                if paper_a and paper_b:
                    text += f" (paper {paper_a / paper_b:.3f})"
                values.append(text)
            lines.append(f"| FID{first}/FID{second} | " + " | ".join(values) + " |")
    return lines


def per_run_table(results: list[RunResult]) -> list[str]:
    """Every run on its own row with all its numbers."""
    lines = [
        "| run | model | colour control | size | images | FID | PSNR (dB) | SSIM | L1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {run_name(r)} | {r.model} | {r.control_label} | {r.image_size} | {r.images} "
            f"| {format_number(r.fid, 2)} | {format_number(r.psnr, 2)} "
            f"| {format_number(r.ssim, 4)} | {format_number(r.l1, 4)} |"
        )
    return lines


def run_name(result: RunResult) -> str:
    """The run folder's name, with @STEP for a checkpoint."""
    if result.checkpoint:
        return f"{Path(result.run_folder).name}@{result.step}"
    return Path(result.run).name


def results_markdown(results: list[RunResult], fid_message: str | None) -> str:
    """The whole results.md: FID in the paper's form, its ratios, PSNR/SSIM, every run."""
    lines = ["# Evaluation", ""]
    if fid_message is None:
        lines += ["## FID (dataset-level, lower is better)", ""]
        lines += models_by_controls_table(results, "fid", 2)
        lines += ["", "## FID ratios (the paper's quality growth; > 1: the second is better)", ""]
        lines += ratio_table(results)
    else:
        lines += ["FID unavailable: " + fid_message]
    lines += ["", "## PSNR (dB, higher is better)", ""]
    lines += models_by_controls_table(results, "psnr", 2)
    lines += ["", "## SSIM (higher is better)", ""]
    lines += models_by_controls_table(results, "ssim", 4)
    lines += ["", "## Every run", ""]
    lines += per_run_table(results)
    if curves(results):
        lines += ["", f"## By step (the curve: {RESULTS_CURVE})", ""]
        lines += step_table(results)
    lines += ["", "## The paper's FID (averaged per-pair FIDs; not comparable in scale)", ""]
    lines += [
        "| model | none | palette | hints |",
        "|---|---|---|---|",
        *(
            f"| {model} | "
            + " | ".join(f"{row[c]:.2f}" for c in ("none", "palette", "hints"))
            + " |"
            for model, row in PAPER_FID.items()
        ),
    ]
    return "\n".join(lines) + "\n"


def write_chart(results: list[RunResult], path: Path) -> None:
    """Grouped bars per colour control, one bar per model: FID (if any), PSNR and SSIM."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("psnr", "PSNR (dB, higher is better)"), ("ssim", "SSIM (higher is better)")]
    if any(r.fid is not None for r in results):
        panels.insert(0, ("fid", "FID (lower is better)"))
    models, controls = model_order(results), control_order(results)
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    bar_width = 0.8 / len(models)
    for axis, (metric, title) in zip(axes[0], panels, strict=True):
        cells = grid(results, metric)
        for position, model in enumerate(models):
            heights = [cells.get((model, control)) for control in controls]
            heights = [h if h is not None and math.isfinite(h) else 0.0 for h in heights]
            offsets = np.arange(len(controls)) + (position - (len(models) - 1) / 2) * bar_width
            axis.bar(offsets, heights, bar_width, label=f"model {model}")
        axis.set_xticks(np.arange(len(controls)), controls)
        axis.set_title(title)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper center", ncol=len(models), frameon=False)
    figure.tight_layout(rect=(0, 0, 1, 0.92))  # room for the legend above the panels
    with atomic_output(path) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)
