"""BatchNorm running statistics that match the exported weights ("precise BN").

During training a BatchNorm layer keeps running means and variances with momentum 0.1: an
average over roughly the last ten batches, each computed with older weights and with dropout
on. At Model 1's 1x1 to 4x4 inner levels a batch of 8 gives 8 to 128 values per channel,
so these averages are both noisy and stale, and the eval-mode generator can score far worse
than the same weights in train mode (docs/learning.md has the numbers). Recomputing the
statistics from the final weights, over training-style inputs with dropout off as at
inference, removes the mismatch; generators without BatchNorm (Models 2.x, 3) are untouched.

Used by training's export (training/checkpoints/checkpointer.py) and by `evaluate` on
checkpoints (runs.py).

Usage: recompute_batchnorm_statistics(generator, (inputs for inputs in some_batches))
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn

BATCHNORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The model's BatchNorm layers that keep running statistics."""
    return [
        module
        for module in model.modules()
        if isinstance(module, BATCHNORM_TYPES) and module.track_running_stats
    ]


@torch.no_grad()
def recompute_batchnorm_statistics(model: nn.Module, inputs: Iterable[torch.Tensor]) -> int:
    """Replace every BatchNorm layer's running statistics by their exact average over `inputs`.

    The layers see the inputs in train mode with a cumulative average (momentum None), as
    `torch.optim.swa_utils.update_bn` does, but every other module (dropout above all) stays
    in eval mode, so the statistics are those of the network that inference runs. Returns the
    number of batches used (0 when the model has no BatchNorm: nothing is read or changed).
    The model is left in the mode it was in.
    """
    layers = batchnorm_layers(model)
    if not layers:
        return 0
    was_training = model.training
    momenta = [layer.momentum for layer in layers]
    model.eval()
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative moving average: every batch counts the same
        layer.train()
    batches = 0
    for batch in inputs:
        model(batch)
        batches += 1
    for layer, momentum in zip(layers, momenta, strict=True):
        layer.momentum = momentum
    model.train(was_training)
    return batches


def without_sync_batchnorm(module: nn.Module) -> nn.Module:
    """`module` with every SyncBatchNorm replaced by a BatchNorm2d holding the same state (the
    inverse of `nn.SyncBatchNorm.convert_sync_batchnorm`; the state dict keys do not change)."""
    if isinstance(module, nn.SyncBatchNorm):
        plain = nn.BatchNorm2d(module.num_features, module.eps, module.momentum, module.affine,
                               module.track_running_stats)  # fmt: skip
        plain.load_state_dict(module.state_dict())
        return plain.to(next(iter(module.state_dict().values())).device).train(module.training)
    for name, child in module.named_children():
        setattr(module, name, without_sync_batchnorm(child))
    return module


def with_recomputed_statistics(
    generator: nn.Module, inputs: Iterable[torch.Tensor] | None
) -> nn.Module:
    """A copy of `generator` whose BatchNorm statistics come from `inputs` (generator inputs,
    data/controls/conditioning.py's `statistics_inputs` draws them as training does).

    The live model's buffers stay as training left them. Returns `generator` itself when there
    is nothing to do (`inputs` None, or no BatchNorm layer).
    """
    if inputs is None or not batchnorm_layers(generator):
        return generator
    # The main process alone exports: SyncBatchNorm would wait for the others in train mode.
    copy_ = without_sync_batchnorm(copy.deepcopy(generator))
    recompute_batchnorm_statistics(copy_, inputs)
    return copy_
