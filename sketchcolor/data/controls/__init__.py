"""Colour controls: hint labels, strokes, the conditioning tensors, user input, k-means palettes.

Usage: from sketchcolor.data.controls.conditioning import build_generator_input
"""
