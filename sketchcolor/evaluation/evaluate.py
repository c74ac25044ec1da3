"""Evaluate trained runs on a shard split: FID, PSNR, SSIM and L1 per run.

Each run's generator colours the split under the colour control it was trained with; hint
labels are sampled per sample from a seed and the sample key, so every run (and every number
of processes) sees the same hints. FID is the standard dataset-level FID (Inception-v3 pool3,
as pytorch-fid computes it) between all generated and all real colour images of the split; the
real images' statistics are cached by the shard manifest's hash. Under several processes
(`accelerate launch`) each rank colours its part and everything is gathered before the numbers
are computed, so they equal a single process's. Writing the results (results.json, the paper's
table, the chart) is `sketchcolor.evaluation.report`'s job.

Usage: evaluate_runs(["runs/m1-none", "runs/m21-palette"], "shards/", out_dir="evaluation/")
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from sketchcolor.data.conditioning import uses_hints
from sketchcolor.data.manifest import read_manifest
from sketchcolor.data.remote import data_location, local_folder
from sketchcolor.data.verify import verify_before_use
from sketchcolor.errors import SketchcolorError
from sketchcolor.evaluation import fid as fid_module
from sketchcolor.evaluation import metrics
from sketchcolor.evaluation.model_card import write_model_cards
from sketchcolor.evaluation.report import RunResult, results_payload, write_outputs
from sketchcolor.files import create_output_folder
from sketchcolor.runs import (
    check_run,
    checkpoint_run_folder,
    generate,
    hint_config_of,
    image_size_of,
    is_checkpoint_folder,
    load_checkpoint_generator,
    load_run,
    read_checkpoint_config,
    run_checkpoints,
    run_hints,
)

DEFAULT_CACHE_DIR = Path.home() / ".cache" / "sketchcolor" / "fid"


def key_index(key: str) -> int | None:
    """The sequence number in a `{split}_{seq:08d}` key, None for other keys."""
    tail = key.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def keep_mask(keys: list[str], max_images: int | None) -> list[bool]:
    """Which samples to use: the first `max_images` of the split by key, the same on any rank."""
    if max_images is None:
        return [True] * len(keys)
    return [(index := key_index(key)) is not None and index < max_images for key in keys]


def kept_samples(batch: dict, max_images: int | None) -> dict | None:
    """The batch's sketch, color, palette and keys of the samples `keep_mask` keeps; None
    when it keeps none."""
    keep = keep_mask(batch["key"], max_images)
    if not any(keep):
        return None
    index = torch.tensor(keep, device=batch["sketch"].device).nonzero().flatten()
    return {
        "sketch": batch["sketch"][index],
        "color": batch["color"][index],
        "palette": batch["palette"][index],
        "key": [key for key, kept in zip(batch["key"], keep, strict=True) if kept],
    }


# ----------------------------------------------------------------------------- one run


@dataclass
class RunCollection:
    """Per-image values and Inception features gathered over a run's part of the split."""

    psnr: list[np.ndarray]
    ssim: list[np.ndarray]
    l1: list[np.ndarray]
    fake_features: list[np.ndarray]
    real_features: list[np.ndarray]


def collect_run(
    generator,
    config: dict,
    loader,
    *,
    inception,
    need_real: bool,
    seed: int,
    max_images: int | None,
    description: str,
    show_progress: bool = True,
) -> RunCollection:
    """Colour this rank's part of the split and collect metrics and features per image."""
    collection = RunCollection([], [], [], [], [])
    batches = tqdm(
        loader.epoch(0), total=len(loader), desc=description, unit="batch",
        disable=not show_progress,
    )  # fmt: skip
    for batch in batches:
        batch = kept_samples(batch, max_images)
        if batch is None:
            continue
        hints = run_hints(config, batch, seed)
        # (B, 3, H, W) in [-1, 1], under the colour control the run was trained with
        fake = generate(generator, config, hint_config_of(config), batch["sketch"],
                        batch["palette"], hints)  # fmt: skip
        if not torch.isfinite(fake).all():
            raise SketchcolorError(
                f"the generator's output is NaN/inf (batch from {batch['key'][0]}); "
                "its weights or inputs are not finite"
            )
        real = batch["color"]
        collection.psnr.append(metrics.psnr(fake, real).cpu().numpy())
        collection.ssim.append(metrics.ssim(fake, real).cpu().numpy())
        collection.l1.append(metrics.l1(fake, real).cpu().numpy())
        if inception is not None:
            fake01 = fid_module.to_inception_input(fake)
            collection.fake_features.append(fid_module.inception_features(inception, fake01))
            if need_real:
                real01 = fid_module.to_inception_input(real)
                collection.real_features.append(fid_module.inception_features(inception, real01))
    return collection


def gather_arrays(parts: list[np.ndarray], accelerator, width: int | None = None) -> np.ndarray:
    """Concatenate this rank's arrays and gather every rank's (one process: as is)."""
    local = np.concatenate(parts) if parts else np.zeros((0,) if width is None else (0, width))
    if accelerator is None or accelerator.num_processes == 1:
        return local
    # gather_object: ranks may hold different numbers of images, which tensor gathers refuse.
    gathered = accelerator.gather_for_metrics([local], use_gather_object=True)
    return np.concatenate(gathered)


def is_main_process(accelerator) -> bool:
    """Rank 0, or the only process."""
    return accelerator is None or accelerator.is_main_process


def single_process(accelerator) -> bool:
    """No collective calls needed: no accelerator, or one process."""
    return accelerator is None or accelerator.num_processes == 1


def computed_on_main(accelerator, compute):
    """compute() on rank 0 only, its value (or its one-line error) on every rank.

    A SketchcolorError on rank 0 is re-raised on every rank, so none waits in a collective.
    """
    if single_process(accelerator):
        return compute()
    from accelerate.utils import broadcast_object_list

    box = [None]
    if accelerator.is_main_process:
        try:
            box = [("value", compute())]
        except SketchcolorError as error:
            box = [("error", str(error))]
    broadcast_object_list(box, from_process=0)
    kind, value = box[0]
    if kind == "error":
        raise SketchcolorError(value)
    return value


def agreed_weights_message(inception_weights, accelerator) -> str | None:
    """None when every rank has the Inception weights, else the first missing rank's reason.

    Home folders differ per node, so each rank looks; all then take the same decision and make
    the same number of collective calls (no rank waits for one that skipped FID).
    """
    message = fid_module.inception_weights_message(inception_weights)
    if single_process(accelerator):
        return message
    from accelerate.utils import gather_object

    messages = gather_object([message])
    return next((f"rank {rank}: {text}" for rank, text in enumerate(messages) if text), None)


def mean_or_nan(values: np.ndarray) -> float:
    """The mean of per-image values; NaN for none (JSON writes it as null)."""
    return float(values.mean()) if len(values) else float("nan")


def evaluate_run(
    run_dir: Path,
    shard_dir: Path,
    split: str,
    *,
    device: torch.device,
    inception,
    reference: dict,
    batch_size: int,
    seed: int,
    max_images: int | None,
    backend: str,
    accelerator,
) -> RunResult:
    """Evaluate one run folder or checkpoint (RUN/checkpoints/step-N); `reference` maps image
    size -> {"path", "stats"} for FID."""
    from sketchcolor.data.loader import create_loader

    checkpoint = is_checkpoint_folder(run_dir)
    if checkpoint:
        generator, config = load_checkpoint_generator(
            run_dir, device, shard_dir=shard_dir, backend=backend
        )
    else:
        generator, config = load_run(run_dir, device)
    image_size = image_size_of(config, shard_dir)
    rank = accelerator.process_index if accelerator else 0
    world_size = accelerator.num_processes if accelerator else 1
    loader = create_loader(
        shard_dir,
        split=split,
        image_size=image_size,
        batch_size=batch_size,
        device=device,
        backend=backend,
        training=False,
        rank=rank,
        world_size=world_size,
        seed=seed,
    )
    entry = reference.get(image_size)
    need_real = inception is not None and entry is not None and not entry["cached"]
    collection = collect_run(
        generator,
        config,
        loader,
        inception=inception,
        need_real=need_real,
        seed=seed,
        max_images=max_images,
        description=f"evaluate {run_label(run_dir)}",
        # one bar for the whole evaluation, not one per rank
        show_progress=accelerator is None or accelerator.is_main_process,
    )
    psnr = gather_arrays(collection.psnr, accelerator)
    ssim = gather_arrays(collection.ssim, accelerator)
    l1 = gather_arrays(collection.l1, accelerator)
    if len(psnr) == 0:
        raise SketchcolorError(f"{shard_dir}: split {split!r} gave no images to evaluate")
    fid = None
    if inception is not None:
        fake_features = gather_arrays(collection.fake_features, accelerator, 2048)
        real_features = None
        if need_real:
            real_features = gather_arrays(collection.real_features, accelerator, 2048)

        def distance() -> float:  # rank 0 only: the other ranks would repeat the same maths
            if need_real:
                entry["stats"] = fid_module.feature_statistics(real_features)
                fid_module.save_statistics(entry["path"], *entry["stats"])
                entry["cached"] = True
            return fid_module.frechet_distance(
                *fid_module.feature_statistics(fake_features), *entry["stats"]
            )

        fid = computed_on_main(accelerator, distance)
        entry["cached"] = True  # every rank: later runs at this size reuse the statistics
    control = config["color_control"]
    encoding = hint_config_of(config).encoding if uses_hints(control) else None
    return RunResult(
        run=str(run_dir),
        run_folder=str(checkpoint_run_folder(run_dir) if checkpoint else run_dir),
        step=config.get("step"),
        checkpoint=checkpoint,
        parameters=sum(parameter.numel() for parameter in generator.parameters()),
        model=str(config["model"]),
        color_control=control,
        hint_encoding=encoding,
        image_size=image_size,
        fid=fid,
        psnr=mean_or_nan(psnr),
        ssim=mean_or_nan(ssim),
        l1=mean_or_nan(l1),
        images=len(psnr),
    )


def run_label(path: Path) -> str:
    """ "model-1-hints" for a run folder, "model-1-hints@300" for its checkpoint step-300."""
    if is_checkpoint_folder(path):
        return f"{checkpoint_run_folder(path).name}@{path.name.split('-')[-1]}"
    return path.name


# ----------------------------------------------------------------------------- all runs


def expand_checkpoints(run_dirs: list[str | Path]) -> list[Path]:
    """Each run folder replaced by its complete checkpoints, oldest first (--all-checkpoints);
    a checkpoint folder given as such stays as it is."""
    expanded = []
    for path in map(Path, run_dirs):
        if is_checkpoint_folder(path):
            expanded.append(path)
            continue
        found = run_checkpoints(path)
        if not found:
            raise SketchcolorError(f"{path}: no complete checkpoints in {path / 'checkpoints'}")
        expanded.extend(found)
    return expanded


def first_line(error: BaseException) -> str:
    """An exception as one line (a decoder's message can span many)."""
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:300]


def plan_reference(
    run_configs: list[dict],
    shard_dir: Path,
    split: str,
    cache_dir: Path,
    weights_path: Path,
    max_images: int | None = None,
    *,
    context: dict | None = None,
    accelerator=None,
) -> dict:
    """Per image size: the cache file, whether it is cached, and (rank 0) its statistics.

    Decided once, before any run, on rank 0 (whose cache folder is the one written) and
    broadcast, so every process agrees on which run computes the real images' statistics.
    Only rank 0 computes Fréchet distances, so only rank 0 reads the statistics.
    context: what else changes the statistics (decoder, device kind, TF32), part of the key.
    """

    def decide() -> dict:
        plan = {}
        for config in run_configs:
            size = image_size_of(config, shard_dir)
            if size not in plan:
                path = fid_module.reference_cache_path(
                    cache_dir, shard_dir, split, size, weights_path, max_images, context=context
                )
                plan[size] = {"path": path, "cached": path.is_file()}
        return plan

    reference = computed_on_main(accelerator, decide)
    for entry in reference.values():
        read = entry["cached"] and is_main_process(accelerator)
        entry["stats"] = fid_module.load_statistics_file(entry["path"]) if read else None
    return reference


def evaluate_runs(
    run_dirs: list[str | Path],
    shard_dir: str | Path,
    split: str = "val",
    *,
    out_dir: str | Path,
    batch_size: int = 16,
    seed: int = 0,
    max_images: int | None = None,
    inception_weights: str | Path | None = None,
    cache_dir: str | Path | None = None,
    backend: str = "auto",
    device: torch.device | str | None = None,
    accelerator=None,
    all_checkpoints: bool = False,
    verify: bool = True,
) -> dict[str, Any]:
    """Evaluate every run on the split and write results.json, results.md and results.png,
    plus results-curve.png when a run has several steps, and RUN/MODEL_CARD.md per run.

    run_dirs: run folders (generator.safetensors + config.json) or checkpoint folders
    (RUN/checkpoints/step-N: Accelerate state, loaded as its export would be, see
    `runs.load_checkpoint_generator`). all_checkpoints: replace each run folder by all its
    checkpoints (one row per step). max_images: only the first N
    samples of the split (by key). inception_weights: the FID weights file (default: the torch
    hub cache); when missing, FID is None with the reason and the other metrics still run.
    backend: the loader, "dali", "torch" or "auto" (DALI when installed and a GPU is there).
    accelerator: an `accelerate.Accelerator` to split the work over processes (optional).
    verify: check the split's shards against the manifest first (see sketchcolor.data.verify).
    Every run is loaded once before the first is evaluated, so a broken run fails at once.
    A run that fails during its evaluation (one process) is listed under "failed" in
    results.json and the others' results are still written.
    Returns the results.json content.
    """
    from sketchcolor.accelerators import resolve_backend

    backend = resolve_backend(backend)
    location = data_location(shard_dir)  # an s3:// URL is what results and model cards name
    shard_dir = local_folder(location)  # s3:// shards: their cache folder on this node
    out_dir = Path(out_dir)
    read_manifest(shard_dir)  # a folder that is not shards fails now, before any work
    if not run_dirs:
        raise SketchcolorError("evaluate needs at least one run folder")
    if batch_size < 1:
        raise SketchcolorError(f"batch_size must be at least 1, got {batch_size}")
    if max_images is not None and max_images < 1:
        raise SketchcolorError(f"max_images must be at least 1, got {max_images}")
    if accelerator is not None:
        device = accelerator.device
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if all_checkpoints:
        run_dirs = expand_checkpoints(run_dirs)
    # Fail early on a bad run: a run folder's generator is loaded once (NaN weights refused).
    configs = [
        read_checkpoint_config(run_dir) if is_checkpoint_folder(run_dir) else check_run(run_dir)
        for run_dir in run_dirs
    ]
    if verify:
        verify_before_use(location, splits=[split], accelerator=accelerator)
    if accelerator is None or accelerator.is_main_process:
        create_output_folder(out_dir)  # an unwritable --out fails now, not after the work

    fid_message = agreed_weights_message(inception_weights, accelerator)
    inception, reference = None, {}
    if fid_message is None:
        weights_path = fid_module.resolve_weights_path(inception_weights)
        inception = fid_module.load_inception(weights_path, device)
        cache = Path(cache_dir) if cache_dir else DEFAULT_CACHE_DIR
        context = fid_module.statistics_context(backend, device)
        reference = plan_reference(configs, shard_dir, split, cache, weights_path, max_images,
                                   context=context, accelerator=accelerator)  # fmt: skip

    processes = accelerator.num_processes if accelerator else 1
    results, failed = [], []
    for run_dir in run_dirs:
        try:
            results.append(
                evaluate_run(
                    Path(run_dir),
                    shard_dir,
                    split,
                    device=device,
                    inception=inception,
                    reference=reference,
                    batch_size=batch_size,
                    seed=seed,
                    max_images=max_images,
                    backend=backend,
                    accelerator=accelerator,
                )
            )
        except (SketchcolorError, RuntimeError, OSError, ValueError) as error:
            if processes > 1:
                raise  # the other ranks may wait in a gather: carrying on could hang them
            failed.append({"run": str(run_dir), "error": first_line(error)})
    if not results:
        problems = "; ".join(f"{item['run']}: {item['error']}" for item in failed)
        raise SketchcolorError(f"no run could be evaluated ({problems})")
    payload = results_payload(results, location, split, seed, fid_message, processes)
    payload["failed"] = failed
    if accelerator is None or accelerator.is_main_process:
        write_outputs(payload, results, out_dir)
        write_model_cards(payload, results, shard_dir)
    return payload
