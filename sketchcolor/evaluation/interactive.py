"""The interactive-colorization benchmark (`evaluate --hint-counts`): how well each run colours
a split from N hint labels placed as a person places them, beside a paint bucket given the
same labels.

Labels are random points inside the truth's coloured regions (smallest channel below 235, not
white ground) and off the sketch's lines, each in the truth's colour there, drawn from the
sample key and the seed, so every run sees the same labels; the counts nest (the 4 labels are
the first 4 of the 16). With hint_shape "strokes" each label is a short stroke from that point
instead (data/controls/strokes.py: 1-3 random segments inside the point's colour region, off the lines,
in its colour), nested the same way; the paint bucket and flattening take its vertices. Interactive colorization is measured this way: Zhang et al. (2017)
plot PSNR against the number of points. Per count: L1, PSNR, SSIM (util/metrics.py)
and colour accuracy, the share of coloured, non-line truth pixels the output colours within
24/255 in every channel. Runs without hints see the same pictures (palette runs the truth's
palette); with `flatten` each run is also scored after data/regions.py's flattening, which
takes the labels' colours. The checkerboard ratio compares the output's power at the
periods 2 and 4 of a stride-2 decoder with the truth's: about 1 is clean, well above 1 the
transposed convolutions' pattern (Odena et al. 2016).

Usage: benchmark = interactive_benchmark(["runs/m1-hints"], "shards/", hint_counts=(0, 4, 16))
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from tqdm import tqdm

from sketchcolor.data.controls.conditioning import (
    Hints,
    pad_centres,
    paint_dots,
    uses_hints,
    uses_palette,
    uses_reference,
)
from sketchcolor.data.controls.strokes import (
    DRAW_COLUMNS,
    paint_strokes,
    stroke_draws,
    walk_strokes,
)
from sketchcolor.data.regions import flatten_colors, line_mask, paint_bucket, segment_regions
from sketchcolor.errors import SketchcolorError
from sketchcolor.runs import RunConfig, image_size_of, run_label, sample_seed
from sketchcolor.util import metrics
from sketchcolor.util.images import from_uint8, to_uint8

DEFAULT_HINT_COUNTS = (0, 1, 4, 16, 64)
WHITE_GROUND = 235
"""A truth pixel whose smallest channel is at or above this (of 255) is white ground."""
ACCURACY_TOLERANCE = 24
"""A pixel is the right colour when every channel is within this (of 255) of the truth."""
LABEL_SIZE = 5
"""Side in pixels of the square a label covers where a run records no label size."""
BUCKET = "paint bucket"
FLATTEN_SUFFIX = " + flatten"  # a run's flattened row: "model-1-hints + flatten"
HINT_SHAPES = ("dots", "strokes")
"""What the benchmark's labels are: label squares, or short strokes from the same centres."""
STROKE_STREAM = 1
"""Second seed word of the strokes' random stream (the centres' stream has none)."""


@dataclass
class Split:
    """The evaluated pictures, on the CPU: tensors in [-1, 1] and their uint8 copies."""

    keys: list[str]
    sketch: torch.Tensor
    color: torch.Tensor
    palette: torch.Tensor
    sketch_u8: np.ndarray = field(init=False)
    truth_u8: np.ndarray = field(init=False)
    coloured: np.ndarray = field(init=False)
    stored_regions: InitVar[torch.Tensor | None] = None
    """(N, H, W) the shards' region maps, when they carry them (else each sketch is segmented)."""
    regions: list[np.ndarray] = field(init=False)

    def __post_init__(self, stored_regions: torch.Tensor | None) -> None:
        self.sketch_u8 = to_uint8(self.sketch)
        self.truth_u8 = to_uint8(self.color)
        lines = np.stack([line_mask(sketch) for sketch in self.sketch_u8])
        self.coloured = (self.truth_u8.min(axis=3) < WHITE_GROUND) & ~lines
        if stored_regions is not None:
            self.regions = list(stored_regions.numpy().astype(np.int32))
        else:
            self.regions = [segment_regions(mask) for mask in lines]

    def __len__(self) -> int:
        return len(self.keys)


def load_split(shard_dir: Path, split: str, image_size: int, max_images: int | None,
               backend: str) -> Split:  # fmt: skip
    """The first `max_images` samples of a split (all of it for None), in key order."""
    from sketchcolor.data.loading.loader import create_loader
    from sketchcolor.evaluation.evaluate import kept_samples
    from sketchcolor.training.accelerators import resolve_backend

    loader = create_loader(shard_dir, split=split, image_size=image_size, batch_size=16,
                           device=torch.device("cpu"), backend=resolve_backend(backend),
                           training=False)  # fmt: skip
    # The shards' maps spare segmenting every sketch again, where they are at this size: a
    # map resized with the sketch is not the segmentation of the resized sketch.
    stored = loader.shards.regions and loader.shards.half_size == image_size
    names = ["sketch", "color", "palette", *(["regions"] if stored else [])]
    keys, parts = [], {name: [] for name in names}
    for batch in loader.epoch(0):
        batch = kept_samples(batch, max_images)
        if batch is None:
            continue
        keys += batch["key"]
        for name, values in parts.items():
            values.append(batch[name].cpu())
    if not keys:
        raise SketchcolorError(f"{shard_dir}: split {split!r} gave no images to evaluate")
    order = sorted(range(len(keys)), key=keys.__getitem__)
    tensors = {name: torch.cat(values)[order] for name, values in parts.items()}
    stored_regions = tensors.pop("regions", None)
    return Split([keys[i] for i in order], **tensors, stored_regions=stored_regions)


def label_ground(split: Split, index: int, label_size: int) -> np.ndarray:
    """(H, W) bool: coloured pixels whose whole label square stays off the lines (any coloured
    pixel where none does): where a label's centre may go."""
    coloured = split.coloured[index]
    clear = ndimage.binary_erosion(coloured, structure=np.ones((label_size, label_size), bool))
    return clear if clear.any() else coloured


def label_order(split: Split, index: int, most: int, label_size: int, seed: int) -> np.ndarray:
    """(n, 2) label centres for one sample, n <= most: random pixels of its label ground."""
    candidates = np.argwhere(label_ground(split, index, label_size))
    rng = np.random.default_rng(sample_seed(split.keys[index], seed))
    return candidates[rng.permutation(len(candidates))[:most]]


def person_labels(split: Split, most: int, label_size: int, seed: int) -> list[np.ndarray]:
    """Each sample's label centres in placement order; the first n are that count's labels."""
    return [label_order(split, i, most, label_size, seed) for i in range(len(split))]


def person_strokes(split: Split, centres: list[np.ndarray], width: int, seed: int) -> list[np.ndarray]:  # fmt: skip
    """Each sample's labels as short strokes: (n, V, 2) float (y, x) vertices per sample.

    Stroke i starts at centre i and walks data/controls/strokes.py's random segments over the label
    ground, where the truth keeps its start's colour; its draws are row i of one array drawn
    from the sample key and seed (its own stream beside the centres'), so the first 4 strokes
    of 16 are the 4 strokes, as the centres are.
    """
    grounds = torch.from_numpy(np.stack([label_ground(split, i, width) for i in range(len(split))]))
    owner = image_of(centres)
    starts = torch.from_numpy(np.concatenate(centres)).long().reshape(-1, 2)
    uniform = np.concatenate([
        np.random.default_rng([sample_seed(key, seed), STROKE_STREAM]).random((len(c), DRAW_COLUMNS))
        for key, c in zip(split.keys, centres, strict=True)
    ])  # fmt: skip
    draws = stroke_draws(torch.from_numpy(uniform).float(), width)
    vertices = walk_strokes(starts, owner, draws, grounds, split.color).numpy()
    return np.split(vertices, np.cumsum([len(c) for c in centres])[:-1])


def image_of(per_sample: list) -> torch.Tensor:
    """(N,) the sample index of each row of per-sample arrays, as they concatenate."""
    return torch.cat([torch.full((len(rows),), i, dtype=torch.long)
                      for i, rows in enumerate(per_sample)])  # fmt: skip


@dataclass
class PersonLabels:
    """The benchmark's labels: dots at `centres`, or strokes along `strokes` from them."""

    shape: str
    centres: list[np.ndarray]
    """(n, 2) (y, x) per sample, in placement order."""
    strokes: list[np.ndarray] | None = None
    """(n, V, 2) float (y, x) stroke vertices per sample (shape "strokes")."""

    def points(self, split: Split, index: int, count: int) -> list[tuple[int, int, tuple]]:
        """(y, x, truth colour at the label's centre) for each of the first `count` labels'
        centres, or for every vertex of a stroke: what flattening and the paint bucket take."""
        centres = self.centres[index][:count]
        truth = split.truth_u8[index]
        colors = [tuple(int(v) for v in truth[y, x]) for y, x in centres]
        if self.strokes is None:
            return [(int(y), int(x), c) for (y, x), c in zip(centres, colors, strict=True)]
        vertices = np.round(self.strokes[index][:count]).astype(int)
        return [(y, x, color) for stroke, color in zip(vertices, colors, strict=True)
                for y, x in dict.fromkeys(map(tuple, stroke.tolist()))]  # fmt: skip

    def hints(self, split: Split, start: int, stop: int, count: int, size: int) -> Hints:
        """The first `count` labels of samples start..stop painted `size` px (dot side or
        stroke width), as a run sees them."""
        color = split.color[start:stop]
        chosen = [torch.from_numpy(c[:count]).long() for c in self.centres[start:stop]]
        if self.strokes is None:
            return paint_dots(color, pad_centres(chosen, color.device), size)
        owner = image_of(chosen)
        vertices = torch.from_numpy(np.concatenate([v[:count] for v in self.strokes[start:stop]]))
        starts = torch.cat(chosen).reshape(-1, 2)
        colors = color[owner, :, starts[:, 0], starts[:, 1]]
        keep = torch.from_numpy(split.coloured[start:stop])
        widths = torch.full((len(owner),), float(size))
        rgb, mask = paint_strokes(vertices, owner, colors, widths, (len(color), *color.shape[-2:]),
                                  truth=color, keep=keep)  # fmt: skip
        return Hints(rgb=rgb, mask=mask)


def person_label_set(split: Split, most: int, label_size: int, seed: int, shape: str) -> PersonLabels:  # fmt: skip
    """The benchmark's labels of `shape` ("dots" or "strokes") for the split."""
    if shape not in HINT_SHAPES:
        choices = ", ".join(HINT_SHAPES)
        raise SketchcolorError(f"unknown hint shape {shape!r}; choose one of {choices}")
    centres = person_labels(split, most, label_size, seed)
    strokes = person_strokes(split, centres, label_size, seed) if shape == "strokes" else None
    return PersonLabels(shape, centres, strokes)


def colour_accuracy(output: np.ndarray, truth: np.ndarray, coloured: np.ndarray) -> np.ndarray:
    """(B,) share of each image's coloured pixels whose every channel is within tolerance."""
    close = (np.abs(output.astype(np.int16) - truth.astype(np.int16)) <= ACCURACY_TOLERANCE).all(3)
    counts = coloured.reshape(len(coloured), -1).sum(1)
    hits = (close & coloured).reshape(len(coloured), -1).sum(1)
    return np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)


def stride_power(images: torch.Tensor) -> float:
    """Mean power of the luminance at the frequencies of periods 2 and 4 (both axes), which
    a stride-2 decoder's uneven overlap puts there; the image mean removed."""
    gray = images.float().mean(dim=1)
    gray = gray - gray.mean(dim=(1, 2), keepdim=True)
    height, width = gray.shape[-2:]
    power = torch.fft.fft2(gray).abs().pow(2) / (height * width)
    rows = [height * k // 4 for k in range(4)]
    columns = [width * k // 4 for k in range(4)]
    lattice = power[:, rows][:, :, columns].flatten(1)[:, 1:]  # (0, 0) is the mean
    return float(lattice.mean())


def scores(output: torch.Tensor, output_u8: np.ndarray, split: Split) -> dict[str, float]:
    """Mean L1, PSNR, SSIM and colour accuracy of outputs against the split's truth."""
    real = split.color
    accuracy = colour_accuracy(output_u8, split.truth_u8, split.coloured)
    return {
        "l1": float(metrics.l1(output, real).mean()),
        "psnr": float(metrics.psnr(output, real).clamp(max=100).mean()),
        "ssim": float(metrics.ssim(output, real).mean()),
        "accuracy": float(np.nanmean(accuracy)),
    }


def run_outputs(engine, config: RunConfig, split: Split, labels: PersonLabels, count: int,
                batch_size: int, device: torch.device) -> torch.Tensor:  # fmt: skip
    """The run's colours for the split with the first `count` labels of each sample, from
    its engine (engines.py: PyTorch or an onnxruntime session)."""
    label_size = config.hint_config.label_size or LABEL_SIZE
    outputs = []
    for start in range(0, len(split), batch_size):
        stop = min(start + batch_size, len(split))
        sketch = split.sketch[start:stop]
        hints = None
        if uses_hints(config.color_control):
            hints = labels.hints(split, start, stop, count, label_size)
            hints = type(hints)(rgb=hints.rgb.to(device), mask=hints.mask.to(device))
        palette = (
            split.palette[start:stop].to(device) if uses_palette(config.color_control) else None
        )
        fake = engine(sketch.to(device), palette, hints)
        if not torch.isfinite(fake).all():
            raise SketchcolorError(f"the generator's output is NaN/inf (from {split.keys[start]})")
        outputs.append(fake.float().cpu())
    return torch.cat(outputs)


def flattened(output_u8: np.ndarray, split: Split, labels: PersonLabels, count: int) -> np.ndarray:
    """The outputs flattened: one colour per region, the labels' colours where they sit."""
    return np.stack([
        flatten_colors(output_u8[i], split.sketch_u8[i], split.regions[i],
                       labels.points(split, i, count))
        for i in range(len(split))
    ])  # fmt: skip


def bucket_outputs(split: Split, labels: PersonLabels, count: int) -> np.ndarray:
    """The no-learning baseline with the same labels (a stroke's region from its points)."""
    return np.stack([
        paint_bucket(split.sketch_u8[i], labels.points(split, i, count))
        for i in range(len(split))
    ])  # fmt: skip


def row(name: str, count: int, values: dict, **extra) -> dict:
    return {"name": name, "labels": count, **values, **extra}


@dataclass
class Benchmark:
    """What `interactive_benchmark` measured: one row per (colorizer, label count)."""

    rows: list[dict]
    checkerboard: dict[str, float]
    images: int
    hint_counts: tuple[int, ...]
    examples: dict[str, np.ndarray]
    """Colorizer name -> (B, H, W, 3) uint8 outputs at the example count, for the figure."""
    example_count: int
    split: Split
    labels: PersonLabels
    options: dict[str, str] = field(default_factory=dict)
    """Run name -> its training options in one line (RunConfig.summary)."""

    @property
    def centres(self) -> list[np.ndarray]:
        return self.labels.centres

    @property
    def hint_shape(self) -> str:
        return self.labels.shape


def example_count_of(hint_counts: tuple[int, ...]) -> int:
    """The count the example figure shows: 16 when measured, else the largest below it."""
    below = [count for count in hint_counts if 0 < count <= 16]
    return max(below) if below else max(hint_counts)


def check_benchmark_arguments(run_dirs: list, hint_counts: tuple[int, ...], onnx) -> None:
    """One line for each argument interactive_benchmark refuses, before any work."""
    if not hint_counts or min(hint_counts) < 0:
        raise SketchcolorError(f"hint counts must be numbers of labels >= 0, got {hint_counts}")
    if onnx is not None and len(run_dirs) != 1:
        raise SketchcolorError("--onnx names one run's exported file: give one run")


def load_engines(run_dirs: list, shard_dir: Path, engine: str, device: torch.device,
                 onnx) -> tuple[list[tuple], int]:  # fmt: skip
    """(run folder, engine, run config) for each run, and the image size they were all
    trained at (runs of different sizes are refused)."""
    loaded = [(Path(run_dir), *run_engine(Path(run_dir), shard_dir, engine, device, onnx))
              for run_dir in run_dirs]  # fmt: skip
    sizes = {image_size_of(config, shard_dir) for _, _, config in loaded}
    if len(sizes) != 1:
        raise SketchcolorError(f"the runs were trained at different sizes {sorted(sizes)}")
    return loaded, sizes.pop()


def run_engine(run_dir: Path, shard_dir: Path, engine: str, device: torch.device, onnx):
    """(engine, run config) of a run folder, or of a checkpoint (RUN/checkpoints/step-N,
    rebuilt as its export would be, with the torch engine): a run's curve over training."""
    from sketchcolor.inference.engines import TorchEngine, load_engine
    from sketchcolor.runs import is_checkpoint_folder, load_checkpoint_generator

    if not is_checkpoint_folder(run_dir):
        return load_engine(run_dir, engine, device, onnx=onnx)[:2]
    if engine != "torch":
        raise SketchcolorError(f"{run_dir}: a checkpoint is measured with --engine torch")
    generator, config = load_checkpoint_generator(run_dir, device, shard_dir=shard_dir)
    return TorchEngine(generator, config, config.hint_config), config


def run_rows(run_dir: Path, step: int | None, output: torch.Tensor, split: Split,
             labels: PersonLabels, count: int,
             flatten: bool) -> tuple[list[dict], dict[str, np.ndarray]]:  # fmt: skip
    """The run's row at `count` (with `flatten`, also its flattened outputs' row), and the
    uint8 outputs each row scored, by row name. Each row names its run folder and the
    training step it was exported at (None: unknown)."""
    name = run_label(run_dir)
    output_u8 = to_uint8(output)
    where = {"run": str(run_dir), "step": step}
    rows = [row(name, count, scores(output, output_u8, split), **where)]
    outputs = {name: output_u8}
    if flatten:
        flat = flattened(output_u8, split, labels, count)
        flat_name = f"{name}{FLATTEN_SUFFIX}"
        rows.append(row(flat_name, count, scores(from_uint8(flat), flat, split), **where))
        outputs[flat_name] = flat
    return rows, outputs


def measure_counts(loaded: list[tuple], split: Split, labels: PersonLabels,
                   hint_counts: tuple[int, ...], *, shown: int, examples: int, flatten: bool,
                   batch_size: int, device: torch.device,
                   ) -> tuple[list[dict], dict[str, float], dict[str, np.ndarray]]:  # fmt: skip
    """The paint bucket's and every run's rows at every count; at the count `shown`, each
    run's checkerboard ratio and every colorizer's first `examples` outputs, by name."""
    rows, checkerboard, pictures = [], {}, {}
    truth_power = stride_power(split.color)
    work = tqdm(total=len(hint_counts) * (len(loaded) + 1), desc="interactive benchmark",
                unit="count")  # fmt: skip
    for count in hint_counts:
        bucket = bucket_outputs(split, labels, count)
        rows.append(row(BUCKET, count, scores(from_uint8(bucket), bucket, split)))
        if count == shown:
            pictures[BUCKET] = bucket[:examples]
        work.update()
        for run_dir, run_engine, config in loaded:
            output = run_outputs(run_engine, config, split, labels, count, batch_size, device)
            measured, outputs = run_rows(run_dir, config.step, output, split, labels, count,
                                        flatten)  # fmt: skip
            rows.extend(measured)
            if count == shown:
                pictures.update((name, images[:examples]) for name, images in outputs.items())
                checkerboard[run_label(run_dir)] = stride_power(output) / truth_power
            work.update()
    work.close()
    return rows, checkerboard, pictures


def interactive_benchmark(
    run_dirs: list[str | Path],
    shard_dir: str | Path,
    *,
    split: str = "val",
    hint_counts: tuple[int, ...] = DEFAULT_HINT_COUNTS,
    flatten: bool = False,
    seed: int = 0,
    max_images: int | None = None,
    batch_size: int = 16,
    backend: str = "auto",
    device: torch.device | str = "cpu",
    examples: int = 4,
    hint_shape: str = "dots",
    engine: str = "torch",
    onnx: str | Path | None = None,
) -> Benchmark:
    """Every run (and the paint bucket) at every label count; see the module docstring.

    hint_shape: "dots" (label squares) or "strokes" (short strokes from the same centres);
    engine: "torch" or "onnxruntime" (engines.py); onnx: the exported file to run (one run
    only; e.g. RUN/generator.int8.onnx, to measure what int8 costs)."""
    check_benchmark_arguments(run_dirs, hint_counts, onnx)
    device = torch.device(device)
    loaded, image_size = load_engines(run_dirs, Path(shard_dir), engine, device, onnx)
    for run_dir, _, config in loaded:
        if uses_reference(config.color_control):
            raise SketchcolorError(f"{run_dir}: a reference run; measure it with "
                                   "--reference-benchmark")  # fmt: skip
    data = load_split(Path(shard_dir), split, image_size, max_images, backend)
    label_size = max((c.hint_config.label_size or LABEL_SIZE) for _, _, c in loaded)
    labels = person_label_set(data, max(hint_counts), label_size, seed, hint_shape)
    shown = example_count_of(hint_counts)
    rows, checkerboard, pictures = measure_counts(
        loaded, data, labels, hint_counts, shown=shown, examples=examples, flatten=flatten,
        batch_size=batch_size, device=device,
    )  # fmt: skip
    options = {run_label(run_dir): config.summary() for run_dir, _, config in loaded}
    return Benchmark(rows, checkerboard, len(data), tuple(hint_counts), pictures, shown, data,
                     labels, options)  # fmt: skip
