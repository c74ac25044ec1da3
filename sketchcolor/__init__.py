"""sketchcolor: GAN sketch colorization, from image pairs to a trained colorizer.

Usage: `sketchcolor quickstart` runs the whole pipeline on synthetic data.
"""

__version__ = "0.1.0"
