"""The HuggingFace Accelerator for training and evaluation: create it, release it, pick the
loader and the mixed precision.

Usage: accelerator = create_accelerator(); ...; release_accelerator(accelerator)
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import importlib.util
import os
import sys

import torch

from sketchcolor.config import DEFAULT_INIT_TIMEOUT, MIXED_PRECISION_MODES
from sketchcolor.errors import SketchcolorError


def has_gpu() -> bool:
    """A CUDA, XPU or Apple MPS device is there for Accelerate to use."""
    xpu = getattr(torch, "xpu", None)
    return (
        torch.cuda.is_available()
        or (xpu is not None and xpu.is_available())
        or torch.backends.mps.is_available()
    )


def create_accelerator(*, init_timeout: float = DEFAULT_INIT_TIMEOUT, **options):
    """An Accelerator on the GPU when there is one, its process group (several processes)
    waiting `init_timeout` seconds in joining and in each collective until
    `set_collective_timeout`; `options` go to `accelerate.Accelerator`."""
    from accelerate import Accelerator

    handlers = [*options.pop("kwargs_handlers", []), process_group_timeout(init_timeout)]
    # Without a GPU, Accelerate only turns torchrun's environment into a (gloo) process
    # group when told to use the CPU; with cpu=False each rank would work on its own.
    return Accelerator(cpu=not has_gpu(), kwargs_handlers=handlers, **options)


def process_group_timeout(seconds: float):
    """Accelerate's InitProcessGroupKwargs with this timeout, always passed on (its own drops
    a value equal to its default, which then falls back to torch's 30 min for gloo)."""
    from accelerate.utils import InitProcessGroupKwargs

    handler = InitProcessGroupKwargs(timeout=datetime.timedelta(seconds=seconds))
    # On the instance: Accelerate looks handlers up by their exact class, so no subclass.
    handler.to_kwargs = lambda: {"timeout": handler.timeout}
    return handler


def set_collective_timeout(accelerator, seconds: float) -> None:
    """From now on a collective of this process waits at most `seconds` for the others, then
    fails (gloo raises; NCCL's watchdog ends the process); no-op in one process."""
    if accelerator.num_processes == 1 or not torch.distributed.is_initialized():
        return
    from torch.distributed import distributed_c10d

    # torch.distributed.set_timeout (newer torch), else its older private name; without
    # either the process group keeps the timeout it started with (init_timeout).
    setter = getattr(torch.distributed, "set_timeout", None) or getattr(
        distributed_c10d, "_set_pg_timeout", None
    )
    if setter is not None:
        setter(datetime.timedelta(seconds=seconds))


def report_rank_failure(accelerator, error: BaseException, step: int | None,
                        collective_timeout: float) -> None:  # fmt: skip
    """Under several processes, one line on stderr naming this rank, the last step it
    finished (`step`; None: set-up) and the error, before the error ends the process (its
    traceback follows) and the launcher stops the other ranks with a non-zero exit. A
    collective that timed out says that it waited for another rank."""
    if accelerator.num_processes == 1:
        return
    where = f"after step {step}" if step is not None else "before the first step"
    text = " ".join(str(error).split())[:300] or type(error).__name__
    waited = "timed out" in text.lower() or "timeout" in type(error).__name__.lower()
    note = (
        f"; no answer from another rank within --collective-timeout {collective_timeout:g} s"
        if waited and step is not None
        else ""
    )
    print(  # on a line of its own: rank 0's progress bar may hold the line without a newline
        f"\nsketchcolor train: rank {accelerator.process_index} of {accelerator.num_processes} "
        f"failed {where} ({type(error).__name__}: {text}){note}; the launcher stops the other "
        "ranks; --resume continues from the last checkpoint",
        file=sys.stderr,
        flush=True,
    )


def trains_on_cpu() -> bool:
    """The Accelerator will run on the CPU: no GPU, or `accelerate launch` with use_cpu."""
    from accelerate.utils import parse_flag_from_env

    return not has_gpu() or parse_flag_from_env("ACCELERATE_USE_CPU")


def cpu_has_native_bf16() -> bool:
    """The CPU computes in bf16 natively: AVX512-BF16 or AMX, with ATen's AVX-512 kernels and
    oneDNN's bf16 paths both in use (ATEN_CPU_CAPABILITY=avx2 or ONEDNN_MAX_CPU_ISA=AVX2 turn
    them off). Elsewhere bf16 is emulated: a training step is about 4.5x slower than in fp32
    (benchmarks/README.md, "Training precision on a CPU"). x86 only; other CPUs count as without.

    The one place that reads the CPU's capability: tests mock this function.
    """
    if torch.backends.cpu.get_cpu_capability() != "AVX512":
        return False
    if not (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()):
        return False
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


EMULATED_BF16_COST = (
    "bf16 is emulated on this CPU (no AVX512-BF16 or AMX), about 4.5x slower than fp32 "
    "(3.3 vs 14.8 img/s measured on a 2-core AVX2 CPU); --mixed-precision no trains in fp32"
)


@dataclasses.dataclass(frozen=True)
class PrecisionChoice:
    """The mixed precision a run trains in, where it came from, and a warning if it is costly."""

    mode: str
    """bf16, fp16 or no: what the Accelerator gets."""
    source: str
    """Why this mode, for the run's first line: "--mixed-precision", "auto: ...", ..."""
    warning: str | None = None

    def describe(self) -> str:
        return f"{self.mode} ({self.source})"


def launcher_precision() -> str | None:
    """The precision `accelerate launch` asks for through ACCELERATE_MIXED_PRECISION, or None.

    "no" reads as None: accelerate launch sets it whenever its config and flags name no
    precision, so it cannot tell an explicit "no" from nothing said.
    """
    value = os.environ.get("ACCELERATE_MIXED_PRECISION", "no").lower()
    return None if value == "no" else value


def resolve_mixed_precision(
    requested: str | None,
    *,
    on_cpu: bool,
    launcher: str | None = None,
    recorded: str | None = None,
) -> PrecisionChoice:
    """The run's mixed precision, in this order: `requested` (the run's own flag or config;
    None or "auto" when not given), `launcher` (bf16 or fp16 from `accelerate launch`, see
    `launcher_precision`), `recorded` (what a resumed run trained in), and otherwise auto:
    on a CPU bf16 where it runs natively (`cpu_has_native_bf16`), else fp32 ("no"); on a GPU
    "no". bf16 on a CPU without native bf16 is kept, with a warning naming its cost.
    """
    if requested not in (None, "auto"):
        choice = PrecisionChoice(requested, "--mixed-precision")
    elif launcher is not None:
        if launcher not in MIXED_PRECISION_MODES:
            raise SketchcolorError(
                f"accelerate launch asks for mixed precision {launcher!r}; sketchcolor trains in "
                f"{', '.join(MIXED_PRECISION_MODES)}"
            )
        choice = PrecisionChoice(launcher, "accelerate launch's config")
    elif recorded is not None:
        choice = PrecisionChoice(recorded, "the resumed run's")
    elif not on_cpu:
        choice = PrecisionChoice("no", "auto: fp32 unless asked")
    elif cpu_has_native_bf16():
        choice = PrecisionChoice("bf16", "auto: this CPU runs bf16 natively")
    else:
        choice = PrecisionChoice("no", "auto: this CPU has no native bf16")
    if choice.mode == "bf16" and on_cpu and not cpu_has_native_bf16():
        return dataclasses.replace(choice, warning=EMULATED_BF16_COST)
    return choice


def release_accelerator(accelerator) -> None:
    """Close the trackers; in a single process, also forget Accelerate's process-wide state.

    Accelerate keeps its state in singletons that refuse a second Accelerator with another
    mixed precision; resetting them (Accelerate's own tests do the same) lets one process
    train several runs in a row, as the quickstart and the tests do.
    """
    from accelerate.state import AcceleratorState, GradientState

    # A tracker whose writer never opened (a full disk at start) fails to close with an
    # AttributeError; the error that stopped the run is the one the user must see.
    with contextlib.suppress(AttributeError, OSError):
        accelerator.end_training()
    if accelerator.num_processes == 1:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()


def has_dali() -> bool:
    return (
        importlib.util.find_spec("nvidia") is not None
        and importlib.util.find_spec("nvidia.dali") is not None
    )


def resolve_backend(name: str) -> str:
    """auto: DALI when it is installed, a GPU is there to decode on and a one-op DALI GPU
    pipeline really runs (`dali_gpu_problem`), else the torch loader, saying why in one line.

    On a CPU auto picks the torch loader by measurement: at 1024x512 pairs it beats DALI's
    CPU pipeline (benchmarks/README.md, "Loaders at the Kaggle size").
    """
    if name != "auto":
        return name
    if not (has_dali() and torch.cuda.is_available()):
        return "torch"
    from sketchcolor.data.loading.dali_loader import dali_gpu_problem

    problem = dali_gpu_problem(torch.cuda.current_device())
    if problem is not None:
        print(f"loader auto: DALI cannot run on this GPU ({problem}); using the torch loader")
        return "torch"
    return "dali"
