"""Val metrics during training: L1, PSNR and SSIM of the export-to-be, to TensorBoard.

Every `output.eval_every` steps (off by default) the main process colors the first
`output.eval_images` pairs of the val split with the generator as it would be exported (BatchNorm
statistics recomputed, eval mode), hints drawn per sample from the fixed seed `sketchcolor
evaluate` uses, and logs `val/l1`, `val/psnr` and `val/ssim` at that step, so TensorBoard shows
whether a long run still improves without stopping it.

Usage: validation = ValidationLogger(config, accelerator, checkpointer, hint_config, backend); validation.maybe_log(step, last_step=False)
"""

from __future__ import annotations

import itertools

import torch

from sketchcolor.config import HintConfig, TrainConfig
from sketchcolor.runs import generate, run_config_of, run_hints, run_reference
from sketchcolor.util import metrics

VALIDATION_SEED = 0
"""The hint seed of the val metrics: `sketchcolor evaluate`'s default, so the numbers match."""


class ValidationLogger:
    """Decides when val metrics are due and logs them (main process only; others wait)."""

    def __init__(self, config: TrainConfig, accelerator, checkpointer, hint_config: HintConfig,
                 backend: str):  # fmt: skip
        self.config, self.accelerator, self.checkpointer = config, accelerator, checkpointer
        self.every = config.output.eval_every
        self.run_config = run_config_of(config, hint_config)
        self.hint_config = hint_config
        self.loader = None
        if self.every and accelerator.is_main_process:
            from sketchcolor.data.loading.loader import create_loader

            self.loader = create_loader(
                config.data, split="val", image_size=config.model.size,
                batch_size=config.optim.batch_size, device=accelerator.device,
                backend=backend, training=False,
                seed=config.seed, num_workers=0,
            )  # fmt: skip

    def maybe_log(self, step: int, *, last_step: bool) -> dict | None:
        """The logged values when this step is due (every `eval_every` steps and the last)."""
        if not self.every or (step % self.every != 0 and not last_step):
            return None
        values = self.measure() if self.accelerator.is_main_process else None
        if values is not None:
            self.accelerator.log(values, step=step)
        self.accelerator.wait_for_everyone()
        return values

    @torch.no_grad()
    def measure(self) -> dict:
        """Mean val L1, PSNR and SSIM over the first `eval_images` val pairs."""
        model = self.checkpointer.exported_model()
        was_training = model.training
        model.eval()
        wanted, totals, count = self.config.output.eval_images, [0.0, 0.0, 0.0], 0
        for batch in itertools.islice(self.loader.epoch(0), len(self.loader)):
            take = min(len(batch["key"]), wanted - count)
            batch = {"sketch": batch["sketch"][:take], "color": batch["color"][:take],
                     "palette": batch["palette"][:take], "key": batch["key"][:take]}  # fmt: skip
            hints = run_hints(self.run_config, batch, VALIDATION_SEED)
            reference = run_reference(self.run_config, batch, VALIDATION_SEED)
            fake = generate(model, self.run_config, self.hint_config, batch["sketch"],
                            batch["palette"], hints, reference)  # fmt: skip
            for index, metric in enumerate((metrics.l1, metrics.psnr, metrics.ssim)):
                totals[index] += float(metric(fake, batch["color"]).sum())
            count += take
            if count >= wanted:
                break
        model.train(was_training)
        count = max(count, 1)
        return {"val/l1": totals[0] / count, "val/psnr": totals[1] / count,
                "val/ssim": totals[2] / count}  # fmt: skip
