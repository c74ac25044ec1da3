"""`sketchcolor fid`: FID between two image folders (or .npz statistics), like `python -m pytorch_fid`.

Usage: sketchcolor fid generated/ real/ [--inception-weights PATH] [--batch-size 50]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tyro.conf import Positional

NAME = "fid"
HELP = "FID between two image folders"
DESCRIPTION = (
    "Frechet Inception Distance between two folders of images (or pytorch-fid .npz "
    "statistics files), the same number `python -m pytorch_fid A B` prints."
)


@dataclass(kw_only=True)
class FidOptions:
    path_a: Positional[Path]
    """A folder of images or an .npz."""
    path_b: Positional[Path]
    """A folder of images or an .npz."""
    inception_weights: Path | None = None
    """pt_inception-2015-12-05-6726825d.pth (None: the torch hub cache)."""
    batch_size: int = 50
    """Images per Inception batch."""
    device: str | None = None
    """cuda, cuda:1 or cpu (None: cuda if any)."""


def options():
    return FidOptions


def run(args: FidOptions) -> int:
    from sketchcolor.evaluation.fid import fid_between_folders

    value = fid_between_folders(
        args.path_a,
        args.path_b,
        weights_path=args.inception_weights,
        batch_size=args.batch_size,
        device=args.device,
    )
    print(f"FID: {value:.6f}")
    return 0
