"""The run folder, both sides of its contract (docs/interfaces.md).

Written by training: train_config.json, config.json + generator.safetensors, sample grids,
TensorBoard hyper-parameters and the per-rank audit. Read by evaluation and colorize: the
run's config, its generator, hint config and image size, and the generator call itself.

One reader per file kind, all here: `read_run_config` (config.json, as a `RunConfig`; the
JSON itself is parsed by models/saving.py, which writes it), `read_train_config`
(train_config.json, as the `TrainConfig` it was saved from), `read_progress` /
`write_progress` (a checkpoint's progress.json, as a `TrainingProgress`) and `load_run` (the
generator weights). Nothing else opens these files (tests/test_readers.py holds that).

Usage: generator, config, hint_config = load_run_generator("runs/m21-hints", torch.device("cpu"))
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from sketchcolor.config import HintConfig, TrainConfig, flatten
from sketchcolor.data.controls.conditioning import (
    Hints,
    build_generator_input,
    input_channels,
    label_color_channels,
    sample_hints,
    uses_hints,
    uses_reference,
)
from sketchcolor.data.controls.reference import fixed_reference
from sketchcolor.data.shards.manifest import read_manifest
from sketchcolor.errors import SketchcolorError
from sketchcolor.models import load_generator, read_generator_config, save_generator
from sketchcolor.models.heads import HeadConfig
from sketchcolor.models.registry import canonical_name, generator_options
from sketchcolor.models.saving import CONFIG_FILE, WEIGHTS_FILE
from sketchcolor.util.disk import write_errors
from sketchcolor.util.files import file_sha256, write_text_atomically

TRAIN_CONFIG_FILE = "train_config.json"
SAMPLES_FOLDER = "samples"
LOGS_FOLDER = "logs"
AUDIT_FOLDER = "audit"
EXPORT_STAGING_FOLDER = ".partial-export"
UNRECORDED_IMAGE_SIZE = 512
"""colorize's canvas for a run whose config.json records no image_size (see `image_size_of`)."""


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """A run folder's config.json, typed: the generator's build options (models/saving.py
    writes them from `generator.config`) and what `export_generator` adds. A checkpoint's
    config (`read_checkpoint_config`) has the same form, from its run's train_config.json and
    its progress.json.

    Folders written before some key existed still load: each default below is what the code
    took for that missing key before this class (and says so). None means "not recorded".
    """

    model: str
    """The registered generator name: "1", "2.1", "2.2", "3" or "R"."""
    color_control: str
    """none, palette, hints, mixed or reference."""
    in_channels: int
    """The generator's input channels (sketch, palette, hint planes)."""
    width: float = 1.0
    """Channel width multiplier. Missing: 1.0, the generators' default, which loading used."""
    upsampling: str = "transposed"
    """The decoder's upsampling. Missing (folders from before it was an option): "transposed",
    the generators' default and then their only way, which loading used."""
    dropout: float | None = None
    """Model 1's decoder dropout; None for the others (they have none). Missing from a Model 1
    folder: None, and the generator is built with its default 0.5, as loading did."""
    attention_level: int | None = None
    """Model R's first encoder level that reads the reference (its export records it; training
    keeps R's default, 2); None for the others."""
    head: dict | None = None
    """The generator's output head (models/heads.py HeadConfig as a dict): colour classes, a
    label copy gate. Missing or None: the paper's RGB output."""
    hint_config: HintConfig = field(default_factory=HintConfig)
    """The hint labels the run was trained with. Missing: HintConfig() defaults, what the
    readers took."""
    image_size: int | None = None
    """The training size. Missing: None, and `image_size_of` falls back as evaluation (the
    shards' half size) and colorize (512) did."""
    ema: bool = False
    """The weights are the generator's EMA. Missing: False, as the ONNX model card read it."""
    step: int | None = None
    """The optimizer step exported. Missing: None (evaluation's "unknown")."""
    images_seen: int | None = None
    """Training images seen at `step`: a checkpoint's (its progress.json); a run folder's
    config.json does not record it, so None there (the model card reads the checkpoint's)."""
    format: str | None = None
    """config.json's format name (models/saving.py FORMAT); None for a checkpoint's config."""

    def summary(self) -> str:
        """The run's options in one line, as the benchmarks' reports list them."""
        width = f"1/{round(1 / self.width)}" if self.width < 1 else f"{self.width:g}"
        parts = [f"model {self.model}", f"width {width}", f"{self.upsampling} upsampling",
                 f"step {self.step}" if self.step is not None else "step unknown",
                 self.color_control]  # fmt: skip
        if uses_hints(self.color_control):
            hints = self.hint_config
            parts.append(f"labels as {hints.shape}, spread {hints.spread}, {hints.encoding}")
        head = self.head or {}
        if head.get("classes"):
            parts.append(f"{head['classes']} colour classes")
        if head.get("copy_channels"):
            parts.append("label copy gate")
        return ", ".join(parts)

    @classmethod
    def from_dict(cls, values: dict, where: str) -> RunConfig:
        """The config from config.json's values; one-line errors naming `where`."""
        known = {item.name for item in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SketchcolorError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                                   "written by a newer sketchcolor?")  # fmt: skip
        try:
            hint_config = HintConfig(**(values.get("hint_config") or {}))
            return cls(**{**values, "model": str(values["model"]), "hint_config": hint_config})
        except KeyError as error:
            raise SketchcolorError(f"{where}: has no {error}") from None
        except TypeError as error:
            raise SketchcolorError(f"{where}: {error}") from None

    def to_dict(self) -> dict:
        """config.json's form: every recorded field (None ones left out)."""
        values = {item.name: getattr(self, item.name) for item in dataclasses.fields(self)}
        values["hint_config"] = self.hint_config.to_dict()
        return {name: value for name, value in values.items() if value is not None}

    def generator_options(self) -> dict:
        """What `create_generator(self.model, **options)` builds the run's generator with."""
        recorded = {"in_channels": self.in_channels, "width": self.width,
                    "upsampling": self.upsampling, "dropout": self.dropout,
                    "attention_level": self.attention_level}  # fmt: skip
        accepted = generator_options(self.model)
        return {key: value for key, value in recorded.items()
                if key in accepted and value is not None}  # fmt: skip


def head_config(config: TrainConfig) -> HeadConfig:
    """The output head a run trained with `config` has (models/heads.py)."""
    model = config.model
    copy = label_color_channels(model.color_control, config.hints) if model.copy_labels else ()
    return HeadConfig(classes=model.color_classes, copy_channels=copy)


def run_config_of(config: TrainConfig, hint_config: HintConfig, **recorded) -> RunConfig:
    """The RunConfig of a run trained with `config`: what its export's config.json says
    (`recorded`: step, images_seen), for validation during training and for checkpoints."""
    model = config.model
    head = head_config(config)
    return RunConfig(
        model=canonical_name(model.name),
        color_control=model.color_control,
        in_channels=input_channels(model.color_control, hint_config),
        width=model.width,
        upsampling=model.upsampling,
        head=head.to_dict() if head != HeadConfig() else None,
        hint_config=hint_config,
        image_size=model.size,
        ema=model.ema,
        **recorded,
    )


def samples_path(run_dir: Path, step: int) -> Path:
    """Where the sample grid of `step` goes: RUN_DIR/samples/step-N.png."""
    return run_dir / SAMPLES_FOLDER / f"step-{step}.png"


def export_generator(config: TrainConfig, model, hint_config, step: int) -> None:
    """generator.safetensors + config.json in the run folder, what evaluate and colorize load."""
    metadata = {
        "color_control": config.model.color_control,
        "hint_config": hint_config.to_dict(),
        "image_size": config.model.size,
        "ema": config.model.ema,
        "step": step,
    }
    # save_generator writes in place; a crash in the middle of a later export would spoil the
    # good weights already there. So write beside them, then move each file in with one rename
    # (the weights first, the config last, as save_generator orders them).
    staging = config.out / EXPORT_STAGING_FOLDER
    shutil.rmtree(staging, ignore_errors=True)
    safe = f"{config.out / WEIGHTS_FILE} still holds the previous export, and the checkpoints are intact"
    try:
        with write_errors(staging, safe=safe):
            save_generator(model, staging, metadata=metadata)
    except SketchcolorError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        os.replace(staging / name, config.out / name)
    staging.rmdir()


def parameters_sha256(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for parameter in model.parameters():
        digest.update(parameter.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def write_rank_audit(
    config: TrainConfig, accelerator, generator, discriminator, keys: list[str]
) -> None:
    """audit/rank-R.json: the keys this rank trained on and hashes of its parameters."""
    folder = config.out / AUDIT_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "rank": accelerator.process_index,
        "world_size": accelerator.num_processes,
        "keys": keys,
        "generator_sha256": parameters_sha256(
            accelerator.unwrap_model(generator, keep_torch_compile=False)
        ),
        "discriminator_sha256": parameters_sha256(
            accelerator.unwrap_model(discriminator, keep_torch_compile=False)
        ),
    }
    write_text_atomically(
        folder / f"rank-{accelerator.process_index}.json", json.dumps(record, indent=1) + "\n"
    )


def tracker_hparams(config: TrainConfig) -> dict:
    """The config as TensorBoard hyper-parameters (only numbers, strings and booleans)."""
    return {
        name: value if isinstance(value, (int, float, str, bool)) else json.dumps(value)
        for name, value in flatten(config.to_dict()).items()
    }


# --- the read side: what evaluation and colorize load


def read_run_config(run_dir: str | Path) -> RunConfig:
    """A run folder's config.json, typed; one-line errors for a missing or foreign folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SketchcolorError(f"{run_dir}: no such run folder")
    values = read_generator_config(run_dir)
    if "color_control" not in values:
        raise SketchcolorError(f"{run_dir}/config.json: has no 'color_control'; not a run folder")
    return RunConfig.from_dict(values, f"{run_dir}/{CONFIG_FILE}")


def read_train_config(run_dir: str | Path) -> TrainConfig | None:
    """RUN/train_config.json as the TrainConfig it was saved from; None when the folder has
    none (a bare export). A broken one is a one-line error naming it."""
    path = Path(run_dir) / TRAIN_CONFIG_FILE
    return TrainConfig.load(path) if path.is_file() else None


def load_run(run_dir: str | Path, device: torch.device) -> tuple[torch.nn.Module, RunConfig]:
    """The run's generator (eval mode, on device) and its config.json."""
    config = read_run_config(run_dir)
    generator, _ = load_generator(run_dir)
    bad = [name for name, value in generator.state_dict().items() if not value.isfinite().all()]
    if bad:
        raise SketchcolorError(
            f"{run_dir}: the generator's weights contain NaN/inf ({len(bad)} tensors, first "
            f"{bad[0]}); export a checkpoint from before the divergence"
        )
    return generator.eval().to(device), config


def check_run(run_dir: str | Path) -> RunConfig:
    """Load a run's generator once (CPU) to prove it is usable; returns its config."""
    generator, config = load_run(run_dir, torch.device("cpu"))
    del generator
    return config


def weights_sha256(run_dir: str | Path) -> str | None:
    """The SHA-256 of RUN/generator.safetensors (what an ONNX export records), None without."""
    weights = Path(run_dir) / WEIGHTS_FILE
    return file_sha256(weights) if weights.is_file() else None


def image_size_of(config: RunConfig, shard_dir: Path | None = None) -> int:
    """The size the run was trained at. A config.json without one (every export records it;
    a hand-made folder may not) gives the shards' half size when `shard_dir` is given (as
    evaluation did), else UNRECORDED_IMAGE_SIZE (as colorize did)."""
    if config.image_size:
        return int(config.image_size)
    if shard_dir is None:
        return UNRECORDED_IMAGE_SIZE
    manifest = read_manifest(shard_dir)
    if manifest.get("half_size"):
        return int(manifest["half_size"])
    raise SketchcolorError(f"{shard_dir}: the run records no image_size and the shards keep sizes")


def sample_seed(key: str, seed: int) -> int:
    """A per-sample seed from the sample key, independent of batching and process count."""
    return (zlib.crc32(key.encode()) + 1_000_003 * seed) % (2**63)


def sample_fixed_hints(
    color: torch.Tensor, keys: list[str], hint_config, seed: int, sketch: torch.Tensor | None = None
):
    """Training-style hint labels, each sample's drawn from its own seeded generator.

    The generator is a CPU one whatever the data's device: CPU and CUDA generators give
    different streams, and a GPU evaluation must score the same hints as a CPU one.
    sketch: needed by the "dots" placement (labels kept off the lines).
    """
    parts = []
    for index, key in enumerate(keys):
        generator = torch.Generator("cpu").manual_seed(sample_seed(key, seed))
        one_sketch = None if sketch is None else sketch[index : index + 1]
        parts.append(
            sample_hints(color[index : index + 1], hint_config, generator, sketch=one_sketch)
        )
    return Hints(
        rgb=torch.cat([part.rgb for part in parts]), mask=torch.cat([part.mask for part in parts])
    )


def run_hints(config: RunConfig, batch: dict, seed: int):
    """The fixed-seed hint labels a run's colour control takes for a batch; None without hints."""
    if not uses_hints(config.color_control):
        return None
    return sample_fixed_hints(
        batch["color"], batch["key"], config.hint_config, seed, sketch=batch["sketch"]
    )


def load_run_generator(run_dir: str | Path, device: torch.device):
    """The run's generator (eval, on device), its config and hint config; one-line errors."""
    generator, config = load_run(run_dir, device)
    return generator, config, config.hint_config


def run_reference(config: RunConfig, batch: dict, seed: int) -> torch.Tensor | None:
    """The fixed-seed references a reference run takes for a held-out batch (each sample's
    colours under its own "medium" warp, seeded by its key, data/controls/reference.py); None
    for other colour controls."""
    if not uses_reference(config.color_control):
        return None
    return fixed_reference(batch["color"], [sample_seed(key, seed) for key in batch["key"]])


@torch.no_grad()
def generate(generator, config: RunConfig, hint_config, sketch, palette, hints,
             reference=None) -> torch.Tensor:  # fmt: skip
    """One batch on the canvas: (B, 3, H, W) sketch -> (B, 3, H, W) colours in [-1, 1];
    reference: (B, 3, H, W), for the reference control."""
    inputs = build_generator_input(config.color_control, sketch, palette=palette, hints=hints,
                                   hint_config=hint_config, reference=reference)  # fmt: skip
    return generator(inputs).clamp(-1, 1)


# --- intermediate checkpoints (RUN/checkpoints/step-N): Accelerate state, not an export

CHECKPOINTS_FOLDER = "checkpoints"
CHECKPOINT_PREFIX = "step-"
CHECKPOINT_PROGRESS_FILE = "progress.json"
CHECKPOINT_GENERATOR_FILE = "model.safetensors"  # Accelerate's name for the first model: G
CHECKPOINT_EMA_FILE = "custom_checkpoint_0.pkl"  # the EMA copy, registered for checkpointing


def is_checkpoint_folder(path: str | Path) -> bool:
    """True for RUN/checkpoints/step-N (whether or not it is complete)."""
    path = Path(path)
    name = path.name
    return (
        path.parent.name == CHECKPOINTS_FOLDER
        and name.startswith(CHECKPOINT_PREFIX)
        and name[len(CHECKPOINT_PREFIX) :].isdigit()
    )


def run_checkpoints(run_dir: str | Path) -> list[Path]:
    """The run's complete checkpoints (weights and progress.json), oldest step first."""
    folder = Path(run_dir) / CHECKPOINTS_FOLDER
    found = [
        path
        for path in (folder.iterdir() if folder.is_dir() else [])
        if is_checkpoint_folder(path)
        and (path / CHECKPOINT_GENERATOR_FILE).is_file()
        and (path / CHECKPOINT_PROGRESS_FILE).is_file()
    ]
    return sorted(found, key=lambda path: int(path.name[len(CHECKPOINT_PREFIX) :]))


def checkpoint_run_folder(checkpoint_dir: Path) -> Path:
    return Path(checkpoint_dir).parent.parent


def run_folder_of(path: str | Path) -> Path:
    """The run folder of a run folder (itself) or of one of its checkpoints."""
    path = Path(path)
    return checkpoint_run_folder(path) if is_checkpoint_folder(path) else path


def run_label(path: str | Path) -> str:
    """ "model-1-hints" for a run folder, "model-1-hints@300" for its checkpoint step-300:
    how every report names a run."""
    path = Path(path)
    if is_checkpoint_folder(path):
        return f"{checkpoint_run_folder(path).name}@{path.name.removeprefix(CHECKPOINT_PREFIX)}"
    return path.name


@dataclass(kw_only=True)
class TrainingProgress:
    """Where a run stands (a checkpoint's progress.json): optimizer steps done and the
    position in the data. `read_progress` and `write_progress` are the file's one reader and
    writer; a key missing from an older file takes the default below."""

    step: int = 0
    """Optimizer steps completed."""
    epoch: int = 0
    """The epoch the next batch comes from."""
    batch_in_epoch: int = 0
    """Batches of that epoch already consumed by this rank (the loader skips them on resume)."""
    images_seen: int = 0
    """Training images seen by all processes together."""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    @classmethod
    def from_file(cls, path: Path) -> TrainingProgress:
        """A progress.json; a one-line SketchcolorError naming it when missing or broken."""
        try:
            values = json.loads(Path(path).read_text())
            return cls(**values)
        except OSError as error:
            raise SketchcolorError(f"{path}: cannot be read ({error.strerror or error})") from None
        except (ValueError, TypeError) as error:
            raise SketchcolorError(f"{path}: not a progress file ({error})") from None


def read_progress(checkpoint_dir: str | Path) -> TrainingProgress:
    """RUN/checkpoints/step-N/progress.json; one-line errors."""
    return TrainingProgress.from_file(Path(checkpoint_dir) / CHECKPOINT_PROGRESS_FILE)


def write_progress(checkpoint_dir: str | Path, progress: TrainingProgress) -> None:
    """progress.json into a checkpoint folder being written (renamed into place whole)."""
    (Path(checkpoint_dir) / CHECKPOINT_PROGRESS_FILE).write_text(progress.to_json())


def images_seen_at(run_dir: str | Path, step: int | None) -> int | None:
    """Training images seen at `step`, from that step's checkpoint; None when it is gone."""
    folder = Path(run_dir) / CHECKPOINTS_FOLDER / f"{CHECKPOINT_PREFIX}{step}"
    if step is None or not (folder / CHECKPOINT_PROGRESS_FILE).is_file():
        return None
    return read_progress(folder).images_seen


def checkpoint_train_config(checkpoint_dir: str | Path) -> TrainConfig:
    """The train_config.json of a checkpoint's run; one-line error when it is missing."""
    run_dir = checkpoint_run_folder(Path(checkpoint_dir))
    train_config = read_train_config(run_dir)
    if train_config is None:
        raise SketchcolorError(
            f"{run_dir / TRAIN_CONFIG_FILE}: not found; the checkpoint's run is unknown"
        )
    return train_config


def read_checkpoint_config(checkpoint_dir: str | Path) -> RunConfig:
    """A checkpoint's config in config.json's form, from its run's train_config.json and its
    own progress.json; one-line errors for a missing or incomplete folder."""
    checkpoint_dir = Path(checkpoint_dir)
    if not checkpoint_dir.is_dir():
        raise SketchcolorError(f"{checkpoint_dir}: no such checkpoint folder")
    for name in (CHECKPOINT_GENERATOR_FILE, CHECKPOINT_PROGRESS_FILE):
        if not (checkpoint_dir / name).is_file():
            raise SketchcolorError(f"{checkpoint_dir}: has no {name}; not a complete checkpoint")
    train_config = checkpoint_train_config(checkpoint_dir)
    progress = read_progress(checkpoint_dir)
    size = train_config.model.size
    hint_config = HintConfig.for_size(size, **train_config.hints.to_dict())
    return run_config_of(
        train_config, hint_config, step=progress.step, images_seen=progress.images_seen
    )


def load_checkpoint_generator(
    checkpoint_dir: str | Path,
    device: torch.device,
    *,
    shard_dir: str | Path,
    backend: str = "torch",
) -> tuple[torch.nn.Module, RunConfig]:
    """The generator of RUN/checkpoints/step-N as its export would be (eval mode, on device).

    The weights are the EMA copy's when the run kept one, else the generator's; BatchNorm
    statistics are recomputed as the export recomputes them (`output.batchnorm_batches`
    training batches of `shard_dir`'s train split; sketchcolor/models/batchnorm.py), so the final
    checkpoint scores what the run's generator.safetensors scores. Returns (generator, config).
    """
    import safetensors.torch

    from sketchcolor.data.controls.conditioning import statistics_inputs
    from sketchcolor.data.loading.loader import create_loader
    from sketchcolor.models import create_generator
    from sketchcolor.models.batchnorm import with_recomputed_statistics

    checkpoint_dir = Path(checkpoint_dir)
    config = read_checkpoint_config(checkpoint_dir)
    train_config = checkpoint_train_config(checkpoint_dir)
    generator = create_generator(config.model, head=config.head, **config.generator_options())
    state = safetensors.torch.load_file(str(checkpoint_dir / CHECKPOINT_GENERATOR_FILE))
    if config.ema:
        # AveragedModel's state: the averaged generator under "module." plus n_averaged.
        ema = torch.load(checkpoint_dir / CHECKPOINT_EMA_FILE, map_location="cpu")
        state = {
            key[len("module.") :]: value for key, value in ema.items() if key.startswith("module.")
        }
    try:
        generator.load_state_dict(state)
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[0]
        raise SketchcolorError(
            f"{checkpoint_dir}: weights do not match its train_config.json ({first_line})"
        ) from None
    generator.eval().to(device)
    loader = create_loader(
        shard_dir, split="train", image_size=config.image_size,
        batch_size=train_config.optim.batch_size, device=device, backend=backend,
        training=True, seed=train_config.seed, num_workers=0,
    )  # fmt: skip
    inputs = statistics_inputs(
        loader, color_control=config.color_control, hint_config=config.hint_config,
        seed=train_config.seed, batches=train_config.output.batchnorm_batches,
    )  # fmt: skip
    generator = with_recomputed_statistics(generator, inputs).eval()
    return generator, config


# ----------------------------------------------------------------------------- inference weights


@dataclass
class InferenceRun:
    """A run folder's or checkpoint's inference generator and what the ONNX metadata says."""

    generator: torch.nn.Module
    config: RunConfig
    train_config: TrainConfig | None
    """The run's train_config.json; None for a run folder without one (a bare export)."""
    weights_sha256: str
    source: Path

    def run_folder(self) -> Path:
        """The run folder this came from (a checkpoint's run)."""
        return run_folder_of(self.source)


def load_inference_run(run_dir: str | Path, data: str | Path | None = None) -> InferenceRun:
    """The inference weights (eval mode, CPU) of a run folder or RUN/checkpoints/step-N.

    A run folder's generator.safetensors already has its BatchNorm statistics recomputed and
    EMA applied; a checkpoint gets both as its export would (`runs.load_checkpoint_generator`,
    on `data` or the shards the run was trained on).
    """
    run_dir = Path(run_dir)
    if is_checkpoint_folder(run_dir):
        train_config = checkpoint_train_config(run_dir)
        shard_dir = Path(data) if data else training_data(checkpoint_run_folder(run_dir))
        generator, config = load_checkpoint_generator(run_dir, torch.device("cpu"),
                                                      shard_dir=shard_dir)  # fmt: skip
        weights_hash = file_sha256(run_dir / CHECKPOINT_GENERATOR_FILE)
    else:
        generator, config = load_run(run_dir, torch.device("cpu"))
        train_config = read_train_config(run_dir)
        weights_hash = weights_sha256(run_dir)
    return InferenceRun(generator.eval(), config, train_config, weights_hash, run_dir)


def training_data(run_dir: Path) -> Path:
    """The shard folder a run was trained on, from its train_config.json."""
    train_config = read_train_config(run_dir)
    data = None if train_config is None else str(train_config.data)
    if not data or not Path(data).is_dir():
        raise SketchcolorError(
            f"{Path(run_dir) / TRAIN_CONFIG_FILE}: its data folder {data!r} is gone; "
            "give --data SHARDS"
        )
    return Path(data)
