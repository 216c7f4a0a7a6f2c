"""The memory a run holds, and the tile plan that fits a budget (no TensorFlow: the planner runs before it starts).

A run holds (all in bytes, per part; MEASURED gives the measured constants and where they come from):
- the process: Python, TensorFlow and its runtime (MEASURED.runtime);
- the network: its conv weights as TensorFlow constants, and the copies a run makes of them (the rotated kernels
  of the input gradient, bfloat16 casts) and that the allocator keeps;
- the whole-image arrays: the image, its gradient, the optimiser's state (Adam's m and v; scipy L-BFGS-B's
  float64 arrays, lbfgs_bytes), the content target a_C;
- an evaluation's working set: untiled, the step's activations and gradients (about the sum of the activations
  of every layer down to the deepest one used, plus two of the largest); tiled (nst.engine.tiles), the boundary
  activations and gradients a plan keeps whole, and one tile's working set at a time.

`plan_for(...)` gives the fastest plan (by the multiply-adds it computes, nst.engine.tiling.conv_macs) whose
predicted peak fits a budget, or None when the untiled evaluation fits; `smallest_budget(...)` the least budget
any plan fits in.
"""

import dataclasses
import functools
import itertools

from nst.engine.tiling import (
    CONV,
    POOL,
    Plan,
    Tiling,
    axis_tiles,
    conv_macs,
    level_channels,
    level_size,
    segment_tiling,
)

GiB = 2**30


def plan_macs(layers, plan, height, width, style_levels, content_level, deepest):
    """(forward sweep, backward sweep) multiply-adds of one value-and-gradient evaluation under `plan`
    (the backward sweep's tiles computed forward and backward: twice their forward cost)."""
    forward = backward = 0
    segments = plan.segments(deepest)
    for k, (start, stop) in enumerate(segments):
        levels = sorted({level for level in [*style_levels, content_level] if start < level <= stop} | {stop})
        grams = [level for level in style_levels if start < level <= stop]
        fused = plan.fused and k == len(segments) - 1
        if not fused:
            tiling = segment_tiling(layers, start, stop, height, width, *plan.forward[k], levels)
            forward += tiling.count * conv_macs(layers, start, stop, *tiling.shape, grams)
        tiling = segment_tiling(layers, start, stop, height, width, *plan.backward[k], levels)
        backward += 2 * tiling.count * conv_macs(layers, start, stop, *tiling.shape, grams)
    return forward, backward


def untiled_macs(layers, height, width, style_levels, deepest):
    """Multiply-adds of one untiled value-and-gradient evaluation (forward and backward)."""
    return 2 * conv_macs(layers, 0, deepest, height, width, style_levels)


def tile_tensor_bytes(tiling, role, style_levels, content_level, itemsize=4, copies=True):
    """The bytes of the tensors one tile of `tiling` (a segment's, nst.engine.tiling.Tiling) holds at its peak,
    counted from the graph; role "forward" (no gradient) or "backward" (forward and backward; also a fused
    segment, one tile). Backward: the input crop, every convolution's output (each ReLU's gradient needs it), a
    copy of the owned part of each style and content level (the Gram's and the content cost's gradients need it),
    the gradient injected at the output, and two of the largest activations (the gradient flowing back and the
    one it becomes). Forward: the largest input plus output of a layer, with the copy of a style level's owned
    part. itemsize: the activations' (4 float32, 2 bfloat16; Grams and costs are float32). copies=False: the
    untiled graph's count (its Grams and content cost use the activations themselves, no owned copies)."""
    layers, start, stop = tiling.layers, tiling.start, tiling.stop
    h, w = tiling.shape
    size, owned = {start: h * w * level_channels(layers, start)}, {}
    for level in range(start + 1, stop + 1):
        if layers[level - 1].kind != CONV:
            h, w = -(-h // 2), -(-w // 2)
        size[level] = h * w * layers[level - 1].channels
    for level in {*style_levels, content_level}:
        if copies and level is not None and start < level <= stop:
            owned[level] = tiling.rows.widest(level) * tiling.columns.widest(level) * level_channels(layers, level) * 4
    if role == "forward":
        return max(
            itemsize * (size[level - 1] + size[level]) + owned.get(level, 0) for level in range(start + 1, stop + 1)
        )
    convs = sum(size[level] for level in range(start + 1, stop + 1) if layers[level - 1].kind == CONV)
    return itemsize * (size[start] + convs) + sum(owned.values()) + 4 * size[stop] + 8 * max(size.values())


@dataclasses.dataclass(frozen=True)
class Measured:
    """The memory model's measured constants (benchmarks/print_size.py, docs/benchmarks/print-size.md).

    runtime: the resident set of a run that holds no network and no arrays yet (Python, numpy, scipy, PIL,
    TensorFlow imported and its runtime started). network: resident bytes per byte of the conv weights (TF's
    constants, the copies the allocator keeps after loading, the rotated kernels of the input gradient and
    oneDNN's reordered copies). forward, backward (and for bfloat16 activations forward_bf16, backward_bf16):
    resident bytes of a tile per byte of its counted tensors (tile_tensor_bytes), plus tile_overhead (oneDNN's
    scratch and primitives); a run's pool is its largest tile's. untiled: the same for the untiled evaluation.
    These were measured with TensorFlow's pooling allocator (a tile's blocks kept for the next), not anew with
    give_back_freed_memory (which runs in tiles use). lbfgs_per_variable, lbfgs_per_pair: what
    scipy.optimize.minimize(method="L-BFGS-B", bounds=Bounds(...)) holds per variable beyond its correction pairs
    (scipy 1.17 turns the bounds into a list of n tuples of Python floats that lives as long as the run), and per
    pair (two float64 vectors). saving: bytes per pixel a save point holds for a moment (the image handed to the
    sinks, a checkpoint's image, m and v as numpy, the PNG's uint8 pixels); update: the optimiser update's
    temporaries in TensorFlow's pool, bytes per pixel.
    """

    runtime: int = 850_000_000
    network: float = 3.0
    forward: float = 1.5
    backward: float = 1.1
    forward_bf16: float = 2.0
    backward_bf16: float = 1.1
    tile_overhead: int = 32 * 2**20
    untiled: float = 1.1
    lbfgs_per_variable: float = 300.0
    lbfgs_per_pair: float = 16.0
    saving: int = 52
    update: int = 36

    def factor(self, role, itemsize):
        """Resident bytes per counted byte of a tile in `role` with activations of `itemsize` bytes."""
        if itemsize == 2:
            return self.forward_bf16 if role == "forward" else self.backward_bf16
        return self.forward if role == "forward" else self.backward


MEASURED = Measured()


@dataclasses.dataclass(frozen=True)
class Problem:
    """What a run's memory depends on: the network (nst.engine.tiling.Layer list) and its conv weights' bytes,
    the generated image's size, the cost levels, the activations' item size (4 fp32, 2 bf16), the optimiser
    ("adam" or "lbfgs" with `lbfgs_pairs` correction pairs), the style images' (height, width) at their scale."""

    layers: tuple
    weights_bytes: int
    height: int
    width: int
    style_levels: tuple
    content_level: int
    itemsize: int = 4
    optimizer: str = "adam"
    lbfgs_pairs: int = 10
    style_shapes: tuple = ()

    @property
    def deepest(self):
        return max(*self.style_levels, self.content_level)

    @property
    def pixels(self):
        return self.height * self.width

    def level_bytes(self, level, itemsize):
        return (
            level_size(self.height, self.layers, level)
            * level_size(self.width, self.layers, level)
            * level_channels(self.layers, level)
            * itemsize
        )


def fixed_bytes(problem, measured=MEASURED):
    """What a run holds whatever the plan: the runtime, the network, the images (the content, the start image,
    the style images as float32), the generated image and the optimiser's state, the gradient and the content
    target a_C."""
    px = problem.pixels
    styles = sum(h * w for h, w in problem.style_shapes) or px
    images = 12 * (2 * px + styles)
    if problem.optimizer == "lbfgs":  # nst.lbfgs: x0, bounds, the float32 image and float64 gradient of a call,
        n = 3 * px  # and the float32 point and gradient its curvature is measured from
        state = n * (measured.lbfgs_per_variable + measured.lbfgs_per_pair * problem.lbfgs_pairs) + 44 * n
    else:  # Adam's m and v and the image variable
        state = 36 * px
    gradient = 12 * px
    a_C = problem.level_bytes(problem.content_level, 4)
    return int(measured.runtime + measured.network * problem.weights_bytes + images + state + gradient + a_C)


def untiled_bytes(problem, measured=MEASURED):
    """The predicted peak resident set of an untiled run."""
    whole = segment_tiling(problem.layers, 0, problem.deepest, problem.height, problem.width, 1, 1)
    step = tile_tensor_bytes(
        whole, "backward", problem.style_levels, problem.content_level, problem.itemsize, copies=False
    )
    return int(fixed_bytes(problem, measured) + measured.untiled * step + measured.saving * problem.pixels)


@dataclasses.dataclass(frozen=True)
class Choice:
    """A plan with its predicted peak resident set and the multiply-adds of one evaluation."""

    plan: Plan | None
    bytes: int
    macs: int


class NoPlan(ValueError):
    """No plan fits the budget; `smallest` is the least budget one would fit in."""

    def __init__(self, budget, smallest):
        super().__init__(f"needs at least {smallest / GiB:.2f} GiB, the budget is {budget / GiB:.2f} GiB")
        self.budget, self.smallest = budget, smallest


AXIS_COUNTS = (*range(1, 9), 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64)
"""The numbers of tiles along an axis the planner tries."""


@functools.lru_cache(maxsize=4096)
def _axis(layers, start, stop, n, count, levels):
    return axis_tiles(layers, start, stop, n, count, levels)


def _grids(problem, start, stop, role):
    """[(counted bytes, multiply-adds, (rows, columns))] of every grid of segment [start, stop), cheapest first
    by bytes, rows and columns from AXIS_COUNTS (at most the level's positions)."""
    levels = tuple(
        sorted({level for level in [*problem.style_levels, problem.content_level] if start < level <= stop} | {stop})
    )
    grams = [level for level in problem.style_levels if start < level <= stop]
    layers = problem.layers
    row_counts = [n for n in AXIS_COUNTS if n <= level_size(problem.height, layers, stop)]
    column_counts = [n for n in AXIS_COUNTS if n <= level_size(problem.width, layers, stop)]
    out = []
    for rows, columns in itertools.product(row_counts, column_counts):
        tiling = Tiling(
            layers,
            start,
            stop,
            _axis(layers, start, stop, problem.height, rows, levels),
            _axis(layers, start, stop, problem.width, columns, levels),
        )
        counted = tile_tensor_bytes(tiling, role, problem.style_levels, problem.content_level, problem.itemsize)
        macs = tiling.count * conv_macs(layers, start, stop, *tiling.shape, grams)
        out.append((counted, macs, (rows, columns)))
    return out


@functools.lru_cache(maxsize=256)
def _segment_options(problem, start, stop, role):
    """The Pareto front of _grids: [(counted bytes, multiply-adds, grid)] with bytes rising and multiply-adds
    falling."""
    front = []
    for counted, macs, grid in sorted(_grids(problem, start, stop, role), key=lambda g: (g[0], g[1])):
        if not front or macs < front[-1][1]:
            front.append((counted, macs, grid))
    return front


def _boundary_sets(problem):
    pools = [level for level in range(1, problem.deepest) if problem.layers[level - 1].kind == POOL]
    for k in range(len(pools) + 1):
        yield from itertools.combinations(pools, k)


def _numpy_peak(problem, boundaries, fused, measured=MEASURED):
    """The most a tiled run holds in numpy arrays at once beyond fixed_bytes: during the sweeps the boundary
    activations (in the activations' dtype) and the gradients at the segment's ends (float32); between steps a
    save point's copies (Measured.saving)."""
    levels = (0, *boundaries, problem.deepest)
    segments = list(zip(levels[:-1], levels[1:]))
    act = {b: problem.level_bytes(b, problem.itemsize) for b in boundaries}
    peak = 0
    for k, (start, stop) in enumerate(segments):
        last = k == len(segments) - 1
        forward = sum(act[b] for b in boundaries if b <= stop)
        backward = (
            sum(act[b] for b in boundaries if b <= start)
            + (0 if last else problem.level_bytes(stop, 4))
            + (problem.level_bytes(start, 4) if start else 0)
        )
        peak = max(peak, backward if (fused and last) else max(forward, backward))
    return max(peak, measured.saving * problem.pixels)


def choices(problem, budget, measured=MEASURED):
    """Every boundary set's cheapest plan within `budget` (or its least-memory plan, when none fits): Choices."""
    out = []
    fixed = fixed_bytes(problem, measured)
    for boundaries in _boundary_sets(problem):
        levels = (0, *boundaries, problem.deepest)
        segments = list(zip(levels[:-1], levels[1:]))
        for fused in (False, True):
            numpy_peak = _numpy_peak(problem, boundaries, fused, measured)
            allowance = budget - fixed - numpy_peak
            forward, backward, macs, pool = [], [], 0, 0
            for k, (start, stop) in enumerate(segments):
                last = k == len(segments) - 1
                roles = ("forward", "backward")
                picked = {}
                for role in roles:
                    options = _segment_options(problem, start, stop, role)
                    if fused and last and role == "backward":
                        options = [o for o in options if o[2] == (1, 1)]
                    factor = measured.factor(role, problem.itemsize)
                    fitting = [o for o in options if factor * o[0] + measured.tile_overhead <= allowance]
                    picked[role] = min(fitting, key=lambda o: o[1]) if fitting else options[0]
                    pool = max(pool, factor * picked[role][0] + measured.tile_overhead)
                forward.append(picked["forward"][2])
                backward.append(picked["backward"][2])
                macs += 2 * picked["backward"][1] + (0 if (fused and last) else picked["forward"][1])
            if fused and not segments:
                continue
            plan = Plan(tuple(boundaries), tuple(forward), tuple(backward), fused)
            out.append(Choice(plan, int(fixed + numpy_peak + pool), int(macs)))
    return out


def plan_for(problem, budget, measured=MEASURED):
    """The Choice to make within `budget` bytes: the untiled evaluation (plan None) when it fits, else the plan
    with the fewest multiply-adds among those predicted to fit. NoPlan (with the smallest budget) when none fits."""
    layers = problem.layers
    untiled = untiled_bytes(problem, measured)
    full = 2 * conv_macs(layers, 0, problem.deepest, problem.height, problem.width, problem.style_levels)
    if untiled <= budget:
        return Choice(None, untiled, full)
    options = choices(problem, budget, measured)
    fitting = [c for c in options if c.bytes <= budget]
    if not fitting:
        raise NoPlan(budget, min(c.bytes for c in options))
    return min(fitting, key=lambda c: (c.macs, c.bytes))


def smallest_budget(problem, measured=MEASURED):
    """The least budget (bytes) any plan is predicted to fit in."""
    return min(min(c.bytes for c in choices(problem, 0, measured)), untiled_bytes(problem, measured))


def vgg_layers(network="VGG-19", widths=(64, 128, 256, 512, 512)):
    """The geometry of MatConvNet's VGG-19 (or VGG-16) with the real conv widths, and its conv weights' bytes:
    what a run assumes before its weights file is read."""
    from nst.engine.tiling import network_layers
    from nst.weights.matconvnet import NETWORKS, conv_names, layer_order

    names = conv_names(NETWORKS[network])
    shapes, c_in, weights = {}, 3, 0
    for name in names:
        width = widths[int(name[4]) - 1]
        shapes[name], c_in = (3, 3, c_in, width), width
        weights += 4 * (9 * shapes[name][2] * width + width)
    return network_layers(layer_order(names), shapes), weights


def default_budget(meminfo="/proc/meminfo", status="/proc/self/status", share=0.8):
    """A run's budget without --max-memory: `share` of the memory available to it now (MemAvailable, plus what
    this process holds already), or of the machine's memory where /proc/meminfo does not say; None where neither
    is known."""
    try:
        with open(meminfo) as f:
            fields = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f if line.strip()}
        available = fields.get("MemAvailable", fields["MemTotal"])
    except (OSError, KeyError, ValueError, IndexError):
        import os

        try:
            return int(share * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (ValueError, OSError, AttributeError):
            return None
    return int(share * (available + (resident_bytes(status) or 0)))


def resident_bytes(status="/proc/self/status"):
    """This process's resident set now (VmRSS), in bytes; None where the system does not say."""
    try:
        with open(status) as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return None


MMAP_THRESHOLD = 4 * 2**20
"""glibc's mmap threshold for a run: a block this large or larger is mapped on its own and unmapped when freed."""


def give_back_freed_memory():
    """Make what a run frees go back to the system (called before TensorFlow starts, for a run evaluated in tiles
    and in the studio's painter; values the user set are kept).

    TensorFlow's oneDNN CPU allocator keeps every block of 256 KB or more in a pool of its own that never returns
    a region, so a coarse scale's untiled working set stayed resident through a print-size run and the finer
    scales' plans had to leave room for it (a 3840x2160 run in 3 GB peaked at 3.4 GB). TF_ONEDNN_USE_SYSTEM_ALLOCATOR
    makes those blocks malloc's; glibc's mmap threshold fixed at MMAP_THRESHOLD (mallopt; otherwise it rises to
    32 MB as blocks are freed) maps each large tensor on its own and unmaps it when it is freed."""
    import ctypes
    import os

    os.environ.setdefault("TF_ONEDNN_USE_SYSTEM_ALLOCATOR", "1")
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        try:
            ctypes.CDLL("libc.so.6").mallopt(-3, MMAP_THRESHOLD)  # M_MMAP_THRESHOLD
        except (OSError, AttributeError):
            pass


def release():
    """Give back what a finished scale held before the next one is planned: Python's garbage collected, and the
    C heap's free pages returned to the system (glibc's malloc_trim; elsewhere nothing more is done)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def held_beyond_model(problem, held, present, measured=MEASURED):
    """What this process holds now beyond what the memory model counts before a scale's plan (TensorFlow itself,
    the network, and the `present` bytes of this scale's images already made): what earlier scales left behind,
    which the plan must leave room for. 0 where `held` (resident bytes) is not known."""
    if held is None:
        return 0
    return max(0, int(held - measured.runtime - measured.network * problem.weights_bytes - present))


def plan_bytes(problem, plan, measured=MEASURED):
    """The predicted peak resident set of a run of `problem` evaluated under `plan`: fixed_bytes, the most its
    sweeps (or a save point) hold in numpy arrays, and its largest tile's working set (TensorFlow's pool)."""
    pool = 0
    for k, (start, stop) in enumerate(plan.segments(problem.deepest)):
        levels = tuple(
            sorted(
                {level for level in [*problem.style_levels, problem.content_level] if start < level <= stop} | {stop}
            )
        )
        for role, grid in (("forward", plan.forward[k]), ("backward", plan.backward[k])):
            tiling = Tiling(
                problem.layers,
                start,
                stop,
                _axis(problem.layers, start, stop, problem.height, grid[0], levels),
                _axis(problem.layers, start, stop, problem.width, grid[1], levels),
            )
            counted = tile_tensor_bytes(tiling, role, problem.style_levels, problem.content_level, problem.itemsize)
            pool = max(pool, measured.factor(role, problem.itemsize) * counted + measured.tile_overhead)
    return int(fixed_bytes(problem, measured) + _numpy_peak(problem, plan.boundaries, plan.fused, measured) + pool)


def forced_plan(problem, edge, measured=MEASURED):
    """The Choice of `--tile N`: the whole network in one segment, tiles of about edge x edge pixels in both
    sweeps (nst.engine.tiling.single_segment_plan), with its predicted peak and multiply-adds."""
    from nst.engine.tiling import single_segment_plan

    plan = single_segment_plan(max(1, -(-problem.height // edge)), max(1, -(-problem.width // edge)))
    forward, backward = plan_macs(
        problem.layers,
        plan,
        problem.height,
        problem.width,
        problem.style_levels,
        problem.content_level,
        problem.deepest,
    )
    return Choice(plan, plan_bytes(problem, plan, measured), int(forward + backward))


def targets_plan(problem, height, width, allowance, measured=MEASURED):
    """The plan whose forward sweep computes the targets of an image of height x width (a style image at its
    scale, say) with tiles whose working set fits `allowance` bytes: one segment, the fewest multiply-adds
    (the whole image when it fits)."""
    from nst.engine.tiling import single_segment_plan

    sized = dataclasses.replace(problem, height=height, width=width)
    options = _segment_options(sized, 0, sized.deepest, "forward")
    factor = measured.factor("forward", problem.itemsize)
    fitting = [o for o in options if factor * o[0] + measured.tile_overhead <= allowance] or options[:1]
    rows, columns = min(fitting, key=lambda o: o[1])[2]
    return single_segment_plan(rows, columns)


def record(choice, problem, budget):
    """What a plan is, for the log and run.json: {"plan": Plan.record (boundaries by layer name, tile grids),
    "predicted_peak_bytes", "budget_bytes", "work" (its multiply-adds / the untiled evaluation's)}."""
    full = 2 * conv_macs(problem.layers, 0, problem.deepest, problem.height, problem.width, problem.style_levels)
    return {
        **choice.plan.record(problem.layers),
        "predicted_peak_bytes": choice.bytes,
        "budget_bytes": budget,
        "work": round(choice.macs / full, 3),
    }


def describe(plan_record):
    """One line for the log: `tiles: 2 segments (split at avgpool2), forward 1x2 + 1x1, backward 2x2 + fused;
    predicted peak 2.9 GB of 3.0 GB; 1.14x the untiled work`."""
    n = len(plan_record["forward"])
    split = f" (split at {', '.join(plan_record['boundaries'])})" if plan_record["boundaries"] else ""

    def grids(key):
        shown = [f"{r}x{c}" for r, c in plan_record[key]]
        if key == "backward" and plan_record["fused"]:
            shown[-1] = "whole"
        return " + ".join(shown)

    return (
        f"tiles: {n} segment{'s' if n > 1 else ''}{split}, forward sweep {grids('forward')}, backward sweep "
        f"{grids('backward')}; predicted peak {plan_record['predicted_peak_bytes'] / 1e9:.1f} GB of "
        f"{plan_record['budget_bytes'] / 1e9:.1f} GB; {plan_record['work']:.2f}x the untiled work"
    )
