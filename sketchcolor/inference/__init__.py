"""Applying a trained run: the Colorizer, canvas placement, engines, flattening, layered files, palette files.

Usage: from sketchcolor.inference.colorize import colorize
"""
