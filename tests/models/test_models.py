"""Generators (every registered one x every colour-control channel count) and the discriminator.

Walks the registry, so a newly registered generator is tested by being registered.
"""

from __future__ import annotations

import io
import json
import math
from contextlib import redirect_stdout

import pytest
import torch
from torch import nn

from sketchcolor.cli import main
from sketchcolor.errors import SketchcolorError
from sketchcolor.models import (
    Discriminator,
    canonical_name,
    create_generator,
    list_generators,
    register_generator,
)
from sketchcolor.models.blocks import group_count, scaled_channels

TEST_WIDTH = 1 / 16
COLOR_CONTROL_CHANNELS = (3, 30, 7, 34)  # none, palette, hints+mask, mixed+mask


def assert_every_parameter_learns(model: nn.Module) -> None:
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(parameter.grad).all(), f"{name} has a non-finite gradient"
        assert parameter.grad.abs().sum() > 0, f"{name} has an all-zero gradient"


PAPER_MODELS = ("1", "2.1", "2.2", "3")
"""The paper's generators: sketch-first inputs of any channel count (Model R, the reference
control's, has its own tests: test_reference_unet.py)."""


def test_paper_names_and_ours_are_registered():
    assert list_generators() == [*PAPER_MODELS, "R"]


@pytest.mark.parametrize("name", PAPER_MODELS)
@pytest.mark.parametrize("in_channels", COLOR_CONTROL_CHANNELS)
def test_generator_forward_backward(name, in_channels):
    torch.manual_seed(0)
    generator = create_generator(name, in_channels=in_channels, width=TEST_WIDTH)
    size = generator.size_multiple  # the smallest size it accepts
    x = torch.randn(2, in_channels, size, size)
    y = generator(x)
    assert y.shape == (2, 3, size, size)
    assert torch.isfinite(y).all()
    assert y.abs().max() <= 1.0
    assert y.std() > 0  # not a constant image
    (y * torch.randn_like(y)).sum().backward()
    assert_every_parameter_learns(generator)


@pytest.mark.parametrize("name", PAPER_MODELS)
def test_generator_trains_on_a_batch_of_one(name):
    generator = create_generator(name, width=TEST_WIDTH).train()
    size = generator.size_multiple
    y = generator(torch.randn(1, 3, size, size))
    y.mean().backward()
    assert y.shape == (1, 3, size, size) and torch.isfinite(y).all()


@pytest.mark.parametrize("name", PAPER_MODELS)
def test_generator_accepts_non_square_multiples(name):
    generator = create_generator(name, width=TEST_WIDTH).eval()
    multiple = generator.size_multiple
    with torch.no_grad():
        y = generator(torch.randn(1, 3, multiple, 2 * multiple))
    assert y.shape == (1, 3, multiple, 2 * multiple)


@pytest.mark.parametrize("name", PAPER_MODELS)
def test_wrong_size_names_the_sizes_that_work(name):
    generator = create_generator(name, width=TEST_WIDTH)
    multiple = generator.size_multiple
    with pytest.raises(
        SketchcolorError, match=rf"divisible by {multiple} .*got {multiple}x{multiple + 32}"
    ):
        generator(torch.randn(1, 3, multiple, multiple + 32))
    with pytest.raises(SketchcolorError, match=str(multiple)):
        generator.check_size(multiple // 2, multiple // 2)
    generator.check_size(2 * multiple, 3 * multiple)  # no error


def test_depths_match_the_paper():
    sizes = {
        name: create_generator(name, width=TEST_WIDTH).size_multiple for name in list_generators()
    }
    assert sizes == {"1": 256, "2.1": 256, "2.2": 512, "3": 512, "R": 256}


def encoder_output_shapes(generator: nn.Module, size: int) -> list[tuple[int, ...]]:
    """Shapes of every encoder block's output for a 1 x C x size x size input (meta device)."""
    shapes = []
    hooks = [
        block.register_forward_hook(
            lambda _module, _inputs, output: shapes.append(tuple(output.shape))
        )
        for block in generator.encoder
    ]
    generator(torch.empty(1, generator.config["in_channels"], size, size, device="meta"))
    for hook in hooks:
        hook.remove()
    return shapes


@pytest.mark.parametrize(
    ("name", "widths", "bottleneck"),
    [
        ("1", (64, 128, 256, 512, 512, 512, 512, 512), 2),
        ("2.1", (64, 128, 256, 512, 512, 512, 512, 512), 2),
        ("2.2", (64, 128, 256, 512, 512, 512, 512, 512, 512), 1),
        ("3", (64, 128, 256, 512, 512, 512, 512, 512, 512), 1),
    ],
)
def test_paper_widths_at_width_one(name, widths, bottleneck):
    with torch.device("meta"):
        generator = create_generator(name, in_channels=30, width=1.0)
    shapes = encoder_output_shapes(generator, 512)
    assert [shape[1] for shape in shapes] == list(widths)
    assert shapes[-1][2:] == (bottleneck, bottleneck)
    assert generator.output.out_channels == 3


def test_model_3_adds_encoder_attention_to_model_2_2():
    model_2_2 = create_generator("2.2", width=TEST_WIDTH)
    model_3 = create_generator("3", width=TEST_WIDTH)
    assert all(block.gate is None for block in model_2_2.encoder)
    assert all(block.gate is not None for block in model_3.encoder)
    assert sum(p.numel() for p in model_3.parameters()) > sum(
        p.numel() for p in model_2_2.parameters()
    )


@pytest.mark.parametrize("width", (1.0, 0.5, 0.25, 1 / 8, 1 / 16, 0.3, 0.05))
@pytest.mark.parametrize("name", PAPER_MODELS)
def test_group_norm_groups_divide_at_every_width(name, width):
    with torch.device("meta"):
        generator = create_generator(name, width=width)
    norms = [module for module in generator.modules() if isinstance(module, nn.GroupNorm)]
    assert bool(norms) == (name != "1")  # Model 1 normalises with BatchNorm, the others GroupNorm
    for norm in norms:
        assert norm.num_channels % norm.num_groups == 0
        # at least 4 channels per group, or a 1x1 bottleneck would normalise to zero
        assert norm.num_channels // norm.num_groups >= 4


def test_scaled_channels_and_group_count_by_hand():
    assert [scaled_channels(c, 1 / 16) for c in (64, 128, 256, 512)] == [4, 8, 16, 32]
    assert scaled_channels(512, 1.0) == 512
    assert scaled_channels(64, 0.01) == 4  # the floor
    assert [group_count(c) for c in (4, 8, 12, 32, 64, 128, 512, 1024)] == [
        1,
        2,
        3,
        8,
        16,
        32,
        32,
        32,
    ]


def test_aliases_resolve_to_paper_names():
    assert canonical_name("unet") == "1"
    assert canonical_name("res-attention-unet") == "2.1"
    assert canonical_name("res-attention-unet-deep") == "2.2"
    assert canonical_name("attention-everywhere") == "3"
    generator = create_generator("res-attention-unet", in_channels=7, width=TEST_WIDTH)
    assert generator.config == {
        "model": "2.1",
        "in_channels": 7,
        "width": TEST_WIDTH,
        "upsampling": "transposed",
    }
    assert json.loads(json.dumps(generator.config)) == generator.config


def test_unknown_name_lists_the_valid_names():
    with pytest.raises(SketchcolorError) as error:
        create_generator("4")
    message = str(error.value)
    assert "'4'" in message
    for name in ["1", "2.1", "2.2", "3", "unet", "res-attention-unet", "attention-everywhere"]:
        assert name in message


def test_unknown_option_lists_the_accepted_ones():
    with pytest.raises(SketchcolorError, match="accepted options: in_channels, width, dropout"):
        create_generator("1", depth=3)


def test_registering_a_name_twice_fails():
    with pytest.raises(ValueError, match="twice"):

        @register_generator("unet")
        def another_unet(*, in_channels: int = 3, width: float = 1.0):
            raise AssertionError("never built")


def test_dropout_is_off_in_eval_mode():
    generator = create_generator("1", width=TEST_WIDTH).eval()
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        assert torch.equal(generator(x), generator(x))


BF16_UNIT_ERROR = 2.0**-8  # bf16 keeps an 8-bit mantissa: a rounding moves a value by <= 2^-8


def weighted_layer_count(model: nn.Module) -> int:
    """Convolutions and linear layers: the places autocast rounds inputs and weights to bf16."""
    weighted = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
    return sum(isinstance(module, weighted) for module in model.modules())


def bf16_relative_error_bound(model: nn.Module) -> float:
    """The relative RMS error bf16 autocast may add over the model's depth.

    Each weighted layer adds a relative error of about 2^-8 with a random sign, so n layers
    add sqrt(n) * 2^-8 in quadrature. Which kernel sums the products (AVX-512 BF16's dot
    product, AVX2's convert-then-fp32, the scalar path) changes the error within this bound,
    not the bound: on model 3 the measured RMS error is 0.021 (AVX-512), 0.026 (AVX2) and
    0.022 (default) of the output's RMS against a bound of 0.041.
    """
    return math.sqrt(weighted_layer_count(model)) * BF16_UNIT_ERROR


@pytest.mark.precision
@pytest.mark.parametrize("name", ["1", "3"])  # BatchNorm U-Net; every block kind of 2.x and 3
def test_bf16_autocast_forward_on_cpu(name):
    torch.manual_seed(0)
    generator = create_generator(name, in_channels=30, width=TEST_WIDTH).eval()
    size = generator.size_multiple
    x = torch.randn(1, 30, size, size)
    with torch.no_grad():
        reference = generator(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = generator(x)
    assert y.dtype == torch.bfloat16  # autocast really ran the convolutions in bf16
    assert torch.isfinite(y).all()
    error = (y.float() - reference).abs().flatten()
    scale = reference.pow(2).mean().sqrt()
    bound = bf16_relative_error_bound(generator)
    assert error.pow(2).mean().sqrt() < bound * scale
    # A few outputs sit where errors add up (tanh's steep middle); a Gaussian error with that
    # RMS has 1% of its values beyond 2.58 RMS, so the 99th percentile stays under 3 RMS.
    assert error.quantile(0.99) < 3 * bound * scale
    # bf16 rounding at all: an fp32 run would differ by ~1e-7, far below one bf16 step.
    assert error.max() > BF16_UNIT_ERROR * scale / 16


# ---- discriminator ----


@pytest.mark.parametrize("in_channels", (6, 33, 10, 37))
@pytest.mark.parametrize(("height", "width"), [(64, 64), (48, 80), (1, 1), (130, 70)])
def test_discriminator_any_size(in_channels, height, width):
    discriminator = Discriminator(in_channels=in_channels, width=TEST_WIDTH)
    logits = discriminator(torch.randn(2, in_channels, height, width))
    assert logits.shape == (2, 1)
    assert torch.isfinite(logits).all()


def test_discriminator_backward_reaches_every_parameter():
    torch.manual_seed(0)
    discriminator = Discriminator(in_channels=6, width=TEST_WIDTH)
    logits = discriminator(torch.randn(4, 6, 64, 64))
    (logits * torch.randn_like(logits)).sum().backward()
    assert_every_parameter_learns(discriminator)


def test_discriminator_bf16_autocast_on_cpu():
    discriminator = Discriminator(in_channels=6, width=TEST_WIDTH).eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits = discriminator(torch.randn(2, 6, 64, 64))
    assert logits.shape == (2, 1) and torch.isfinite(logits).all()


def discriminator_cost_by_hand(size: int, in_channels: int = 6) -> tuple[int, float]:
    """(parameters, GFLOPs) of the full-width discriminator, from the paper's layer list."""
    widths = (64, 128, 256, 512, 512, 512)
    parameters, flops, previous, side = 0, 0, in_channels, size
    for channels in widths:
        parameters += previous * channels * 9 + 2 * channels  # conv (no bias) + BN
        flops += 2 * previous * channels * 9 * side * side
        previous, side = channels, math.ceil(side / 2)
    parameters += (
        512 * 16 * 512 + 2 * 512 + 512 + 1
    )  # Linear(8192, 512) no bias, BN, Linear(512, 1)
    flops += 2 * 512 * 16 * 512 + 2 * 512
    return parameters, flops / 1e9


def test_models_command_measures_parameters_and_flops():
    output = io.StringIO()
    with redirect_stdout(output):
        assert main(["models", "--size", "512", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(output.getvalue())}
    assert list(rows) == [*list_generators(), "discriminator"]
    parameters, gflops = discriminator_cost_by_hand(512)
    assert rows["discriminator"]["parameters"] == parameters
    assert rows["discriminator"]["gflops"] == pytest.approx(gflops, rel=1e-9)
    for name in list_generators():
        with torch.device("meta"):
            generator = create_generator(name)
        assert rows[name]["parameters"] == sum(p.numel() for p in generator.parameters())
    # the deeper 2.2 adds a 1x1 level: more parameters, about the same FLOPs as 2.1
    assert rows["2.2"]["parameters"] > rows["2.1"]["parameters"]
    assert rows["2.1"]["gflops"] > rows["1"]["gflops"] > 0


def test_models_command_table(capsys):
    assert main(["models", "--size", "512"]) == 0
    table = capsys.readouterr().out
    assert "| 2.2 | res-attention-unet-deep |" in table and "| discriminator |" in table
    assert "n/a" not in table


def test_models_command_marks_generators_that_reject_the_size(capsys):
    # 256: the 8-level generators work, the 9-level ones (2.2, 3) need multiples of 512.
    assert main(["models", "--size", "256", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert list(rows) == [*list_generators(), "discriminator"]
    assert {name for name, row in rows.items() if not row["available"]} == {"2.2", "3"}
    for name in ("2.2", "3"):
        assert rows[name]["gflops"] is None
        assert "needs a multiple of 512 (512, 1024" in rows[name]["note"]
        with torch.device("meta"):
            generator = create_generator(name)
        assert rows[name]["parameters"] == sum(p.numel() for p in generator.parameters())
    assert rows["1"]["gflops"] > 0 and rows["1"]["note"] == ""
    assert rows["discriminator"]["gflops"] == pytest.approx(
        discriminator_cost_by_hand(256)[1], rel=1e-9
    )
    assert main(["models", "--size", "256"]) == 0
    table = capsys.readouterr().out
    assert table.count("| n/a |") == 2
    row_2_1 = next(line for line in table.splitlines() if line.startswith("| 2.1 |"))
    assert float(row_2_1.split("|")[5]) == pytest.approx(rows["2.1"]["gflops"], abs=0.05)
    assert "3: not available at 256: needs a multiple of 512" in table
    # 100 suits no generator (multiples of 256 or 512): every generator row says so.
    assert main(["models", "--size", "100", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["available"] for row in rows] == [False] * len(list_generators()) + [True]
    assert "needs a multiple of 256" in rows[0]["note"]
    assert main(["models", "--size", "0"]) == 2


def test_discriminator_batch_of_one_is_a_clear_error_in_training_only():
    discriminator = Discriminator(in_channels=6, width=TEST_WIDTH)
    with pytest.raises(SketchcolorError, match="batch of at least 2"):
        discriminator(torch.randn(1, 6, 64, 64))
    assert discriminator.eval()(torch.randn(1, 6, 64, 64)).shape == (1, 1)


@pytest.mark.parametrize("name", ["1", "2.1"])
def test_resize_upsampling_keeps_shapes_and_has_no_transposed_convolutions(name):
    from torch import nn

    from sketchcolor.models import create_generator

    generator = create_generator(name, in_channels=3, width=1 / 16, upsampling="resize")
    assert not any(isinstance(module, nn.ConvTranspose2d) for module in generator.modules())
    assert generator.config["upsampling"] == "resize"
    output = generator(torch.randn(1, 3, 256, 256))
    assert output.shape == (1, 3, 256, 256)
