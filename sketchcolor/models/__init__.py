"""Generators (Models 1, 2.1, 2.2, 3 and our R, for the reference control) chosen by name, the discriminator, saving and profiling.

Importing this package registers every generator.

Usage: from sketchcolor.models import create_generator; generator = create_generator("2.1")
"""

from sketchcolor.models import attention_unet, reference_unet, unet  # noqa: F401  (registers them)
from sketchcolor.models.discriminator import Discriminator
from sketchcolor.models.registry import (
    Generator,
    canonical_name,
    create_generator,
    generator_aliases,
    generator_options,
    list_generators,
    register_generator,
)
from sketchcolor.models.saving import load_generator, read_generator_config, save_generator

__all__ = [
    "Discriminator",
    "Generator",
    "canonical_name",
    "create_generator",
    "generator_aliases",
    "generator_options",
    "list_generators",
    "load_generator",
    "read_generator_config",
    "register_generator",
    "save_generator",
]
