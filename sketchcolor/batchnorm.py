"""BatchNorm running statistics that match the exported weights ("precise BN").

During training a BatchNorm layer keeps running means and variances with momentum 0.1: an
average over roughly the last ten batches, each computed with older weights and with dropout
on. At Model 1's 1x1 to 4x4 inner levels a batch of 8 gives 8 to 128 values per channel,
so these averages are both noisy and stale, and the eval-mode generator can score far worse
than the same weights in train mode (docs/learning.md has the numbers). Recomputing the
statistics from the final weights, over training-style inputs with dropout off as at
inference, removes the mismatch; generators without BatchNorm (Models 2.x, 3) are untouched.

Used by training's export (training/checkpointer.py) and by `evaluate` on checkpoints (runs.py).

Usage: recompute_batchnorm_statistics(generator, (inputs for inputs in some_batches))
"""

from __future__ import annotations

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
    generator: nn.Module, loader, *, color_control: str, hint_config, seed: int, batches: int
) -> nn.Module:
    """A copy of `generator` whose BatchNorm statistics come from `batches` training batches.

    The batches are the first of a fixed epoch of `loader` (a training loader: shuffled,
    flipped) with hints drawn from fixed seeds, as training draws them, so the result depends
    only on the weights and the loader's settings: an exact resume exports the same bytes, and
    `sketchcolor evaluate RUN/checkpoints/step-N` rebuilds the export of step N. The live
    model's buffers stay as training left them. Returns `generator` itself when there is
    nothing to do.
    """
    import copy
    import itertools

    from sketchcolor.data.conditioning import build_generator_input, sample_hints, uses_hints
    from sketchcolor.seeding import mixed_seed

    if batches <= 0 or not batchnorm_layers(generator):
        return generator
    statistics_epoch = 1_000_003  # any fixed epoch: its shuffle and flips are the loader's own
    # The main process alone exports: SyncBatchNorm would wait for the others in train mode.
    copy_ = without_sync_batchnorm(copy.deepcopy(generator))

    def inputs():
        for number, batch in enumerate(itertools.islice(loader.epoch(statistics_epoch), batches)):
            color = batch["color"]  # (B, 3, H, W)
            hints = None
            if uses_hints(color_control):
                draw = torch.Generator(device=color.device)
                draw.manual_seed(mixed_seed(seed, statistics_epoch, number))
                hints = sample_hints(color, hint_config, draw, sketch=batch["sketch"])
            yield build_generator_input(
                color_control, batch["sketch"], palette=batch.get("palette"), hints=hints,
                hint_config=hint_config,
            )  # fmt: skip

    recompute_batchnorm_statistics(copy_, inputs())
    return copy_
