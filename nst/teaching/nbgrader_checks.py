"""nbgrader's autograder tests for the homework notebook: each graded function checked in the notebook's own kernel.

Each test cell of notebooks/homework.ipynb (an nbgrader "autograder tests" cell worth 1 point, tagged
`not-graded` so that `nst grade` skips it) calls `check_function(name, globals())`: the function on the
homework's own test inputs against its published output, then on fresh random inputs of other shapes (a
realistic one among them) against nst.costs, and, for the functions that use another graded one, with nst's
version of that one in its place, so that one mistake costs one point. A wrong function fails with an
AssertionError naming the known mistake when it is one (nst.teaching.mistakes).

These run where nbgrader runs them: in the kernel the student's cells ran in, so a notebook can change what they
see (redefine NumPy, nst or this module): their points are right for honest work, no more. `nst grade` runs
each submission in a sandbox and computes every point outside it.
"""

import contextlib
import secrets

import numpy as np

RTOL, ATOL = 1e-4, 1e-6
HELPERS = {"compute_layer_style_cost": "gram_matrix", "compute_style_cost": "compute_layer_style_cost"}
"""The graded function each one uses: replaced by nst's during its check."""


def check_function(name, namespace, seed=None):
    """Check graded function `name` as `namespace` (the notebook's globals()) defines it: AssertionError with one
    sentence when it is wrong; prints one line when it is right."""
    function = namespace.get(name)
    if not callable(function):
        raise AssertionError(f"{name} is not defined: run the cell that defines it")
    rng = np.random.default_rng(secrets.randbits(64) if seed is None else seed)
    with reference_helper(namespace, HELPERS.get(name)):
        cases = CASES[name](rng)
        for label, args, expected in cases:
            try:
                value = np.asarray(function(*args), dtype=np.float64)
            except NotImplementedError:
                raise AssertionError(
                    f"{name} is not implemented yet: replace `raise NotImplementedError()` with your code"
                ) from None
            if value.shape != np.shape(expected) or not np.allclose(value, expected, rtol=RTOL, atol=ATOL):
                raise AssertionError(
                    f"{name} is wrong {label}: got {summary(value)}, expected "
                    f"{summary(expected)}{mistake(name, args, value)}"
                )
    print(f"{name}: right on the homework's inputs and {len(cases) - 1} new random ones")


@contextlib.contextmanager
def reference_helper(namespace, helper):
    """nst's version of graded function `helper` in `namespace` while the block runs (nothing when None)."""
    if helper is None:
        yield
        return
    from nst import costs

    saved = namespace.get(helper)
    namespace[helper] = getattr(costs, helper)
    try:
        yield
    finally:
        namespace[helper] = saved


def summary(value):
    value = np.asarray(value, dtype=np.float64)
    return f"{float(value):.7g}" if value.ndim == 0 else f"an array of shape {value.shape}"


def mistake(name, args, value):
    """ "; the known mistake: <its sentence>" when one of nst.teaching.mistakes gives `value` on `args`, else ""."""
    from nst.teaching import mistakes

    variants = {
        "compute_content_cost": mistakes.content_cost_mistakes,
        "gram_matrix": mistakes.gram_matrix_mistakes,
        "compute_layer_style_cost": mistakes.layer_style_cost_mistakes,
        "compute_style_cost": mistakes.style_cost_mistakes,
        "total_cost": mistakes.total_cost_mistakes,
    }[name]
    for sentence, variant in variants():
        try:
            theirs = np.asarray(variant(*args), dtype=np.float64)
        except Exception:  # noqa: BLE001 - a variant that does not apply to these inputs
            continue
        if theirs.shape == value.shape and np.allclose(theirs, value, rtol=RTOL, atol=ATOL):
            return f"; the known mistake: {sentence}"
    return ""


def activations(rng, *shapes):
    import tensorflow as tf

    return [tf.constant(rng.normal(1, 4, shape), tf.float32) for shape in shapes]


def content_cases(rng):
    import tensorflow as tf

    from nst import costs
    from nst.teaching.homework_values import EXPECTED, homework_random_normals

    cases = [
        (
            "on the homework's inputs",
            [tf.constant(a) for a in homework_random_normals([1, 4, 4, 3], [1, 4, 4, 3])],
            EXPECTED["J_content"],
        )
    ]
    for shape in ((1, 3, 5, 7), (1, 38, 50, 16)):
        args = activations(rng, shape, shape)
        cases.append((f"on activations of shape {shape}", args, costs.compute_content_cost(*args).numpy()))
    return cases


def gram_cases(rng):
    import tensorflow as tf

    from nst import costs
    from nst.teaching.homework_values import EXPECTED, homework_random_normals

    cases = [("on the homework's A", [tf.constant(homework_random_normals([3, 2])[0])], np.array(EXPECTED["GA"]))]
    for shape in ((5, 7), (16, 1900)):
        args = activations(rng, shape)
        cases.append((f"on A of shape {shape}", args, costs.gram_matrix(*args).numpy()))
    return cases


def layer_style_cases(rng):
    import tensorflow as tf

    from nst import costs
    from nst.teaching.homework_values import EXPECTED, homework_random_normals

    cases = [
        (
            "on the homework's inputs",
            [tf.constant(a) for a in homework_random_normals([1, 4, 4, 3], [1, 4, 4, 3])],
            EXPECTED["J_style_layer"],
        )
    ]
    for shape in ((1, 3, 5, 7), (1, 19, 25, 32)):
        args = activations(rng, shape, shape)
        cases.append((f"on activations of shape {shape}", args, costs.compute_layer_style_cost(*args).numpy()))
    return cases


def style_cases(rng):
    from nst import costs

    shapes = {
        "conv1_1": (1, 6, 8, 4),
        "conv2_1": (1, 3, 4, 5),
        "conv3_1": (1, 2, 2, 6),
        "conv4_1": (1, 1, 1, 7),
        "conv5_1": (1, 1, 1, 7),
    }
    cases = []
    for k in range(3):
        S = dict(zip(shapes, activations(rng, *shapes.values())))
        G = dict(zip(shapes, activations(rng, *shapes.values())))
        weights = rng.dirichlet(np.ones(len(shapes)))
        layers = [(name, float(w)) for name, w in zip(shapes, weights)][: 5 - k]  # weights not all equal
        label = "on the homework's layers with their weights" if k == 0 else f"on {len(layers)} layers"
        expected = costs.compute_style_cost(S, G, costs.STYLE_LAYERS if k == 0 else layers).numpy()
        cases.append((label, [S, G] if k == 0 else [S, G, layers], expected))
    return cases


def total_cases(rng):
    from nst import costs
    from nst.teaching.homework_values import EXPECTED

    state = np.random.RandomState(3)  # the homework's: np.random.seed(3), two draws
    cases = [("on the homework's J_content and J_style", [state.randn(), state.randn()], EXPECTED["J"])]
    for _ in range(2):
        J_content, J_style, alpha, beta = rng.uniform(0.1, 100, 4)
        cases.append(
            (
                f"with alpha={alpha:.4g} and beta={beta:.4g}",
                [J_content, J_style, alpha, beta],
                costs.total_cost(J_content, J_style, alpha, beta),
            )
        )
    return cases


CASES = {
    "compute_content_cost": content_cases,
    "gram_matrix": gram_cases,
    "compute_layer_style_cost": layer_style_cases,
    "compute_style_cost": style_cases,
    "total_cost": total_cases,
}
