"""Run configuration: one dataclass whose defaults are the homework's."""

import dataclasses
from pathlib import Path

from nst.shipped import DEMO_CONTENT, DEMO_STYLE  # noqa: F401 - the demo's images, installed or in a checkout

# The homework's choices: content layer, style layers with their weights lambda_l, alpha and beta.
CONTENT_LAYER = "conv4_2"
STYLE_LAYERS = (("conv1_1", 0.2), ("conv2_1", 0.2), ("conv3_1", 0.2), ("conv4_1", 0.2), ("conv5_1", 0.2))
ALPHA = 10.0
BETA = 40.0

# `--optimizer lbfgs` without --iterations: the cost evaluations after which L-BFGS's picture is the homework's
# (J about that of 200 Adam steps), measured on the real ImageNet VGG-16 (benchmarks/lbfgs_default.py,
# docs/options.md). The homework's 200 would drive J an order of magnitude lower: style wins and the face goes.
LBFGS_EVALUATIONS = 35
ADAM_STEPS = 200  # the homework's

PRECISIONS = ("fp32", "bf16", "auto")  # --precision: auto = bf16 where the hardware has it natively (nst.device)
POOLINGS = ("avg", "max")  # --pooling
KERNEL_LAYOUTS = ("stored", "transposed")  # --kernel-layout
BYTES_PER_PIXEL = 2048
"""A run's memory per pixel of --width x --height beyond TensorFlow's own, at least (docs/speed.md: about 2 KB)."""

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the checkout (site-packages when installed)


@dataclasses.dataclass
class Config:
    """Everything a run needs. Defaults reproduce the homework (400x300, 200 Adam steps at lr 2.0, ...)."""

    content: Path = DEMO_CONTENT
    style: Path = DEMO_STYLE
    weights: Path | None = None  # None: the VGG-19 found or downloaded, else the ImageNet VGG-16 (nst.weights.locate)
    output_dir: Path = Path("output")
    iterations: int | None = None  # None: the optimiser's default, ADAM_STEPS or LBFGS_EVALUATIONS
    width: int = 400
    height: int = 300
    noise_ratio: float = 0.6
    learning_rate: float = 2.0
    alpha: float = ALPHA
    beta: float = BETA
    save_every: int = 20
    seed: int | None = None
    download: bool = True
    weights_cache: bool = True  # keep the conv weights in <weights>.cache.npz (False: --no-cache)
    content_layer: str = CONTENT_LAYER
    style_layers: tuple = STYLE_LAYERS
    progress: bool = True
    # --- options beyond the homework (all opt-in; the defaults are the homework's) ---
    # `style` above may also be a list of paths (several styles, Grams blended by `style_blend`).
    optimizer: str = "adam"  # "adam" (the homework's) or "lbfgs" (scipy L-BFGS-B)
    tv_weight: float = 0.0  # weight of the total-variation cost added to J
    style_blend: tuple | None = None  # one weight per style image; None = equal weights
    preserve_colors: bool = False  # keep the content's chroma (YCbCr), take only the luminance
    init: str = "noise"  # "noise" (the homework's blend), "content", "style" or an image path
    style_scale: float = 1.0  # style image resized by this factor before its Grams are taken
    pooling: str = "avg"  # "avg" (the homework's) or "max"
    kernel_layout: str = "stored"  # "stored" (the homework's) or "transposed"
    scales: int = 1  # coarse-to-fine: optimise at 1/2^(N-1) ... 1 of the size
    # --- limits, resume, determinism ---
    max_pixels: int | None = 50_000_000  # refuse image files with more pixels (width*height); None = no limit
    resume: Path | None = None  # continue the run saved in this output folder (its checkpoint.npz)
    deterministic: bool = False  # TF op determinism + seeds: byte-identical outputs for the same --seed
    # --- performance ---
    precision: str = "fp32"  # "fp32" (the homework's), "bf16" (VGG convolutions in bfloat16, costs/Adam float32)
    # or "auto" (bf16 where the hardware computes it natively, else fp32; nst.device)
    xla: bool = False  # compile the Adam step with XLA (tf.function(jit_compile=True))

    def __post_init__(self):
        if self.iterations is None:
            self.iterations = default_iterations(self.optimizer)

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
        check_options(self)
        check_robustness(self)
        if self.precision not in PRECISIONS:
            raise NstError(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        return self


def default_iterations(optimizer):
    """The steps a run takes without --iterations: the homework's 200 Adam steps, or L-BFGS's budget of cost
    evaluations where its picture is the homework's (LBFGS_EVALUATIONS)."""
    return LBFGS_EVALUATIONS if optimizer == "lbfgs" else ADAM_STEPS


def style_paths(style):
    """`Config.style` as a list of paths: one path or a list/tuple of paths."""
    return [Path(p) for p in style] if isinstance(style, (list, tuple)) else [Path(style)]


def parse_style_layers(text):
    """"conv1_1:0.2,conv2_1:0.2" (weight optional, default 1) -> (("conv1_1", 0.2), ("conv2_1", 0.2))."""
    from nst.errors import NstError

    layers = []
    for item in str(text).split(","):
        name, _, weight = item.strip().partition(":")
        try:
            layers.append((name.strip(), float(weight) if weight.strip() else 1.0))
        except ValueError:
            raise NstError(f"--style-layers: weight {weight!r} of {name.strip()!r} is not a number; "
                           "write e.g. conv1_1:0.2,conv2_1:0.2") from None
    return tuple(layers)


def check_options(cfg):
    """The options beyond the homework: raise NstError (one line) for values no run can use."""
    import math

    from nst.errors import NstError
    from nst.weights.matconvnet import LAYER_ORDER

    choices = {"optimizer": ("adam", "lbfgs"), "pooling": POOLINGS, "kernel_layout": KERNEL_LAYOUTS}
    for name, allowed in choices.items():
        if getattr(cfg, name) not in allowed:
            raise NstError(f"--{name.replace('_', '-')} must be one of {', '.join(allowed)}, got {getattr(cfg, name)!r}")
    if cfg.content_layer not in LAYER_ORDER:
        raise NstError(f"--content-layer: unknown VGG-19 layer {cfg.content_layer!r}; choose from {', '.join(LAYER_ORDER)}")
    if isinstance(cfg.style_layers, str):
        cfg.style_layers = parse_style_layers(cfg.style_layers)
    unknown = [name for name, _ in cfg.style_layers if name not in LAYER_ORDER]
    if unknown:
        raise NstError(f"--style-layers: unknown VGG-19 layer(s) {', '.join(map(repr, unknown))}; "
                       f"choose from {', '.join(LAYER_ORDER)}")
    if not cfg.style_layers or not all(math.isfinite(w) and w >= 0 for _, w in cfg.style_layers):
        raise NstError(f"--style-layers needs at least one layer and weights >= 0, got {cfg.style_layers!r}")
    if not (math.isfinite(cfg.tv_weight) and cfg.tv_weight >= 0):
        raise NstError(f"--tv-weight must be zero or positive, got {cfg.tv_weight!r}")
    n_styles = len(style_paths(cfg.style))
    if n_styles < 1:
        raise NstError("--style needs at least one image")
    if cfg.style_blend is not None:
        blend = tuple(cfg.style_blend)
        if len(blend) != n_styles:
            raise NstError(f"--style-blend has {len(blend)} weight(s) for {n_styles} style image(s); give one per --style image")
        if not all(math.isfinite(w) and w >= 0 for w in blend) or sum(blend) <= 0:
            raise NstError(f"--style-blend weights must be >= 0 with a positive sum, got {blend!r}")
    if not (math.isfinite(cfg.style_scale) and cfg.style_scale > 0):
        raise NstError(f"--style-scale must be positive, got {cfg.style_scale!r}")
    if not isinstance(cfg.scales, int) or cfg.scales < 1:
        raise NstError(f"--scales must be a whole number of at least 1, got {cfg.scales!r}")
    factor = 2 ** (cfg.scales - 1)
    if cfg.width // factor < 2 or cfg.height // factor < 2:
        raise NstError(f"--scales {cfg.scales} makes the coarsest image smaller than 2x2 pixels at "
                       f"{cfg.width}x{cfg.height}; use fewer --scales or a larger size")
    if not str(cfg.init):
        raise NstError("--init must be noise, content, style or an image path")


def check_robustness(cfg):
    """Limits, resume and determinism: raise NstError (one line) for values no run can use."""
    import math

    from nst.errors import NstError

    for name in ("learning_rate", "alpha", "beta"):
        if not math.isfinite(getattr(cfg, name)):
            raise NstError(f"--{name.replace('_', '-')} must be a finite number, got {getattr(cfg, name)!r}")
    if cfg.max_pixels is not None and (not isinstance(cfg.max_pixels, int) or cfg.max_pixels < 4):
        raise NstError(f"--max-pixels must be a whole number of at least 4 (2x2 pixels), got {cfg.max_pixels!r}")
    if cfg.deterministic and cfg.seed is None:
        raise NstError("--deterministic needs --seed N (the same N gives the same outputs)")
    if cfg.seed is not None and (not isinstance(cfg.seed, int) or cfg.seed < 0):
        raise NstError(f"--seed must be a whole number of at least 0, got {cfg.seed!r}")
    check_memory(cfg)


def check_memory(cfg):
    """NstError (one line) when --width x --height needs more memory than the machine has, estimated from the
    size alone (BYTES_PER_PIXEL, a lower bound), before anything is allocated."""
    import os

    from nst.errors import NstError

    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system: no estimate
        return
    need = cfg.width * cfg.height * BYTES_PER_PIXEL
    if need > memory:
        raise NstError(f"--width {cfg.width} --height {cfg.height} needs at least {gigabytes(need)} of memory "
                       f"(about {BYTES_PER_PIXEL // 1024} KB per pixel) and this machine has {gigabytes(memory)}: "
                       "pass a smaller --width and --height")


def gigabytes(n):
    """`1.5 GB`, `20000 GB`: bytes in GB, two significant digits at least."""
    return f"{n / 1e9:.2g} GB" if n < 1e11 else f"{n / 1e9:.0f} GB"
