"""Shards: writing them (palettes per image), the manifest, the DALI index, checks and verify.

Usage: from sketchcolor.data.shards.write import write_shards
"""
