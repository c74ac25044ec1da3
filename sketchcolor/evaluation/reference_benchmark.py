"""The reference benchmark (`evaluate --reference-benchmark`): how well runs colour a sketch
from a coloured picture of the same character, scored with the interactive benchmark's colour
accuracy (interactive.py), beside a paint bucket that takes the reference's colour at the same
place and runs of the palette control given the truth's palette. Three cases:

- warped frames: each sketch of the split under a seeded random deformation (small, medium,
  large; data/controls/reference.py) is the frame, its unwarped colours the reference, its
  warped colours the truth;
- a chained sequence: 24 frames of a deformation moving in a loop (each as far from the
  unwarped keyframe as any other), the first coloured from the unwarped colours and each next
  one from the previous coloured frame (what `colorize --chain` does); the drift is the first
  frame's accuracy less the last's;
- same character, another drawing: OpenMoji people of one skin tone (a target of the split and
  another drawing of the same person and tone, from any split, as the reference), scored on
  the target's pixels whose truth colours appear in the reference, and the share of its skin
  that takes the reference's skin colour.

Reference runs are scored without labels, alone and flattened to the reference's own colours.

Usage: benchmark = reference_benchmark(["runs/model-R-reference"], "shards/")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from sketchcolor.data.controls.conditioning import uses_palette, uses_reference
from sketchcolor.data.controls.reference import (
    WARP_STRENGTHS,
    orbit_grids,
    reference_colors,
    reference_layout,
    warp,
    warp_pair,
)
from sketchcolor.data.regions import bucket_from_picture, flatten_colors
from sketchcolor.errors import SketchcolorError
from sketchcolor.evaluation.interactive import (
    ACCURACY_TOLERANCE,
    FLATTEN_SUFFIX,
    Split,
    colour_accuracy,
    load_engines,
    load_split,
)
from sketchcolor.util.images import from_uint8, to_uint8

REFERENCE_BUCKET = "paint bucket (reference at the same place)"
SEQUENCE_FRAMES = 24
SEQUENCE_SAMPLES = 8
"""Sequences measured (the split's first, in key order), each of SEQUENCE_FRAMES frames."""
SEQUENCE_STRENGTH = "medium"
SKIN_TONES = {"1F3FB": (0xFA, 0xDC, 0xBC), "1F3FC": (0xDE, 0xBB, 0x90),
              "1F3FD": (0xC1, 0x9A, 0x65), "1F3FE": (0xA5, 0x79, 0x39),
              "1F3FF": (0x6A, 0x46, 0x2F)}  # fmt: skip
"""OpenMoji's skin colour of each Fitzpatrick modifier (its palette; the colour every drawing
of that tone holds)."""


@dataclass
class BenchmarkRun:
    """One run of the benchmark: its name, folder, engine (on `device`) and colour control."""

    name: str
    run: str
    engine: object
    control: str
    device: torch.device

    def __call__(self, sketch, reference, palette) -> torch.Tensor:
        """Colours (B, 3, H, W) on the CPU: a reference run's from the reference, a palette
        run's from the palette; no labels."""
        given_palette = palette.to(self.device) if uses_palette(self.control) else None
        given_reference = reference.to(self.device) if uses_reference(self.control) else None
        output = self.engine(sketch.to(self.device), given_palette, None, given_reference)
        return output.float().cpu()


@dataclass
class ReferenceBenchmark:
    """What `reference_benchmark` measured."""

    rows: list[dict]
    """Warped frames: {"case", "strength", "name", "accuracy", "l1"} per colorizer and strength."""
    sequence: dict[str, list[float]]
    """Reference run (flattened) -> mean accuracy of each chained frame, first to last."""
    same_character: list[dict] = field(default_factory=list)
    """{"name", "pairs", "accuracy", "skin_share"} per colorizer."""
    examples: dict[str, np.ndarray] = field(default_factory=dict)
    """Column title -> (N, H, W, 3) uint8 of the medium frames' first examples."""
    images: int = 0
    reference_runs: dict[str, str] = field(default_factory=dict)
    """Folder -> name of each reference run measured (their model cards get a section)."""


def check_colorizers(loaded: list[tuple], device: torch.device) -> list[BenchmarkRun]:
    """The loaded runs as benchmark colorizers; a one-line error for a run of another control."""
    colorizers = []
    for run_dir, engine, config in loaded:
        control = config.color_control
        if not (uses_reference(control) or control in ("palette", "mixed")):
            raise SketchcolorError(f"{run_dir}: colour control {control!r}; the reference "
                                   "benchmark takes reference runs, and palette or mixed "
                                   "runs as baselines")  # fmt: skip
        colorizers.append(BenchmarkRun(run_dir.name, str(run_dir), engine, control, device))
    return colorizers


def accuracy_of(output_u8: np.ndarray, truth: Split) -> float:
    """Mean colour accuracy of uint8 outputs (N, H, W, 3) against a split's truth."""
    return float(np.nanmean(colour_accuracy(output_u8, truth.truth_u8, truth.coloured)))


def flatten_all(output_u8: np.ndarray, frames: Split,
                references: np.ndarray | None) -> np.ndarray:  # fmt: skip
    """Each output flattened along its frame's regions; with `references` ((N, H, W, 3) uint8),
    as colorize flattens a reference run's: matched to its reference's regions, snapped to
    its reference's own colours."""
    return np.stack([
        flatten_colors(output_u8[i], frames.sketch_u8[i], frames.regions[i], (),
                       *(() if references is None else (reference_colors(references[i]),
                                                       reference_layout(references[i]))))
        for i in range(len(frames))
    ])  # fmt: skip


def colour_frames(colorizer: BenchmarkRun, frames: Split, references: torch.Tensor,
                  palettes: torch.Tensor, batch_size: int) -> np.ndarray:  # fmt: skip
    """The colorizer's uint8 colours of every frame, in batches."""
    outputs = [colorizer(frames.sketch[start : start + batch_size],
                         references[start : start + batch_size],
                         palettes[start : start + batch_size])
               for start in range(0, len(frames), batch_size)]  # fmt: skip
    return to_uint8(torch.cat(outputs))


def warped_rows(colorizers: list[BenchmarkRun], data: Split, strength: str, seed: int,
                batch_size: int) -> tuple[list[dict], Split, dict[str, np.ndarray]]:  # fmt: skip
    """Every colorizer's rows on the frames of one strength (and the bucket's), the frames,
    and each row's outputs by name."""
    sketch, color = warp_pair(data.sketch, data.color, strength, seed)
    frames = Split(data.keys, sketch, color, data.palette)
    bucket = np.stack([bucket_from_picture(frames.sketch_u8[i], data.truth_u8[i])
                       for i in range(len(frames))])  # fmt: skip
    outputs = {REFERENCE_BUCKET: bucket}
    for colorizer in colorizers:
        output = colour_frames(colorizer, frames, data.color, data.palette, batch_size)
        outputs[colorizer.name] = output
        own = data.truth_u8 if uses_reference(colorizer.control) else None
        outputs[colorizer.name + FLATTEN_SUFFIX] = flatten_all(output, frames, own)
    rows = [{"case": "warped frames", "strength": strength, "name": name,
             "accuracy": accuracy_of(images, frames),
             "l1": float((from_uint8(images) - frames.color).abs().mean())}
            for name, images in outputs.items()]  # fmt: skip
    return rows, frames, outputs


def chained_accuracy(colorizer: BenchmarkRun, data: Split, index: int, seed: int) -> list[float]:
    """One sample's chained sequence: the flattened accuracy of each frame, first to last."""
    height, width = data.sketch.shape[-2:]
    grids = orbit_grids(SEQUENCE_FRAMES, height, width, SEQUENCE_STRENGTH, seed + index)
    sketch = warp(data.sketch[index : index + 1].expand(SEQUENCE_FRAMES, -1, -1, -1), grids)
    color = warp(data.color[index : index + 1].expand(SEQUENCE_FRAMES, -1, -1, -1), grids)
    frames = Split([data.keys[index]] * SEQUENCE_FRAMES, sketch, color,
                   data.palette[index : index + 1].expand(SEQUENCE_FRAMES, -1, -1))  # fmt: skip
    keyframe_colors = reference_colors(data.truth_u8[index])
    reference, accuracies = data.truth_u8[index], []
    for frame in range(SEQUENCE_FRAMES):
        output = to_uint8(colorizer(sketch[frame : frame + 1], from_uint8(reference[None]),
                                    frames.palette[:1]))  # fmt: skip
        flat = flatten_colors(output[0], frames.sketch_u8[frame], frames.regions[frame], (),
                              keyframe_colors, reference_layout(reference))  # fmt: skip
        accuracies.append(float(colour_accuracy(flat[None], frames.truth_u8[frame : frame + 1],
                                                frames.coloured[frame : frame + 1])[0]))  # fmt: skip
        reference = flat  # the coloured frame is the next one's reference
    return accuracies


def sequence_curves(
    colorizers: list[BenchmarkRun], data: Split, seed: int
) -> dict[str, list[float]]:
    """Each reference run's mean flattened accuracy per chained frame."""
    count = min(SEQUENCE_SAMPLES, len(data))
    curves = {}
    for colorizer in colorizers:
        if not uses_reference(colorizer.control):
            continue
        per_sample = [chained_accuracy(colorizer, data, index, seed)
                      for index in tqdm(range(count), desc=f"chained {colorizer.name}", unit="seq")]  # fmt: skip
        curves[colorizer.name] = np.nanmean(np.array(per_sample), axis=0).tolist()
    return curves


def tone_of(key: str) -> str | None:
    """The one skin-tone modifier of an OpenMoji key ("1F469-1F3FB-200D-1F373"), else None."""
    tones = {part for part in key.split("-") if part in SKIN_TONES}
    return tones.pop() if len(tones) == 1 else None


def person_pairs(targets: list[str], candidates: list[str]) -> list[tuple[str, str]]:
    """(target, reference) keys: a target that is a person then one skin tone ("1F469-1F3FB-
    ..."), and the shortest other candidate of the same person and tone."""
    pairs = []
    for target in targets:
        parts = target.split("-")
        tone = tone_of(target)
        if len(parts) < 2 or parts[1] != tone:
            continue
        person = "-".join(parts[:2])
        others = [key for key in candidates if key != target and tone_of(key) == tone
                  and (key == person or key.startswith(person + "-"))]  # fmt: skip
        if others:
            pairs.append((target, min(others, key=lambda key: (len(key), key))))
    return pairs


def load_toned(shard_dir: Path, image_size: int, backend: str,
               names: dict[str, str]) -> dict[str, tuple]:  # fmt: skip
    """key -> (sketch, colours) uint8 (H, W, 3) and palette (9, 3), for every sample of every
    split whose source name holds one skin tone (uint8: a few hundred pictures stay small);
    names: sample key -> source name (`shard_sample_names`)."""
    from sketchcolor.data.loading.loader import create_loader
    from sketchcolor.data.shards.manifest import read_manifest
    from sketchcolor.training.accelerators import resolve_backend

    found: dict[str, tuple] = {}
    for split in read_manifest(shard_dir).get("splits", {}):
        loader = create_loader(shard_dir, split=split, image_size=image_size, batch_size=16,
                               device=torch.device("cpu"), backend=resolve_backend(backend),
                               training=False)  # fmt: skip
        for batch in loader.epoch(0):
            sketches, colors = to_uint8(batch["sketch"]), to_uint8(batch["color"])
            for index, key in enumerate(batch["key"]):
                name = names.get(key, key)
                if tone_of(name) is not None:
                    found[name] = (sketches[index], colors[index], batch["palette"][index].cpu())
    return found


def shard_sample_names(shard_dir: Path) -> dict[str, str]:
    """Sample key -> its source file's name, over the shard folder's local tars (s3:// shards
    staged by the loaders first)."""
    from sketchcolor.data.shards.check import manifest_shards, sample_names
    from sketchcolor.data.shards.manifest import read_manifest
    from sketchcolor.data.storage.s3 import local_folder

    folder = local_folder(shard_dir)
    names = {}
    for entry in manifest_shards(read_manifest(shard_dir)):
        tar = folder / entry["tar"]
        if tar.is_file():
            names.update(sample_names(tar))
    return names


def same_character_rows(colorizers: list[BenchmarkRun], data: Split, shard_dir: Path,
                        backend: str, batch_size: int) -> list[dict]:  # fmt: skip
    """Every colorizer on the split's people coloured from another drawing of the same person
    and tone: accuracy on the colours the reference holds, and the skin's share."""
    names = shard_sample_names(shard_dir)
    toned = load_toned(shard_dir, data.sketch.shape[-1], backend, names)
    targets = [names.get(key, key) for key in data.keys]
    pairs = person_pairs([name for name in targets if name in toned], sorted(toned))
    if not pairs:
        return []
    targets = Split([t for t, _ in pairs], from_uint8(np.stack([toned[t][0] for t, _ in pairs])),
                    from_uint8(np.stack([toned[t][1] for t, _ in pairs])),
                    torch.stack([toned[r][2] for _, r in pairs]))  # fmt: skip
    references_u8 = np.stack([toned[r][1] for _, r in pairs])
    colors = [reference_colors(picture) for picture in references_u8]
    shared = np.stack([near_any(targets.truth_u8[i], colors[i]) for i in range(len(pairs))])
    skin = np.stack([near_any(targets.truth_u8[i], np.array([SKIN_TONES[tone_of(t)]]))
                     for i, (t, _) in enumerate(pairs)])  # fmt: skip
    rows = []
    for colorizer in colorizers:
        output = colour_frames(colorizer, targets, from_uint8(references_u8), targets.palette,
                               batch_size)  # fmt: skip
        own = references_u8 if uses_reference(colorizer.control) else None
        for name, images in ((colorizer.name, output),
                             (colorizer.name + FLATTEN_SUFFIX, flatten_all(output, targets, own))):  # fmt: skip
            rows.append({"case": "same character", "name": name, "pairs": len(pairs),
                         "accuracy": masked_accuracy(images, targets, shared),
                         "skin_share": masked_accuracy(images, targets, skin)})  # fmt: skip
    return rows


def near_any(picture: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels within the accuracy tolerance of one of `colors` in every channel."""
    difference = np.abs(
        picture[:, :, None, :].astype(np.int16) - colors[None, None].astype(np.int16)
    )
    return (difference <= ACCURACY_TOLERANCE).all(-1).any(-1)


def masked_accuracy(output_u8: np.ndarray, truth: Split, mask: np.ndarray) -> float:
    """Colour accuracy over the truth's coloured pixels inside `mask` (N, H, W)."""
    return float(np.nanmean(colour_accuracy(output_u8, truth.truth_u8, truth.coloured & mask)))


def reference_benchmark(
    run_dirs: list[str | Path],
    shard_dir: str | Path,
    *,
    split: str = "val",
    seed: int = 0,
    max_images: int | None = None,
    batch_size: int = 16,
    backend: str = "auto",
    device: torch.device | str = "cpu",
    engine: str = "torch",
    examples: int = 4,
) -> ReferenceBenchmark:
    """Every run on warped frames of each strength, chained sequences and same-character
    pairs (see the module docstring)."""
    device = torch.device(device)
    loaded, image_size = load_engines(run_dirs, Path(shard_dir), engine, device, None)
    colorizers = check_colorizers(loaded, device)
    data = load_split(Path(shard_dir), split, image_size, max_images, backend)
    rows, pictures = [], {}
    for strength in tqdm(WARP_STRENGTHS, desc="warped frames", unit="strength"):
        measured, frames, outputs = warped_rows(colorizers, data, strength, seed, batch_size)
        rows += measured
        if strength == "medium":
            pictures = {"frame": frames.sketch_u8[:examples], "reference": data.truth_u8[:examples],
                        "truth": frames.truth_u8[:examples],
                        **{name: images[:examples] for name, images in outputs.items()}}  # fmt: skip
    sequence = sequence_curves(colorizers, data, seed)
    same = same_character_rows(colorizers, data, Path(shard_dir), backend, batch_size)
    runs = {c.run: c.name for c in colorizers if uses_reference(c.control)}
    return ReferenceBenchmark(rows, sequence, same, pictures, len(data), runs)
