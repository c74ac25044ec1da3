"""The paper's losses against values computed by hand, the VGG16 feature extractor, autocast safety."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sketchcolor.config import LossWeights
from sketchcolor.errors import SketchcolorError
from sketchcolor.training.losses import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    VGG16_FILE,
    GeneratorLoss,
    VGG16Features,
    border_weights,
    default_vgg16_path,
    discriminator_loss,
    feature_loss,
    pixel_loss,
    total_variation,
)

# Tolerances: fp32 sums of a few hundred terms by hand, rel=1e-5..1e-6 (fp32 eps 1.2e-7 times
# the terms summed); checked with the CPU capped at AVX2 and at the default path as well.
pytestmark = pytest.mark.precision

LN2 = math.log(2.0)


def test_total_variation_by_hand():
    # one 2x3 image: vertical differences (-1, 0, -3) -> sqrt(10);
    # horizontal differences (1, 2) and (2, -1) -> sqrt(10)
    first = torch.tensor([[1.0, 2.0, 4.0], [0.0, 2.0, 1.0]]).view(1, 1, 2, 3)
    assert total_variation(first).item() == pytest.approx(2 * math.sqrt(10), rel=1e-6)
    # channels add inside the root; a flat second image gives (almost) 0, and the batch is averaged
    two_channels = torch.cat([first, 2 * first], dim=1)  # squares x (1 + 4)
    batch = torch.cat([two_channels, torch.zeros_like(two_channels)])
    assert total_variation(batch).item() == pytest.approx(math.sqrt(50), rel=1e-5)


def test_total_variation_of_a_flat_image_has_a_finite_gradient():
    image = torch.full((1, 3, 8, 8), 0.5, requires_grad=True)
    total_variation(image).backward()
    assert torch.isfinite(image.grad).all()


def test_pixel_loss_by_hand():
    fake = torch.tensor([0.0, 1.0, -1.0, 0.5]).view(1, 1, 2, 2)
    real = torch.tensor([1.0, 1.0, 1.0, 0.0]).view(1, 1, 2, 2)
    assert pixel_loss(fake, real).item() == pytest.approx((1 + 0 + 2 + 0.5) / 4)


def test_border_weights_raise_the_pixels_beside_a_region_change_by_hand():
    regions = torch.zeros(1, 16, 16, dtype=torch.int32)
    regions[:, :, 8:] = 3  # two regions meeting between columns 7 and 8; radius 1 at 16 px
    weights = border_weights(regions, extra=3.0)
    assert weights.shape == (1, 1, 16, 16)
    near = torch.zeros(16, dtype=torch.bool)
    near[7:9] = True  # the two columns within one pixel of the change
    raw = 1 + 3 * near.float()  # 4 beside the border, 1 elsewhere; mean (2 * 4 + 14) / 16
    assert torch.allclose(weights[0, 0], (raw / raw.mean()).expand(16, 16))
    assert weights.mean().item() == pytest.approx(1.0)
    fake, real = torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16)
    fake[..., 7] = 1.0  # an error on the border column counts 4 / 1.375 as much
    assert pixel_loss(fake, real, weights).item() == pytest.approx(
        pixel_loss(fake, real).item() * 4 / raw.mean().item()
    )


def test_step_inputs_weigh_the_borders_of_the_stored_regions_and_need_them():
    from sketchcolor.config import HintConfig
    from sketchcolor.training.inputs import step_inputs

    regions = torch.zeros(2, 32, 32, dtype=torch.int32)
    regions[:, 16:] = 1
    batch = {"sketch": torch.ones(2, 3, 32, 32), "color": torch.zeros(2, 3, 32, 32),
             "regions": regions}  # fmt: skip
    common = dict(color_control="none", hint_config=HintConfig(), seed=0)
    plain, _ = step_inputs(batch, **common)
    assert plain.pixel_weights is None
    weighted, _ = step_inputs(batch, region_borders=2.0, **common)
    assert torch.equal(weighted.pixel_weights, border_weights(regions, 2.0))
    del batch["regions"]
    with pytest.raises(SketchcolorError, match="region maps in the shards"):
        step_inputs(batch, region_borders=2.0, **common)


def test_feature_loss_is_the_batch_mean_of_euclidean_distances():
    # identity "features": pair 1 differs by (3, 4) -> 5; pair 2 by (0, 0) -> 0; mean 2.5
    real = torch.tensor([[0.0, 0.0], [1.0, 1.0]]).view(2, 1, 1, 2)
    fake = torch.tensor([[3.0, 4.0], [1.0, 1.0]]).view(2, 1, 1, 2)
    assert feature_loss(nn.Identity(), fake, real).item() == pytest.approx(2.5, abs=1e-5)


def test_feature_loss_with_random_vgg16_stand_in():
    features = VGG16Features.random_stand_in(seed=0)
    outputs = []  # features(real), then features(fake), as feature_loss computes them
    features.register_forward_hook(lambda _module, _inputs, output: outputs.append(output.detach()))
    torch.manual_seed(1)
    real = torch.rand(2, 3, 32, 32) * 2 - 1
    fake = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_()
    loss = feature_loss(features, fake, real)
    real_features, fake_features = outputs  # (2, 512, 7, 7) each
    assert real_features.shape == (2, 512, 7, 7)
    assert not torch.equal(real_features[0], real_features[1])
    difference = (real_features - fake_features).flatten(1)  # (2, 25088)
    expected = difference.pow(2).sum(dim=1).sqrt().mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert loss.item() > 0
    loss.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert all(parameter.grad is None for parameter in features.parameters())  # frozen


def test_vgg16_features_normalise_to_imagenet_at_224():
    features = VGG16Features.random_stand_in()
    seen = []
    features.trunk[0].register_forward_pre_hook(lambda _module, inputs: seen.append(inputs[0]))
    features(torch.full((1, 3, 64, 64), -1.0))  # black in [-1, 1] is 0 in [0, 1]
    trunk_input = seen[0]
    assert trunk_input.shape == (1, 3, 224, 224)
    for channel, (mean, std) in enumerate(zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)):
        assert trunk_input[0, channel].mean().item() == pytest.approx(-mean / std, rel=1e-5)


def test_vgg16_stays_in_eval_mode_and_stand_ins_are_seeded():
    features = VGG16Features.random_stand_in(seed=3).train()
    assert not features.trunk.training
    same = VGG16Features.random_stand_in(seed=3)
    assert torch.equal(features.trunk[0].weight, same.trunk[0].weight)


def test_generator_loss_combines_the_paper_terms():
    torch.manual_seed(0)
    features = nn.AvgPool2d(4)  # a cheap stand-in: any module mapping images to features works
    fake = torch.rand(2, 3, 16, 16) * 2 - 1
    real = torch.rand(2, 3, 16, 16) * 2 - 1
    fake_logits = torch.zeros(2, 1)  # BCE against "real" is ln 2
    total, parts = GeneratorLoss(LossWeights(), features)(fake_logits, fake, real)
    assert parts["adversarial"].item() == pytest.approx(LN2)
    assert parts["pixel"].item() == pytest.approx((fake - real).abs().mean().item())
    assert parts["total_variation"].item() == pytest.approx(total_variation(fake).item())
    pooled_difference = (features(fake) - features(real)).flatten(1)  # (2, 3 * 4 * 4)
    assert parts["feature"].item() == pytest.approx(pooled_difference.norm(dim=1).mean().item())
    expected = (
        LN2 + 100 * parts["pixel"] + 0.01 * parts["feature"] + 1e-4 * parts["total_variation"]
    )
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)


def test_generator_loss_without_features_skips_the_feature_term():
    fake = torch.rand(1, 3, 8, 8, requires_grad=True)
    real = torch.rand(1, 3, 8, 8)
    weights = LossWeights(adversarial=2.0, pixel=10.0, total_variation=0.5)
    total, parts = GeneratorLoss(weights, features=None)(torch.zeros(1, 1), fake, real)
    assert set(parts) == {"adversarial", "pixel", "total_variation"}
    expected = 2 * LN2 + 10 * parts["pixel"] + 0.5 * parts["total_variation"]
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    total.backward()
    assert fake.grad.abs().sum() > 0


def test_discriminator_loss_by_hand():
    zeros = torch.zeros(4, 1)
    assert discriminator_loss(zeros, zeros).item() == pytest.approx(LN2)
    # logit x for a real pair costs softplus(-x); for a fake pair softplus(x)
    real_logits = torch.tensor([[2.0]])
    fake_logits = torch.tensor([[-1.0]])
    expected = 0.5 * (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0)))
    assert discriminator_loss(real_logits, fake_logits).item() == pytest.approx(expected, rel=1e-6)


def test_losses_are_float32_and_finite_under_bf16_autocast(monkeypatch):
    from sketchcolor.training import losses

    # The same computation at 32 px instead of VGG's 224 (80 s of bf16 convolutions there on
    # a 2-core CPU).
    monkeypatch.setattr(losses, "FEATURE_SIZE", 32)
    fake_logits = torch.tensor([[-100.0], [100.0]], dtype=torch.bfloat16)  # saturated logits
    fake = (torch.rand(2, 3, 16, 16) * 2 - 1).bfloat16()
    real = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        total, parts = GeneratorLoss(features=VGG16Features.random_stand_in())(
            fake_logits, fake, real
        )
        d_loss = discriminator_loss(fake_logits, fake_logits)
    assert total.dtype == torch.float32 and d_loss.dtype == torch.float32
    assert torch.isfinite(total) and torch.isfinite(d_loss)
    assert parts["adversarial"].item() == pytest.approx(50.0, rel=1e-3)  # (100 + 0) / 2


def test_negative_loss_weight_is_rejected():
    with pytest.raises(SketchcolorError, match="pixel"):
        LossWeights(pixel=-1.0)


def test_missing_vgg16_weights_name_the_file_and_where_it_goes(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    expected_home = tmp_path / "torch" / "hub" / "checkpoints" / VGG16_FILE
    assert default_vgg16_path() == expected_home
    with pytest.raises(SketchcolorError) as error:
        VGG16Features.pretrained()
    message = str(error.value)
    assert str(expected_home) in message
    assert f"https://download.pytorch.org/models/{VGG16_FILE}" in message
    assert "--no-feature-loss" in message

    with pytest.raises(SketchcolorError, match=str(tmp_path / "elsewhere.pth")):
        VGG16Features.pretrained(tmp_path / "elsewhere.pth")


def test_corrupt_vgg16_file_is_a_clear_error(tmp_path):
    path = tmp_path / VGG16_FILE
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(SketchcolorError, match="not a readable VGG16 checkpoint"):
        VGG16Features.pretrained(path)
    torch.save({"features.0.weight": torch.zeros(1)}, path)
    with pytest.raises(SketchcolorError, match="not torchvision VGG16 weights"):
        VGG16Features.pretrained(path)


def test_pretrained_loads_a_torchvision_state_dict(tmp_path):
    stand_in = VGG16Features.random_stand_in(seed=5)
    # a full torchvision checkpoint names the trunk "features.N..."; the classifier is ignored
    state = {f"features.{key}": value for key, value in stand_in.trunk.state_dict().items()}
    state["classifier.6.bias"] = torch.zeros(1000)
    path = tmp_path / VGG16_FILE
    torch.save(state, path)
    loaded = VGG16Features.pretrained(path)
    image = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded(image), stand_in(image))
