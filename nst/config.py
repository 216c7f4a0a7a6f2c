"""Run configuration: one dataclass whose defaults are the homework's."""

import dataclasses
from pathlib import Path

from nst.weights import DEFAULT_WEIGHTS

# The homework's choices: content layer, style layers with their weights lambda_l, alpha and beta.
CONTENT_LAYER = "conv4_2"
STYLE_LAYERS = (("conv1_1", 0.2), ("conv2_1", 0.2), ("conv3_1", 0.2), ("conv4_1", 0.2), ("conv5_1", 0.2))
ALPHA = 10.0
BETA = 40.0

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
DEMO_CONTENT = PACKAGE_ROOT / "images" / "grace_hopper.jpg"
DEMO_STYLE = PACKAGE_ROOT / "images" / "swirls.jpg"


@dataclasses.dataclass
class Config:
    """Everything a run needs. Defaults reproduce the homework (400x300, 200 Adam steps at lr 2.0, ...)."""

    content: Path = DEMO_CONTENT
    style: Path = DEMO_STYLE
    weights: Path = DEFAULT_WEIGHTS
    output_dir: Path = Path("output")
    iterations: int = 200
    width: int = 400
    height: int = 300
    noise_ratio: float = 0.6
    learning_rate: float = 2.0
    alpha: float = ALPHA
    beta: float = BETA
    save_every: int = 20
    seed: int | None = None
    download: bool = True
    content_layer: str = CONTENT_LAYER
    style_layers: tuple = STYLE_LAYERS
    progress: bool = True

    def check(self):
        """Raise NstError (one line) for values no run can use."""
        from nst.errors import NstError

        for name in ("iterations", "width", "height", "save_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise NstError(f"--{name.replace('_', '-')} must be a whole number of at least 1, got {value!r}")
        if not self.learning_rate > 0:
            raise NstError(f"--learning-rate must be positive, got {self.learning_rate!r}")
        if not 0 <= self.noise_ratio <= 1:
            raise NstError(f"--noise-ratio must be between 0 and 1, got {self.noise_ratio!r}")
        for name in ("alpha", "beta"):
            if not getattr(self, name) >= 0:
                raise NstError(f"--{name} must be zero or positive, got {getattr(self, name)!r}")
        return self
