"""Checking the homework's graded functions by their behaviour, never by their source.

Values against `nst.costs` on the homework's own inputs (its published outputs) and on non-square shapes, a TensorFlow tensor with the
reference's gradient, the same value inside tf.function; when wrong, which known mistake (`nst.teaching.mistakes`) it is.

`check_all(namespace)` checks the five functions found in a namespace (a dict of name -> object, e.g. a kernel's
`globals()`); `nst grade` runs `show(name, globals(), wrong)` in each submission's kernel, which displays the
result as JSON under the MIME type `MIME`.
"""

import types

import numpy as np
import tensorflow as tf

from nst import costs
from nst.teaching import mistakes
from nst.teaching.grader import GRADED, MIME
from nst.teaching.homework_values import EXPECTED, TOLERANCE, homework_random_normals

REFERENCES = {name: getattr(costs, name) for name in GRADED}
# graded functions that call other graded ones: when those are wrong, they are checked with ours in their place
HELPERS = {"compute_layer_style_cost": ("gram_matrix",), "compute_style_cost": ("compute_layer_style_cost",)}
RTOL = 1e-5  # values against the reference
GRAD_RTOL = 1e-4  # gradients against the reference's
RANDOM_SHAPES = ((1, 5, 7, 6), (1, 9, 4, 5), (1, 3, 11, 8))  # n_H != n_W, n_C != 3, every factor different
CUSTOM_STYLE_LAYERS = (("conv1_1", 0.1), ("conv3_1", 0.5), ("conv5_1", 0.4))


# --- the inputs: (label, arguments, the homework's published output or None) ------------------------------

def random_normals(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [tf.constant(rng.normal(1, 4, shape).astype(np.float32)) for shape in shapes]


def activation_cases(published):
    a, b = homework_random_normals([1, 4, 4, 3], [1, 4, 4, 3])
    cases = [("the homework's test inputs", (tf.constant(a), tf.constant(b)), published)]
    for seed, shape in enumerate(RANDOM_SHAPES):
        cases.append((f"inputs of shape {shape}", tuple(random_normals(seed, shape, shape)), None))
    return cases


def gram_cases():
    (A,) = homework_random_normals([3, 2])
    cases = [("the homework's test input", (tf.constant(A),), EXPECTED["GA"])]
    for seed, (_, h, w, c) in enumerate(RANDOM_SHAPES):
        cases.append((f"an input of shape {(c, h * w)}", tuple(random_normals(seed, (c, h * w))), None))
    return cases


def style_cases():
    shapes = {"conv1_1": (1, 8, 6, 3), "conv2_1": (1, 4, 7, 5), "conv3_1": (1, 2, 5, 7), "conv4_1": (1, 3, 2, 4),
              "conv5_1": (1, 1, 3, 6)}
    cases = []
    for seed, layers in enumerate((costs.STYLE_LAYERS, CUSTOM_STYLE_LAYERS)):
        values = random_normals(10 + seed, *shapes.values(), *shapes.values())
        S, G = dict(zip(shapes, values[:5])), dict(zip(shapes, values[5:]))
        cases.append((f"random activations with style_layers={layers}", (S, G, layers), None))
    return cases


def total_cases():
    rng = np.random.RandomState(3)  # the homework's np.random.seed(3); randn(); randn()
    J_content, J_style = rng.randn(), rng.randn()
    return [("the homework's test inputs", (J_content, J_style), EXPECTED["J"]),
            ("J_content=2.5, J_style=4.0", (tf.constant(2.5), tf.constant(4.0)), None),
            ("J_content=1.7, J_style=0.3, alpha=3, beta=0.5", (tf.constant(1.7), tf.constant(0.3), 3.0, 0.5), None)]


CASES = {
    "compute_content_cost": lambda: activation_cases(EXPECTED["J_content"]),
    "gram_matrix": gram_cases,
    "compute_layer_style_cost": lambda: activation_cases(EXPECTED["J_style_layer"]),
    "compute_style_cost": style_cases,
    "total_cost": total_cases,
}
HOMEWORK_SHAPE = {"compute_content_cost": "4×4×3", "gram_matrix": "3×2", "compute_layer_style_cost": "4×4×3"}


# --- comparing ---------------------------------------------------------------------------------------------

def as_array(value):
    """value as a float64 array, or None when it is not numbers."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return array


def close(theirs, ours, rtol=RTOL, atol=0.0):
    """Same numbers: same shape (a scalar may come as a one-element array), |theirs - ours| <= rtol * max|ours|
    (+ atol) everywhere."""
    theirs, ours = as_array(theirs), np.asarray(ours, dtype=np.float64)
    if theirs is None:
        return False
    if ours.ndim == 0 and theirs.size == 1:
        theirs = theirs.reshape(())
    if theirs.shape != ours.shape or not np.all(np.isfinite(theirs)):
        return False
    scale = float(np.max(np.abs(ours))) if ours.size else 0.0
    return bool(np.all(np.abs(theirs - ours) <= rtol * scale + atol))


def call(fn, args):
    """(result, None) or (None, the exception) of fn(*args)."""
    try:
        return fn(*args), None
    except Exception as exc:  # noqa: BLE001 (the learner's code may raise anything; an interrupt passes)
        return None, exc


def last_line(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1]}" if text else type(exc).__name__


def show_numbers(value):
    array = as_array(value)
    if array is None:
        return f"a {type(value).__name__}"
    if array.size == 1:
        return f"{float(array.reshape(())):.6g}"
    return np.array2string(array, precision=4, separator=", ").replace("\n", "")


def side_by_side(theirs, ours):
    t, o = as_array(theirs), np.asarray(ours)
    if t is not None and t.size > 1 and t.shape != o.shape:
        return f"yours has shape {t.shape}, ours {o.shape}"
    if t is not None and t.size > 9 and t.shape == o.shape:
        return f"yours differs from ours by up to {np.max(np.abs(t - o)):.4g} (ours up to {np.max(np.abs(o)):.4g})"
    return f"yours {show_numbers(theirs)}, ours {show_numbers(ours)}"


# --- examining one function -----------------------------------------------------------------------------

def result(passed, feedback, right_as_is=False, defined=True):
    """One function's grade; for `nst grade` also whether it behaved as the reference without any help (for the
    functions that use it) and whether the namespace defined it at all."""
    return {"passed": passed, "points": 1 if passed else 0, "max_points": 1, "feedback": feedback,
            "right_as_is": right_as_is, "defined": defined}


def examine(name, fn, variants):
    """Check `fn` as graded function `name`: (passed, feedback)."""
    reference, cases = REFERENCES[name], CASES[name]()
    ours = [np.asarray(reference(*args)) for _, args, _ in cases]
    theirs = [call(fn, args) for _, args, _ in cases]
    if isinstance(theirs[0][1], NotImplementedError):
        return False, mistakes.not_implemented()
    if any(error is None and value is None for value, error in theirs):
        return False, mistakes.returns_none(name)
    right = [error is None and close(value, our) and (published is None or close(value, published, 0, TOLERANCE))
             for (value, error), our, (_, _, published) in zip(theirs, ours, cases)]
    if all(right):
        problem = gradient_problem(name, fn, cases) or tf_function_problem(name, fn, cases)
        return (False, problem) if problem else (True, "right (the homework's output, other shapes, the gradient, "
                                                       "inside tf.function)")
    if all(error is None for _, error in theirs):
        for sentence, variant in variants:
            if matches(theirs, variant, cases):
                return False, sentence
    if name in HOMEWORK_SHAPE and right[0]:
        return False, mistakes.hard_coded_shapes(HOMEWORK_SHAPE[name])
    k = right.index(False)
    label, (value, error) = cases[k][0], theirs[k]
    if error is not None:
        return False, f"raises {last_line(error)} (on {label})"
    return False, f"wrong, and not a mistake we know: on {label} {side_by_side(value, ours[k])}"


def matches(theirs, variant, cases):
    """Whether the learner's results `theirs` are the wrong variant's on every case."""
    for (value, _), (_, args, _) in zip(theirs, cases):
        wrong, error = call(variant, args)
        if error is not None or not close(value, wrong):
            return False
    return True


def tensors_in(args):
    return [x for x in tf.nest.flatten(args) if tf.is_tensor(x)]


def gradient_problem(name, fn, cases):
    """None when fn returns a float32 TensorFlow tensor whose gradient is the reference's on every case with
    tensor inputs; else the feedback."""
    reference = REFERENCES[name]
    for k, (label, args, _) in enumerate(cases):
        inputs = tensors_in(args)
        if not inputs:
            continue
        weights = None
        grads = []
        for f in (reference, fn):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                out = f(*args)
                if not tf.is_tensor(out):
                    kind = "a NumPy value" if type(out).__module__ == "numpy" else f"a {type(out).__name__}"
                    return mistakes.numpy_value(kind)
                if out.dtype != tf.float32:
                    return f"returns a {out.dtype.name} tensor: keep the result float32, as the inputs are"
                if weights is None:  # a fixed random weighting, so every entry of a matrix counts
                    weights = tf.constant(np.random.default_rng(k).uniform(0.5, 1.5, out.shape), tf.float32)
                loss = tf.reduce_sum(tf.reshape(out, weights.shape) * weights)
            grads.append(tape.gradient(loss, inputs))
        for x, g_ours, g_theirs in zip(inputs, *grads):  # None: does not depend on x
            g_ours, g_theirs = (np.zeros(x.shape) if g is None else g.numpy() for g in (g_ours, g_theirs))
            if np.any(g_ours) and not np.any(g_theirs):
                return mistakes.gradient_cut()
            if not close(g_theirs, g_ours, GRAD_RTOL):
                return f"the value is right but its gradient is not (on {label}): {side_by_side(g_theirs, g_ours)}"
    return None


def tf_function_problem(name, fn, cases):
    """None when fn gives the reference's value inside tf.function (as the optimisation runs it); else the
    feedback."""
    reference = REFERENCES[name]
    for label, args, _ in [c for c in cases[1:] if tensors_in(c[1])][:1]:  # one trace, on a non-square shape
        value, error = call(tf.function(fn), args)
        if error is not None:
            return (f"does not work inside tf.function, where the optimisation runs it: {last_line(error)} "
                    "(use TensorFlow operations only, no NumPy or .numpy())")
        if not close(value, reference(*args)):
            return f"gives another value inside tf.function (on {label}): {side_by_side(value, reference(*args))}"
    return None


# --- one function of a namespace, all of them ------------------------------------------------------------

def with_ours(fn, names):
    """A copy of the learner's function `fn` that finds our reference functions under `names` (its own code,
    over a copy of its globals: the learner's namespace is left alone); None when fn is no Python function."""
    fn = getattr(fn, "python_function", fn)  # a tf.function's Python function
    if not isinstance(fn, types.FunctionType):
        return None
    namespace = dict(fn.__globals__)
    namespace.update({name: REFERENCES[name] for name in names})
    copy = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    return copy


def check_function(name, namespace, wrong=()):
    """The grade of graded function `name` found in `namespace`: {passed, points, max_points, feedback,
    right_as_is}. `wrong` names the graded functions already found wrong (or missing) in that namespace: when
    this function uses one of them, it is checked with ours in its place, so it is graded on its own steps."""
    fn = namespace.get(name)
    if not callable(fn):
        return result(False, f"not defined: the notebook has no function {name}", defined=False)
    helpers = [h for h in HELPERS.get(name, ()) if h in wrong]
    variants = mistakes.MISTAKES[name]()
    theirs = {h: namespace[h] for h in helpers if callable(namespace.get(h))}
    built_on_theirs = mistakes.built_on(name, theirs)
    if built_on_theirs is not None:
        helper = next(h for h in HELPERS[name] if h in theirs)
        variants.insert(0, (mistakes.dependency_wrong(helper), built_on_theirs))  # the cause before its symptoms
    code = getattr(getattr(fn, "python_function", fn), "__code__", None)
    used = [h for h in helpers if code is not None and h in code.co_names]  # the copy differs only where it calls them
    helped = with_ours(fn, used) if used else None
    if helped is not None:
        passed, feedback = examine(name, helped, variants)
        return result(passed, mistakes.helped(used[0]) if passed else feedback)
    passed, feedback = examine(name, fn, variants)
    return result(passed, feedback, right_as_is=passed)


def check_all(namespace):
    """{name: grade} for the five graded functions in `namespace`, in the homework's order."""
    grades, wrong = {}, set()
    for name in GRADED:
        grades[name] = check_function(name, namespace, wrong)
        if not grades[name]["right_as_is"]:
            wrong.add(name)
    return grades


def show(name, namespace, wrong=()):
    """In a kernel: display the grade of `name` in `namespace` as JSON under MIME (read back by `nst grade`)."""
    from IPython.display import display

    display({MIME: check_function(name, namespace, wrong)}, raw=True)
