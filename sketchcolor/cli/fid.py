"""`sketchcolor fid`: FID between two image folders (or .npz statistics), like `python -m pytorch_fid`.

Usage: sketchcolor fid generated/ real/ [--inception-weights PATH] [--batch-size 50]
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "fid",
        help="FID between two image folders",
        description="Frechet Inception Distance between two folders of images (or pytorch-fid "
        ".npz statistics files), the same number `python -m pytorch_fid A B` prints.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("path_a", type=Path, help="a folder of images or an .npz")
    parser.add_argument("path_b", type=Path, help="a folder of images or an .npz")
    parser.add_argument(
        "--inception-weights",
        type=Path,
        default=None,
        help="pt_inception-2015-12-05-6726825d.pth (default: the torch hub cache)",
    )
    parser.add_argument("--batch-size", type=int, default=50, help="images per Inception batch")
    parser.add_argument("--device", default=None, help="cuda, cuda:1 or cpu (default: cuda if any)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from sketchcolor.fid import fid_between_folders

    value = fid_between_folders(
        args.path_a,
        args.path_b,
        weights_path=args.inception_weights,
        batch_size=args.batch_size,
        device=args.device,
    )
    print(f"FID: {value:.6f}")
    return 0
