"""The settings of a run in one table: each `Config` field with its flag, help, type, check, default and resume rule.

`Config` is the run's configuration; its defaults are the homework's (nst.homework). Each field carries a
`Setting` in its metadata, from which the command line's parser (nst.commands.cli), the one-line messages for
values no run can use (`check`), `--resume`'s rule of what may change (nst.sinks.checkpoint) and the studio's
form (nst.studio.runs) are made, so that a flag is written once. Nothing here imports TensorFlow.
"""

import dataclasses
import math
import os
from collections.abc import Callable
from pathlib import Path

from nst import homework, shipped
from nst.errors import NstError
from nst.weights.matconvnet import LAYER_ORDER

# `--optimizer lbfgs` without --iterations: the cost evaluations after which L-BFGS's picture is the homework's
# (J about that of 200 Adam steps), measured on the real ImageNet VGG-16 (`python -m benchmarks lbfgs_default`,
# docs/performance.md#l-bfgss-default-budget; why: docs/options.md). The homework's 200 would drive J an order
# of magnitude lower: style wins and the face goes.
LBFGS_EVALUATIONS = 35
ADAM_STEPS = homework.ADAM_STEPS

OPTIMIZERS = ("adam", "lbfgs")
PRECISIONS = ("fp32", "bf16", "auto")  # auto = bf16 where the hardware has it natively (nst.engine.device)
POOLINGS = ("avg", "max")
KERNEL_LAYOUTS = ("stored", "transposed")
INIT_KEYWORDS = ("noise", "content", "style")

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the checkout (site-packages when installed)
DEMO_CONTENT, DEMO_STYLE = shipped.DEMO_CONTENT, shipped.DEMO_STYLE  # installed or in a checkout (nst.shipped)

GROUPS = {
    "run": None,
    "gatys": "beyond the homework (all off by default)",
    "robustness": "limits, resuming and reproducibility",
    "performance": "performance",
}
"""The --help groups, in order: the homework's run, then the options beyond it."""


@dataclasses.dataclass(frozen=True)
class Setting:
    """How one Config field is set and checked.

    flag: its command-line flag. A boolean field is set by its flag alone: to `not default` (`--no-progress`
    turns progress off, `--preserve-colors` turns colours on).
    parse: text -> value (the parser's type; None: the text, which Config reads itself, as --style-layers);
    None for booleans. nargs: "+" for lists (one value stays itself).
    check: value -> None, or what follows the flag in the one-line message (" must be a whole number of at least
    1, got 0"). Not called for None where the field's default is None.
    resume: "same" (a resumed run has the run's value: a different one given is refused), "may change", or
    "none" (--resume itself). studio: the studio's form offers it.
    """

    flag: str
    help: str
    group: str = "run"
    parse: Callable | None = None
    check: Callable | None = None
    nargs: str | None = None
    metavar: str | None = None
    choices: tuple | None = None
    resume: str = "same"
    studio: bool = False


def setting(default, flag, help, **details):
    """A dataclass field of Config with its Setting (a mutable default goes through a factory)."""
    return dataclasses.field(default=default, metadata={"setting": Setting(flag, help, **details)})


# --- checks: a value -> None, or what follows the flag in the one-line message -------------------------------


def whole(at_least):
    def check(value):
        if not isinstance(value, int) or isinstance(value, bool) or value < at_least:
            return f" must be a whole number of at least {at_least}, got {value!r}"

    return check


def positive(value):
    if isinstance(value, (int, float)) and math.isinf(value):
        return f" must be a finite number, got {value!r}"
    if not isinstance(value, (int, float)) or not value > 0:
        return f" must be positive, got {value!r}"


def non_negative(value):
    if isinstance(value, (int, float)) and math.isinf(value):
        return f" must be a finite number, got {value!r}"
    if not isinstance(value, (int, float)) or not value >= 0:
        return f" must be zero or positive, got {value!r}"


def unit_interval(value):
    if not isinstance(value, (int, float)) or not 0 <= value <= 1:
        return f" must be between 0 and 1, got {value!r}"


def one_of(choices):
    def check(value):
        if value not in choices:
            return f" must be one of {', '.join(choices)}, got {value!r}"

    return check


def a_layer(value):
    if value not in LAYER_ORDER:
        return f": unknown VGG-19 layer {value!r}; choose from {', '.join(LAYER_ORDER)}"


def layers_and_weights(value):
    unknown = [layer for layer, _ in value if layer not in LAYER_ORDER]
    if unknown:
        return f": unknown VGG-19 layer(s) {', '.join(map(repr, unknown))}; choose from {', '.join(LAYER_ORDER)}"
    if not value or not all(math.isfinite(w) and w >= 0 for _, w in value):
        return f" needs at least one layer and weights >= 0, got {value!r}"


def blend_weights(value):
    if not all(isinstance(w, (int, float)) and math.isfinite(w) and w >= 0 for w in value) or sum(value) <= 0:
        return f" weights must be >= 0 with a positive sum, got {tuple(value)!r}"


def an_image(value):
    if not str(value):
        return " must be noise, content, style or an image path"


SIZE_UNITS = {
    "": 1,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "t": 10**12,
    "ki": 2**10,
    "mi": 2**20,
    "gi": 2**30,
    "ti": 2**40,
}
MIN_MEMORY = 10**8
"""--max-memory below this is refused at once: TensorFlow alone takes about 0.6 GB."""


def parse_size(text, flag):
    """ "3G", "2.5GB", "3000M", "3GiB", "3000000000" -> bytes (int); K, M, G, T are powers of 1000 (as the GB nst
    prints), KiB, MiB, GiB, TiB powers of 1024; NstError (one line) naming `flag` otherwise."""
    import re

    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([kmgt]i?)?b?\s*", str(text), re.IGNORECASE)
    if not match:
        raise NstError(f"{flag} must be a size like 3G, 2500M or 3GiB, got {text!r}")
    number, unit = float(match.group(1)), (match.group(2) or "").lower()
    if not math.isfinite(number) or number * SIZE_UNITS[unit] > 2**62:
        raise NstError(f"{flag} must be a size like 3G, 2500M or 3GiB, got {text!r}")
    return int(number * SIZE_UNITS[unit])


def at_least_bytes(least):
    def check(value):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            shown = value if not isinstance(value, int) or isinstance(value, bool) else gigabytes(value)
            return f" must be at least {gigabytes(least)} (TensorFlow alone takes about 0.6 GB), got {shown}"

    return check


def parse_style_layers(text):
    """ "conv1_1:0.2,conv2_1:0.2" (weight optional, default 1) -> (("conv1_1", 0.2), ("conv2_1", 0.2))."""
    layers = []
    for item in str(text).split(","):
        name, _, weight = item.strip().partition(":")
        try:
            layers.append((name.strip(), float(weight) if weight.strip() else 1.0))
        except ValueError:
            raise NstError(
                f"--style-layers: weight {weight!r} of {name.strip()!r} is not a number; "
                "write e.g. conv1_1:0.2,conv2_1:0.2"
            ) from None
    return tuple(layers)


@dataclasses.dataclass
class Config:
    """Everything a run needs. Defaults reproduce the homework (400x300, 200 Adam steps at lr 2.0, ...)."""

    content: Path = setting(DEMO_CONTENT, "--content", "content image", parse=Path)
    style: Path = setting(
        DEMO_STYLE, "--style", "style image, or several blended by --style-blend", parse=Path, nargs="+"
    )
    weights: Path | None = setting(
        None,
        "--weights",
        "MatConvNet imagenet-vgg-verydeep-19.mat, or its VGG-16 "
        "(imagenet-vgg-verydeep-16.mat) (default: imagenet-vgg-verydeep-19.mat in "
        "./pretrained-model/ or $NST_HOME, else downloaded into $NST_HOME; when it cannot "
        "be, the ImageNet VGG-16 of nst[imagenet]; nst.weights.choice)",
        parse=Path,
    )
    output_dir: Path = setting(Path("output"), "--output-dir", "where images and costs.csv go", parse=Path)
    iterations: int | None = setting(
        None,
        "--iterations",
        f"Adam steps (default: {ADAM_STEPS}); with --optimizer lbfgs its budget of cost "
        f"evaluations (default: {LBFGS_EVALUATIONS}, where its picture is the homework's)",
        parse=int,
        check=whole(1),
        resume="may change",
        studio=True,
    )
    width: int = setting(homework.WIDTH, "--width", "image width in pixels", parse=int, check=whole(1), studio=True)
    height: int = setting(homework.HEIGHT, "--height", "image height in pixels", parse=int, check=whole(1), studio=True)
    noise_ratio: float = setting(
        homework.NOISE_RATIO,
        "--noise-ratio",
        "share of U(-20, 20) noise in the initial image",
        parse=float,
        check=unit_interval,
        studio=True,
    )
    learning_rate: float = setting(
        homework.LEARNING_RATE, "--learning-rate", "Adam learning rate", parse=float, check=positive, studio=True
    )
    alpha: float = setting(homework.ALPHA, "--alpha", "content weight", parse=float, check=non_negative, studio=True)
    beta: float = setting(homework.BETA, "--beta", "style weight", parse=float, check=non_negative, studio=True)
    save_every: int = setting(
        homework.SAVE_EVERY,
        "--save-every",
        "save an image and log the costs every N steps",
        parse=int,
        check=whole(1),
        studio=True,
    )
    seed: int | None = setting(
        None, "--seed", "seed for the initial noise (default: random)", parse=int, check=whole(0), studio=True
    )
    download: bool = setting(
        True,
        "--no-download",
        "never download the VGG-19 weights (without them: the ImageNet VGG-16 fallback, or an error)",
        resume="may change",
    )
    weights_cache: bool = setting(
        True,
        "--no-cache",
        "read the whole weights file every run (in a child process), keep no <weights>.cache.npz",
        resume="may change",
    )
    content_layer: str = setting(
        homework.CONTENT_LAYER, "--content-layer", "content layer", group="gatys", check=a_layer, metavar="LAYER"
    )
    style_layers: tuple = setting(
        homework.STYLE_LAYERS,
        "--style-layers",
        "style layers and weights, e.g. conv1_1:0.2,conv2_1:0.2 (default: conv1_1..conv5_1 at 0.2)",
        group="gatys",
        check=layers_and_weights,
        metavar="L:W,...",
    )
    progress: bool = setting(True, "--no-progress", "no progress bar", resume="may change")
    # --- options beyond the homework (all opt-in; the defaults are the homework's) ---
    optimizer: str = setting(
        "adam",
        "--optimizer",
        "adam (the homework's) or lbfgs: scipy L-BFGS-B, --iterations = "
        f"max iterations and cost evaluations, {LBFGS_EVALUATIONS} unless given",
        group="gatys",
        check=one_of(OPTIMIZERS),
        choices=OPTIMIZERS,
        studio=True,
    )
    tv_weight: float = setting(
        0.0,
        "--tv-weight",
        "weight of the total-variation smoothing cost added to J",
        group="gatys",
        parse=float,
        check=non_negative,
        studio=True,
    )
    style_blend: tuple | None = setting(
        None,
        "--style-blend",
        "one weight per --style image; their Grams are blended by weight (default: equal)",
        group="gatys",
        parse=float,
        nargs="+",
        metavar="W",
        check=blend_weights,
    )
    preserve_colors: bool = setting(
        False,
        "--preserve-colors",
        "keep the content's colours: the result's luminance with the content's chroma (YCbCr)",
        group="gatys",
        studio=True,
    )
    init: str = setting(
        "noise",
        "--init",
        "start image: noise (the homework's noisy content), content, style or an image file",
        group="gatys",
        check=an_image,
        metavar="noise|content|style|PATH",
    )
    style_scale: float = setting(
        1.0,
        "--style-scale",
        "resize the style image(s) by S before their Grams are taken",
        group="gatys",
        parse=float,
        check=positive,
        metavar="S",
    )
    pooling: str = setting(
        "avg", "--pooling", "VGG pooling (the homework's: avg)", group="gatys", check=one_of(POOLINGS), choices=POOLINGS
    )
    kernel_layout: str = setting(
        "stored",
        "--kernel-layout",
        "use the .mat filters as stored (H x W, the homework) or transposed (W x H, as anishathalye/neural-style)",
        group="gatys",
        check=one_of(KERNEL_LAYOUTS),
        choices=KERNEL_LAYOUTS,
    )
    scales: int | None = setting(
        None,
        "--scales",
        "coarse-to-fine: optimise at 1/2^(N-1), ..., 1/2, 1 of the size, each result upsampled as "
        "the next start; --iterations per scale (default: 1 up to a megapixel; above, scales from about the "
        "homework's size up, the coarsest with --iterations and each finer one with half as many as the one before)",
        group="gatys",
        parse=int,
        check=whole(1),
        metavar="N",
    )
    # --- limits, resume, determinism ---
    max_pixels: int | None = setting(
        50_000_000,
        "--max-pixels",
        "refuse image files with more than N pixels (width x height), checked from the header before decoding",
        group="robustness",
        parse=int,
        check=whole(4),
        metavar="N",
        resume="may change",
    )
    resume: Path | None = setting(
        None,
        "--resume",
        "continue the run saved in OUTPUT_DIR (its checkpoint.npz, "
        "written at every save point and on Ctrl-C) with its own settings: repeat the run's "
        "command and add --resume OUTPUT_DIR; a flag whose value differs from the run's is "
        "refused; --iterations N may extend it",
        group="robustness",
        parse=Path,
        metavar="OUTPUT_DIR",
        resume="none",
    )
    deterministic: bool = setting(
        False,
        "--deterministic",
        "with --seed N: TF op determinism, so two runs write byte-identical images and costs.csv",
        group="robustness",
    )
    # --- performance ---
    precision: str = setting(
        "fp32",
        "--precision",
        "fp32 (the homework's numbers); bf16: VGG convolutions in "
        "bfloat16 (fast on CPUs with AMX/AVX-512-BF16 and on GPUs from compute capability 8.0), "
        "Grams, costs and Adam in float32; auto: bf16 where the hardware computes it natively, "
        "else fp32",
        group="performance",
        check=one_of(PRECISIONS),
        choices=PRECISIONS,
        studio=True,
    )
    xla: bool = setting(False, "--xla", "compile the step with XLA (jit_compile)", group="performance")
    max_memory: int | None = setting(
        None,
        "--max-memory",
        "the memory the run may hold, e.g. 3G (G = 10^9 bytes; K, M, T and KiB, MiB, GiB, TiB "
        "too): larger sizes are computed in tiles, exactly, to fit; a size no plan fits is refused, naming the "
        "budget it needs (default: 80 percent of the memory available when the run starts)",
        group="performance",
        check=at_least_bytes(MIN_MEMORY),
        metavar="SIZE",
        resume="may change",
    )
    tile: int | None = setting(
        None,
        "--tile",
        "compute J and its gradient in tiles of about N x N pixels (with halos; exact), whatever the memory",
        group="performance",
        parse=int,
        check=whole(16),
        metavar="N",
        resume="may change",
    )

    def __post_init__(self):
        if self.iterations is None:
            self.iterations = default_iterations(self.optimizer)
        if isinstance(self.max_memory, str):
            self.max_memory = parse_size(self.max_memory, "--max-memory")
        if isinstance(self.style_layers, str):
            self.style_layers = parse_style_layers(self.style_layers)

    def check(self):
        """Raise NstError (one line) for values no run can use; returns the Config."""
        check(self)
        return self


def default_iterations(optimizer):
    """The steps a run takes without --iterations: the homework's 200 Adam steps, or L-BFGS's budget of cost
    evaluations where its picture is the homework's (LBFGS_EVALUATIONS)."""
    return LBFGS_EVALUATIONS if optimizer == "lbfgs" else ADAM_STEPS


PRINT_PIXELS = 1_000_000
"""Sizes of more pixels than this are painted coarse to fine unless --scales says otherwise."""
COARSEST_EDGE = 640
"""The automatic coarse-to-fine schedule halves the size until both sides are at most this (about the homework's)."""


def scale_count(cfg):
    """The number of scales of the run `cfg`: --scales, else 1 up to PRINT_PIXELS and above it the fewest halvings
    that bring both sides to COARSEST_EDGE or less (1920x1080: 3, from 480x270; 3840x2160: 4), the short side
    never below 2 pixels (a panorama keeps a narrow coarsest scale)."""
    if cfg.scales is not None:
        return cfg.scales
    if cfg.width * cfg.height <= PRINT_PIXELS:
        return 1
    n = 1
    while max(cfg.width, cfg.height) > COARSEST_EDGE * 2 ** (n - 1) and min(cfg.width, cfg.height) // 2**n >= 2:
        n += 1
    return n


def evaluated_in_tiles(cfg):
    """Whether the run `cfg` evaluates its size in tiles: --tile, or its whole-image step does not fit its budget
    (--max-memory, else the default share of the memory available now; the memory model of VGG-19). Such a run has
    TensorFlow give back what it frees (nst.engine.memory.give_back_freed_memory), so that one scale's or tile's
    working set does not stay in a pool against the next one's plan; a run evaluated whole keeps the pool, which
    costs fewer CPU seconds (measured, the same commands interleaved: giving back took 11 % more at 400x300 and
    14 % more at 1920x1080 untiled)."""
    from nst.engine import memory

    if cfg.tile is not None:
        return True
    budget = cfg.max_memory if cfg.max_memory is not None else memory.default_budget()
    return budget is not None and memory.untiled_bytes(memory_problem(cfg)) > budget


def scale_iterations(cfg):
    """The iterations of each scale of `cfg`, coarse to fine: --iterations at every scale when --scales is given (or
    there is one); else (the automatic schedule) --iterations at the coarsest, where the composition is made, and
    half as many at each finer one, which refines the strokes (at least 1)."""
    n = scale_count(cfg)
    if cfg.scales is not None or n == 1:
        return [cfg.iterations] * n
    return [max(1, cfg.iterations // 2**k) for k in range(n)]


def settings():
    """{field name: Setting} in Config's order."""
    return {field.name: field.metadata["setting"] for field in dataclasses.fields(Config)}


def studio_settings():
    """The settings the studio's form offers: {name: (type: int, float, str or bool, flag)}, in Config's order."""
    kinds = {}
    for field in dataclasses.fields(Config):
        spec = field.metadata["setting"]
        if spec.studio:
            kind = bool if isinstance(field.default, bool) else spec.parse if spec.parse in (int, float) else str
            kinds[field.name] = (kind, spec.flag)
    return kinds


def default(name):
    """The default of a Config field, as declared (iterations: None, the optimiser's own)."""
    return Config.__dataclass_fields__[name].default


def flag(name):
    """The command-line flag of a Config field."""
    return settings()[name].flag


def style_paths(style):
    """`Config.style` as a list of paths: one path or a list/tuple of paths."""
    return [Path(p) for p in style] if isinstance(style, (list, tuple)) else [Path(style)]


def check(cfg):
    """NstError (one line) for the first value of `cfg` no run can use: each field's own check, then the checks
    across fields (the blend against the styles, scales against the size, determinism, memory)."""
    defaults = {field.name: field.default for field in dataclasses.fields(Config)}
    for name, spec in settings().items():
        value = getattr(cfg, name)
        if spec.check is None or (value is None and defaults[name] is None):
            continue
        wrong = spec.check(value)
        if wrong is not None:
            raise NstError(spec.flag + wrong)
    check_across(cfg)


def check_across(cfg):
    """The checks that read several fields: NstError (one line) for a combination no run can use."""
    n_styles = len(style_paths(cfg.style))
    if n_styles < 1:
        raise NstError("--style needs at least one image")
    if cfg.style_blend is not None and len(tuple(cfg.style_blend)) != n_styles:
        raise NstError(
            f"--style-blend has {len(tuple(cfg.style_blend))} weight(s) for {n_styles} style image(s); "
            "give one per --style image"
        )
    factor = 2 ** (scale_count(cfg) - 1)
    if cfg.width // factor < 2 or cfg.height // factor < 2:
        raise NstError(
            f"--scales {cfg.scales} makes the coarsest image smaller than 2x2 pixels at "
            f"{cfg.width}x{cfg.height}; use fewer --scales or a larger size"
        )
    if cfg.deterministic and cfg.seed is None:
        raise NstError("--deterministic needs --seed N (the same N gives the same outputs)")
    check_memory(cfg)


def check_memory(cfg):
    """NstError (one line) when the run `cfg` fits its memory budget (--max-memory, else memory.default_budget) by
    no plan at its largest size, naming the budget that would do; before anything is allocated or written. The
    network is taken to be VGG-19 with the real widths (the homework's); only when that does not fit is the
    weights file itself read (its conv weights, nst.weights.cache) for its own geometry. The run plans again with
    its own network once the weights are loaded (nst.engine.problem)."""
    from nst.engine import memory

    budget = cfg.max_memory if cfg.max_memory is not None else memory.default_budget()
    if budget is None:
        return
    where = (
        f"--max-memory {gigabytes(budget)}"
        if cfg.max_memory is not None
        else f"{gigabytes(budget)} (80 percent of the memory available now; --max-memory sets it)"
    )
    size = f"--width {cfg.width} --height {cfg.height}"
    need = memory_need(memory_problem(cfg), cfg.tile, budget)
    if need is not None and cfg.weights is not None and Path(cfg.weights).is_file():
        need = memory_need(memory_problem(cfg, *file_geometry(cfg)), cfg.tile, budget)
    if need is None:
        return
    if cfg.tile is not None:
        raise NstError(
            f"{size} with --tile {cfg.tile} needs about {gigabytes(need)}, more than {where}: "
            "pass a smaller --tile, or drop it to let the run plan its tiles"
        )
    what = f"{size}{' with --optimizer lbfgs' if cfg.optimizer == 'lbfgs' else ''}"
    raise NstError(
        f"{what} needs at least {gigabytes_up(need)[:-1]} GB of memory by any plan of tiles, and the "
        f"budget is {where}: pass --max-memory {gigabytes_up(need)} or more, or a smaller size"
    )


def memory_need(problem, tile, budget):
    """None when `problem` fits `budget` (with --tile `tile`, or by the planner's plan); else the bytes it needs."""
    from nst.engine import memory

    if tile is not None:
        need = memory.forced_plan(problem, tile).bytes
        return need if need > budget else None
    try:
        memory.plan_for(problem, budget)
    except memory.NoPlan as refused:
        return refused.smallest
    return None


def file_geometry(cfg):
    """(layers, conv weights' bytes) of the run's weights file, read as the run reads it (nst.weights.cache)."""
    from nst.engine.tiling import network_layers
    from nst.weights.cache import read_weights
    from nst.weights.matconvnet import layer_order

    data = read_weights(cfg.weights, cache=cfg.weights_cache)
    shapes = {name: tuple(W.shape) for name, (W, _) in data.weights.items()}
    return (
        network_layers(layer_order(list(data.weights)), shapes),
        sum(W.nbytes + b.nbytes for W, b in data.weights.values()),
    )


def memory_problem(cfg, layers=None, weights_bytes=None, width=None, height=None):
    """The memory model's Problem (nst.engine.memory) of the run `cfg` at width x height (default its size), for
    `layers` (default VGG-19 with the real widths)."""
    from nst.engine import memory
    from nst.engine.tiling import level_of

    if layers is None:
        layers, weights_bytes = memory.vgg_layers()
    width, height = width or cfg.width, height or cfg.height
    style_size = (max(1, round(height * cfg.style_scale)), max(1, round(width * cfg.style_scale)))
    return memory.Problem(
        tuple(layers),
        weights_bytes,
        height,
        width,
        tuple(level_of(layers, name) for name, _ in cfg.style_layers),
        level_of(layers, cfg.content_layer),
        2 if cfg.precision == "bf16" else 4,
        cfg.optimizer,
        style_shapes=(style_size,) * len(style_paths(cfg.style)),
    )


def physical_memory():
    """The machine's memory in bytes, or None where the system does not say (not POSIX)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def gigabytes(n):
    """`1.5 GB`, `20000 GB`: bytes in GB, two significant digits at least."""
    return f"{n / 1e9:.2g} GB" if n < 1e11 else f"{n / 1e9:.0f} GB"


def gigabytes_up(n):
    """`2.4G`: bytes in GB rounded up to a tenth (to a whole GB from 10 GB), as --max-memory takes them."""
    tenths = math.ceil(n / 1e8)
    return f"{tenths / 10:.1f}G" if tenths < 100 else f"{math.ceil(n / 1e9)}G"
