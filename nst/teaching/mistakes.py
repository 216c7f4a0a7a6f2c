"""Known mistakes in the homework's graded functions, each with a sentence naming it and its fix.

Each one is a wrong variant of the function, computed the way the mistake computes it, with one sentence that
names the mistake and its fix for the learner.

The grader (`nst.teaching.function_checks`) calls a wrong variant on the same inputs as the learner's function
(in its own process: the learner's values come back as data); when both give the same numbers, the sentence is
the feedback. Mistakes that only show in behaviour (shapes hard-coded to the
homework's 4x4x3, NumPy calls that cut the gradient, a missing `return`) have their sentences here too.
"""

import tensorflow as tf

from nst import costs

# --- building blocks: the reference formulas with one part replaceable ------------------------------------


def plain_unroll(a):
    """(1, n_H, n_W, n_C) -> (n_C, n_H*n_W) by a reshape alone (the channels end up mixed with the positions)."""
    return tf.reshape(a, [a.shape[-1], -1])


def gram_transposed(A):
    """A^T A: (n_H*n_W, n_H*n_W) instead of (n_C, n_C)."""
    return tf.matmul(A, A, transpose_a=True)


def content_cost(
    a_C, a_G, denominator=lambda n_H, n_W, n_C: 4 * n_H * n_W * n_C, reduce=tf.reduce_sum, square=tf.square
):
    """The content cost with its parts replaceable: reduce(square(a_C - a_G)) / denominator(n_H, n_W, n_C)."""
    _, n_H, n_W, n_C = a_G.shape
    return reduce(square(a_C - a_G)) / float(denominator(n_H, n_W, n_C))


def layer_style_cost(
    a_S,
    a_G,
    gram=costs.gram_matrix,
    unroll=costs.unroll,
    denominator=lambda n_H, n_W, n_C: 4 * n_C**2 * (n_H * n_W) ** 2,
    reduce=tf.reduce_sum,
    square=tf.square,
):
    """The layer style cost with its parts replaceable: reduce(square(G_S - G_G)) / denominator(n_H, n_W, n_C)
    with G = gram(unroll(a))."""
    _, n_H, n_W, n_C = a_G.shape
    return reduce(square(gram(unroll(a_S)) - gram(unroll(a_G)))) / float(denominator(n_H, n_W, n_C))


def style_cost(style_activations, generated_activations, style_layers, layer_cost=costs.compute_layer_style_cost):
    """The style cost with the layer cost replaceable: sum of lambda_l * layer_cost over style_layers."""
    return tf.add_n(
        [coeff * layer_cost(style_activations[name], generated_activations[name]) for name, coeff in style_layers]
    )


def identity(x):
    return x


# --- the wrong variants, per graded function: (the feedback sentence, the variant) -------------------------


def content_cost_mistakes():
    return [
        (
            "divides by n_H·n_W·n_C only, the 4 is missing (tf.reduce_mean alone gives this too): divide the sum of "
            "squares by 4·n_H·n_W·n_C",
            lambda a_C, a_G: content_cost(a_C, a_G, denominator=lambda h, w, c: h * w * c),
        ),
        (
            "divides by 4 only, n_H·n_W·n_C is missing: divide the sum of squares by 4·n_H·n_W·n_C",
            lambda a_C, a_G: content_cost(a_C, a_G, denominator=lambda h, w, c: 4),
        ),
        (
            "the sum of squares is not normalised: divide it by 4·n_H·n_W·n_C",
            lambda a_C, a_G: content_cost(a_C, a_G, denominator=lambda h, w, c: 1),
        ),
        (
            "divides by n_H·n_W·n_C twice, as tf.reduce_mean followed by the division does (or the style cost's "
            "4·n_C²·(n_H·n_W)²): sum with tf.reduce_sum and divide once by 4·n_H·n_W·n_C",
            lambda a_C, a_G: content_cost(a_C, a_G, reduce=tf.reduce_mean),
        ),
        (
            "the difference is not squared: sum tf.square(a_C - a_G)",
            lambda a_C, a_G: content_cost(a_C, a_G, square=identity),
        ),
        (
            "takes the absolute difference instead of its square: sum tf.square(a_C - a_G)",
            lambda a_C, a_G: content_cost(a_C, a_G, square=tf.abs),
        ),
        (
            "squares the sum of the differences instead of summing their squares: tf.reduce_sum(tf.square(a_C - a_G))",
            lambda a_C, a_G: content_cost(a_C, a_G, reduce=identity, square=lambda d: tf.square(tf.reduce_sum(d))),
        ),
    ]


def gram_matrix_mistakes():
    return [
        (
            "computes AᵀA, an (n_H·n_W)×(n_H·n_W) matrix: the Gram matrix is A·Aᵀ, "
            "tf.matmul(A, tf.transpose(A)), an n_C×n_C matrix",
            gram_transposed,
        ),
        (
            "multiplies element by element (A * A): the Gram matrix is the matrix product A·Aᵀ, "
            "tf.matmul(A, tf.transpose(A))",
            lambda A: A * A,
        ),
        (
            "divides by the number of columns n_H·n_W: the homework's Gram matrix is A·Aᵀ without normalisation "
            "(the style cost normalises)",
            lambda A: costs.gram_matrix(A) / float(A.shape[1]),
        ),
    ]


def layer_style_cost_mistakes():
    def norm(denominator):
        return lambda a_S, a_G: layer_style_cost(a_S, a_G, denominator=denominator)

    return [
        (
            "unrolled with a plain reshape to (n_C, n_H·n_W): reshape to (n_H·n_W, n_C), then transpose",
            lambda a_S, a_G: layer_style_cost(a_S, a_G, unroll=plain_unroll),
        ),
        (
            "computes the Gram matrices as AᵀA: the Gram matrix of the unrolled (n_C, n_H·n_W) activations is A·Aᵀ",
            lambda a_S, a_G: layer_style_cost(a_S, a_G, gram=gram_transposed),
        ),
        ("the factor 4 is missing: divide by 4·n_C²·(n_H·n_W)²", norm(lambda h, w, c: c**2 * (h * w) ** 2)),
        ("the factor n_C² is missing: divide by 4·n_C²·(n_H·n_W)²", norm(lambda h, w, c: 4 * (h * w) ** 2)),
        ("the factor (n_H·n_W)² is missing: divide by 4·n_C²·(n_H·n_W)²", norm(lambda h, w, c: 4 * c**2)),
        ("n_H·n_W is not squared: divide by 4·n_C²·(n_H·n_W)²", norm(lambda h, w, c: 4 * c**2 * h * w)),
        ("n_C is not squared: divide by 4·n_C²·(n_H·n_W)²", norm(lambda h, w, c: 4 * c * (h * w) ** 2)),
        (
            "divides by 4·n_H·n_W·n_C, the content cost's factor: the style cost divides by 4·n_C²·(n_H·n_W)²",
            norm(lambda h, w, c: 4 * h * w * c),
        ),
        ("the sum of squares is not normalised: divide it by 4·n_C²·(n_H·n_W)²", norm(lambda h, w, c: 1)),
        (
            "takes the mean (tf.reduce_mean) and then divides by 4·n_C²·(n_H·n_W)² as well: sum with tf.reduce_sum",
            lambda a_S, a_G: layer_style_cost(a_S, a_G, reduce=tf.reduce_mean),
        ),
        (
            "the difference of the Gram matrices is not squared: sum tf.square(GS - GG)",
            lambda a_S, a_G: layer_style_cost(a_S, a_G, square=identity),
        ),
    ]


def style_cost_mistakes():
    def layers(style_activations, generated_activations, style_layers):
        return [
            costs.compute_layer_style_cost(style_activations[name], generated_activations[name])
            for name, _ in style_layers
        ]

    return [
        (
            "the λ of the style layers is ignored: multiply each layer's cost by its coefficient before adding",
            lambda S, G, style_layers: tf.add_n(layers(S, G, style_layers)),
        ),
        (
            "averages the layers' costs instead of weighting each by its λ: add coeff · J_style_layer over the layers",
            lambda S, G, style_layers: tf.add_n(layers(S, G, style_layers)) / len(style_layers),
        ),
        (
            "keeps only the last layer's cost (J_style = ... replaces the sum): add each layer's with J_style += "
            "coeff · J_style_layer",
            lambda S, G, style_layers: style_layers[-1][1] * layers(S, G, style_layers)[-1],
        ),
        (
            "ignores its style_layers argument (uses the global STYLE_LAYERS): loop over style_layers",
            lambda S, G, style_layers: style_cost(S, G, costs.STYLE_LAYERS),
        ),
    ]


def total_cost_mistakes():
    return [
        (
            "α and β are swapped: J = α·J_content + β·J_style",
            lambda J_content, J_style, alpha=costs.ALPHA, beta=costs.BETA: alpha * J_style + beta * J_content,
        ),
        (
            "the weights are missing: J = α·J_content + β·J_style",
            lambda J_content, J_style, alpha=costs.ALPHA, beta=costs.BETA: J_content + J_style,
        ),
        (
            "ignores its alpha and beta arguments (always 10 and 40): use alpha and beta",
            lambda J_content, J_style, alpha=costs.ALPHA, beta=costs.BETA: (
                costs.ALPHA * J_content + costs.BETA * J_style
            ),
        ),
    ]


MISTAKES = {  # graded function -> function returning its [(sentence, wrong variant), ...]
    "compute_content_cost": content_cost_mistakes,
    "gram_matrix": gram_matrix_mistakes,
    "compute_layer_style_cost": layer_style_cost_mistakes,
    "compute_style_cost": style_cost_mistakes,
    "total_cost": total_cost_mistakes,
}


def built_on(name, args, helper_values):
    """The reference formula of graded function `name` on `args`, built on the values the learner's own helper
    gave on the formula's steps (`function_checks.helper_inputs`: the two unrolled activations for
    compute_layer_style_cost, each style layer's cost for compute_style_cost): what the learner's function gives
    when only its helper is wrong."""
    if name == "compute_layer_style_cost":
        a_S, a_G = args
        GS, GG = (tf.constant(v, tf.float32) for v in helper_values)
        _, n_H, n_W, n_C = a_G.shape
        return tf.reduce_sum(tf.square(GS - GG)) / float(4 * n_C**2 * (n_H * n_W) ** 2)
    if name == "compute_style_cost":
        _, _, style_layers = args
        return tf.add_n([coeff * tf.constant(v, tf.float32) for (_, coeff), v in zip(style_layers, helper_values)])
    raise ValueError(f"{name} uses no other graded function")


# --- mistakes seen in behaviour only -------------------------------------------------------------------------

RESULT_NAMES = {
    "compute_content_cost": "J_content",
    "gram_matrix": "GA",
    "compute_layer_style_cost": "J_style_layer",
    "compute_style_cost": "J_style",
    "total_cost": "J",
}


def not_implemented():
    return "not implemented yet: replace `raise NotImplementedError()` with your code"


def returns_none(name):
    return f"returns None: end the function with `return {RESULT_NAMES[name]}`"


def hard_coded_shapes(homework_shape):
    return (
        f"right on the homework's {homework_shape} test input but not on other shapes, so a size is "
        "hard-coded: take the sizes (n_H, n_W, n_C) from the input's .shape instead of writing numbers"
    )


def numpy_value(kind):
    return (
        f"the value is right but it is {kind}, not a TensorFlow tensor: a NumPy call (np.sum, np.dot, "
        ".numpy(), ...) cuts the gradient the optimisation needs, so use TensorFlow operations "
        "(tf.reduce_sum, tf.square, tf.matmul, ...)"
    )


def gradient_cut():
    return (
        "the value is right but its gradient is missing (None or zero): it went through NumPy or tf.constant, "
        "which TensorFlow cannot differentiate, so use TensorFlow operations from the inputs to the result"
    )


def dependency_wrong(helper, through=None):
    uses = f"which this function uses through {through}" if through else "which this function uses"
    return f"{helper}, {uses}, is not right yet: fix {helper} and this function gives the right values too"


def helped(helper, through=None):
    uses = f"which it uses through {through}" if through else "which it uses"
    return (
        f"right in itself, but its values are off because {helper}, {uses}, is not right yet (with a "
        f"correct {helper} it passes)"
    )
