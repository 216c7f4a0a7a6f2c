"""The objective of a run: J(image) = alpha J_content + beta J_style (+ TV) for fixed targets, and its gradient.

Built once from resolved values (the network, the targets, the `Weights`, the precision), with the homework's cost
functions (nst.costs) or the caller's own under the homework's names (a student's notebook:
{"compute_content_cost": f, "compute_style_cost": g, "total_cost": h}, any subset; gram_matrix and
compute_layer_style_cost reach the run through the caller's compute_style_cost, whose style target is then the style
image's activations instead of its Grams, nst.engine.targets.style_activations).
"""

import dataclasses
from collections.abc import Callable, Mapping

import tensorflow as tf

from nst.costs import (
    compute_content_cost,
    compute_style_cost,
    layer_style_cost_from_gram,
    total_cost,
    total_variation_cost,
)
from nst.engine import device
from nst.engine.network import activations, kernels
from nst.errors import NstError
from nst.homework import ALPHA, BETA, CONTENT_LAYER, STYLE_LAYERS

CALLER_FUNCTIONS = ("compute_content_cost", "compute_style_cost", "total_cost")
PRECISIONS = {"fp32": tf.float32, "bf16": tf.bfloat16}  # the dtype the VGG convolutions run in


@dataclasses.dataclass(frozen=True)
class Weights:
    """What J is made of: the content layer, the style layers with their lambdas, alpha, beta and the TV weight."""

    content_layer: str = CONTENT_LAYER
    style_layers: tuple = STYLE_LAYERS
    alpha: float = ALPHA
    beta: float = BETA
    tv_weight: float = 0.0

    @property
    def layers(self):
        return [self.content_layer] + [name for name, _ in self.style_layers]


class Abandoned(Exception):
    """An evaluation given up part-way because the run was asked to stop (a tiled evaluation checks between
    tiles: at print size one takes minutes). `costs`: (J, J_content, J_style) of the image evaluated when they were
    known before it gave up, else None."""

    def __init__(self, costs=None):
        super().__init__("evaluation abandoned: the run was asked to stop")
        self.costs = costs


@dataclasses.dataclass(frozen=True)
class Objective:
    """J of an image and its gradient, for fixed targets.

    costs: image (1, H, W, 3) float32 -> (J, J_content, J_style), traceable.
    value_and_grad: image -> (J, J_content, J_style, dJ/dimage), compiled (or a Python function over tiles).
    fused: whether an optimiser may trace `costs` and its update in one tf.function (False for a tiled objective).
    plan: how it is evaluated, for the log and run.json; None: the whole image at once.
    """

    costs: Callable
    value_and_grad: Callable
    fused: bool = True
    plan: dict | None = None


def objective(model, a_C, style_target, weights=Weights(), precision="fp32", input_gradient=None, functions=None):
    """The Objective for fixed targets a_C and `style_target` (the style Grams; the style image's activations when
    the caller gives its own cost `functions`).

    precision: "fp32" (the homework's) or "bf16" (convolutions in bfloat16, Grams and costs in float32).
    input_gradient: how the gradient through each conv is computed ("rotated" or "tf", nst.engine.network);
    None: the choice for this machine's CPU and precision (nst.engine.device.input_gradient).
    """
    content_cost, style_cost, total = cost_parts(weights.style_layers, functions)
    if input_gradient is None:
        input_gradient = device.input_gradient(device.read_cpuinfo(), precision)
    compute = PRECISIONS[precision]
    layers = weights.layers
    model.check_layers(layers)
    prepared = kernels(model, compute, input_gradient, layers)

    def costs(image):
        if compute == tf.float32:  # the default: the image's own dtype (float32; float64 in the gradient test)
            k = prepared if image.dtype == compute else kernels(model, image.dtype, input_gradient, layers, eager=False)
            acts = activations(model, k, image, layers)
        else:  # --precision bf16: convolutions in bfloat16, Grams and costs in float32
            acts = {
                name: tf.cast(a, tf.float32)
                for name, a in activations(model, prepared, tf.cast(image, compute), layers).items()
            }
        J_content = content_cost(a_C, acts[weights.content_layer])
        J_style = style_cost(style_target, acts)
        J = total(J_content, J_style, weights.alpha, weights.beta)
        if weights.tv_weight:  # --tv-weight: J += tv_weight * TV(image)
            J = J + weights.tv_weight * total_variation_cost(image)
        return J, J_content, J_style

    return Objective(costs, value_and_grad_of(costs))


def value_and_grad_of(costs):
    """A compiled call image (1, H, W, 3) -> (J, J_content, J_style, dJ/dimage): value and gradient at once."""

    @tf.function
    def value_and_grad(image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            J, J_content, J_style = costs(image)
        return J, J_content, J_style, tape.gradient(J, image)

    return value_and_grad


def cost_parts(style_layers, functions=None):
    """(content_cost(a_C, a_G), style_cost(style_target, generated activations), total(Jc, Js, alpha, beta)).

    Without `functions`: nst.costs's, the style target being the style Grams {layer: (n_C, n_C)} computed once.
    With `functions`: the caller's (missing names: nst.costs's), the style target being the style image's
    activations {layer: (1, n_H, n_W, n_C)}, passed to compute_style_cost(style_target, acts, style_layers).
    """
    if functions is None:

        def style_cost_from_grams(grams, acts):
            return tf.add_n(
                [coeff * layer_style_cost_from_gram(grams[name], acts[name]) for name, coeff in style_layers]
            )

        return compute_content_cost, style_cost_from_grams, total_cost
    functions = check_functions(functions)
    caller_style_cost = functions.get("compute_style_cost", compute_style_cost)

    def style_cost(style_acts, acts):
        return caller_style_cost(style_acts, acts, style_layers)

    content_cost = functions.get("compute_content_cost", compute_content_cost)
    return content_cost, style_cost, functions.get("total_cost", total_cost)


def check_functions(functions):
    """`functions` as a dict {name: callable} with names from CALLER_FUNCTIONS; NstError (one line) otherwise."""
    if not isinstance(functions, Mapping):
        raise NstError(f"functions must map homework function names to functions, got {type(functions).__name__}")
    unknown = [name for name in functions if name not in CALLER_FUNCTIONS]
    if unknown:
        raise NstError(
            f"functions: unknown name(s) {', '.join(map(repr, unknown))}; a run takes "
            f"{', '.join(CALLER_FUNCTIONS)} (gram_matrix and compute_layer_style_cost reach it "
            "through compute_style_cost)"
        )
    not_callable = [name for name, f in functions.items() if not callable(f)]
    if not_callable:
        raise NstError(f"functions: {', '.join(map(repr, not_callable))} is not callable")
    return dict(functions)
