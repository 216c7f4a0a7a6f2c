"""The homework's cost functions (graded functions of the assignment), TF2 eager/tf.function ready.

Activations have shape (m, n_H, n_W, n_C) with m = 1. All costs are float32 scalars.
"""

import tensorflow as tf

from nst.homework import ALPHA, BETA, CONTENT_LAYER, STYLE_LAYERS  # noqa: F401  (the homework's constants)


def compute_content_cost(a_C, a_G):
    """J_content = 1 / (4 n_H n_W n_C) * sum((a_C - a_G)^2).

    a_C, a_G: (1, n_H, n_W, n_C) activations of the content and the generated image.
    """
    _, n_H, n_W, n_C = a_G.shape
    return tf.reduce_sum(tf.square(a_C - a_G)) / float(4 * n_H * n_W * n_C)


def gram_matrix(A):
    """G_A = A A^T for A of shape (n_C, n_H*n_W); returns (n_C, n_C)."""
    return tf.matmul(A, A, transpose_b=True)


def unroll(a):
    """(1, n_H, n_W, n_C) -> (n_C, n_H*n_W): reshape to (n_H*n_W, n_C), then transpose (as the homework does)."""
    n_C = a.shape[-1]
    return tf.transpose(tf.reshape(a, [-1, n_C]))


def style_gram(a):
    """The Gram matrix of one layer's activations a (1, n_H, n_W, n_C): (n_C, n_C), gram_matrix(unroll(a)).

    Computed as F^T F with F = reshape(a, (n_H n_W, n_C)), the same sum without a transposed copy of the
    activations, and with its gradient as one matmul, dF = F (dG + dG^T), where TF's own gradient of the
    homework's form takes two matmuls of F, a transpose of the result and their sum.
    """
    F = tf.reshape(a, [-1, a.shape[-1]])

    @tf.custom_gradient
    def gram(F):
        def grad(dG):
            return tf.matmul(F, dG + tf.transpose(dG))

        return tf.matmul(F, F, transpose_a=True), grad

    return gram(F)


def layer_style_cost_from_gram(G_S, a_G):
    """J_style_layer from a precomputed style Gram G_S (n_C, n_C) and generated activations a_G.

    J = 1 / (4 n_C^2 (n_H n_W)^2) * sum((G_S - G_G)^2).
    """
    _, n_H, n_W, n_C = a_G.shape
    G_G = style_gram(a_G)
    return tf.reduce_sum(tf.square(G_S - G_G)) / float(4 * n_C**2 * (n_H * n_W) ** 2)


def compute_layer_style_cost(a_S, a_G):
    """J_style_layer = 1 / (4 n_C^2 (n_H n_W)^2) * sum((G_S - G_G)^2), G = gram_matrix(unroll(a)).

    a_S, a_G: (1, n_H, n_W, n_C) activations of the style and the generated image.
    """
    return layer_style_cost_from_gram(style_gram(a_S), a_G)


def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
    """J_style = sum_l lambda_l * J_style_layer(l) over `style_layers` = ((layer_name, lambda_l), ...).

    style_activations, generated_activations: dicts layer_name -> (1, n_H, n_W, n_C) activations.
    """
    return tf.add_n(
        [
            coeff * compute_layer_style_cost(style_activations[name], generated_activations[name])
            for name, coeff in style_layers
        ]
    )


def total_cost(J_content, J_style, alpha=ALPHA, beta=BETA):
    """J = alpha * J_content + beta * J_style."""
    return alpha * J_content + beta * J_style


def total_variation_cost(image):
    """Total variation (smoothness) of an image (1, H, W, 3), the squared form of Mahendran & Vedaldi:

    TV = mean((x[:, i+1, j] - x[:, i, j])^2) + mean((x[:, i, j+1] - x[:, i, j])^2)
    (means over all vertical / horizontal neighbour pairs and channels; as anishathalye/neural-style).
    """
    dy = image[:, 1:, :, :] - image[:, :-1, :, :]
    dx = image[:, :, 1:, :] - image[:, :, :-1, :]
    return tf.reduce_mean(tf.square(dy)) + tf.reduce_mean(tf.square(dx))
