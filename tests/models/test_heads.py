"""Output heads (models/heads.py): colour classes decoded by the annealed mean, and the gate
that copies the spread label colours; both kept by saving and loading."""

from __future__ import annotations

import pytest
import torch

from sketchcolor.models import create_generator, list_generators, load_generator, save_generator
from sketchcolor.models.heads import DECODE_TEMPERATURE, HeadConfig, decode_colors

CODEBOOK = torch.tensor([[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0], [1.0, 0.8, -0.7]])


def head_generator(name="1", **head):
    torch.manual_seed(0)
    generator = create_generator(name, in_channels=7, width=1 / 16, upsampling="resize", head=head)
    if head.get("classes"):
        generator.head.codebook.copy_(CODEBOOK)
    return generator.eval()


def saturate(generator, channel: int, value: float) -> None:
    """Make the last layer's `channel` the constant `value` (weights 0, bias `value`)."""
    conv = [m for m in generator.output.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        conv.weight[channel].zero_()
        conv.bias[channel] = value


def test_annealed_mean_by_hand():
    logits = torch.tensor([2.0, 0.0, 1.0]).view(1, 3, 1, 1)
    weights = torch.softmax(torch.tensor([2.0, 0.0, 1.0]) / 0.5, 0)
    expected = (weights[:, None] * CODEBOOK).sum(0)
    assert torch.allclose(decode_colors(logits, CODEBOOK, 0.5)[0, :, 0, 0], expected)
    cold = decode_colors(logits, CODEBOOK, 0.01)[0, :, 0, 0]  # near the mode
    assert torch.allclose(cold, CODEBOOK[0], atol=1e-4)


@pytest.mark.parametrize("name", list_generators())
def test_colour_classes_give_pictures_and_logits(name):
    generator = head_generator(name, classes=3) if name != "R" else None
    if generator is None:
        generator = create_generator("R", in_channels=10, width=1 / 16, head={"classes": 3})
        generator.head.codebook.copy_(CODEBOOK)
        generator.eval()
    size = generator.size_multiple
    x = torch.randn(2, generator.config["in_channels"], size, size)
    picture, logits = generator(x, with_logits=True)
    assert logits.shape == (2, 3, size, size) and picture.shape == (2, 3, size, size)
    assert not picture.requires_grad  # the cross-entropy alone trains the classes
    modes = CODEBOOK[logits.argmax(1)].permute(0, 3, 1, 2)  # training logs the modes
    assert torch.equal(picture, modes)
    expected = decode_colors(logits, CODEBOOK, DECODE_TEMPERATURE)  # inference: annealed mean
    assert torch.allclose(generator(x), expected, atol=1e-5)


def test_a_confident_class_paints_its_codebook_colour():
    generator = head_generator(classes=3)
    saturate(generator, 2, 30.0)
    picture = generator(torch.randn(1, 7, 256, 256))
    assert torch.allclose(picture, CODEBOOK[2].view(1, 3, 1, 1).expand_as(picture), atol=1e-4)


def test_an_open_gate_copies_the_label_channels_and_a_shut_one_does_not():
    x = torch.rand(1, 7, 256, 256) * 2 - 1
    x[:, 6] = 1  # a label's colour everywhere
    generator = head_generator(copy_channels=(3, 4, 5, 6))
    assert generator.output[-1].out_channels == 4  # RGB and the gate
    saturate(generator, 3, 30.0)
    assert torch.allclose(generator(x), x[:, 3:6], atol=1e-5)
    saturate(generator, 3, -30.0)
    assert (generator(x) - x[:, 3:6]).abs().mean() > 0.1


def test_the_gate_copies_nothing_where_no_label_lies():
    x = torch.rand(1, 7, 256, 256) * 2 - 1
    x[:, 6] = 0
    x[:, 6, :, 128:] = 1  # labels on the right half only
    generator = head_generator(copy_channels=(3, 4, 5, 6))
    saturate(generator, 3, 30.0)
    output = generator(x)
    assert torch.allclose(output[..., 128:], x[:, 3:6, :, 128:], atol=1e-5)
    assert (output[..., :128] - x[:, 3:6, :, :128]).abs().mean() > 0.1


def test_the_gate_trains_from_the_pixel_loss():
    generator = head_generator(copy_channels=(3, 4, 5, 6)).train()
    x = torch.rand(2, 7, 256, 256) * 2 - 1
    x[:, 6] = 1
    picture, logits = generator(x, with_logits=True)
    assert logits is None
    (picture - x[:, 3:6]).abs().mean().backward()
    conv = [m for m in generator.output.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    assert conv.bias.grad[3] < 0  # opening the gate lowers the loss


def test_heads_survive_saving_and_loading(tmp_path):
    generator = head_generator(classes=3, copy_channels=(3, 4, 5, 6))
    save_generator(generator, tmp_path, metadata={"color_control": "hints"})
    loaded, config = load_generator(tmp_path)
    assert config["head"] == {"classes": 3, "temperature": 0.02, "copy_channels": [3, 4, 5, 6]}
    assert torch.equal(loaded.head.codebook, CODEBOOK)
    x = torch.randn(1, 7, 256, 256)
    assert torch.equal(loaded.eval()(x), generator(x))


def test_the_paper_head_leaves_the_config_and_weights_as_they_were():
    generator = create_generator("1", in_channels=7, width=1 / 16)
    assert "head" not in generator.config
    assert not any(key.startswith("head.") for key in generator.state_dict())


def test_bad_head_settings_are_refused():
    with pytest.raises(ValueError, match="4 channels"):
        HeadConfig(copy_channels=(3, 4, 5))
    with pytest.raises(ValueError, match="temperature"):
        HeadConfig(classes=3, temperature=0)
