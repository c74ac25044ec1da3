"""Applying a trained run: the Colorizer, canvas placement, engines, flattening, layered files, palette files.

Usage: from sketchcolor.inference.colorize import colorize   # the batched entry: files in, files out
       from sketchcolor.inference.colorizer import load_colorizer, colorize_sketch   # in memory
"""
