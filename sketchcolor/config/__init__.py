"""The configuration tree, one module per command family: constants, the options several
commands share (shared.py), hint controls and `hints`, training, the data commands, evaluation,
inference (colorize, export), models, serve, and reading config files. Every command's options
dataclass lives here; every public name is importable from here.

Usage: from sketchcolor.config import TrainConfig, ModelConfig
"""

from sketchcolor.config.constants import (  # noqa: F401
    COLOR_CONTROLS,
    DEFAULT_COLLECTIVE_TIMEOUT,
    DEFAULT_INIT_TIMEOUT,
    DEFAULT_MAX_FILE_SIZE,
    DEFAULT_OPSET,
    ENGINES,
    HINT_ENCODINGS,
    HINT_PLACEMENTS,
    HINT_SHAPES,
    HINT_SPREADS,
    IMAGE_FORMATS,
    LINE_LEVEL,
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
    Engine,
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
    HintsCommandConfig,
)
from sketchcolor.config.data import (  # noqa: F401
    LINE_ART_METHODS,
    PAIR_FITS,
    PAIRS_SPEED_OPTIONS,
    RESAMPLING_FILTERS,
    DatasetsConfig,
    LineArtConfig,
    PairsCommandConfig,
    PairsConfig,
    ShardConfig,
    ShardsCommandConfig,
    SynthCommandConfig,
    SynthConfig,
    VerifyConfig,
)
from sketchcolor.config.evaluation import (  # noqa: F401
    EvaluateConfig,
    FidConfig,
    parse_hint_counts,
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
from sketchcolor.config.inference import (  # noqa: F401
    ColorizeConfig,
    ExportConfig,
)
from sketchcolor.config.models import (  # noqa: F401
    ModelsCommandConfig,
)
from sketchcolor.config.quickstart import (  # noqa: F401
    QuickstartConfig,
)
from sketchcolor.config.serve import (  # noqa: F401
    ServeConfig,
)
from sketchcolor.config.shared import (  # noqa: F401
    Device,
    InceptionWeights,
    ShardCache,
    ShardCacheMaxGb,
)
from sketchcolor.config.training import (  # noqa: F401
    DistributedConfig,
    LoaderConfig,
    LossConfig,
    LossWeights,
    ModelConfig,
    OptimConfig,
    OutputConfig,
    TrainConfig,
)
