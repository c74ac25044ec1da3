"""Sources of pairs: Kaggle-layout folders, pairs from colour images, line art, synthetic shapes, OpenMoji.

Usage: from sketchcolor.data.sources.pairs import list_pairs
"""
