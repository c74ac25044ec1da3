"""Exponential moving average of the generator, with torch's own `AveragedModel`.

The EMA copy lives on the training device, is updated after every optimizer step, is saved in
each checkpoint (registered with Accelerate) and becomes `generator.safetensors` at the end.
BatchNorm statistics are averaged too (`use_buffers=True`), so Model 1's EMA copy has running
statistics that match its averaged weights.

Usage: ema = create_ema(generator, decay=0.999); ...; ema.update_parameters(generator)
"""

from __future__ import annotations

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def create_ema(generator: torch.nn.Module, *, decay: float) -> AveragedModel:
    """An EMA copy of `generator` (a plain module, not DDP-wrapped), excluded from autograd."""
    ema = AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    ema.requires_grad_(False)
    return ema


def averaged_generator(ema: AveragedModel) -> torch.nn.Module:
    """The averaged generator itself, for sampling and saving."""
    return ema.module
