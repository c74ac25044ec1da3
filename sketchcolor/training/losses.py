"""The paper's losses: generator = 1 x BCE + 100 x L1 + 0.01 x FLL + 0.0001 x TV; discriminator = BCE.

Every loss is computed in float32 (inputs are cast), and the adversarial terms use BCE on
logits, so they are safe under bf16/fp16 autocast.

Usage: loss_fn = GeneratorLoss(LossWeights(), features=VGG16Features.pretrained());
       total, parts = loss_fn(fake_logits, fake_color, real_color)
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from sketchcolor.config import LossWeights
from sketchcolor.errors import SketchcolorError

VGG16_FILE = "vgg16-397923af.pth"
"""torchvision's file name for the ImageNet VGG16 weights (`VGG16_Weights.IMAGENET1K_V1`)."""
VGG16_URL = f"https://download.pytorch.org/models/{VGG16_FILE}"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FEATURE_SIZE = 224
"""The paper feeds VGG16 224x224 images."""
SQRT_FLOOR = 1e-12
"""sqrt is clamped below here so a zero distance gives a zero gradient, not NaN (d sqrt/dx = inf at 0)."""


def root_sum_of_squares(x: torch.Tensor) -> torch.Tensor:
    """sqrt(sum of x ** 2) over all but the batch axis: (B, ...) -> (B,)."""
    squares = x.float().pow(2).flatten(1).sum(dim=1)
    return squares.clamp_min(SQRT_FLOOR).sqrt()


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """The paper's TV, averaged over the batch: (B, C, H, W) -> scalar.

    Per image: sqrt(sum of squared vertical differences) + sqrt(sum of squared horizontal ones).
    Written by hand because it is the paper's exact form, unlike the usual mean-absolute TV.
    """
    image = image.float()
    vertical = image[:, :, 1:, :] - image[:, :, :-1, :]  # (B, C, H-1, W)
    horizontal = image[:, :, :, 1:] - image[:, :, :, :-1]  # (B, C, H, W-1)
    return (root_sum_of_squares(vertical) + root_sum_of_squares(horizontal)).mean()


def pixel_loss(fake: torch.Tensor, real: torch.Tensor,
               pixel_weights: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """The paper's PLL: mean |real - fake|; with (B, 1, H, W) `pixel_weights` (mean 1), each
    pixel's difference weighted."""
    if pixel_weights is None:
        return F.l1_loss(fake.float(), real.float())
    return ((fake.float() - real.float()).abs() * pixel_weights).mean()


BORDER_RADIUS_SHARE = 1 / 40
"""How far from a region border `border_weights` reaches, as a share of the image side (6 px
at 256): the outline's own width and a few pixels either side, where a halo is painted."""


def border_weights(regions: torch.Tensor, extra: float) -> torch.Tensor:
    """(B, H, W) region maps -> (B, 1, H, W) loss weights: 1 + `extra` within
    BORDER_RADIUS_SHARE of a change of region, scaled to mean 1 over the batch (the loss keeps
    its size). Two max pools on the device: the smallest and largest id in each window."""
    radius = max(1, round(BORDER_RADIUS_SHARE * regions.shape[-1]))
    ids = regions.unsqueeze(1).float()
    window = dict(kernel_size=2 * radius + 1, stride=1, padding=radius)
    near = F.max_pool2d(ids, **window) != -F.max_pool2d(-ids, **window)
    weights = 1.0 + extra * near.float()
    return weights / weights.mean()


def adversarial_loss(logits: torch.Tensor, *, real: bool) -> torch.Tensor:
    """BCE of `logits` against the label "real" (1) or "fake" (0), on logits for stability."""
    logits = logits.float()
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's BCE: real pairs labelled 1, generated pairs 0, the two halves averaged."""
    return 0.5 * (
        adversarial_loss(real_logits, real=True) + adversarial_loss(fake_logits, real=False)
    )


def default_vgg16_path() -> Path:
    """Where torchvision keeps the VGG16 weights: `$TORCH_HOME/hub/checkpoints/vgg16-397923af.pth`."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG16_FILE


def missing_vgg16_message(path: Path) -> str:
    """The error text for missing VGG16 weights: which file, where it goes, how to do without."""
    return (
        f"VGG16 weights for the feature loss not found at {path}; download {VGG16_URL} "
        f"to {path} (torchvision's cache, {default_vgg16_path()}, is searched by default), "
        "or train without the feature loss (sketchcolor train --no-feature-loss)"
    )


def build_vgg16_trunk() -> nn.Sequential:
    """torchvision's VGG16 convolutional part (what `vgg16().features` is), random weights.

    Built from torchvision's layer list rather than `vgg16()`, which would also allocate and
    initialise the 124M-parameter classifier that the feature loss never uses.
    """
    from torchvision.models.vgg import cfgs, make_layers

    return make_layers(cfgs["D"], batch_norm=False)


def features_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The `features.*` entries of a full VGG16 state dict, renamed for the trunk alone."""
    if any(key.startswith("features.") for key in state):
        return {
            key[len("features.") :]: value
            for key, value in state.items()
            if key.startswith("features.")
        }
    return state


class VGG16Features(nn.Module):
    """Frozen VGG16 feature extractor for the paper's FLL: images in [-1, 1] of any size ->
    (B, 512, 7, 7) features of the 224x224, ImageNet-normalised image.

    Build it with `VGG16Features.pretrained(path)` for training, or `VGG16Features.random_stand_in()`
    in tests (random weights; nothing is downloaded either way).
    """

    def __init__(self, trunk: nn.Sequential) -> None:
        super().__init__()
        self.trunk = trunk.eval()
        self.trunk.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def pretrained(cls, path: str | Path | None = None) -> VGG16Features:
        """ImageNet VGG16 from `path`, or from torchvision's hub cache when `path` is None."""
        path = Path(path) if path is not None else default_vgg16_path()
        if not path.is_file():
            raise SketchcolorError(missing_vgg16_message(path))
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises many types for a bad file; all mean "unreadable"
            raise SketchcolorError(f"{path}: not a readable VGG16 checkpoint ({error})") from None
        trunk = build_vgg16_trunk()
        try:
            trunk.load_state_dict(features_state_dict(state))
        except RuntimeError as error:
            first_line = str(error).strip().splitlines()[0]
            raise SketchcolorError(
                f"{path}: not torchvision VGG16 weights ({first_line})"
            ) from None
        return cls(trunk)

    @classmethod
    def random_stand_in(cls, seed: int = 0) -> VGG16Features:
        """VGG16 with random weights (seeded): the same computation, for tests."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return cls(build_vgg16_trunk())

    def train(self, mode: bool = True) -> VGG16Features:
        # The trunk stays in eval mode: it is a fixed measuring instrument.
        super().train(mode)
        self.trunk.eval()
        return self

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        image = F.interpolate(
            image.float(),
            size=(FEATURE_SIZE, FEATURE_SIZE),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )  # (B, 3, 224, 224); float32: antialiased resizing has no bf16 kernel on CPU
        image = ((image + 1) / 2 - self.mean) / self.std
        return self.trunk(image)  # (B, 512, 7, 7)


def feature_loss(features: nn.Module, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """The paper's FLL: mean over the batch of ||features(real) - features(fake)||_2."""
    with torch.no_grad():
        real_features = features(real)  # (B, C', h, w)
    fake_features = features(fake)  # (B, C', h, w)
    return root_sum_of_squares(real_features.float() - fake_features.float()).mean()


def color_class_loss(logits: torch.Tensor, real: torch.Tensor, table: torch.Tensor,
                     weights: torch.Tensor,
                     pixel_weights: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """Zhang et al.'s class-rebalanced cross-entropy: (B, K, H, W) logits against each real
    pixel's class (its colour-grid cell's, `table`), each pixel weighted by its class's
    weight (and by `pixel_weights`, (B, 1, H, W), when given), averaged."""
    from sketchcolor.data.controls.color_classes import color_targets

    targets = color_targets(real, table)  # (B, H, W)
    losses = F.cross_entropy(logits.float(), targets, reduction="none")  # (B, H, W)
    losses = losses * weights.to(losses.device)[targets]
    if pixel_weights is not None:
        losses = losses * pixel_weights[:, 0]
    return losses.mean()


class ColorClasses(nn.Module):
    """What the colour-class cross-entropy needs: the codebook (K, 3) in [-1, 1], each
    colour-grid cell's class (512,) and the rebalancing weights (K,)
    (data/controls/color_classes.py)."""

    def __init__(self, codebook: torch.Tensor, weights: torch.Tensor) -> None:
        from sketchcolor.data.controls.color_classes import class_table

        super().__init__()
        self.register_buffer("codebook", codebook.float())
        self.register_buffer("table", class_table(codebook))
        self.register_buffer("weights", weights.float())


class GeneratorLoss(nn.Module):
    """c1 * BCE + c2 * L1 + c3 * FLL + c4 * TV (+ the colour classes' cross-entropy when the
    generator predicts them); FLL is skipped when `features` is None.

    Called as `loss_fn(fake_logits, fake, real, color_logits, pixel_weights) -> (total,
    parts)` (pixel_weights: (B, 1, H, W) of mean 1 for the pixel and class terms), where
    `parts` maps "adversarial", "pixel", "total_variation" (and "feature", "color_classes"
    when used) to the detached, unweighted terms.
    """

    def __init__(self, weights: LossWeights | None = None, features: nn.Module | None = None,
                 color_classes: ColorClasses | None = None) -> None:  # fmt: skip
        super().__init__()
        self.weights = weights or LossWeights()
        self.features = features
        self.color_classes = color_classes

    def forward(
        self,
        fake_logits: torch.Tensor,
        fake: torch.Tensor,
        real: torch.Tensor,
        color_logits: torch.Tensor | None = None,
        pixel_weights: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        terms = {
            "adversarial": (self.weights.adversarial, adversarial_loss(fake_logits, real=True)),
            "pixel": (self.weights.pixel, pixel_loss(fake, real, pixel_weights)),
            "total_variation": (self.weights.total_variation, total_variation(fake)),
        }
        if self.features is not None and self.weights.feature > 0:
            terms["feature"] = (self.weights.feature, feature_loss(self.features, fake, real))
        if color_logits is not None:
            classes = self.color_classes
            loss = color_class_loss(color_logits, real, classes.table, classes.weights,
                                    pixel_weights)  # fmt: skip
            terms["color_classes"] = (self.weights.color_classes, loss)
        total = sum(weight * value for weight, value in terms.values())
        parts = {name: value.detach() for name, (_, value) in terms.items()}
        return total, parts
