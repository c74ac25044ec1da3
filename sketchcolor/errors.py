"""User-facing errors: raised for bad input, printed by the CLI as one line.

Usage: raise SketchcolorError(f"{path}: not a PNG image")
"""


class SketchcolorError(Exception):
    """An error the user can fix (bad input, missing file); the CLI prints it without a traceback."""
