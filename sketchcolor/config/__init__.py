"""The configuration tree, one module per command family: constants, hint controls, training,
the data commands, serve, and reading config files. Every public name is importable from here.

Usage: from sketchcolor.config import TrainConfig, ModelConfig
"""

from sketchcolor.config.constants import (  # noqa: F401
    COLOR_CONTROLS,
    DEFAULT_MAX_FILE_SIZE,
    HINT_ENCODINGS,
    HINT_PLACEMENTS,
    HINT_SHAPES,
    HINT_SPREADS,
    IMAGE_FORMATS,
    LINE_THRESHOLD,
    LOADER_BACKENDS,
    MAX_SKETCH_PIXELS,
    MIXED_PRECISION_MODES,
    PALETTE_ENGINES,
    PALETTE_SIZE,
    PAPER_IMAGE_SIZE,
    PAPER_LABEL_SIZE,
    RESUME_LOCKED_FIELDS,
    ColorControl,
    HintEncoding,
    HintPlacement,
    HintShape,
    HintSpread,
    LoaderBackend,
    MixedPrecision,
    Upsampling,
    check_choice,
    scaled_label_size,
)
from sketchcolor.config.controls import (  # noqa: F401
    HintConfig,
)
from sketchcolor.config.data import (  # noqa: F401
    LINE_ART_METHODS,
    PAIR_FITS,
    PAIRS_SPEED_OPTIONS,
    RESAMPLING_FILTERS,
    LineArtConfig,
    PairsConfig,
    ShardConfig,
    SynthConfig,
)
from sketchcolor.config.files import (  # noqa: F401
    build_fields,
    flatten,
    is_template,
    jsonable,
    read_config_file,
    read_config_values,
    template,
)
from sketchcolor.config.serve import (  # noqa: F401
    ServeConfig,
)
from sketchcolor.config.training import (  # noqa: F401
    LoaderConfig,
    LossConfig,
    LossWeights,
    ModelConfig,
    OptimConfig,
    OutputConfig,
    TrainConfig,
)
