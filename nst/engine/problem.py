"""What a run paints, resolved: the network, the images, the objective's weights; and its objective at any size.

Coarse-to-fine asks for the objective at each scale's size: the content image resized to it, the style images
resized by the style scale, their targets computed then (nst.engine.targets).
"""

import dataclasses
from collections.abc import Callable

import numpy as np

from nst.engine import memory, tiles
from nst.engine.network import VGG
from nst.engine.objective import Weights, check_functions, objective
from nst.engine.targets import blended_style_targets, content_target, style_activations
from nst.engine.tiling import level_of
from nst.errors import NstError
from nst.images import MEANS, reshape_and_normalize_image, resize_image


@dataclasses.dataclass(frozen=True)
class Problem:
    """The network and the images of a run with its objective's settings, all resolved.

    content: (1, H, W, 3) normalized, at the output size. styles: the style images (h, w, 3) in 0..255 as read.
    style_blend: one weight per style image (None: equal). style_scale: the style images are resized to the
    scale's size times this before their Grams are taken. precision: "fp32" or "bf16" (resolved, not "auto").
    input_gradient: "rotated", "tf" or None (this CPU's choice). functions: the caller's cost functions by their
    homework names (nst.engine.objective), or None. max_memory: the bytes the run may hold (None: 80 percent of the
    memory available, nst.engine.memory.default_budget); the objective at a size is evaluated in tiles when the
    whole image does not fit (nst.engine.memory.plan_for). tile: a forced tile edge in pixels (--tile). on_tile:
    called after each tile of a tiled evaluation, (sweep, segment, tile, tiles) (progress).
    """

    model: VGG
    content: np.ndarray
    styles: tuple
    weights: Weights = Weights()
    style_blend: tuple | None = None
    style_scale: float = 1.0
    precision: str = "fp32"
    input_gradient: str | None = None
    functions: dict | None = None
    max_memory: int | None = None
    tile: int | None = None
    on_tile: Callable | None = None

    def __post_init__(self):
        if self.functions is not None:
            object.__setattr__(self, "functions", check_functions(self.functions))
            if len(self.styles) != 1:
                raise NstError(f"a run with the caller's cost functions takes one style image, got {len(self.styles)}")


def content_at(problem, width, height):
    """The content image (1, height, width, 3), normalized: the run's own at the output size, else resized."""
    content = problem.content
    if (content.shape[2], content.shape[1]) == (width, height):
        return content
    return reshape_and_normalize_image(resize_image(content[0] + MEANS[0], width, height))


def styles_at(problem, width, height):
    """The style images (1, h, w, 3), normalized, resized to (width, height) times the style scale."""
    size = (max(1, round(width * problem.style_scale)), max(1, round(height * problem.style_scale)))
    return [reshape_and_normalize_image(resize_image(image, *size)) for image in problem.styles]


def objective_at(problem, width, height, optimizer="adam", lbfgs_history=10, stop=None):
    """The Objective of `problem` at width x height, its targets computed now: whole, or in the tiles of the plan
    that fits the run's memory (its record in Objective.plan). optimizer ("adam" or "lbfgs", with `lbfgs_history`
    correction pairs): whose state the memory holds besides. stop (a threading.Event): a tiled evaluation gives
    up between tiles once it is set (nst.engine.objective.Abandoned), so that a stop at print size is quick."""
    content = content_at(problem, width, height)
    styles = styles_at(problem, width, height)
    present = content.nbytes + sum(s.nbytes for s in styles)
    choice, record = memory_plan(
        problem, width, height, [s.shape[1:3] for s in styles], optimizer, lbfgs_history, present
    )
    if choice is not None and choice.plan is not None:
        if problem.functions is not None:
            raise NstError(
                f"{width}x{height} is computed in tiles to fit the memory, and a run with your own cost "
                "functions is evaluated whole: paint a smaller size or give more --max-memory"
            )
        return tiled_objective_at(problem, content, styles, choice, record, stop)
    a_C = content_target(problem.model, content, problem.weights.content_layer)
    if problem.functions is not None:
        style_target = style_activations(problem.model, styles[0], problem.weights.style_layers)
    else:
        style_target = blended_style_targets(
            problem.model, styles, problem.style_blend, problem.weights.style_layers, content.shape
        )
    return objective(
        problem.model, a_C, style_target, problem.weights, problem.precision, problem.input_gradient, problem.functions
    )


def memory_problem(problem, width, height, style_shapes, optimizer="adam", lbfgs_history=10):
    """The memory model's Problem (nst.engine.memory) of `problem` at width x height."""
    layers = tiles.layers_of(problem.model)
    weights_bytes = sum(4 * (int(np.prod(W.shape)) + int(np.prod(b.shape))) for W, b in problem.model.weights.values())
    return memory.Problem(
        layers,
        weights_bytes,
        height,
        width,
        tuple(level_of(layers, name) for name, _ in problem.weights.style_layers),
        level_of(layers, problem.weights.content_layer),
        2 if problem.precision == "bf16" else 4,
        optimizer,
        lbfgs_history,
        tuple(tuple(shape) for shape in style_shapes),
    )


def memory_plan(problem, width, height, style_shapes, optimizer="adam", lbfgs_history=10, present=0):
    """(the memory Choice at width x height, its record for the log and run.json), or (None, None) where the
    machine's memory is not known and no budget was given. NstError (one line) when no plan fits.

    The plan leaves room for what the process holds now beyond the model's count (memory.held_beyond_model: what
    earlier scales left behind; `present`: the bytes of this scale's images, made already); when nothing fits
    that, the plan that fits the whole budget is taken (what is held may yet be given back)."""
    budget = problem.max_memory if problem.max_memory is not None else memory.default_budget()
    if budget is None and problem.tile is None:
        return None, None
    sized = memory_problem(problem, width, height, style_shapes, optimizer, lbfgs_history)
    if problem.tile is not None:
        choice = memory.forced_plan(sized, problem.tile)
    else:
        left = memory.held_beyond_model(sized, memory.resident_bytes(), present) if budget is not None else 0
        try:
            choice = memory.plan_for(sized, budget - left)
        except memory.NoPlan:
            try:
                choice = memory.plan_for(sized, budget)
            except memory.NoPlan as refused:
                raise NstError(
                    f"{width}x{height} needs at least {refused.smallest / 1e9:.1f} GB by any plan of "
                    f"tiles, more than the budget of {budget / 1e9:.1f} GB: give more --max-memory or "
                    "paint a smaller size"
                ) from None
    return choice, (memory.record(choice, sized, budget) if choice.plan is not None else None)


def tiled_objective_at(problem, content, styles, choice, record, stop=None):
    """The tiled Objective (nst.engine.tiles) for `choice`'s plan: the content target and the style Grams computed
    in tiles too (a style image of another size in tiles of its own that fit the same memory)."""
    model, weights = problem.model, problem.weights
    plan = choice.plan
    a_C = tiles.content_target(model, content, weights.content_layer, plan)
    sized = memory_problem(problem, content.shape[2], content.shape[1], [s.shape[1:3] for s in styles])
    allowance = (record["budget_bytes"] or choice.bytes) - memory.fixed_bytes(sized)

    def grams_of(model, image, style_layers):
        style_plan = (
            plan
            if image.shape == content.shape
            else memory.targets_plan(sized, image.shape[1], image.shape[2], allowance)
        )
        return tiles.style_targets(model, image, style_layers, style_plan)

    grams = blended_style_targets(model, styles, problem.style_blend, weights.style_layers, content.shape, grams_of)
    tiled = tiles.tiled_objective(
        model,
        a_C,
        grams,
        weights,
        plan,
        problem.precision,
        problem.input_gradient,
        on_tile=problem.on_tile,
        should_stop=None if stop is None else stop.is_set,
    )
    return dataclasses.replace(tiled, plan=record)
