"""Checkpoints of a run: the folder format, the checkpointer that decides what is saved, preemption.

Usage: from sketchcolor.training.checkpoints.checkpointer import Checkpointer
"""
