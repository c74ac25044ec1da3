"""The pieces of the training loop in `sketchcolor.train`: the GAN step, checkpoints, samples, EMA.

Usage: from sketchcolor.training.step import train_step
"""
