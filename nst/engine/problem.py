"""What a run paints, resolved: the network, the images, the objective's weights; and its objective at any size.

Coarse-to-fine asks for the objective at each scale's size: the content image resized to it, the style images
resized by the style scale, their targets computed then (nst.engine.targets).
"""

import dataclasses

import numpy as np

from nst.engine.network import VGG
from nst.engine.objective import Weights, check_functions, objective
from nst.engine.targets import blended_style_targets, content_target, style_activations
from nst.errors import NstError
from nst.images import MEANS, reshape_and_normalize_image, resize_image


@dataclasses.dataclass(frozen=True)
class Problem:
    """The network and the images of a run with its objective's settings, all resolved.

    content: (1, H, W, 3) normalized, at the output size. styles: the style images (h, w, 3) in 0..255 as read.
    style_blend: one weight per style image (None: equal). style_scale: the style images are resized to the
    scale's size times this before their Grams are taken. precision: "fp32" or "bf16" (resolved, not "auto").
    input_gradient: "rotated", "tf" or None (this CPU's choice). functions: the caller's cost functions by their
    homework names (nst.engine.objective), or None.
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


def objective_at(problem, width, height):
    """The Objective of `problem` at width x height, its targets computed now."""
    content = content_at(problem, width, height)
    styles = styles_at(problem, width, height)
    a_C = content_target(problem.model, content, problem.weights.content_layer)
    if problem.functions is not None:
        style_target = style_activations(problem.model, styles[0], problem.weights.style_layers)
    else:
        style_target = blended_style_targets(problem.model, styles, problem.style_blend, problem.weights.style_layers,
                                             content.shape)
    return objective(problem.model, a_C, style_target, problem.weights, problem.precision, problem.input_gradient,
                     problem.functions)
