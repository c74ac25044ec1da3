"""The generator call behind colorize and serve: PyTorch, or an onnxruntime session.

An engine is a callable (sketch (B, 3, H, W), palette (B, 9, 3) or None, hints or None,
reference (B, 3, H, W) or None) -> colours (B, 3, H, W) in [-1, 1], with the `size_multiple` its canvas needs. Everything
around the call (placement, padding, hint fitting, flattening) is colorize's and the same
for every engine; only this call differs.

The onnxruntime engine runs the file given, else RUN/generator.onnx when it was exported
from the run's current weights (`sketchcolor export RUN --onnx`), else it exports the run
into memory first (tens of seconds, once per call).

Usage: engine, config, hint_config = load_engine("runs/m21-hints", "onnxruntime", "cpu")
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from sketchcolor.config import ENGINES
from sketchcolor.errors import SketchcolorError
from sketchcolor.runs import (
    RunConfig,
    generate,
    load_run_generator,
    read_run_config,
    weights_sha256,
)

INSTALL_HINT = "pip install -e '.[onnx]'"


@dataclass
class TorchEngine:
    """The run's PyTorch generator (eval mode, on its device): `runs.generate`."""

    generator: torch.nn.Module
    config: RunConfig
    hint_config: object
    name = "torch"

    @property
    def size_multiple(self) -> int:
        return self.generator.size_multiple

    def __call__(self, sketch, palette, hints, reference=None) -> torch.Tensor:
        return generate(self.generator, self.config, self.hint_config, sketch, palette, hints,
                        reference)  # fmt: skip


@dataclass
class OnnxruntimeEngine:
    """An onnxruntime session of an exported run (sketchcolor.export.onnx's graph)."""

    session: object
    config: RunConfig
    hint_config: object
    size_multiple: int
    name = "onnxruntime"

    def __call__(self, sketch, palette, hints, reference=None) -> torch.Tensor:
        from sketchcolor.inference.onnx_graph import OUTPUT_NAME, graph_feeds

        feeds = graph_feeds(self.config, self.hint_config, sketch, palette, hints, reference)
        (output,) = self.session.run([OUTPUT_NAME], feeds)  # (B, 3, H, W) float32
        return torch.from_numpy(output).to(sketch.device)


def require_onnxruntime():
    """The onnxruntime module, or a one-line error that names the command installing it."""
    try:
        import onnxruntime
    except ImportError as error:
        raise SketchcolorError(
            f"the onnxruntime engine needs onnxruntime, an optional extra: {INSTALL_HINT}"
        ) from error
    return onnxruntime


def onnxruntime_session(model: str | Path | bytes, *, threads: int | None = None,
                        device: torch.device | str = "cpu"):  # fmt: skip
    """An InferenceSession on the CPU (or CUDA when device is cuda and onnxruntime has it);
    threads: intra-op threads (None: onnxruntime's default, one per physical core)."""
    onnxruntime = require_onnxruntime()
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    providers = ["CPUExecutionProvider"]
    if torch.device(device).type == "cuda":
        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            raise SketchcolorError(
                "this onnxruntime has no CUDA provider; install onnxruntime-gpu or use --device cpu"
            )
        providers.insert(0, "CUDAExecutionProvider")
    source = model if isinstance(model, bytes) else str(model)
    try:
        return onnxruntime.InferenceSession(source, options, providers=providers)
    except Exception as error:  # onnxruntime's own exception types, one per failure
        where = "the exported graph" if isinstance(model, bytes) else str(model)
        first_line = str(error).strip().splitlines()[0]
        raise SketchcolorError(f"{where}: onnxruntime cannot load it ({first_line})") from None


def session_metadata(session) -> dict[str, str]:
    """The sketchcolor.* metadata of a loaded session, without the prefix."""
    from sketchcolor.inference.onnx_graph import METADATA_PREFIX

    found = session.get_modelmeta().custom_metadata_map
    return {key[len(METADATA_PREFIX) :]: value for key, value in found.items()
            if key.startswith(METADATA_PREFIX)}  # fmt: skip


def load_engine(
    run_dir: str | Path,
    engine: str = "torch",
    device: torch.device | str = "cpu",
    *,
    onnx: str | Path | None = None,
    threads: int | None = None,
):
    """The run's engine, its config and hint config; one-line errors.

    onnx: an exported file of this run (onnxruntime only; default RUN/generator.onnx when it
    matches the run's weights, else the run is exported into memory).
    """
    device = torch.device(device)
    if engine not in ENGINES:
        raise SketchcolorError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine == "torch":
        if onnx is not None:
            raise SketchcolorError("--onnx is for --engine onnxruntime")
        generator, config, hint_config = load_run_generator(run_dir, device)
        return TorchEngine(generator, config, hint_config), config, hint_config
    require_onnxruntime()
    config = read_run_config(run_dir)
    hint_config = config.hint_config
    session = run_session(Path(run_dir), None if onnx is None else Path(onnx), threads, device)
    multiple = int(session_metadata(session)["size_multiple"])
    return OnnxruntimeEngine(session, config, hint_config, multiple), config, hint_config


def run_session(run_dir: Path, onnx: Path | None, threads: int | None, device):
    """The session of `onnx`, else of RUN/generator.onnx if current, else of a fresh export."""
    from sketchcolor.inference.onnx_graph import ONNX_FILE, onnx_model
    from sketchcolor.runs import load_inference_run

    current = weights_sha256(run_dir)
    if onnx is not None:
        if not onnx.is_file():
            raise SketchcolorError(f"{onnx}: no such ONNX file")
        session = onnxruntime_session(onnx, threads=threads, device=device)
        exported_from = session_metadata(session).get("weights_sha256")
        if exported_from is None:
            raise SketchcolorError(f"{onnx}: has no sketchcolor metadata; export it with "
                                   "`sketchcolor export RUN --onnx FILE`")  # fmt: skip
        if exported_from != current:
            raise SketchcolorError(
                f"{onnx}: exported from other weights than {run_dir}'s; export it again"
            )
        return session
    default = run_dir / ONNX_FILE
    if default.is_file():
        session = onnxruntime_session(default, threads=threads, device=device)
        if session_metadata(session).get("weights_sha256") == current:
            return session
    print(f"engine onnxruntime: exporting {run_dir} into memory (`sketchcolor export "
          f"{run_dir} --onnx` keeps it)", file=sys.stderr)  # fmt: skip
    model_proto, _ = onnx_model(load_inference_run(run_dir))
    return onnxruntime_session(model_proto.SerializeToString(), threads=threads, device=device)
