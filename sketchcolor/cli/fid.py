"""`sketchcolor fid`: FID between two image folders (or .npz statistics), like `python -m pytorch_fid`.

The options are `sketchcolor.config.FidConfig`; `fid_of_folders` runs them.

Usage: sketchcolor fid generated/ real/ [--inception-weights PATH] [--batch-size 50]
"""

from __future__ import annotations

NAME = "fid"
HELP = "FID between two image folders"
DESCRIPTION = (
    "Frechet Inception Distance between two folders of images (or pytorch-fid .npz "
    "statistics files), the same number `python -m pytorch_fid A B` prints."
)


def options():
    from sketchcolor.config import FidConfig

    return FidConfig


def run(config) -> int:
    from sketchcolor.evaluation.fid import fid_of_folders

    print(f"FID: {fid_of_folders(config):.6f}")
    return 0
