"""Checking the homework's graded functions by their behaviour, in the grader's own process, from raw results.

The learner's functions run elsewhere (a submission's sandbox, `nst.teaching.harness`); they only give back what
they computed, as data. Here: the inputs (the homework's own, and fresh random ones from a secret seed per
grading run, realistic shapes among them), the reference values and gradients (`nst.costs`), the comparison, the
known mistakes (`nst.teaching.mistakes`) and the points, from a table of our own (one per function).

A function that uses another graded one (a "helper") that is wrong is checked a second time with the reference
helper in its place, on all of the grader's cases (tf.function included), only after the helper's own results
were taken, and without reference code in the sandbox: the reference helper is replayed from data fixed when the
run's plan is made (its values at the steps the reference formula takes on the grader's own inputs, and its
first-order expansion there; see `nst.teaching.harness`). Nothing a sandbox reports decides where the grader
computes, and nothing it computes for one submission is sent back: the second request is the same for every
submission. So one mistake is not marked twice, and no submission gets an oracle.

`check_all(namespace)` measures the functions of a namespace in this process (for the tests); `nst grade` drives
`grade_functions` with a submission's sandbox.
"""

import base64
import dataclasses
import functools
import io
import json
import zipfile

import numpy as np
import tensorflow as tf

from nst import costs
from nst.teaching import harness, mistakes
from nst.teaching.homework_values import EXPECTED, GRADED, TOLERANCE, homework_random_normals
from nst.teaching.sandbox import NST_HIDDEN

POINTS = dict.fromkeys(GRADED, 1)  # the points of each function: ours, whatever a submission reports
REFERENCES = {name: getattr(costs, name) for name in GRADED}
# graded functions that call another graded one: when that one is wrong, they are checked with ours in its place
HELPERS = {"compute_layer_style_cost": "gram_matrix", "compute_style_cost": "compute_layer_style_cost"}
SHAPES_OF = {"gram_matrix": "square", "compute_layer_style_cost": "scalar"}  # what a helper gives, for the spy
RTOL = 1e-5  # values against the reference
GRAD_RTOL = 1e-4  # gradients against the reference's
RANDOM_SHAPES = ((1, 5, 7, 6), (1, 9, 4, 5), (1, 3, 11, 8))  # n_H != n_W, n_C != 3, every factor different
CUSTOM_STYLE_LAYERS = (("conv1_1", 0.1), ("conv3_1", 0.5), ("conv5_1", 0.4))
STYLE_SHAPES = {
    "conv1_1": (1, 8, 6, 3),
    "conv2_1": (1, 4, 7, 5),
    "conv3_1": (1, 2, 5, 7),
    "conv4_1": (1, 3, 2, 4),
    "conv5_1": (1, 1, 3, 6),
}
REALISTIC = (1, 38, 50, 512)  # conv4_2, the content layer, at the homework's 400x300
REALISTIC_STYLE = {
    "conv1_1": (1, 75, 100, 64),
    "conv2_1": (1, 38, 50, 128),
    "conv3_1": (1, 19, 25, 256),
    "conv4_1": (1, 10, 13, 512),
    "conv5_1": (1, 5, 7, 512),
}  # the style layers at 100x75
MAX_RESULTS_BYTES = 256 << 20  # what one function's results may unpack to
META_KEYS = {"defined", "value", "error", "gradient", "trace", "record"}  # what a call's meta may hold
MAX_ERROR = 500  # characters kept of an error message
UNKNOWN = "unknown"  # a known mistake's value not computed on an input (it matches whatever came back there)
RIGHT = "right (the homework's output, other shapes, the gradient, inside tf.function)"
HOMEWORK_SHAPE = {"compute_content_cost": "4×4×3", "gram_matrix": "3×2", "compute_layer_style_cost": "4×4×3"}


# --- the inputs ------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    """One input of a graded function: its label in the feedback, the arguments, the homework's published output
    (or None), whether its gradient is checked (not on the realistic, large inputs)."""

    label: str
    args: tuple
    published: object = None
    gradient: bool = True


def normals(rng, *shapes):
    return [tf.constant(rng.normal(1, 4, shape).astype(np.float32)) for shape in shapes]


def random_shape(rng):
    """A small (1, n_H, n_W, n_C) with n_H != n_W and n_C different from both and from 3."""
    while True:
        h, w, c = (int(x) for x in rng.integers(2, 13, 3))
        if len({h, w, c, 3, h * w}) == 5:
            return (1, h, w, c)


def activation_cases(rng, published):
    a, b = homework_random_normals([1, 4, 4, 3], [1, 4, 4, 3])
    cases = [Case("the homework's test inputs", (tf.constant(a), tf.constant(b)), published)]
    for shape in (*RANDOM_SHAPES, random_shape(rng)):
        cases.append(Case(f"inputs of shape {shape}", tuple(normals(rng, shape, shape))))
    cases.append(
        Case(
            f"inputs of shape {REALISTIC} (conv4_2 at 400×300)",
            tuple(normals(rng, REALISTIC, REALISTIC)),
            gradient=False,
        )
    )
    return cases


def gram_cases(rng):
    (A,) = homework_random_normals([3, 2])
    cases = [Case("the homework's test input", (tf.constant(A),), EXPECTED["GA"])]
    for _, h, w, c in (*RANDOM_SHAPES, random_shape(rng)):
        cases.append(Case(f"an input of shape {(c, h * w)}", tuple(normals(rng, (c, h * w)))))
    _, h, w, c = REALISTIC
    cases.append(
        Case(f"an input of shape {(c, h * w)} (conv4_2 at 400×300)", tuple(normals(rng, (c, h * w))), gradient=False)
    )
    return cases


def style_cases(rng):
    cases = []
    for layers in (costs.STYLE_LAYERS, CUSTOM_STYLE_LAYERS):
        values = normals(rng, *STYLE_SHAPES.values(), *STYLE_SHAPES.values())
        S, G = dict(zip(STYLE_SHAPES, values[:5])), dict(zip(STYLE_SHAPES, values[5:]))
        cases.append(Case(f"random activations with style_layers={layers}", (S, G, tuple(layers))))
    weights = rng.uniform(0.1, 1, 5)
    layers = tuple((name, round(float(x / weights.sum()), 3)) for name, x in zip(REALISTIC_STYLE, weights))
    values = normals(rng, *REALISTIC_STYLE.values(), *REALISTIC_STYLE.values())
    S, G = dict(zip(REALISTIC_STYLE, values[:5])), dict(zip(REALISTIC_STYLE, values[5:]))
    cases.append(
        Case(f"the five style layers' shapes at 100×75 with style_layers={layers}", (S, G, layers), gradient=False)
    )
    return cases


def total_cases(rng):
    homework = np.random.RandomState(3)  # the homework's np.random.seed(3); randn(); randn()
    J_content, J_style = homework.randn(), homework.randn()
    c, s, alpha, beta = (round(float(x), 4) for x in rng.uniform(0.1, 50, 4))
    return [
        Case("the homework's test inputs", (J_content, J_style), EXPECTED["J"]),
        Case("J_content=2.5, J_style=4.0", (tf.constant(2.5), tf.constant(4.0))),
        Case("J_content=1.7, J_style=0.3, alpha=3, beta=0.5", (tf.constant(1.7), tf.constant(0.3), 3.0, 0.5)),
        Case(f"J_content={c}, J_style={s}, alpha={alpha}, beta={beta}", (tf.constant(c), tf.constant(s), alpha, beta)),
    ]


def make_cases(seed):
    """{graded function: [Case]}: the homework's inputs first, then random ones drawn from `seed`."""
    rng = np.random.default_rng(seed)
    return {
        "compute_content_cost": activation_cases(rng, EXPECTED["J_content"]),
        "gram_matrix": gram_cases(rng),
        "compute_layer_style_cost": activation_cases(rng, EXPECTED["J_style_layer"]),
        "compute_style_cost": style_cases(rng),
        "total_cost": total_cases(rng),
    }


def tensors_in(args):
    """The tensor inputs of a call in the harness's order (a dict's values by sorted key)."""
    found = []
    for x in args:
        if tf.is_tensor(x):
            found.append(x)
        elif isinstance(x, dict):
            found.extend(x[k] for k in sorted(x))
    return found


def helper_inputs(name, case):
    """The calls of `name`'s helper that the reference formula makes on `case`, as (id suffix, arguments): the
    reference-unrolled activations (gram_matrix), each style layer's pair (compute_layer_style_cost)."""
    if name == "compute_layer_style_cost":
        return [(str(j), (costs.unroll(a),)) for j, a in enumerate(case.args)]
    if name == "compute_style_cost":
        S, G, layers = case.args
        return [(layer, (S[layer], G[layer])) for layer, _ in layers]
    return []


# --- comparing ---------------------------------------------------------------------------------------------


def as_array(value):
    """value as a float64 array, or None when it is not numbers."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None


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
    except Exception as exc:  # noqa: BLE001 (a wrong variant may raise on some shapes)
        return None, exc


def show_numbers(value, kind=None):
    array = as_array(value) if value is not None else None
    if array is None:
        return f"a {kind or type(value).__name__}"
    if array.size == 1:
        return f"{float(array.reshape(())):.6g}"
    return np.array2string(array, precision=4, separator=", ", threshold=50).replace("\n", "")


def side_by_side(theirs, ours, kind=None):
    t, o = (as_array(theirs) if theirs is not None else None), np.asarray(ours)
    if t is not None and t.size > 1 and t.shape != o.shape:
        return f"yours has shape {t.shape}, ours {o.shape}"
    if t is not None and t.size > 9 and t.shape == o.shape:
        return f"yours differs from ours by up to {np.max(np.abs(t - o)):.4g} (ours up to {np.max(np.abs(o)):.4g})"
    return f"yours {show_numbers(theirs, kind)}, ours {show_numbers(ours)}"


# --- the plan of a grading run: inputs, what the sandbox is asked, what we expect ----------------------------


class Arrays:
    """The arrays of a request, each under a short key."""

    def __init__(self):
        self.arrays = {}

    def add(self, array, prefix="a"):
        key = f"{prefix}{len(self.arrays)}"
        self.arrays[key] = np.ascontiguousarray(np.asarray(array, dtype=np.float32))
        return key

    def arg(self, x):
        if tf.is_tensor(x):
            return {"tensor": self.add(x.numpy())}
        if isinstance(x, dict):
            return {"tensors": {name: self.add(v.numpy()) for name, v in x.items()}}
        if isinstance(x, tuple) and all(isinstance(p, tuple) for p in x):
            return {"layers": [[name, float(coeff)] for name, coeff in x]}
        return {"float": float(x)}


def request_bytes(plan, arrays):
    """A request file's bytes: the plan as JSON (its arrays' shapes added to it) and the arrays, an .npz."""
    plan["shapes"] = {key: list(array.shape) for key, array in arrays.items()}
    return harness.pack("plan", plan, arrays)


class Plan:
    """Everything of one grading run that does not depend on a submission: the cases from the run's secret seed,
    our values and gradients on them, each known mistake's values, and the first request to send."""

    def __init__(self, seed):
        self.cases = make_cases(seed)
        rng = np.random.default_rng([seed, 1])
        self.ours, self.gradients, self.weights, self.variants = {}, {}, {}, {}
        store = Arrays()
        plan = {"functions": {name: [] for name in GRADED}}
        for name in GRADED:
            reference = REFERENCES[name]
            self.ours[name] = [np.asarray(reference(*case.args)) for case in self.cases[name]]
            self.variants[name] = [
                (sentence, [values_or_none(variant, case.args) for case in self.cases[name]])
                for sentence, variant in mistakes.MISTAKES[name]()
            ]
            for k, case in enumerate(self.cases[name]):
                spec = {"id": f"{name}:{k}", "args": [store.arg(x) for x in case.args]}
                inputs = tensors_in(case.args)
                if case.gradient and inputs:
                    weights = rng.uniform(0.5, 1.5, self.ours[name][k].shape).astype(np.float32)
                    self.weights[name, k] = weights
                    self.gradients[name, k] = reference_gradient(reference, case.args, inputs, weights)
                    spec["gradient"] = store.add(weights, "w")
                spec["trace"] = k == self.trace_case(name)
                if name in HELPERS and case.gradient:
                    spec["record"] = {"helper": HELPERS[name], "fallback": SHAPES_OF[HELPERS[name]]}
                plan["functions"][name].append(spec)
                for suffix, args in helper_inputs(name, case) if case.gradient else ():  # the learner's helper
                    plan["functions"][HELPERS[name]].append(  # on our own steps' inputs (the small ones)
                        {"id": f"{HELPERS[name]}:under:{name}:{k}:{suffix}", "args": [store.arg(x) for x in args]}
                    )
        self.plan = plan
        self.request = request_bytes(plan, store.arrays)
        self.request_text = base64.b64encode(self.request).decode("ascii")  # as sent to every sandbox
        self.second_plan, arrays = stand_in_plan(self)
        self.second_request = request_bytes(self.second_plan, arrays)  # the same for every submission
        self.second_text = base64.b64encode(self.second_request).decode("ascii")

    def trace_case(self, name):
        """The case checked inside tf.function: the first non-homework one with tensor inputs."""
        return next(k for k, case in enumerate(self.cases[name]) if k > 0 and tensors_in(case.args))

    def inputs(self, name, k):
        return tensors_in(self.cases[name][k].args)


def values_or_none(fn, args):
    value, error = call(fn, args)
    return None if error is not None else np.asarray(value)


def reference_gradient(reference, args, inputs, weights):
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        loss = tf.reduce_sum(tf.reshape(reference(*args), weights.shape) * weights)
    return [np.zeros(x.shape) if g is None else g.numpy() for x, g in zip(inputs, tape.gradient(loss, inputs))]


# --- reading what a sandbox sent back -----------------------------------------------------------------------


@dataclasses.dataclass
class Evaluation:
    """What one call of a learner's function gave, as its sandbox reported it (all checked here)."""

    defined: bool = True
    value: object = None  # float64 array, or None (None returned, or not numbers)
    kind: str = ""  # "tensor", "numpy", "none" or the type's name
    dtype: str = ""
    error: str = None  # "NameError: name 'x' is not defined"
    error_type: str = None
    gradient: dict = None  # kind, dtype, error, grads (a list of arrays or None)
    trace: dict = None  # value, kind, error
    calls: int = None  # calls of its helper seen


class NoResult(Exception):
    """A function's results are missing or malformed: no result for it (the message is its feedback)."""


def text(value, limit=500):
    return str(value)[:limit] if isinstance(value, str) else ""


def read_results(blob, plan, name):
    """{call id: Evaluation} of function `name` from a results file's bytes; NoResult when they are malformed.

    A strict schema: the plan's call ids only, each call's meta with the known keys and types only; the arrays
    under the names the plan allows (its value, its value inside tf.function, one gradient per tensor input of
    that input's shape), float numbers, at most harness.MAX_ELEMENTS each and MAX_RESULTS_BYTES in all, checked
    before anything is unpacked (allow_pickle=False); anything else is refused as a whole.
    """
    specs = {spec["id"]: spec for spec in plan["functions"][name]}
    allowed = {}
    for cid, spec in specs.items():
        allowed[f"{cid}.value"] = allowed[f"{cid}.trace"] = None
        for j, shape in enumerate(input_shapes(spec, plan)):
            allowed[f"{cid}.grad{j}"] = shape
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            infos = archive.infolist()
            if len(infos) > len(allowed) + 1 or sum(info.file_size for info in infos) > MAX_RESULTS_BYTES:
                raise NoResult("no result: its results are too large")
            if any(info.filename[:-4] not in allowed and info.filename != "meta.npy" for info in infos):
                raise NoResult("no result: its results hold arrays that were not asked for")
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            if data["meta"].dtype.kind != "U" or data["meta"].size != 1 or data["meta"].dtype.itemsize > 4 << 20:
                raise NoResult("no result: its results are malformed")
            meta = json.loads(str(data["meta"][()]), parse_constant=refuse)
            arrays = {key: data[key] for key in data.files if key != "meta"}
    except NoResult:
        raise
    except Exception as exc:  # noqa: BLE001 (anything may come back from a sandbox)
        raise NoResult(f"no result: its results are not readable ({type(exc).__name__})") from None
    if (
        not isinstance(meta, dict)
        or set(meta) != {"function", "calls"}
        or meta["function"] != name
        or not isinstance(meta["calls"], dict)
        or set(meta["calls"]) != set(specs)
    ):
        raise NoResult("no result: its results are not for it")
    for key, array in arrays.items():
        if (
            array.dtype.kind != "f"
            or array.size > harness.MAX_ELEMENTS
            or array.ndim > 8
            or (allowed[key] is not None and tuple(array.shape) != allowed[key])
        ):
            raise NoResult(f"no result: its results hold an array that is not what was asked for ({key[:100]})")
    evaluations = {}
    for cid in specs:
        try:
            evaluations[cid] = evaluation(meta["calls"][cid], arrays, cid)
        except NoResult:
            raise
        except Exception as exc:  # noqa: BLE001 (a forged meta may hold anything)
            raise NoResult(f"no result: its results are malformed ({type(exc).__name__})") from None
    return evaluations


def refuse(constant):
    raise ValueError(f"{constant} is not a number here")


def input_shapes(spec, plan):
    """The shapes of a call's tensor inputs, in the harness's order (a dict's values by sorted key)."""
    keys = []
    for arg in spec["args"]:
        if "tensor" in arg:
            keys.append(arg["tensor"])
        elif "tensors" in arg:
            keys.extend(arg["tensors"][k] for k in sorted(arg["tensors"]))
    return [tuple(plan["shapes"][key]) for key in keys]


def malformed():
    return NoResult("no result: its results are malformed")


def checked(m, keys):
    """m when it is a dict with only `keys`; else NoResult."""
    if not isinstance(m, dict) or not set(m) <= keys:
        raise malformed()
    return m


def error_of(m):
    error = m.get("error")
    if error is None:
        return None, None
    if not (isinstance(error, list) and len(error) == 2 and all(isinstance(x, str) for x in error)):
        raise malformed()
    return text(error[0], 100), text(error[1], MAX_ERROR)


def kind_of(m):
    kind, dtype = m.get("kind", ""), m.get("dtype", "")
    if not isinstance(kind, str) or not isinstance(dtype, str):
        raise malformed()
    return text(kind, 100), text(dtype, 40)


def evaluation(m, arrays, cid):
    m = checked(m, META_KEYS)
    if m.get("defined") is False:
        return Evaluation(defined=False)
    if m.get("defined") is not True:
        raise malformed()
    e = Evaluation()
    e.error_type, e.error = error_of(m)
    if e.error is None:
        e.kind, e.dtype = kind_of(checked(m.get("value"), {"kind", "dtype"}))
        e.kind = e.kind or "?"
        e.value = arrays.get(f"{cid}.value")
        if e.value is not None:
            e.value = e.value.astype(np.float64)
    if m.get("gradient") is not None:
        g = checked(m["gradient"], {"kind", "dtype", "error", "none"})
        _, error = error_of(g)
        none = g.get("none", [])
        if not isinstance(none, list) or len(none) > 64 or not all(isinstance(x, bool) for x in none):
            raise malformed()
        kind, dtype = kind_of(g)
        e.gradient = {
            "kind": kind,
            "dtype": dtype,
            "error": error,
            "grads": [arrays.get(f"{cid}.grad{j}") for j in range(len(none))],
        }
    if m.get("trace") is not None:
        trace = checked(m["trace"], {"kind", "dtype", "error"})
        _, error = error_of(trace)
        kind, _ = kind_of(trace)
        value = arrays.get(f"{cid}.trace")
        e.trace = {"error": error, "kind": kind, "value": None if value is None else value.astype(np.float64)}
    if m.get("record") is not None:
        r = checked(m["record"], {"calls", "error"})
        calls = r.get("calls")
        if isinstance(calls, bool) or not isinstance(calls, int) or not 0 <= calls <= 10**6:
            raise malformed()
        error_of(r)
        e.calls = calls
    return e


# --- the verdict on one function ------------------------------------------------------------------------------


def result(passed, feedback, right_as_is=False, defined=True, culprit=None):
    """One function's grade; for `nst grade` also whether it behaved as the reference without any help (for the
    functions that use it), whether the namespace defined it at all, and which wrong helper its values depend on
    (when it passed only with the reference helper)."""
    return {
        "passed": passed,
        "points": 1 if passed else 0,
        "max_points": 1,
        "feedback": feedback,
        "right_as_is": right_as_is,
        "defined": defined,
        "culprit": culprit,
    }


def hidden_nst(evaluations):
    return any(e.error and NST_HIDDEN in e.error for e in evaluations)


def examine(plan, name, evals, indices, variants):
    """(passed, feedback) of function `name` from its evaluations `evals` on the cases `indices` (k-th of
    evals on case indices[k]); `variants`: [(sentence, values per case of indices, or None)]."""
    cases = [plan.cases[name][k] for k in indices]
    ours = [plan.ours[name][k] for k in indices]
    if hidden_nst(evals):
        return False, NST_HIDDEN
    if evals[0].error_type == "NotImplementedError":
        return False, mistakes.not_implemented()
    if any(e.error is None and e.kind == harness.NONE for e in evals):
        return False, mistakes.returns_none(name)
    right = [
        e.error is None
        and close(e.value, our)
        and (case.published is None or close(e.value, case.published, 0, TOLERANCE))
        for e, our, case in zip(evals, ours, cases)
    ]
    if all(right):
        problem = gradient_problem(plan, name, evals, indices) or tf_function_problem(plan, name, evals, indices)
        return (False, problem) if problem else (True, RIGHT)
    if all(e.error is None for e in evals):
        for sentence, values in variants:
            if all(v is UNKNOWN or v is not None and close(e.value, v) for e, v in zip(evals, values)):
                return False, sentence
    if name in HOMEWORK_SHAPE and indices[0] == 0 and right[0]:
        return False, mistakes.hard_coded_shapes(HOMEWORK_SHAPE[name])
    k = right.index(False)
    e = evals[k]
    if e.error is not None:
        return False, f"raises {e.error} (on {cases[k].label})"
    return False, f"wrong, and not a mistake we know: on {cases[k].label} {side_by_side(e.value, ours[k], e.kind)}"


def gradient_problem(plan, name, evals, indices):
    """None when the learner's function gave a float32 tensor whose gradient is the reference's on every case
    checked for it; else the feedback."""
    for e, k in zip(evals, indices):
        if (name, k) not in plan.gradients:
            continue
        label, g = plan.cases[name][k].label, e.gradient
        if g is None:
            return f"the value is right but its gradient could not be taken (on {label})"
        if g["kind"] and g["kind"] != harness.TENSOR:
            return mistakes.numpy_value("a NumPy value" if g["kind"] == harness.NUMPY else f"a {g['kind']}")
        if g["error"] is not None:
            return f"the value is right but its gradient could not be taken (on {label}): {g['error']}"
        if g["dtype"] != "float32":
            return f"returns a {g['dtype']} tensor: keep the result float32, as the inputs are"
        ours = plan.gradients[name, k]
        if len(g["grads"]) != len(ours):
            return f"the value is right but its gradient could not be taken (on {label})"
        for x, g_ours, g_theirs in zip(plan.inputs(name, k), ours, g["grads"]):
            g_theirs = np.zeros(x.shape) if g_theirs is None else g_theirs
            if np.any(g_ours) and not np.any(g_theirs):
                return mistakes.gradient_cut()
            if not close(g_theirs, g_ours, GRAD_RTOL):
                return f"the value is right but its gradient is not (on {label}): {side_by_side(g_theirs, g_ours)}"
    return None


def tf_function_problem(plan, name, evals, indices):
    """None when the learner's function gave the reference's value inside tf.function; else the feedback."""
    k = plan.trace_case(name)
    if k not in indices:
        return None
    e = evals[indices.index(k)]
    label, ours = plan.cases[name][k].label, plan.ours[name][k]
    if e.trace is None:
        return "could not be checked inside tf.function"
    if e.trace["error"] is not None:
        return (
            f"does not work inside tf.function, where the optimisation runs it: {e.trace['error']} "
            "(use TensorFlow operations only, no NumPy or .numpy())"
        )
    if not close(e.trace["value"], ours):
        return f"gives another value inside tf.function (on {label}): {side_by_side(e.trace['value'], ours)}"
    return None


# --- a function's helper: what it gives, and the reference replayed in its place --------------------------


def built_on_theirs(plan, name, helper_evals):
    """Our formula of `name` built on the learner's helper's values on our own steps' inputs, per case (None
    where the helper gave no numbers, UNKNOWN on the large inputs, where they are not asked for): what the
    learner's function gives when only its helper is wrong."""
    values = []
    for k, case in enumerate(plan.cases[name]):
        if not case.gradient:
            values.append(UNKNOWN)
            continue
        parts = [
            helper_evals.get(f"{HELPERS[name]}:under:{name}:{k}:{suffix}") for suffix, _ in helper_inputs(name, case)
        ]
        if any(p is None or p.error is not None or p.value is None for p in parts):
            values.append(None)
            continue
        try:
            values.append(np.asarray(mistakes.built_on(name, case.args, [p.value for p in parts])))
        except Exception:  # noqa: BLE001 (the helper's values may have any shape)
            values.append(None)
    return values


def stand_in_candidates(name, case, store):
    """The stand-in for `name`'s helper on `case`, from our own inputs only: the reference helper's value at each
    step the reference formula takes there (and, for a scalar helper, its gradient), as a request's arrays."""
    if name == "compute_layer_style_cost":  # the Gram matrices of both unrolled activations
        calls = []
        for a in case.args:
            point = costs.unroll(a)
            calls.append({"value": store.add(costs.gram_matrix(point).numpy()), "points": [store.add(point.numpy())]})
        return {"kind": "gram", "calls": calls, "params": ["A"]}
    S, G, _ = case.args  # compute_style_cost: every layer's cost (the layers it was not asked for too)
    calls = []
    for layer in sorted(S):
        inputs = [tf.constant(S[layer]), tf.constant(G[layer])]
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            value = costs.compute_layer_style_cost(*inputs)
        gradients = tape.gradient(value, inputs)
        calls.append(
            {
                "value": store.add(value.numpy()),
                "points": [store.add(x.numpy()) for x in inputs],
                "gradients": [store.add(g.numpy()) for g in gradients],
            }
        )
    return {"kind": "scalar", "calls": calls, "params": ["a_S", "a_G"]}


def stand_in_plan(plan):
    """(the second request's plan, its arrays): every case of each function that uses a helper again, the helper
    replaced by the stand-in, tf.function included; fixed for the run, whatever a submission does."""
    store, specs = Arrays(), {name: [] for name in GRADED}
    for name, helper in HELPERS.items():
        for k, case in enumerate(plan.cases[name]):
            spec = {
                "id": f"{name}:{k}",
                "args": [store.arg(x) for x in case.args],
                "helper": helper,
                "stand_in": stand_in_candidates(name, case, store),
                "trace": k == plan.trace_case(name),
            }
            if (name, k) in plan.weights:
                spec["gradient"] = store.add(plan.weights[name, k], "w")
            specs[name].append(spec)
    return {"functions": specs}, store.arrays


def second_names(first, grades):
    """The functions checked again with the reference helper in place: not right as they are, their helper not
    right either, and seen calling it."""
    names = []
    for name, helper in HELPERS.items():
        evals = first.get(name)
        if evals is None or grades[name]["right_as_is"] or grades[helper]["right_as_is"]:
            continue
        if calls_helper(evals.values()):
            names.append(name)
    return tuple(names)


def calls_helper(evals):
    """Whether the learner's function called its helper (seen by a spy) on some input."""
    return any(e.calls for e in evals)


def verdict(plan, name, first, second, grades):
    """The grade of `name` from its first results (and its second, with the reference helper in place, if
    any), `grades` holding the grades of the functions before it."""
    evals_by_id = first[name]
    indices = list(range(len(plan.cases[name])))
    evals = [evals_by_id[f"{name}:{k}"] for k in indices]
    if not all(e.defined for e in evals):
        return result(False, f"not defined: the notebook has no function {name}", defined=False)
    variants = list(plan.variants[name])
    helper = HELPERS.get(name)
    culprit = None
    if helper is not None and not grades[helper]["right_as_is"]:
        culprit = grades[helper].get("culprit") or helper
        through = helper if culprit != helper else None
        if calls_helper(evals) and first.get(helper) is not None:
            built = built_on_theirs(plan, name, first[helper])
            variants.insert(0, (mistakes.dependency_wrong(culprit, through), built))  # the cause before its symptoms
        if second is not None and second.get(name) is not None:  # every case again, the reference helper in place
            done = second[name]
            helped = [done[f"{name}:{k}"] for k in indices]
            if not any(e.error_type == "StandInMismatch" for e in helped):  # else: graded from its first results
                passed, feedback = examine(plan, name, helped, indices, variants)
                return result(passed, mistakes.helped(culprit, through) if passed else feedback, culprit=culprit)
    passed, feedback = examine(plan, name, evals, indices, variants)
    return result(passed, feedback, right_as_is=passed)


def with_helpers(names):
    """`names` and the graded functions they use, in the homework's order."""
    needed = set(names)
    for name in names:
        while name in HELPERS:
            name = HELPERS[name]
            needed.add(name)
    return tuple(name for name in GRADED if name in needed)


def grade_functions(plan, measure, names=GRADED):
    """{name: grade} of graded functions `names` (and those they use) of one submission. `measure(request
    bytes, plan dict, names)` runs the request wherever the learner's functions are and returns {name: results
    bytes, or a NoResult saying why there are none}."""
    names = with_helpers(names)
    first, failed = read_all(measure(plan.request, plan.plan, names), plan.plan, names)
    grades = {}
    for name in names:  # without help first: which functions are right as they are
        grades[name] = result(False, failed[name]) if name in failed else verdict(plan, name, first, None, grades)
    again = second_names(first, grades)
    if again:  # then those whose helper is wrong, with ours replayed in its place (the same request for everyone)
        second, _ = read_all(measure(plan.second_request, plan.second_plan, again), plan.second_plan, again)
        for name in again:  # one without second results is graded from its first
            grades[name] = verdict(plan, name, first, second, grades)
    for name, grade in grades.items():  # the points from our table, never from what a sandbox reported
        grade["points"], grade["max_points"] = (POINTS[name] if grade["passed"] else 0), POINTS[name]
    return grades


def read_all(raw, plan, names):
    """({name: {call id: Evaluation}}, {name: why there is no result}) of what `measure` returned."""
    evaluations, failed = {}, {}
    for name in names:
        try:
            found = raw.get(name)
            if isinstance(found, NoResult):
                raise found
            if not isinstance(found, bytes):
                raise NoResult("not checked: no result came back")
            evaluations[name] = read_results(found, plan, name)
        except NoResult as exc:
            failed[name] = str(exc)
    return evaluations, failed


# --- in this process ----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def plan_for(seed=0):
    """The plan of seed `seed`, the same for every call (a learner's notebook checks five functions: building a plan
    takes seconds). Nothing changes a Plan after it is built; each grading request is packed from it anew."""
    return Plan(seed)


def measure_here(namespace):
    """A `measure` for grade_functions running the learner's functions of `namespace` in this process, through
    the harness and its results files as a sandbox would."""

    def measure(request, plan, names):
        arrays = {
            key: value for key, value in np.load(io.BytesIO(request), allow_pickle=False).items() if key != "plan"
        }
        results = {}
        for name in names:
            meta, out = harness.evaluate(namespace, plan, arrays, name)
            results[name] = harness.pack("meta", meta, out)
        return results

    return measure


def check_all(namespace, names=GRADED, seed=0):
    """{name: grade} of the graded functions `names` (and those they use) found in `namespace` (a dict of name
    -> object, e.g. a notebook's globals), measured in this process."""
    return grade_functions(plan_for(seed), measure_here(namespace), names)


def check_function(name, namespace, seed=0):
    """The grade of graded function `name` in `namespace` (those it uses graded too)."""
    return check_all(namespace, (name,), seed)[name]
