"""Helpers every layer uses: atomic file writes, image conversions, device choice, seeds, signals.

Usage: from sketchcolor.util.files import write_text_atomically
"""
