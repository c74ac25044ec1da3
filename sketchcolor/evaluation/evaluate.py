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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from sketchcolor.config import EvaluateConfig
from sketchcolor.data.controls.conditioning import uses_hints
from sketchcolor.data.shards.manifest import read_manifest
from sketchcolor.data.shards.verify import verify_before_use
from sketchcolor.data.storage.s3 import local_folder
from sketchcolor.errors import SketchcolorError
from sketchcolor.evaluation import fid as fid_module
from sketchcolor.evaluation.model_card import write_model_cards
from sketchcolor.evaluation.ranks import (
    computed_on_main,
    gather_arrays,
    is_main_process,
    process_count,
    single_process,
)
from sketchcolor.evaluation.report import RunResult, results_payload, write_outputs
from sketchcolor.runs import (
    RunConfig,
    check_run,
    generate,
    image_size_of,
    is_checkpoint_folder,
    load_checkpoint_generator,
    load_run,
    read_checkpoint_config,
    run_checkpoints,
    run_folder_of,
    run_hints,
    run_label,
    run_reference,
)
from sketchcolor.util import metrics
from sketchcolor.util.devices import choose_device
from sketchcolor.util.files import create_output_folder
from sketchcolor.util.locations import data_location

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
    """The batch's sketch, color, palette, region maps (when the shards carry them) and keys
    of the samples `keep_mask` keeps; None when it keeps none."""
    keep = keep_mask(batch["key"], max_images)
    if not any(keep):
        return None
    index = torch.tensor(keep, device=batch["sketch"].device).nonzero().flatten()
    kept = {name: batch[name][index] for name in ("sketch", "color", "palette", "regions")
            if name in batch}  # fmt: skip
    kept["key"] = [key for key, chosen in zip(batch["key"], keep, strict=True) if chosen]
    return kept


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
    config: RunConfig,
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
        fake = generate(generator, config, config.hint_config, batch["sketch"],
                        batch["palette"], hints, run_reference(config, batch, seed))  # fmt: skip
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


@dataclass
class EvaluationSetup:
    """What every run of one evaluation shares: the split, the loader's settings, FID's
    network and its reference statistics (image size -> {"path", "cached", "stats"}, see
    `plan_reference`), and the processes the work is split over."""

    shard_dir: Path
    split: str
    device: torch.device
    backend: str
    batch_size: int
    seed: int
    max_images: int | None
    accelerator: Any = None
    inception: Any = None
    reference: dict = field(default_factory=dict)

    def split_loader(self, image_size: int):
        """This rank's part of the split, in order, at `image_size`."""
        from sketchcolor.data.loading.loader import create_loader

        accelerator = self.accelerator
        return create_loader(
            self.shard_dir,
            split=self.split,
            image_size=image_size,
            batch_size=self.batch_size,
            device=self.device,
            backend=self.backend,
            training=False,
            rank=accelerator.process_index if accelerator else 0,
            world_size=process_count(accelerator),
            seed=self.seed,
        )


def load_evaluated(run_dir: Path, setup: EvaluationSetup) -> tuple[torch.nn.Module, RunConfig]:
    """The generator and config of a run folder, or of a checkpoint as its export would be."""
    if is_checkpoint_folder(run_dir):
        return load_checkpoint_generator(
            run_dir, setup.device, shard_dir=setup.shard_dir, backend=setup.backend
        )
    return load_run(run_dir, setup.device)


def run_fid(collection: RunCollection, entry: dict, need_real: bool, accelerator) -> float:
    """FID of the run's images against the split's, computing and caching the split's
    statistics first when `need_real`; the distance is computed on rank 0 only."""
    fake_features = gather_arrays(collection.fake_features, accelerator, 2048)
    if need_real:
        real_features = gather_arrays(collection.real_features, accelerator, 2048)

    def distance() -> float:  # rank 0 only: the other ranks would repeat the same maths
        if need_real:
            entry["stats"] = fid_module.feature_statistics(real_features)
            fid_module.save_statistics(entry["path"], *entry["stats"])
        return fid_module.frechet_distance(
            *fid_module.feature_statistics(fake_features), *entry["stats"]
        )

    fid = computed_on_main(accelerator, distance)
    entry["cached"] = True  # every rank: later runs at this size reuse the statistics
    return fid


def evaluate_run(run_dir: Path, setup: EvaluationSetup) -> RunResult:
    """Evaluate one run folder or checkpoint (RUN/checkpoints/step-N) on the setup's split."""
    generator, config = load_evaluated(run_dir, setup)
    image_size = image_size_of(config, setup.shard_dir)
    entry = setup.reference.get(image_size)
    need_real = setup.inception is not None and entry is not None and not entry["cached"]
    accelerator = setup.accelerator
    collection = collect_run(
        generator,
        config,
        setup.split_loader(image_size),
        inception=setup.inception,
        need_real=need_real,
        seed=setup.seed,
        max_images=setup.max_images,
        description=f"evaluate {run_label(run_dir)}",
        show_progress=is_main_process(accelerator),  # one bar for the whole evaluation
    )
    psnr, ssim, l1 = (
        gather_arrays(values, accelerator)
        for values in (collection.psnr, collection.ssim, collection.l1)
    )
    if len(psnr) == 0:
        raise SketchcolorError(
            f"{setup.shard_dir}: split {setup.split!r} gave no images to evaluate"
        )
    fid = None
    if setup.inception is not None:
        fid = run_fid(collection, entry, need_real, accelerator)
    checkpoint = is_checkpoint_folder(run_dir)
    control = config.color_control
    return RunResult(
        run=str(run_dir),
        run_folder=str(run_folder_of(run_dir)),
        step=config.step,
        checkpoint=checkpoint,
        parameters=sum(parameter.numel() for parameter in generator.parameters()),
        model=config.model,
        color_control=control,
        hint_encoding=config.hint_config.encoding if uses_hints(control) else None,
        image_size=image_size,
        fid=fid,
        psnr=mean_or_nan(psnr),
        ssim=mean_or_nan(ssim),
        l1=mean_or_nan(l1),
        images=len(psnr),
    )


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
    run_configs: list[RunConfig],
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


def check_arguments(run_dirs: list, batch_size: int, max_images: int | None) -> None:
    """One line for each argument evaluate_runs refuses, before any work."""
    if not run_dirs:
        raise SketchcolorError("evaluate needs at least one run folder")
    if batch_size < 1:
        raise SketchcolorError(f"batch_size must be at least 1, got {batch_size}")
    if max_images is not None and max_images < 1:
        raise SketchcolorError(f"max_images must be at least 1, got {max_images}")


def prepare_fid(
    setup: EvaluationSetup, configs: list[RunConfig], inception_weights, cache_dir
) -> str | None:
    """Load Inception and plan the reference statistics into `setup`; or, when some rank
    lacks the weights, leave FID off and return the reason (results.json shows it)."""
    message = agreed_weights_message(inception_weights, setup.accelerator)
    if message is not None:
        return message
    weights_path = fid_module.resolve_weights_path(inception_weights)
    setup.inception = fid_module.load_inception(weights_path, setup.device)
    setup.reference = plan_reference(
        configs,
        setup.shard_dir,
        setup.split,
        Path(cache_dir) if cache_dir else DEFAULT_CACHE_DIR,
        weights_path,
        setup.max_images,
        context=fid_module.statistics_context(setup.backend, setup.device),
        accelerator=setup.accelerator,
    )
    return None


def evaluate_each(run_dirs: list[Path], setup: EvaluationSetup) -> tuple[list, list]:
    """Each run's result, and under one process the runs that failed with their one-line
    error, so one broken run does not cost the others' results."""
    results, failed = [], []
    for run_dir in run_dirs:
        try:
            results.append(evaluate_run(Path(run_dir), setup))
        except (SketchcolorError, RuntimeError, OSError, ValueError) as error:
            if not single_process(setup.accelerator):
                raise  # the other ranks may wait in a gather: carrying on could hang them
            failed.append({"run": str(run_dir), "error": first_line(error)})
    if not results:
        problems = "; ".join(f"{item['run']}: {item['error']}" for item in failed)
        raise SketchcolorError(f"no run could be evaluated ({problems})")
    return results, failed


def shard_folders(shard_dir: str | Path) -> tuple[str | Path, Path]:
    """Where the shards are as results and model cards name them (an s3:// URL stays one), and
    the local folder read (s3:// shards: their cache folder on this node). A folder that is
    not shards fails now, before any work."""
    location = data_location(shard_dir)
    local = local_folder(location)
    read_manifest(local)
    return location, local


def checked_runs(run_dirs: list[str | Path], all_checkpoints: bool) -> tuple[list, list[RunConfig]]:
    """The folders to evaluate (under all_checkpoints, each run folder's checkpoints) and their
    configs. A run folder's generator is loaded once here (NaN weights refused), so a bad run
    fails before any work."""
    if all_checkpoints:
        run_dirs = expand_checkpoints(run_dirs)
    configs = [
        read_checkpoint_config(run_dir) if is_checkpoint_folder(run_dir) else check_run(run_dir)
        for run_dir in run_dirs
    ]
    return run_dirs, configs


def check_before_work(location, split: str, out_dir: Path, *, verify: bool, accelerator) -> None:
    """Check the split's shards against the manifest (when `verify`) and create the output
    folder (main process), so bad shards or an unwritable --out fail now, not after the work."""
    if verify:
        verify_before_use(location, splits=[split], accelerator=accelerator)
    if is_main_process(accelerator):
        create_output_folder(out_dir)


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
    verify: check the split's shards against the manifest first (see sketchcolor.data.shards.verify).
    Every run is loaded once before the first is evaluated, so a broken run fails at once.
    A run that fails during its evaluation (one process) is listed under "failed" in
    results.json and the others' results are still written.
    Returns the results.json content.
    """
    from sketchcolor.training.accelerators import resolve_backend

    backend = resolve_backend(backend)
    location, shard_dir = shard_folders(shard_dir)
    out_dir = Path(out_dir)
    check_arguments(run_dirs, batch_size, max_images)
    device = choose_device(accelerator.device if accelerator is not None else device)
    run_dirs, configs = checked_runs(run_dirs, all_checkpoints)
    check_before_work(location, split, out_dir, verify=verify, accelerator=accelerator)

    setup = EvaluationSetup(shard_dir, split, device, backend, batch_size,
                            seed, max_images, accelerator)  # fmt: skip
    fid_message = prepare_fid(setup, configs, inception_weights, cache_dir)
    results, failed = evaluate_each(run_dirs, setup)
    processes = process_count(accelerator)
    payload = results_payload(results, location, split, seed, fid_message, processes)
    payload["failed"] = failed
    if is_main_process(accelerator):
        write_outputs(payload, results, out_dir)
        write_model_cards(payload, results, shard_dir)
    return payload


def evaluate(config: EvaluateConfig) -> tuple[dict[str, Any], bool]:
    """`sketchcolor evaluate` without --hint-counts: `evaluate_runs` with an EvaluateConfig's
    options, split over the processes of `accelerate launch` (one process otherwise).

    Returns the results.json content and whether this is the main process (the one that wrote
    the outputs and reports them)."""
    from sketchcolor.data.storage.s3 import use_shard_cache
    from sketchcolor.training.accelerators import create_accelerator, release_accelerator

    use_shard_cache(config.shard_cache)
    accelerator = create_accelerator()
    main_process = accelerator.is_main_process
    try:
        results = evaluate_runs(list(config.runs), config.data, config.split,
                                out_dir=config.out, batch_size=config.batch_size,
                                seed=config.seed, max_images=config.max_images,
                                inception_weights=config.inception_weights,
                                cache_dir=config.cache_dir, backend=config.backend,
                                accelerator=accelerator, all_checkpoints=config.all_checkpoints,
                                verify=config.verify)  # fmt: skip
    finally:
        release_accelerator(accelerator)
    return results, main_process
