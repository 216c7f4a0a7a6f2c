"""The targets of a run, computed once: the content activations a_C and the style Grams (blended, scaled)."""

import tensorflow as tf

from nst.costs import style_gram
from nst.weights.matconvnet import LAYER_ORDER


def content_target(model, content_image, content_layer):
    """The content activations a_C (1, n_H, n_W, n_C), computed once."""
    return model(tf.constant(content_image), [content_layer])[content_layer]


def style_targets(model, style_image, style_layers):
    """The style Grams {layer: (n_C, n_C)} of the style image, computed once."""
    acts = model(tf.constant(style_image), [name for name, _ in style_layers])
    return {name: style_gram(acts[name]) for name, _ in style_layers}


def style_activations(model, style_image, style_layers):
    """The style image's activations {layer: (1, n_H, n_W, n_C)}: the style target of a run built with the
    caller's own cost functions (nst.engine.objective), which take activations, not Grams."""
    acts = model(tf.constant(style_image), [name for name, _ in style_layers])
    return {name: acts[name] for name, _ in style_layers}


def positions(height, width, layer):
    """n_H * n_W of `layer`'s activations for an (height, width) input: each 2x2 SAME pooling before it halves
    the size, rounding up."""
    for name in LAYER_ORDER[: LAYER_ORDER.index(layer)]:
        if name.startswith("avgpool"):
            height, width = -(-height // 2), -(-width // 2)
    return height * width


def blended_style_targets(model, style_images, blend, style_layers, generated_shape, grams_of=None):
    """Style Grams {layer: (n_C, n_C)} blended over several style images (jcjohnson/neural-style's blending):

    G_target(l) = sum_k w_k * G_k(l) * M_G(l) / M_k(l),   w = blend / sum(blend)  (equal when blend is None),
    M(l) = n_H n_W of layer l. The factor M_G / M_k makes a style image of another size (--style-scale) give a
    Gram of the generated image's scale; it is 1 (and skipped) for same-size images, so one style image of the
    generated size gives exactly the homework's Gram. grams_of(model, style_image, style_layers): how one image's
    Grams are computed (default style_targets; a print-size run's in tiles, nst.engine.tiles.style_targets).
    """
    blend = [1.0] * len(style_images) if blend is None else [float(w) for w in blend]
    weights = [w / sum(blend) for w in blend]
    height, width = generated_shape[1], generated_shape[2]
    total = {}
    for style_image, w in zip(style_images, weights):
        grams = (grams_of or style_targets)(model, style_image, style_layers)
        for name, _ in style_layers:
            G = grams[name]
            ratio = positions(height, width, name) / positions(style_image.shape[1], style_image.shape[2], name)
            if ratio != 1.0:
                G = G * ratio
            if w != 1.0:
                G = G * w
            total[name] = G if name not in total else total[name] + G
    return total
