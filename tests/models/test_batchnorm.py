"""Recomputed BatchNorm statistics: eval mode then reproduces what training's batches saw."""

import pytest
import torch

from sketchcolor.models import create_generator
from sketchcolor.models.batchnorm import (
    batchnorm_layers,
    recompute_batchnorm_statistics,
    without_sync_batchnorm,
)

# Tolerances: the 0.02 bound is the variance estimator's gap (unbiased vs biased over 6-image
# halves), orders above fp32 rounding; checked with the CPU capped at AVX2 and at the default path.
pytestmark = pytest.mark.precision


def batch_statistics_output(model, inputs):
    """The output with BatchNorm on batch statistics and dropout off, buffers left untouched."""
    saved = [
        (layer, layer.running_mean.clone(), layer.running_var.clone())
        for layer in batchnorm_layers(model)
    ]
    model.eval()
    for layer, *_ in saved:
        layer.train()
    with torch.no_grad():
        output = model(inputs)
    for layer, mean, var in saved:
        layer.running_mean.copy_(mean)
        layer.running_var.copy_(var)
    model.eval()
    return output


def test_recomputed_statistics_make_eval_mode_match_batch_statistics():
    torch.manual_seed(0)
    model = create_generator("1", in_channels=3, width=1 / 16)
    inputs = torch.rand(12, 3, 256, 256) * 2 - 1
    # Running statistics far from the truth, as a lagging average leaves them.
    for layer in batchnorm_layers(model):
        layer.running_mean.fill_(3.0)
        layer.running_var.fill_(0.05)
    expected = batch_statistics_output(model, inputs)
    with torch.no_grad():
        stale = model.eval()(inputs)
    assert (stale - expected).abs().mean() > 0.1

    assert recompute_batchnorm_statistics(model, [inputs[:6], inputs[6:]]) == 2
    with torch.no_grad():
        recomputed = model(inputs)
    # Only the unbiased (running) vs biased (batch) variance and the two halves' pooled mean
    # separate them.
    assert (recomputed - expected).abs().mean() < 0.02
    assert not model.training
    assert all(layer.momentum == 0.1 for layer in batchnorm_layers(model))


def test_models_without_batchnorm_are_left_alone():
    model = create_generator("2.1", in_channels=3, width=1 / 16)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    assert recompute_batchnorm_statistics(model, [torch.zeros(1, 3, 256, 256)]) == 0
    after = model.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)


def test_sync_batchnorm_becomes_plain_batchnorm_with_the_same_state():
    """The export recomputes statistics on the main process alone, where SyncBatchNorm in train
    mode would wait for the other ranks."""
    torch.manual_seed(0)
    model = create_generator("1", in_channels=3, width=1 / 16)
    synced = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    before = {name: value.clone() for name, value in synced.state_dict().items()}
    count = sum(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules())
    assert count == len(batchnorm_layers(synced)) > 5
    plain = without_sync_batchnorm(synced)
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in plain.modules())
    assert len(batchnorm_layers(plain)) == count
    after = plain.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(before[name], after[name]) for name in before)
    # And it runs in train mode without a process group.
    assert recompute_batchnorm_statistics(plain, [torch.rand(2, 3, 256, 256) * 2 - 1]) == 1
