"""The objective of a run: J(image) = alpha J_content + beta J_style (+ TV) for fixed targets, in fp32 or bf16."""

import tensorflow as tf

from nst import device
from nst.costs import total_variation_cost
from nst.cost_functions import cost_parts


def cost_function(model, a_C, style_target, cfg, functions=None, input_gradient=None):
    """image (1, H, W, 3) -> (J, J_content, J_style) for fixed targets a_C and `style_target` (the style Grams; the
    style image's activations when the caller gives its own cost `functions`, see nst.cost_functions).

    input_gradient: how the gradient through each conv is computed ("rotated" or "tf", see nst.vgg.conv2d_same);
    None: the choice for this machine's CPU and cfg.precision (nst.device.input_gradient).
    """
    layers = [cfg.content_layer] + [name for name, _ in cfg.style_layers]
    content_cost, style_cost, total = cost_parts(cfg, functions)
    if input_gradient is None:
        input_gradient = device.input_gradient(device.read_cpuinfo(), cfg.precision)

    compute = compute_dtype(cfg.precision)

    def costs(image):
        if compute == tf.float32:  # the default: the image's own dtype (float32; float64 in the gradient test)
            acts = model(image, layers, input_gradient)
        else:  # --precision bf16: convolutions in bfloat16, Grams and costs in float32
            acts = {name: tf.cast(a, tf.float32)
                    for name, a in model(tf.cast(image, compute), layers, input_gradient).items()}
        J_content = content_cost(a_C, acts[cfg.content_layer])
        J_style = style_cost(style_target, acts)
        J = total(J_content, J_style, cfg.alpha, cfg.beta)
        if cfg.tv_weight:  # --tv-weight: J += tv_weight * TV(image)
            J = J + cfg.tv_weight * total_variation_cost(image)
        return J, J_content, J_style

    return costs


def compute_dtype(precision):
    """The dtype the VGG convolutions run in: "fp32" -> float32 (the default), "bf16" -> bfloat16."""
    return {"fp32": tf.float32, "bf16": tf.bfloat16}[precision]


def make_value_and_grad(costs):
    """A compiled call image (1, H, W, 3) -> (J, J_content, J_style, dJ/dimage): value and gradient at once."""

    @tf.function
    def value_and_grad(image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            J, J_content, J_style = costs(image)
        return J, J_content, J_style, tape.gradient(J, image)

    return value_and_grad
