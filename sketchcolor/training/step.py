"""One pix2pix GAN training step, as a plain function returning the losses.

The order is pix2pix's: generate; update D on the detached fake; freeze D; update G against it.
Accelerate does the rest: `accelerator.backward` scales fp16 losses and divides them for
gradient accumulation, and the prepared optimizers only really step (and zero) on the last
micro-batch of an accumulation, so the calls below are the same with or without accumulation.

Usage:
    with accelerator.accumulate(generator, discriminator):
        losses = train_step(inputs, generator=..., discriminator=..., optimizer_g=..., optimizer_d=...,
                            generator_loss=..., accelerator=accelerator)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sketchcolor.training import losses as loss_functions


@dataclass(kw_only=True)
class StepInputs:
    """What one micro-batch feeds the models."""

    generator_input: torch.Tensor
    """(B, C, H, W) sketch plus colour control, in [-1, 1]."""
    sketch: torch.Tensor
    """(B, 3, H, W) the line art, in [-1, 1]; the discriminator's condition."""
    color: torch.Tensor
    """(B, 3, H, W) the real colour image, in [-1, 1]; the target."""
    pixel_weights: torch.Tensor | None = None
    """(B, 1, H, W) weights of the pixel and colour-class losses, mean 1 (region borders
    weigh more: losses.border_weights); None: every pixel alike."""


def generate(generator: torch.nn.Module, generator_input: torch.Tensor):
    """(picture, colour logits or None): our generators (through DDP or torch.compile) give
    their head's logits; any other module is a plain picture-to-picture network."""
    from accelerate.utils import extract_model_from_parallel

    from sketchcolor.models.registry import Generator

    if isinstance(extract_model_from_parallel(generator), Generator):
        return generator(generator_input, with_logits=True)
    return generator(generator_input), None


def loss_extras(color_logits: torch.Tensor | None, inputs: StepInputs) -> dict:
    """The loss's colour-class logits and pixel weights, each only when there is one (any
    loss with the paper's three arguments still fits a run that uses neither)."""
    extras = {"color_logits": color_logits, "pixel_weights": inputs.pixel_weights}
    return {name: value for name, value in extras.items() if value is not None}


def set_requires_grad(model: torch.nn.Module, flag: bool) -> None:
    for parameter in model.parameters():
        parameter.requires_grad_(flag)


def train_step(
    inputs: StepInputs,
    *,
    generator: torch.nn.Module,
    discriminator: torch.nn.Module,
    optimizer_g: torch.optim.Optimizer,
    optimizer_d: torch.optim.Optimizer,
    generator_loss,
    accelerator,
    scaler_g: torch.amp.GradScaler | None = None,
) -> dict[str, torch.Tensor]:
    """Update D, then G, on one micro-batch; returns detached losses (`loss_d`, `loss_g`, `loss_g_*`).

    scaler_g: G's own fp16 loss scaler (`generator_scaler`); None uses the Accelerator's.
    """
    # (B, 3, H, W), and (B, K, H, W) logits when the generator predicts colour classes
    fake, color_logits = generate(generator, inputs.generator_input)
    if generator_loss.weights.adversarial == 0:
        return reconstruction_step(fake, inputs, optimizer_g, generator_loss, accelerator,
                                   scaler_g, color_logits)  # fmt: skip
    real_pair = torch.cat([inputs.sketch, inputs.color], dim=1)  # (B, 6, H, W)
    fake_pair = torch.cat([inputs.sketch, fake], dim=1)  # (B, 6, H, W)

    # Discriminator: real pairs -> 1, fakes -> 0. The fake is detached so no gradient reaches G.
    set_requires_grad(discriminator, True)
    real_logits = discriminator(real_pair)  # (B, 1)
    fake_logits = discriminator(fake_pair.detach())  # (B, 1)
    loss_d = loss_functions.discriminator_loss(real_logits.float(), fake_logits.float())
    accelerator.backward(loss_d)
    optimizer_d.step()
    optimizer_d.zero_grad(set_to_none=True)

    # Generator: frozen D, so G's backward neither computes nor accumulates D gradients.
    set_requires_grad(discriminator, False)
    fake_logits = discriminator(fake_pair)  # (B, 1)
    loss_g, parts = generator_loss(fake_logits.float(), fake.float(), inputs.color,
                                   **loss_extras(color_logits, inputs))  # fmt: skip
    backward(accelerator, loss_g, scaler_g)
    optimizer_g.step()
    optimizer_g.zero_grad(set_to_none=True)
    set_requires_grad(discriminator, True)

    losses = {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}
    for name, value in parts.items():
        losses[f"loss_g_{name}"] = torch.as_tensor(value).detach()
    return losses


def reconstruction_step(
    fake,
    inputs: StepInputs,
    optimizer_g,
    generator_loss,
    accelerator,
    scaler_g=None,
    color_logits=None,
) -> dict:
    """The generator update alone, for runs without the adversarial term (small CPU presets):
    the discriminator would only cost time, as no gradient of it would reach the generator."""
    zero_logits = fake.new_zeros(fake.shape[0], 1)  # weighted by 0: only keeps the loss's shape
    loss_g, parts = generator_loss(zero_logits.float(), fake.float(), inputs.color,
                                   **loss_extras(color_logits, inputs))  # fmt: skip
    backward(accelerator, loss_g, scaler_g)
    optimizer_g.step()
    optimizer_g.zero_grad(set_to_none=True)
    losses = {"loss_d": torch.zeros((), device=fake.device), "loss_g": loss_g.detach()}
    for name, value in parts.items():
        losses[f"loss_g_{name}"] = torch.as_tensor(value).detach()
    return losses


def backward(accelerator, loss: torch.Tensor, scaler: torch.amp.GradScaler | None) -> None:
    """`accelerator.backward`, with `scaler` instead of the Accelerator's when one is given."""
    if scaler is None:
        accelerator.backward(loss)
    else:
        scaler.scale(loss / accelerator.gradient_accumulation_steps).backward()
