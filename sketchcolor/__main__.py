"""Allows `python -m sketchcolor ...`, the same as the `sketchcolor` command."""

from sketchcolor.cli import main

raise SystemExit(main())
